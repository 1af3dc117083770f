import * as fs from 'node:fs';
import * as path from 'node:path';
import { RuntimeError, UsageError } from '../errors.js';
import type { NativeBinding } from '../native/types.js';
import { mountLayer, unmountLayer } from '../store/mounts.js';
import { mountsUnder } from '../store/mountinfo.js';
import { containerLockFile, layerMerged } from '../store/paths.js';
import { TreeReader } from '../store/tree-reader.js';
import type * as Pack from '../store/pack.js';
import { devNumbers } from '../util/devnum.js';
import { withLock } from '../util/lock.js';
import type { Context } from './context.js';
import { type ContainerRecord, readRecord } from './state/record.js';
import { currentState } from './state/status.js';

/**
 * `cp` between a container's filesystem and the host, docker's rules for
 * where things land. Inside the container every path is resolved with
 * openat2(RESOLVE_IN_ROOT) from the root, and everything below it is read or
 * written through fds of open directories, one name at a time, never
 * following a symlink: a container that plants or swaps in a symlink to a
 * host path (CVE-2019-14271's kind, a race with a running container) gets
 * its link copied, or the copy refused, never the host written or read.
 * Writes land in the container's rw layer (the union is its view).
 */

export interface CopyOptions {
  /** Keep uid/gid (docker -a); otherwise copies belong to root (in) or to the caller (out). */
  archive: boolean;
  /** Follow a symlink given as the source (docker -L). */
  followLink: boolean;
}

const AT_FDCWD = -100;

/**
 * Runs fn with the container's union at its merged dir (the caller holds
 * the container's lock): a running container's own, or one mounted for the
 * time and taken down after. A running container with a user namespace has
 * its union only inside it, of idmapped layers, where its files carry
 * shifted ids, and a second writable union over the same upper dir would
 * corrupt it (overlayfs.rst, "Changes to underlying filesystems"): to read,
 * a read-only union is mounted instead, its upper dir as the top lower one,
 * with the files' own ids; writing waits until it is stopped.
 */
export async function withUnion<T>(ctx: Context, rec: ContainerRecord, access: 'read' | 'write', fn: (merged: string) => T | Promise<T>): Promise<T> {
  const p = ctx.paths;
  const merged = layerMerged(p, rec.rwLayerId);
  if (mountsUnder(merged).includes(merged)) return fn(merged);
  // pid > 0: running, or created and waiting to start (its union is mounted already).
  const inUserns = rec.options.idMappings !== undefined && currentState(p, rec).pid > 0;
  if (inUserns && access === 'write') throw new RuntimeError(`container ${rec.name} runs in a user namespace, whose files are mounted only inside it: stop it to copy files into it`);
  mountLayer(ctx.native, p, rec.rwLayerId, inUserns);
  try {
    return await fn(merged);
  } finally {
    unmountLayer(ctx.native, p, rec.rwLayerId);
  }
}

/** Runs fn with an O_PATH fd of the container's root (withUnion's). */
async function withContainerRoot<T>(ctx: Context, id: string, access: 'read' | 'write', fn: (rootFd: number, name: string) => T | Promise<T>): Promise<T> {
  const p = ctx.paths;
  return withLock(ctx.native, containerLockFile(p, id), async () => {
    const rec = readRecord(p, id);
    if (!rec) throw new RuntimeError(`container ${id} disappeared`);
    return withUnion(ctx, rec, access, async (merged) => {
      const c = ctx.native.constants;
      const rootFd = ctx.native.openat2({ dirFd: AT_FDCWD, path: merged, flags: c.O_PATH | c.O_DIRECTORY, resolve: 0 });
      try {
        return await fn(rootFd, rec.name);
      } finally {
        ctx.native.closeFd({ fd: rootFd });
      }
    });
  });
}

/** A path in the container, made relative to its root ("/" → "."); `..` cannot climb out (RESOLVE_IN_ROOT). */
function inRoot(p: string): string {
  const rel = path.posix.normalize(`/${p}`).replace(/^\/+/, '');
  return rel === '' ? '.' : rel;
}

/** docker's "SRC/." : the directory's contents, not the directory. */
const contentsOnly = (p: string) => p === '.' || p.endsWith('/.');

/** `cp CONTAINER:SRC HOSTDEST`, or a tar of SRC on standard output for HOSTDEST "-". */
export async function copyFromContainer(ctx: Context, id: string, src: string, dest: string, opts: CopyOptions): Promise<void> {
  const n = ctx.native;
  const c = n.constants;
  // The tar code (and its crypto and zlib) is loaded only for tar streams: this module is part of every `run` (volume copy-up).
  const pack = dest === '-' ? await import('../store/pack.js') : undefined;
  await withContainerRoot(ctx, id, 'read', (rootFd, ctr) => {
    let srcFd: number;
    try {
      srcFd = n.openat2({ dirFd: rootFd, path: inRoot(src), flags: c.O_PATH | (opts.followLink ? 0 : c.O_NOFOLLOW), resolve: c.RESOLVE_IN_ROOT | c.RESOLVE_NO_MAGICLINKS });
    } catch (err) {
      throw new RuntimeError(`could not find ${src} in container ${ctr}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    try {
      const st = fs.fstatSync(srcFd);
      if (pack) tarOut(pack, n, srcFd, st, path.posix.basename(path.posix.normalize(`/${src}`)) || '.');
      else copyOut(n, srcFd, st, hostTarget(dest, src, st.isDirectory()), opts);
    } finally {
      n.closeFd({ fd: srcFd });
    }
  });
}

/** docker cp's `-`: a tar of the entry on standard output, named by its basename, owners kept. */
function tarOut({ TarWriter, packDir }: typeof Pack, n: NativeBinding, srcFd: number, st: fs.Stats, name: string): void {
  const fdPath = `/proc/self/fd/${srcFd}`;
  if (st.isDirectory()) {
    packDir(fdPath, 1, { native: n, overlayWhiteouts: false, prefix: name });
    return;
  }
  const tar = new TarWriter(1);
  const base = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0, mtimeSec: Math.floor(st.mtimeMs / 1000), mtimeNsec: 0 };
  if (st.isSymbolicLink()) {
    tar.add({ ...base, type: 'symlink', linkname: fs.readlinkSync(fdPath) });
  } else if (st.isFile()) {
    const fd = fs.openSync(fdPath, fs.constants.O_RDONLY);
    try {
      tar.addFromFd({ ...base, type: 'file', size: fs.fstatSync(fd).size }, fd);
    } finally {
      fs.closeSync(fd);
    }
  } else {
    throw new UsageError(`${name} is neither a file, a directory nor a symlink`);
  }
  tar.finish();
}

/** Where on the host a copy of src goes (docker cp's rules). */
function hostTarget(dest: string, src: string, srcIsDir: boolean): string {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dest);
  } catch {
    st = undefined;
  }
  if (st?.isDirectory()) return srcIsDir && contentsOnly(src) ? dest : path.join(dest, path.posix.basename(path.posix.normalize(`/${src}`)) || '.');
  if (st && srcIsDir) throw new UsageError(`cannot copy a directory to the file ${dest}`);
  if (!st && dest.endsWith('/') && !srcIsDir) throw new UsageError(`destination directory ${dest} does not exist`);
  if (!st && !fs.existsSync(path.dirname(path.resolve(dest)))) throw new UsageError(`destination directory ${path.dirname(path.resolve(dest))} does not exist`);
  return dest;
}

/** The entry behind srcFd (O_PATH) to hostPath; a directory through a TreeReader that never leaves it. */
function copyOut(n: NativeBinding, srcFd: number, st: fs.Stats, hostPath: string, opts: CopyOptions): void {
  if (!st.isDirectory()) {
    // A single non-directory: reopened through its own fd, so nothing is looked up again.
    copyEntryOut(n, `/proc/self/fd/${srcFd}`, st, hostPath, opts, () => fs.readlinkSync(`/proc/self/fd/${srcFd}`));
    return;
  }
  const reader = new TreeReader(n, `/proc/self/fd/${srcFd}`);
  try {
    const walk = (rel: string, to: string, dirSt: { mode: number; uid: number; gid: number }) => {
      fs.mkdirSync(to, { recursive: true });
      for (const e of reader.readdir(rel)) {
        const childRel = rel === '' ? e.name : `${rel}/${e.name}`;
        const childSt = reader.lstat(childRel);
        const childTo = path.join(to, e.name);
        const small = { mode: Number(childSt.mode), uid: Number(childSt.uid), gid: Number(childSt.gid) };
        if (childSt.isDirectory()) {
          walk(childRel, childTo, small);
        } else if (childSt.isFile()) {
          const fd = reader.open(childRel, n.constants.O_RDONLY);
          try {
            writeHostFile(fd, childTo, small.mode);
          } finally {
            n.closeFd({ fd });
          }
          ownHost(childTo, small, opts);
        } else if (childSt.isSymbolicLink()) {
          replaceHost(childTo);
          fs.symlinkSync(reader.readlink(childRel), childTo);
          ownHost(childTo, small, opts);
        } else {
          makeSpecial(n, childTo, childSt);
          ownHost(childTo, small, opts);
        }
      }
      fs.chmodSync(to, dirSt.mode & 0o7777);
      ownHost(to, dirSt, opts);
    };
    walk('', hostPath, { mode: st.mode, uid: st.uid, gid: st.gid });
  } finally {
    reader.close();
  }
}

function copyEntryOut(n: NativeBinding, fdPath: string, st: fs.Stats, hostPath: string, opts: CopyOptions, readlink: () => string): void {
  if (st.isSymbolicLink()) {
    replaceHost(hostPath);
    fs.symlinkSync(readlink(), hostPath);
  } else if (st.isFile()) {
    // The O_PATH fd names the file itself (opened O_NOFOLLOW): reopening it through /proc looks nothing up.
    const fd = fs.openSync(fdPath, fs.constants.O_RDONLY);
    try {
      writeHostFile(fd, hostPath, st.mode);
    } finally {
      fs.closeSync(fd);
    }
  } else {
    makeSpecial(n, hostPath, st);
  }
  ownHost(hostPath, st, opts);
}

function writeHostFile(srcFd: number, to: string, mode: number): void {
  replaceHost(to, true);
  const out = fs.openSync(to, 'w', mode & 0o7777);
  try {
    const buf = Buffer.allocUnsafe(256 * 1024);
    for (;;) {
      const got = fs.readSync(srcFd, buf, 0, buf.length, null);
      if (got === 0) break;
      fs.writeSync(out, buf, 0, got);
    }
    fs.fchmodSync(out, mode & 0o7777);
  } finally {
    fs.closeSync(out);
  }
}

/** An existing entry in the way is replaced, as tar does (a regular file is just overwritten). */
function replaceHost(to: string, keepFile = false): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(to);
  } catch {
    return;
  }
  if (st.isDirectory()) throw new UsageError(`cannot overwrite the directory ${to} with a non-directory`);
  if (!(keepFile && st.isFile())) fs.unlinkSync(to);
}

function makeSpecial(n: NativeBinding, to: string, st: { mode: number | bigint; rdev: number | bigint }): void {
  replaceHost(to);
  n.mknodat({ dirFd: AT_FDCWD, name: to, mode: Number(st.mode), ...devNumbers(st.rdev) });
}

function ownHost(to: string, st: { uid: number; gid: number }, opts: CopyOptions): void {
  if (opts.archive) fs.lchownSync(to, st.uid, st.gid);
}

/**
 * Fills an empty volume's host directory from the image's directory at the
 * volume's target (docker's copy-up of a new volume), owners and modes
 * kept, read in-root and never through a symlink. Nothing when the target
 * is missing or not a directory.
 */
export function fillFromImage(n: NativeBinding, root: string, target: string, hostDir: string): void {
  const c = n.constants;
  const rootFd = n.openat2({ dirFd: AT_FDCWD, path: root, flags: c.O_PATH | c.O_DIRECTORY, resolve: 0 });
  let fd = -1;
  try {
    fd = n.openat2({ dirFd: rootFd, path: inRoot(target), flags: c.O_PATH | c.O_DIRECTORY, resolve: c.RESOLVE_IN_ROOT | c.RESOLVE_NO_MAGICLINKS });
    copyOut(n, fd, fs.fstatSync(fd), hostDir, { archive: true, followLink: false });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
  } finally {
    if (fd >= 0) n.closeFd({ fd });
    n.closeFd({ fd: rootFd });
  }
}

/**
 * `cp - CONTAINER:DEST`: a tar on standard input unpacked into the existing
 * directory DEST, by the layer unpacker (every entry written beneath the
 * directory's fd, never through a symlink; `..`, absolute names and links
 * out refused) with `.wh.` names taken as ordinary files. Owners as the tar has them.
 */
export async function untarToContainer(ctx: Context, id: string, dest: string): Promise<void> {
  const n = ctx.native;
  const c = n.constants;
  const { unpackLayer } = await import('../store/unpack.js');
  await withContainerRoot(ctx, id, 'write', async (rootFd, ctr) => {
    let fd: number;
    try {
      fd = n.openat2({ dirFd: rootFd, path: inRoot(dest), flags: c.O_PATH | c.O_DIRECTORY, resolve: c.RESOLVE_IN_ROOT | c.RESOLVE_NO_MAGICLINKS });
    } catch (err) {
      throw new UsageError(`destination directory ${dest} does not exist in container ${ctr}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    try {
      await unpackLayer({ source: process.stdin, mediaType: '', diffDir: `/proc/self/fd/${fd}`, native: n, whiteouts: false });
    } finally {
      n.closeFd({ fd });
    }
  });
}

/** `cp HOSTSRC CONTAINER:DEST` */
export async function copyToContainer(ctx: Context, id: string, src: string, dest: string, opts: CopyOptions): Promise<void> {
  const n = ctx.native;
  const c = n.constants;
  let srcSt: fs.Stats;
  try {
    srcSt = opts.followLink ? fs.statSync(src) : fs.lstatSync(src);
  } catch (err) {
    throw new UsageError(`cannot read ${src}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  await withContainerRoot(ctx, id, 'write', (rootFd, ctr) => {
    const resolve = c.RESOLVE_IN_ROOT | c.RESOLVE_NO_MAGICLINKS;
    // The destination decides like docker's: an existing directory receives src by name ("SRC/." its contents).
    let destDirFd = -1;
    let name: string;
    try {
      destDirFd = n.openat2({ dirFd: rootFd, path: inRoot(dest), flags: c.O_PATH | c.O_DIRECTORY, resolve });
      name = srcSt.isDirectory() && contentsOnly(src) ? '' : path.basename(path.resolve(src));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new RuntimeError(`cannot open ${dest} in container ${ctr}: ${code}`);
      if (code === 'ENOTDIR' && srcSt.isDirectory()) throw new UsageError(`cannot copy a directory to the file ${dest} in container ${ctr}`);
      if (code === 'ENOENT' && dest.endsWith('/') && !srcSt.isDirectory()) throw new UsageError(`destination directory ${dest} does not exist in container ${ctr}`);
      const parent = path.posix.dirname(path.posix.normalize(`/${dest}`));
      try {
        destDirFd = n.openat2({ dirFd: rootFd, path: inRoot(parent), flags: c.O_PATH | c.O_DIRECTORY, resolve });
      } catch {
        throw new UsageError(`destination directory ${parent} does not exist in container ${ctr}`);
      }
      name = path.posix.basename(path.posix.normalize(`/${dest}`));
    }
    try {
      const writer = new InContainerWriter(n, opts);
      if (name === '') writer.copyChildren(destDirFd, src);
      else writer.copy(destDirFd, name, src, srcSt);
    } finally {
      n.closeFd({ fd: destDirFd });
    }
  });
}

/** Writes host files under an open container directory, one name at a time, never through a symlink. */
class InContainerWriter {
  private readonly beneath: number;

  constructor(
    private readonly n: NativeBinding,
    private readonly opts: CopyOptions,
  ) {
    const c = n.constants;
    this.beneath = c.RESOLVE_BENEATH | c.RESOLVE_NO_SYMLINKS | c.RESOLVE_NO_MAGICLINKS;
  }

  copyChildren(dirFd: number, hostDir: string): void {
    for (const e of fs.readdirSync(hostDir)) {
      const p = path.join(hostDir, e);
      this.copy(dirFd, e, p, fs.lstatSync(p));
    }
  }

  copy(dirFd: number, name: string, hostPath: string, st: fs.Stats): void {
    const n = this.n;
    const c = n.constants;
    if (st.isDirectory()) {
      try {
        n.mkdirat({ dirFd, name, mode: 0o700 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      // O_DIRECTORY | O_NOFOLLOW beneath dirFd: an existing symlink in the way is refused (ELOOP), not followed.
      const child = n.openat2({ dirFd, path: name, flags: c.O_PATH | c.O_DIRECTORY | c.O_NOFOLLOW, resolve: this.beneath });
      try {
        this.copyChildren(child, hostPath);
        fs.chmodSync(`/proc/self/fd/${child}`, st.mode & 0o7777);
      } finally {
        n.closeFd({ fd: child });
      }
    } else if (st.isFile()) {
      this.removeNonFile(dirFd, name);
      const fd = n.openat2({ dirFd, path: name, flags: c.O_WRONLY | c.O_CREAT | c.O_TRUNC | c.O_NOFOLLOW, mode: 0o600, resolve: this.beneath });
      try {
        const data = fs.readFileSync(hostPath);
        fs.writeSync(fd, data);
        fs.fchmodSync(fd, st.mode & 0o7777);
      } finally {
        n.closeFd({ fd });
      }
    } else if (st.isSymbolicLink()) {
      this.remove(dirFd, name);
      n.symlinkat({ target: fs.readlinkSync(hostPath), dirFd, name });
    } else {
      this.remove(dirFd, name);
      n.mknodat({ dirFd, name, mode: st.mode, ...devNumbers(st.rdev) });
    }
    // Copies belong to the container's root unless -a keeps the host's owner (docker's rule).
    n.fchownat({ dirFd, name, uid: this.opts.archive ? st.uid : 0, gid: this.opts.archive ? st.gid : 0 });
    // chown clears setuid and setgid: the mode goes on again after it.
    if (!st.isSymbolicLink() && (st.mode & 0o6000) !== 0) {
      const fd = n.openat2({ dirFd, path: name, flags: c.O_PATH | c.O_NOFOLLOW, resolve: this.beneath });
      try {
        fs.chmodSync(`/proc/self/fd/${fd}`, st.mode & 0o7777);
      } finally {
        n.closeFd({ fd });
      }
    }
  }

  /** A symlink or special file in the way of a regular file goes first (a file is overwritten in place). */
  private removeNonFile(dirFd: number, name: string): void {
    const st = this.lstatAt(dirFd, name);
    if (st && !st.isFile()) this.remove(dirFd, name);
  }

  private remove(dirFd: number, name: string): void {
    const st = this.lstatAt(dirFd, name);
    if (!st) return;
    if (st.isDirectory()) throw new UsageError(`cannot overwrite the directory ${name} in the container with a non-directory`);
    this.n.unlinkat({ dirFd, name, isDir: false });
  }

  private lstatAt(dirFd: number, name: string): fs.Stats | undefined {
    try {
      return fs.lstatSync(`/proc/self/fd/${dirFd}/${name}`);
    } catch {
      return undefined;
    }
  }
}
