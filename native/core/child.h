/*
 * The child ladders: everything between clone3 and execve of a container
 * process (STYLE.md section 2 gives the order and the reasons). One ladder
 * builds a container around its first process (run), the other starts one
 * more process in namespaces the monitor has already joined (exec).
 */
#ifndef CTR_CHILD_H
#define CTR_CHILD_H

#include <sys/ioctl.h>

#include "plan.h"

/* The child's name (comm) until its execve: the monitor tells a death on the way from a start by it. */
#define CHILD_NAME "tsrun:[init]"

/* The fds the monitor prepared before clone. */
struct ctr_child_io {
  int errfd;          /* O_CLOEXEC error pipe: a record on failure, EOF at execve */
  int in_fd;          /* without a tty: becomes fd 0 (the monitor's 0, or /dev/null) */
  int out_fd, err_fd; /* without a tty: the output pipes' write ends, become fds 1 and 2 */
  int tty_sock;       /* with a tty: SOCK_SEQPACKET end the pty master is sent on; else -1 */
  struct winsize ws;  /* with a tty: the initial size, when ws_row or ws_col is set */
  int sync_fd;        /* with cgroups: one byte once the monitor has moved us into them; else -1 */
  const int *cgroup_fds; /* cgroupself: the tasks files we move ourselves into (plan.n_cgroups) */
  int resume_fd;      /* hookpause: one byte once the createRuntime hooks have run; else -1 */
  int maps_ready_fd;  /* run, in a user namespace: one byte once the monitor has done its
                       * part (prepare_userns_child); else -1 */
  int userns_pidfd;   /* exec, joinns user: a pidfd of the container's process, whose user
                       * namespace the child joins; else -1 */
  int fifo_fd;        /* startfifo: the FIFO, O_PATH, opened and owned for us by the monitor */
  int cgroupns_fd;    /* run: a cgroup namespace given by path, joined by the child itself; else -1 */
  const int *made_fds; /* run, per mount record: a sysfs or mqueue the monitor made
                        * (fsmount) to attach instead; -1 for none */
  int bind_sock;      /* run, ns user: the bind sources arrive here (O_PATH, in mount order,
                       * CTR_FDPASS_MAX a message) before the maps_ready_fd byte; else -1 */
};

/* Both run in the freshly cloned child with every signal blocked. On failure
 * one ctr_report goes to io->errfd and the child exits 127; on success the
 * pipe closes at execve. */
_Noreturn void ctr_child_run(const struct ctr_plan *plan, const struct ctr_child_io *io);
_Noreturn void ctr_child_exec(const struct ctr_plan *plan, const struct ctr_child_io *io);

/* process.oomScoreAdj into /proc/self/oom_score_adj, if the plan has one:
 * 0, or -1 with errno. The host's /proc must be /proc here: the run ladder
 * calls it first thing; for exec the monitor calls it before joining the
 * container (whose /proc is the container's to shape), and the child
 * inherits the value. */
int ctr_set_oom_score_adj(const struct ctr_plan *plan);

#endif
