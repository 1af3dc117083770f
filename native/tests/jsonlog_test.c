/* The output copy: json-file lines, the attached copy, and no log at all. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"
#include "../monitor/jsonlog.h"

static struct log_stream s;

static size_t slurp(int fd, char *buf, size_t size)
{
  ssize_t n = read(fd, buf, size - 1);

  buf[n > 0 ? n : 0] = '\0';
  return n > 0 ? (size_t)n : 0;
}

static void test_log_and_copy(void)
{
  int in[2], copy[2], log[2];
  char got[4096];

  EXPECT(pipe2(in, O_CLOEXEC) == 0 && pipe2(copy, O_CLOEXEC) == 0 && pipe2(log, O_CLOEXEC) == 0);
  s.fd = in[0];
  s.copy_fd = copy[1];
  s.name = "stdout";
  s.len = 0;
  EXPECT(write(in[1], "a\"b\n\tpart", 9) == 9);
  EXPECT(log_stream_read(&s, log[1]) == 0);
  slurp(copy[0], got, sizeof got);
  EXPECT(strcmp(got, "a\"b\n\tpart") == 0);
  slurp(log[0], got, sizeof got);
  EXPECT(strncmp(got, "{\"log\":\"a\\\"b\\n\",\"stream\":\"stdout\",\"time\":\"", 41) == 0);
  EXPECT(s.len == 5);
  close(in[1]);
  EXPECT(log_stream_read(&s, log[1]) == 1);
  EXPECT(s.fd == -1);
  slurp(log[0], got, sizeof got);
  EXPECT(strncmp(got, "{\"log\":\"\\tpart\",\"stream\":\"stdout\"", 32) == 0);
  close(copy[0]);
  close(copy[1]);
  close(log[0]);
  close(log[1]);
}

static void test_copy_only(void)
{
  int in[2], copy[2];
  char got[64];

  EXPECT(pipe2(in, O_CLOEXEC) == 0 && pipe2(copy, O_CLOEXEC) == 0);
  s.fd = in[0];
  s.copy_fd = copy[1];
  s.len = 0;
  EXPECT(write(in[1], "no newline", 10) == 10);
  EXPECT(log_stream_read(&s, -1) == 0);
  EXPECT(s.len == 0);
  slurp(copy[0], got, sizeof got);
  EXPECT(strcmp(got, "no newline") == 0);
  /* A reader that went away stops the copy, not the stream. */
  close(copy[0]);
  EXPECT(write(in[1], "x\n", 2) == 2);
  EXPECT(log_stream_read(&s, -1) == 0);
  EXPECT(s.copy_fd == -1 && s.fd == in[0]);
  close(in[1]);
  EXPECT(log_stream_read(&s, -1) == 1);
  close(copy[1]);
}

static void test_escape(void)
{
  char out[64];
  size_t n = json_escape(out, 0, "a\x01\x7f\\", 4);

  out[n] = '\0';
  EXPECT(strcmp(out, "a\\u0001\\u007f\\\\") == 0);
}

/* A record a full disk cut short (RLIMIT_FSIZE stands for one): the next one starts on a line of its own. */
static void test_torn_record(void)
{
  struct rlimit unlimited, small = { 100, 100 };
  char path[] = "/tmp/tsrun-jsonlog-XXXXXX", line[151], got[1024];
  int in[2], fd = mkstemp(path);

  EXPECT(fd >= 0 && pipe2(in, O_CLOEXEC) == 0 && getrlimit(RLIMIT_FSIZE, &unlimited) == 0);
  unlink(path);
  s.fd = in[0];
  s.copy_fd = -1;
  s.name = "stdout";
  s.len = 0;
  memset(line, 'y', 150);
  line[150] = '\n';
  EXPECT(write(in[1], line, 151) == 151);
  small.rlim_max = unlimited.rlim_max;
  EXPECT(setrlimit(RLIMIT_FSIZE, &small) == 0);
  EXPECT(log_stream_read(&s, fd) == 0);
  EXPECT(setrlimit(RLIMIT_FSIZE, &unlimited) == 0);
  EXPECT(write(in[1], "ok\n", 3) == 3);
  EXPECT(log_stream_read(&s, fd) == 0);
  memset(got, 0, sizeof got);
  EXPECT(pread(fd, got, sizeof got - 1, 100) > 0);
  EXPECT(strncmp(got, "\n{\"log\":\"ok\\n\"", 14) == 0);
  close(in[0]);
  close(in[1]);
  close(fd);
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  signal(SIGXFSZ, SIG_IGN);
  test_log_and_copy();
  test_copy_only();
  test_escape();
  test_torn_record();
  return test_result();
}
