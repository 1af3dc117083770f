import * as fs from 'node:fs';
import * as path from 'node:path';
import { RuntimeError, UsageError } from '../errors.js';
import { logger } from '../log.js';
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
import type { MountSpec } from './plan/run-flags.js';
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
 * The host side is written the same way (BeneathWriter), and only regular
 * files are ever opened for reading. A running container is copied as it
 * sees itself (its volumes and binds too, never its kernel filesystems); a
 * stopped one through its union, its writes landing in the rw layer.
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
  mountLayer(ctx.native, p, rec.rwLayerId, { readOnly: inUserns });
  try {
    return await fn(merged);
  } finally {
    unmountLayer(ctx.native, p, rec.rwLayerId);
  }
}

/**
 * Runs fn with an O_PATH fd of the container's root as its process sees it
 * when it has one (no user namespace): /proc/PID/root, its volumes, binds
 * and /etc/hosts, hostname and resolv.conf included, as docker's cp; and
 * the path to copy at, src. A stopped container's root is its union
 * (withUnion); a path on one of its volumes or directory binds goes to that
 * directory on the host instead, with the rest of the path (what docker's
 * cp mounts for it), never to the layer under the mount, unseen. Its
 * tmpfs and file binds have nothing there to copy. That path is src with
 * its symlinks followed as the copy will follow them: the last one if
 * followLast, or, for 'directory', if it leads to one.
 */
async function withContainerRoot<T>(
  ctx: Context,
  id: string,
  access: 'read' | 'write',
  src: string,
  followLast: boolean | 'directory',
  fn: (rootFd: number, name: string, at: string) => T | Promise<T>,
): Promise<T> {
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
          return await fn(rootFd, rec.name, src);
        } finally {
          ctx.native.closeFd({ fd: rootFd });
        }
      }
    }
    return withUnion(ctx, rec, access, async (merged) => {
      const c = ctx.native.constants;
      let rootFd = ctx.native.openat2({ dirFd: AT_FDCWD, path: merged, flags: c.O_PATH | c.O_DIRECTORY, resolve: 0 });
      try {
        const at = followLast === 'directory' ? destinationInRoot(rootFd, src) : resolvedInRoot(rootFd, src, followLast);
        const held = mountHolding(rec, rootFd, at);
        if (!held) return await fn(rootFd, rec.name, src);
        const { mount, target } = held;
        const what = `the ${mount?.type ?? 'bind'} mount at ${mount?.target ?? target} of container ${rec.name}`;
        if (!mount?.hostPath || mount.type === 'tmpfs') throw new UsageError(`${src} is on ${what}, which is there only while it runs: start it to copy there`);
        if (access === 'write' && mount.readonly) throw new UsageError(`${src} is on ${what}, which is read-only`);
        ctx.native.closeFd({ fd: rootFd });
        rootFd = -1;
        try {
          rootFd = ctx.native.openat2({ dirFd: AT_FDCWD, path: mount.hostPath, flags: c.O_PATH | c.O_DIRECTORY, resolve: 0 });
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOTDIR') throw new UsageError(`${src} is on ${what}, a file bind: copy to or from ${mount.hostPath} on the host`);
          throw new RuntimeError(`cannot open ${mount.hostPath} for ${what}: ${code ?? (err as Error).message}`);
        }
        const rest = at.slice(target.length) || '/';
        refuseLinksOnHostDir(rootFd, rest, followLast !== false, () => `${src} goes through a symlink on ${what} that leads out of it: while it is stopped such links are not followed (they name the container's files, not the host's): start it, or name the path without the link`);
        return await fn(rootFd, rec.name, rest);
      } finally {
        if (rootFd >= 0) ctx.native.closeFd({ fd: rootFd });
      }
    });
  });
}

/**
 * A stopped container's volume or bind directory, reached on the host: a
 * symlink on the way (or at the end, where the copy would follow it) that
 * leads out of the directory is refused. There it would be resolved
 * beneath the directory, which is not what it means in the container (an
 * absolute link names the container's root, .. past the directory its
 * parent); a relative link that stays inside resolves the same either
 * way. A name that is not there is left for the copy to report.
 */
function refuseLinksOnHostDir(dirFd: number, rest: string, followLast: boolean, message: () => string): void {
  let todo = rest.split('/').filter((p) => p !== '' && p !== '.');
  const at: string[] = [];
  for (let hops = 0; todo.length > 0; ) {
    const name = todo.shift()!;
    if (name === '..') {
      if (at.length === 0) throw new UsageError(message());
      at.pop();
      continue;
    }
    const here = `/proc/self/fd/${dirFd}/${[...at, name].join('/')}`;
    const st = fs.lstatSync(here, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isSymbolicLink() && (todo.length > 0 || followLast)) {
      const target = fs.readlinkSync(here);
      // 40: the kernel's own bound on links in one lookup (ELOOP).
      if (target.startsWith('/') || ++hops > 40) throw new UsageError(message());
      todo = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...todo];
      continue;
    }
    at.push(name);
  }
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

/**
 * The container's mount (a volume, a bind, a tmpfs; or, mount undefined, one
 * of its hosts/hostname/resolv.conf files) that holds the resolved path at,
 * and where it lands (its target with its symlinks followed in the root, as
 * at each start); undefined if none. The last of those holding it, as the
 * last mounted covers the others.
 */
function mountHolding(rec: ContainerRecord, rootFd: number, at: string): { mount?: MountSpec; target: string } | undefined {
  const under = (target: string) => {
    const t = resolvedInRoot(rootFd, target, true);
    return at === t || at.startsWith(t === '/' ? '/' : `${t}/`) ? t : undefined;
  };
  for (const f of ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf']) {
    const target = under(f);
    if (target !== undefined) return { target };
  }
  let held: { mount: MountSpec; target: string } | undefined;
  for (const m of rec.options.mounts ?? []) {
    const target = under(m.target);
    if (target !== undefined && (!held || target.length >= held.target.length)) held = { mount: m, target };
  }
  return held;
}

/**
 * The path p names in the container once its symlinks are followed in its
 * root, name by name as far as it exists, the rest as written (a dangling
 * link's target too); its last name is followed if followLast or if p ends
 * in /. p's own `..` are taken as written first (the copy cleans p so,
 * inRoot); a link's, from where the link leads, as the kernel does; none
 * climbs out of the root. What a mount check must see: with /link →
 * /data, /link/f is on /data's volume. For a stopped container, under its
 * lock: nothing changes the tree meanwhile.
 */
function resolvedInRoot(rootFd: number, p: string, followLast: boolean): string {
  const names = (s: string) => s.split('/').filter((x) => x !== '' && x !== '.');
  const clean = path.posix.normalize(`/${p}`);
  const todo = names(clean);
  const followFinal = followLast || clean.endsWith('/');
  const done: string[] = [];
  // The kernel's MAXSYMLINKS: past it the copy itself fails (ELOOP); the rest is then taken as written.
  for (let links = 0; todo.length > 0 && links < 40; ) {
    const name = todo.shift()!;
    if (name === '..') {
      done.pop();
      continue;
    }
    let text: string | undefined;
    try {
      // done holds no symlink: the walk below the root's fd follows none but this one, read, not followed.
      if (todo.length > 0 || followFinal) text = fs.readlinkSync(`/proc/self/fd/${rootFd}/${[...done, name].join('/')}`);
    } catch {
      text = undefined; // not a symlink, or not there
    }
    if (text === undefined) {
      done.push(name);
      continue;
    }
    links++;
    if (text.startsWith('/')) done.length = 0;
    todo.unshift(...names(text));
  }
  return path.posix.normalize(`/${[...done, ...todo].join('/')}`);
}

/** Where a copy into the container lands: DEST itself when it is (or leads to) a directory, else its last name in its parent. */
function destinationInRoot(rootFd: number, dest: string): string {
  const followed = resolvedInRoot(rootFd, dest, true);
  try {
    if (fs.statSync(`/proc/self/fd/${rootFd}${followed}`).isDirectory()) return followed;
  } catch {
    // not there: the copy makes it, by its name
  }
  return resolvedInRoot(rootFd, dest, false);
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
  await withContainerRoot(ctx, id, 'read', src, opts.followLink, (rootFd, ctr, at) => {
    const rel = inRoot(at);
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
      // Seen through /proc/PID/root, a running container's /proc and /sys are there too: kernel state, not its files.
      if (isPseudoFs(n, srcFd)) throw new UsageError(`cannot copy ${src} out of container ${ctr}: it is on a kernel filesystem (proc, sysfs, ...), not one of the container's files`);
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
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR' && dest.endsWith('/')) throw new UsageError(`destination ${dest} is not a directory`);
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
  // Without -a the copies are the caller's: a container's setuid file must not become a setuid-root one here.
  const writer = new BeneathWriter(n, opts.archive ? (s) => s : () => undefined, { devices: 'root-only', setid: opts.archive });
  if (!st.isDirectory()) {
    const parent = openHostDir(n, path.dirname(path.resolve(hostPath)));
    try {
      const name = path.basename(path.resolve(hostPath));
      if (st.isSymbolicLink()) writer.symlink(parent, name, readlink(), st);
      else if (st.isFile()) writer.file(parent, name, st, fs.openSync(`/proc/self/fd/${srcFd}`, fs.constants.O_RDONLY));
      else writer.special(parent, name, st);
    } finally {
      n.closeFd({ fd: parent });
    }
    return;
  }
  fs.mkdirSync(hostPath, { recursive: true });
  const reader = new TreeReader(n, `/proc/self/fd/${srcFd}`);
  try {
    copyTree(n, writer, reader, openHostDir(n, hostPath), st);
  } finally {
    reader.close();
  }
}

/** An O_PATH fd of a host directory given by path (tsrun's own, or the user's). */
function openHostDir(n: NativeBinding, dir: string): number {
  const c = n.constants;
  return n.openat2({ dirFd: AT_FDCWD, path: dir, flags: c.O_PATH | c.O_DIRECTORY, resolve: 0 });
}

/**
 * Everything `reader` holds into the directory `topFd` (closed here), then
 * topFd takes topSt's owner and mode (none: it keeps its own). An entry that vanishes or changes kind while
 * the source is live (a running container) is left out, as tar does, and so
 * is a kernel filesystem mounted in it (a container's /proc or /sys).
 */
function copyTree(n: NativeBinding, writer: BeneathWriter, reader: TreeReader, topFd: number, topSt: Owned | undefined): void {
  // A source entry gone meanwhile: undefined, and the walk goes on. Errors on the writing side stay errors.
  const unlessGone = <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  };
  const walk = (rel: string, dirFd: number, dirSt: Owned | undefined, dev: bigint) => {
    for (const e of unlessGone(() => reader.readdir(rel)) ?? []) {
      const childRel = rel === '' ? e.name : `${rel}/${e.name}`;
      const big = unlessGone(() => reader.lstat(childRel));
      if (!big) continue;
      const st: Owned = { mode: Number(big.mode), uid: Number(big.uid), gid: Number(big.gid), rdev: Number(big.rdev), atimeMs: Number(big.atimeMs), mtimeMs: Number(big.mtimeMs) };
      if (big.isDirectory()) {
        // A kernel filesystem mounted here comes out as the empty directory it is mounted on.
        const kernel = big.dev !== dev && unlessGone(() => readerIsPseudoFs(n, reader, childRel)) !== false;
        const fd = writer.dir(dirFd, e.name);
        try {
          if (kernel) writer.finishDir(fd, st);
          else walk(childRel, fd, st, big.dev);
        } finally {
          n.closeFd({ fd });
        }
      } else if (big.isFile()) {
        const src = unlessGone(() => reader.openFile(childRel));
        if (src !== undefined) writer.file(dirFd, e.name, st, src);
      } else if (big.isSymbolicLink()) {
        const target = unlessGone(() => reader.readlink(childRel));
        if (target !== undefined) writer.symlink(dirFd, e.name, target, st);
      } else {
        writer.special(dirFd, e.name, st);
      }
    }
    if (dirSt) writer.finishDir(dirFd, dirSt);
  };
  try {
    walk('', topFd, topSt, reader.lstat('').dev);
  } finally {
    n.closeFd({ fd: topFd });
  }
}

/** statfs(2) magic numbers of the kernel's own filesystems: procfs, sysfs, cgroups, devpts, mqueue and the like. */
const PSEUDO_FS = new Set([0x9fa0, 0x62656572, 0x27e0eb, 0x63677270, 0x1cd1, 0x19800202, 0x64626720, 0x74726163, 0x73636673, 0xcafe4a11, 0x6165676c, 0x62656570, 0x65735543, 0xde5e81e4, 0x42494e4d, 0x6e736673]);

function isPseudoFs(n: NativeBinding, fd: number): boolean {
  return PSEUDO_FS.has(n.fstatfsType({ fd }));
}

function readerIsPseudoFs(n: NativeBinding, reader: TreeReader, rel: string): boolean {
  const c = n.constants;
  const fd = reader.open(rel, c.O_PATH | c.O_DIRECTORY);
  try {
    return isPseudoFs(n, fd);
  } finally {
    n.closeFd({ fd });
  }
}

/** All of src into out, from where each stands. */
function copyData(src: number, out: number): void {
  const buf = Buffer.allocUnsafe(256 * 1024);
  for (;;) {
    const got = fs.readSync(src, buf, 0, buf.length, null);
    if (got === 0) break;
    fs.writeSync(out, buf, 0, got);
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
  let reader: TreeReader | undefined;
  try {
    const st = fs.fstatSync(fd);
    reader = new TreeReader(n, `/proc/self/fd/${fd}`);
    copyTree(n, new BeneathWriter(n, (s) => s, { devices: 'as-is', setid: true }), reader, openHostDir(n, hostDir), st);
  } finally {
    reader?.close();
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
  await withContainerRoot(ctx, id, 'write', dest, 'directory', async (rootFd, ctr, at) => {
    let fd: number;
    try {
      fd = n.openat2({ dirFd: rootFd, path: inRoot(at), flags: c.O_PATH | c.O_DIRECTORY, resolve: c.RESOLVE_IN_ROOT | c.RESOLVE_NO_MAGICLINKS });
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
  await withContainerRoot(ctx, id, 'write', dest, 'directory', (rootFd, ctr, at) => {
    const resolve = c.RESOLVE_IN_ROOT | c.RESOLVE_NO_MAGICLINKS;
    // The destination decides like docker's: an existing directory receives src by name ("SRC/." its contents).
    let destDirFd = -1;
    let name: string;
    try {
      destDirFd = n.openat2({ dirFd: rootFd, path: inRoot(at), flags: c.O_PATH | c.O_DIRECTORY, resolve });
      name = srcSt.isDirectory() && contentsOnly(src) ? '' : path.basename(path.resolve(src));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new RuntimeError(`cannot open ${dest} in container ${ctr}: ${code}`);
      if (code === 'ENOTDIR' && srcSt.isDirectory()) throw new UsageError(`cannot copy a directory to the file ${dest} in container ${ctr}`);
      // "FILE/" names a directory: an existing file there is not one to copy over (docker's).
      if (code === 'ENOTDIR' && dest.endsWith('/')) throw new UsageError(`destination ${dest} in container ${ctr} is not a directory`);
      if (code === 'ENOENT' && dest.endsWith('/') && !srcSt.isDirectory()) throw new UsageError(`destination directory ${dest} does not exist in container ${ctr}`);
      try {
        destDirFd = n.openat2({ dirFd: rootFd, path: inRoot(path.posix.dirname(path.posix.normalize(`/${at}`))), flags: c.O_PATH | c.O_DIRECTORY, resolve });
      } catch {
        throw new UsageError(`destination directory ${path.posix.dirname(path.posix.normalize(`/${dest}`))} does not exist in container ${ctr}`);
      }
      name = path.posix.basename(path.posix.normalize(`/${at}`));
    }
    try {
      if (isPseudoFs(n, destDirFd)) throw new UsageError(`cannot copy into ${dest} of container ${ctr}: it is on a kernel filesystem (proc, sysfs, ...)`);
      // Copies belong to the container's root unless -a keeps the host's owner (docker's rule).
      const writer = new BeneathWriter(n, (st) => (opts.archive ? st : { uid: 0, gid: 0 }), { devices: 'as-is', setid: true });
      copyFromHost(n, writer, destDirFd, name, src, srcSt, opts.followLink);
    } finally {
      n.closeFd({ fd: destDirFd });
    }
  });
}

/**
 * The host source src into dirFd as `name` ("" for a directory's contents).
 * Only src itself is looked up by path (following its symlink with -L);
 * below it, a TreeReader: a host directory a container also mounts may be
 * changing, and a symlink swapped in there must not make us copy the file
 * it points at into the container.
 */
function copyFromHost(n: NativeBinding, writer: BeneathWriter, dirFd: number, name: string, src: string, st: fs.Stats, follow: boolean): void {
  if (st.isDirectory()) {
    const reader = new TreeReader(n, src);
    try {
      // "SRC/.": the contents into the destination, which keeps its own owner and mode.
      const fd = name === '' ? n.openat2({ dirFd, path: '.', flags: n.constants.O_PATH | n.constants.O_DIRECTORY, resolve: 0 }) : writer.dir(dirFd, name);
      copyTree(n, writer, reader, fd, name === '' ? undefined : st);
    } finally {
      reader.close();
    }
  } else if (st.isSymbolicLink()) {
    writer.symlink(dirFd, name, fs.readlinkSync(src), st);
  } else if (st.isFile()) {
    const c = n.constants;
    const pathFd = n.openat2({ dirFd: AT_FDCWD, path: src, flags: c.O_PATH | (follow ? 0 : c.O_NOFOLLOW), resolve: 0 });
    try {
      // Read only if it is (still) a regular file: a FIFO or device swapped in is never opened.
      if (!fs.fstatSync(pathFd).isFile()) throw new UsageError(`${src} changed while it was being copied`);
      writer.file(dirFd, name, st, fs.openSync(`/proc/self/fd/${pathFd}`, fs.constants.O_RDONLY));
    } finally {
      n.closeFd({ fd: pathFd });
    }
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
  /** Kept on the copy, as docker's cp keeps them (its tar does). */
  atimeMs?: number;
  mtimeMs?: number;
}

/** File capabilities: kept where setuid bits are (they make a root-run binary privileged the same way). */
const FILE_CAPS = 'security.capability';

/**
 * Writes entries beneath an open directory, one name at a time: made with
 * *at calls on directory fds, opened with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS) and O_NOFOLLOW, so whoever else can change that tree
 * meanwhile (the running container of a `cp` in, another container sharing
 * a volume being filled, one sharing a host dir a `cp` out lands in) cannot
 * make a write land outside it, nor on a FIFO or device node swapped in:
 * nothing that exists is ever opened for writing. A file is written under a
 * new name and renamed over the old one; a node made is opened O_PATH and
 * checked to be the one made before it is chowned or chmod-ed.
 *
 * `owner` says whose a copy becomes (undefined: the caller's). `devices:
 * 'root-only'` (a copy out to the host) makes device nodes 0600 and leaves
 * them root's: a container must not hand the host's users a readable copy
 * of, say, /dev/mem. `setid: false` drops setuid and setgid.
 */
class BeneathWriter {
  private readonly beneath: number;

  constructor(
    readonly n: NativeBinding,
    private readonly owner: (st: Owned) => { uid: number; gid: number } | undefined,
    private readonly policy: { devices: 'as-is' | 'root-only'; setid: boolean },
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
    let fd: number;
    try {
      fd = this.n.openat2({ dirFd, path: name, flags: c.O_PATH | c.O_DIRECTORY | c.O_NOFOLLOW, resolve: this.beneath });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTDIR') throw err;
      const link = fs.lstatSync(`/proc/self/fd/${dirFd}/${name}`).isSymbolicLink();
      throw new RuntimeError(link ? `refusing to copy through the symlink ${name}: a directory goes there` : `cannot overwrite the non-directory ${name} with a directory`);
    }
    // An existing directory may be a mount point: never of a kernel filesystem (a cgroup mkdir is a new cgroup).
    if (isPseudoFs(this.n, fd)) {
      this.n.closeFd({ fd });
      throw new RuntimeError(`refusing to copy into ${name}: it is on a kernel filesystem (proc, sysfs, cgroup, ...)`);
    }
    return fd;
  }

  /** A directory's owner, mode and times, once its entries are in (a read-only one could not take them after; each entry moves its mtime). */
  finishDir(fd: number, st: Owned): void {
    this.chown(fd, st);
    fs.chmodSync(`/proc/self/fd/${fd}`, this.mode(st));
    if (st.mtimeMs !== undefined) fs.utimesSync(`/proc/self/fd/${fd}`, (st.atimeMs ?? st.mtimeMs) / 1000, st.mtimeMs / 1000);
  }

  /** A regular file with src's content (src is closed here). */
  file(dirFd: number, name: string, st: Owned, src: number): void {
    const c = this.n.constants;
    const tmp = `.tsrun-cp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    let fd: number;
    try {
      this.clearWay(dirFd, name, false);
      fd = this.n.openat2({ dirFd, path: tmp, flags: c.O_WRONLY | c.O_CREAT | c.O_EXCL | c.O_NOFOLLOW, mode: 0o600, resolve: this.beneath });
    } catch (err) {
      fs.closeSync(src);
      throw err;
    }
    try {
      copyData(src, fd);
      this.chown(fd, st);
      // After the chown, which clears setuid, setgid and file capabilities.
      fs.fchmodSync(fd, this.mode(st));
      if (this.policy.setid) this.copyCaps(src, fd);
      if (st.mtimeMs !== undefined) fs.futimesSync(fd, (st.atimeMs ?? st.mtimeMs) / 1000, st.mtimeMs / 1000);
    } catch (err) {
      this.n.unlinkat({ dirFd, name: tmp, isDir: false });
      throw err;
    } finally {
      this.n.closeFd({ fd });
      fs.closeSync(src);
    }
    // rename(2) replaces a non-directory in one step, and refuses a directory that appeared meanwhile.
    try {
      fs.renameSync(`/proc/self/fd/${dirFd}/${tmp}`, `/proc/self/fd/${dirFd}/${name}`);
    } catch (err) {
      this.n.unlinkat({ dirFd, name: tmp, isDir: false });
      throw err;
    }
  }

  symlink(dirFd: number, name: string, target: string, st: Owned): void {
    this.clearWay(dirFd, name, true);
    this.n.symlinkat({ target, dirFd, name });
    this.settle(dirFd, name, st, (made) => made.isSymbolicLink());
  }

  /** A device node, FIFO or socket. */
  special(dirFd: number, name: string, st: Owned): void {
    const S_IFMT = 0o170000;
    const type = st.mode & S_IFMT;
    const device = type === 0o020000 || type === 0o060000;
    const rootOnly = device && this.policy.devices === 'root-only';
    this.clearWay(dirFd, name, true);
    this.n.mknodat({ dirFd, name, mode: rootOnly ? type | 0o600 : st.mode, ...devNumbers(st.rdev ?? 0) });
    if (!rootOnly) this.settle(dirFd, name, st, (made) => (Number(made.mode) & S_IFMT) === type && Number(made.rdev) === (st.rdev ?? 0));
  }

  /** What was just made at name, if it still is (`check`): its owner, then its mode. */
  private settle(dirFd: number, name: string, st: Owned, check: (made: fs.Stats) => boolean): void {
    const c = this.n.constants;
    const fd = this.n.openat2({ dirFd, path: name, flags: c.O_PATH | c.O_NOFOLLOW, resolve: this.beneath });
    try {
      const made = fs.fstatSync(fd);
      if (!check(made)) throw new RuntimeError(`${name} changed while it was being copied`);
      this.chown(fd, st);
      if (!made.isSymbolicLink() && (st.mode & 0o6000) !== 0) fs.chmodSync(`/proc/self/fd/${fd}`, this.mode(st));
    } finally {
      this.n.closeFd({ fd });
    }
  }

  private copyCaps(src: number, fd: number): void {
    let caps: Buffer | null;
    try {
      caps = this.n.fgetxattr({ fd: src, name: FILE_CAPS });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOTSUP') return; // a filesystem without xattrs (libuv's name for EOPNOTSUPP)
      throw err;
    }
    if (!caps) return;
    try {
      this.n.fsetxattr({ fd, name: FILE_CAPS, value: caps });
    } catch (err) {
      // A destination without xattrs (NFSv3, some FUSE): the file is copied, its capabilities are not.
      if ((err as NodeJS.ErrnoException).code !== 'ENOTSUP') throw err;
      logger('cp').warn({ err: (err as Error).message }, 'file capabilities not kept: the destination has no extended attributes');
    }
  }

  private mode(st: Owned): number {
    return st.mode & (this.policy.setid ? 0o7777 : 0o1777);
  }

  private chown(fd: number, st: Owned): void {
    const to = this.owner(st);
    if (to) this.n.fchownat({ dirFd: fd, name: '', uid: to.uid, gid: to.gid });
  }

  /**
   * A directory at name is refused; anything else there goes first when
   * `remove` (a symlink or node is made in its place; a file is renamed
   * over it, so it stays until then).
   */
  private clearWay(dirFd: number, name: string, remove: boolean): void {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(`/proc/self/fd/${dirFd}/${name}`);
    } catch {
      return;
    }
    if (st.isDirectory()) throw new UsageError(`cannot overwrite the directory ${name} with a non-directory`);
    if (remove) this.n.unlinkat({ dirFd, name, isDir: false });
  }
}
