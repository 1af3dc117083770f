import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RuntimeError } from '../errors.js';
import type { NativeBinding } from '../native/types.js';
import type { TarEntryType, TarHeader } from '../image/tar-format.js';
import { TreeReader } from './tree-reader.js';
import { devNumbers } from '../util/devnum.js';

/**
 * Writing tar archives: layer tars packed from a diff dir (for commit and
 * save), the flattened root filesystem (export), and the outer archives of
 * save. The headers are what GNU tar writes with --format=ustar
 * --numeric-owner (the fixtures' layers, rootfs-fixtures/build.sh), so a
 * layer unpacked from such a tar packs back to the same bytes and its diff id
 * round-trips. PAX records are added only for what ustar cannot hold:
 * xattrs (binary-safe), long names, large ids or sizes, sub-second mtimes.
 *
 * Entries are sorted by their full path, bytewise, as `find | LC_ALL=C sort`
 * orders them (a parent always precedes its children).
 */

const BLOCK = 512;
const RECORD = 10240;
const ZERO = Buffer.alloc(RECORD);

/**
 * What the packer writes of an entry: the reader's TarHeader (the same
 * fields and kinds, so what is packed reads back as itself), with the
 * fields a plain file lacks optional and no atime (mtime only, as docker).
 */
export type PackHeader = Pick<TarHeader, 'name' | 'type' | 'mode' | 'uid' | 'gid' | 'size' | 'mtimeSec' | 'mtimeNsec'> &
  Partial<Pick<TarHeader, 'linkname' | 'devmajor' | 'devminor' | 'xattrs'>>;

const TYPEFLAG: Record<TarEntryType, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', directory: '5', fifo: '6' };

function octal(value: number, width: number): string {
  // width includes the trailing NUL
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

const fits = (value: number, width: number) => value >= 0 && value < 8 ** (width - 1);

function paxRecord(key: string, value: Buffer | string): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.isBuffer(value) ? value : Buffer.from(value), Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** Splits a name into ustar prefix and name; undefined when it cannot be split. */
export function splitUstarName(name: string): [prefix: string, name: string] | undefined {
  const bytes = Buffer.byteLength(name);
  if (bytes <= 100) return ['', name];
  for (let i = name.indexOf('/'); i >= 0; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest !== '' && rest !== '/') return [prefix, rest];
  }
  return undefined;
}

function rawHeader(h: { name: string; prefix: string; typeflag: string; mode: number; uid: number; gid: number; size: number; mtime: number; linkname: string; devmajor: number; devminor: number }): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(h.name, 0, 100, 'utf8');
  b.write(octal(h.mode, 8), 100, 'latin1');
  b.write(octal(h.uid, 8), 108, 'latin1');
  b.write(octal(h.gid, 8), 116, 'latin1');
  b.write(octal(h.size, 12), 124, 'latin1');
  b.write(octal(h.mtime, 12), 136, 'latin1');
  b.write('        ', 148, 'latin1');
  b.write(h.typeflag, 156, 'latin1');
  b.write(h.linkname, 157, 100, 'utf8');
  b.write('ustar\x0000', 257, 'latin1');
  b.write(octal(h.devmajor, 8), 329, 'latin1');
  b.write(octal(h.devminor, 8), 337, 'latin1');
  b.write(h.prefix, 345, 155, 'utf8');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

/** The header block(s) of one entry: a PAX 'x' header first when ustar cannot hold everything. */
export function encodeHeader(h: PackHeader): Buffer {
  const pax: Buffer[] = [];
  const name = h.type === 'directory' && !h.name.endsWith('/') ? `${h.name}/` : h.name;
  let split = splitUstarName(name);
  if (split === undefined) {
    pax.push(paxRecord('path', name));
    split = ['', Buffer.from(name).subarray(0, 100).toString('utf8').replace(/\uFFFD$/, '')];
  }
  let linkname = h.linkname ?? '';
  if (Buffer.byteLength(linkname) > 100) {
    pax.push(paxRecord('linkpath', linkname));
    linkname = '';
  }
  let { uid, gid, size } = h;
  if (!fits(uid, 8)) {
    pax.push(paxRecord('uid', String(uid)));
    uid = 0;
  }
  if (!fits(gid, 8)) {
    pax.push(paxRecord('gid', String(gid)));
    gid = 0;
  }
  if (!fits(size, 12)) {
    pax.push(paxRecord('size', String(size)));
    size = 0;
  }
  if (h.mtimeNsec !== 0) pax.push(paxRecord('mtime', `${h.mtimeSec}.${String(h.mtimeNsec).padStart(9, '0')}`));
  const mtime = fits(h.mtimeSec, 12) ? h.mtimeSec : 0;
  for (const [key, value] of [...(h.xattrs ?? new Map<string, Buffer>())].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    pax.push(paxRecord(`SCHILY.xattr.${key}`, value));
  }
  const main = rawHeader({
    name: split[1],
    prefix: split[0],
    typeflag: TYPEFLAG[h.type],
    mode: h.mode & 0o7777,
    uid,
    gid,
    size: h.type === 'file' ? size : 0,
    mtime,
    linkname,
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
  });
  if (pax.length === 0) return main;
  const data = Buffer.concat(pax);
  const base = path.posix.basename(name.replace(/\/$/, '')) || 'root';
  const paxName = `PaxHeaders.0/${base}`;
  const paxHeader = rawHeader({
    name: Buffer.from(paxName).subarray(0, 100).toString('utf8').replace(/\uFFFD$/, ''),
    prefix: '',
    typeflag: 'x',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: data.length,
    mtime: 0,
    linkname: '',
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxHeader, data, Buffer.alloc(padding(data.length)), main]);
}

export function padding(size: number): number {
  const rem = size % BLOCK;
  return rem === 0 ? 0 : BLOCK - rem;
}

/** A tar written synchronously to a file descriptor, hashed as it goes. */
export class TarWriter {
  private readonly hash: Hash = createHash('sha256');
  private written = 0;

  constructor(private readonly fd: number) {}

  private out(buf: Buffer): void {
    let off = 0;
    while (off < buf.length) off += fs.writeSync(this.fd, buf, off, buf.length - off);
    this.hash.update(buf);
    this.written += buf.length;
  }

  /** An entry without data, or with data from a buffer. */
  add(h: PackHeader, data?: Buffer): void {
    this.out(encodeHeader({ ...h, size: data?.length ?? h.size }));
    if (data !== undefined && data.length > 0) {
      this.out(data);
      this.out(Buffer.alloc(padding(data.length)));
    }
  }

  /** A regular file entry whose content is read from fd (exactly h.size bytes). */
  addFromFd(h: PackHeader, fd: number): void {
    this.out(encodeHeader(h));
    const buf = Buffer.allocUnsafe(1 << 20);
    let left = h.size;
    let pos = 0;
    while (left > 0) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, left), pos);
      if (n === 0) throw new Error(`${h.name} shrank while it was being archived`);
      this.out(buf.subarray(0, n));
      left -= n;
      pos += n;
    }
    this.out(Buffer.alloc(padding(h.size)));
  }

  /**
   * Ends the archive: two zero blocks, then zeros up to a whole 10240-byte
   * record, as GNU tar does. The end-of-archive padding is not recorded in a
   * diff dir, yet it is part of a layer's diff id (a tar concatenated with
   * `tar -A`, for one, carries an extra block); so when the digest to match is
   * known, every tail of 2 to 42 zero blocks is tried and the one that
   * reproduces it is written.
   */
  finish(expectDigest?: string): { digest: string; size: number } {
    const end = this.written + 2 * BLOCK;
    let tail = Math.ceil(end / RECORD) * RECORD - this.written;
    if (expectDigest !== undefined) {
      for (let blocks = 2; blocks <= 42; blocks++) {
        const h = this.hash.copy();
        for (let i = 0; i < blocks; i++) h.update(ZERO.subarray(0, BLOCK));
        if (`sha256:${h.digest('hex')}` === expectDigest) {
          tail = blocks * BLOCK;
          break;
        }
      }
    }
    for (let left = tail; left > 0; left -= Math.min(left, RECORD)) this.out(ZERO.subarray(0, Math.min(left, RECORD)));
    return { digest: `sha256:${this.hash.digest('hex')}`, size: this.written };
  }
}

export interface PackDirOptions {
  native: NativeBinding;
  /** Convert overlay whiteouts (0/0 char devices, opaque dirs) to OCI ones (OVERLAY2.md §5). */
  overlayWhiteouts: boolean;
  /** The digest the tar should have (a layer's diff id): picks the end padding that reproduces it. */
  expectDigest?: string;
  /** Entries named PREFIX/..., after an entry for the top directory itself (cp's tar of a directory). */
  prefix?: string;
}

const OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque'];

function keepXattr(name: string): boolean {
  return !name.startsWith('trusted.overlay.') && !name.startsWith('user.overlay.');
}

function bytewise(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Every path under the reader's top (relative, no leading slash), parents first, sorted bytewise. */
export function walkSorted(tree: TreeReader): string[] {
  const out: string[] = [];
  const visit = (rel: string) => {
    for (const entry of tree.readdir(rel)) {
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
      out.push(child);
      if (entry.isDirectory()) visit(child);
    }
  };
  visit('');
  return out.sort(bytewise);
}

/**
 * Packs the tree under dir into a tar on fd. Everything is read through a
 * TreeReader, so a running container swapping a directory for a symlink
 * never leads the packer outside dir.
 */
export function packDir(dir: string, fd: number, opts: PackDirOptions): { digest: string; size: number } {
  const { native } = opts;
  const c = native.constants;
  const tar = new TarWriter(fd);
  const tree = new TreeReader(native, dir);
  const hardlinks = new Map<string, string>();
  const named = (rel: string) => (opts.prefix === undefined ? rel : rel === '' ? opts.prefix : `${opts.prefix}/${rel}`);
  try {
    for (const rel of opts.prefix === undefined ? walkSorted(tree) : ['', ...walkSorted(tree)]) {
      let st: fs.BigIntStats;
      try {
        st = tree.lstat(rel);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // deleted under us (a running container)
        throw err;
      }
      const base: PackHeader = {
        name: named(rel),
        type: 'file',
        mode: Number(st.mode & 0o7777n),
        uid: Number(st.uid),
        gid: Number(st.gid),
        size: 0,
        mtimeSec: Number(st.mtimeNs / 1_000_000_000n),
        mtimeNsec: Number(st.mtimeNs % 1_000_000_000n),
      };
      if (st.isCharacterDevice() && st.rdev === 0n && opts.overlayWhiteouts) {
        const slash = rel.lastIndexOf('/');
        const name = slash < 0 ? `.wh.${rel}` : `${rel.slice(0, slash)}/.wh.${rel.slice(slash + 1)}`;
        // Dated the epoch: the unpacker (like docker's) does not keep a whiteout's time,
        // so only a fixed time lets a layer with whiteouts pack back to its diff id.
        tar.add({ ...base, name, type: 'file', mode: 0o600, mtimeSec: 0, mtimeNsec: 0 });
      } else if (st.isDirectory()) {
        const dfd = tree.open(rel, c.O_RDONLY | c.O_DIRECTORY);
        try {
          const xattrs = readXattrs(native, dfd, rel, opts.overlayWhiteouts);
          const opaque = opts.overlayWhiteouts && OPAQUE_XATTRS.some((key) => native.fgetxattr({ fd: dfd, name: key })?.toString() === 'y');
          tar.add({ ...base, type: 'directory', xattrs });
          if (opaque) tar.add({ ...base, name: `${rel}/.wh..wh..opq`, type: 'file' });
        } finally {
          native.closeFd({ fd: dfd });
        }
      } else if (st.isSymbolicLink()) {
        tar.add({ ...base, type: 'symlink', linkname: tree.readlink(rel) });
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1n ? hardlinks.get(key) : undefined;
        if (first !== undefined) {
          tar.add({ ...base, type: 'link', linkname: first });
          continue;
        }
        // Not a regular file any more (a running container changed it since the lstat): left out, never opened.
        const ffd = tree.openFile(rel);
        if (ffd === undefined) continue;
        if (st.nlink > 1n) hardlinks.set(key, named(rel));
        try {
          const size = fs.fstatSync(ffd).size;
          tar.addFromFd({ ...base, type: 'file', size, xattrs: readXattrs(native, ffd, rel, opts.overlayWhiteouts) }, ffd);
        } finally {
          native.closeFd({ fd: ffd });
        }
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const { major, minor } = devNumbers(st.rdev);
        tar.add({ ...base, type: st.isCharacterDevice() ? 'char' : 'block', devmajor: major, devminor: minor });
      } else if (st.isFIFO()) {
        tar.add({ ...base, type: 'fifo' });
      }
      // sockets are not archived (neither docker nor GNU tar does)
    }
  } finally {
    tree.close();
  }
  return tar.finish(opts.expectDigest);
}

/**
 * An upper dir written with redirect_dir or metacopy on holds renamed
 * directories and metadata-only copies whose content lives in a lower: the
 * upper alone is not the layer's content (docker falls back to its naive
 * differ then). tsrun mounts with the module defaults, off; refuse rather
 * than write a wrong layer if a store was written otherwise.
 */
const UNPACKABLE_XATTRS = ['trusted.overlay.redirect', 'trusted.overlay.metacopy', 'user.overlay.redirect', 'user.overlay.metacopy'];

function readXattrs(native: NativeBinding, fd: number, rel: string, overlay: boolean): Map<string, Buffer> | undefined {
  let names: string[];
  try {
    names = native.flistxattr({ fd });
  } catch {
    return undefined;
  }
  const unpackable = overlay ? names.find((n) => UNPACKABLE_XATTRS.includes(n)) : undefined;
  if (unpackable !== undefined) throw new RuntimeError(`${rel} carries ${unpackable}: an upper dir written with redirect_dir or metacopy cannot be packed as a layer`);
  const out = new Map<string, Buffer>();
  for (const name of names.filter(keepXattr)) {
    const value = native.fgetxattr({ fd, name });
    if (value !== null) out.set(name, value);
  }
  return out.size > 0 ? out : undefined;
}

/** Packs dir into a new file; returns the tar's digest and size. */
export function packDirToFile(dir: string, file: string, opts: PackDirOptions): { digest: string; size: number } {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
  try {
    return packDir(dir, fd, opts);
  } finally {
    fs.closeSync(fd);
  }
}
