/*
 * Mount targets are never built by joining strings under the rootfs: each is
 * resolved with openat2(RESOLVE_IN_ROOT) from an fd of the root, created
 * fd-relative when missing, and mounted on through /proc/self/fd/N. A target
 * that is (or becomes, by a race) a symlink to a host path therefore lands
 * inside the container (CVE-2021-30465, crun#111).
 */
#define _GNU_SOURCE
#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include "libc_compat.h"
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "safe.h"

#define IN_ROOT (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
/* include/uapi/linux/mount.h and fcntl.h, for libcs without them. */
#define SYS_mount_setattr_ 442
#define AT_RECURSIVE_ 0x8000
#define PROPAGATION (MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE)
#define MAX_SYMLINKS 40

static void close_keep_errno(int fd)
{
  /* child: async-signal-safe */
  int saved = errno;

  close(fd);
  errno = saved;
}

/* Writes head + "/" + tail into out (both may be empty); -1 on overflow. */
static int join(char *out, size_t size, const char *head, size_t head_len, const char *tail)
{
  /* child: async-signal-safe */
  size_t i;

  if (head_len + 1 + ctr_strlen(tail) + 1 > size) {
    errno = ENAMETOOLONG;
    return -1;
  }
  for (i = 0; i < head_len; i++)
    out[i] = head[i];
  out[i] = '/';
  ctr_strlcpy(out + i + 1, tail, size - i - 1);
  return 0;
}

/* Creates the missing component name under parent; EEXIST (a race, or a dangling symlink) is fine. */
static int create_component(int parent, const char *name, enum ctr_create create, int last)
{
  /* child: async-signal-safe */
  int fd;

  if (last && create == CTR_CREATE_FILE) {
    fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0)
      close(fd);
  } else {
    fd = mkdirat(parent, name, 0755);
  }
  return fd < 0 && errno != EEXIST ? -1 : 0;
}

int ctr_open_in_root(int rootfd, const char *path, enum ctr_create create)
{
  /* child: async-signal-safe */
  char bufs[2][PATH_MAX], prefix[PATH_MAX], name[NAME_MAX + 1], link[PATH_MAX];
  const char *s;
  size_t len = 0;
  int cur = 0, parent = rootfd, fd, links = 0;

  fd = ctr_openat2(rootfd, path, O_PATH | O_CLOEXEC, IN_ROOT);
  if (fd >= 0 || errno != ENOENT || create == CTR_CREATE_NONE)
    return fd;
  if (ctr_strlcpy(bufs[cur], path, PATH_MAX) >= PATH_MAX) {
    errno = ENAMETOOLONG;
    return -1;
  }
  s = bufs[cur];
  prefix[0] = '\0';
  while (*s) {
    const char *c;
    size_t n = 0, i;
    ssize_t ln;
    int last;

    while (*s == '/')
      s++;
    if (*s == '\0')
      break;
    c = s;
    while (c[n] && c[n] != '/')
      n++;
    s = c + n;
    while (*s == '/')
      s++;
    last = *s == '\0';
    if (n > NAME_MAX || len + 1 + n + 1 > sizeof prefix) {
      errno = ENAMETOOLONG;
      goto fail;
    }
    for (i = 0; i < n; i++)
      name[i] = c[i];
    name[n] = '\0';
    prefix[len] = '/';
    ctr_strlcpy(prefix + len + 1, name, sizeof prefix - len - 1);

    /* Each step resolves the whole prefix from the root, so a symlink in it
     * is followed inside the root, never from the middle of the walk. */
    fd = ctr_openat2(rootfd, prefix, O_PATH | O_CLOEXEC, IN_ROOT);
    if (fd < 0 && errno == ENOENT) {
      if (create_component(parent, name, create, last) < 0)
        goto fail;
      fd = ctr_openat2(rootfd, prefix, O_PATH | O_CLOEXEC, IN_ROOT);
    }
    if (fd < 0 && errno == ENOENT) {
      /* A dangling symlink (say /etc/resolv.conf -> /run/...): create its
       * target inside the root, then go on with the rest of the path. */
      int next = !cur;

      ln = readlinkat(parent, name, link, sizeof link - 1);
      if (ln <= 0) {
        errno = ENOENT;
        goto fail;
      }
      link[ln] = '\0';
      if (++links > MAX_SYMLINKS) {
        errno = ELOOP;
        goto fail;
      }
      if (link[0] == '/') {
        if (join(bufs[next], PATH_MAX, link, (size_t)ln, s) < 0)
          goto fail;
      } else {
        char rel[PATH_MAX];

        if (join(rel, sizeof rel, prefix, len, link) < 0 ||
            join(bufs[next], PATH_MAX, rel, ctr_strlen(rel), s) < 0)
          goto fail;
      }
      cur = next;
      s = bufs[cur];
      len = 0;
      prefix[0] = '\0';
      if (parent != rootfd)
        close(parent);
      parent = rootfd;
      continue;
    }
    if (fd < 0)
      goto fail;
    if (parent != rootfd)
      close(parent);
    parent = fd;
    len += 1 + n;
  }
  if (parent == rootfd)
    return ctr_openat2(rootfd, "/", O_PATH | O_CLOEXEC, IN_ROOT);
  return parent;

fail:
  if (parent != rootfd)
    close_keep_errno(parent);
  return -1;
}

int ctr_open_parent_in_root(int rootfd, const char *path, char *buf, size_t size,
                            const char **base)
{
  /* child: async-signal-safe */
  size_t n = ctr_strlcpy(buf, path, size), i;

  if (n >= size) {
    errno = ENAMETOOLONG;
    return -1;
  }
  while (n > 1 && buf[n - 1] == '/')
    buf[--n] = '\0';
  for (i = n; i > 0 && buf[i - 1] != '/'; i--)
    ;
  if (i == 0 || buf[i] == '\0') {
    errno = EINVAL;
    return -1;
  }
  *base = buf + i;
  if (i == 1)
    return ctr_openat2(rootfd, "/", O_PATH | O_CLOEXEC, IN_ROOT);
  buf[i - 1] = '\0';
  {
    int fd = ctr_open_in_root(rootfd, buf, CTR_CREATE_DIR);

    buf[i - 1] = '/';
    return fd;
  }
}

/* mount(2) with the target given as the in-root resolution of dest. */
static int mount_on(int rootfd, const char *dest, enum ctr_create create, const char *source,
                    const char *type, unsigned long flags, const void *data)
{
  /* child: async-signal-safe */
  char target[CTR_FD_PATH_MAX];
  int fd = ctr_open_in_root(rootfd, dest, create), rc;

  if (fd < 0)
    return -1;
  ctr_fd_path(target, fd);
  rc = mount(source, target, type, flags, data);
  close_keep_errno(fd);
  return rc;
}

/* Whether a mount's comma-separated options set mode=. */
static int has_mode_option(const char *data)
{
  /* child: async-signal-safe */
  const char *p = data;

  while (p && *p) {
    if (p[0] == 'm' && p[1] == 'o' && p[2] == 'd' && p[3] == 'e' && p[4] == '=')
      return 1;
    while (*p && *p != ',')
      p++;
    if (*p == ',')
      p++;
  }
  return 0;
}

/*
 * A tmpfs over an existing directory keeps that directory's mode unless its
 * options say mode= (runc's rule). The kernel's default is 1777: a tmpfs on
 * /etc or /root would be world-writable, and any user of the container could
 * plant /etc/ld.so.preload for the next setuid binary. A target made for the
 * mount has no mode of its own to keep. *data becomes buf with the mode put
 * first when it is needed; -1 (E2BIG) if that does not fit.
 */
static int tmpfs_data(int rootfd, const char *dest, const char **data, char *buf, size_t size)
{
  /* child: async-signal-safe */
  struct stat st;
  char octal[8];
  size_t i = sizeof octal;
  unsigned mode;
  int fd, rc;

  if (has_mode_option(*data))
    return 0;
  fd = ctr_open_in_root(rootfd, dest, CTR_CREATE_NONE);
  if (fd < 0)
    return 0;
  rc = fstat(fd, &st);
  close_keep_errno(fd);
  if (rc < 0 || !S_ISDIR(st.st_mode))
    return 0;
  octal[--i] = '\0';
  mode = st.st_mode & 07777;
  do {
    octal[--i] = (char)('0' + (mode & 7));
    mode >>= 3;
  } while (mode && i > 0);
  ctr_strlcpy(buf, "mode=", size);
  ctr_strlcat(buf, octal + i, size);
  if (*data && **data) {
    ctr_strlcat(buf, ",", size);
    if (ctr_strlcat(buf, *data, size) >= size) {
      errno = E2BIG;
      return -1;
    }
  }
  *data = buf;
  return 0;
}

/* The mount flags of the mount fd is on (statfs's ST_* bits as MS_*), of those a remount could clear. */
static int current_flags(int fd, unsigned long *out)
{
  /* child: async-signal-safe */
  static const struct {
    unsigned long st, ms;
  } bits[] = {
    { ST_RDONLY, MS_RDONLY },   { ST_NOSUID, MS_NOSUID },         { ST_NODEV, MS_NODEV },
    { ST_NOEXEC, MS_NOEXEC },   { ST_NOATIME, MS_NOATIME },       { ST_NODIRATIME, MS_NODIRATIME },
    { ST_RELATIME, MS_RELATIME },
  };
  struct statfs sfs;
  size_t i;

  if (fstatfs(fd, &sfs) < 0)
    return -1;
  *out = 0;
  for (i = 0; i < sizeof bits / sizeof bits[0]; i++)
    if ((unsigned long)sfs.f_flags & bits[i].st)
      *out |= bits[i].ms;
  return 0;
}

/*
 * A bind's remount with `flags`. In a user namespace the kernel refuses
 * (EPERM) one that would clear ro, nosuid, nodev, noexec or an atime flag
 * of a mount it locked: one that came from the host with the namespace
 * (mount_namespaces(7)), or a proc or sysfs made to match the host's. Then
 * it is tried again keeping the mount's own flags, as runc does: the
 * result is never less restricted than asked.
 */
static int remount_bind(const char *target, int fd, unsigned long flags)
{
  /* child: async-signal-safe */
  unsigned long have;

  if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | flags, NULL) == 0)
    return 0;
  if (errno != EPERM || current_flags(fd, &have) < 0 || (have | flags) == flags) {
    errno = EPERM;
    return -1;
  }
  return mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | flags | have, NULL);
}

/* One entry of copy_tree: name from dir `from` into dir `to`, owner and mode kept. */
static int copy_entry(int from, int to, const char *name, int depth);

/*
 * Copies the contents of directory `from` into `to` (both O_RDONLY
 * directory fds), never following a symlink: entries are opened with
 * O_NOFOLLOW relative to their parent's fd, and symlinks are recreated, not
 * read through. Bounded depth, one getdents buffer per level on the stack.
 */
static int copy_tree(int from, int to, int depth)
{
  /* child: async-signal-safe */
  char buf[4096];
  long n;

  if (depth > 32) {
    errno = ELOOP;
    return -1;
  }
  while ((n = syscall(SYS_getdents64, from, buf, sizeof buf)) > 0) {
    long off = 0;

    while (off < n) {
      struct ctr_dirent64 {
        unsigned long long ino;
        long long off;
        unsigned short reclen;
        unsigned char type;
        char name[];
      } *d = (struct ctr_dirent64 *)(void *)(buf + off);

      off += d->reclen;
      if (d->name[0] == '.' && (d->name[1] == '\0' || (d->name[1] == '.' && d->name[2] == '\0')))
        continue;
      if (copy_entry(from, to, d->name, depth) < 0)
        return -1;
    }
  }
  return n < 0 ? -1 : 0;
}

static int copy_file(int from, int to, const char *name, mode_t mode)
{
  /* child: async-signal-safe */
  int src = openat(from, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), dst, rc = 0;
  ssize_t n;

  if (src < 0)
    return -1;
  dst = openat(to, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (dst < 0) {
    close_keep_errno(src);
    return -1;
  }
  while ((n = sendfile(dst, src, NULL, 1 << 30)) > 0)
    ;
  if (n < 0)
    rc = -1;
  close_keep_errno(src);
  close_keep_errno(dst);
  return rc;
}

static int copy_entry(int from, int to, const char *name, int depth)
{
  /* child: async-signal-safe */
  char link[PATH_MAX];
  struct stat st;
  ssize_t ln;
  int a, b, rc;

  if (fstatat(from, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return -1;
  switch (st.st_mode & S_IFMT) {
  case S_IFDIR:
    if (mkdirat(to, name, st.st_mode & 07777) < 0)
      return -1;
    a = openat(from, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    b = a < 0 ? -1 : openat(to, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    rc = b < 0 ? -1 : copy_tree(a, b, depth + 1);
    if (a >= 0)
      close_keep_errno(a);
    if (b >= 0)
      close_keep_errno(b);
    if (rc < 0)
      return -1;
    break;
  case S_IFREG:
    if (copy_file(from, to, name, st.st_mode & 07777) < 0)
      return -1;
    break;
  case S_IFLNK:
    ln = readlinkat(from, name, link, sizeof link - 1);
    if (ln < 0)
      return -1;
    link[ln] = '\0';
    return symlinkat(link, to, name) < 0 ? -1 : fchownat(to, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
  case S_IFSOCK:
    return 0; /* a socket is bound, not copied */
  default:
    if (mknodat(to, name, st.st_mode, st.st_rdev) < 0)
      return -1;
  }
  /* chown clears setuid and setgid: the mode goes on after it. */
  if (fchownat(to, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
    return -1;
  return fchmodat(to, name, st.st_mode & 07777, 0);
}

/* runc's tmpcopyup: mount over dest, then copy what dest held into the new mount. */
static int mount_copyup(int rootfd, const struct ctr_mount *m, const char *data)
{
  /* child: async-signal-safe */
  char target[CTR_FD_PATH_MAX];
  int at = ctr_open_in_root(rootfd, m->dest, CTR_CREATE_DIR), old, fresh, top, rc;

  if (at < 0)
    return -1;
  /* Opened before the mount, this fd keeps reading the covered directory. */
  old = openat(at, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ctr_fd_path(target, at);
  rc = old < 0 ? -1 : mount(m->source, target, m->type, m->flags & ~PROPAGATION, data);
  close_keep_errno(at);
  if (rc < 0) {
    if (old >= 0)
      close_keep_errno(old);
    return -1;
  }
  /* Resolved again, dest is now the new mount's root. */
  top = ctr_open_in_root(rootfd, m->dest, CTR_CREATE_NONE);
  fresh = top < 0 ? -1 : openat(top, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  rc = fresh < 0 ? -1 : copy_tree(old, fresh, 0);
  close_keep_errno(old);
  if (top >= 0)
    close_keep_errno(top);
  if (fresh >= 0)
    close_keep_errno(fresh);
  return rc;
}

/*
 * An rbind's ro, nosuid, nodev and noexec: the remount above set them on
 * its top mount only, and every mount under the source (a host dir with a
 * tmpfs inside) would stay writable, setuid... mount_setattr(2) (Linux
 * 5.12) sets them on the whole tree, as docker 25's recursive read-only
 * binds and runc's rro, rnosuid...; older kernels keep the top mount's.
 * MOUNT_ATTR_RDONLY, NOSUID, NODEV and NOEXEC are MS_'s bits.
 */
static int attrs_recursive(int rootfd, const char *dest, unsigned long flags)
{
  /* child: async-signal-safe */
  struct {
    unsigned long long attr_set, attr_clr, propagation, userns_fd;
  } attr = { flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC), 0, 0, 0 };
  int fd = ctr_open_in_root(rootfd, dest, CTR_CREATE_NONE), rc;

  if (fd < 0)
    return -1;
  rc = (int)syscall(SYS_mount_setattr_, fd, "", AT_EMPTY_PATH | AT_RECURSIVE_, &attr, sizeof attr);
  if (rc < 0 && errno == ENOSYS)
    rc = 0;
  close_keep_errno(fd);
  return rc;
}

/* A bind ignores per-mount flags; they need a remount. dest is resolved
 * again, as a fd taken before the bind names the directory under it. */
static int bind_flags(int rootfd, const struct ctr_mount *m)
{
  /* child: async-signal-safe */
  unsigned long per_mount = m->flags & ~(MS_BIND | MS_REC | PROPAGATION);

  if (per_mount) {
    char target[CTR_FD_PATH_MAX];
    int fd = ctr_open_in_root(rootfd, m->dest, CTR_CREATE_NONE), rc;

    if (fd < 0)
      return -1;
    ctr_fd_path(target, fd);
    rc = remount_bind(target, fd, per_mount);
    close_keep_errno(fd);
    if (rc < 0)
      return -1;
  }
  if ((m->flags & MS_REC) && (per_mount & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)) && attrs_recursive(rootfd, m->dest, per_mount) < 0)
    return -1;
  return 0;
}

int ctr_mount_in_root(int rootfd, const struct ctr_mount *m)
{
  /* child: async-signal-safe */
  enum ctr_create create = m->is_file ? CTR_CREATE_FILE : CTR_CREATE_DIR;
  char buf[4096];
  const char *data = m->data;

  if (!(m->flags & MS_BIND) && m->type && ctr_streq(m->type, "tmpfs") && tmpfs_data(rootfd, m->dest, &data, buf, sizeof buf) < 0)
    return -1;
  /* The kernel reads propagation flags as "change the type of an existing
   * mount", ignoring everything else, so they go in a call of their own. */
  if (m->copyup) {
    if (mount_copyup(rootfd, m, data) < 0)
      return -1;
  } else if (!(m->flags & MS_BIND)) {
    if (mount_on(rootfd, m->dest, create, m->source, m->type, m->flags & ~PROPAGATION, data) < 0)
      return -1;
  } else if (mount_on(rootfd, m->dest, create, m->source, NULL, MS_BIND | (m->flags & MS_REC), NULL) < 0 ||
             bind_flags(rootfd, m) < 0) {
    return -1;
  }
  if (m->flags & PROPAGATION)
    return mount_on(rootfd, m->dest, CTR_CREATE_NONE, NULL, NULL,
                    m->flags & (PROPAGATION | MS_REC), NULL);
  return 0;
}

int ctr_attach_in_root(int rootfd, const struct ctr_mount *m, int fd)
{
  /* child: async-signal-safe */
  int at = ctr_open_in_root(rootfd, m->dest, m->is_file ? CTR_CREATE_FILE : CTR_CREATE_DIR), rc;

  if (at < 0)
    return -1;
  rc = move_mount(fd, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
  close_keep_errno(at);
  /* An idmapped bind (a clone the monitor made) takes its flags as a bind does. */
  if (rc == 0 && (m->flags & MS_BIND))
    rc = bind_flags(rootfd, m);
  if (rc == 0 && (m->flags & PROPAGATION))
    return mount_on(rootfd, m->dest, CTR_CREATE_NONE, NULL, NULL, m->flags & (PROPAGATION | MS_REC), NULL);
  return rc;
}

/* O_PATH|O_NOFOLLOW fd of path after pivot_root, written as /proc/self/fd/N into target. */
static int open_target(const char *path, char *target)
{
  /* child: async-signal-safe */
  int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);

  if (fd >= 0)
    ctr_fd_path(target, fd);
  return fd;
}

int ctr_mask_path(const char *path)
{
  /* child: async-signal-safe */
  char target[CTR_FD_PATH_MAX];
  struct stat st;
  int fd = open_target(path, target), rc;

  if (fd < 0)
    return errno == ENOENT ? 1 : -1;
  rc = fstat(fd, &st);
  if (rc == 0 && S_ISDIR(st.st_mode))
    rc = mount("tmpfs", target, "tmpfs", MS_RDONLY, NULL);
  else if (rc == 0)
    rc = mount("/dev/null", target, NULL, MS_BIND, NULL);
  close_keep_errno(fd);
  return rc;
}

int ctr_readonly_path(const char *path)
{
  /* child: async-signal-safe */
  char target[CTR_FD_PATH_MAX];
  int fd = open_target(path, target), rc;

  if (fd < 0)
    return errno == ENOENT ? 1 : -1;
  rc = mount(target, target, NULL, MS_BIND | MS_REC, NULL);
  close_keep_errno(fd);
  if (rc < 0)
    return -1;
  /* Reopen: the first fd names the directory under the new bind. */
  fd = open_target(path, target);
  if (fd < 0)
    return -1;
  rc = remount_bind(target, fd, MS_RDONLY | MS_REC);
  close_keep_errno(fd);
  return rc;
}
