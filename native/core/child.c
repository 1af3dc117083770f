/*
 * The child ladders. They run in a copy of the monitor made by clone3, so
 * only async-signal-safe calls are allowed: syscalls, no malloc, no stdio.
 * Each rung names its stage so a failure report says exactly what broke.
 */
#define _GNU_SOURCE
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include "libc_compat.h"
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/capability.h>
#include <linux/keyctl.h>
#include <linux/magic.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "fdpass.h"
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

/* Go's words (so runc's) for the errors an execve gives, whatever the C
 * library's are (musl's differ: "symbolic link loop", "out of memory"). */
static const char *exec_reason(int err)
{
  /* child: async-signal-safe */
  switch (err) {
  case ENOENT: return "no such file or directory";
  case EACCES: return "permission denied";
  case EPERM: return "operation not permitted";
  case ENOEXEC: return "exec format error";
  case ENOTDIR: return "not a directory";
  case EISDIR: return "is a directory";
  case ELOOP: return "too many levels of symbolic links";
  case ENAMETOOLONG: return "file name too long";
  case E2BIG: return "argument list too long";
  case ENOMEM: return "cannot allocate memory";
  case ETXTBSY: return "text file busy";
  case EIO: return "input/output error";
  case EMFILE: return "too many open files";
  case ENFILE: return "too many open files in system";
  case EFAULT: return "bad address";
  case EINVAL: return "invalid argument";
  case ELIBBAD: return "accessing a corrupted shared library";
  default: return NULL;
  }
}

/* "exec PROGRAM: REASON" on fd 2, runc init's words for an execve that failed
 * (podman reads "no such file or directory" and "permission denied" in them). */
static void say_exec_failed(const char *program, int err)
{
  /* child: async-signal-safe */
  const char *desc = exec_reason(err);
  char reason[48];
  const char *parts[] = { "exec ", program, ": ", reason, "\n" };
  size_t i;

  if (desc) {
    ctr_strlcpy(reason, desc, sizeof reason);
  } else {
    ctr_strlcpy(reason, "errno ", sizeof reason);
    ctr_utoa((unsigned long)err, reason + ctr_strlen(reason));
  }

  for (i = 0; i < sizeof parts / sizeof parts[0]; i++)
    if (write(2, parts[i], strlen(parts[i])) < 0)
      return;
}

static void close_keep_errno(int fd)
{
  /* child: async-signal-safe */
  int saved = errno;

  close(fd);
  errno = saved;
}

/* Dispositions set to SIG_IGN survive execve; the container starts clean.
 * The process dies with its monitor: without it nobody would record its
 * exit, read its output or unmount its root, and a start cut short (a
 * killed CLI that then kills the monitor, or a created container whose
 * monitor is gone) leaves no orphan. */
static void reset_signals(const struct ctr_plan *p)
{
  /* child: async-signal-safe */
  struct sigaction sa = { .sa_handler = SIG_DFL };
  int sig;

  sigemptyset(&sa.sa_mask);
  for (sig = 1; sig < NSIG; sig++)
    sigaction(sig, &sa, NULL);
  /* Detached, the monitor leaves on purpose and the caller's subreaper adopts us. */
  if (!p->detach)
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
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

/* netif: the address and netmask, up, then the default route (RTF_GATEWAY). */
static int netif_up(const struct ctr_plan *p)
{
  /* child: async-signal-safe */
  struct ifreq ifr = { 0 };
  struct rtentry rt = { 0 };
  struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

  if (fd < 0)
    return -1;
  ctr_strlcpy(ifr.ifr_name, p->netif.name, sizeof ifr.ifr_name);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = p->netif.addr;
  rc = ioctl(fd, SIOCSIFADDR, &ifr);
  if (rc == 0) {
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(p->netif.prefix >= 32 ? 0xffffffffu : ~(0xffffffffu >> p->netif.prefix));
    rc = ioctl(fd, SIOCSIFNETMASK, &ifr);
  }
  if (rc == 0)
    rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags |= IFF_UP;
    rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
  }
  if (rc == 0 && p->netif.gateway) {
    sin = (struct sockaddr_in *)&rt.rt_gateway;
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = p->netif.gateway;
    ((struct sockaddr_in *)&rt.rt_dst)->sin_family = AF_INET;
    ((struct sockaddr_in *)&rt.rt_genmask)->sin_family = AF_INET;
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    rc = ioctl(fd, SIOCADDRT, &rt);
  }
  close_keep_errno(fd);
  return rc;
}

/*
 * In a user namespace mknod(2) of a device is EPERM (only the host's
 * CAP_MKNOD may create one), so the host's node at the same path is bound
 * over an empty file instead, as runc does. It must be the node the plan
 * names: a different one there is refused, not passed on.
 */
static int bind_device(int rootfd, const struct ctr_device *d)
{
  /* child: async-signal-safe */
  char source[CTR_FD_PATH_MAX];
  struct ctr_mount m = { .dest = d->path, .type = "bind", .source = source, .flags = MS_BIND, .is_file = 1 };
  struct stat st;
  int fd = open(d->path, O_PATH | O_NOFOLLOW | O_CLOEXEC), rc = -1;

  if (fd < 0)
    return -1;
  if (fstat(fd, &st) == 0) {
    if ((d->kind == 'c' ? S_ISCHR(st.st_mode) : S_ISBLK(st.st_mode)) && st.st_rdev == makedev(d->major, d->minor)) {
      ctr_fd_path(source, fd);
      rc = ctr_mount_in_root(rootfd, &m);
    } else {
      errno = ENODEV;
    }
  }
  close_keep_errno(fd);
  return rc;
}

static int make_device(int rootfd, const struct ctr_device *d, int userns)
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
  int fd, rc;

  if (userns && d->kind != 'p')
    return bind_device(rootfd, d);
  fd = ctr_open_parent_in_root(rootfd, d->path, buf, sizeof buf, &base);
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

/* Makes the mount that holds path private (not its submounts): the
 * deepest directory on path's way up that is still on path's mount
 * (statx's mount id) is that mount's root. */
static int private_holder(const char *path)
{
  /* child: async-signal-safe */
  char dir[PATH_MAX], up[PATH_MAX];
  ctr_statx_t sx;
  unsigned long long id;
  char *slash;

  if (ctr_strlen(path) >= sizeof dir || ctr_statx(AT_FDCWD, path, 0, STATX_MNT_ID, &sx) < 0)
    return -1;
  id = sx.stx_mnt_id;
  dir[0] = '\0';
  ctr_strlcat(dir, path, sizeof dir);
  for (;;) {
    up[0] = '\0';
    ctr_strlcat(up, dir, sizeof up);
    slash = strrchr(up, '/');
    if (slash == NULL || slash == up)
      up[1] = '\0'; /* "/" */
    else
      *slash = '\0';
    if (ctr_streq(up, dir) || ctr_statx(AT_FDCWD, up, 0, STATX_MNT_ID, &sx) < 0 || sx.stx_mnt_id != id)
      break;
    dir[0] = '\0';
    ctr_strlcat(dir, up, sizeof dir);
  }
  return mount(NULL, dir, NULL, MS_PRIVATE, NULL);
}

/* pivot_root(".", ".") stacks the old root over the new one; detaching it
 * leaves no path back to the host (runc's pivotRoot). */
static int pivot(int rootfd)
{
  /* child: async-signal-safe */
  int oldroot = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), rc = -1;

  if (oldroot < 0)
    return -1;
  if (fchdir(rootfd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
    goto out;
  /* Slave first, so the detach cannot propagate back to the host's mounts:
   * the old root's tree only, from its own root dir. From the new root's
   * ".", MS_REC would reach the container's mounts too and make every one
   * a slave, a shared (Bidirectional) bind included. */
  if (fchdir(oldroot) < 0 || mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0 || umount2(".", MNT_DETACH) < 0)
    goto out;
  rc = chdir("/");
out:
  close_keep_errno(oldroot);
  return rc;
}

/* execve, or with `dry` only whether execve could run it: 0 or an errno. */
static int try_exec(const char *file, char *const argv[], char *const envp[], int dry)
{
  /* child: async-signal-safe */
  struct stat st;

  if (!dry) {
    execve(file, argv, envp);
    return errno;
  }
  if (stat(file, &st) < 0)
    return errno;
  if (!S_ISREG(st.st_mode))
    return EACCES;
  return faccessat(AT_FDCWD, file, X_OK, AT_EACCESS) < 0 ? errno : 0;
}

/* execvp's search without its allocation; returns the errno execvp would
 * give. With `dry`, returns 0 instead of executing what it found. */
static int exec_search(char *const argv[], char *const envp[], int dry)
{
  /* child: async-signal-safe */
  char buf[PATH_MAX];
  const char *file = argv[0], *path = DEFAULT_PATH, *s;
  size_t flen = ctr_strlen(file), i;
  int eacces = 0, rc;

  if (flen == 0)
    return ENOENT;
  for (s = file; *s; s++)
    if (*s == '/')
      return try_exec(file, argv, envp, dry);
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
      rc = try_exec(buf, argv, envp, dry);
      switch (rc) {
      case 0:
        return 0;
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
        return rc;
      }
    }
    if (*e == '\0')
      break;
    s = e + 1;
  }
  return eacces ? EACCES : ENOENT;
}

/*
 * The terminal comes from the container's own devpts instance (mounted
 * newinstance on /dev/pts, /dev/ptmx -> pts/ptmx), so the process sees its
 * own pts and no host one, and its `tty` is /dev/pts/N inside. TIOCGPTPEER
 * (Linux 4.13) opens the slave from the master without a path lookup, so no
 * /dev/pts/N planted in the container can stand in for it. The master goes
 * to the monitor; this side keeps only the slave as fds 0-2 and as the
 * controlling terminal of the session made just before.
 */
static void setup_tty(const struct ctr_plan *p, const struct ctr_child_io *io, int console)
{
  /* child: async-signal-safe */
  char pts[CTR_FD_PATH_MAX];
  unsigned ptn = 0;
  int master, slave, unlock = 0;

  master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0)
    fail(io->errfd, CTR_STAGE_TTY, 0, errno, "/dev/ptmx");
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
    fail(io->errfd, CTR_STAGE_TTY, 0, errno, "TIOCSPTLCK");
  slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0)
    fail(io->errfd, CTR_STAGE_TTY, 0, errno, "TIOCGPTPEER");
  /* Set before execve, so the process never sees a 0x0 terminal. */
  if ((io->ws.ws_row || io->ws.ws_col) && ioctl(master, TIOCSWINSZ, &io->ws) < 0)
    fail(io->errfd, CTR_STAGE_TTY, 0, errno, "TIOCSWINSZ");
  if (console && ioctl(master, TIOCGPTN, &ptn) < 0)
    fail(io->errfd, CTR_STAGE_TTY, 0, errno, "TIOCGPTN");
  if (ctr_send_fd(io->tty_sock, master, "", 1) < 0)
    fail(io->errfd, CTR_STAGE_TTY, 0, errno, "sendmsg");
  close(master);
  close(io->tty_sock);
  if (ioctl(slave, TIOCSCTTY, 0) < 0)
    fail(io->errfd, CTR_STAGE_TTY, 0, errno, "TIOCSCTTY");
  /* The user owns its terminal, as grantpt(3) does; the group stays tty (devpts gid=). */
  if (fchown(slave, p->uid, (gid_t)-1) < 0)
    fail(io->errfd, CTR_STAGE_TTY, 0, errno, "fchown");
  if (dup2(slave, STDIN_FILENO) < 0 || dup2(slave, STDOUT_FILENO) < 0 ||
      dup2(slave, STDERR_FILENO) < 0)
    fail(io->errfd, CTR_STAGE_STDIO, 0, errno, NULL);
  if (console) {
    /* A container's /dev/console is its terminal (runc's mountConsole). The
     * ladder is past pivot_root and /dev is the container's own. */
    ctr_utoa(ptn, pts + ctr_strlcpy(pts, "/dev/pts/", sizeof pts));
    if (mknod("/dev/console", S_IFREG | 0600, 0) < 0 && errno != EEXIST)
      fail(io->errfd, CTR_STAGE_TTY, 0, errno, "/dev/console");
    if (mount(pts, "/dev/console", NULL, MS_BIND, NULL) < 0)
      fail(io->errfd, CTR_STAGE_TTY, 0, errno, "/dev/console");
  }
  if (slave > STDERR_FILENO)
    close(slave);
}

/* Without a tty: the output pipes and the planned stdin. */
static void setup_stdio(const struct ctr_child_io *io)
{
  /* child: async-signal-safe */
  if ((io->in_fd != STDIN_FILENO && dup2(io->in_fd, STDIN_FILENO) < 0) ||
      dup2(io->out_fd, STDOUT_FILENO) < 0 || dup2(io->err_fd, STDERR_FILENO) < 0)
    fail(io->errfd, CTR_STAGE_STDIO, 0, errno, NULL);
}

/* Dies of the signal (SA_RESETHAND put the default back, SA_NODEFER lets
 * it through at once); as PID 1 of a namespace, whose own default-action
 * signals are dropped, exits 128+N instead. */
static void exit_on_signal(int sig)
{
  /* child: async-signal-safe */
  /* Not raise(): a libc may take the thread id from its cache, which a raw clone3 left the monitor's. */
  syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig);
  _exit(128 + sig);
}

/* The created state: report it, then block until `start` opens the FIFO to read. */
static void wait_for_start(const struct ctr_plan *p, int errfd, int fifo)
{
  /* child: async-signal-safe */
  static const int ending[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM };
  char path[CTR_FD_PATH_MAX];
  struct ctr_report r;
  struct sigaction sa;
  ssize_t n;
  size_t i;
  int fd;

  /* The init of a PID namespace gets only the signals it handles (but
   * SIGKILL and SIGSTOP, pid_namespaces(7)): a created container is ended
   * by kill TERM as runc's (a Go process, which handles them all) is, not
   * left waiting for SIGKILL. execve puts the default back. */
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = exit_on_signal;
  sa.sa_flags = SA_RESETHAND | SA_NODEFER;
  for (i = 0; i < sizeof ending / sizeof ending[0]; i++)
    sigaction(ending[i], &sa, NULL);
  ctr_report_fill(&r, CTR_REPORT_CREATED, CTR_STAGE_NONE, 0, 0, NULL);
  if (ctr_report_write(errfd, &r) < 0)
    _exit(127); /* the monitor is gone: nobody would start us */
  ctr_fd_path(path, fifo);
  do
    fd = open(path, O_WRONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    fail(errfd, CTR_STAGE_START_FIFO, 0, errno, p->start_fifo);
  do
    n = write(fd, "0", 1);
  while (n < 0 && errno == EINTR);
  if (n != 1)
    fail(errfd, CTR_STAGE_START_FIFO, 0, n < 0 ? errno : EIO, p->start_fifo);
  /* fd stays open (O_CLOEXEC): its end of file tells `start` that execve
   * happened, or that we died, whose reason the monitor records. */
  close(fifo);
}

/* include/linux/key.h's permission bits (not in the uapi headers). */
#define KEY_POS_ALL_ 0x3f000000
#define KEY_USR_VIEW_ 0x00010000
#define KEY_USR_READ_ 0x00020000
#define KEY_USR_SEARCH_ 0x00080000
#define KEY_USR_LINK_ 0x00100000
#define KEY_OTH_SEARCH_ 0x00000008

/* A session keyring of the container's own (runc's), made as the
 * namespace's root: the caller's, which keyctl inside would otherwise
 * reach (the host's or the shim's keys), is left. A kernel without keys
 * (ENOSYS) has nothing to leave. The init's (`init`) is made searchable,
 * the kernel's default permissions plus search (runc's ModKeyringPerm):
 * an exec joins it by name, which takes search permission, and would
 * otherwise make another of that name. */
static void join_keyring(const struct ctr_plan *p, int errfd, int init)
{
  /* child: async-signal-safe */
  long id;
  unsigned long perm = KEY_POS_ALL_ | KEY_USR_VIEW_ | KEY_USR_READ_ | KEY_USR_LINK_ | KEY_USR_SEARCH_;

  if (!p->keyring)
    return;
  id = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, p->keyring);
  if (id < 0 && errno == ENOSYS)
    return;
  if (ctr_plan_userns(p))
    perm |= KEY_OTH_SEARCH_;
  if (id < 0 || (init && syscall(SYS_keyctl, KEYCTL_SETPERM, id, perm) < 0))
    fail(errfd, CTR_STAGE_KEYRING, 0, errno, p->keyring);
}

/* Every capability outside the plan's bounding set leaves it for good,
 * while this process still has CAP_SETPCAP (runc's ApplyBoundingSet). */
static void drop_bounding(const struct ctr_plan *p, int errfd)
{
  /* child: async-signal-safe */
  char detail[32] = "capability ";
  int cap;

  for (cap = 0; cap <= p->cap_last && cap < 64; cap++) {
    if (!(p->caps.bounding & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      int err = errno;

      ctr_utoa((unsigned long)cap, detail + ctr_strlen(detail));
      fail(errfd, CTR_STAGE_CAP_BOUNDING, (size_t)cap, err, detail);
    }
  }
}

/* After setresuid: the plan's sets exactly (raw capset, version 3: two
 * 32-bit words per set), then the ambient set, which survives execve for a
 * non-root user only through this. */
static void apply_caps(const struct ctr_plan *p, int errfd)
{
  /* child: async-signal-safe */
  struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct data[2];
  const struct ctr_caps *c = &p->caps;
  int cap, i;

  for (i = 0; i < 2; i++) {
    data[i].effective = (__u32)(c->effective >> (32 * i));
    data[i].permitted = (__u32)(c->permitted >> (32 * i));
    data[i].inheritable = (__u32)(c->inheritable >> (32 * i));
  }
  if (syscall(SYS_capset, &hdr, data) < 0)
    fail(errfd, CTR_STAGE_CAPSET, 0, errno, NULL);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
    fail(errfd, CTR_STAGE_CAP_AMBIENT, 0, errno, NULL);
  for (cap = 0; cap < 64; cap++)
    if ((c->ambient & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
      fail(errfd, CTR_STAGE_CAP_AMBIENT, (size_t)cap, errno, NULL);
}

/* Raising the score needs nothing; lowering it below what we inherited
 * needs CAP_SYS_RESOURCE, still ours here (runc's nsexec writes it early too). */
int ctr_set_oom_score_adj(const struct ctr_plan *p)
{
  /* child: async-signal-safe */
  char num[16], *q = num;
  unsigned v;
  ssize_t n;
  int fd;

  if (!p->has_oom_score_adj)
    return 0;
  v = (unsigned)(p->oom_score_adj < 0 ? -p->oom_score_adj : p->oom_score_adj);
  if (p->oom_score_adj < 0)
    *q++ = '-';
  ctr_utoa(v, q);
  fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  do
    n = write(fd, num, ctr_strlen(num));
  while (n < 0 && errno == EINTR);
  close_keep_errno(fd);
  return n < 0 ? -1 : 0;
}

/* /proc/sys/... of the container's own namespaces (the plan checked the
 * prefix; TypeScript checked the key is namespaced). No symlink is followed. */
static int write_sysctl(const struct ctr_sysctl *s)
{
  /* child: async-signal-safe */
  size_t len = ctr_strlen(s->value);
  ssize_t n;
  int fd = open(s->path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);

  if (fd < 0)
    return -1;
  do
    n = write(fd, s->value, len);
  while (n < 0 && errno == EINTR);
  close_keep_errno(fd);
  if (n >= 0 && (size_t)n != len) {
    errno = EIO;
    return -1;
  }
  return n < 0 ? -1 : 0;
}

/* The root bind is read-only from here on; the mounts on it keep their own
 * flags. A remount that omits a locked flag fails with EPERM: retry with
 * the flags it has (runc's remount fallback). */
static int remount_root_readonly(void)
{
  /* child: async-signal-safe */
  struct statfs sf;

  if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) == 0)
    return 0;
  if (errno != EPERM || statfs("/", &sf) < 0)
    return -1;
  /* ST_NOSUID, ST_NODEV and ST_NOEXEC have the values of their MS_ twins. */
  return mount(NULL, "/", NULL,
               MS_BIND | MS_REMOUNT | MS_RDONLY |
                 ((unsigned long)sf.f_flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC)),
               NULL);
}

/* The plan's filter, checked for shape by the parser; the kernel checks the program. */
static void install_seccomp(const struct ctr_plan *p, int errfd)
{
  /* child: async-signal-safe */
  struct sock_fprog prog = { .len = (unsigned short)p->n_seccomp,
                             .filter = (struct sock_filter *)p->seccomp };

  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
    fail(errfd, CTR_STAGE_SECCOMP, 0, errno, NULL);
}

/* The rungs both ladders end with: limits, identity, cwd, fds, execve. */
/* "PATH exited N" / "PATH killed by signal N", for a hook's failure record. */
static void hook_outcome(char *detail, size_t size, const char *path, int status)
{
  /* child: async-signal-safe */
  char num[24];

  detail[0] = '\0';
  ctr_strlcat(detail, path, size);
  ctr_strlcat(detail, WIFEXITED(status) ? " exited " : " killed by signal ", size);
  ctr_utoa((unsigned long)(WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status)), num);
  ctr_strlcat(detail, num, size);
}

/* Writes what of the hook's state its pipe takes now (non-blocking); the
 * pipe is closed once all of it went, or the hook stopped reading. */
static void feed_state(const struct ctr_plan *p, const char *pid, size_t *done, int *fd)
{
  /* child: async-signal-safe */
  const char *parts[3] = { p->hook_state, pid, "}" };
  size_t i, off = *done, len;
  ssize_t n;

  for (i = 0; i < 3 && *fd >= 0; i++) {
    len = ctr_strlen(parts[i]);
    if (off >= len) {
      off -= len;
      continue;
    }
    n = write(*fd, parts[i] + off, len - off);
    if (n < 0 && errno == EAGAIN)
      return;
    if (n < 0) { /* EPIPE (SIGPIPE is blocked): it reads no more */
      close(*fd);
      *fd = -1;
      return;
    }
    *done += (size_t)n;
    if ((size_t)n < len - off)
      return;
    off = 0;
  }
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}

/* An OCI startContainer hook (runtime.md): run by the init once started,
 * before execve, as the process will run (its user, capabilities, cgroup,
 * root, cwd and seccomp filter, as runc's init does), with the state on
 * stdin, its "pid" this process's own. One that fails, or outlives its
 * timeout (killed), fails the start: the process never runs. The state is
 * fed and the hook waited for in one bounded loop (waitpid WNOHANG: no
 * pidfd or poll for a seccomp profile to refuse), so neither a hook that
 * does not read nor a big state can hang the start past its timeout. */
static void run_start_hook(const struct ctr_plan *p, size_t i, int errfd)
{
  /* child: async-signal-safe */
  const struct ctr_hook *h = &p->start_hooks[i];
  char pid_text[24], detail[CTR_REPORT_DETAIL];
  unsigned long waited_us = 0, limit_us = (unsigned long)h->timeout * 1000000UL;
  struct timespec nap = { 0, 0 };
  size_t fed = 0;
  sigset_t none;
  int in[2], status;
  pid_t pid, r;

  if (pipe2(in, O_CLOEXEC) < 0)
    fail(errfd, CTR_STAGE_START_HOOK, i, errno, h->path);
  pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (pid < 0)
    fail(errfd, CTR_STAGE_START_HOOK, i, errno, h->path);
  if (pid == 0) {
    /* It dies with the init (a shared PID namespace would not take it along). */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(in[0], 0) < 0)
      _exit(127);
    execve(h->path, h->argv, h->env);
    _exit(127);
  }
  close(in[0]);
  if (fcntl(in[1], F_SETFL, O_NONBLOCK) < 0)
    fail(errfd, CTR_STAGE_START_HOOK, i, errno, h->path);
  ctr_utoa((unsigned long)getpid(), pid_text);
  for (;;) {
    feed_state(p, pid_text, &fed, &in[1]);
    r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      break;
    if (r < 0 && errno != EINTR)
      fail(errfd, CTR_STAGE_START_HOOK, i, errno, h->path);
    if (h->timeout && waited_us >= limit_us) {
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
      fail(errfd, CTR_STAGE_START_HOOK, i, ETIMEDOUT, h->path);
    }
    /* 50 µs, doubling to 10 ms: a quick hook costs little, a slow one little CPU. */
    nap.tv_nsec = nap.tv_nsec ? (nap.tv_nsec >= 5000000 ? 10000000 : nap.tv_nsec * 2) : 50000;
    nanosleep(&nap, NULL);
    waited_us += (unsigned long)nap.tv_nsec / 1000;
  }
  if (in[1] >= 0)
    close(in[1]);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    hook_outcome(detail, sizeof detail, h->path, status);
    fail(errfd, CTR_STAGE_START_HOOK, i, 0, detail);
  }
}

/* process.apparmorProfile: the profile the next execve enters ("exec NAME"
 * into the attr file, as runc's apparmor.ApplyProfile). This is the
 * container's /proc (for exec, one the container could have shaped): a
 * FIFO or symlink put there must neither block nor redirect the write, and
 * the file must be procfs's own. */
static void set_apparmor(const struct ctr_plan *p, int errfd)
{
  /* child: async-signal-safe */
  char value[CTR_REPORT_DETAIL + 8] = "exec ";
  struct statfs sfs;
  ssize_t n;
  int fd;

  if (!p->apparmor)
    return;
  if (ctr_strlcat(value, p->apparmor, sizeof value) >= sizeof value)
    fail(errfd, CTR_STAGE_APPARMOR, 0, ENAMETOOLONG, p->apparmor);
  fd = open("/proc/self/attr/apparmor/exec", O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT)
    fd = open("/proc/self/attr/exec", O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    fail(errfd, CTR_STAGE_APPARMOR, 0, errno, p->apparmor);
  if (fstatfs(fd, &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC)
    fail(errfd, CTR_STAGE_APPARMOR, 0, EPERM, p->apparmor);
  do
    n = write(fd, value, ctr_strlen(value));
  while (n < 0 && errno == EINTR);
  if (n < 0)
    fail(errfd, CTR_STAGE_APPARMOR, 0, errno, p->apparmor);
  close(fd);
}

/* process.rlimits, once: an exec'd process in a user namespace sets them
 * before it joins (while raising a hard limit is still allowed), so finish
 * has nothing left to do. */
static void set_rlimits(const struct ctr_plan *p, int errfd)
{
  /* child: async-signal-safe */
  static int done;
  size_t i;

  if (done)
    return;
  done = 1;
  for (i = 0; i < p->n_rlimits; i++)
    if (syscall(SYS_prlimit64, 0, p->rlimits[i].resource, &p->rlimits[i].limit, NULL) < 0)
      fail(errfd, CTR_STAGE_RLIMIT, i, errno, NULL);
}

static _Noreturn void finish(const struct ctr_plan *p, int errfd, int fifo, mode_t host_umask)
{
  /* child: async-signal-safe */
  char cwd[PATH_MAX];
  sigset_t mask;
  long n;
  int rc, cwd_done;
  size_t i;

  set_apparmor(p, errfd);

  /* A new container's init in a user namespace: the hard limits to raise were raised from the host (that needs its CAP_SYS_RESOURCE). */
  set_rlimits(p, errfd);

  /* Without no_new_privs, installing a filter takes CAP_SYS_ADMIN, which is
   * about to go: install it now, and every rung below runs under it (runc
   * does the same). */
  if (p->n_seccomp && !p->no_new_privs)
    install_seccomp(p, errfd);
  if (p->has_caps) {
    drop_bounding(p, errfd);
    /* Without it, leaving uid 0 would empty the permitted set before capset. */
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
      fail(errfd, CTR_STAGE_KEEPCAPS, 0, errno, NULL);
  }
  /* The working directory first as the container's root, then (if that was
   * refused) as its user, as runc does: a user may start in a directory it
   * cannot enter (-u 1000 -w /root), and a volume only its user can enter
   * works too. */
  cwd_done = chdir(p->cwd) == 0;
  if (!cwd_done && errno != EACCES && errno != EPERM)
    fail(errfd, CTR_STAGE_CHDIR, 0, errno, p->cwd);
  /* Raw syscalls: glibc's wrappers broadcast to threads it believes exist. */
  if (syscall(SYS_setgroups, p->n_groups, p->n_groups ? p->groups : NULL) < 0)
    fail(errfd, CTR_STAGE_SETGROUPS, 0, errno, NULL);
  if (syscall(SYS_setresgid, p->gid, p->gid, p->gid) < 0)
    fail(errfd, CTR_STAGE_SETGID, 0, errno, NULL);
  if (syscall(SYS_setresuid, p->uid, p->uid, p->uid) < 0)
    fail(errfd, CTR_STAGE_SETUID, 0, errno, NULL);
  /* A change of credentials clears the parent-death signal: set it again. */
  if (!p->detach)
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (p->has_caps) {
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
      fail(errfd, CTR_STAGE_KEEPCAPS, 0, errno, NULL);
    apply_caps(p, errfd);
  }
  umask(p->umask >= 0 ? (mode_t)p->umask : host_umask);

  if (!cwd_done && chdir(p->cwd) < 0)
    fail(errfd, CTR_STAGE_CHDIR, 0, errno, p->cwd);
  /* CVE-2024-21626: a cwd such as /proc/self/fd/N can name a host directory
   * held by a leaked fd; the kernel then reports it as "(unreachable)/...". */
  n = syscall(SYS_getcwd, cwd, sizeof cwd);
  if (n < 0 || cwd[0] != '/')
    fail(errfd, CTR_STAGE_CWD_OUTSIDE, 0, EPERM, p->cwd);

  if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    fail(errfd, CTR_STAGE_NO_NEW_PRIVS, 0, errno, NULL);
  /* runc's --preserve-fds: the caller's extra fds, handed to the monitor
   * as 5.., become 3.. (LISTEN_FDS's numbering). What the ladder still
   * needs moves above them first. */
  if (p->preserve_fds) {
    int top = 3 + (int)p->preserve_fds;

    if (errfd < top && (errfd = fcntl(errfd, F_DUPFD_CLOEXEC, top)) < 0)
      _exit(127);
    if (fifo >= 0 && fifo < top && (fifo = fcntl(fifo, F_DUPFD_CLOEXEC, top)) < 0)
      fail(errfd, CTR_STAGE_CLOSE_FDS, 0, errno, "preserve-fds");
    /* Upwards: each source (5 + i) is copied before it can be a target. */
    for (i = 0; i < p->preserve_fds; i++)
      if (dup2((int)(5 + i), (int)(3 + i)) < 0)
        fail(errfd, CTR_STAGE_CLOSE_FDS, i, errno, "preserve-fds");
  }
  /* No host fd may reach the container (CVE-2024-21626); the error pipe is
   * already CLOEXEC, so it stays open until execve succeeds. */
  if (syscall(SYS_close_range, 3U + p->preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    fail(errfd, CTR_STAGE_CLOSE_FDS, 0, errno, NULL);

  /* A created container can be stopped while it waits; SIGPIPE stays
   * blocked until the start byte is written, so a `start` that went away
   * is reported instead of killing us silently. */
  sigemptyset(&mask);
  sigaddset(&mask, SIGPIPE);
  sigprocmask(SIG_SETMASK, &mask, NULL);
  /* A detached monitor is gone by the time execve runs, and nobody would
   * hear why it failed: look the program up now, while the error still
   * reaches `create` (runc checks the same before its exec.fifo). */
  if (fifo >= 0 && p->detach && (rc = exec_search(p->argv, p->env, 1)) != 0)
    fail(errfd, CTR_STAGE_EXEC, 0, rc, p->argv[0]);
  if (fifo >= 0)
    wait_for_start(p, errfd, fifo);
  /* The no_new_privs filter goes in last, so that only execve follows it;
   * with startContainer hooks, before them (runc's order: they run under it). */
  if (p->n_start_hooks && p->n_seccomp && p->no_new_privs)
    install_seccomp(p, errfd);
  for (i = 0; i < p->n_start_hooks; i++)
    run_start_hook(p, i, errfd);
  sigemptyset(&mask);
  sigprocmask(SIG_SETMASK, &mask, NULL);
  if (!p->n_start_hooks && p->n_seccomp && p->no_new_privs)
    install_seccomp(p, errfd);
  rc = exec_search(p->argv, p->env, 0);
  /* Started from the created state, the report reaches only the exit file
   * (tsrun-oci's start does not wait for it): the reason goes to the
   * process's own stderr too, as runc init writes it (podman and conmon
   * show it). SIGPIPE blocked: a stderr nobody reads must not kill us
   * before the record is written. */
  if (fifo >= 0) {
    sigemptyset(&mask);
    sigaddset(&mask, SIGPIPE);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    say_exec_failed(p->argv[0], rc);
  }
  fail(errfd, CTR_STAGE_EXEC, 0, rc, p->argv[0]);
}

/* The monitor moves the new process into its cgroups while the ladder runs:
 * on cgroup v1 the first write to a cgroup.procs waits for an RCU grace
 * period (cgroup_threadgroup_rwsem, ~10 ms here), which the mounts and
 * pivot_root overlap instead of adding to. Nothing of the container runs
 * before the byte comes: this is the last rung before the user's code. EOF
 * means the monitor gave up (it reported why). */
static void await_cgroups(const struct ctr_child_io *io)
{
  /* child: async-signal-safe */
  char byte;
  ssize_t n;

  if (io->sync_fd < 0)
    return;
  do
    n = read(io->sync_fd, &byte, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1)
    _exit(127);
  close(io->sync_fd);
}

/* cgroupself: "0" into each v1 tasks file moves this thread, which is the
 * whole process, without cgroup_threadgroup_rwsem (kernel/cgroup/cgroup.c,
 * cgroup_procs_write_start: a thread moving itself cannot exit or exec
 * meanwhile), so no RCU grace period is waited for. First rung: everything
 * after it runs inside the container's limits. */
static void join_cgroups_self(const struct ctr_plan *p, const struct ctr_child_io *io)
{
  /* child: async-signal-safe */
  size_t i;

  if (!p->cgroup_self)
    return;
  for (i = 0; i < p->n_cgroups; i++) {
    if (write(io->cgroup_fds[i], "0", 1) != 1)
      fail(io->errfd, CTR_STAGE_CGROUP, i, errno, p->cgroups[i]);
    close(io->cgroup_fds[i]);
  }
}

/* The OCI createRuntime (and prestart) hooks run now: after the mounts,
 * before pivot_root (runtime.md "createRuntime", as runc): tell the
 * monitor, wait for its byte. */
static void await_hooks(const struct ctr_child_io *io)
{
  struct ctr_report r;
  char byte;
  ssize_t n;

  ctr_report_fill(&r, CTR_REPORT_PAUSED, CTR_STAGE_NONE, 0, 0, NULL);
  if (ctr_report_write(io->errfd, &r) < 0)
    _exit(127);
  do
    n = read(io->resume_fd, &byte, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1)
    _exit(127); /* the monitor gave up and reported why */
  close(io->resume_fd);
}

/* In a user namespace, as its root: host ids are not ids there (no file
 * could be made or chowned as one), and the host's groups go (runc's nsexec
 * does the same for the init and for exec). */
static void become_root(const struct ctr_plan *p, int errfd)
{
  /* child: async-signal-safe */
  if (syscall(SYS_setgroups, 0, NULL) < 0)
    fail(errfd, CTR_STAGE_SETGROUPS, 0, errno, NULL);
  if (syscall(SYS_setresgid, 0, 0, 0) < 0)
    fail(errfd, CTR_STAGE_SETGID, 0, errno, NULL);
  if (syscall(SYS_setresuid, 0, 0, 0) < 0)
    fail(errfd, CTR_STAGE_SETUID, 0, errno, NULL);
  /* A change of credentials clears the parent-death signal. */
  if (!p->detach)
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
}

/* ns user: born in the new user namespace with every capability in it but
 * no ids yet; once the monitor has written the maps, become its root (uid
 * and gid 0 inside, the plan's mapped host ids outside), which every rung
 * below runs as, as runc's nsexec does. The host's groups go first. */
static void await_maps_then_become_root(const struct ctr_plan *p, const struct ctr_child_io *io)
{
  /* child: async-signal-safe */
  char byte;
  ssize_t n;

  do
    n = read(io->maps_ready_fd, &byte, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1)
    _exit(127); /* the monitor gave up and reported why */
  close(io->maps_ready_fd);
  become_root(p, io->errfd);
}

/* ns user: what the monitor mounted or opened for us (send_child_mounts):
 * with rootlower the root overlay's fd into *root (else -1), then the bind
 * sources into fds[] by mount record; the rest -1. */
static void receive_child_mounts(const struct ctr_plan *p, const struct ctr_child_io *io, int *root, int *fds)
{
  /* child: async-signal-safe */
  int batch[CTR_FDPASS_MAX];
  size_t i, total = 0, got = 0, n = 0;

  *root = -1;
  if (p->n_root_lowers && (*root = ctr_recv_fd(io->bind_sock)) < 0)
    fail(io->errfd, CTR_STAGE_ROOTFS, 0, EPROTO, "receiving the root");

  for (i = 0; i < p->n_mounts; i++)
    if (ctr_mount_from_monitor(&p->mounts[i]))
      total++;
  for (i = 0; i < p->n_mounts; i++) {
    fds[i] = -1;
    if (!ctr_mount_from_monitor(&p->mounts[i]))
      continue;
    if (n == 0) {
      size_t want = total - got < CTR_FDPASS_MAX ? total - got : CTR_FDPASS_MAX;

      if (ctr_recv_fds(io->bind_sock, batch, want) < 0)
        fail(io->errfd, CTR_STAGE_USERNS, 0, errno ? errno : EPROTO, "receiving the bind sources");
      n = want;
    }
    fds[i] = batch[got++ % CTR_FDPASS_MAX];
    n--;
  }
  close(io->bind_sock);
}

/* A mount record, from the fd the monitor prepared when there is one (its
 * O_PATH of a bind's source, bound; or a mount to attach: an idmapped
 * clone, a sysfs or mqueue it made); the fd is then closed, as the
 * container must not inherit it. */
static int mount_record(int rootfd, const struct ctr_mount *m, int fd)
{
  /* child: async-signal-safe */
  char source[CTR_FD_PATH_MAX];
  struct ctr_mount b = *m;
  int rc;

  if (fd < 0)
    return ctr_mount_in_root(rootfd, m);
  if ((m->flags & MS_BIND) && !m->idmap) {
    ctr_fd_path(source, fd);
    b.source = source;
    rc = ctr_mount_in_root(rootfd, &b);
  } else {
    rc = ctr_attach_in_root(rootfd, m, fd);
  }
  close_keep_errno(fd);
  return rc;
}

_Noreturn void ctr_child_run(const struct ctr_plan *p, const struct ctr_child_io *io)
{
  /* child: async-signal-safe */
  char detail[CTR_REPORT_DETAIL];
  mode_t host_umask;
  int errfd = io->errfd, rootfd, fd, rc, fifo = io->fifo_fd, userns = ctr_plan_userns(p);
  int bind_fds[CTR_MAX_MOUNTS];
  size_t i;

  rootfd = -1;

  reset_signals(p);
  prctl(PR_SET_NAME, CHILD_NAME, 0, 0, 0);
  /* In a user namespace the monitor writes it (lowering it needs the host's CAP_SYS_RESOURCE). */
  if (!userns && ctr_set_oom_score_adj(p) < 0)
    fail(errfd, CTR_STAGE_OOM_SCORE, 0, errno, NULL);
  join_cgroups_self(p, io);
  if (io->cgroupns_fd >= 0) {
    if (setns(io->cgroupns_fd, CLONE_NEWCGROUP) < 0)
      fail(errfd, CTR_STAGE_NSJOIN, 0, errno, "cgroup namespace");
    close(io->cgroupns_fd);
  }
  if (userns) {
    await_maps_then_become_root(p, io);
    receive_child_mounts(p, io, &rootfd, bind_fds);
  }
  /* Every mode the ladder creates is exact: dirs 0755, files 0644, devices as planned. */
  host_umask = umask(0);

  if (setsid() < 0)
    fail(errfd, CTR_STAGE_SETSID, 0, errno, NULL);
  if (!p->tty)
    setup_stdio(io);
  if (mount(NULL, "/", NULL, p->propagation, NULL) < 0)
    fail(errfd, CTR_STAGE_PROPAGATION, 0, errno, NULL);
  /* A shared rootfsPropagation (Kubernetes' Bidirectional mounts): the
   * mounts are peers of the host's, so the root's bind below would show on
   * the host too, and pivot_root refuses a shared new root or parent of it
   * (pivot_root(2), EINVAL). The mount holding the root turns private
   * first, in this namespace only (runc's rootfsParentMountPrivate); the
   * propagation is set on the new root after the pivot. */
  if (rootfd < 0 && (p->propagation & MS_SHARED) && private_holder(p->root) < 0)
    fail(errfd, CTR_STAGE_PROPAGATION, 0, errno, p->root);
  /* pivot_root needs the new root to be a mount point (an idmapped overlay root is one already). */
  if (rootfd < 0 && (mount(p->root, p->root, NULL, MS_BIND | MS_REC, NULL) < 0 ||
                     (rootfd = open(p->root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0))
    fail(errfd, CTR_STAGE_ROOTFS, 0, errno, p->root);

  if (p->mkcwd) {
    fd = ctr_open_in_root(rootfd, p->cwd, CTR_CREATE_DIR);
    if (fd >= 0)
      close(fd);
    else if (errno != ENOTDIR) /* a file in the way: chdir reports it */
      fail(errfd, CTR_STAGE_MKCWD, 0, errno, p->cwd);
  }
  for (i = 0; i < p->n_mounts; i++) {
    if (mount_record(rootfd, &p->mounts[i], userns && bind_fds[i] >= 0 ? bind_fds[i] : io->made_fds[i]) < 0) {
      rc = errno;
      detail[0] = '\0';
      ctr_strlcat(detail, p->mounts[i].type, sizeof detail);
      ctr_strlcat(detail, " on ", sizeof detail);
      ctr_strlcat(detail, p->mounts[i].dest, sizeof detail);
      fail(errfd, CTR_STAGE_MOUNT, i, rc, detail);
    }
  }
  for (i = 0; i < p->n_devices; i++)
    if (make_device(rootfd, &p->devices[i], userns) < 0)
      fail(errfd, CTR_STAGE_DEVICE, i, errno, p->devices[i].path);
  for (i = 0; i < p->n_symlinks; i++)
    if (make_symlink(rootfd, &p->symlinks[i]) < 0)
      fail(errfd, CTR_STAGE_SYMLINK, i, errno, p->symlinks[i].path);
  if (p->hook_pause)
    await_hooks(io);
  if (pivot(rootfd) < 0)
    fail(errfd, CTR_STAGE_PIVOT_ROOT, 0, errno, NULL);
  close(rootfd);
  if ((p->propagation & MS_SHARED) && mount(NULL, "/", NULL, p->propagation, NULL) < 0)
    fail(errfd, CTR_STAGE_PROPAGATION, 0, errno, NULL);
  if (p->tty)
    setup_tty(p, io, 1);

  /* Before the read-only paths: /proc/sys is one of them. */
  for (i = 0; i < p->n_sysctls; i++)
    if (write_sysctl(&p->sysctls[i]) < 0)
      fail(errfd, CTR_STAGE_SYSCTL, i, errno, p->sysctls[i].path);
  for (i = 0; i < p->n_masked; i++)
    if (ctr_mask_path(p->masked[i]) < 0)
      fail(errfd, CTR_STAGE_MASK, i, errno, p->masked[i]);
  for (i = 0; i < p->n_readonly; i++)
    if (ctr_readonly_path(p->readonly[i]) < 0)
      fail(errfd, CTR_STAGE_READONLY, i, errno, p->readonly[i]);
  if (p->root_readonly && remount_root_readonly() < 0)
    fail(errfd, CTR_STAGE_ROOT_READONLY, 0, errno, NULL);
  if (p->hostname && sethostname(p->hostname, ctr_strlen(p->hostname)) < 0)
    fail(errfd, CTR_STAGE_HOSTNAME, 0, errno, p->hostname);
  join_keyring(p, errfd, 1);
  if (p->loopback && loopback_up() < 0)
    fail(errfd, CTR_STAGE_LOOPBACK, 0, errno, "lo");
  if (p->has_netif && netif_up(p) < 0)
    fail(errfd, CTR_STAGE_NETIF, 0, errno, p->netif.name);
  await_cgroups(io);
  /* A new cgroup namespace is rooted at its creator's cgroups of that moment
   * (cgroup_namespaces(7)): so it is made only now, inside the container's
   * own, and /proc/self/cgroup reads "/" in there (runc's nsexec does the
   * same after its parent has placed it). The monitor cloned without it. */
  if ((p->clone_flags & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0)
    fail(errfd, CTR_STAGE_CGROUPNS, 0, errno, NULL);
  finish(p, errfd, fifo, host_umask);
}

/*
 * exec: the monitor has joined the container's namespaces (its root and cwd
 * are the container's), and this child is inside its PID namespace, which
 * only a child of the setns() caller enters.
 */
_Noreturn void ctr_child_exec(const struct ctr_plan *p, const struct ctr_child_io *io)
{
  /* child: async-signal-safe */
  mode_t host_umask;

  reset_signals(p);
  prctl(PR_SET_NAME, "tsrun:[exec]", 0, 0, 0);
  join_cgroups_self(p, io);
  /* Entered here, not by the monitor, which must keep the host's
   * privileges; every id below (user, groups, the terminal's owner) is
   * then one of the namespace's. */
  if (ctr_plan_userns(p)) {
    /* While the host's privileges last: raising a hard limit needs them. */
    set_rlimits(p, io->errfd);
    if (setns(io->userns_pidfd, CLONE_NEWUSER) < 0)
      fail(io->errfd, CTR_STAGE_USERNS, 0, errno, "joining it");
    close(io->userns_pidfd);
    become_root(p, io->errfd);
  }
  join_keyring(p, io->errfd, 0);
  host_umask = umask(0);
  if (p->tty) {
    /* A terminal needs a session to be the controlling terminal of. */
    if (setsid() < 0)
      fail(io->errfd, CTR_STAGE_SETSID, 0, errno, NULL);
    setup_tty(p, io, 0);
  } else {
    setup_stdio(io);
  }
  await_cgroups(io);
  finish(p, io->errfd, -1, host_umask);
}
