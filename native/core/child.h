/*
 * The child ladder: everything between clone3 and execve of the container's
 * first process (STYLE.md section 2 gives the order and the reasons).
 */
#ifndef CTR_CHILD_H
#define CTR_CHILD_H

#include "plan.h"

/* Runs in the freshly cloned child with every signal blocked. errfd is the
 * O_CLOEXEC error pipe; out_fd and err_fd are the log pipes' write ends, or
 * -1 to keep the inherited stdout and stderr. On failure one ctr_report goes
 * to errfd and the child exits 127; on success the pipe closes at execve. */
_Noreturn void ctr_child_run(const struct ctr_plan *plan, int errfd, int out_fd, int err_fd);

#endif
