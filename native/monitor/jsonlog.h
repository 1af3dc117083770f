/*
 * The container's stdout and stderr as docker json-file lines:
 *   {"log":"hello\n","stream":"stdout","time":"2026-11-26T17:07:20.123456789Z"}
 * and, when attached, copied as they come to the monitor's own stdout/stderr.
 */
#ifndef TSRUN_JSONLOG_H
#define TSRUN_JSONLOG_H

#include <stddef.h>
#include <time.h>

/* A line longer than this is written in pieces, as docker's 16 KiB partial messages. */
#define LOG_LINE_MAX 16384

/* "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" plus a NUL. */
#define RFC3339NANO_LEN 31

struct log_stream {
  int fd;           /* the pipe's (or pty master's) read end; -1 after EOF */
  int copy_fd;      /* attached: the monitor's fd 1 or 2; -1 (also once it fails) */
  const char *name; /* "stdout" or "stderr" */
  size_t len;       /* bytes of an unfinished line held in buf */
  char buf[LOG_LINE_MAX];
};

/* Bytes written to the log so far (the caller sets it when it opens one),
 * and what runs after each record: the monitor's log rotation. */
extern unsigned long jsonlog_bytes;
extern void (*jsonlog_after_record)(void);

/* Reads once from s->fd, copies what came to s->copy_fd, and appends each
 * complete line to logfd (-1: no log). At EOF (or EIO: a pty whose slave
 * side is closed) it writes the unfinished line, closes s->fd and returns 1;
 * otherwise 0. */
int log_stream_read(struct log_stream *s, int logfd);

/* Writes the unfinished line, if any, and closes s->fd. */
void log_stream_close(struct log_stream *s, int logfd);

/* Writes all of buf, waiting out EINTR and EAGAIN (an inherited fd may be
 * non-blocking). Returns 0, or -1 with errno set. */
int write_full(int fd, const void *buf, size_t n);

/* Appends p[0..n) to out at offset at as the inside of a JSON string;
 * returns the new offset. out needs room for 6 bytes per input byte. */
size_t json_escape(char *out, size_t at, const char *p, size_t n);

/* Formats ts in UTC with nanoseconds into buf (RFC3339NANO_LEN bytes). */
void format_rfc3339nano(char *buf, const struct timespec *ts);

#endif
