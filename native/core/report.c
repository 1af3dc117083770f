/*
 * Fixed-size records on the error pipe and on the CLI's report fd (the whole
 * flow is drawn in report.h). The child's side, the classic exec-error pipe:
 *
 *   monitor                               child
 *     pipe2(O_CLOEXEC), clone3 ------------>| ladder ...
 *     close(write end)                      |   fails: write(record), _exit(127)
 *     read() == sizeof record  <------------|
 *     read() == 0 (EOF)        <------------|   execve succeeds: CLOEXEC closes the pipe
 *
 * One write(2) of a record smaller than PIPE_BUF is atomic, and the pipe is
 * empty when the child writes, so the child never blocks on it (runc#2530).
 */
#include "report.h"

#include <errno.h>
#include <unistd.h>

#include "safe.h"

void ctr_report_fill(struct ctr_report *r, enum ctr_report_kind kind, int stage, int index,
                     int err, const char *detail)
{
  /* child: async-signal-safe */
  size_t i;

  for (i = 0; i < sizeof r->detail; i++)
    r->detail[i] = '\0';
  r->version = CTR_REPORT_VERSION;
  r->kind = (uint32_t)kind;
  r->pid = 0;
  r->stage = stage;
  r->index = index;
  r->err = err;
  if (detail)
    ctr_strlcpy(r->detail, detail, sizeof r->detail);
}

int ctr_report_write(int fd, const struct ctr_report *r)
{
  /* child: async-signal-safe */
  ssize_t n;

  do
    n = write(fd, r, sizeof *r);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return -errno;
  return n == (ssize_t)sizeof *r ? 0 : -EIO;
}
