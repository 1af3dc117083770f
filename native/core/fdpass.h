/* Passing fds over an AF_UNIX socket (SCM_RIGHTS): the pty master from
 * the child to the monitor, and from the monitor to --console-socket; in a
 * user namespace, the bind sources from the monitor to the child. */
#ifndef CTR_FDPASS_H
#define CTR_FDPASS_H

#include <stddef.h>

/* One message carrying fd, with `len` bytes of payload (at least 1: a
 * stream socket cannot carry ancillary data alone). 0 or -1 (errno).
 * Async-signal-safe. */
int ctr_send_fd(int sock, int fd, const char *payload, size_t len);

/* The kernel's SCM_MAX_FD: at most this many fds in one message. */
#define CTR_FDPASS_MAX 253

/* n fds (1..CTR_FDPASS_MAX) in one message, as ctr_send_fd. */
int ctr_send_fds(int sock, const int *fds, size_t n, const char *payload, size_t len);

/* Exactly n fds of one queued message into fds (O_CLOEXEC): 0, or -1; never blocks. */
int ctr_recv_fds(int sock, int *fds, size_t n);

/* The fd of one queued message (O_CLOEXEC), or -1; never blocks. */
int ctr_recv_fd(int sock);

#endif
