#define _GNU_SOURCE
#include "fdpass.h"

#include <string.h>
#include <sys/socket.h>

union cmsg_buf {
  struct cmsghdr align;
  char buf[CMSG_SPACE(sizeof(int))];
};

int ctr_send_fd(int sock, int fd, const char *payload, size_t len)
{
  /* async-signal-safe */
  union cmsg_buf u;
  struct iovec iov = { .iov_base = (void *)payload, .iov_len = len };
  struct msghdr msg;
  struct cmsghdr *c;

  memset(&u, 0, sizeof u);
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return sendmsg(sock, &msg, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

int ctr_recv_fd(int sock)
{
  char byte;
  union cmsg_buf u;
  struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                        .msg_controllen = sizeof u.buf };
  struct cmsghdr *c;
  int fd;

  if (recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) != 1)
    return -1;
  c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
      c->cmsg_len != CMSG_LEN(sizeof(int)))
    return -1;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}
