import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { assertDigest, isValidDigest, sha256Digest, verifiedStream } from '../../src/image/digest.js';
import { parsePaxRecords, parsePaxTime } from '../../src/image/tar-format.js';
import { DEFAULT_TAR_LIMITS, StreamByteSource, TarReader, type TarEntry } from '../../src/image/tar-reader.js';

interface BlockFields {
  name: string;
  typeflag?: string;
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  format?: 'ustar' | 'gnu' | 'v7';
  prefix?: string;
  /** Write size in GNU base-256. */
  binarySize?: boolean;
}

/** One hand-made header block, so tests control every byte. */
function headerBlock(f: BlockFields): Buffer {
  const b = Buffer.alloc(512);
  const oct = (v: number, off: number, len: number): void => {
    b.write(v.toString(8).padStart(len - 1, '0'), off, 'latin1');
  };
  b.write(f.name, 0, 'utf8');
  oct(f.mode ?? 0o644, 100, 8);
  oct(f.uid ?? 0, 108, 8);
  oct(f.gid ?? 0, 116, 8);
  if (f.binarySize) {
    b[124] = 0x80;
    let n = f.size ?? 0;
    for (let i = 11; i > 0; i--) {
      b[124 + i] = n % 256;
      n = Math.floor(n / 256);
    }
  } else {
    oct(f.size ?? 0, 124, 12);
  }
  oct(f.mtime ?? 0, 136, 12);
  b.write(f.typeflag ?? '0', 156, 'latin1');
  if (f.linkname) b.write(f.linkname, 157, 'utf8');
  const format = f.format ?? 'ustar';
  if (format === 'ustar') b.write('ustar\u000000', 257, 'latin1');
  if (format === 'gnu') b.write('ustar  \u0000', 257, 'latin1');
  if (f.prefix) b.write(f.prefix, 345, 'utf8');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'latin1');
  return b;
}

function body(data: Buffer | string): Buffer {
  const d = Buffer.from(data);
  const pad = (512 - (d.length % 512)) % 512;
  return Buffer.concat([d, Buffer.alloc(pad)]);
}

function paxRecord(key: string, value: Buffer | string): Buffer {
  const v = Buffer.from(value);
  const rest = Buffer.concat([Buffer.from(` ${key}=`), v, Buffer.from('\n')]);
  let len = rest.length + 1;
  while (String(len).length + rest.length !== len) len = String(len).length + rest.length;
  return Buffer.concat([Buffer.from(String(len)), rest]);
}

const END = Buffer.alloc(1024);

interface Collected {
  name: string;
  type: string;
  data: Buffer;
  entry: TarEntry;
}

async function readTar(bytes: Buffer, limits = DEFAULT_TAR_LIMITS, chunk = 100): Promise<Collected[]> {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  const reader = new TarReader(new StreamByteSource(Readable.from(parts)), limits);
  const out: Collected[] = [];
  for (let e = await reader.next(); e !== null; e = await reader.next()) {
    const chunks: Buffer[] = [];
    if (e.header.name.startsWith('skip')) {
      out.push({ name: e.header.name, type: e.header.type, data: Buffer.alloc(0), entry: e });
      continue;
    }
    for await (const c of e.body()) chunks.push(c);
    out.push({ name: e.header.name, type: e.header.type, data: Buffer.concat(chunks), entry: e });
  }
  return out;
}

async function packed(entries: Array<[tar.Header | { name: string; [k: string]: unknown }, string?]>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [h, data] of entries) pack.entry(h as tar.Header, data ?? '');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

describe('digests', () => {
  it('accepts only sha256:<64 lowercase hex>', () => {
    const good = sha256Digest('x');
    expect(isValidDigest(good)).toBe(true);
    expect(assertDigest(good, 'here')).toBe(good);
    for (const bad of ['', 'sha256:', good.toUpperCase(), `${good}0`, `${good}/../x`, 'sha256:../../../etc/passwd', good.slice(7), 42, null]) {
      expect(isValidDigest(bad)).toBe(false);
      expect(() => assertDigest(bad, 'here')).toThrow(/^here: invalid digest/);
    }
    expect(() => assertDigest(`sha512:${'0'.repeat(128)}`, 'here')).toThrow(/unsupported digest algorithm/);
  });

  it('verifiedStream passes matching content and fails a mismatch or wrong size naming the digest', async () => {
    const data = Buffer.from('layer bytes');
    const digest = sha256Digest(data);
    const collect = async (s: Readable): Promise<Buffer> => {
      const chunks: Buffer[] = [];
      for await (const c of s) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    };
    expect((await collect(verifiedStream(Readable.from([data]), digest, data.length, 'x'))).equals(data)).toBe(true);
    await expect(collect(verifiedStream(Readable.from([Buffer.from('layer bytez')]), digest, data.length, 'x'))).rejects.toThrow(
      `x: blob ${digest} content does not match its digest`,
    );
    await expect(collect(verifiedStream(Readable.from([data, data]), digest, data.length, 'x'))).rejects.toThrow(
      `blob ${digest} is larger than its descriptor size`,
    );
    await expect(collect(verifiedStream(Readable.from([data]), digest, data.length + 1, 'x'))).rejects.toThrow(/descriptor says/);
    const failing = new Readable({ read() { this.destroy(new Error('disk on fire')); } });
    await expect(collect(verifiedStream(failing, digest, 1, 'x'))).rejects.toThrow('disk on fire');
  });
});

describe('TarReader', () => {
  it('reads what tar-stream writes: files, dirs, links, devices, long names, skipped bodies', async () => {
    const long = `${'d'.repeat(90)}/${'e'.repeat(90)}/file`;
    const bytes = await packed([
      [{ name: 'dir', type: 'directory', mode: 0o755 }],
      [{ name: 'dir/a', mode: 0o4755, uid: 1000, gid: 1001, mtime: new Date(1697453640000) }, 'hello'],
      [{ name: 'skip-me', mode: 0o644 }, 'x'.repeat(5000)],
      [{ name: 'dir/l', type: 'symlink', linkname: '/etc/passwd' }],
      [{ name: 'dir/h', type: 'link', linkname: 'dir/a' }],
      [{ name: 'null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 }],
      [{ name: long, mode: 0o600 }, 'deep'],
      [{ name: 'big', mode: 0o644 }, 'y'.repeat(70000)],
    ]);
    const got = await readTar(bytes);
    expect(got.map((g) => [g.name, g.type])).toEqual([
      ['dir', 'directory'],
      ['dir/a', 'file'],
      ['skip-me', 'file'],
      ['dir/l', 'symlink'],
      ['dir/h', 'link'],
      ['null', 'char'],
      [long, 'file'],
      ['big', 'file'],
    ]);
    const a = got[1]!.entry.header;
    expect([a.mode, a.uid, a.gid, a.mtimeSec, a.size]).toEqual([0o4755, 1000, 1001, 1697453640, 5]);
    expect(got[1]!.data.toString()).toBe('hello');
    expect(got[3]!.entry.header.linkname).toBe('/etc/passwd');
    expect(got[4]!.entry.header.linkname).toBe('dir/a');
    expect([got[5]!.entry.header.devmajor, got[5]!.entry.header.devminor]).toEqual([1, 3]);
    expect(got[6]!.data.toString()).toBe('deep');
    expect(got[7]!.data.length).toBe(70000);
  });

  it('keeps binary PAX xattr values, PAX paths and nanosecond mtimes', async () => {
    const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0xff, 0xfe, 0x80]);
    const pax = Buffer.concat([
      paxRecord('path', 'usr/bin/ping'),
      paxRecord('mtime', '1697453640.123456789'),
      paxRecord('SCHILY.xattr.security.capability', cap),
      paxRecord('SCHILY.xattr.user.note', 'ünïcode'),
    ]);
    const bytes = Buffer.concat([
      headerBlock({ name: 'PaxHeaders/ping', typeflag: 'x', size: pax.length }),
      body(pax),
      headerBlock({ name: 'ping-short-name', size: 3, mode: 0o755 }),
      body('abc'),
      END,
    ]);
    const [e] = await readTar(bytes, DEFAULT_TAR_LIMITS, 7);
    const h = e!.entry.header;
    expect(h.name).toBe('usr/bin/ping');
    expect([h.mtimeSec, h.mtimeNsec]).toEqual([1697453640, 123456789]);
    expect(h.xattrs.get('security.capability')!.equals(cap)).toBe(true);
    expect(h.xattrs.get('user.note')!.toString()).toBe('ünïcode');
    expect(e!.data.toString()).toBe('abc');
  });

  it('refuses a uid or gid no Linux id can be (past 32 bits, or (uid_t)-1, which chown takes as "leave it root\'s")', async () => {
    for (const [key, value] of [['uid', '99999999999'], ['gid', '4294967295']]) {
      const pax = paxRecord(key!, value!);
      const bytes = Buffer.concat([headerBlock({ name: 'PaxHeaders/f', typeflag: 'x', size: pax.length }), body(pax), headerBlock({ name: 'f', size: 0 }), END]);
      await expect(readTar(bytes)).rejects.toThrow(`corrupt tar: the ${key} ${value} of f is not a Linux id`);
    }
  });

  it('handles GNU long names, ustar prefixes, base-256 sizes, V7 directories and global PAX headers', async () => {
    const longName = `${'x'.repeat(150)}/name`;
    const global = paxRecord('uid', '4242');
    const bytes = Buffer.concat([
      headerBlock({ name: 'pax_global_header', typeflag: 'g', size: global.length }),
      body(global),
      headerBlock({ name: '././@LongLink', typeflag: 'L', size: longName.length + 1, format: 'gnu' }),
      body(`${longName}\0`),
      headerBlock({ name: 'truncated', size: 2, format: 'gnu' }),
      body('hi'),
      headerBlock({ name: 'file', prefix: 'some/prefix', size: 1 }),
      body('p'),
      headerBlock({ name: 'bin', size: 4, binarySize: true }),
      body('1234'),
      headerBlock({ name: 'olddir/', format: 'v7' }),
      END,
    ]);
    const got = await readTar(bytes);
    expect(got.map((g) => [g.name, g.type, g.data.toString()])).toEqual([
      [longName, 'file', 'hi'],
      ['some/prefix/file', 'file', 'p'],
      ['bin', 'file', '1234'],
      ['olddir/', 'directory', ''],
    ]);
    expect(got.every((g) => g.entry.header.uid === 4242)).toBe(true);
  });

  it('rejects corrupt and hostile archives with clear errors', async () => {
    const good = Buffer.concat([headerBlock({ name: 'a', size: 3 }), body('abc'), END]);
    const badSum = Buffer.from(good);
    badSum[0] = 0x62;
    await expect(readTar(badSum)).rejects.toThrow(/corrupt tar header: checksum mismatch/);
    await expect(readTar(good.subarray(0, 512 + 100))).rejects.toThrow('corrupt tar: unexpected end of data');
    await expect(readTar(good.subarray(0, 300))).rejects.toThrow('corrupt tar: unexpected end of data');
    await expect(readTar(Buffer.concat([Buffer.alloc(512), good]))).rejects.toThrow(/lone zero block/);
    await expect(readTar(good, { ...DEFAULT_TAR_LIMITS, maxEntrySize: 2 })).rejects.toThrow(
      /refusing tar entry "a": size 3 exceeds the limit/,
    );
    const three = Buffer.concat([headerBlock({ name: 'a' }), headerBlock({ name: 'b' }), headerBlock({ name: 'c' }), END]);
    await expect(readTar(three, { ...DEFAULT_TAR_LIMITS, maxEntries: 2 })).rejects.toThrow(/more than 2 entries/);
    const huge = Buffer.concat([headerBlock({ name: 'x', typeflag: 'x', size: 2 * 1024 * 1024 }), END]);
    await expect(readTar(huge)).rejects.toThrow(/PAX header of 2097152 bytes is too large/);
    const sparse = Buffer.concat([headerBlock({ name: 's', typeflag: 'S' }), END]);
    await expect(readTar(sparse)).rejects.toThrow(/unsupported tar entry type "S"/);
    const negative = headerBlock({ name: 'n' });
    negative.fill(0xff, 124, 136);
    await expect(readTar(Buffer.concat([negative, END]))).rejects.toThrow(/corrupt tar header/);
    // 64 GiB + 1 in base-256: refused from the header alone.
    const absurd = headerBlock({ name: 'absurd', size: 64 * 1024 ** 3 + 1, binarySize: true });
    await expect(readTar(Buffer.concat([absurd, END]))).rejects.toThrow(/exceeds the limit of 68719476736 bytes/);
  });

  it('ends cleanly at end of input without a marker, and hashes everything it is given', async () => {
    const bytes = Buffer.concat([headerBlock({ name: 'a', size: 3 }), body('abc'), END, Buffer.alloc(4096)]);
    const hash = createHash('sha256');
    const src = new StreamByteSource(Readable.from([bytes]), (c) => hash.update(c));
    const reader = new TarReader(src);
    expect((await reader.next())!.header.name).toBe('a');
    expect(await reader.next()).toBeNull();
    await src.drain();
    expect(`sha256:${hash.digest('hex')}`).toBe(sha256Digest(bytes));
    expect((await readTar(Buffer.concat([headerBlock({ name: 'a', size: 3 }), body('abc')]))).map((g) => g.name)).toEqual(['a']);
  });

  it('parses PAX records and times strictly', () => {
    expect([...parsePaxRecords(Buffer.concat([paxRecord('a', 'b'), paxRecord('k', '')]))].map(([k, v]) => [k, v.toString()])).toEqual([
      ['a', 'b'],
      ['k', ''],
    ]);
    expect(() => parsePaxRecords(Buffer.from('99 a=b\n'))).toThrow(/malformed PAX record/);
    expect(() => parsePaxRecords(Buffer.from('x a=b\n'))).toThrow(/malformed PAX record length/);
    expect(parsePaxTime('12.5', 'mtime')).toEqual([12, 500000000]);
    expect(parsePaxTime('-1.25', 'mtime')).toEqual([-2, 750000000]);
    expect(() => parsePaxTime('soon', 'mtime')).toThrow(/not a time/);
  });
});
