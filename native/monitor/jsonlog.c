#define _GNU_SOURCE
#include "jsonlog.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

/* Worst case every byte becomes \u00XX, plus the fixed fields. */
static char record[LOG_LINE_MAX * 6 + 128];

unsigned long jsonlog_bytes;
void (*jsonlog_after_record)(void);

static void put_digits(char *buf, unsigned long v, int width)
{
  while (width-- > 0) {
    buf[width] = (char)('0' + v % 10);
    v /= 10;
  }
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's days_from_civil, inverted). */
static void civil_from_days(long z, long *y, unsigned *m, unsigned *d)
{
  long era;
  unsigned long doe, yoe, doy, mp;

  z += 719468;
  era = (z >= 0 ? z : z - 146096) / 146097;
  doe = (unsigned long)(z - era * 146097);
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp = (5 * doy + 2) / 153;
  *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
  *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
  *y = (long)yoe + era * 400 + (*m <= 2);
}

void format_rfc3339nano(char *buf, const struct timespec *ts)
{
  long days = ts->tv_sec / 86400, secs = ts->tv_sec % 86400, year;
  unsigned month, day;

  if (secs < 0) {
    secs += 86400;
    days--;
  }
  civil_from_days(days, &year, &month, &day);
  memcpy(buf, "0000-00-00T00:00:00.000000000Z", RFC3339NANO_LEN);
  put_digits(buf, (unsigned long)year, 4);
  put_digits(buf + 5, month, 2);
  put_digits(buf + 8, day, 2);
  put_digits(buf + 11, (unsigned long)(secs / 3600), 2);
  put_digits(buf + 14, (unsigned long)(secs / 60 % 60), 2);
  put_digits(buf + 17, (unsigned long)(secs % 60), 2);
  put_digits(buf + 20, (unsigned long)ts->tv_nsec, 9);
}

static size_t put(char *out, size_t at, const char *s)
{
  size_t n = strlen(s);

  memcpy(out + at, s, n);
  return at + n;
}

size_t json_escape(char *out, size_t at, const char *p, size_t n)
{
  static const char hex[] = "0123456789abcdef";
  size_t i;

  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    const char *esc = NULL;

    switch (c) {
    case '"': esc = "\\\""; break;
    case '\\': esc = "\\\\"; break;
    case '\n': esc = "\\n"; break;
    case '\t': esc = "\\t"; break;
    case '\r': esc = "\\r"; break;
    case '\b': esc = "\\b"; break;
    case '\f': esc = "\\f"; break;
    default: break;
    }
    if (esc) {
      at = put(out, at, esc);
    } else if (c < 0x20 || c == 0x7f) {
      at = put(out, at, "\\u00");
      out[at++] = hex[c >> 4];
      out[at++] = hex[c & 15];
    } else {
      out[at++] = (char)c;
    }
  }
  return at;
}

/* A record cut short by a full disk: the next one starts on a line of its
 * own, so a reader loses the torn one only, not the next as well. */
static int torn;

/* One write(2) per record: with O_APPEND a reader never sees half a line
 * from a record that fit in one write. */
static void emit(int logfd, const char *stream, const char *p, size_t n, const char *time)
{
  size_t len = put(record, 0, torn ? "\n{\"log\":\"" : "{\"log\":\""), off = 0;

  len = json_escape(record, len, p, n);
  len = put(record, len, "\",\"stream\":\"");
  len = put(record, len, stream);
  len = put(record, len, "\",\"time\":\"");
  len = put(record, len, time);
  len = put(record, len, "\"}\n");
  while (off < len) {
    ssize_t w = write(logfd, record + off, len - off);

    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      torn = off > 0 || torn; /* a full disk loses lines but must not stall the container */
      return;
    }
    off += (size_t)w;
    jsonlog_bytes += (unsigned long)w;
  }
  torn = 0;
  if (jsonlog_after_record)
    jsonlog_after_record();
}

static void now(char *time)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  format_rfc3339nano(time, &ts);
}

int write_full(int fd, const void *buf, size_t n)
{
  const char *p = buf;

  while (n) {
    ssize_t w = write(fd, p, n);

    if (w < 0 && errno == EAGAIN) {
      struct pollfd pfd = { .fd = fd, .events = POLLOUT };

      if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
        return -1;
      continue;
    }
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int log_stream_read(struct log_stream *s, int logfd)
{
  char time[RFC3339NANO_LEN];
  size_t start = 0, i;
  ssize_t n;

  do
    n = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN)
    return 0;
  if (n <= 0) {
    log_stream_close(s, logfd);
    return 1;
  }
  /* A reader that went away (EPIPE) stops the copy, never the container. */
  if (s->copy_fd >= 0 && write_full(s->copy_fd, s->buf + s->len, (size_t)n) < 0)
    s->copy_fd = -1;
  if (logfd < 0)
    return 0;
  now(time);
  for (i = s->len; i < s->len + (size_t)n; i++) {
    if (s->buf[i] == '\n') {
      emit(logfd, s->name, s->buf + start, i + 1 - start, time);
      start = i + 1;
    }
  }
  s->len += (size_t)n;
  if (start == 0 && s->len == sizeof s->buf) {
    emit(logfd, s->name, s->buf, s->len, time);
    start = s->len;
  }
  memmove(s->buf, s->buf + start, s->len - start);
  s->len -= start;
  return 0;
}

void log_stream_close(struct log_stream *s, int logfd)
{
  char time[RFC3339NANO_LEN];

  if (s->fd < 0)
    return;
  if (s->len && logfd >= 0) {
    now(time);
    emit(logfd, s->name, s->buf, s->len, time);
    s->len = 0;
  }
  close(s->fd);
  s->fd = -1;
}
