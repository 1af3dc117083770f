/**
 * The tar header format (POSIX ustar/pax, GNU long names, old V7 headers),
 * decoded by hand rather than through tar-stream: layers carry binary PAX
 * values (SCHILY.xattr.security.capability is raw bytes, which a UTF-8 string
 * would corrupt), nanosecond mtimes, and the archive reader needs each entry's
 * byte offset. Pure functions only; the readers are in tar-reader.ts.
 */

export const BLOCK = 512;

export type TarEntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'directory' | 'fifo';

export interface TarHeader {
  /** Entry name as stored (after ustar prefix, GNU long name or PAX path); not normalised. */
  name: string;
  type: TarEntryType;
  /** Permission bits including setuid, setgid and sticky (& 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of data that follow the header (0 for everything but files). */
  size: number;
  mtimeSec: number;
  mtimeNsec: number;
  atimeSec: number;
  atimeNsec: number;
  /** Hard link target (an entry name) or symlink target (verbatim). */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** From SCHILY.xattr.* PAX records, values as raw bytes. */
  xattrs: Map<string, Buffer>;
}

/** One 512-byte header block, before PAX/GNU extensions are applied. */
export interface RawHeader {
  typeflag: string;
  name: string;
  linkname: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  devmajor: number;
  devminor: number;
}

export function padding(size: number): number {
  const rem = size % BLOCK;
  return rem === 0 ? 0 : BLOCK - rem;
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

function cString(block: Buffer, off: number, len: number): string {
  const end = block.indexOf(0, off);
  return block.toString('utf8', off, end === -1 || end > off + len ? off + len : end);
}

/** A numeric field: octal ASCII, or GNU base-256 when the high bit is set. */
function numeric(block: Buffer, off: number, len: number, field: string): number {
  const first = block[off]!;
  if (first & 0x80) {
    if (first === 0xff) throw new Error(`corrupt tar header: negative ${field}`);
    let value = first & 0x7f;
    for (let i = 1; i < len; i++) {
      value = value * 256 + block[off + i]!;
      if (value > Number.MAX_SAFE_INTEGER) throw new Error(`corrupt tar header: ${field} too large`);
    }
    return value;
  }
  let i = off;
  const end = off + len;
  while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = block[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) throw new Error(`corrupt tar header: ${field} is not an octal number`);
    value = value * 8 + (c - 0x30);
    digits++;
  }
  for (; i < end; i++) {
    if (block[i] !== 0x20 && block[i] !== 0) throw new Error(`corrupt tar header: ${field} is not an octal number`);
  }
  return digits === 0 ? 0 : value;
}

function checksumMatches(block: Buffer): boolean {
  const stored = numeric(block, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

/** Decodes one non-zero header block; throws a "corrupt tar header" Error. */
export function decodeHeaderBlock(block: Buffer): RawHeader {
  if (block.length !== BLOCK) throw new Error('corrupt tar header: short block');
  if (!checksumMatches(block)) throw new Error('corrupt tar header: checksum mismatch (not a tar, or needs decompressing?)');
  const typeflag = block[156] === 0 ? '0' : String.fromCharCode(block[156]!);
  let name = cString(block, 0, 100);
  // POSIX ustar ("ustar\0" "00") splits long names into prefix/name; GNU
  // ("ustar  \0") uses that area for other fields and long-name entries instead.
  if (block.toString('latin1', 257, 263) === 'ustar\0' && block[345] !== 0) {
    name = `${cString(block, 345, 155)}/${name}`;
  }
  return {
    typeflag,
    name,
    linkname: cString(block, 157, 100),
    mode: numeric(block, 100, 8, 'mode'),
    uid: numeric(block, 108, 8, 'uid'),
    gid: numeric(block, 116, 8, 'gid'),
    size: numeric(block, 124, 12, 'size'),
    mtime: numeric(block, 136, 12, 'mtime'),
    devmajor: numeric(block, 329, 8, 'devmajor'),
    devminor: numeric(block, 337, 8, 'devminor'),
  };
}

/** Parses "LEN KEY=VALUE\n" PAX records; values stay raw bytes. */
export function parsePaxRecords(data: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let off = 0;
  while (off < data.length) {
    if (data[off] === 0) break; // NUL padding after the last record
    const space = data.indexOf(0x20, off);
    if (space === -1 || space - off > 20) throw new Error('corrupt tar: malformed PAX record length');
    const lenText = data.toString('latin1', off, space);
    if (!/^[1-9][0-9]*$/.test(lenText)) throw new Error('corrupt tar: malformed PAX record length');
    const len = Number(lenText);
    const end = off + len;
    if (end > data.length || data[end - 1] !== 0x0a) throw new Error('corrupt tar: malformed PAX record');
    const eq = data.indexOf(0x3d, space + 1);
    if (eq === -1 || eq >= end - 1) throw new Error('corrupt tar: malformed PAX record');
    const key = data.toString('utf8', space + 1, eq);
    records.set(key, Buffer.from(data.subarray(eq + 1, end - 1)));
    off = end;
  }
  return records;
}

/** A PAX time "SECONDS[.FRACTION]" as [sec, nsec]. */
export function parsePaxTime(value: string, key: string): [number, number] {
  const m = /^(-?[0-9]+)(?:\.([0-9]+))?$/.exec(value);
  if (!m) throw new Error(`corrupt tar: PAX ${key} ${JSON.stringify(value)} is not a time`);
  const sec = Number(m[1]);
  const nsec = m[2] ? Number(m[2].slice(0, 9).padEnd(9, '0')) : 0;
  if (!Number.isSafeInteger(sec)) throw new Error(`corrupt tar: PAX ${key} out of range`);
  if (sec < 0 && nsec > 0) return [sec - 1, 1_000_000_000 - nsec];
  return [sec, nsec];
}

export function paxInteger(value: string, key: string): number {
  if (!/^[0-9]+$/.test(value)) throw new Error(`corrupt tar: PAX ${key} ${JSON.stringify(value)} is not a number`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`corrupt tar: PAX ${key} out of range`);
  return n;
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '7': 'file', // contiguous file: a regular file everywhere that matters
  '1': 'link',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'directory',
  '6': 'fifo',
};

export function entryType(raw: RawHeader): TarEntryType | undefined {
  const type = TYPES[raw.typeflag];
  // Pre-POSIX tars mark directories only by a trailing slash.
  if (type === 'file' && raw.typeflag === '0' && raw.name.endsWith('/')) return 'directory';
  return type;
}

/** Strips the trailing NULs GNU tar leaves in long-name entries. */
export function gnuLongName(data: Buffer): string {
  let end = data.length;
  while (end > 0 && data[end - 1] === 0) end--;
  return data.toString('utf8', 0, end);
}

/** Applies PAX overrides (global, then per-entry) to a raw header. */
export function buildHeader(
  raw: RawHeader,
  type: TarEntryType,
  pax: Map<string, Buffer>,
  longName: string | undefined,
  longLink: string | undefined,
): TarHeader {
  const text = (key: string): string | undefined => {
    const v = pax.get(key);
    return v === undefined ? undefined : v.toString('utf8');
  };
  const header: TarHeader = {
    name: longName ?? raw.name,
    type,
    mode: raw.mode & 0o7777,
    uid: raw.uid,
    gid: raw.gid,
    size: type === 'file' ? raw.size : 0,
    mtimeSec: raw.mtime,
    mtimeNsec: 0,
    atimeSec: raw.mtime,
    atimeNsec: 0,
    linkname: longLink ?? raw.linkname,
    devmajor: raw.devmajor,
    devminor: raw.devminor,
    xattrs: new Map(),
  };
  for (const [key, value] of pax) {
    if (key.startsWith('GNU.sparse.')) throw new Error('unsupported tar: GNU sparse files');
    if (key.startsWith('SCHILY.xattr.')) {
      header.xattrs.set(key.slice('SCHILY.xattr.'.length), value);
    }
  }
  const path = text('path');
  if (path !== undefined && path !== '') header.name = path;
  const linkpath = text('linkpath');
  if (linkpath !== undefined && linkpath !== '') header.linkname = linkpath;
  const size = text('size');
  if (size !== undefined && size !== '' && type === 'file') header.size = paxInteger(size, 'size');
  const uid = text('uid');
  if (uid !== undefined && uid !== '') header.uid = paxInteger(uid, 'uid');
  const gid = text('gid');
  if (gid !== undefined && gid !== '') header.gid = paxInteger(gid, 'gid');
  const mtime = text('mtime');
  if (mtime !== undefined && mtime !== '') {
    [header.mtimeSec, header.mtimeNsec] = parsePaxTime(mtime, 'mtime');
    [header.atimeSec, header.atimeNsec] = [header.mtimeSec, header.mtimeNsec];
  }
  const atime = text('atime');
  if (atime !== undefined && atime !== '') [header.atimeSec, header.atimeNsec] = parsePaxTime(atime, 'atime');
  // A Linux id has 32 bits, and chown(2) takes (uid_t)-1 to mean "leave it": 4294967295 would leave the file root's.
  for (const [key, id] of [['uid', header.uid], ['gid', header.gid]] as const) {
    if (!(Number.isInteger(id) && id >= 0 && id <= 0xfffffffe)) throw new Error(`corrupt tar: the ${key} ${id} of ${header.name} is not a Linux id`);
  }
  return header;
}
