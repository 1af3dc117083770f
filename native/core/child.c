/*
 * The child ladder. It runs in a copy of the monitor made by clone3, so only
 * async-signal-safe calls are allowed: syscalls, no malloc, no stdio. Each
 * rung names its stage so a failure report says exactly what broke.
 */
#define _GNU_SOURCE
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "mounts.h"
#include "report.h"
#include "safe.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static _Noreturn void fail(int errfd, enum ctr_stage stage, size_t index, int err,
                           const char *detail)
{
  /* child: async-signal-safe */
  struct ctr_report r;

  ctr_report_fill(&r, CTR_REPORT_FAILED, stage, (int)index, err, detail);
  ctr_report_write(errfd, &r);
  _exit(127);
}

static void close_keep_errno(int fd)
{
  /* child: async-signal-safe */
  int saved = errno;

  close(fd);
  errno = saved;
}

/* Dispositions set to SIG_IGN survive execve; the container starts clean. */
static void reset_signals(void)
{
  /* child: async-signal-safe */
  struct sigaction sa = { .sa_handler = SIG_DFL };
  int sig;

  sigemptyset(&sa.sa_mask);
  for (sig = 1; sig < NSIG; sig++)
    sigaction(sig, &sa, NULL);
}

static int loopback_up(void)
{
  /* child: async-signal-safe */
  struct ifreq ifr = { 0 };
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

  if (fd < 0)
    return -1;
  ctr_strlcpy(ifr.ifr_name, "lo", sizeof ifr.ifr_name);
  rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags |= IFF_UP;
    rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
  }
  close_keep_errno(fd);
  return rc;
}

static int make_device(int rootfd, const struct ctr_device *d)
{
  /* child: async-signal-safe */
  static const struct {
    char kind;
    mode_t type;
  } types[] = { { 'c', S_IFCHR }, { 'b', S_IFBLK }, { 'p', S_IFIFO } };
  char buf[PATH_MAX];
  const char *base;
  mode_t type = S_IFCHR;
  size_t i;
  int fd = ctr_open_parent_in_root(rootfd, d->path, buf, sizeof buf, &base), rc;

  if (fd < 0)
    return -1;
  for (i = 0; i < sizeof types / sizeof types[0]; i++)
    if (types[i].kind == d->kind)
      type = types[i].type;
  /* The umask is 0 here, so the mode is exact; an existing node is left as
   * it is, as runc does. */
  rc = mknodat(fd, base, type | d->mode, makedev(d->major, d->minor));
  if (rc == 0)
    rc = fchownat(fd, base, d->uid, d->gid, AT_SYMLINK_NOFOLLOW);
  else if (errno == EEXIST)
    rc = 0;
  close_keep_errno(fd);
  return rc;
}

static int make_symlink(int rootfd, const struct ctr_symlink *s)
{
  /* child: async-signal-safe */
  char buf[PATH_MAX];
  const char *base;
  int fd = ctr_open_parent_in_root(rootfd, s->path, buf, sizeof buf, &base), rc;

  if (fd < 0)
    return -1;
  rc = symlinkat(s->target, fd, base);
  if (rc < 0 && errno == EEXIST)
    rc = 0;
  close_keep_errno(fd);
  return rc;
}

/* pivot_root(".", ".") stacks the old root under the new one; detaching it
 * leaves no path back to the host (runc's pivotRoot). */
static int pivot(int rootfd)
{
  /* child: async-signal-safe */
  if (fchdir(rootfd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
    return -1;
  /* Slave first, so the detach cannot propagate back to the host's mounts. */
  if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0 || umount2(".", MNT_DETACH) < 0)
    return -1;
  return chdir("/");
}

/* execvp's search without its allocation; returns the errno execvp would give. */
static int exec_search(char *const argv[], char *const envp[])
{
  /* child: async-signal-safe */
  char buf[PATH_MAX];
  const char *file = argv[0], *path = DEFAULT_PATH, *s;
  size_t flen = ctr_strlen(file), i;
  int eacces = 0;

  if (flen == 0)
    return ENOENT;
  for (s = file; *s; s++) {
    if (*s == '/') {
      execve(file, argv, envp);
      return errno;
    }
  }
  for (i = 0; envp[i]; i++) {
    if (envp[i][0] == 'P' && envp[i][1] == 'A' && envp[i][2] == 'T' && envp[i][3] == 'H' &&
        envp[i][4] == '=') {
      path = envp[i] + 5;
      break;
    }
  }
  for (s = path;;) {
    const char *e = s;
    size_t n;

    while (*e && *e != ':')
      e++;
    n = (size_t)(e - s);
    if (n + 1 + flen + 1 <= sizeof buf) {
      for (i = 0; i < n; i++)
        buf[i] = s[i];
      if (n)
        buf[n++] = '/';
      ctr_strlcpy(buf + n, file, sizeof buf - n);
      execve(buf, argv, envp);
      switch (errno) {
      case EACCES:
        eacces = 1;
        break;
      case ENOENT:
      case ENOTDIR:
      case ESTALE:
      case ENODEV:
      case ETIMEDOUT:
        break;
      default:
        return errno;
      }
    }
    if (*e == '\0')
      break;
    s = e + 1;
  }
  return eacces ? EACCES : ENOENT;
}

_Noreturn void ctr_child_run(const struct ctr_plan *p, int errfd, int out_fd, int err_fd)
{
  /* child: async-signal-safe */
  char detail[CTR_REPORT_DETAIL], cwd[PATH_MAX];
  sigset_t none;
  mode_t host_umask;
  long n;
  int rootfd, fd, rc;
  size_t i;

  reset_signals();
  prctl(PR_SET_NAME, "tsrun:[init]", 0, 0, 0);
  /* Every mode the ladder creates is exact: dirs 0755, files 0644, devices as planned. */
  host_umask = umask(0);

  if (setsid() < 0)
    fail(errfd, CTR_STAGE_SETSID, 0, errno, NULL);
  if (out_fd >= 0 && (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0))
    fail(errfd, CTR_STAGE_STDIO, 0, errno, NULL);
  if (mount(NULL, "/", NULL, p->propagation, NULL) < 0)
    fail(errfd, CTR_STAGE_PROPAGATION, 0, errno, NULL);
  /* pivot_root needs the new root to be a mount point. */
  if (mount(p->root, p->root, NULL, MS_BIND | MS_REC, NULL) < 0 ||
      (rootfd = open(p->root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
    fail(errfd, CTR_STAGE_ROOTFS, 0, errno, p->root);

  if (p->mkcwd) {
    fd = ctr_open_in_root(rootfd, p->cwd, CTR_CREATE_DIR);
    if (fd >= 0)
      close(fd);
    else if (errno != ENOTDIR) /* a file in the way: chdir reports it */
      fail(errfd, CTR_STAGE_MKCWD, 0, errno, p->cwd);
  }
  for (i = 0; i < p->n_mounts; i++) {
    if (ctr_mount_in_root(rootfd, &p->mounts[i]) < 0) {
      rc = errno;
      detail[0] = '\0';
      ctr_strlcat(detail, p->mounts[i].type, sizeof detail);
      ctr_strlcat(detail, " on ", sizeof detail);
      ctr_strlcat(detail, p->mounts[i].dest, sizeof detail);
      fail(errfd, CTR_STAGE_MOUNT, i, rc, detail);
    }
  }
  for (i = 0; i < p->n_devices; i++)
    if (make_device(rootfd, &p->devices[i]) < 0)
      fail(errfd, CTR_STAGE_DEVICE, i, errno, p->devices[i].path);
  for (i = 0; i < p->n_symlinks; i++)
    if (make_symlink(rootfd, &p->symlinks[i]) < 0)
      fail(errfd, CTR_STAGE_SYMLINK, i, errno, p->symlinks[i].path);
  if (pivot(rootfd) < 0)
    fail(errfd, CTR_STAGE_PIVOT_ROOT, 0, errno, NULL);
  close(rootfd);

  for (i = 0; i < p->n_masked; i++)
    if (ctr_mask_path(p->masked[i]) < 0)
      fail(errfd, CTR_STAGE_MASK, i, errno, p->masked[i]);
  for (i = 0; i < p->n_readonly; i++)
    if (ctr_readonly_path(p->readonly[i]) < 0)
      fail(errfd, CTR_STAGE_READONLY, i, errno, p->readonly[i]);
  if (p->hostname && sethostname(p->hostname, ctr_strlen(p->hostname)) < 0)
    fail(errfd, CTR_STAGE_HOSTNAME, 0, errno, p->hostname);
  if (p->loopback && loopback_up() < 0)
    fail(errfd, CTR_STAGE_LOOPBACK, 0, errno, "lo");
  for (i = 0; i < p->n_rlimits; i++)
    if (syscall(SYS_prlimit64, 0, p->rlimits[i].resource, &p->rlimits[i].limit, NULL) < 0)
      fail(errfd, CTR_STAGE_RLIMIT, i, errno, NULL);

  /* Raw syscalls: glibc's wrappers broadcast to threads it believes exist. */
  if (syscall(SYS_setgroups, p->n_groups, p->n_groups ? p->groups : NULL) < 0)
    fail(errfd, CTR_STAGE_SETGROUPS, 0, errno, NULL);
  if (syscall(SYS_setresgid, p->gid, p->gid, p->gid) < 0)
    fail(errfd, CTR_STAGE_SETGID, 0, errno, NULL);
  if (syscall(SYS_setresuid, p->uid, p->uid, p->uid) < 0)
    fail(errfd, CTR_STAGE_SETUID, 0, errno, NULL);
  umask(p->umask >= 0 ? (mode_t)p->umask : host_umask);

  if (chdir(p->cwd) < 0)
    fail(errfd, CTR_STAGE_CHDIR, 0, errno, p->cwd);
  /* CVE-2024-21626: a cwd such as /proc/self/fd/N can name a host directory
   * held by a leaked fd; the kernel then reports it as "(unreachable)/...". */
  n = syscall(SYS_getcwd, cwd, sizeof cwd);
  if (n < 0 || cwd[0] != '/')
    fail(errfd, CTR_STAGE_CWD_OUTSIDE, 0, EPERM, p->cwd);

  if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    fail(errfd, CTR_STAGE_NO_NEW_PRIVS, 0, errno, NULL);
  /* No host fd may reach the container (CVE-2024-21626); the error pipe is
   * already CLOEXEC, so it stays open until execve succeeds. */
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    fail(errfd, CTR_STAGE_CLOSE_FDS, 0, errno, NULL);

  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  rc = exec_search(p->argv, p->env);
  fail(errfd, CTR_STAGE_EXEC, 0, rc, p->argv[0]);
}
