/*
 * In-root path resolution and mounting for the child ladder. Every function
 * here is async-signal-safe and returns an fd or 0, or -1 with errno set.
 */
#ifndef CTR_MOUNTS_H
#define CTR_MOUNTS_H

#include <stddef.h>

#include "plan.h"

enum ctr_create {
  CTR_CREATE_NONE,
  CTR_CREATE_DIR,  /* missing components become directories 0755 */
  CTR_CREATE_FILE, /* ... and the last one an empty file 0644 */
};

/* O_PATH fd of path (absolute inside the root) resolved under rootfd as if it
 * were "/"; symlinks, absolute or not, stay inside. The umask must be 0. */
int ctr_open_in_root(int rootfd, const char *path, enum ctr_create create);

/* O_PATH fd of path's parent (created as directories); *base points at the
 * last component, copied into buf. */
int ctr_open_parent_in_root(int rootfd, const char *path, char *buf, size_t size,
                            const char **base);

/* Mounts m on its destination inside the root, creating it when missing. */
int ctr_mount_in_root(int rootfd, const struct ctr_mount *m);

/* Attaches the detached mount fd (fsmount's, or an idmapped clone for a
 * bind) on m's destination inside the root, creating it when missing, with
 * m's per-mount flags (a bind's) and propagation. */
int ctr_attach_in_root(int rootfd, const struct ctr_mount *m, int fd);

/* After pivot_root: hide path (ro tmpfs on a dir, /dev/null on anything else).
 * Returns 1 when path does not exist. */
int ctr_mask_path(const char *path);

/* After pivot_root: make path a read-only bind of itself. Returns 1 when path does not exist. */
int ctr_readonly_path(const char *path);

#endif
