/*
 * The container's stdout and stderr as docker json-file lines:
 *   {"log":"hello\n","stream":"stdout","time":"2026-11-26T17:07:20.123456789Z"}
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
  int fd;           /* the pipe's read end; -1 after EOF */
  const char *name; /* "stdout" or "stderr" */
  size_t len;       /* bytes of an unfinished line held in buf */
  char buf[LOG_LINE_MAX];
};

/* Reads once from s->fd and appends each complete line to logfd. At EOF it
 * writes the unfinished line, closes the pipe and returns 1; otherwise 0. */
int log_stream_read(struct log_stream *s, int logfd);

/* Writes the unfinished line, if any, and closes the pipe. */
void log_stream_close(struct log_stream *s, int logfd);

/* Formats ts in UTC with nanoseconds into buf (RFC3339NANO_LEN bytes). */
void format_rfc3339nano(char *buf, const struct timespec *ts);

#endif
