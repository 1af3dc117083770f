import * as fs from 'node:fs';
import type { NativeBinding } from '../native/types.js';

const MAX_ACCOUNT_FILE = 1 << 20;

/**
 * Reads a file of the container's root without following symlinks out of it
 * (RESOLVE_IN_ROOT: an image's /etc/passwd -> /etc/shadow stays inside), and
 * only if it is a regular file: a FIFO or device node planted there (by the
 * image, or by the running container) is never opened by the host.
 */
export function readInRoot(native: NativeBinding, root: string, rel: string): string | undefined {
  const c = native.constants;
  let rootFd = -1;
  let fd = -1;
  try {
    rootFd = native.openat2({ dirFd: -100, path: root, flags: c.O_PATH | c.O_DIRECTORY, resolve: 0 });
    // O_PATH, and read only once fstat says it is a regular file: a device node there is never opened on the host.
    fd = native.openat2({ dirFd: rootFd, path: rel, flags: c.O_PATH, resolve: c.RESOLVE_IN_ROOT | c.RESOLVE_NO_MAGICLINKS });
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > MAX_ACCOUNT_FILE) return undefined;
    // At most the limit, whatever the size is by the time it is read (a running container may be growing it).
    const file = fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_RDONLY);
    try {
      const chunks: Buffer[] = [];
      let total = 0;
      for (;;) {
        const chunk = Buffer.allocUnsafe(64 * 1024);
        const n = fs.readSync(file, chunk, 0, chunk.length, null);
        if (n === 0) break;
        chunks.push(chunk.subarray(0, n));
        total += n;
        if (total > MAX_ACCOUNT_FILE) return undefined;
      }
      return Buffer.concat(chunks, total).toString('utf8');
    } finally {
      fs.closeSync(file);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  } finally {
    if (fd >= 0) native.closeFd({ fd });
    if (rootFd >= 0) native.closeFd({ fd: rootFd });
  }
}

/** The image's /etc/passwd and /etc/group, for resolving `-u`. */
export function readAccountFiles(native: NativeBinding, root: string): [passwd: string | undefined, group: string | undefined] {
  return [readInRoot(native, root, '/etc/passwd'), readInRoot(native, root, '/etc/group')];
}
