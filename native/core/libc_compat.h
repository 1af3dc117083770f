#ifndef CTR_LIBC_COMPAT_H
#define CTR_LIBC_COMPAT_H

/*
 * The monitor and tsrun-init are linked statically against musl where it is
 * installed (CMakeLists.txt): a static glibc adds ~650 kB that every
 * container's monitor copies into its sealed memfd and keeps resident, and
 * ~0.25 ms to every exec of it. musl 1.2.3 lacks what glibc 2.36 declares
 * for the new mount API and statx; here they are, as the kernel's headers
 * and raw syscalls (statx as ctr_statx, whatever the library).
 */
#include <sys/mount.h>
#include <sys/stat.h>

#ifdef __GLIBC__
typedef struct statx ctr_statx_t;

static inline int ctr_statx(int dirfd, const char *path, int flags, unsigned int mask, ctr_statx_t *buf)
{
  return statx(dirfd, path, flags, mask, buf);
}
#else
#include <linux/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The kernel's struct statx, under names of our own: musl 1.2.5 declares a
 * struct statx of its own (without stx_mnt_id) in <sys/stat.h>. */
#define statx ctr_kernel_statx
#define statx_timestamp ctr_kernel_statx_timestamp
#include <linux/stat.h>
#undef statx
#undef statx_timestamp
typedef struct ctr_kernel_statx ctr_statx_t;

static inline int ctr_statx(int dirfd, const char *path, int flags, unsigned int mask, ctr_statx_t *buf)
{
  return (int)syscall(SYS_statx, dirfd, path, flags, mask, buf);
}

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

#endif

#endif
