import * as fs from 'node:fs';
import type { NativeBinding } from '../native/types.js';

const AT_FDCWD = -100;

/**
 * Reads a directory tree that something else may be changing (a running
 * container's upper or merged dir) without ever leaving it: every directory
 * is opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) from the
 * top, and names are listed, lstat-ed and read through /proc/self/fd/N of
 * that open directory, so a directory swapped for a symlink to a host path
 * fails (ELOOP) instead of being followed (STYLE.md §10.2).
 */
export class TreeReader {
  private readonly rootFd: number;
  private readonly resolve: number;
  private cached: { rel: string; fd: number } | undefined;

  constructor(
    private readonly native: NativeBinding,
    top: string,
  ) {
    const c = native.constants;
    this.rootFd = native.openat2({ dirFd: AT_FDCWD, path: top, flags: c.O_PATH | c.O_DIRECTORY, resolve: 0 });
    this.resolve = c.RESOLVE_BENEATH | c.RESOLVE_NO_SYMLINKS | c.RESOLVE_NO_MAGICLINKS;
  }

  /** An fd for rel (a path relative to the top, '' for the top), opened beneath it. The caller closes it. */
  open(rel: string, flags: number): number {
    return this.native.openat2({ dirFd: this.rootFd, path: rel === '' ? '.' : rel, flags: flags | this.native.constants.O_NOFOLLOW, resolve: this.resolve });
  }

  /**
   * rel opened for reading if it is a regular file, else undefined (it is
   * something else now: the tree may be changing under us). Opened O_PATH
   * first and checked by fstat, then reopened through that fd: a FIFO or a
   * device node swapped in after an lstat is never opened (a FIFO would
   * block us; a device's open has effects of its own, on the host).
   */
  openFile(rel: string): number | undefined {
    const c = this.native.constants;
    const pathFd = this.open(rel, c.O_PATH);
    try {
      if (!fs.fstatSync(pathFd).isFile()) return undefined;
      return fs.openSync(`/proc/self/fd/${pathFd}`, fs.constants.O_RDONLY | fs.constants.O_NOCTTY);
    } finally {
      this.native.closeFd({ fd: pathFd });
    }
  }

  /** The directory holding rel, as an O_PATH fd kept for consecutive siblings. */
  private parentFd(rel: string): [fdPath: string, name: string] {
    const slash = rel.lastIndexOf('/');
    const parent = slash < 0 ? '' : rel.slice(0, slash);
    if (this.cached?.rel !== parent) {
      const c = this.native.constants;
      const fd = this.open(parent, c.O_PATH | c.O_DIRECTORY);
      if (this.cached) this.native.closeFd({ fd: this.cached.fd });
      this.cached = { rel: parent, fd };
    }
    return [`/proc/self/fd/${this.cached.fd}`, rel.slice(slash + 1)];
  }

  readdir(rel: string): fs.Dirent[] {
    const c = this.native.constants;
    const fd = this.open(rel, c.O_PATH | c.O_DIRECTORY);
    try {
      return fs.readdirSync(`/proc/self/fd/${fd}`, { withFileTypes: true });
    } finally {
      this.native.closeFd({ fd });
    }
  }

  lstat(rel: string): fs.BigIntStats {
    const [dir, name] = this.parentFd(rel);
    return fs.lstatSync(`${dir}/${name}`, { bigint: true });
  }

  readlink(rel: string): string {
    const [dir, name] = this.parentFd(rel);
    return fs.readlinkSync(`${dir}/${name}`);
  }

  close(): void {
    if (this.cached) this.native.closeFd({ fd: this.cached.fd });
    this.cached = undefined;
    this.native.closeFd({ fd: this.rootFd });
  }
}
