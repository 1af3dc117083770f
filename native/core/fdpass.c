#define _GNU_SOURCE
#include "fdpass.h"

#include <string.h>
#include <sys/socket.h>

union cmsg_buf {
  struct cmsghdr align;
  char buf[CMSG_SPACE(sizeof(int) * CTR_FDPASS_MAX)];
};

int ctr_send_fds(int sock, const int *fds, size_t n, const char *payload, size_t len)
{
  /* async-signal-safe */
  union cmsg_buf u;
  struct iovec iov = { .iov_base = (void *)payload, .iov_len = len };
  struct msghdr msg;
  struct cmsghdr *c;

  if (n == 0 || n > CTR_FDPASS_MAX)
    return -1;
  memset(&u, 0, sizeof u);
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
  c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * n);
  memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
  return sendmsg(sock, &msg, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

int ctr_send_fd(int sock, int fd, const char *payload, size_t len)
{
  /* async-signal-safe */
  return ctr_send_fds(sock, &fd, 1, payload, len);
}

int ctr_recv_fds(int sock, int *fds, size_t n)
{
  /* async-signal-safe */
  char byte;
  union cmsg_buf u;
  struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                        .msg_controllen = CMSG_SPACE(sizeof(int) * n) };
  struct cmsghdr *c;

  if (n == 0 || n > CTR_FDPASS_MAX || recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) != 1)
    return -1;
  c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
      c->cmsg_len != CMSG_LEN(sizeof(int) * n))
    return -1;
  memcpy(fds, CMSG_DATA(c), sizeof(int) * n);
  return 0;
}

int ctr_recv_fd(int sock)
{
  /* async-signal-safe */
  int fd;

  return ctr_recv_fds(sock, &fd, 1) == 0 ? fd : -1;
}
