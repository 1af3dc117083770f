import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Readable, pipeline } from 'node:stream';
import zlib from 'node:zlib';
import { layerCompression, type LayerCompression } from '../image/media-types.js';
import type { TarHeader } from '../image/tar-format.js';
import { StreamByteSource, TarReader, type TarEntry } from '../image/tar-reader.js';
import { createZstdDecompressStream } from '../image/zstd.js';
import type { NativeBinding } from '../native/types.js';

/**
 * Unpacks one layer tar into an overlay2 diff/ directory.
 *
 * Every write is relative to a directory fd and never follows a symlink: a
 * parent directory is resolved with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) from the layer root, files are
 * created O_EXCL|O_NOFOLLOW, and metadata is applied through the fd that was
 * created (or with AT_SYMLINK_NOFOLLOW). So a hostile layer cannot write or
 * chmod through a symlink out of the layer (CVE-2021-32760, containerd
 * GHSA-c72p-9xmj-rx3w; LESSONS.md 9), while symlink targets themselves are
 * kept verbatim: an absolute target is rooted at container time, never
 * rejected (containerd#12683).
 *
 * Whiteouts are converted as Docker's overlay2 does (OVERLAY2.md §5):
 * `.wh.NAME` becomes a 0/0 character device, `.wh..wh..opq` the
 * trusted.overlay.opaque=y xattr on its directory.
 *
 * Nothing is fsynced here; the caller syncs the finished layer once. On
 * failure every fd is closed and the promise rejects; the caller removes the
 * half-written diff/.
 */

export interface UnpackOptions {
  /** The layer blob as stored (compressed or not). */
  source: Readable;
  /** The layer's media type; an unknown one (docker-archive layers: "") is sniffed (gzip or zstd magic). */
  mediaType: string;
  /** An existing, empty directory: the layer root. */
  diffDir: string;
  native: NativeBinding;
  /** false: `.wh.` names are ordinary files (cp's tar, not a layer). Default true. */
  whiteouts?: boolean;
}

export interface UnpackResult {
  /** sha256 of the uncompressed tar stream. */
  diffId: string;
  /** Sum of the sizes of the regular files. */
  size: number;
}

const AT_FDCWD = -100;
const OPAQUE_XATTR = 'trusted.overlay.opaque';
const WHITEOUT_PREFIX = '.wh.';
const WHITEOUT_META_PREFIX = '.wh..wh.';
const WHITEOUT_OPAQUE = '.wh..wh..opq';
/** Directory fds kept open between entries; most layers write into few directories in a row. */
const DIR_CACHE_MAX = 64;

class RefusedError extends Error {}

function refuse(name: string, why: string): RefusedError {
  return new RefusedError(`refusing tar entry ${JSON.stringify(name)}: ${why}`);
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** "a//b/./c" → ["a","b","c"]; an absolute name, "..", NUL or an empty name is refused. */
export function splitEntryName(name: string): string[] {
  if (name === '') throw refuse(name, 'empty name');
  if (name.includes('\0')) throw refuse(name, 'name contains a NUL byte');
  if (name.startsWith('/')) throw refuse(name, 'absolute name');
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw refuse(name, 'name contains a ".." component');
  return parts;
}

interface DirTimes {
  parts: string[];
  atimeSec: number;
  atimeNsec: number;
  mtimeSec: number;
  mtimeNsec: number;
}

/** Applies tar entries under one layer root. Owns every fd it opens; close() releases them. */
class LayerWriter {
  size = 0;
  private readonly dirCache = new Map<string, number>();
  private readonly dirTimes = new Map<string, DirTimes>();
  private readonly c: NativeBinding['constants'];
  private readonly resolve: number;
  private readonly dirPathFlags: number;
  private readonly dirReadFlags: number;

  constructor(
    private readonly native: NativeBinding,
    private readonly rootFd: number,
    private readonly whiteouts: boolean,
  ) {
    this.c = native.constants;
    this.resolve = this.c.RESOLVE_BENEATH | this.c.RESOLVE_NO_SYMLINKS | this.c.RESOLVE_NO_MAGICLINKS;
    // No O_NOFOLLOW: with it a trailing symlink yields ENOTDIR; without it
    // RESOLVE_NO_SYMLINKS refuses every symlink, the last one too, with ELOOP.
    this.dirPathFlags = this.c.O_PATH | this.c.O_DIRECTORY;
    this.dirReadFlags = this.c.O_RDONLY | this.c.O_DIRECTORY;
  }

  close(): void {
    for (const fd of this.dirCache.values()) this.closeFd(fd);
    this.dirCache.clear();
  }

  private closeFd(fd: number): void {
    try {
      this.native.closeFd({ fd });
    } catch {
      // closing cannot fail in a way we could act on
    }
  }

  private open(dirFd: number, path: string, flags: number, mode = 0): number {
    return this.native.openat2({ dirFd, path, flags, mode, resolve: this.resolve });
  }

  /** Turns an openat2 failure on an existing path into a one-line refusal. */
  private resolveError(err: unknown, entry: string, path: string): Error {
    switch (errnoCode(err)) {
      case 'ELOOP':
        return refuse(entry, `${JSON.stringify(path)} resolves through a symlink`);
      case 'EXDEV':
        return refuse(entry, `${JSON.stringify(path)} leaves the layer`);
      case 'ENOTDIR':
        return refuse(entry, `a component of ${JSON.stringify(path)} is not a directory`);
      default:
        return err as Error;
    }
  }

  /** Frees cached directory fds. Only called between entries, never while an entry holds one. */
  private trimCache(): void {
    if (this.dirCache.size <= DIR_CACHE_MAX) return;
    for (const [key, fd] of this.dirCache) {
      this.dirCache.delete(key);
      this.closeFd(fd);
      if (this.dirCache.size <= DIR_CACHE_MAX / 2) break;
    }
  }

  /** Forgets cached fds of a removed directory and everything below it. */
  private forgetDir(key: string): void {
    for (const [k, fd] of this.dirCache) {
      if (k === key || k.startsWith(`${key}/`)) {
        this.dirCache.delete(k);
        this.closeFd(fd);
      }
    }
  }

  /**
   * An O_PATH fd of the directory `parts` inside the layer, owned by the
   * cache. Missing directories are created 0755 when `create`, as tar does.
   */
  private dirFd(parts: string[], entry: string, create: boolean): number {
    if (parts.length === 0) return this.rootFd;
    const key = parts.join('/');
    const hit = this.dirCache.get(key);
    if (hit !== undefined) {
      this.dirCache.delete(key);
      this.dirCache.set(key, hit);
      return hit;
    }
    let fd: number;
    try {
      fd = this.open(this.rootFd, key, this.dirPathFlags);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw this.resolveError(err, entry, key);
      if (!create) throw refuse(entry, `${JSON.stringify(key)} does not exist in the layer`);
      fd = this.makeDirs(parts, entry);
    }
    this.dirCache.set(key, fd);
    return fd;
  }

  /** Creates the missing directories of `parts` one component at a time; returns an O_PATH fd of the last. */
  private makeDirs(parts: string[], entry: string): number {
    let cur = this.rootFd;
    try {
      for (const [i, name] of parts.entries()) {
        let next: number;
        try {
          next = this.open(cur, name, this.dirPathFlags);
        } catch (err) {
          if (errnoCode(err) !== 'ENOENT') throw this.resolveError(err, entry, parts.slice(0, i + 1).join('/'));
          try {
            this.native.mkdirat({ dirFd: cur, name, mode: 0o755 });
          } catch (mkErr) {
            if (errnoCode(mkErr) !== 'EEXIST') throw mkErr;
          }
          // mkdirat's mode is filtered by the umask; set it exactly.
          const rd = this.open(cur, name, this.dirReadFlags);
          try {
            fs.fchmodSync(rd, 0o755);
          } finally {
            this.closeFd(rd);
          }
          next = this.open(cur, name, this.dirPathFlags);
        }
        if (cur !== this.rootFd) this.closeFd(cur);
        cur = next;
      }
      return cur;
    } catch (err) {
      if (cur !== this.rootFd) this.closeFd(cur);
      throw err;
    }
  }

  /**
   * Removes whatever is at `name` so a later entry can take its place (tar:
   * the later entry wins). A directory goes only when empty.
   */
  private clear(dirFd: number, name: string, key: string, entry: string): void {
    try {
      this.native.unlinkat({ dirFd, name, isDir: false });
      return;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') return;
      if (code !== 'EISDIR' && code !== 'EPERM') throw err;
    }
    try {
      this.native.unlinkat({ dirFd, name, isDir: true });
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOTEMPTY' || code === 'EEXIST') throw refuse(entry, 'would replace a non-empty directory');
      throw err;
    }
    this.forgetDir(key);
  }

  /** Runs create(); on EEXIST clears the name and runs it once more. */
  private createReplacing<T>(dirFd: number, name: string, key: string, entry: string, create: () => T): T {
    try {
      return create();
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
    this.clear(dirFd, name, key, entry);
    return create();
  }

  private setXattrs(fd: number, header: TarHeader): void {
    for (const [name, value] of header.xattrs) {
      // Overlay's own attributes (opaque, redirect, metacopy, origin) would let
      // a layer rewire the union; opaque comes only from .wh..wh..opq.
      if (name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.')) continue;
      try {
        this.native.fsetxattr({ fd, name, value });
      } catch (err) {
        // As Docker: not every backing filesystem takes every namespace (security.selinux, ...).
        const code = errnoCode(err);
        if (code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EPERM') throw err;
      }
    }
  }

  private setTimesFd(fd: number, h: { atimeSec: number; atimeNsec: number; mtimeSec: number; mtimeNsec: number }): void {
    this.native.utimensat({
      dirFd: fd,
      name: '',
      atimeSec: h.atimeSec,
      atimeNsec: h.atimeNsec,
      mtimeSec: h.mtimeSec,
      mtimeNsec: h.mtimeNsec,
    });
  }

  async apply(entry: TarEntry): Promise<void> {
    this.trimCache();
    const h = entry.header;
    const parts = splitEntryName(h.name);
    if (parts.length === 0) return; // "./": the layer root keeps its own metadata, as in Docker
    const name = parts[parts.length - 1]!;
    const parentParts = parts.slice(0, -1);
    const key = parts.join('/');
    try {
      if (this.whiteouts && name.startsWith(WHITEOUT_PREFIX)) {
        this.whiteout(h, parentParts, name);
        return;
      }
      const parentFd = this.dirFd(parentParts, h.name, true);
      switch (h.type) {
        case 'file':
          await this.file(entry, parentFd, name, key);
          break;
        case 'directory':
          this.directory(h, parentFd, name, key, parts);
          break;
        case 'symlink':
          this.symlink(h, parentFd, name, key);
          break;
        case 'link':
          this.hardlink(h, parentFd, name, key, parts);
          break;
        case 'char':
        case 'block':
        case 'fifo':
          this.node(h, parentFd, name, key);
          break;
      }
    } catch (err) {
      if (err instanceof RefusedError || (err as NodeJS.ErrnoException).syscall === undefined) throw err;
      throw new Error(`unpacking ${JSON.stringify(h.name)}: ${(err as Error).message}`, { cause: err });
    }
  }

  private whiteout(h: TarHeader, parentParts: string[], name: string): void {
    // AUFS internals (.wh..wh.plnk, ...) are never exported; skip them untouched.
    if (name !== WHITEOUT_OPAQUE && name.startsWith(WHITEOUT_META_PREFIX)) return;
    const parentFd = this.dirFd(parentParts, h.name, true);
    if (name === WHITEOUT_OPAQUE) {
      const fd = this.open(parentFd, '.', this.dirReadFlags);
      try {
        this.native.fsetxattr({ fd, name: OPAQUE_XATTR, value: Buffer.from('y') });
      } finally {
        this.closeFd(fd);
      }
      return;
    }
    const target = name.slice(WHITEOUT_PREFIX.length);
    if (target === '' || target === '.' || target === '..') throw refuse(h.name, 'invalid whiteout name');
    const key = [...parentParts, target].join('/');
    this.createReplacing(parentFd, target, key, h.name, () =>
      this.native.mknodat({ dirFd: parentFd, name: target, mode: this.c.S_IFCHR, major: 0, minor: 0 }),
    );
    if (h.uid !== 0 || h.gid !== 0) this.native.fchownat({ dirFd: parentFd, name: target, uid: h.uid, gid: h.gid });
  }

  private async file(entry: TarEntry, parentFd: number, name: string, key: string): Promise<void> {
    const h = entry.header;
    const flags = this.c.O_CREAT | this.c.O_EXCL | this.c.O_WRONLY | this.c.O_NOFOLLOW;
    const fd = this.createReplacing(parentFd, name, key, h.name, () => this.open(parentFd, name, flags, 0o600));
    try {
      for await (const chunk of entry.body()) {
        let off = 0;
        while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
      }
      // chown clears setuid/setgid, so the mode goes on after it.
      fs.fchownSync(fd, h.uid, h.gid);
      fs.fchmodSync(fd, h.mode);
      this.setXattrs(fd, h);
      this.setTimesFd(fd, h);
    } finally {
      this.closeFd(fd);
    }
    this.size += h.size;
  }

  private directory(h: TarHeader, parentFd: number, name: string, key: string, parts: string[]): void {
    let fd: number;
    try {
      fd = this.open(parentFd, name, this.dirReadFlags);
    } catch (err) {
      const code = errnoCode(err);
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'ELOOP') throw err;
      if (code !== 'ENOENT') this.clear(parentFd, name, key, h.name); // a file or symlink in the way
      this.native.mkdirat({ dirFd: parentFd, name, mode: 0o700 });
      fd = this.open(parentFd, name, this.dirReadFlags);
    }
    try {
      fs.fchownSync(fd, h.uid, h.gid);
      fs.fchmodSync(fd, h.mode);
      this.setXattrs(fd, h);
    } finally {
      this.closeFd(fd);
    }
    // Creating children changes a directory's mtime: set them all at the end.
    this.dirTimes.set(key, { parts, atimeSec: h.atimeSec, atimeNsec: h.atimeNsec, mtimeSec: h.mtimeSec, mtimeNsec: h.mtimeNsec });
  }

  private symlink(h: TarHeader, parentFd: number, name: string, key: string): void {
    if (h.linkname.includes('\0')) throw refuse(h.name, 'symlink target contains a NUL byte');
    this.createReplacing(parentFd, name, key, h.name, () =>
      this.native.symlinkat({ target: h.linkname, dirFd: parentFd, name }),
    );
    this.native.fchownat({ dirFd: parentFd, name, uid: h.uid, gid: h.gid });
    this.native.utimensat({
      dirFd: parentFd,
      name,
      atimeSec: h.atimeSec,
      atimeNsec: h.atimeNsec,
      mtimeSec: h.mtimeSec,
      mtimeNsec: h.mtimeNsec,
    });
  }

  /** A hard link to an entry already in this layer; its metadata is the target's. */
  private hardlink(h: TarHeader, parentFd: number, name: string, key: string, parts: string[]): void {
    let targetParts: string[];
    try {
      targetParts = splitEntryName(h.linkname);
    } catch {
      throw refuse(h.name, `hard link target ${JSON.stringify(h.linkname)} is outside the layer`);
    }
    if (targetParts.length === 0) throw refuse(h.name, 'hard link to the layer root');
    if (targetParts.join('/') === parts.join('/')) return;
    const targetDir = this.dirFd(targetParts.slice(0, -1), h.name, false);
    const targetName = targetParts[targetParts.length - 1]!;
    try {
      this.createReplacing(parentFd, name, key, h.name, () =>
        this.native.linkat({ oldDirFd: targetDir, oldPath: targetName, newDirFd: parentFd, newName: name }),
      );
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') throw refuse(h.name, `hard link target ${JSON.stringify(h.linkname)} does not exist in the layer`);
      if (code === 'EPERM') throw refuse(h.name, `hard link target ${JSON.stringify(h.linkname)} is a directory`);
      throw err;
    }
  }

  private node(h: TarHeader, parentFd: number, name: string, key: string): void {
    const type = h.type === 'char' ? this.c.S_IFCHR : h.type === 'block' ? this.c.S_IFBLK : this.c.S_IFIFO;
    const major = h.type === 'fifo' ? 0 : h.devmajor;
    const minor = h.type === 'fifo' ? 0 : h.devminor;
    this.createReplacing(parentFd, name, key, h.name, () =>
      this.native.mknodat({ dirFd: parentFd, name, mode: type | h.mode, major, minor }),
    );
    this.native.fchownat({ dirFd: parentFd, name, uid: h.uid, gid: h.gid });
    // mknodat's mode went through the umask, and chown may have cleared
    // setgid. A device or fifo cannot be opened for fchmod without side
    // effects, so chmod goes through an O_PATH fd's /proc/self/fd link,
    // which names exactly the inode just created (glibc's fchmodat(AT_SYMLINK_NOFOLLOW) does the same).
    const fd = this.open(parentFd, name, this.c.O_PATH | this.c.O_NOFOLLOW);
    try {
      fs.chmodSync(`/proc/self/fd/${fd}`, h.mode);
    } finally {
      this.closeFd(fd);
    }
    this.native.utimensat({
      dirFd: parentFd,
      name,
      atimeSec: h.atimeSec,
      atimeNsec: h.atimeNsec,
      mtimeSec: h.mtimeSec,
      mtimeNsec: h.mtimeNsec,
    });
  }

  /** Directory times, deepest first, once nothing more is created in them. */
  applyDirTimes(): void {
    const all = [...this.dirTimes.values()].sort((a, b) => b.parts.length - a.parts.length);
    for (const t of all) {
      let fd: number;
      try {
        fd = this.open(this.rootFd, t.parts.join('/'), this.dirReadFlags);
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') continue; // replaced by a later entry
        throw err;
      }
      try {
        this.setTimesFd(fd, t);
      } finally {
        this.closeFd(fd);
      }
    }
  }
}

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

function startsWith(buf: Buffer, magic: number[]): boolean {
  return buf.length >= magic.length && magic.every((b, i) => buf[i] === b);
}

/** Reads the first bytes of a stream of unknown type; returns them and a stream of everything. */
async function sniff(source: Readable): Promise<{ compression: LayerCompression; stream: Readable }> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let len = 0;
  let done = false;
  while (len < ZSTD_MAGIC.length) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    head.push(r.value);
    len += r.value.length;
  }
  const first = Buffer.concat(head);
  const compression: LayerCompression = startsWith(first, GZIP_MAGIC) ? 'gzip' : startsWith(first, ZSTD_MAGIC) ? 'zstd' : 'none';
  async function* all(): AsyncGenerator<Buffer> {
    if (first.length > 0) yield first;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  return { compression, stream: Readable.from(all(), { objectMode: false }) };
}

/** The uncompressed tar stream of a layer blob. */
async function tarStreamOf(source: Readable, mediaType: string, native: NativeBinding): Promise<Readable> {
  let compression = layerCompression(mediaType);
  let stream = source;
  if (compression === undefined) ({ compression, stream } = await sniff(source));
  if (compression === 'none') return stream;
  const decompress = compression === 'zstd' ? createZstdDecompressStream(native) : zlib.createGunzip({ chunkSize: 64 * 1024 });
  pipeline(stream, decompress, () => {
    /* errors reach the reader through the decompressor */
  });
  return decompress;
}

function describeStreamError(err: unknown): Error {
  const code = errnoCode(err);
  if (typeof code === 'string' && code.startsWith('Z_')) {
    return new Error(`corrupt gzip layer: ${(err as Error).message}`, { cause: err });
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** Unpacks one layer blob into diffDir (see the module comment). */
export async function unpackLayer(opts: UnpackOptions): Promise<UnpackResult> {
  const { native } = opts;
  const c = native.constants;
  let rootFd: number;
  try {
    rootFd = native.openat2({ dirFd: AT_FDCWD, path: opts.diffDir, flags: c.O_PATH | c.O_DIRECTORY, resolve: 0 });
  } catch (err) {
    opts.source.destroy();
    throw new Error(`cannot open layer directory ${opts.diffDir}: ${(err as Error).message}`, { cause: err });
  }
  const writer = new LayerWriter(native, rootFd, opts.whiteouts !== false);
  let tar: Readable | undefined;
  try {
    tar = await tarStreamOf(opts.source, opts.mediaType, native);
    const hash = createHash('sha256');
    const src = new StreamByteSource(tar, (chunk) => hash.update(chunk));
    const reader = new TarReader(src);
    for (let entry = await reader.next(); entry !== null; entry = await reader.next()) {
      await writer.apply(entry);
    }
    // The diff id covers the whole uncompressed stream, padding after the end marker included.
    await src.drain();
    writer.applyDirTimes();
    return { diffId: `sha256:${hash.digest('hex')}`, size: writer.size };
  } catch (err) {
    tar?.destroy();
    opts.source.destroy();
    throw describeStreamError(err);
  } finally {
    writer.close();
    native.closeFd({ fd: rootFd });
  }
}
