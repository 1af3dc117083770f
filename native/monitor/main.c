/*
 * tsrun-monitor: the parent of one container. Node spawns it with
 *   fd 0-2  the container's stdio (the terminal, or /dev/null when detached)
 *   fd 3    the plan (plan.h), read to EOF
 *   fd 4    the report pipe to the CLI (report.h): STARTED{pid} or FAILED{stage, ...}
 * It clones the container's init with the plan's namespaces, stays its
 * parent, forwards signals to it, writes its output to the json-file log,
 * and when it exits writes the exit file, unmounts the rootfs and exits with
 * its status (or execs the plan's exitcmd).
 *
 * Single-threaded by design: the child ladder runs in a clone of this
 * process, and a clone of a multithreaded process may only call
 * async-signal-safe functions (STYLE.md section 2).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/child.h"
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
/* After the init exited, the log pipes are drained until EOF, until they
 * stay silent this long, or at most DRAIN_MAX_MS: a grandchild may hold
 * them open, or keep writing, forever (containerd#2823). */
#define DRAIN_IDLE_MS 200
#define DRAIN_MAX_MS 2000

extern char **environ;

static char plan_buf[CTR_PLAN_MAX_BYTES + 1];
static struct ctr_plan plan;
/* Filled in at run time: an initializer would move 32 KiB of buffers from
 * .bss into the binary that every container copies. */
static struct log_stream out_log, err_log;

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

/* EINVAL or ENOENT: already unmounted, or never mounted (podman#19913). */
static void unmount_rootfs(void)
{
  if (plan.unmount_path && umount2(plan.unmount_path, MNT_DETACH) < 0 && errno != EINVAL &&
      errno != ENOENT)
    warn("unmounting", plan.unmount_path, errno);
}

/* Reads the error pipe to EOF: a record means the ladder failed, EOF alone
 * that execve succeeded (the pipe is O_CLOEXEC). */
static int read_failure(int fd, struct ctr_report *r)
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
  close(fd);
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
 * namespace; reap them all, and keep the init's status when it comes. */
static void reap(pid_t init, int *status, int *exited)
{
  pid_t p;
  int st;

  while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
    if (p == init) {
      *status = st;
      *exited = 1;
    }
  }
}

static void forward_signals(int sfd, int pidfd, pid_t init, int *status, int *exited)
{
  struct signalfd_siginfo si;

  while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
    if (si.ssi_signo == SIGCHLD)
      reap(init, status, exited);
    else
      syscall(SYS_pidfd_send_signal, pidfd, (int)si.ssi_signo, NULL, 0);
  }
}

/* Waits for the init to exit while logging its output; returns its wait status. */
static int supervise(pid_t init, int pidfd, int sfd, int logfd)
{
  struct pollfd fds[4] = {
    { .fd = pidfd, .events = POLLIN },
    { .fd = sfd, .events = POLLIN },
    { .fd = out_log.fd, .events = POLLIN },
    { .fd = err_log.fd, .events = POLLIN },
  };
  struct log_stream *logs[2] = { &out_log, &err_log };
  struct timespec start;
  int status = 0, exited = 0, i;

  while (!exited) {
    if (poll(fds, 4, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (fds[1].revents)
      forward_signals(sfd, pidfd, init, &status, &exited);
    if (fds[0].revents)
      reap(init, &status, &exited);
    for (i = 0; i < 2; i++)
      if (fds[2 + i].revents && log_stream_read(logs[i], logfd))
        fds[2 + i].fd = -1;
  }
  /* Output written just before the exit is still in the pipes. */
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (fds[2].fd >= 0 || fds[3].fd >= 0) {
    struct timespec now;
    int n;

    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 > DRAIN_MAX_MS)
      break;
    n = poll(fds + 2, 2, DRAIN_IDLE_MS);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    for (i = 0; i < 2; i++)
      if (fds[2 + i].revents && log_stream_read(logs[i], logfd))
        fds[2 + i].fd = -1;
  }
  log_stream_close(&out_log, logfd);
  log_stream_close(&err_log, logfd);
  return status;
}

static int write_all(int fd, const char *p, size_t n)
{
  while (n) {
    ssize_t w = write(fd, p, n);

    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* tmp + fsync + rename + fsync(dir): a crash leaves the old file or the new one. */
static void write_exit_file(const char *path, int code, int sig, pid_t pid)
{
  char body[160] = "{\"exitCode\":", num[24], when[RFC3339NANO_LEN], tmp[PATH_MAX], dir[PATH_MAX];
  struct timespec ts;
  char *slash;
  int fd;

  clock_gettime(CLOCK_REALTIME, &ts);
  format_rfc3339nano(when, &ts);
  ctr_utoa((unsigned long)code, num);
  ctr_strlcat(body, num, sizeof body);
  ctr_strlcat(body, ",\"signal\":", sizeof body);
  ctr_utoa((unsigned long)sig, num);
  ctr_strlcat(body, num, sizeof body);
  ctr_strlcat(body, ",\"finishedAt\":\"", sizeof body);
  ctr_strlcat(body, when, sizeof body);
  ctr_strlcat(body, "\",\"pid\":", sizeof body);
  ctr_utoa((unsigned long)pid, num);
  ctr_strlcat(body, num, sizeof body);
  ctr_strlcat(body, "}\n", sizeof body);

  ctr_strlcpy(tmp, path, sizeof tmp);
  if (ctr_strlcat(tmp, ".tmp", sizeof tmp) >= sizeof tmp) {
    warn("writing", path, ENAMETOOLONG);
    return;
  }
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || write_all(fd, body, ctr_strlen(body)) < 0 || fsync(fd) < 0) {
    warn("writing", tmp, errno);
    if (fd >= 0)
      close(fd);
    return;
  }
  close(fd);
  if (rename(tmp, path) < 0) {
    warn("renaming", tmp, errno);
    return;
  }
  ctr_strlcpy(dir, path, sizeof dir);
  slash = strrchr(dir, '/');
  slash[slash == dir] = '\0';
  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) < 0)
    warn("syncing", dir, errno);
  if (fd >= 0)
    close(fd);
}

/* Container stdout and stderr go through pipes to the json-file log; the
 * monitor keeps the read ends. Without a log the child keeps fds 1 and 2. */
static int open_log(int out_pipe[2], int err_pipe[2])
{
  int logfd = open(plan.log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

  if (logfd < 0)
    die(CTR_STAGE_LOG, errno, plan.log_path);
  if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0)
    die(CTR_STAGE_LOG, errno, "pipe2");
  out_log.fd = out_pipe[0];
  out_log.name = "stdout";
  err_log.fd = err_pipe[0];
  err_log.name = "stderr";
  return logfd;
}

/* The signals passed on to the container's init, plus SIGCHLD; all are read
 * from the returned signalfd and stay blocked. */
static int forwarding_signalfd(sigset_t *set)
{
  static const int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD };
  size_t i;
  int sfd;

  sigemptyset(set);
  for (i = 0; i < sizeof signals / sizeof signals[0]; i++)
    sigaddset(set, signals[i]);
  sfd = signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0)
    die(CTR_STAGE_CLONE, errno, "signalfd");
  return sfd;
}

/* Clones the container's init, which runs the ladder; returns its pid. */
static pid_t clone_init(int *pidfd, int errfd, int out_fd, int err_fd, const sigset_t *forwarded,
                        sigset_t *saved)
{
  struct clone_args args = { 0 };
  sigset_t all, mask;
  pid_t pid;

  /* The child must not run a handler or die of a signal before its ladder
   * resets the dispositions; it unblocks everything just before execve. */
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, saved);
  args.flags = CLONE_PIDFD | (uint64_t)(unsigned)plan.clone_flags;
  args.pidfd = (uint64_t)(uintptr_t)pidfd;
  args.exit_signal = SIGCHLD;
  pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0)
    die(CTR_STAGE_CLONE, errno, NULL);
  if (pid == 0)
    ctr_child_run(&plan, errfd, out_fd, err_fd);
  /* A forwarded signal that comes during the ladder waits in the signalfd
   * and reaches the init after its execve. */
  sigorset(&mask, saved, forwarded);
  sigprocmask(SIG_SETMASK, &mask, NULL);
  return pid;
}

int main(int argc, char **argv)
{
  struct ctr_report failure;
  struct sigaction ignore = { .sa_handler = SIG_IGN };
  sigset_t forwarded, saved;
  int errpipe[2], out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };
  int logfd = -1, pidfd = -1, sfd, status, code, sig = 0;
  const char *bad;
  size_t len;
  pid_t pid;

  (void)argc;
  run_sealed(argv);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  prctl(PR_SET_NAME, "tsrun:[monitor]", 0, 0, 0);
  /* A CLI that went away must not kill us with SIGPIPE on fd 4; the child resets it. */
  sigaction(SIGPIPE, &ignore, NULL);
  /* Pin no mount: the CLI's cwd may be anywhere. Every plan path is absolute. */
  if (chdir("/") < 0)
    die(CTR_STAGE_PLAN, errno, "chdir /");

  len = read_plan();
  if (ctr_plan_parse(plan_buf, len, &plan, &bad) < 0 || ctr_plan_validate(&plan, &bad) < 0)
    die(CTR_STAGE_PLAN, EINVAL, bad);
  if (plan.log_path)
    logfd = open_log(out_pipe, err_pipe);
  else
    out_log.fd = err_log.fd = -1;
  if (pipe2(errpipe, O_CLOEXEC) < 0)
    die(CTR_STAGE_CLONE, errno, "pipe2");
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
    die(CTR_STAGE_CLONE, errno, "PR_SET_CHILD_SUBREAPER");
  sfd = forwarding_signalfd(&forwarded);

  pid = clone_init(&pidfd, errpipe[1], out_pipe[1], err_pipe[1], &forwarded, &saved);
  close(errpipe[1]);
  if (logfd >= 0) {
    close(out_pipe[1]);
    close(err_pipe[1]);
  }

  if (read_failure(errpipe[0], &failure)) {
    siginfo_t info;

    waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED);
    unmount_rootfs();
    ctr_report_write(REPORT_FD, &failure);
    exit(exit_code_for(&failure));
  }
  report(CTR_REPORT_STARTED, CTR_STAGE_NONE, 0, NULL, pid);
  close(REPORT_FD);

  status = supervise(pid, pidfd, sfd, logfd);
  if (WIFSIGNALED(status)) {
    sig = WTERMSIG(status);
    code = 128 + sig;
  } else {
    code = WEXITSTATUS(status);
  }
  if (plan.exit_file)
    write_exit_file(plan.exit_file, code, sig, pid);
  unmount_rootfs();
  if (plan.n_exitcmd) {
    prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
    sigprocmask(SIG_SETMASK, &saved, NULL);
    execve(plan.exitcmd[0], plan.exitcmd, environ);
    warn("executing", plan.exitcmd[0], errno);
  }
  return code;
}
