/* In-root resolution (mounts.c): whatever the image's symlinks say, every
 * path is created inside the root (CVE-2021-30465). Needs no privileges. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "../core/mounts.h"

static char root[] = "/tmp/tsrun-mounts-test.XXXXXX";
static char outside[] = "/tmp/tsrun-mounts-outside.XXXXXX";
static int rootfd;

static int stat_in_root(const char *rel, struct stat *st)
{
  return fstatat(rootfd, rel, st, AT_SYMLINK_NOFOLLOW);
}

static void test_existing(void)
{
  int fd = ctr_open_in_root(rootfd, "/", CTR_CREATE_NONE);

  EXPECT(fd >= 0);
  close(fd);
  errno = 0;
  EXPECT(ctr_open_in_root(rootfd, "/missing", CTR_CREATE_NONE) < 0 && errno == ENOENT);
}

static void test_absolute_symlink_stays_inside(void)
{
  char link[128];
  struct stat st;
  int fd;

  snprintf(link, sizeof link, "%s/x", outside);
  EXPECT(symlinkat(link, rootfd, "abs") == 0);
  fd = ctr_open_in_root(rootfd, "/abs/y", CTR_CREATE_DIR);
  EXPECT(fd >= 0);
  close(fd);
  EXPECT(stat_in_root(&link[1], &st) == 0 && S_ISDIR(st.st_mode));
  EXPECT(access(link, F_OK) < 0 && errno == ENOENT);
}

static void test_dangling_relative_symlink_file(void)
{
  struct stat st;
  int fd;

  EXPECT(mkdirat(rootfd, "etc", 0755) == 0);
  EXPECT(symlinkat("../run/r/resolv.conf", rootfd, "etc/resolv.conf") == 0);
  fd = ctr_open_in_root(rootfd, "/etc/resolv.conf", CTR_CREATE_FILE);
  EXPECT(fd >= 0);
  close(fd);
  EXPECT(stat_in_root("run/r/resolv.conf", &st) == 0 && S_ISREG(st.st_mode));
  EXPECT((st.st_mode & 07777) == 0644);
  EXPECT(stat_in_root("run/r", &st) == 0 && (st.st_mode & 07777) == 0755);
}

static void test_dotdot_is_clamped(void)
{
  struct stat st;
  int fd = ctr_open_in_root(rootfd, "/../../../dd", CTR_CREATE_DIR);

  EXPECT(fd >= 0);
  close(fd);
  EXPECT(stat_in_root("dd", &st) == 0 && S_ISDIR(st.st_mode));
}

static void test_errors(void)
{
  int fd;

  EXPECT(symlinkat("loop", rootfd, "loop") == 0);
  errno = 0;
  EXPECT(ctr_open_in_root(rootfd, "/loop/x", CTR_CREATE_DIR) < 0 && errno == ELOOP);
  fd = openat(rootfd, "file", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  EXPECT(fd >= 0);
  close(fd);
  errno = 0;
  EXPECT(ctr_open_in_root(rootfd, "/file/sub", CTR_CREATE_DIR) < 0 && errno == ENOTDIR);
}

static void test_parent(void)
{
  char buf[64];
  const char *base = NULL;
  struct stat st;
  int fd = ctr_open_parent_in_root(rootfd, "/a/b/c/", buf, sizeof buf, &base);

  EXPECT(fd >= 0 && base && strcmp(base, "c") == 0);
  EXPECT(fstatat(fd, "", &st, AT_EMPTY_PATH) == 0 && S_ISDIR(st.st_mode));
  close(fd);
  EXPECT(stat_in_root("a/b", &st) == 0 && S_ISDIR(st.st_mode));
  EXPECT(stat_in_root("a/b/c", &st) < 0);
  fd = ctr_open_parent_in_root(rootfd, "/top", buf, sizeof buf, &base);
  EXPECT(fd >= 0 && strcmp(base, "top") == 0);
  close(fd);
  errno = 0;
  EXPECT(ctr_open_parent_in_root(rootfd, "/", buf, sizeof buf, &base) < 0 && errno == EINVAL);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
  (void)st;
  (void)type;
  (void)ftw;
  return remove(path);
}

int main(void)
{
  umask(0); /* as in the child ladder */
  if (!mkdtemp(root) || !mkdtemp(outside) || rmdir(outside) < 0) {
    perror("mkdtemp");
    return 1;
  }
  rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  test_existing();
  test_absolute_symlink_stays_inside();
  test_dangling_relative_symlink_file();
  test_dotdot_is_clamped();
  test_errors();
  test_parent();
  close(rootfd);
  nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  return test_result();
}
