/*
 * tsrun-monitor: the parent of one container process. Node spawns it with
 *   fd 0-2  the caller's stdio: copied to and from the container when the
 *           plan says attach / stdin (the terminal, or /dev/null detached)
 *   fd 3    the plan (plan.h), read to EOF: a pipe tsrun writes once the plan
 *           is ready, so the monitor's start overlaps the CLI's own work; empty,
 *           the CLI gave up before the launch and there is nothing to do
 *   fd 4    the report socket to the CLI (report.h): STARTED{pid}, CREATED{pid}
 *           or FAILED{stage, ...}; closed after the first of them
 *
 * run (the plan has root + ns): it clones the container's init with the
 * plan's namespaces (in a user namespace given by path, a helper of its
 * clones it for it) and stays its parent; with a user namespace it then
 * does from the host what the init no longer can (prepare_userns_child).
 * exec (join + joinns): it setns()es into a running container's namespaces
 * but its user namespace, which the forked process enters itself. Either
 * way it owns the process's output (pipes, or the pty master with a tty),
 * copies it to the json-file log and/or its own stdout and stderr, forwards
 * signals, and when the process exits drains the output, writes the exit
 * file, unmounts the rootfs and removes the cgroups (run) and exits with the
 * process's status (or execs the plan's exitcmd).
 *
 * Cgroups: TypeScript creates them and writes the limits; the plan lists
 * the files the new process joins through. On v1 (cgroupself) they are
 * `tasks` files and the process moves itself as its first rung, which skips
 * the kernel's global threadgroup lock. Otherwise (v2) they are cgroup.procs
 * files: the new process waits on a sync pipe until the monitor has written
 * its pid into each, so not one rung of the ladder runs outside its limits.
 *
 * Single-threaded by design: the child ladder runs in a clone of this
 * process, and a clone of a multithreaded process may only call
 * async-signal-safe functions (STYLE.md section 2).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include "../core/libc_compat.h"
#include <sys/prctl.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sys/statfs.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../core/child.h"
#include "../core/fdpass.h"
#include "../core/plan.h"
#include "../core/report.h"
#include "../core/safe.h"
#include "jsonlog.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define PLAN_FD 3
#define REPORT_FD 4
#define EXIT_SETUP 125
#define EXIT_CANNOT_EXEC 126
#define EXIT_NOT_FOUND 127
/* After the process exited, its output is drained until EOF, until it stays
 * silent this long, or at most DRAIN_MAX_MS: a grandchild may hold the pipes
 * (or the pty) open, or keep writing, forever (containerd#2823). The monitor
 * then exits, which closes its own fd 1, so the caller sees EOF. */
#define DRAIN_IDLE_MS 200
#define DRAIN_MAX_MS 2000

extern char **environ;

static char plan_buf[CTR_PLAN_MAX_BYTES + 1];
static struct ctr_plan plan;
/* Filled in at run time: an initializer would move 32 KiB of buffers from
 * .bss into the binary that every container copies. */
static struct log_stream out_log, err_log;

/* Host-side resources, set up before clone (and before setns in exec mode,
 * after which host paths no longer resolve). -1 when unused. */
static int log_fd = -1, exit_dir = -1, null_fd = -1, sig_fd = -1;
static const char *exit_name;
static int err_pipe[2] = { -1, -1 }, out_pipe[2] = { -1, -1 }, errout_pipe[2] = { -1, -1 };
static int tty_sock[2] = { -1, -1 };
/* --console-socket: where the pty master goes instead of being copied. */
static int console_fd = -1;
/* cgroup.procs files, opened before clone (and before setns in exec mode),
 * and the pipe the new process waits on until it has been moved into them. */
static int cgroup_fds[CTR_MAX_CGROUPS];
/* plan cgroups_late, opened with the others (before setns: exec's monitor then sees the container's /sys). */
static int cgroup_late_fds[CTR_MAX_CGROUPS_LATE] = { -1, -1, -1, -1 };
/* cgroup v2: the container's cgroup dir, for CLONE_INTO_CGROUP; -1 once cloned into it (or on v1).
 * A v1 host's cgroup2 (plan cgroups_late) too: born in it, the process needs no late join. */
static int cgroup_dir_fd = -1;
static int cgroup_dir_late;
static int cloned_into_cgroup;
static int sync_pipe[2] = { -1, -1 };
/* hookpause: the child waits on this until the caller's hooks have run. */
static int resume_pipe[2] = { -1, -1 };
/* ns user (run): the child waits on this until its uid_map and gid_map are written. */
static int userns_pipe[2] = { -1, -1 };
/* exec: a pidfd of the container's process, kept for the child to join its user namespace. */
static int join_pidfd = -1;
/* nspath user: the user namespace the helper enters to clone the process there. */
static int userns_join_fd = -1;
/* nspath records: the namespaces joined before clone, and the monitor's own to go back to. */
static int ns_fds[CTR_MAX_NSPATHS], own_ns_fds[CTR_MAX_NSPATHS];
/* startfifo: opened (O_PATH) and owned by the process's user before clone. */
static int fifo_fd = -1;
/* Per mount record, a sysfs or mqueue made here (fsmount) for the child to attach; -1 for none. */
static int made_fds[CTR_MAX_MOUNTS];
/* ns user: the bind sources go to the child over this, opened after clone. */
static int bind_sock[2] = { -1, -1 };
static sigset_t saved_mask;

/* With a tty: the master. Input comes from in_fd (the caller's stdin, or a
 * client of the attach socket) and goes to in_target (the master, or with
 * attachsock and no tty the pipe the container reads its stdin from). */
static int master = -1, in_fd = -1, in_target = -1;
static char in_buf[4096];
static size_t in_len, in_off;

/* attachsock: the listening socket; in_fd is one of its clients while
 * in_is_client, whose EOF ends the client, not the container's input. */
static int attach_listen = -1, in_is_client;
static int stdin_pipe[2] = { -1, -1 };

/* The caller's terminal while it is raw; restored at every exit (atexit),
 * since a raw terminal left behind breaks the user's shell. */
static struct termios saved_termios;
static int raw_fd = -1;

/* The container process. */
static pid_t child_pid;
static int child_pidfd = -1, child_status, child_exited;
/* After CREATED: the error pipe stays open until execve (EOF) or a failure. */
static struct ctr_report late_failure;
static int late_failed;

static _Noreturn void start_failed(const struct ctr_report *r);
static char *proc_pid_path(char *buf, size_t size, pid_t pid, const char *file);

static void report(enum ctr_report_kind kind, int stage, int err, const char *detail, pid_t pid)
{
  struct ctr_report r;

  ctr_report_fill(&r, kind, stage, 0, err, detail);
  r.pid = pid;
  ctr_report_write(REPORT_FD, &r);
}

static _Noreturn void die(enum ctr_stage stage, int err, const char *detail)
{
  report(CTR_REPORT_FAILED, stage, err, detail, 0);
  exit(EXIT_SETUP);
}

/* Detached, stderr is /dev/null; attached, this reaches the user. No printf:
 * it would double the binary that every container copies into a memfd. */
static void warn(const char *what, const char *path, int err)
{
  char msg[PATH_MAX + 128] = "tsrun-monitor: ", num[24];

  ctr_strlcat(msg, what, sizeof msg);
  ctr_strlcat(msg, " ", sizeof msg);
  ctr_strlcat(msg, path, sizeof msg);
  ctr_strlcat(msg, ": errno ", sizeof msg);
  ctr_utoa((unsigned long)err, num);
  ctr_strlcat(msg, num, sizeof msg);
  ctr_strlcat(msg, "\n", sizeof msg);
  if (write(STDERR_FILENO, msg, ctr_strlen(msg)) < 0)
    return;
}

/* A closed 0, 1 or 2 would be reused by the next open and then handed to
 * the container as its stdio by mistake. */
static void ensure_stdio(void)
{
  int fd;

  for (fd = 0; fd <= 2; fd++)
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", O_RDWR) != fd)
      exit(EXIT_SETUP);
}

/*
 * CVE-2019-5736: the container's init is a copy of this process, so until
 * its execve /proc/self/exe is this binary, and an entrypoint such as
 * "#!/proc/self/exe" could reopen it for writing from inside. Run from a
 * sealed memfd copy instead; writes to it fail, and the host binary is
 * never the one mapped (runc's cloned_binary, without the 8 MB: this one is
 * small).
 */
static void run_sealed(char **argv)
{
  int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC), mfd, seals;
  struct stat st;
  off_t off = 0;

  if (exe < 0)
    die(CTR_STAGE_SEAL, errno, "/proc/self/exe");
  seals = fcntl(exe, F_GET_SEALS);
  if (seals >= 0 && (seals & F_SEAL_WRITE)) {
    close(exe);
    return;
  }
  mfd = memfd_create("tsrun-monitor", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (mfd < 0 && errno == EINVAL) /* MFD_EXEC is new in Linux 6.3 */
    mfd = memfd_create("tsrun-monitor", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0)
    die(CTR_STAGE_SEAL, errno, "memfd_create");
  if (fstat(exe, &st) < 0)
    die(CTR_STAGE_SEAL, errno, "/proc/self/exe");
  while (off < st.st_size) {
    ssize_t n = sendfile(mfd, exe, &off, (size_t)(st.st_size - off));

    if (n <= 0)
      die(CTR_STAGE_SEAL, n < 0 ? errno : EIO, "sendfile");
  }
  if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
    die(CTR_STAGE_SEAL, errno, "F_ADD_SEALS");
  close(exe);
  syscall(SYS_execveat, mfd, "", argv, environ, AT_EMPTY_PATH);
  die(CTR_STAGE_SEAL, errno, "execveat");
}

static size_t read_plan(void)
{
  size_t len = 0;

  for (;;) {
    ssize_t n = read(PLAN_FD, plan_buf + len, sizeof plan_buf - len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      die(CTR_STAGE_PLAN, errno, "read");
    if (n == 0)
      break;
    len += (size_t)n;
    if (len > CTR_PLAN_MAX_BYTES)
      die(CTR_STAGE_PLAN, E2BIG, "size");
  }
  close(PLAN_FD);
  return len;
}

/* The highest capability this kernel knows, for dropping the rest of the
 * bounding set in the child (which must not depend on /proc being the
 * host's by then). */
static void read_cap_last(void)
{
  char buf[16];
  unsigned long v = 0;
  ssize_t n, i;
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    die(CTR_STAGE_CAP_BOUNDING, errno, "reading /proc/sys/kernel/cap_last_cap");
  n = read(fd, buf, sizeof buf);
  close(fd);
  for (i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
    v = v * 10 + (unsigned long)(buf[i] - '0');
  if (n <= 0 || i == 0 || v > 63)
    die(CTR_STAGE_CAP_BOUNDING, EINVAL, "reading /proc/sys/kernel/cap_last_cap");
  plan.cap_last = (int)v;
}

/* EINVAL or ENOENT: already unmounted, or never mounted (podman#19913). */
static void unmount_rootfs(void)
{
  if (plan.unmount_path && umount2(plan.unmount_path, MNT_DETACH) < 0 && errno != EINVAL &&
      errno != ENOENT)
    warn("unmounting", plan.unmount_path, errno);
}

static void restore_terminal(void)
{
  if (raw_fd >= 0)
    tcsetattr(raw_fd, TCSADRAIN, &saved_termios);
  raw_fd = -1;
}

/* cfmakeraw on the caller's terminal: keys (^C included) go to the
 * container's terminal, whose line discipline does the rest. */
static void make_raw(void)
{
  struct termios raw;

  if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_termios) < 0)
    return;
  raw = saved_termios;
  cfmakeraw(&raw);
  if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) < 0)
    return;
  raw_fd = STDIN_FILENO;
  atexit(restore_terminal);
}

/* The caller's terminal size, else the plan's; applied by the child. */
static void initial_winsize(struct winsize *ws)
{
  memset(ws, 0, sizeof *ws);
  if (ioctl(STDIN_FILENO, TIOCGWINSZ, ws) == 0 && (ws->ws_row || ws->ws_col))
    return;
  ws->ws_row = plan.ws_rows;
  ws->ws_col = plan.ws_cols;
}

static void resize(void)
{
  struct winsize ws;

  if (master >= 0 && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
    ioctl(master, TIOCSWINSZ, &ws);
}

/* Reads one record, or returns 0 at EOF (the pipe is O_CLOEXEC: EOF alone
 * means execve succeeded). */
static int read_record(int fd, struct ctr_report *r)
{
  size_t got = 0;

  while (got < sizeof *r) {
    ssize_t n = read(fd, (char *)r + got, sizeof *r - got);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  r->detail[sizeof r->detail - 1] = '\0';
  return got == sizeof *r;
}

static int exit_code_for(const struct ctr_report *r)
{
  if (r->stage == CTR_STAGE_EXEC && r->err == ENOENT)
    return EXIT_NOT_FOUND;
  if (r->stage == CTR_STAGE_EXEC && (r->err == EACCES || r->err == ENOEXEC))
    return EXIT_CANNOT_EXEC;
  return EXIT_SETUP;
}

/* Orphans reparent to us (PR_SET_CHILD_SUBREAPER) when there is no PID
 * namespace; reap them all, and keep the container process's status. */
static void reap(void)
{
  pid_t p;
  int st;

  while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
    if (p == child_pid) {
      child_status = st;
      child_exited = 1;
    }
  }
}

/* With a tty the kernel sends SIGWINCH to the container's foreground
 * process group itself once the master's size changes. */
static void handle_signals(void)
{
  struct signalfd_siginfo si;

  while (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
    if (si.ssi_signo == SIGCHLD)
      reap();
    else if (si.ssi_signo == SIGWINCH && master >= 0)
      resize();
    else
      syscall(SYS_pidfd_send_signal, child_pidfd, (int)si.ssi_signo, NULL, 0);
  }
}

/* An attach client left: the container's input stays open for the next one (docker attach). */
static void drop_client(void)
{
  if (!in_is_client)
    return;
  close(in_fd);
  in_fd = -1;
  in_is_client = 0;
}

static void accept_client(void)
{
  int fd = accept4(attach_listen, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

  if (fd < 0)
    return;
  in_fd = fd;
  in_is_client = 1;
}

static void read_input(void)
{
  struct termios t;
  ssize_t n = read(in_fd, in_buf, sizeof in_buf);

  if (n > 0) {
    in_len = (size_t)n;
    in_off = 0;
  } else if (in_is_client) {
    if (n == 0 || (errno != EAGAIN && errno != EINTR))
      drop_client();
  } else if (n == 0) {
    /* A terminal has no half-close: end of input is the EOF character,
     * which ends a read() at the start of a line. */
    in_fd = -1;
    in_buf[0] = tcgetattr(master, &t) == 0 ? (char)t.c_cc[VEOF] : 4;
    in_len = 1;
    in_off = 0;
  } else if (errno != EAGAIN && errno != EINTR) {
    in_fd = -1;
  }
}

/* The target is non-blocking: a container that does not read its input
 * must not stop the monitor from draining its output. */
static void write_input(void)
{
  ssize_t n = write(in_target, in_buf + in_off, in_len - in_off);

  if (n > 0) {
    in_off += (size_t)n;
  } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
    /* Nobody reads the input any more (EPIPE, EIO): stop taking it. */
    in_off = in_len;
    in_target = -1;
    drop_client();
    in_fd = -1;
  }
  if (in_off == in_len)
    in_len = in_off = 0;
}

/* A numbered name beside the log: PATH.N. */
static void rotated_name(char *buf, size_t size, const char *base, unsigned n)
{
  char num[16];

  ctr_strlcpy(buf, base, size);
  ctr_strlcat(buf, ".", size);
  ctr_utoa(n, num);
  ctr_strlcat(buf, num, size);
}

/*
 * docker json-file's max-size and max-file: once the log has reached
 * log_max bytes, PATH.N-1 goes, each PATH.I becomes PATH.I+1, PATH becomes
 * PATH.1, and a new PATH takes its place. The new file is made first (as
 * PATH.new) and renamed over PATH, so PATH is never missing and a failure
 * changes nothing; never truncated in place: a reader following PATH
 * finds its inode replaced, reads the old one to its end (nothing is
 * written to it after) and moves on. Run after each record
 * (jsonlog_after_record), so a record is never split and a file passes
 * its size by one record at most. Failures lose rotation, never output.
 */
static void rotate_log(void)
{
  char from[PATH_MAX], to[PATH_MAX], fresh[PATH_MAX];
  unsigned i;
  int fd;

  if (jsonlog_bytes < plan.log_max)
    return;
  jsonlog_bytes = 0;
  ctr_strlcpy(fresh, plan.log_path, sizeof fresh);
  ctr_strlcat(fresh, ".new", sizeof fresh);
  fd = open(fresh, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0) {
    warn("opening", fresh, errno);
    return;
  }
  for (i = plan.log_files - 1; i > 1; i--) {
    rotated_name(from, sizeof from, plan.log_path, i - 1);
    rotated_name(to, sizeof to, plan.log_path, i);
    if (rename(from, to) < 0 && errno != ENOENT)
      warn("rotating", from, errno);
  }
  rotated_name(to, sizeof to, plan.log_path, 1);
  /* With two files, PATH.1 is the oldest kept: it goes. */
  if (plan.log_files > 1 && unlink(to) < 0 && errno != ENOENT)
    warn("rotating", to, errno);
  /* PATH.1 is PATH's file too for a moment (a reader skips it by its inode), then PATH is the new one. */
  if ((plan.log_files > 1 && link(plan.log_path, to) < 0) || rename(fresh, plan.log_path) < 0) {
    warn("rotating", plan.log_path, errno);
    unlink(fresh);
    close(fd);
    return;
  }
  /* The same number: whatever holds log_fd writes to the new file. */
  if (dup3(fd, log_fd, O_CLOEXEC) < 0)
    warn("reopening", plan.log_path, errno);
  close(fd);
}

static void read_output(struct log_stream *s)
{
  if (!log_stream_read(s, log_fd) || s != &out_log || master < 0)
    return;
  /* The slave side is gone: the master was closed with the stream. */
  master = -1;
  in_target = -1;
  drop_client();
  in_fd = -1;
  in_len = in_off = 0;
}

/* After CREATED the error pipe carries one more thing: EOF at execve, or a
 * failure that happened after `start` (execve ENOENT, say). */
static void read_late_failure(void)
{
  struct ctr_report r;

  if (read_record(err_pipe[0], &r) && r.kind == CTR_REPORT_FAILED) {
    late_failure = r;
    late_failed = 1;
    return;
  }
  close(err_pipe[0]);
  err_pipe[0] = -1;
}

static long elapsed_ms(const struct timespec *since)
{
  struct timespec now;

  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* Waits for the container process to exit while copying its output (and,
 * with a tty, the caller's input); then drains what is left. */
static void supervise(void)
{
  struct pollfd fds[8];
  struct timespec start;
  int n, i_pid, i_sig, i_err, i_out, i_errout, i_in, i_target, i_listen;

  while (!child_exited) {
    n = 0;
    i_err = i_out = i_errout = i_in = i_target = i_listen = -1;
    fds[i_pid = n++] = (struct pollfd){ .fd = child_pidfd, .events = POLLIN };
    fds[i_sig = n++] = (struct pollfd){ .fd = sig_fd, .events = POLLIN };
    if (err_pipe[0] >= 0)
      fds[i_err = n++] = (struct pollfd){ .fd = err_pipe[0], .events = POLLIN };
    if (out_log.fd >= 0)
      fds[i_out = n++] = (struct pollfd){ .fd = out_log.fd, .events = POLLIN };
    if (err_log.fd >= 0)
      fds[i_errout = n++] = (struct pollfd){ .fd = err_log.fd, .events = POLLIN };
    if (in_fd >= 0 && in_len == 0)
      fds[i_in = n++] = (struct pollfd){ .fd = in_fd, .events = POLLIN };
    if (in_target >= 0 && in_len)
      fds[i_target = n++] = (struct pollfd){ .fd = in_target, .events = POLLOUT };
    /* One client at a time; the next waits in the backlog. */
    if (attach_listen >= 0 && in_fd < 0 && in_target >= 0)
      fds[i_listen = n++] = (struct pollfd){ .fd = attach_listen, .events = POLLIN };
    if (poll(fds, (nfds_t)n, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (fds[i_sig].revents)
      handle_signals();
    if (fds[i_pid].revents)
      reap();
    if (i_err >= 0 && fds[i_err].revents)
      read_late_failure();
    if (i_listen >= 0 && fds[i_listen].revents)
      accept_client();
    if (i_in >= 0 && fds[i_in].revents && in_fd >= 0)
      read_input();
    if (i_out >= 0 && fds[i_out].revents && out_log.fd >= 0)
      read_output(&out_log);
    if (i_errout >= 0 && fds[i_errout].revents)
      read_output(&err_log);
    /* Input just read is usually taken at once; otherwise POLLOUT says when. */
    if (in_len && in_target >= 0)
      write_input();
  }
  drop_client();
  if (attach_listen >= 0) {
    close(attach_listen);
    attach_listen = -1;
    unlink(plan.attach_sock);
  }
  /* The writer is dead: what is left of the error pipe is there now. */
  while (err_pipe[0] >= 0)
    read_late_failure();

  /* Output written just before the exit is still in the pipes. */
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (out_log.fd >= 0 || err_log.fd >= 0) {
    long left = DRAIN_MAX_MS - elapsed_ms(&start);

    n = 0;
    i_out = i_errout = -1;
    if (left <= 0)
      break;
    if (out_log.fd >= 0)
      fds[i_out = n++] = (struct pollfd){ .fd = out_log.fd, .events = POLLIN };
    if (err_log.fd >= 0)
      fds[i_errout = n++] = (struct pollfd){ .fd = err_log.fd, .events = POLLIN };
    n = poll(fds, (nfds_t)n, left < DRAIN_IDLE_MS ? (int)left : DRAIN_IDLE_MS);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    if (i_out >= 0 && fds[i_out].revents)
      read_output(&out_log);
    if (i_errout >= 0 && fds[i_errout].revents)
      read_output(&err_log);
  }
  log_stream_close(&out_log, log_fd);
  log_stream_close(&err_log, log_fd);
}

static void put_num(char *body, size_t size, const char *key, long v)
{
  char num[24];

  ctr_strlcat(body, key, size);
  if (v < 0) {
    ctr_strlcat(body, "-", size);
    v = -v;
  }
  ctr_utoa((unsigned long)v, num);
  ctr_strlcat(body, num, size);
}

/*
 * {"exitCode":N,"signal":N,"finishedAt":"RFC3339","pid":N}, plus
 * "failure":{"stage":N,"index":N,"errno":N,"detail":"..."} when the process
 * failed after CREATED (nobody reads fd 4 by then). Written relative to the
 * directory opened at setup (an exec monitor lives in the container's mount
 * namespace by now): tmp + fsync + rename + fsync(dir), so a crash leaves
 * the old file or the new one.
 */
static void write_exit_file(int code, int sig, pid_t pid, int oom_killed, const struct ctr_report *failure)
{
  char body[CTR_REPORT_DETAIL * 6 + 512] = "", when[RFC3339NANO_LEN], tmp[NAME_MAX + 8];
  struct timespec ts;
  size_t len;
  int fd;

  clock_gettime(CLOCK_REALTIME, &ts);
  format_rfc3339nano(when, &ts);
  put_num(body, sizeof body, "{\"exitCode\":", code);
  put_num(body, sizeof body, ",\"signal\":", sig);
  ctr_strlcat(body, ",\"finishedAt\":\"", sizeof body);
  ctr_strlcat(body, when, sizeof body);
  put_num(body, sizeof body, "\",\"pid\":", pid);
  if (oom_killed)
    ctr_strlcat(body, ",\"oomKilled\":true", sizeof body);
  if (failure) {
    put_num(body, sizeof body, ",\"failure\":{\"stage\":", failure->stage);
    put_num(body, sizeof body, ",\"index\":", failure->index);
    put_num(body, sizeof body, ",\"errno\":", failure->err);
    ctr_strlcat(body, ",\"detail\":\"", sizeof body);
    len = json_escape(body, ctr_strlen(body), failure->detail, ctr_strlen(failure->detail));
    body[len] = '\0';
    ctr_strlcat(body, "\"}", sizeof body);
  }
  ctr_strlcat(body, "}\n", sizeof body);

  ctr_strlcpy(tmp, exit_name, sizeof tmp);
  ctr_strlcat(tmp, ".tmp", sizeof tmp);
  fd = openat(exit_dir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0 || write_full(fd, body, ctr_strlen(body)) < 0 || fsync(fd) < 0) {
    warn("writing", plan.exit_file, errno);
    if (fd >= 0)
      close(fd);
    return;
  }
  close(fd);
  if (renameat(exit_dir, tmp, exit_dir, exit_name) < 0) {
    warn("renaming", plan.exit_file, errno);
    return;
  }
  if (fsync(exit_dir) < 0)
    warn("syncing the directory of", plan.exit_file, errno);
}

/*
 * The exitcmd runs unless the plan makes it depend on a flag file beside the
 * exit file, which tsrun sets or clears while the container runs (a restart
 * policy given by `update --restart`): looked up now, at the exit.
 */
static int exit_command_wanted(void)
{
  struct stat st;

  return !plan.exitcmd_if || fstatat(exit_dir, plan.exitcmd_if, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* The exit file is written relative to its directory, opened now. */
static void open_exit_dir(void)
{
  char dir[PATH_MAX];
  char *slash;

  if (ctr_strlcpy(dir, plan.exit_file, sizeof dir) >= sizeof dir)
    die(CTR_STAGE_EXIT_FILE, ENAMETOOLONG, plan.exit_file);
  slash = strrchr(dir, '/');
  exit_name = plan.exit_file + (slash - dir) + 1;
  if (*exit_name == '\0' || ctr_strlen(exit_name) > NAME_MAX - 4)
    die(CTR_STAGE_EXIT_FILE, EINVAL, plan.exit_file);
  slash[slash == dir] = '\0';
  exit_dir = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (exit_dir < 0)
    die(CTR_STAGE_EXIT_FILE, errno, plan.exit_file);
}

static void open_cgroups(void)
{
  size_t i;

  for (i = 0; i < plan.n_cgroups; i++) {
    cgroup_fds[i] = open(plan.cgroups[i], O_WRONLY | O_CLOEXEC);
    if (cgroup_fds[i] < 0)
      die(CTR_STAGE_CGROUP, errno, plan.cgroups[i]);
  }
  /* Membership only: one that cannot be opened is left out, not a failure (join_cgroups_late). */
  for (i = 0; i < plan.n_cgroups_late; i++) {
    cgroup_late_fds[i] = open(plan.cgroups_late[i], O_WRONLY | O_CLOEXEC);
    if (cgroup_late_fds[i] < 0)
      warn("opening the cgroup", plan.cgroups_late[i], errno);
  }
  /* The first late cgroup's dir: the process is born there (CLONE_INTO_CGROUP takes the fork side of
   * cgroup_threadgroup_rwsem, no RCU grace period), and the write after the report is left for when that fails. */
  if (plan.n_cgroups_late && cgroup_dir_fd < 0 && cgroup_late_fds[0] >= 0) {
    char dir[PATH_MAX];
    char *slash;

    if (ctr_strlcpy(dir, plan.cgroups_late[0], sizeof dir) < sizeof dir && (slash = strrchr(dir, '/'))) {
      *slash = '\0';
      cgroup_dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      cgroup_dir_late = cgroup_dir_fd >= 0;
    }
  }
  /* With cgroupself the child moves itself; there is nothing to wait for. */
  if (plan.n_cgroups && !plan.cgroup_self && pipe2(sync_pipe, O_CLOEXEC) < 0)
    die(CTR_STAGE_CLONE, errno, "pipe2");
  /* cgroup v2 (one cgroup.procs): the child can be born in it instead. */
  if (plan.n_cgroups == 1 && !plan.cgroup_self) {
    char dir[PATH_MAX];
    char *slash;

    if (ctr_strlcpy(dir, plan.cgroups[0], sizeof dir) < sizeof dir && (slash = strrchr(dir, '/'))) {
      *slash = '\0';
      cgroup_dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
  }
}

/* runc's --console-socket: an AF_UNIX stream socket the caller listens on. */
static void connect_console(void)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };

  if (ctr_strlcpy(addr.sun_path, plan.console_socket, sizeof addr.sun_path) >= sizeof addr.sun_path)
    die(CTR_STAGE_CONSOLE, ENAMETOOLONG, plan.console_socket);
  console_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (console_fd < 0 || connect(console_fd, (struct sockaddr *)&addr, sizeof addr) < 0)
    die(CTR_STAGE_CONSOLE, errno, plan.console_socket);
}

/*
 * attachsock: listen for attach clients. The path may be longer than
 * sun_path's 108 bytes (a deep --runroot), so it is bound through an fd of
 * its directory. A socket left by an earlier monitor of this container is
 * replaced; only root may connect (0600).
 */
static void listen_attach(void)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  char dir_path[PATH_MAX];
  const char *name = strrchr(plan.attach_sock, '/') + 1; /* validated: absolute */
  int dir;

  if (ctr_strlcpy(dir_path, plan.attach_sock, sizeof dir_path) >= sizeof dir_path)
    die(CTR_STAGE_STDIO, ENAMETOOLONG, plan.attach_sock);
  dir_path[name - plan.attach_sock] = '\0';
  dir = open(dir_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0)
    die(CTR_STAGE_STDIO, errno, plan.attach_sock);
  ctr_fd_path(addr.sun_path, dir);
  ctr_strlcat(addr.sun_path, "/", sizeof addr.sun_path);
  if (ctr_strlcat(addr.sun_path, name, sizeof addr.sun_path) >= sizeof addr.sun_path)
    die(CTR_STAGE_STDIO, ENAMETOOLONG, plan.attach_sock);
  unlink(addr.sun_path);
  attach_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (attach_listen < 0 || bind(attach_listen, (struct sockaddr *)&addr, sizeof addr) < 0 ||
      chmod(addr.sun_path, 0600) < 0 || listen(attach_listen, 4) < 0)
    die(CTR_STAGE_STDIO, errno, plan.attach_sock);
  close(dir);
}

/* A namespace file given by path: opened without blocking or side effects
 * (a FIFO or a device there must not hang or act), and refused unless it is
 * a namespace of the kind it is given for (ioctl_ns(2) NS_GET_NSTYPE). */
static int open_namespace(const char *path, int kind, enum ctr_stage stage)
{
  struct statfs sfs;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

  if (fd < 0)
    die(stage, errno, path);
  if (fstatfs(fd, &sfs) < 0 || sfs.f_type != NSFS_MAGIC || ioctl(fd, NS_GET_NSTYPE) != kind) {
    char detail[CTR_REPORT_DETAIL];

    static const struct {
      int flag;
      const char *text;
    } kinds[] = {
      { CLONE_NEWUSER, ": not a user namespace" }, { CLONE_NEWPID, ": not a pid namespace" },
      { CLONE_NEWUTS, ": not a uts namespace" },   { CLONE_NEWIPC, ": not an ipc namespace" },
      { CLONE_NEWNET, ": not a net namespace" },   { CLONE_NEWCGROUP, ": not a cgroup namespace" },
    };
    size_t i;

    ctr_strlcpy(detail, path, sizeof detail);
    for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
      if (kinds[i].flag == kind)
        ctr_strlcat(detail, kinds[i].text, sizeof detail);
    die(stage, 0, detail);
  }
  return fd;
}

/* The monitor's own namespace of a kind, in /proc/self/ns (pid: the one its children get). */
static const char *own_ns_file(int flag)
{
  switch (flag) {
  case CLONE_NEWPID:
    return "/proc/self/ns/pid_for_children";
  case CLONE_NEWUTS:
    return "/proc/self/ns/uts";
  case CLONE_NEWIPC:
    return "/proc/self/ns/ipc";
  case CLONE_NEWNET:
    return "/proc/self/ns/net";
  default:
    return "/proc/self/ns/cgroup";
  }
}

/*
 * nspath records: the monitor enters each before clone, so the child is
 * born in them (only a child of the setns() caller enters a pid namespace
 * at all), and goes back to its own right after (leave_namespaces). The
 * child cannot join them itself once in a new user namespace: a namespace
 * the host owns needs the host's CAP_SYS_ADMIN to enter (runc joins them
 * before it unshares the user namespace, for the same reason).
 */
static void join_nspaths(struct ctr_child_io *io)
{
  size_t i;

  io->cgroupns_fd = -1;
  for (i = 0; i < plan.n_nspaths; i++) {
    ns_fds[i] = open_namespace(plan.nspaths[i].path, plan.nspaths[i].flag, CTR_STAGE_NSJOIN);
    own_ns_fds[i] = -1;
    /* Without a user namespace the child joins a cgroup namespace itself:
     * cloned from inside a foreign one, it could not be born in its cgroup
     * on v2 (nsdelegate judges CLONE_INTO_CGROUP from the caller's). */
    if (plan.nspaths[i].flag == CLONE_NEWCGROUP && !ctr_plan_userns(&plan)) {
      io->cgroupns_fd = ns_fds[i];
      continue;
    }
    own_ns_fds[i] = open(own_ns_file(plan.nspaths[i].flag), O_RDONLY | O_CLOEXEC);
    if (own_ns_fds[i] < 0)
      die(CTR_STAGE_NSJOIN, errno, own_ns_file(plan.nspaths[i].flag));
  }
  for (i = 0; i < plan.n_nspaths; i++)
    if (own_ns_fds[i] >= 0 && setns(ns_fds[i], plan.nspaths[i].flag) < 0)
      die(CTR_STAGE_NSJOIN, errno, plan.nspaths[i].path);
}

/* Back in the monitor's own namespaces: what it runs later (the exitcmd, and
 * what that forks) must not land in the container's. */
static void leave_namespaces(void)
{
  struct ctr_report r;
  size_t i;

  for (i = 0; i < plan.n_nspaths; i++) {
    if (own_ns_fds[i] >= 0 && setns(own_ns_fds[i], plan.nspaths[i].flag) < 0) {
      ctr_report_fill(&r, CTR_REPORT_FAILED, CTR_STAGE_NSJOIN, (int)i, errno, own_ns_file(plan.nspaths[i].flag));
      syscall(SYS_pidfd_send_signal, child_pidfd, SIGKILL, NULL, 0);
      start_failed(&r);
    }
    if (own_ns_fds[i] >= 0)
      close(own_ns_fds[i]);
    close(ns_fds[i]);
  }
}

/* Whether m is a sysfs or mqueue of a namespace not made with the user
 * namespace (joined by path, or the host's): the one it shows is then its
 * mounter's, and the user namespace does not own it. */
static int made_by_monitor(const struct ctr_mount *m)
{
  int flag = ctr_streq(m->type, "sysfs") ? CLONE_NEWNET : ctr_streq(m->type, "mqueue") ? CLONE_NEWIPC : 0;

  return flag && !(plan.clone_flags & flag);
}

/*
 * A sysfs shows the network namespace of its mounter, an mqueue the ipc
 * namespace; from a user namespace either can be mounted only for a
 * namespace that user namespace owns (sysfs_get_tree, mqueue_get_tree). A
 * container with a user namespace of its own and a net or ipc namespace
 * joined by path (podman's, a pod's) or the host's gets them made here, in
 * those namespaces with the host's privileges, as detached mounts the child
 * attaches (made_fds). Their superblocks stay the host's: the container's
 * root cannot remount them writable (do_reconfigure_mnt needs CAP_SYS_ADMIN
 * over the superblock's user namespace).
 */
static void make_foreign_mounts(void)
{
  static const struct {
    unsigned long ms;
    unsigned attr;
  } attrs[] = {
    { MS_RDONLY, MOUNT_ATTR_RDONLY },   { MS_NOSUID, MOUNT_ATTR_NOSUID },         { MS_NODEV, MOUNT_ATTR_NODEV },
    { MS_NOEXEC, MOUNT_ATTR_NOEXEC },   { MS_NOATIME, MOUNT_ATTR_NOATIME },       { MS_NODIRATIME, MOUNT_ATTR_NODIRATIME },
    { MS_STRICTATIME, MOUNT_ATTR_STRICTATIME },
  };
  char detail[CTR_REPORT_DETAIL], *opt, *next;
  size_t i, j;
  unsigned set;
  int fs;

  if (!ctr_plan_userns(&plan))
    return;
  for (i = 0; i < plan.n_mounts; i++) {
    const struct ctr_mount *m = &plan.mounts[i];

    if ((m->flags & MS_BIND) || !made_by_monitor(m))
      continue;
    detail[0] = '\0';
    ctr_strlcat(detail, m->type, sizeof detail);
    ctr_strlcat(detail, " on ", sizeof detail);
    ctr_strlcat(detail, m->dest, sizeof detail);
    fs = fsopen(m->type, FSOPEN_CLOEXEC);
    if (fs < 0)
      die(CTR_STAGE_MOUNT, errno, detail);
    /* The plan's data, "key=value,flag,...", one fsconfig each (the buffer is ours to cut). */
    for (opt = (char *)m->data; opt && *opt; opt = next) {
      char *eq;

      next = strchr(opt, ',');
      if (next)
        *next++ = '\0';
      eq = strchr(opt, '=');
      if (eq)
        *eq = '\0';
      if ((eq ? fsconfig(fs, FSCONFIG_SET_STRING, opt, eq + 1, 0) : fsconfig(fs, FSCONFIG_SET_FLAG, opt, NULL, 0)) < 0)
        die(CTR_STAGE_MOUNT, errno, detail);
    }
    for (set = 0, j = 0; j < sizeof attrs / sizeof attrs[0]; j++)
      if (m->flags & attrs[j].ms)
        set |= attrs[j].attr;
    if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 || (made_fds[i] = fsmount(fs, FSMOUNT_CLOEXEC, set)) < 0)
      die(CTR_STAGE_MOUNT, errno, detail);
    close(fs);
  }
}

/* The start FIFO, opened here while host paths resolve for us: the child,
 * as the container's root in a user namespace, might not be allowed to walk
 * the state directory. It reopens it through /proc/self/fd for writing
 * after setresuid, with no DAC override left: the FIFO must then be the
 * process's own user's (runc chowns its exec.fifo the same way), which in
 * a user namespace is that user's host id. */
static void open_start_fifo(struct ctr_child_io *io)
{
  struct stat st;
  unsigned owner = plan.uid;

  io->fifo_fd = -1;
  if (!plan.start_fifo)
    return;
  fifo_fd = open(plan.start_fifo, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fifo_fd < 0)
    die(CTR_STAGE_START_FIFO, errno, plan.start_fifo);
  if (fstat(fifo_fd, &st) < 0)
    die(CTR_STAGE_START_FIFO, errno, plan.start_fifo);
  if (!S_ISFIFO(st.st_mode))
    die(CTR_STAGE_START_FIFO, EINVAL, plan.start_fifo);
  if (ctr_plan_userns(&plan))
    owner = ctr_idmap_host(plan.uidmap, plan.n_uidmap, plan.uid);
  if (owner != st.st_uid && fchownat(fifo_fd, "", owner, (gid_t)-1, AT_EMPTY_PATH) < 0)
    die(CTR_STAGE_START_FIFO, errno, plan.start_fifo);
  io->fifo_fd = fifo_fd;
}

/*
 * Everything that needs a host path, and every fd the child gets: in exec
 * mode this runs before setns, after which host paths no longer resolve.
 * Without a tty the container always writes into pipes the monitor owns
 * (runc#1047: never the caller's own stdio), and reads the caller's stdin
 * only when the plan says so.
 */
static void open_host_side(struct ctr_child_io *io)
{
  size_t len;

  io->in_fd = io->out_fd = io->err_fd = io->tty_sock = -1;
  if (plan.exit_file)
    open_exit_dir();
  if (plan.log_path) {
    struct stat st;

    log_fd = open(plan.log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (log_fd < 0)
      die(CTR_STAGE_LOG, errno, plan.log_path);
    if (plan.log_max && fstat(log_fd, &st) == 0) {
      jsonlog_bytes = (unsigned long)st.st_size;
      jsonlog_after_record = rotate_log;
    }
  }
  out_log.fd = err_log.fd = -1;
  out_log.copy_fd = plan.attach ? STDOUT_FILENO : -1;
  err_log.copy_fd = plan.attach ? STDERR_FILENO : -1;
  out_log.name = "stdout";
  err_log.name = "stderr";
  if (plan.tty) {
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, tty_sock) < 0)
      die(CTR_STAGE_TTY, errno, "socketpair");
    io->tty_sock = tty_sock[1];
    initial_winsize(&io->ws);
    if (plan.console_socket)
      connect_console();
  } else if (plan.passthrough) {
    io->in_fd = STDIN_FILENO;
    io->out_fd = STDOUT_FILENO;
    io->err_fd = STDERR_FILENO;
  } else {
    if (plan.stdin_open) {
      io->in_fd = STDIN_FILENO;
    } else if (plan.attach_sock) {
      /* Non-blocking on our side only: the container's end stays an ordinary pipe. */
      if (pipe2(stdin_pipe, O_CLOEXEC) < 0 || fcntl(stdin_pipe[1], F_SETFL, O_NONBLOCK) < 0)
        die(CTR_STAGE_STDIO, errno, "pipe2");
      io->in_fd = stdin_pipe[0];
      in_target = stdin_pipe[1];
    } else {
      null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (null_fd < 0)
        die(CTR_STAGE_STDIO, errno, "/dev/null");
      io->in_fd = null_fd;
    }
    if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(errout_pipe, O_CLOEXEC) < 0)
      die(CTR_STAGE_STDIO, errno, "pipe2");
    out_log.fd = out_pipe[0];
    err_log.fd = errout_pipe[0];
    io->out_fd = out_pipe[1];
    io->err_fd = errout_pipe[1];
  }
  if (plan.attach_sock)
    listen_attach();
  if (pipe2(err_pipe, O_CLOEXEC) < 0)
    die(CTR_STAGE_CLONE, errno, "pipe2");
  io->errfd = err_pipe[1];
  open_cgroups();
  io->sync_fd = sync_pipe[0];
  io->resume_fd = -1;
  if (plan.hook_pause) {
    if (pipe2(resume_pipe, O_CLOEXEC) < 0)
      die(CTR_STAGE_CLONE, errno, "pipe2");
    io->resume_fd = resume_pipe[0];
  }
  io->cgroup_fds = cgroup_fds;
  io->cgroupns_fd = -1;
  for (len = 0; len < plan.n_mounts; len++)
    made_fds[len] = -1;
  io->made_fds = made_fds;
  io->maps_ready_fd = io->userns_pidfd = io->bind_sock = -1;
  if (ctr_plan_userns(&plan) && !plan.join_pid) {
    if (pipe2(userns_pipe, O_CLOEXEC) < 0)
      die(CTR_STAGE_USERNS, errno, "pipe2");
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, bind_sock) < 0)
      die(CTR_STAGE_USERNS, errno, "socketpair");
    io->maps_ready_fd = userns_pipe[0];
    io->bind_sock = bind_sock[1];
  }
  if (plan.userns_path)
    userns_join_fd = open_namespace(plan.userns_path, CLONE_NEWUSER, CTR_STAGE_USERNS);
  open_start_fifo(io);
}

/* The signals passed on to the container process, plus SIGCHLD; blocked
 * from now on and read from the signalfd, so a SIGTERM to the monitor is
 * forwarded and never skips the cleanup (the terminal, the exit file). */
static void block_signals(void)
{
  static const int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD };
  sigset_t set;
  size_t i;

  sigemptyset(&set);
  for (i = 0; i < sizeof signals / sizeof signals[0]; i++)
    sigaddset(&set, signals[i]);
  sigprocmask(SIG_BLOCK, &set, &saved_mask);
  sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sig_fd < 0)
    die(CTR_STAGE_CLONE, errno, "signalfd");
}

/* exec: enter the container with one setns() on a pidfd of its process. */
static void join_namespaces(void)
{
  static const struct {
    int flag;
    const char *name;
  } names[] = {
    { CLONE_NEWNS, "mnt" },  { CLONE_NEWPID, "pid" }, { CLONE_NEWUTS, "uts" },
    { CLONE_NEWIPC, "ipc" }, { CLONE_NEWNET, "net" }, { CLONE_NEWCGROUP, "cgroup" },
  };
  char which[64] = "";
  size_t i;
  /* Not the user namespace: the child joins it (child.c), and the monitor
   * keeps the host's privileges it needs for the rest of its work. */
  int flags = plan.join_flags & ~CLONE_NEWUSER;
  int pidfd = (int)syscall(SYS_pidfd_open, plan.join_pid, 0);

  if (pidfd < 0)
    die(CTR_STAGE_JOIN, errno, "pidfd_open");
  if (setns(pidfd, flags) < 0) {
    int err = errno;

    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
      if (flags & names[i].flag) {
        if (which[0])
          ctr_strlcat(which, " ", sizeof which);
        ctr_strlcat(which, names[i].name, sizeof which);
      }
    }
    die(CTR_STAGE_JOIN, err, which);
  }
  if (plan.join_flags & CLONE_NEWUSER)
    join_pidfd = pidfd;
  else
    close(pidfd);
  /* setns(CLONE_NEWNS) moved root and cwd to the container's root already;
   * this only makes it explicit. */
  if (chdir("/") < 0)
    die(CTR_STAGE_JOIN, errno, "chdir /");
}

/* In the fresh child: the monitor's own fds must not be open when it
 * chdir()s to a planned cwd (CVE-2024-21626), whatever close_range does later. */
static void close_monitor_fds(void)
{
  /* child: async-signal-safe */
  int fds[] = { REPORT_FD, log_fd, exit_dir, sig_fd, err_pipe[0], out_pipe[0], errout_pipe[0], tty_sock[0], sync_pipe[1], console_fd, resume_pipe[1], attach_listen, stdin_pipe[1], cgroup_dir_fd, userns_pipe[1], bind_sock[0], userns_join_fd };
  size_t i;

  for (i = 0; i < sizeof fds / sizeof fds[0]; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  for (i = 0; i < CTR_MAX_CGROUPS_LATE; i++)
    if (cgroup_late_fds[i] >= 0)
      close(cgroup_late_fds[i]);
  /* A cgroup namespace the child joins itself has no own_ns_fds entry; its fd stays. */
  for (i = 0; i < plan.n_nspaths; i++) {
    if (own_ns_fds[i] < 0)
      continue;
    close(ns_fds[i]);
    close(own_ns_fds[i]);
  }
  if (!plan.cgroup_self)
    for (i = 0; i < plan.n_cgroups; i++)
      close(cgroup_fds[i]);
}

/* The helper's word on its clone: which step failed (and errno), or how it went. */
struct helper_report {
  int step; /* 0: cloned, 1: into the cgroup too; -1: setns, -2: clone3, -3: sending the pidfd */
  int err;
};

/* The helper, in a fresh fork: enters the user namespace, clones the
 * process (our sibling, the monitor's child) and reports over report and
 * sock, then exits. Never returns; the cloned process runs its ladder. */
static _Noreturn void userns_helper_child(const struct ctr_child_io *io, int report, int sock)
{
  /* child: async-signal-safe */
  struct helper_report hr = { 0, 0 };
  struct clone_args args = { 0 };
  int pidfd = -1;
  pid_t pid = -1;

  if (setns(userns_join_fd, CLONE_NEWUSER) < 0) {
    hr.step = -1;
  } else {
    /* clone3 refuses an exit signal with CLONE_PARENT: the process inherits ours (SIGCHLD). */
    args.flags = CLONE_PARENT | CLONE_PIDFD | (uint64_t)(unsigned)(plan.clone_flags & ~CLONE_NEWCGROUP);
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    /* Born in its cgroup on v2, as clone_child's; refused, the monitor moves it (join_cgroups). */
    if (cgroup_dir_fd >= 0) {
      args.flags |= CLONE_INTO_CGROUP;
      args.cgroup = (uint64_t)cgroup_dir_fd;
      pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
      if (pid >= 0)
        hr.step = 1;
      args.flags &= ~(uint64_t)CLONE_INTO_CGROUP;
      args.cgroup = 0;
    }
    if (pid < 0)
      pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) {
      close(report);
      close(sock);
      close_monitor_fds();
      ctr_child_run(&plan, io);
    }
    if (pid < 0)
      hr.step = -2;
    else if (ctr_send_fd(sock, pidfd, "", 1) < 0)
      hr.step = -3;
  }
  hr.err = hr.step < 0 ? errno : 0;
  _exit(write(report, &hr, sizeof hr) == (ssize_t)sizeof hr ? 0 : 1);
}

/* The pid of a pidfd's process as this monitor's pid namespace numbers it
 * (the fdinfo's Pid:, read through our own /proc); 0 when unreadable. */
static pid_t pid_of_pidfd(int pidfd)
{
  char fdinfo[64] = "/proc/self/fdinfo/", buf[1024], *line;
  ssize_t n;
  int fd;

  ctr_utoa((unsigned long)pidfd, fdinfo + ctr_strlen(fdinfo));
  fd = open(fdinfo, O_RDONLY | O_CLOEXEC);
  n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
  if (fd >= 0)
    close(fd);
  buf[n > 0 ? n : 0] = '\0';
  line = strstr(buf, "\nPid:");
  return line ? (pid_t)strtol(line + 5, NULL, 10) : 0;
}

/*
 * nspath user (a pod's user namespace): every namespace the process gets
 * new must be owned by that user namespace, so it has to be created from
 * inside it, which the monitor must not enter: it would lose the host's
 * privileges for good (no way back to an ancestor user namespace). A
 * helper, forked plainly, enters it and clones the process with
 * CLONE_PARENT, so the process is the monitor's own child as always (runc's
 * nsexec forks twice for the same reason). The helper sends a pidfd of it,
 * not its pid: with a pid namespace joined by path (shareProcessNamespace)
 * the helper's pids are that namespace's, not the monitor's. Signals stay
 * blocked in both, as for clone_child.
 */
static pid_t clone_in_joined_userns(const struct ctr_child_io *io)
{
  static const char *const steps[] = { "", "entering it", "cloning in it", "passing the process back" };
  struct helper_report hr = { 0, 0 };
  int report[2], sock[2], got, status;
  pid_t helper, pid;

  if (pipe2(report, O_CLOEXEC) < 0)
    die(CTR_STAGE_CLONE, errno, "pipe2");
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sock) < 0)
    die(CTR_STAGE_CLONE, errno, "socketpair");
  helper = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (helper < 0)
    die(CTR_STAGE_CLONE, errno, NULL);
  if (helper == 0) {
    close(report[0]);
    close(sock[0]);
    userns_helper_child(io, report[1], sock[1]);
  }
  close(report[1]);
  close(sock[1]);
  /* The helper has sent all it will once it is gone: nothing below blocks on a live one. */
  while (waitpid(helper, &status, 0) < 0 && errno == EINTR)
    ;
  do
    got = (int)read(report[0], &hr, sizeof hr);
  while (got < 0 && errno == EINTR);
  close(report[0]);
  if (got != (int)sizeof hr || hr.step < 0) {
    close(sock[0]);
    die(CTR_STAGE_USERNS, got != (int)sizeof hr ? EPROTO : hr.err, steps[got != (int)sizeof hr ? 2 : -hr.step]);
  }
  child_pidfd = ctr_recv_fd(sock[0]);
  close(sock[0]);
  if (child_pidfd < 0)
    die(CTR_STAGE_USERNS, EPROTO, steps[3]);
  cloned_into_cgroup = hr.step == 1;
  pid = pid_of_pidfd(child_pidfd);
  if (pid <= 0) {
    syscall(SYS_pidfd_send_signal, child_pidfd, SIGKILL, NULL, 0);
    die(CTR_STAGE_USERNS, EPROTO, "the pid of the process cloned in it");
  }
  return pid;
}

/* Clones the container process, which runs a ladder; returns its pid. */
static pid_t clone_child(const struct ctr_child_io *io)
{
  struct clone_args args = { 0 };
  sigset_t all, prev;
  pid_t pid = -1;

  /* The child must not run a handler or die of a signal before its ladder
   * resets the dispositions; it unblocks everything just before execve. A
   * forwarded signal that comes meanwhile waits in the signalfd. */
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &prev);
  if (plan.userns_path) {
    pid = clone_in_joined_userns(io);
    sigprocmask(SIG_SETMASK, &prev, NULL);
    return pid;
  }
  /* Not the cgroup namespace: the child makes it once in its cgroups (child.c). */
  args.flags = CLONE_PIDFD | (plan.join_pid ? 0 : (uint64_t)(unsigned)(plan.clone_flags & ~CLONE_NEWCGROUP));
  args.pidfd = (uint64_t)(uintptr_t)&child_pidfd;
  args.exit_signal = SIGCHLD;
  /* cgroup v2, a new container: born in its cgroup (Linux 5.7), so every
   * rung of the ladder is charged there and no migration waits on
   * cgroup_threadgroup_rwsem. Whatever refuses it (an older kernel, pids.max
   * reached) leaves the cgroup.procs write, which moves the process in as
   * before. Not for exec on v2: after setns into the container's cgroup
   * namespace the kernel would judge the move from there (nsdelegate:
   * ENOENT). A v1 host's cgroup2 (cgroup_dir_late) is tried for exec too;
   * refused, join_cgroups_late writes the pid instead. */
  if (cgroup_dir_fd >= 0 && (!plan.join_pid || cgroup_dir_late)) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = (uint64_t)cgroup_dir_fd;
    pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
    if (pid >= 0) {
      cloned_into_cgroup = 1;
      /* Born in the late cgroup: nothing left to write (join_cgroups_late skips closed fds). */
      if (pid > 0 && cgroup_dir_late && cgroup_late_fds[0] >= 0) {
        close(cgroup_late_fds[0]);
        cgroup_late_fds[0] = -1;
      }
    } else {
      /* Linux 5.3-5.6 refuses clone_args whose unknown tail is not zero (E2BIG). */
      args.flags &= ~(uint64_t)CLONE_INTO_CGROUP;
      args.cgroup = 0;
    }
  }
  if (!cloned_into_cgroup)
    pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0)
    die(CTR_STAGE_CLONE, errno, NULL);
  if (pid > 0 && cgroup_dir_fd >= 0) {
    close(cgroup_dir_fd);
    cgroup_dir_fd = -1;
  }
  if (pid == 0) {
    close_monitor_fds();
    if (plan.join_pid)
      ctr_child_exec(&plan, io);
    ctr_child_run(&plan, io);
  }
  sigprocmask(SIG_SETMASK, &prev, NULL);
  return pid;
}

/* What is left in a cgroup once the init is gone: only possible when the
 * container shares a PID namespace (--pid host, or joined), since the end of
 * its own kills everything in it. Killed, as runc's destroy does then:
 * cgroup.kill (v2, Linux 5.14), else SIGKILL to each pid of cgroup.procs. */
static void kill_cgroup(const char *dir)
{
  char file[PATH_MAX], buf[4096], *p, *end, *nl;
  size_t have;
  ssize_t n;
  int fd;

  if (ctr_strlcpy(file, dir, sizeof file) >= sizeof file || ctr_strlcat(file, "/cgroup.kill", sizeof file) >= sizeof file)
    return;
  fd = open(file, O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    n = write(fd, "1", 1);
    close(fd);
    if (n == 1)
      return;
  }
  ctr_strlcpy(file, dir, sizeof file);
  ctr_strlcat(file, "/cgroup.procs", sizeof file);
  fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  /* Line by line across reads: a pid cut at a read's end is carried over, never taken for a shorter one. */
  have = 0;
  while ((n = read(fd, buf + have, sizeof buf - 1 - have)) > 0) {
    have += (size_t)n;
    buf[have] = '\0';
    for (p = buf; (nl = strchr(p, '\n')); p = nl + 1) {
      long pid = strtol(p, &end, 10);

      if (end == nl && pid > 0)
        kill((pid_t)pid, SIGKILL);
    }
    have = ctr_strlen(p);
    memmove(buf, p, have);
  }
  close(fd);
}

/* The cgroups made under a container's own, deepest first (an rmdir of a
 * cgroup with children is EBUSY). Depth-bounded; what stays busy stays, and
 * the retry of the caller says so. */
static void remove_children(const char *dir, int depth)
{
  char sub[PATH_MAX];
  struct dirent *e;
  DIR *d;

  if (depth > 32 || !(d = opendir(dir)))
    return;
  while ((e = readdir(d))) {
    if (e->d_type != DT_DIR || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    if (ctr_strlcpy(sub, dir, sizeof sub) >= sizeof sub || ctr_strlcat(sub, "/", sizeof sub) >= sizeof sub ||
        ctr_strlcat(sub, e->d_name, sizeof sub) >= sizeof sub)
      continue;
    kill_cgroup(sub);
    remove_children(sub, depth + 1);
    rmdir(sub);
  }
  closedir(d);
}

/* The membership-only cgroups (plan cgroups_late), after the report: their
 * cgroup.procs write waits out an RCU grace period, which the caller need
 * not wait for. A failure costs the membership, not the container. */
static void join_cgroups_late(void)
{
  char num[24];
  size_t i;

  ctr_utoa((unsigned long)child_pid, num);
  for (i = 0; i < plan.n_cgroups_late; i++) {
    if (cgroup_late_fds[i] < 0)
      continue;
    /* ESRCH: a process that is already gone has nothing to join. */
    if (write(cgroup_late_fds[i], num, ctr_strlen(num)) < 0 && errno != ESRCH)
      warn("joining the cgroup", plan.cgroups_late[i], errno);
    close(cgroup_late_fds[i]);
    cgroup_late_fds[i] = -1;
  }
}

/* rmdir, retried while the last tasks leave (a reaped zombie's cgroup
 * reference goes a moment later): EBUSY for up to a second, leftovers killed. */
static void remove_cgroups(void)
{
  char dir[PATH_MAX];
  char *slash;
  size_t i;
  int tries, err;

  if (plan.join_pid)
    return;
  for (i = 0; i < plan.n_cgroups + plan.n_cgroups_late; i++) {
    const char *file = i < plan.n_cgroups ? plan.cgroups[i] : plan.cgroups_late[i - plan.n_cgroups];

    if (ctr_strlcpy(dir, file, sizeof dir) >= sizeof dir || !(slash = strrchr(dir, '/')))
      continue;
    *slash = '\0';
    for (tries = 0;; tries++) {
      struct timespec ts = { 0, 10 * 1000000L };

      if (rmdir(dir) == 0 || errno == ENOENT)
        break;
      err = errno;
      if (err != EBUSY || tries == 100) {
        warn("removing the cgroup", dir, err);
        break;
      }
      /* Again on each try: what was forked meanwhile goes too, and the
       * cgroups the container made under its own (systemd in it does). */
      kill_cgroup(dir);
      remove_children(dir, 0);
      /* The killed are our children now (subreaper): their zombies keep a v1 cgroup busy until reaped. */
      reap();
      nanosleep(&ts, NULL);
    }
  }
}

/* The pid into every cgroup.procs, then the byte that lets the child go: it
 * waits for it as its last rung, so a failure kills it before any code of
 * the container ran. */
static void join_cgroups(pid_t pid)
{
  char num[24];
  size_t i, len;
  siginfo_t info;

  if (!plan.n_cgroups)
    return;
  if (plan.cgroup_self) {
    for (i = 0; i < plan.n_cgroups; i++)
      close(cgroup_fds[i]);
    return;
  }
  ctr_utoa((unsigned long)pid, num);
  len = ctr_strlen(num);
  for (i = 0; i < plan.n_cgroups && !cloned_into_cgroup; i++) {
    if (write(cgroup_fds[i], num, len) != (ssize_t)len) {
      int err = errno;

      /* The ladder runs meanwhile: a child that already failed and exited
       * is not movable, and its own record on the error pipe says why. */
      if (err == ESRCH)
        return;

      syscall(SYS_pidfd_send_signal, child_pidfd, SIGKILL, NULL, 0);
      waitid(P_PIDFD, (id_t)child_pidfd, &info, WEXITED);
      unmount_rootfs();
      remove_cgroups();
      die(CTR_STAGE_CGROUP, err, plan.cgroups[i]);
    }
    close(cgroup_fds[i]);
    cgroup_fds[i] = -1;
  }
  for (i = 0; i < plan.n_cgroups && cloned_into_cgroup; i++) {
    close(cgroup_fds[i]);
    cgroup_fds[i] = -1;
  }
  close(sync_pipe[0]);
  sync_pipe[0] = -1;
  if (write(sync_pipe[1], "", 1) != 1) {
    /* EPIPE: the ladder failed before its last rung; its record says why. */
    if (errno == EPIPE)
      return;
    syscall(SYS_pidfd_send_signal, child_pidfd, SIGKILL, NULL, 0);
    die(CTR_STAGE_CGROUP, errno, "sync pipe");
  }
  close(sync_pipe[1]);
  sync_pipe[1] = -1;
}

/* The start of a small file (a /proc or cgroup file) as a string in buf: 1, or 0 if it cannot be read or is empty. */
static int read_text(const char *path, char *buf, size_t size)
{
  ssize_t n;
  int fd = open(path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return 0;
  n = read(fd, buf, size - 1);
  close(fd);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  return 1;
}

/* "oom_kill N" in memory.oom_control (v1) or memory.events (v2): whether
 * the kernel's OOM killer took a process of the container. */
static int read_oom_killed(void)
{
  char buf[4096];
  const char *line;

  if (!plan.oom_file || !read_text(plan.oom_file, buf, sizeof buf))
    return 0;
  for (line = buf; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (strncmp(line, "oom_kill ", 9) == 0)
      return line[9] >= '1' && line[9] <= '9';
  }
  return 0;
}

/* The ladder failed before the process ran: the CLI gets the record. */
static _Noreturn void start_failed(const struct ctr_report *r)
{
  siginfo_t info;

  waitid(P_PIDFD, (id_t)child_pidfd, &info, WEXITED);
  restore_terminal();
  unmount_rootfs();
  remove_cgroups();
  ctr_report_write(REPORT_FD, r);
  exit(exit_code_for(r));
}

/* Whether the child still has the ladder's name: execve gives it the program's. */
static int still_in_ladder(void)
{
  char path[64], stat[128];

  return read_text(proc_pid_path(path, sizeof path, child_pid, "stat"), stat, sizeof stat) && strstr(stat, "(" CHILD_NAME ")") != NULL;
}

/*
 * The error pipe's end of file is an execve that worked (the pipe is
 * O_CLOEXEC), or a child that died on its way there without a word: killed,
 * as the OOM killer kills it under a memory limit too low to start in
 * (runc refuses such a limit when it writes it; ours is set before any
 * process is in the cgroup). Its name tells the two apart, once it has
 * one or the other fate: the kernel closes the pipe a moment before
 * execve renames the process, and before a dying one can be waited for.
 * 0, or the signal that killed it.
 */
static int killed_before_exec(void)
{
  siginfo_t info;
  int tries;

  for (tries = 0; tries < 1000; tries++) {
    memset(&info, 0, sizeof info);
    if (waitid(P_PIDFD, (id_t)child_pidfd, &info, WEXITED | WNOHANG | WNOWAIT) < 0)
      return 0;
    if (info.si_pid != 0)
      return info.si_code == CLD_KILLED && still_in_ladder() ? info.si_status : 0;
    if (!still_in_ladder())
      return 0;
    usleep(100);
  }
  return 0;
}

/*
 * hookpause: the child has stopped after its mounts, before pivot_root. The CLI
 * hears PAUSED{pid} on fd 4 (one end of a socketpair the addon made),
 * runs the createRuntime hooks, and answers with one byte; then the child
 * goes on. EOF instead (a hook failed, or the CLI died) ends the child.
 */
static void relay_pause(void)
{
  struct ctr_report r;
  char byte;
  ssize_t n;
  int err = ECANCELED; /* EOF: the caller gave up (a hook failed, or it died) */

  report(CTR_REPORT_PAUSED, CTR_STAGE_NONE, 0, NULL, child_pid);
  do
    n = read(REPORT_FD, &byte, 1);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    err = errno;
  else if (n == 1 && write(resume_pipe[1], &byte, 1) != 1)
    err = errno;
  else if (n == 1)
    err = 0;
  if (err) {
    syscall(SYS_pidfd_send_signal, child_pidfd, SIGKILL, NULL, 0);
    ctr_report_fill(&r, CTR_REPORT_FAILED, CTR_STAGE_HOOKS, 0, err, NULL);
    start_failed(&r);
  }
  close(resume_pipe[1]);
  resume_pipe[1] = -1;
}

/* Waits for the ladder's verdict and tells the CLI (fd 4, then closed). */
static void await_start(void)
{
  struct ctr_report r;
  int got = read_record(err_pipe[0], &r), sig;

  if (got && r.kind == CTR_REPORT_PAUSED) {
    relay_pause();
    got = read_record(err_pipe[0], &r);
  }

  if (got && r.kind == CTR_REPORT_FAILED)
    start_failed(&r);
  if (plan.tty) {
    /* The child sent it before execve (or CREATED), so it is queued by now. */
    master = ctr_recv_fd(tty_sock[0]);
    if (master < 0 || fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK) < 0) {
      syscall(SYS_pidfd_send_signal, child_pidfd, SIGKILL, NULL, 0);
      ctr_report_fill(&r, CTR_REPORT_FAILED, CTR_STAGE_TTY, 0, EPROTO, "receiving the terminal");
      start_failed(&r);
    }
    close(tty_sock[0]);
    tty_sock[0] = -1;
    if (console_fd >= 0) {
      /* The caller copies the terminal from now on; we only wait. */
      /* The payload names the terminal, as runc's does. */
      if (ctr_send_fd(console_fd, master, "/dev/ptmx", 9) < 0) {
        syscall(SYS_pidfd_send_signal, child_pidfd, SIGKILL, NULL, 0);
        ctr_report_fill(&r, CTR_REPORT_FAILED, CTR_STAGE_CONSOLE, 0, errno, plan.console_socket);
        start_failed(&r);
      }
      close(console_fd);
      console_fd = -1;
      close(master);
      master = -1;
    } else {
      out_log.fd = master;
      in_target = master;
      if (plan.stdin_open)
        in_fd = STDIN_FILENO;
    }
  }
  /* An exec'd child has a name of its own, and its /proc here is the container's to fake: run plans only. */
  if (!got && !plan.join_pid && (sig = killed_before_exec()) != 0) {
    ctr_report_fill(&r, CTR_REPORT_FAILED, CTR_STAGE_KILLED, sig, 0,
                    read_oom_killed() ? "by the OOM killer: the memory limit is too low for it to start" : "by a signal");
    start_failed(&r);
  }
  if (got && r.kind == CTR_REPORT_CREATED) {
    report(CTR_REPORT_CREATED, CTR_STAGE_NONE, 0, NULL, child_pid);
  } else {
    close(err_pipe[0]);
    err_pipe[0] = -1;
    report(CTR_REPORT_STARTED, CTR_STAGE_NONE, 0, NULL, child_pid);
  }
  close(REPORT_FD);
  join_cgroups_late();
  /* Detached (the OCI runtime's create, run -d, exec -d): leaving now makes
   * the caller's subreaper the parent, as after `runc create`. */
  if (plan.detach)
    exit(0);
}

/* /proc/PID/<file> into buf (64 bytes are enough for any pid and the names used here). */
static char *proc_pid_path(char *buf, size_t size, pid_t pid, const char *file)
{
  ctr_strlcpy(buf, "/proc/", size);
  ctr_utoa((unsigned long)pid, buf + ctr_strlen(buf));
  ctr_strlcat(buf, "/", size);
  ctr_strlcat(buf, file, size);
  return buf;
}

/* The text of a uid_map or gid_map: one "inside outside count" line each. */
static int write_id_map(pid_t pid, const char *file, const struct ctr_idmap *map, size_t n)
{
  static char text[CTR_MAX_IDMAP * 33];
  char path[64];
  size_t len = 0, i;
  ssize_t w;
  int fd;

  for (i = 0; i < n; i++) {
    len += ctr_utoa(map[i].inside, text + len);
    text[len++] = ' ';
    len += ctr_utoa(map[i].outside, text + len);
    text[len++] = ' ';
    len += ctr_utoa(map[i].count, text + len);
    text[len++] = '\n';
  }
  fd = open(proc_pid_path(path, sizeof path, pid, file), O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  /* The kernel takes a map in one write, under a page, or not at all. */
  w = write(fd, text, len);
  close(fd);
  if (w >= 0 && (size_t)w != len)
    errno = EIO;
  return w >= 0 && (size_t)w == len ? 0 : -1;
}

/* Sends the n fds in one message and closes them. */
static int send_bind_batch(int *fds, size_t *n, struct ctr_report *r)
{
  int rc = ctr_send_fds(bind_sock[0], fds, *n, "", 1);

  if (rc < 0)
    ctr_report_fill(r, CTR_REPORT_FAILED, CTR_STAGE_USERNS, 0, errno, "passing the bind sources");
  while (*n)
    close(fds[--*n]);
  return rc;
}

/* Switches the monitor's filesystem ids to the container root's host ids
 * (on) or back to root (off), keeping every capability effective:
 * setfsuid(2) away from 0 drops the filesystem ones (capabilities(7)). */
static int as_container_root(int on)
{
  struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct data[2];
  unsigned uid = on ? ctr_idmap_host(plan.uidmap, plan.n_uidmap, 0) : 0;
  unsigned gid = on ? ctr_idmap_host(plan.gidmap, plan.n_gidmap, 0) : 0;

  syscall(SYS_setfsgid, gid);
  syscall(SYS_setfsuid, uid);
  if ((unsigned)syscall(SYS_setfsuid, -1) != uid || (unsigned)syscall(SYS_setfsgid, -1) != gid) {
    errno = EPERM;
    return -1;
  }
  if (syscall(SYS_capget, &hdr, data) < 0)
    return -1;
  data[0].effective = data[0].permitted;
  data[1].effective = data[1].permitted;
  return (int)syscall(SYS_capset, &hdr, data);
}

/* A clone of the mount at path (with tree, of the tree under it too),
 * idmapped (with all, every mount of it): the namespace's ids are the
 * files' own (MOUNT_ATTR_IDMAP). */
static int idmapped_clone(const char *path, int userns, int tree, int all)
{
  struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (unsigned long long)userns };
  int fd = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (tree ? AT_RECURSIVE : 0));

  if (fd >= 0 && mount_setattr(fd, "", AT_EMPTY_PATH | (tree && all ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Appends src to buf (a path, or mount data of a page), or fails with E2BIG. */
static int append_or_e2big(char *buf, size_t size, const char *src)
{
  if (ctr_strlcat(buf, src, size) >= size) {
    errno = E2BIG;
    return -1;
  }
  return 0;
}

/*
 * rootlower: the root as an overlay of idmapped layers (idmapped with
 * userns, the child's), mounted by the monitor in the child's mount
 * namespace (entered by the caller) on the
 * root path, and its fd sent first over bind_sock. An overlay cannot be
 * idmapped itself, its layers can (Linux 5.19). Each layer's idmapped
 * clone is attached in a tmpfs staged on <layer>/idmap (made and removed
 * here), as overlayfs takes
 * detached mounts as layers only from Linux 6.15; the overlay names them
 * relative to it ("0:1:...", within mount(2)'s page for 500 layers), and
 * the stage is detached once the overlay is made, which keeps private
 * clones of its layers. Nothing of it reaches the host: the child's mount
 * namespace, owned by its user namespace, receives the host's mounts as
 * slaves (CL_SHARED_TO_SLAVE). The overlay is made with the container
 * root's filesystem ids and the host's capabilities: it keeps its
 * mounter's credentials for all it does later (copy-up, its work dir),
 * which through the idmapped upper layer then land as uid 0 on disk.
 */
static int mount_idmapped_root(int userns, struct ctr_report *r)
{
  static char data[4096];
  char stage[PATH_MAX], at[PATH_MAX], num[24];
  const char *what = "staging the layers", *bad = NULL;
  struct stat st;
  int clone = -1, root = -1, rc = -1, staged = 0;
  size_t i;

  /* A directory of our own (a symlink left there would be followed by mount): made now, removed after. */
  if (ctr_strlcpy(stage, plan.root_layer, sizeof stage) >= sizeof stage || append_or_e2big(stage, sizeof stage, "/idmap") < 0)
    goto out;
  if (mkdir(stage, 0700) < 0 && (errno != EEXIST || lstat(stage, &st) < 0 || !S_ISDIR(st.st_mode)))
    goto out;
  if (mount("tmpfs", stage, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") < 0)
    goto out;
  staged = 1;
  data[0] = '\0';
  for (i = 0; i < plan.n_root_opts; i++)
    if (append_or_e2big(data, sizeof data, plan.root_opts[i]) < 0 || append_or_e2big(data, sizeof data, ",") < 0)
      goto out;
  if (append_or_e2big(data, sizeof data, "lowerdir=") < 0)
    goto out;
  /* Lower i at <stage>/i, the writable layer at <stage>/rw. */
  for (i = 0; i <= plan.n_root_lowers; i++) {
    const char *src = i < plan.n_root_lowers ? plan.root_lowers[i] : plan.root_layer;

    if (i < plan.n_root_lowers)
      ctr_utoa(i, num);
    else
      ctr_strlcpy(num, "rw", sizeof num);
    ctr_strlcpy(at, stage, sizeof at);
    ctr_strlcat(at, "/", sizeof at);
    if (append_or_e2big(at, sizeof at, num) < 0)
      goto out;
    if ((clone = idmapped_clone(bad = src, userns, 0, 0)) < 0 || mkdir(at, 0700) < 0 ||
        move_mount(clone, "", AT_FDCWD, at, MOVE_MOUNT_F_EMPTY_PATH) < 0)
      goto out;
    close(clone);
    clone = -1;
    if (i < plan.n_root_lowers && ((i && append_or_e2big(data, sizeof data, ":") < 0) || append_or_e2big(data, sizeof data, num) < 0))
      goto out;
  }
  bad = NULL;
  what = "overlay";
  if (append_or_e2big(data, sizeof data, ",upperdir=rw/diff,workdir=rw/work") < 0 || chdir(stage) < 0)
    goto out;
  rc = as_container_root(1);
  if (rc == 0)
    rc = mount("overlay", plan.root, "overlay", 0, data);
  {
    int err = errno;

    /* Back to root whatever happened above (a switch half made too): the
     * monitor must never go on with the container root's ids. */
    if (as_container_root(0) < 0 || chdir("/") < 0)
      _exit(EXIT_SETUP);
    errno = err;
  }
  if (rc < 0)
    goto out;
  rc = -1;
  what = plan.root;
  if ((root = open(plan.root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
    goto out;
  what = "passing it to the container";
  rc = ctr_send_fd(bind_sock[0], root, "", 1);
out:
  if (rc < 0)
    ctr_report_fill(r, CTR_REPORT_FAILED, CTR_STAGE_IDMAPPED_ROOT, 0, errno, bad ? bad : what);
  if (staged && umount2(stage, MNT_DETACH) == 0)
    rmdir(stage);
  if (clone >= 0)
    close(clone);
  if (root >= 0)
    close(root);
  return rc;
}

/*
 * ns user: what the child mounts from the host. The root, when it is an
 * idmapped overlay (mount_idmapped_root), and the bind sources (an
 * idmapped clone for an idmap mount, else an O_PATH fd), for a child
 * that as the namespace's root may not even walk to one under a directory
 * only host root may enter. Opened here with the host's privileges, but in
 * the child's mount namespace (a bind's source must be a mount of the
 * caller's own: do_loopback), which the monitor enters for this and leaves;
 * then sent over bind_sock (runc's parent does the same for its init). 0,
 * or -1 with *r filled in.
 */
static int send_child_mounts(pid_t pid, struct ctr_report *r)
{
  char path[64], detail[CTR_REPORT_DETAIL];
  int fds[CTR_FDPASS_MAX], own, theirs, userns, err = 0;
  size_t i, n = 0;

  userns = open(proc_pid_path(path, sizeof path, pid, "ns/user"), O_RDONLY | O_CLOEXEC);
  own = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  theirs = open(proc_pid_path(path, sizeof path, pid, "ns/mnt"), O_RDONLY | O_CLOEXEC);
  if (userns < 0 || own < 0 || theirs < 0 || setns(theirs, CLONE_NEWNS) < 0) {
    ctr_report_fill(r, CTR_REPORT_FAILED, CTR_STAGE_USERNS, 0, errno, "entering its mount namespace");
    err = -1;
  }
  if (!err && plan.n_root_lowers && mount_idmapped_root(userns, r) < 0)
    err = -1;
  for (i = 0; i < plan.n_mounts && !err; i++) {
    const struct ctr_mount *m = &plan.mounts[i];

    if (!ctr_mount_from_monitor(m))
      continue;
    fds[n] = m->idmap ? idmapped_clone(m->source, userns, (m->flags & MS_REC) != 0, m->idmap == 2) : open(m->source, O_PATH | O_CLOEXEC);
    if (fds[n] < 0) {
      detail[0] = '\0';
      ctr_strlcat(detail, "bind on ", sizeof detail);
      ctr_strlcat(detail, m->dest, sizeof detail);
      ctr_report_fill(r, CTR_REPORT_FAILED, CTR_STAGE_MOUNT, (int)i, errno, detail);
      err = -1;
      break;
    }
    /* The child reads them in the same batches: full ones, then the rest. */
    if (++n == CTR_FDPASS_MAX && send_bind_batch(fds, &n, r) < 0)
      err = -1;
  }
  if (!err && n && send_bind_batch(fds, &n, r) < 0)
    err = -1;
  while (n)
    close(fds[--n]);
  /* Back in our own: this cannot fail for host root, and a monitor left in the container's must not go on. */
  if (own >= 0 && setns(own, CLONE_NEWNS) < 0)
    _exit(EXIT_SETUP);
  if (own >= 0)
    close(own);
  if (theirs >= 0)
    close(theirs);
  if (userns >= 0)
    close(userns);
  return err;
}

/* Whether /proc/PID/<file>, read from the host, holds exactly map's lines,
 * in any order: the kernel sorts a map of more than 5 (sort_idmaps). */
static int same_id_map(pid_t pid, const char *file, const struct ctr_idmap *map, size_t n)
{
  static char text[CTR_MAX_IDMAP * 36 + 1];
  static struct ctr_idmap have[CTR_MAX_IDMAP];
  char path[64], *p, *end;
  size_t len = 0, count = 0, i, j;
  ssize_t got;
  int fd;

  fd = open(proc_pid_path(path, sizeof path, pid, file), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  while (len < sizeof text - 1 && (got = read(fd, text + len, sizeof text - 1 - len)) > 0)
    len += (size_t)got;
  close(fd);
  text[len] = '\0';
  for (p = text; count < CTR_MAX_IDMAP; count++) {
    unsigned long v[3];
    int k;

    for (k = 0; k < 3; k++) {
      v[k] = strtoul(p, &end, 10);
      if (end == p)
        break;
      p = end;
    }
    if (k == 0)
      break;
    if (k < 3)
      return 0;
    have[count].inside = (unsigned)v[0];
    have[count].outside = (unsigned)v[1];
    have[count].count = (unsigned)v[2];
  }
  if (count != n)
    return 0;
  /* Lines of one map never overlap, so each is found once. */
  for (i = 0; i < n; i++) {
    for (j = 0; j < count; j++)
      if (have[j].inside == map[i].inside && have[j].outside == map[i].outside && have[j].count == map[i].count)
        break;
    if (j == count)
      return 0;
  }
  return 1;
}

/* /proc/PID/oom_score_adj: written from the host, where lowering it is allowed. */
static int write_oom_score(pid_t pid)
{
  char path[64], num[16], *q = num;
  ssize_t w;
  int fd;

  if (plan.oom_score_adj < 0)
    *q++ = '-';
  ctr_utoa((unsigned long)(plan.oom_score_adj < 0 ? -plan.oom_score_adj : plan.oom_score_adj), q);
  fd = open(proc_pid_path(path, sizeof path, pid, "oom_score_adj"), O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  w = write(fd, num, ctr_strlen(num));
  close(fd);
  return w < 0 ? -1 : 0;
}

/*
 * A new container's init, in its user namespace: what it can no longer do
 * for itself there is done from the host, before it may go on (an exec'd
 * process does these itself before it joins). First its uid_map and
 * gid_map: a new namespace's written by the monitor, which has CAP_SETUID
 * and CAP_SETGID in the parent namespace, so any range may be mapped and
 * setgroups(2) stays allowed (user_namespaces(7)); a joined one's checked
 * against the plan's. Each hard rlimit it will set above its current one
 * is raised (that needs the host's CAP_SYS_RESOURCE); the soft limits stay,
 * and the process sets the exact values itself at the end of its ladder,
 * so no rung of the setup runs under them (runc applies them at the same
 * point). Its oom_score_adj. What it mounts from the host: the idmapped
 * root and the bind sources (send_child_mounts). Then the byte that lets it
 * become the namespace's root.
 */
static void prepare_userns_child(pid_t pid)
{
  struct ctr_report r;
  struct rlimit cur;
  const char *what;
  size_t i;

  if (!ctr_plan_userns(&plan) || plan.join_pid)
    return;
  what = "uid_map";
  if (plan.userns_path) {
    /* Joined: its maps are what they are; the plan's must be the same, as every id check was made against them. */
    if (!same_id_map(pid, what, plan.uidmap, plan.n_uidmap) || (what = "gid_map", !same_id_map(pid, what, plan.gidmap, plan.n_gidmap))) {
      ctr_report_fill(&r, CTR_REPORT_FAILED, CTR_STAGE_USERNS, 0, 0, what[0] == 'u' ? "its uid_map differs from the spec's uidMappings" : "its gid_map differs from the spec's gidMappings");
      goto failed;
    }
  } else if (write_id_map(pid, what, plan.uidmap, plan.n_uidmap) < 0 || (what = "gid_map", write_id_map(pid, what, plan.gidmap, plan.n_gidmap) < 0)) {
    ctr_report_fill(&r, CTR_REPORT_FAILED, CTR_STAGE_USERNS, 0, errno, what);
    goto failed;
  }
  for (i = 0; i < plan.n_rlimits; i++) {
    int res = plan.rlimits[i].resource;

    if (prlimit(pid, res, NULL, &cur) < 0 || (plan.rlimits[i].limit.rlim_max > cur.rlim_max &&
        (cur.rlim_max = plan.rlimits[i].limit.rlim_max, prlimit(pid, res, &cur, NULL) < 0))) {
      ctr_report_fill(&r, CTR_REPORT_FAILED, CTR_STAGE_RLIMIT, (int)i, errno, NULL);
      goto failed;
    }
  }
  if (plan.has_oom_score_adj && write_oom_score(pid) < 0) {
    ctr_report_fill(&r, CTR_REPORT_FAILED, CTR_STAGE_OOM_SCORE, 0, errno, NULL);
    goto failed;
  }
  if (send_child_mounts(pid, &r) < 0)
    goto failed;
  close(bind_sock[0]);
  close(bind_sock[1]);
  bind_sock[0] = bind_sock[1] = -1;
  if (write(userns_pipe[1], "", 1) != 1) {
    ctr_report_fill(&r, CTR_REPORT_FAILED, CTR_STAGE_USERNS, 0, errno, "letting the process go on");
    goto failed;
  }
  close(userns_pipe[0]);
  close(userns_pipe[1]);
  userns_pipe[0] = userns_pipe[1] = -1;
  return;
failed:
  syscall(SYS_pidfd_send_signal, child_pidfd, SIGKILL, NULL, 0);
  start_failed(&r);
}

/* --preserve-fds=N as argv[1] (what PendingMonitor.spawn passes), else 0. */
static unsigned preserve_count(int argc, char **argv)
{
  static const char flag[] = "--preserve-fds=";
  unsigned long n = 0;
  const char *s;

  if (argc < 2 || strncmp(argv[1], flag, sizeof flag - 1) != 0)
    return 0;
  for (s = argv[1] + sizeof flag - 1; *s >= '0' && *s <= '9' && n < 1024; s++)
    n = n * 10 + (unsigned long)(*s - '0');
  return *s == '\0' && n < 1024 ? (unsigned)n : 0;
}

int main(int argc, char **argv)
{
  struct ctr_child_io io;
  struct sigaction ignore = { .sa_handler = SIG_IGN };
  const char *bad;
  int code, sig = 0;
  unsigned preserve;
  size_t len;

  /* Only 0-4 are ours, and 5.. as many as --preserve-fds=N says (the
   * caller's fds for the process). Anything else the caller's caller left
   * inheritable (a CI harness's pipe, a shell's fd 9) would be held for the
   * container's whole life, and whoever waits for its EOF would hang
   * (runc#1047's kind). */
  preserve = preserve_count(argc, argv);
  syscall(SYS_close_range, 5U + preserve, ~0U, 0U);
  ensure_stdio();
  run_sealed(argv);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  prctl(PR_SET_NAME, "tsrun:[monitor]", 0, 0, 0);
  /* A reader that went away must not kill us with SIGPIPE (fd 4, the
   * report socket; the caller's stdout, the log copies); the child resets it. */
  sigaction(SIGPIPE, &ignore, NULL);
  /* Pin no mount: the CLI's cwd may be anywhere. Every plan path is absolute. */
  if (chdir("/") < 0)
    die(CTR_STAGE_PLAN, errno, "chdir /");

  len = read_plan();
  /* No plan: the CLI spawned us ahead of it and gave up before the launch
   * (its run failed, or it died). Nothing was made and nobody waits. */
  if (len == 0)
    return 0;
  if (ctr_plan_parse(plan_buf, len, &plan, &bad) < 0 || ctr_plan_validate(&plan, &bad) < 0)
    die(CTR_STAGE_PLAN, EINVAL, bad);
  plan.preserve_fds = preserve;
  if (plan.has_caps)
    read_cap_last();
  block_signals();
  open_host_side(&io);
  /* Raw only when the caller's keys go to the container: otherwise its ^C
   * must stay a signal to the CLI, which forwards it. */
  if (plan.tty && plan.attach && plan.stdin_open)
    make_raw();
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
    die(CTR_STAGE_CLONE, errno, "PR_SET_CHILD_SUBREAPER");
  if (plan.join_pid) {
    /* Before joining: the container's /proc is not for the monitor to write through. */
    if (ctr_set_oom_score_adj(&plan) < 0)
      die(CTR_STAGE_OOM_SCORE, errno, NULL);
    join_namespaces();
    io.userns_pidfd = join_pidfd;
  } else {
    join_nspaths(&io);
    make_foreign_mounts();
  }

  child_pid = clone_child(&io);
  if (!plan.join_pid)
    leave_namespaces();
  if (join_pidfd >= 0)
    close(join_pidfd);
  if (userns_join_fd >= 0)
    close(userns_join_fd);
  if (fifo_fd >= 0)
    close(fifo_fd);
  for (len = 0; len < plan.n_mounts; len++)
    if (made_fds[len] >= 0)
      close(made_fds[len]);
  prepare_userns_child(child_pid);
  if (resume_pipe[0] >= 0)
    close(resume_pipe[0]);
  /* The process has its copies; holding them would keep a listener open. */
  for (len = 0; len < plan.preserve_fds; len++)
    close((int)(5 + len));
  join_cgroups(child_pid);
  close(err_pipe[1]);
  if (plan.tty) {
    close(tty_sock[1]);
  } else {
    close(out_pipe[1]);
    close(errout_pipe[1]);
  }
  if (null_fd >= 0)
    close(null_fd);
  if (stdin_pipe[0] >= 0)
    close(stdin_pipe[0]);
  await_start();

  supervise();
  if (late_failed) {
    code = exit_code_for(&late_failure);
  } else if (WIFSIGNALED(child_status)) {
    sig = WTERMSIG(child_status);
    code = 128 + sig;
  } else {
    code = WEXITSTATUS(child_status);
  }
  if (plan.exit_file)
    write_exit_file(code, sig, child_pid, read_oom_killed(), late_failed ? &late_failure : NULL);
  restore_terminal();
  unmount_rootfs();
  remove_cgroups();
  if (plan.n_exitcmd && exit_command_wanted()) {
    prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
    sigprocmask(SIG_SETMASK, &saved_mask, NULL);
    execve(plan.exitcmd[0], plan.exitcmd, environ);
    warn("executing", plan.exitcmd[0], errno);
  }
  return code;
}
