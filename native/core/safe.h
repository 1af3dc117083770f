/*
 * Helpers that are safe between clone and execve: raw syscalls for what
 * glibc 2.36 does not wrap (or wraps with hidden state), and tiny string
 * routines that never allocate. Plain libc syscall wrappers (open, mount,
 * mkdirat, write, ...) are async-signal-safe and are used directly.
 */
#ifndef CTR_SAFE_H
#define CTR_SAFE_H

#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* "/proc/self/fd/" plus a decimal int and a NUL. */
#define CTR_FD_PATH_MAX 32

static inline size_t ctr_strlen(const char *s)
{
  /* child: async-signal-safe */
  size_t n = 0;

  while (s[n])
    n++;
  return n;
}

static inline int ctr_streq(const char *a, const char *b)
{
  /* child: async-signal-safe */
  while (*a && *a == *b) {
    a++;
    b++;
  }
  return *a == *b;
}

/* Copies at most size-1 bytes and always terminates; returns strlen(src). */
static inline size_t ctr_strlcpy(char *dst, const char *src, size_t size)
{
  /* child: async-signal-safe */
  size_t n = ctr_strlen(src);
  size_t i;

  if (size == 0)
    return n;
  for (i = 0; i < n && i < size - 1; i++)
    dst[i] = src[i];
  dst[i] = '\0';
  return n;
}

/* Appends src to the NUL-terminated dst, truncating to size; returns the length it tried to make. */
static inline size_t ctr_strlcat(char *dst, const char *src, size_t size)
{
  /* child: async-signal-safe */
  size_t used = ctr_strlen(dst);

  if (used >= size)
    return used + ctr_strlen(src);
  return used + ctr_strlcpy(dst + used, src, size - used);
}

/* Writes v in decimal plus a NUL into buf (at least 21 bytes); returns the digit count. */
static inline size_t ctr_utoa(unsigned long v, char *buf)
{
  /* child: async-signal-safe */
  char tmp[20];
  size_t n = 0, i;

  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (i = 0; i < n; i++)
    buf[i] = tmp[n - 1 - i];
  buf[n] = '\0';
  return n;
}

/* "/proc/self/fd/N": how a mount reaches a target resolved through an fd. */
static inline void ctr_fd_path(char *buf, int fd)
{
  /* child: async-signal-safe */
  size_t n = ctr_strlcpy(buf, "/proc/self/fd/", CTR_FD_PATH_MAX);

  ctr_utoa((unsigned long)fd, buf + n);
}

static inline int ctr_openat2(int dirfd, const char *path, unsigned long long flags,
                              unsigned long long resolve)
{
  /* child: async-signal-safe */
  struct open_how how = { .flags = flags, .mode = 0, .resolve = resolve };

  return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

#endif
