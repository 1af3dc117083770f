/*
 * Failure and status records, monitor -> CLI.
 *
 *   CLI (node)                 monitor                        child (container init)
 *     | plan on fd 3 ------------>| parse + validate
 *     |                           | clone3(CLONE_NEW*|CLONE_PIDFD) ---->| ladder: mounts, pivot_root, ...
 *     |                           |<-- tty socket: SCM_RIGHTS master ---| (tty only)
 *     |                           |<-- error pipe (O_CLOEXEC) ----------| record on failure, _exit(127)
 *     |                           |    EOF without a record = execve succeeded
 *     |<-- fd 4: STARTED{pid} ----|
 *     |    or FAILED{stage,...}   | waits on pidfd, writes exitfile, unmounts, exits
 *
 * With a start FIFO (the created state) the child reports CREATED as the
 * last step before execve and blocks opening the FIFO for writing:
 *
 *     |                           |<-- error pipe: CREATED -------------| open(fifo, O_WRONLY) blocks
 *     |<-- fd 4: CREATED{pid} ----|    fd 4 closed: `create` returns    |
 *   `start`: open(fifo, O_RDONLY) -----------------------------------> | writes "0", execve
 *     |<-- reads "0" --------------------------------------------------|
 *     |                           |<-- EOF, or FAILED (goes to the exit file, nobody reads fd 4)
 *
 * In exec mode ("join" in the plan) the monitor setns()es first and the
 * child is the exec'd process; the flow is the same without CREATED.
 *
 * Records are fixed-size and written with one write(2), so a reader never sees
 * half a record and a full pipe never blocks the child (runc#2530).
 * The stage numbers are mirrored in src/native/report.ts; keep them in step.
 */
#ifndef CTR_REPORT_H
#define CTR_REPORT_H

#include <stdint.h>

#define CTR_REPORT_VERSION 1
#define CTR_REPORT_DETAIL 240

enum ctr_report_kind {
  CTR_REPORT_STARTED = 1, /* pid = container init in the host's PID namespace */
  CTR_REPORT_FAILED = 2,
  CTR_REPORT_CREATED = 3, /* waiting on the start FIFO; pid as for STARTED (0 from the child) */
  CTR_REPORT_PAUSED = 4,  /* plan hookpause: namespaces and mounts made, before pivot_root; the caller runs the
                             createRuntime hooks, then sends one byte back on the report socket */
};

enum ctr_stage {
  CTR_STAGE_NONE = 0,
  CTR_STAGE_PLAN = 1,        /* detail: the bad record */
  CTR_STAGE_CLONE = 2,
  CTR_STAGE_LOG = 3,         /* opening the log file; detail: path */
  CTR_STAGE_PROPAGATION = 4,
  CTR_STAGE_ROOTFS = 5,      /* binding the rootfs onto itself; detail: path */
  CTR_STAGE_MOUNT = 6,       /* index: mount number; detail: "TYPE on DEST" */
  CTR_STAGE_DEVICE = 7,      /* detail: path */
  CTR_STAGE_SYMLINK = 8,     /* detail: path */
  CTR_STAGE_PIVOT_ROOT = 9,
  CTR_STAGE_MASK = 10,       /* detail: path */
  CTR_STAGE_READONLY = 11,   /* detail: path */
  CTR_STAGE_HOSTNAME = 12,
  CTR_STAGE_LOOPBACK = 13,
  CTR_STAGE_RLIMIT = 14,
  CTR_STAGE_SETGROUPS = 15,
  CTR_STAGE_SETGID = 16,
  CTR_STAGE_SETUID = 17,
  CTR_STAGE_MKCWD = 18,      /* detail: cwd */
  CTR_STAGE_CHDIR = 19,      /* detail: cwd */
  CTR_STAGE_CWD_OUTSIDE = 20,/* cwd resolved outside the root (CVE-2024-21626); detail: cwd */
  CTR_STAGE_NO_NEW_PRIVS = 21,
  CTR_STAGE_CLOSE_FDS = 22,
  CTR_STAGE_EXEC = 23,       /* detail: argv[0] */
  CTR_STAGE_SETSID = 24,
  CTR_STAGE_STDIO = 25,
  CTR_STAGE_SEAL = 26,       /* re-executing from a sealed copy (CVE-2019-5736); detail: what */
  CTR_STAGE_TTY = 27,        /* making the terminal; detail: the step ("/dev/ptmx", "TIOCSCTTY", ...) */
  CTR_STAGE_JOIN = 28,       /* exec: joining the container; detail: "pidfd_open" or the namespaces */
  CTR_STAGE_START_FIFO = 29, /* the created state's FIFO; detail: its path */
  CTR_STAGE_EXIT_FILE = 30,  /* opening the exit file's directory; detail: path */
  CTR_STAGE_CAP_BOUNDING = 31, /* PR_CAPBSET_DROP; index: the capability (or reading cap_last_cap) */
  CTR_STAGE_KEEPCAPS = 32,   /* PR_SET_KEEPCAPS around setresuid */
  CTR_STAGE_CAPSET = 33,     /* capset(effective, permitted, inheritable) */
  CTR_STAGE_CAP_AMBIENT = 34, /* PR_CAP_AMBIENT; index: the capability */
  CTR_STAGE_SYSCTL = 35,     /* index: sysctl number; detail: its /proc/sys path */
  CTR_STAGE_ROOT_READONLY = 36, /* remounting / read-only */
  CTR_STAGE_CGROUP = 37,     /* monitor: moving the process into a cgroup; detail: the cgroup.procs path */
  CTR_STAGE_SECCOMP = 38,    /* installing the seccomp filter (PR_SET_SECCOMP) */
  CTR_STAGE_NSJOIN = 39,     /* joining an existing namespace (setns); index: nspath record; detail: its path */
  CTR_STAGE_CONSOLE = 40,    /* monitor: handing the terminal to --console-socket; detail: the socket path */
  CTR_STAGE_HOOKS = 41,      /* monitor: the caller's createRuntime hooks failed or it went away */
  CTR_STAGE_NETIF = 42,      /* configuring the network interface (address, up, default route); detail: its name */
  CTR_STAGE_CGROUPNS = 43,   /* unshare(CLONE_NEWCGROUP), once inside the container's cgroups */
  CTR_STAGE_OOM_SCORE = 44,  /* writing /proc/self/oom_score_adj */
  CTR_STAGE_START_HOOK = 45, /* an OCI startContainer hook; index: which; detail: its path and how it ended (errno 0) */
  CTR_STAGE_APPARMOR = 46,   /* setting the AppArmor profile for execve; detail: the profile */
  CTR_STAGE_USERNS = 47,     /* the user namespace: writing or checking its maps (detail: which), entering or
                              * cloning in a joined one, passing the bind sources, exec's joining it */
  CTR_STAGE_IDMAPPED_ROOT = 48, /* monitor: the idmapped overlay root; detail: the layer idmapped, or the step */
  CTR_STAGE_KEYRING = 49,    /* joining a session keyring of its own; detail: its name */
  CTR_STAGE_KILLED = 50,     /* monitor: the process died before its execve; index: the signal; detail: why */
};

struct ctr_report {
  uint32_t version;
  uint32_t kind;
  int32_t pid;
  int32_t stage;
  int32_t index;
  int32_t err; /* positive errno */
  char detail[CTR_REPORT_DETAIL]; /* NUL-terminated */
};

/* Fills every byte of *r (detail truncated, NULL means empty). Async-signal-safe. */
void ctr_report_fill(struct ctr_report *r, enum ctr_report_kind kind, int stage, int index,
                     int err, const char *detail);

/* Writes *r with one write(2); returns 0 or -errno. Async-signal-safe. */
int ctr_report_write(int fd, const struct ctr_report *r);

#endif
