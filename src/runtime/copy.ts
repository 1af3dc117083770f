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
import { type ContainerRecord, readRecord, readRuntime } from './state/record.js';
import { isAlive } from './state/liveness.js';
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

/**
 * Runs fn with an O_PATH fd of the container's root as its process sees it
 * when it has one (no user namespace): /proc/PID/root, its volumes, binds
 * and /etc/hosts, hostname and resolv.conf included, as docker's cp. A
 * stopped container's is its union (withUnion), where a path on one of its
 * mounts is refused: it would land in the layer under the mount, unseen.
 */
async function withContainerRoot<T>(ctx: Context, id: string, access: 'read' | 'write', src: string, fn: (rootFd: number, name: string) => T | Promise<T>): Promise<T> {
  const p = ctx.paths;
  return withLock(ctx.native, containerLockFile(p, id), async () => {
    const rec = readRecord(p, id);
    if (!rec) throw new RuntimeError(`container ${id} disappeared`);
    const rt = readRuntime(p, id);
    const pid = currentState(p, rec).pid;
    if (pid > 0 && rt?.pidStartTime && rec.options.idMappings === undefined) {
      const rootFd = openProcessRoot(ctx.native, pid, rt.pidStartTime);
      if (rootFd >= 0) {
        try {
          return await fn(rootFd, rec.name);
        } finally {
          ctx.native.closeFd({ fd: rootFd });
        }
      }
    }
    const mount = mountHolding(rec, src);
    if (mount) throw new UsageError(`${src} is on the ${mount} of container ${rec.name}, which is mounted only while it runs: start it to copy there`);
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

/**
 * /proc/PID/root of the process that has this start time, or -1 if it is
 * gone: checked on a pidfd after the open, so a pid reused meanwhile is
 * never taken for it.
 */
function openProcessRoot(n: NativeBinding, pid: number, startTime: string): number {
  const c = n.constants;
  const pidfd = n.pidfdOpen({ pid });
  if (pidfd < 0) return -1;
  try {
    if (!isAlive(pid, startTime)) return -1;
    const rootFd = n.openat2({ dirFd: AT_FDCWD, path: `/proc/${pid}/root`, flags: c.O_PATH | c.O_DIRECTORY, resolve: 0 });
    if (isAlive(pid, startTime)) return rootFd;
    n.closeFd({ fd: rootFd });
    return -1;
  } finally {
    n.closeFd({ fd: pidfd });
  }
}

/** The container's mount (a volume, a bind, its hosts/hostname/resolv.conf) that holds the path src, by its name; undefined if none. */
function mountHolding(rec: ContainerRecord, src: string): string | undefined {
  const at = path.posix.normalize(`/${src}`);
  const under = (target: string) => at === target || at.startsWith(target === '/' ? '/' : `${target}/`);
  for (const m of rec.options.mounts ?? []) if (under(path.posix.normalize(m.target))) return `${m.type} mount at ${m.target}`;
  for (const f of ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf']) if (at === f) return `bind mount at ${f}`;
  return undefined;
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
  await withContainerRoot(ctx, id, 'read', src, (rootFd, ctr) => {
    const rel = inRoot(src);
    const resolve = c.RESOLVE_IN_ROOT | c.RESOLVE_NO_MAGICLINKS;
    let srcFd: number;
    try {
      srcFd = n.openat2({ dirFd: rootFd, path: rel, flags: c.O_PATH | (opts.followLink ? 0 : c.O_NOFOLLOW), resolve });
    } catch (err) {
      throw new RuntimeError(`could not find ${src} in container ${ctr}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    // A symlink's own text, read by name in its directory: readlink of /proc/self/fd/N would give the fd's host path instead.
    const readlink = () => {
      const parent = n.openat2({ dirFd: rootFd, path: inRoot(path.posix.dirname(`/${rel}`)), flags: c.O_PATH | c.O_DIRECTORY, resolve });
      try {
        return fs.readlinkSync(`/proc/self/fd/${parent}/${path.posix.basename(`/${rel}`)}`);
      } finally {
        n.closeFd({ fd: parent });
      }
    };
    try {
      const st = fs.fstatSync(srcFd);
      if (pack) tarOut(pack, n, srcFd, st, path.posix.basename(path.posix.normalize(`/${src}`)) || '.', readlink);
      else copyOut(n, srcFd, st, hostTarget(dest, src, st.isDirectory()), readlink, opts);
    } finally {
      n.closeFd({ fd: srcFd });
    }
  });
}

/** docker cp's `-`: a tar of the entry on standard output, named by its basename, owners kept. */
function tarOut({ TarWriter, packDir }: typeof Pack, n: NativeBinding, srcFd: number, st: fs.Stats, name: string, readlink: () => string): void {
  const fdPath = `/proc/self/fd/${srcFd}`;
  if (st.isDirectory()) {
    packDir(fdPath, 1, { native: n, overlayWhiteouts: false, prefix: name });
    return;
  }
  const tar = new TarWriter(1);
  const base = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0, mtimeSec: Math.floor(st.mtimeMs / 1000), mtimeNsec: 0 };
  if (st.isSymbolicLink()) {
    tar.add({ ...base, type: 'symlink', linkname: readlink() });
  } else if (st.isFile()) {
    // The O_PATH fd names a regular file (fstat said so): reopening it through /proc looks nothing up.
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

/**
 * The entry behind srcFd (O_PATH) to hostPath. hostPath itself is the
 * user's (its symlinks followed, as cp's); what is written in it goes
 * beneath its fd (BeneathWriter), read through a TreeReader that never
 * leaves the source: neither side of a copy can be redirected by a
 * container changing its tree meanwhile. Device nodes land root-only.
 */
function copyOut(n: NativeBinding, srcFd: number, st: fs.Stats, hostPath: string, readlink: () => string, opts: CopyOptions): void {
  const writer = new BeneathWriter(n, opts.archive ? (s) => s : () => undefined, 'root-only');
  if (!st.isDirectory()) {
    const parent = openHostDir(n, path.dirname(path.resolve(hostPath)));
    try {
      const name = path.basename(path.resolve(hostPath));
      if (st.isSymbolicLink()) writer.symlink(parent, name, readlink(), st);
      else if (st.isFile()) writer.file(parent, name, st, (out) => copyData(fs.openSync(`/proc/self/fd/${srcFd}`, fs.constants.O_RDONLY), out, true));
      else writer.special(parent, name, st);
    } finally {
      n.closeFd({ fd: parent });
    }
    return;
  }
  fs.mkdirSync(hostPath, { recursive: true });
  copyTree(n, writer, `/proc/self/fd/${srcFd}`, openHostDir(n, hostPath), st);
}

/** An O_PATH fd of a host directory given by path (tsrun's own, or the user's). */
function openHostDir(n: NativeBinding, dir: string): number {
  const c = n.constants;
  return n.openat2({ dirFd: AT_FDCWD, path: dir, flags: c.O_PATH | c.O_DIRECTORY, resolve: 0 });
}

/**
 * Everything below `top` into the directory `topFd` (closed here), then
 * topFd takes top's mode. An entry that vanishes or changes kind while the
 * source is live (a running container) is left out, as tar does.
 */
function copyTree(n: NativeBinding, writer: BeneathWriter, top: string, topFd: number, topSt: Owned): void {
  const reader = new TreeReader(n, top);
  const walk = (rel: string, dirFd: number, dirSt: Owned) => {
    for (const e of reader.readdir(rel)) {
      const childRel = rel === '' ? e.name : `${rel}/${e.name}`;
      try {
        const big = reader.lstat(childRel);
        const st: Owned = { mode: Number(big.mode), uid: Number(big.uid), gid: Number(big.gid), rdev: Number(big.rdev) };
        if (big.isDirectory()) {
          const fd = writer.dir(dirFd, e.name);
          try {
            walk(childRel, fd, st);
          } finally {
            n.closeFd({ fd });
          }
        } else if (big.isFile()) {
          const src = reader.openFile(childRel);
          if (src !== undefined) writer.file(dirFd, e.name, st, (out) => copyData(src, out, true));
        } else if (big.isSymbolicLink()) {
          writer.symlink(dirFd, e.name, reader.readlink(childRel), st);
        } else {
          writer.special(dirFd, e.name, st);
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    writer.finishDir(dirFd, dirSt);
  };
  try {
    walk('', topFd, topSt);
  } finally {
    reader.close();
    n.closeFd({ fd: topFd });
  }
}

/** All of src (closed after if `closeSrc`) into out, from where each stands. */
function copyData(src: number, out: number, closeSrc: boolean): void {
  try {
    const buf = Buffer.allocUnsafe(256 * 1024);
    for (;;) {
      const got = fs.readSync(src, buf, 0, buf.length, null);
      if (got === 0) break;
      fs.writeSync(out, buf, 0, got);
    }
  } finally {
    if (closeSrc) fs.closeSync(src);
  }
}

/**
 * Fills an empty volume's host directory from the image's directory at the
 * volume's target (docker's copy-up of a new volume), owners and modes
 * kept, read in-root and never through a symlink, and written beneath the
 * volume's fd: another container sharing the volume may be changing it.
 * Nothing when the target is missing or not a directory.
 */
export function fillFromImage(n: NativeBinding, root: string, target: string, hostDir: string): void {
  const c = n.constants;
  const rootFd = openHostDir(n, root);
  let fd: number;
  try {
    fd = n.openat2({ dirFd: rootFd, path: inRoot(target), flags: c.O_PATH | c.O_DIRECTORY, resolve: c.RESOLVE_IN_ROOT | c.RESOLVE_NO_MAGICLINKS });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw err;
  } finally {
    n.closeFd({ fd: rootFd });
  }
  try {
    copyTree(n, new BeneathWriter(n, (s) => s, 'as-is'), `/proc/self/fd/${fd}`, openHostDir(n, hostDir), fs.fstatSync(fd));
  } finally {
    n.closeFd({ fd });
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
  await withContainerRoot(ctx, id, 'write', dest, async (rootFd, ctr) => {
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
  await withContainerRoot(ctx, id, 'write', dest, (rootFd, ctr) => {
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
      // Copies belong to the container's root unless -a keeps the host's owner (docker's rule).
      const writer = new BeneathWriter(n, (st) => (opts.archive ? st : { uid: 0, gid: 0 }), 'as-is');
      if (name === '') copyHostChildren(writer, destDirFd, src);
      else copyHostEntry(writer, destDirFd, name, src, srcSt);
    } finally {
      n.closeFd({ fd: destDirFd });
    }
  });
}

function copyHostChildren(writer: BeneathWriter, dirFd: number, hostDir: string): void {
  for (const e of fs.readdirSync(hostDir)) {
    const p = path.join(hostDir, e);
    copyHostEntry(writer, dirFd, e, p, fs.lstatSync(p));
  }
}

/** A host entry (the user's own files, read by path) into dirFd as `name`. */
function copyHostEntry(writer: BeneathWriter, dirFd: number, name: string, hostPath: string, st: fs.Stats): void {
  if (st.isDirectory()) {
    const fd = writer.dir(dirFd, name);
    try {
      copyHostChildren(writer, fd, hostPath);
      writer.finishDir(fd, st);
    } finally {
      writer.n.closeFd({ fd });
    }
  } else if (st.isFile()) {
    writer.file(dirFd, name, st, (out) => copyData(fs.openSync(hostPath, 'r'), out, true));
  } else if (st.isSymbolicLink()) {
    writer.symlink(dirFd, name, fs.readlinkSync(hostPath), st);
  } else {
    writer.special(dirFd, name, st);
  }
}

/** What a writer needs of an entry's stat. */
interface Owned {
  mode: number;
  uid: number;
  gid: number;
  rdev?: number;
}

/**
 * Writes entries beneath an open directory, one name at a time: made with
 * *at calls on directory fds, opened with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS) and O_NOFOLLOW, so whoever else can change that tree
 * meanwhile (the running container of a `cp` in, another container sharing
 * a volume being filled, one sharing a host dir a `cp` out lands in) cannot
 * make a write land outside it. `owner` says whose a copy becomes
 * (undefined: the caller's). 'root-only' device nodes (a copy out to the
 * host) are made 0600 and left root's: a container must not hand the host's
 * users a readable copy of, say, /dev/mem.
 */
class BeneathWriter {
  private readonly beneath: number;

  constructor(
    readonly n: NativeBinding,
    private readonly owner: (st: Owned) => { uid: number; gid: number } | undefined,
    private readonly devices: 'as-is' | 'root-only',
  ) {
    const c = n.constants;
    this.beneath = c.RESOLVE_BENEATH | c.RESOLVE_NO_SYMLINKS | c.RESOLVE_NO_MAGICLINKS;
  }

  /** name as a directory (made if missing; finishDir sets its mode): its O_PATH fd, which the caller closes. */
  dir(dirFd: number, name: string): number {
    const c = this.n.constants;
    try {
      this.n.mkdirat({ dirFd, name, mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    // O_DIRECTORY | O_NOFOLLOW beneath dirFd: an existing symlink in the way is refused (ENOTDIR), not followed.
    try {
      return this.n.openat2({ dirFd, path: name, flags: c.O_PATH | c.O_DIRECTORY | c.O_NOFOLLOW, resolve: this.beneath });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTDIR') throw err;
      const link = fs.lstatSync(`/proc/self/fd/${dirFd}/${name}`).isSymbolicLink();
      throw new RuntimeError(link ? `refusing to copy through the symlink ${name}: a directory goes there` : `cannot overwrite the non-directory ${name} with a directory`);
    }
  }

  /** A directory's owner and mode, once its entries are in (a read-only one could not take them after). */
  finishDir(fd: number, st: Owned): void {
    this.chown(fd, '', st);
    fs.chmodSync(`/proc/self/fd/${fd}`, st.mode & 0o7777);
  }

  file(dirFd: number, name: string, st: Owned, fill: (fd: number) => void): void {
    const c = this.n.constants;
    this.removeUnless(dirFd, name, 'file');
    const fd = this.n.openat2({ dirFd, path: name, flags: c.O_WRONLY | c.O_CREAT | c.O_TRUNC | c.O_NOFOLLOW, mode: 0o600, resolve: this.beneath });
    try {
      fill(fd);
      this.chown(fd, '', st);
      // After the chown, which clears setuid and setgid.
      fs.fchmodSync(fd, st.mode & 0o7777);
    } finally {
      this.n.closeFd({ fd });
    }
  }

  symlink(dirFd: number, name: string, target: string, st: Owned): void {
    this.removeUnless(dirFd, name);
    this.n.symlinkat({ target, dirFd, name });
    this.chown(dirFd, name, st);
  }

  /** A device node, FIFO or socket. */
  special(dirFd: number, name: string, st: Owned): void {
    const S_IFMT = 0o170000;
    const device = (st.mode & S_IFMT) === 0o020000 || (st.mode & S_IFMT) === 0o060000;
    this.removeUnless(dirFd, name);
    if (device && this.devices === 'root-only') {
      this.n.mknodat({ dirFd, name, mode: (st.mode & S_IFMT) | 0o600, ...devNumbers(st.rdev ?? 0) });
      return;
    }
    this.n.mknodat({ dirFd, name, mode: st.mode, ...devNumbers(st.rdev ?? 0) });
    this.chown(dirFd, name, st);
    if ((st.mode & 0o6000) !== 0) {
      const c = this.n.constants;
      const fd = this.n.openat2({ dirFd, path: name, flags: c.O_PATH | c.O_NOFOLLOW, resolve: this.beneath });
      try {
        fs.chmodSync(`/proc/self/fd/${fd}`, st.mode & 0o7777);
      } finally {
        this.n.closeFd({ fd });
      }
    }
  }

  private chown(dirFd: number, name: string, st: Owned): void {
    const to = this.owner(st);
    if (to) this.n.fchownat({ dirFd, name, uid: to.uid, gid: to.gid });
  }

  /** What is in the way goes first, as tar does (a regular file where one is wanted is overwritten in place); never a directory. */
  private removeUnless(dirFd: number, name: string, keep?: 'file'): void {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(`/proc/self/fd/${dirFd}/${name}`);
    } catch {
      return;
    }
    if (keep === 'file' && st.isFile()) return;
    if (st.isDirectory()) throw new UsageError(`cannot overwrite the directory ${name} with a non-directory`);
    this.n.unlinkat({ dirFd, name, isDir: false });
  }
}
