/* Passing one fd over an AF_UNIX socket (SCM_RIGHTS): the pty master from
 * the child to the monitor, and from the monitor to --console-socket. */
#ifndef CTR_FDPASS_H
#define CTR_FDPASS_H

#include <stddef.h>

/* One message carrying fd, with `len` bytes of payload (at least 1: a
 * stream socket cannot carry ancillary data alone). 0 or -1 (errno).
 * Async-signal-safe. */
int ctr_send_fd(int sock, int fd, const char *payload, size_t len);

/* The fd of one queued message (O_CLOEXEC), or -1; never blocks. */
int ctr_recv_fd(int sock);

#endif
