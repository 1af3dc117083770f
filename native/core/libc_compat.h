#ifndef CTR_LIBC_COMPAT_H
#define CTR_LIBC_COMPAT_H

/*
 * The monitor and tsrun-init are linked statically against musl where it is
 * installed (CMakeLists.txt): a static glibc adds ~650 kB that every
 * container's monitor copies into its sealed memfd and keeps resident, and
 * ~0.25 ms to every exec of it. musl 1.2.3 lacks what glibc 2.36 declares
 * for the new mount API and statx; here they are, as the kernel's headers
 * and raw syscalls. With glibc this adds nothing.
 */
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

/* An errno's English text from a static table, async-signal-safe: glibc's
 * strerrordesc_np; musl's strerror is that already (no message catalogs). */
static inline const char *ctr_strerror(int err)
{
#ifdef __GLIBC__
  return strerrordesc_np(err);
#else
  return strerror(err);
#endif
}

#ifndef __GLIBC__
#include <linux/mount.h>
#include <linux/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline int fsopen(const char *fs_name, unsigned int flags)
{
  return (int)syscall(SYS_fsopen, fs_name, flags);
}

static inline int fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux)
{
  return (int)syscall(SYS_fsconfig, fd, cmd, key, value, aux);
}

static inline int fsmount(int fd, unsigned int flags, unsigned int attr_flags)
{
  return (int)syscall(SYS_fsmount, fd, flags, attr_flags);
}

static inline int move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path, unsigned int flags)
{
  return (int)syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags);
}

static inline int open_tree(int dirfd, const char *path, unsigned int flags)
{
  return (int)syscall(SYS_open_tree, dirfd, path, flags);
}

static inline int mount_setattr(int dirfd, const char *path, unsigned int flags, struct mount_attr *attr, size_t size)
{
  return (int)syscall(SYS_mount_setattr, dirfd, path, flags, attr, size);
}

static inline int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf)
{
  return (int)syscall(SYS_statx, dirfd, path, flags, mask, buf);
}
#endif

#endif
