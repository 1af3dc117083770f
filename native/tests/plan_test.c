/* Plan parsing and validation: the wire format of plan.h, byte for byte. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>

#include "check.h"
#include "../core/plan.h"

static struct ctr_plan plan;
static char buf[1 << 17];

/* Builds a plan from a NULL-terminated list of fields, each sent NUL-terminated. */
static size_t build(const char *const *fields)
{
  size_t len = 0;

  for (; *fields; fields++) {
    size_t n = strlen(*fields) + 1;

    memcpy(buf + len, *fields, n);
    len += n;
  }
  return len;
}

static int parse(const char *const *fields, const char **bad)
{
  return ctr_plan_parse(buf, build(fields), &plan, bad);
}

static void test_full_plan(void)
{
  const char *fields[] = {
    "root", "/var/lib/tsrun/overlay/x/merged",
    "ns", "mnt", "ns", "pid", "ns", "net", "ns", "uts",
    "propagation", "MS_REC|MS_SLAVE",
    "hostname", "box",
    "mount", "/proc", "proc", "proc", "14", "", "dir",
    "mount", "/etc/hosts", "bind", "/h/hosts", "MS_BIND|MS_RDONLY", "", "file",
    "device", "/dev/null", "c", "1", "3", "438", "0", "0",
    "symlink", "/dev/fd", "/proc/self/fd",
    "masked", "/proc/kcore", "readonly", "/proc/sys",
    "env", "PATH=/bin", "arg", "sh", "arg", "-c",
    "cwd", "/work", "mkcwd", "1", "user", "1000", "100", "group", "5", "umask", "18",
    "rlimit", "7", "1024", "-1", "nonewprivs", "1", "loopback", "1",
    "log", "/l", "logrotate", "10000", "3", "exitfile", "/e", "unmount", "/u", "exitcmd", "/bin/true", "exitcmdif", "on-exit",
    "end", NULL,
  };
  const char *bad = "unset";

  EXPECT(parse(fields, &bad) == 0);
  EXPECT(bad == NULL);
  EXPECT(strcmp(plan.root, "/var/lib/tsrun/overlay/x/merged") == 0);
  EXPECT(plan.clone_flags == (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS));
  EXPECT(plan.propagation == (MS_REC | MS_SLAVE));
  EXPECT(plan.n_mounts == 2);
  EXPECT(plan.mounts[0].flags == (MS_NOSUID | MS_NODEV | MS_NOEXEC));
  EXPECT(plan.mounts[0].data == NULL && plan.mounts[0].is_file == 0);
  EXPECT(plan.mounts[1].flags == (MS_BIND | MS_RDONLY) && plan.mounts[1].is_file == 1);
  EXPECT(plan.n_devices == 1 && plan.devices[0].kind == 'c' && plan.devices[0].mode == 0666);
  EXPECT(plan.devices[0].major == 1 && plan.devices[0].minor == 3);
  EXPECT(plan.n_args == 2 && plan.argv[2] == NULL && strcmp(plan.argv[1], "-c") == 0);
  EXPECT(plan.n_env == 1 && plan.env[1] == NULL);
  EXPECT(plan.uid == 1000 && plan.gid == 100 && plan.n_groups == 1 && plan.groups[0] == 5);
  EXPECT(plan.umask == 022 && plan.mkcwd == 1 && plan.no_new_privs == 1 && plan.loopback == 1);
  EXPECT(plan.n_rlimits == 1 && plan.rlimits[0].resource == 7);
  EXPECT(plan.rlimits[0].limit.rlim_cur == 1024 && plan.rlimits[0].limit.rlim_max == RLIM_INFINITY);
  EXPECT(plan.n_exitcmd == 1 && plan.exitcmd[1] == NULL && strcmp(plan.exitcmd_if, "on-exit") == 0);
  EXPECT(plan.log_max == 10000 && plan.log_files == 3);
  EXPECT(ctr_plan_validate(&plan, &bad) == 0);
}

static void test_defaults(void)
{
  const char *fields[] = { "root", "/r", "ns", "mnt", "arg", "true", "end", NULL };
  const char *bad;

  EXPECT(parse(fields, &bad) == 0);
  EXPECT(strcmp(plan.cwd, "/") == 0 && plan.umask == -1 && plan.propagation == (MS_REC | MS_SLAVE));
  EXPECT(plan.log_path == NULL && plan.hostname == NULL && plan.n_mounts == 0);
  EXPECT(plan.attach == 0 && plan.stdin_open == 0 && plan.tty == 0 && plan.start_fifo == NULL && plan.join_pid == 0);
  EXPECT(ctr_plan_validate(&plan, &bad) == 0);
}

static void test_io_records(void)
{
  const char *fields[] = {
    "root", "/r", "ns", "mnt", "arg", "sh",
    "attach", "1", "stdin", "1", "tty", "1", "winsize", "24", "80",
    "startfifo", "/run/x/exec.fifo", "end", NULL,
  };
  const char *bad;

  EXPECT(parse(fields, &bad) == 0);
  EXPECT(plan.attach == 1 && plan.stdin_open == 1 && plan.tty == 1);
  EXPECT(plan.ws_rows == 24 && plan.ws_cols == 80);
  EXPECT(strcmp(plan.start_fifo, "/run/x/exec.fifo") == 0 && plan.join_pid == 0);
  EXPECT(ctr_plan_validate(&plan, &bad) == 0);
}

static void test_exec_plan(void)
{
  const char *fields[] = {
    "join", "4242", "joinns", "mnt", "joinns", "pid", "joinns", "uts",
    "env", "PATH=/bin", "arg", "sh", "cwd", "/tmp", "user", "1000", "1000", "group", "5",
    "umask", "18", "rlimit", "7", "64", "64", "nonewprivs", "1",
    "attach", "1", "stdin", "0", "tty", "0", "exitfile", "/s/exec.json", "end", NULL,
  };
  const char *bad;

  EXPECT(parse(fields, &bad) == 0);
  EXPECT(plan.join_pid == 4242 && plan.join_flags == (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS));
  EXPECT(plan.root == NULL && plan.clone_flags == 0);
  EXPECT(ctr_plan_validate(&plan, &bad) == 0 && bad == NULL);
}

static void test_isolation_records(void)
{
  const char *fields[] = {
    "root", "/r", "ns", "mnt", "ns", "net", "arg", "sh",
    "caps", "2199023255551", "2818844155", "2818844155", "0", "0",
    "sysctl", "/proc/sys/net/ipv4/ip_forward", "1", "rootro", "1", "end", NULL,
  };
  const char *exec_caps[] = { "join", "9", "joinns", "mnt", "arg", "x", "caps", "1", "1", "1", "0", "0", "end", NULL };
  const char *bad;

  EXPECT(parse(fields, &bad) == 0);
  EXPECT(plan.has_caps == 1 && plan.caps.bounding == 0x1ffffffffffULL);
  EXPECT(plan.caps.effective == 0xa80425fbULL && plan.caps.permitted == 0xa80425fbULL);
  EXPECT(plan.caps.inheritable == 0 && plan.caps.ambient == 0 && plan.cap_last == -1);
  EXPECT(plan.n_sysctls == 1 && strcmp(plan.sysctls[0].value, "1") == 0);
  EXPECT(plan.root_readonly == 1);
  EXPECT(ctr_plan_validate(&plan, &bad) == 0);
  EXPECT(parse(exec_caps, &bad) == 0);
  EXPECT(ctr_plan_validate(&plan, &bad) == 0);
}

static void expect_bad(const char *const *fields, const char *want)
{
  const char *bad = NULL;

  EXPECT(parse(fields, &bad) == -EINVAL);
  EXPECT(bad && strcmp(bad, want) == 0);
}

static void test_parse_errors(void)
{
  const char *unknown[] = { "root", "/r", "bogus", "x", "end", NULL };
  const char *bad_ns[] = { "ns", "time", "end", NULL };
  const char *octal[] = { "umask", "022", "end", NULL };
  const char *bad_kind[] = { "mount", "/a", "tmpfs", "tmpfs", "0", "", "fifo", "end", NULL };
  const char *bad_flag[] = { "mount", "/a", "tmpfs", "tmpfs", "MS_BOGUS", "", "dir", "end", NULL };
  const char *short_record[] = { "mount", "/a", "tmpfs", NULL };
  const char *no_end[] = { "root", "/r", NULL };
  const char *bad_dev[] = { "device", "/dev/x", "x", "1", "1", "438", "0", "0", "end", NULL };
  const char *bad_bool[] = { "mkcwd", "yes", "end", NULL };
  const char *overflow[] = { "user", "4294967296", "0", "end", NULL };
  const char *big_ws[] = { "winsize", "65536", "80", "end", NULL };
  const char *short_ws[] = { "winsize", "24", NULL };
  const char *pid0[] = { "join", "0", "end", NULL };
  const char *bad_joinns[] = { "joinns", "time", "end", NULL };
  const char *bad_tty[] = { "tty", "2", "end", NULL };
  const char *short_caps[] = { "caps", "1", "1", "1", "0", NULL };
  const char *hex_caps[] = { "caps", "0x1", "1", "1", "0", "0", "end", NULL };
  const char *bad_rootro[] = { "rootro", "yes", "end", NULL };
  const char *bad;

  expect_bad(unknown, "bogus");
  expect_bad(bad_ns, "ns");
  expect_bad(octal, "umask");
  expect_bad(bad_kind, "mount");
  expect_bad(bad_flag, "mount");
  expect_bad(short_record, "mount");
  expect_bad(no_end, "end");
  expect_bad(bad_dev, "device");
  expect_bad(bad_bool, "mkcwd");
  expect_bad(overflow, "user");
  expect_bad(big_ws, "winsize");
  expect_bad(short_ws, "winsize");
  expect_bad(pid0, "join");
  expect_bad(bad_joinns, "joinns");
  expect_bad(bad_tty, "tty");
  expect_bad(short_caps, "caps");
  expect_bad(hex_caps, "caps");
  expect_bad(bad_rootro, "rootro");
  /* Not NUL-terminated. */
  memcpy(buf, "end", 3);
  EXPECT(ctr_plan_parse(buf, 3, &plan, &bad) == -EINVAL);
  EXPECT(ctr_plan_parse(buf, 0, &plan, &bad) == -EINVAL);
}

static void expect_invalid(const char *const *fields, const char *want)
{
  const char *bad = NULL;

  EXPECT(parse(fields, &bad) == 0);
  EXPECT(ctr_plan_validate(&plan, &bad) == -EINVAL);
  EXPECT(bad && strcmp(bad, want) == 0);
}

static void test_validation(void)
{
  const char *no_root[] = { "ns", "mnt", "arg", "x", "end", NULL };
  const char *rel_root[] = { "root", "r", "ns", "mnt", "arg", "x", "end", NULL };
  const char *no_mntns[] = { "root", "/r", "arg", "x", "end", NULL };
  const char *no_utsns[] = { "root", "/r", "ns", "mnt", "hostname", "h", "arg", "x", "end", NULL };
  const char *no_args[] = { "root", "/r", "ns", "mnt", "end", NULL };
  const char *dotdot[] = { "root", "/r", "ns", "mnt", "arg", "x",
                           "mount", "/a/../../etc", "tmpfs", "tmpfs", "0", "", "dir", "end", NULL };
  const char *rel_cwd[] = { "root", "/r", "ns", "mnt", "arg", "x", "cwd", "work", "end", NULL };
  const char *dotdot_dev[] = { "root", "/r", "ns", "mnt", "arg", "x",
                               "device", "/dev/..", "c", "1", "3", "438", "0", "0", "end", NULL };
  const char *rel_masked[] = { "root", "/r", "ns", "mnt", "arg", "x", "masked", "proc/kcore", "end", NULL };
  const char *rel_exitcmd[] = { "root", "/r", "ns", "mnt", "arg", "x", "exitcmd", "true", "end", NULL };
  const char *if_no_cmd[] = { "root", "/r", "ns", "mnt", "arg", "x", "exitfile", "/e", "exitcmdif", "f", "end", NULL };
  const char *if_no_file[] = { "root", "/r", "ns", "mnt", "arg", "x", "exitcmd", "/c", "exitcmdif", "f", "end", NULL };
  const char *if_path[] = { "root", "/r", "ns", "mnt", "arg", "x", "exitfile", "/e", "exitcmd", "/c", "exitcmdif", "../f", "end", NULL };
  const char *if_dotdot[] = { "root", "/r", "ns", "mnt", "arg", "x", "exitfile", "/e", "exitcmd", "/c", "exitcmdif", "..", "end", NULL };
  const char *rotate_nolog[] = { "root", "/r", "ns", "mnt", "arg", "x", "logrotate", "100", "2", "end", NULL };
  const char *rotate_zero[] = { "root", "/r", "ns", "mnt", "arg", "x", "log", "/l", "logrotate", "100", "0", "end", NULL };
  const char *exec_if[] = { "join", "9", "joinns", "mnt", "arg", "x", "exitcmdif", "f", "end", NULL };
  const char *rel_fifo[] = { "root", "/r", "ns", "mnt", "arg", "x", "startfifo", "f", "end", NULL };
  const char *joinns_alone[] = { "root", "/r", "ns", "mnt", "arg", "x", "joinns", "pid", "end", NULL };
  const char *exec_no_mnt[] = { "join", "9", "joinns", "pid", "arg", "x", "end", NULL };
  const char *exec_root[] = { "join", "9", "joinns", "mnt", "root", "/r", "arg", "x", "end", NULL };
  const char *exec_ns[] = { "join", "9", "joinns", "mnt", "ns", "pid", "arg", "x", "end", NULL };
  const char *exec_prop[] = { "join", "9", "joinns", "mnt", "propagation", "MS_PRIVATE", "arg", "x", "end", NULL };
  const char *exec_mount[] = { "join", "9", "joinns", "mnt", "arg", "x",
                               "mount", "/a", "tmpfs", "tmpfs", "0", "", "dir", "end", NULL };
  const char *exec_host[] = { "join", "9", "joinns", "mnt", "arg", "x", "hostname", "h", "end", NULL };
  const char *exec_fifo[] = { "join", "9", "joinns", "mnt", "arg", "x", "startfifo", "/f", "end", NULL };
  const char *exec_unmount[] = { "join", "9", "joinns", "mnt", "arg", "x", "unmount", "/m", "end", NULL };
  const char *exec_mkcwd[] = { "join", "9", "joinns", "mnt", "arg", "x", "mkcwd", "1", "end", NULL };
  const char *exec_masked[] = { "join", "9", "joinns", "mnt", "arg", "x", "masked", "/p", "end", NULL };
  const char *exec_ok[] = { "join", "9", "joinns", "mnt", "arg", "x", "mkcwd", "0", "loopback", "0", "end", NULL };
  const char *dots_ok[] = { "root", "/r", "ns", "mnt", "arg", "x", "cwd", "/a/..b/...", "end", NULL };
  const char *eff_not_prm[] = { "root", "/r", "ns", "mnt", "arg", "x", "caps", "3", "3", "1", "0", "0", "end", NULL };
  const char *amb_not_inh[] = { "root", "/r", "ns", "mnt", "arg", "x", "caps", "3", "1", "1", "0", "1", "end", NULL };
  const char *sysctl_out[] = { "root", "/r", "ns", "mnt", "arg", "x", "sysctl", "/proc/sys/../kcore", "1", "end", NULL };
  const char *sysctl_host[] = { "root", "/r", "ns", "mnt", "arg", "x", "sysctl", "/etc/passwd", "1", "end", NULL };
  const char *exec_sysctl[] = { "join", "9", "joinns", "mnt", "arg", "x", "sysctl", "/proc/sys/a", "1", "end", NULL };
  const char *exec_rootro[] = { "join", "9", "joinns", "mnt", "arg", "x", "rootro", "1", "end", NULL };
  const char *bad;

  expect_invalid(eff_not_prm, "caps");
  expect_invalid(amb_not_inh, "caps");
  expect_invalid(sysctl_out, "/proc/sys/../kcore");
  expect_invalid(sysctl_host, "/etc/passwd");
  expect_invalid(exec_sysctl, "sysctl");
  expect_invalid(exec_rootro, "rootro");
  expect_invalid(no_root, "root");
  expect_invalid(rel_root, "r");
  expect_invalid(no_mntns, "ns mnt");
  expect_invalid(no_utsns, "ns uts");
  expect_invalid(no_args, "arg");
  expect_invalid(dotdot, "/a/../../etc");
  expect_invalid(rel_cwd, "work");
  expect_invalid(dotdot_dev, "/dev/..");
  expect_invalid(rel_masked, "proc/kcore");
  expect_invalid(rel_exitcmd, "true");
  expect_invalid(if_no_cmd, "f");
  expect_invalid(if_no_file, "f");
  expect_invalid(if_path, "../f");
  expect_invalid(if_dotdot, "..");
  expect_invalid(exec_if, "exitcmdif");
  expect_invalid(rotate_nolog, "logrotate");
  expect_invalid(rotate_zero, "logrotate");
  expect_invalid(rel_fifo, "f");
  expect_invalid(joinns_alone, "join");
  expect_invalid(exec_no_mnt, "joinns mnt");
  expect_invalid(exec_root, "root");
  expect_invalid(exec_ns, "ns");
  expect_invalid(exec_prop, "propagation");
  expect_invalid(exec_mount, "mount");
  expect_invalid(exec_host, "hostname");
  expect_invalid(exec_fifo, "startfifo");
  expect_invalid(exec_unmount, "unmount");
  expect_invalid(exec_mkcwd, "mkcwd");
  expect_invalid(exec_masked, "masked");
  EXPECT(parse(exec_ok, &bad) == 0);
  EXPECT(ctr_plan_validate(&plan, &bad) == 0);
  EXPECT(parse(dots_ok, &bad) == 0);
  EXPECT(ctr_plan_validate(&plan, &bad) == 0);
}

static void test_cgroup_records(void)
{
  const char *run[] = { "root", "/r", "ns", "mnt", "arg", "x",
                        "cgroup", "/sys/fs/cgroup/memory/tsrun/a/cgroup.procs",
                        "cgroup", "/sys/fs/cgroup/pids/tsrun/a/cgroup.procs",
                        "oomfile", "/sys/fs/cgroup/memory/tsrun/a/memory.oom_control", "end", NULL };
  const char *exec_ok[] = { "join", "9", "joinns", "mnt", "arg", "x",
                            "cgroup", "/sys/fs/cgroup/pids/tsrun/a/cgroup.procs", "end", NULL };
  const char *exec_oom[] = { "join", "9", "joinns", "mnt", "arg", "x", "oomfile", "/o", "end", NULL };
  const char *rel[] = { "root", "/r", "ns", "mnt", "arg", "x", "cgroup", "tsrun/a/cgroup.procs", "end", NULL };
  const char *bad;

  EXPECT(parse(run, &bad) == 0);
  EXPECT(plan.n_cgroups == 2 && strcmp(plan.cgroups[1], "/sys/fs/cgroup/pids/tsrun/a/cgroup.procs") == 0);
  EXPECT(plan.oom_file && strcmp(plan.oom_file, "/sys/fs/cgroup/memory/tsrun/a/memory.oom_control") == 0);
  EXPECT(ctr_plan_validate(&plan, &bad) == 0);
  EXPECT(parse(exec_ok, &bad) == 0 && plan.n_cgroups == 1 && plan.oom_file == NULL);
  EXPECT(ctr_plan_validate(&plan, &bad) == 0);
  expect_invalid(exec_oom, "oomfile");
  {
    const char *self[] = { "root", "/r", "ns", "mnt", "arg", "x", "cgroup", "/sys/fs/cgroup/pids/tsrun/a/tasks", "cgroupself", "1", "end", NULL };

    EXPECT(parse(self, &bad) == 0 && plan.cgroup_self == 1 && plan.n_cgroups == 1);
    EXPECT(ctr_plan_validate(&plan, &bad) == 0);
  }
  expect_invalid(rel, "tsrun/a/cgroup.procs");
}

/* The OCI runtime's records: pass-through stdio, a monitor that leaves, a
 * console socket, namespaces joined by path. */
static void test_oci_records(void)
{
  const char *run[] = { "root", "/r", "ns", "mnt", "ns", "pid", "arg", "x", "passthrough", "1", "detach", "1",
                        "startfifo", "/s/exec.fifo", "nspath", "net", "/run/netns/a", "nspath", "ipc", "/proc/9/ns/ipc",
                        "end", NULL };
  const char *tty[] = { "root", "/r", "ns", "mnt", "arg", "x", "tty", "1", "consolesocket", "/c.sock", "detach", "1", "end", NULL };
  const char *exec_d[] = { "join", "9", "joinns", "mnt", "arg", "x", "passthrough", "1", "detach", "1", "end", NULL };
  const char *both[] = { "root", "/r", "ns", "mnt", "ns", "net", "arg", "x", "nspath", "net", "/n", "end", NULL };
  const char *mnt_path[] = { "root", "/r", "ns", "mnt", "arg", "x", "nspath", "mnt", "/n", "end", NULL };
  const char *rel_path[] = { "root", "/r", "ns", "mnt", "arg", "x", "nspath", "net", "n", "end", NULL };
  const char *uts_host[] = { "root", "/r", "ns", "mnt", "hostname", "h", "arg", "x", "nspath", "uts", "/n", "end", NULL };
  const char *exec_ns[] = { "join", "9", "joinns", "mnt", "arg", "x", "nspath", "net", "/n", "end", NULL };
  const char *pass_log[] = { "root", "/r", "ns", "mnt", "arg", "x", "passthrough", "1", "log", "/l", "end", NULL };
  const char *detach_exit[] = { "root", "/r", "ns", "mnt", "arg", "x", "detach", "1", "exitfile", "/e", "end", NULL };
  const char *detach_attach[] = { "root", "/r", "ns", "mnt", "arg", "x", "detach", "1", "attach", "1", "end", NULL };
  const char *detach_tty[] = { "root", "/r", "ns", "mnt", "arg", "x", "detach", "1", "tty", "1", "end", NULL };
  const char *sock_no_tty[] = { "root", "/r", "ns", "mnt", "arg", "x", "consolesocket", "/c", "end", NULL };
  const char *copyup[] = { "root", "/r", "ns", "mnt", "arg", "x", "mount", "/tmp", "tmpfs", "tmpfs", "0", "", "copyup", "end", NULL };
  const char *bind_copyup[] = { "root", "/r", "ns", "mnt", "arg", "x", "mount", "/tmp", "bind", "/h", "MS_BIND", "", "copyup", "end", NULL };
  const char *hooks[] = { "root", "/r", "ns", "mnt", "arg", "x", "hookpause", "1", "end", NULL };
  const char *exec_hooks[] = { "join", "9", "joinns", "mnt", "arg", "x", "hookpause", "1", "end", NULL };
  const char *bad;

  {
    const char *attach[] = { "root", "/r", "ns", "mnt", "arg", "x", "attachsock", "/run/c/attach.sock", "end", NULL };
    const char *attach_rel[] = { "root", "/r", "ns", "mnt", "arg", "x", "attachsock", "attach.sock", "end", NULL };
    const char *attach_stdin[] = { "root", "/r", "ns", "mnt", "arg", "x", "stdin", "1", "attachsock", "/a", "end", NULL };
    const char *attach_exec[] = { "join", "9", "joinns", "mnt", "arg", "x", "attachsock", "/a", "end", NULL };

    EXPECT(parse(attach, &bad) == 0 && strcmp(plan.attach_sock, "/run/c/attach.sock") == 0);
    EXPECT(ctr_plan_validate(&plan, &bad) == 0);
    expect_invalid(attach_rel, "attachsock");
    expect_invalid(attach_stdin, "attachsock");
    expect_invalid(attach_exec, "attachsock");
  }
  {
    const char *netif[] = { "root", "/r", "ns", "mnt", "ns", "net", "arg", "x", "hookpause", "1", "netif", "eth0", "10.89.0.2", "16", "10.89.0.1", "end", NULL };
    const char *no_gw[] = { "root", "/r", "ns", "mnt", "ns", "net", "arg", "x", "hookpause", "1", "netif", "eth0", "10.89.0.2", "16", "", "end", NULL };
    const char *host_net[] = { "root", "/r", "ns", "mnt", "arg", "x", "hookpause", "1", "netif", "eth0", "10.89.0.2", "16", "", "end", NULL };
    const char *no_pause[] = { "root", "/r", "ns", "mnt", "ns", "net", "arg", "x", "netif", "eth0", "10.89.0.2", "16", "", "end", NULL };
    const char *bad_ip[] = { "root", "/r", "ns", "mnt", "ns", "net", "arg", "x", "hookpause", "1", "netif", "eth0", "10.89.0.300", "16", "", "end", NULL };
    const char *bad_len[] = { "root", "/r", "ns", "mnt", "ns", "net", "arg", "x", "hookpause", "1", "netif", "eth0", "10.89.0.2", "33", "", "end", NULL };

    EXPECT(parse(netif, &bad) == 0 && plan.has_netif && plan.netif.prefix == 16);
    EXPECT(plan.netif.addr == htonl(0x0a590002) && plan.netif.gateway == htonl(0x0a590001));
    EXPECT(ctr_plan_validate(&plan, &bad) == 0);
    EXPECT(parse(no_gw, &bad) == 0 && plan.netif.gateway == 0 && ctr_plan_validate(&plan, &bad) == 0);
    expect_invalid(host_net, "netif");
    expect_invalid(no_pause, "netif");
    EXPECT(parse(bad_ip, &bad) == -EINVAL && strcmp(bad, "netif") == 0);
    EXPECT(parse(bad_len, &bad) == -EINVAL && strcmp(bad, "netif") == 0);
  }
  EXPECT(parse(hooks, &bad) == 0 && plan.hook_pause == 1);
  EXPECT(ctr_plan_validate(&plan, &bad) == 0);
  expect_invalid(exec_hooks, "hookpause");

  EXPECT(parse(copyup, &bad) == 0 && plan.mounts[0].copyup == 1 && plan.mounts[0].is_file == 0);
  EXPECT(ctr_plan_validate(&plan, &bad) == 0);
  expect_invalid(bind_copyup, "/tmp");
  EXPECT(parse(run, &bad) == 0);
  EXPECT(plan.passthrough == 1 && plan.detach == 1 && plan.n_nspaths == 2);
  EXPECT(plan.nspaths[0].flag == CLONE_NEWNET && strcmp(plan.nspaths[0].path, "/run/netns/a") == 0);
  EXPECT(plan.nspaths[1].flag == CLONE_NEWIPC);
  EXPECT(ctr_plan_validate(&plan, &bad) == 0);
  EXPECT(parse(tty, &bad) == 0 && strcmp(plan.console_socket, "/c.sock") == 0);
  EXPECT(ctr_plan_validate(&plan, &bad) == 0);
  EXPECT(parse(exec_d, &bad) == 0);
  EXPECT(ctr_plan_validate(&plan, &bad) == 0);
  EXPECT(parse(mnt_path, &bad) == -EINVAL && strcmp(bad, "nspath") == 0);
  expect_invalid(both, "nspath");
  expect_invalid(rel_path, "n");
  expect_invalid(uts_host, "ns uts");
  expect_invalid(exec_ns, "nspath");
  expect_invalid(pass_log, "passthrough");
  expect_invalid(detach_exit, "detach");
  expect_invalid(detach_attach, "detach");
  expect_invalid(detach_tty, "detach");
  expect_invalid(sock_no_tty, "consolesocket");
}

/* The seccomp record: hex of whole 8-byte instructions, copied byte for byte. */
static void test_seccomp_record(void)
{
  static char big[(CTR_MAX_SECCOMP + 1) * 16 + 1];
  /* ld [4]; ret ALLOW */
  const char *two[] = { "root", "/r", "ns", "mnt", "arg", "x",
                        "seccomp", "2000000004000000" "060000000000ff7f", "end", NULL };
  const char *odd[] = { "seccomp", "20000000040000", "end", NULL };
  const char *upper[] = { "seccomp", "060000000000FF7F", "end", NULL };
  const char *empty[] = { "seccomp", "", "end", NULL };
  const char *twice[] = { "seccomp", "060000000000ff7f", "seccomp", "060000000000ff7f", "end", NULL };
  const char *too_big[] = { "seccomp", big, "end", NULL };
  const char *bad;

  EXPECT(parse(two, &bad) == 0 && ctr_plan_validate(&plan, &bad) == 0);
  EXPECT(plan.n_seccomp == 2);
  EXPECT(plan.seccomp[0].code == 0x20 && plan.seccomp[0].jt == 0 && plan.seccomp[0].jf == 0 &&
         plan.seccomp[0].k == 4);
  EXPECT(plan.seccomp[1].code == 0x06 && plan.seccomp[1].k == 0x7fff0000u);
  expect_bad(odd, "seccomp");
  expect_bad(upper, "seccomp");
  expect_bad(empty, "seccomp");
  expect_bad(twice, "seccomp");
  memset(big, '0', sizeof big - 1);
  expect_bad(too_big, "seccomp");
  big[CTR_MAX_SECCOMP * 16] = '\0';
  EXPECT(parse(too_big, &bad) == 0 && plan.n_seccomp == CTR_MAX_SECCOMP);
  /* Absent: no filter. */
  EXPECT(parse(odd + 2, &bad) == 0 && plan.n_seccomp == 0);
}

/* startContainer hooks: argv and env split at 0x1f, each NULL-terminated; oomscoreadj's range. */
static void test_start_hooks(void)
{
  const char *run[] = { "root", "/r", "ns", "mnt", "arg", "x", "hookstate", "{\"id\":\"c\",\"pid\":",
                        "starthook", "/bin/sh", "5", "sh\x1f-c\x1f", "A=1\x1f" "B=2",
                        "starthook", "/bin/true", "0", "true", "",
                        "oomscoreadj", "-999", "apparmor", "cri-containerd.apparmor.d", "end", NULL };
  const char *no_argv[] = { "root", "/r", "ns", "mnt", "arg", "x", "hookstate", "{", "starthook", "/h", "0", "", "", "end", NULL };
  const char *no_state[] = { "root", "/r", "ns", "mnt", "arg", "x", "starthook", "/h", "0", "h", "", "end", NULL };
  const char *rel[] = { "root", "/r", "ns", "mnt", "arg", "x", "hookstate", "{", "starthook", "h", "0", "h", "", "end", NULL };
  const char *exec_hook[] = { "join", "9", "joinns", "mnt", "arg", "x", "hookstate", "{", "starthook", "/h", "0", "h", "", "end", NULL };
  const char *oom_big[] = { "root", "/r", "ns", "mnt", "arg", "x", "oomscoreadj", "1001", "end", NULL };
  const char *oom_dash[] = { "root", "/r", "ns", "mnt", "arg", "x", "oomscoreadj", "-", "end", NULL };
  const char *bad;

  EXPECT(parse(run, &bad) == 0 && ctr_plan_validate(&plan, &bad) == 0);
  EXPECT(plan.n_start_hooks == 2);
  EXPECT(plan.start_hooks[0].timeout == 5 && strcmp(plan.start_hooks[0].path, "/bin/sh") == 0);
  EXPECT(strcmp(plan.start_hooks[0].argv[1], "-c") == 0 && strcmp(plan.start_hooks[0].argv[2], "") == 0 && plan.start_hooks[0].argv[3] == NULL);
  EXPECT(strcmp(plan.start_hooks[0].env[1], "B=2") == 0 && plan.start_hooks[0].env[2] == NULL);
  EXPECT(strcmp(plan.start_hooks[1].argv[0], "true") == 0 && plan.start_hooks[1].argv[1] == NULL && plan.start_hooks[1].env[0] == NULL);
  EXPECT(strcmp(plan.hook_state, "{\"id\":\"c\",\"pid\":") == 0);
  EXPECT(plan.has_oom_score_adj && plan.oom_score_adj == -999);
  EXPECT(strcmp(plan.apparmor, "cri-containerd.apparmor.d") == 0);
  EXPECT(parse(no_argv, &bad) == -EINVAL && strcmp(bad, "starthook") == 0);
  EXPECT(parse(no_state, &bad) == 0 && ctr_plan_validate(&plan, &bad) == -EINVAL && strcmp(bad, "hookstate") == 0);
  EXPECT(parse(rel, &bad) == 0 && ctr_plan_validate(&plan, &bad) == -EINVAL);
  EXPECT(parse(exec_hook, &bad) == 0 && ctr_plan_validate(&plan, &bad) == -EINVAL && strcmp(bad, "starthook") == 0);
  EXPECT(parse(oom_big, &bad) == -EINVAL);
  EXPECT(parse(oom_dash, &bad) == -EINVAL);
}

/* ns user: the maps, how they are checked, and exec's joinns user. */
static void test_user_namespace(void)
{
  const char *run[] = { "root", "/r", "ns", "mnt", "ns", "user", "arg", "x", "user", "1000", "1000", "group", "5",
                        "uidmap", "0", "100000", "65536", "gidmap", "0", "100000", "1000", "gidmap", "1000", "5000", "1",
                        "end", NULL };
  const char *no_maps[] = { "root", "/r", "ns", "mnt", "ns", "user", "arg", "x", "end", NULL };
  const char *no_gidmap[] = { "root", "/r", "ns", "mnt", "ns", "user", "arg", "x", "uidmap", "0", "1", "1", "end", NULL };
  const char *maps_no_ns[] = { "root", "/r", "ns", "mnt", "arg", "x", "uidmap", "0", "1", "1", "gidmap", "0", "1", "1", "end", NULL };
  const char *no_root[] = { "root", "/r", "ns", "mnt", "ns", "user", "arg", "x", "uidmap", "1", "1", "5", "gidmap", "0", "1", "1", "end", NULL };
  const char *user_unmapped[] = { "root", "/r", "ns", "mnt", "ns", "user", "arg", "x", "user", "7", "0",
                                  "uidmap", "0", "1", "1", "gidmap", "0", "1", "1", "end", NULL };
  const char *group_unmapped[] = { "root", "/r", "ns", "mnt", "ns", "user", "arg", "x", "group", "9",
                                   "uidmap", "0", "1", "1", "gidmap", "0", "1", "1", "end", NULL };
  const char *zero_count[] = { "uidmap", "0", "1", "0", "end", NULL };
  const char *wraps[] = { "uidmap", "0", "4294967295", "2", "end", NULL };
  const char *user_path[] = { "root", "/r", "ns", "mnt", "arg", "x", "nspath", "user", "/proc/9/ns/user", "end", NULL };
  const char *user_path_ok[] = { "root", "/r", "ns", "mnt", "arg", "x", "nspath", "user", "/proc/9/ns/user",
                                 "uidmap", "0", "1", "1", "gidmap", "0", "1", "1", "end", NULL };
  const char *user_both[] = { "root", "/r", "ns", "mnt", "ns", "user", "arg", "x", "nspath", "user", "/proc/9/ns/user",
                              "uidmap", "0", "1", "1", "gidmap", "0", "1", "1", "end", NULL };
  const char *exec[] = { "join", "9", "joinns", "mnt", "joinns", "user", "arg", "x", "end", NULL };
  const char *exec_maps[] = { "join", "9", "joinns", "mnt", "joinns", "user", "arg", "x", "uidmap", "0", "1", "1", "end", NULL };
  const char *idroot[] = { "root", "/m", "ns", "mnt", "ns", "user", "arg", "x", "uidmap", "0", "1", "1", "gidmap", "0", "1", "1",
                           "rootlower", "/s/l/A", "rootlower", "/s/l/B", "rootlayer", "/s/c", "rootopt", "index=off", "end", NULL };
  const char *idroot_no_ns[] = { "root", "/m", "ns", "mnt", "arg", "x", "rootlower", "/s/l/A", "rootlayer", "/s/c", "end", NULL };
  const char *idroot_no_layer[] = { "root", "/m", "ns", "mnt", "ns", "user", "arg", "x", "uidmap", "0", "1", "1", "gidmap", "0", "1", "1",
                                    "rootlower", "/s/l/A", "end", NULL };
  const char *idroot_rel[] = { "root", "/m", "ns", "mnt", "ns", "user", "arg", "x", "uidmap", "0", "1", "1", "gidmap", "0", "1", "1",
                               "rootlower", "s/l/A", "rootlayer", "/s/c", "end", NULL };
  const char *opt_alone[] = { "root", "/m", "ns", "mnt", "arg", "x", "rootopt", "index=off", "end", NULL };
  const char *ridmap[] = { "root", "/m", "ns", "mnt", "ns", "user", "arg", "x", "uidmap", "0", "1", "1", "gidmap", "0", "1", "1",
                           "mount", "/v", "bind", "/h", "MS_BIND|MS_REC", "", "dir+ridmap",
                           "mount", "/f", "bind", "/g", "MS_BIND", "", "file+idmap", "end", NULL };
  const char *bad_suffix[] = { "mount", "/v", "bind", "/h", "MS_BIND", "", "dir+map", "end", NULL };
  const char *copyup_idmap[] = { "mount", "/v", "tmpfs", "tmpfs", "0", "", "copyup+idmap", "end", NULL };
  const char *bad;

  EXPECT(parse(idroot, &bad) == 0);
  EXPECT(plan.n_root_lowers == 2 && strcmp(plan.root_lowers[1], "/s/l/B") == 0 && strcmp(plan.root_layer, "/s/c") == 0);
  EXPECT(plan.n_root_opts == 1 && strcmp(plan.root_opts[0], "index=off") == 0);
  EXPECT(ctr_plan_validate(&plan, &bad) == 0);
  expect_invalid(idroot_no_ns, "rootlower");
  expect_invalid(idroot_no_layer, "rootlower");
  expect_invalid(idroot_rel, "s/l/A");
  expect_invalid(opt_alone, "rootopt");
  EXPECT(parse(ridmap, &bad) == 0 && plan.mounts[0].idmap == 2 && !plan.mounts[0].is_file);
  EXPECT(plan.mounts[1].idmap == 1 && plan.mounts[1].is_file && ctr_plan_validate(&plan, &bad) == 0);
  expect_bad(bad_suffix, "mount");
  /* Only a bind is idmapped: a copyup kind takes no suffix. */
  expect_bad(copyup_idmap, "mount");
  EXPECT(parse(run, &bad) == 0);
  EXPECT(plan.clone_flags == (CLONE_NEWNS | CLONE_NEWUSER) && ctr_plan_userns(&plan));
  EXPECT(plan.n_uidmap == 1 && plan.uidmap[0].outside == 100000 && plan.uidmap[0].count == 65536);
  EXPECT(plan.n_gidmap == 2 && plan.gidmap[1].inside == 1000 && plan.gidmap[1].outside == 5000);
  EXPECT(ctr_plan_validate(&plan, &bad) == 0);
  EXPECT(ctr_idmap_host(plan.uidmap, plan.n_uidmap, 1000) == 101000);
  EXPECT(ctr_idmap_host(plan.uidmap, plan.n_uidmap, 65535) == 165535);
  EXPECT(ctr_idmap_host(plan.uidmap, plan.n_uidmap, 65536) == (unsigned)-1);
  EXPECT(ctr_idmap_host(plan.gidmap, plan.n_gidmap, 1000) == 5000);
  expect_invalid(no_maps, "uidmap");
  expect_invalid(no_gidmap, "gidmap");
  expect_invalid(maps_no_ns, "uidmap");
  expect_invalid(no_root, "uidmap");
  expect_invalid(user_unmapped, "user");
  expect_invalid(group_unmapped, "group");
  expect_bad(zero_count, "uidmap");
  expect_bad(wraps, "uidmap");
  expect_invalid(user_path, "uidmap");
  EXPECT(parse(user_path_ok, &bad) == 0 && plan.userns_path && plan.n_nspaths == 0 && ctr_plan_userns(&plan));
  EXPECT(ctr_plan_validate(&plan, &bad) == 0);
  expect_invalid(user_both, "nspath");
  EXPECT(parse(exec, &bad) == 0 && ctr_plan_userns(&plan));
  EXPECT(ctr_plan_validate(&plan, &bad) == 0);
  expect_invalid(exec_maps, "uidmap");
}

int main(void)
{
  test_full_plan();
  test_defaults();
  test_io_records();
  test_exec_plan();
  test_isolation_records();
  test_parse_errors();
  test_validation();
  test_cgroup_records();
  test_seccomp_record();
  test_oci_records();
  test_start_hooks();
  test_user_namespace();
  return test_result();
}
