import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Digest, verifiedStream } from '../../src/image/digest.js';
import { loadNative } from '../../src/native/binding.js';
import { unpackLayer } from '../../src/store/unpack.js';

const native = loadNative();
const TAR = 'application/vnd.oci.image.layer.v1.tar';
const TGZ = 'application/vnd.oci.image.layer.v1.tar+gzip';
const T0 = new Date(1697453640_000); // 2023-10-16T10:54:00Z

type Entry = [tar.Header | { name: string; [k: string]: unknown }, (string | Buffer)?];

async function packTar(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const [h, data] of entries) pack.entry(Object.assign({ mtime: T0 }, h) as tar.Header, data ?? '');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** A hand-made header block (for what tar-stream cannot write: binary PAX values, absurd sizes). */
function headerBlock(f: { name: string; typeflag?: string; size?: number; mode?: number; binarySize?: boolean }): Buffer {
  const b = Buffer.alloc(512);
  const oct = (v: number, off: number, len: number): void => void b.write(v.toString(8).padStart(len - 1, '0'), off, 'latin1');
  b.write(f.name, 0, 'utf8');
  oct(f.mode ?? 0o644, 100, 8);
  oct(0, 108, 8);
  oct(0, 116, 8);
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
  oct(T0.getTime() / 1000, 136, 12);
  b.write(f.typeflag ?? '0', 156, 'latin1');
  b.write('ustar\u000000', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'latin1');
  return b;
}

function padded(data: Buffer | string): Buffer {
  const d = Buffer.from(data);
  return Buffer.concat([d, Buffer.alloc((512 - (d.length % 512)) % 512)]);
}

function paxRecord(key: string, value: Buffer | string): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
  let len = rest.length + 1;
  while (String(len).length + rest.length !== len) len = String(len).length + rest.length;
  return Buffer.concat([Buffer.from(String(len)), rest]);
}

function paxFile(records: Buffer[], name: string, content: string, mode = 0o644): Buffer {
  const pax = Buffer.concat(records);
  return Buffer.concat([
    headerBlock({ name: 'PaxHeaders/x', typeflag: 'x', size: pax.length }),
    padded(pax),
    headerBlock({ name, size: content.length, mode }),
    padded(content),
  ]);
}

const END = Buffer.alloc(1024);

function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

function xattr(file: string, name: string): Buffer | null {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    return native.fgetxattr({ fd, name });
  } finally {
    fs.closeSync(fd);
  }
}

/** Every path under dir with its type, mode, owner, size and content hash: a snapshot to compare. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = path.join(rel, name);
      const st = fs.lstatSync(path.join(dir, r));
      let extra = '';
      if (st.isFile()) extra = createHash('sha256').update(fs.readFileSync(path.join(dir, r))).digest('hex');
      if (st.isSymbolicLink()) extra = fs.readlinkSync(path.join(dir, r));
      out.push(`${r} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs} ${extra}`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

let tmp: string;
let layer: string;
let outside: string;
let before: string[];

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-unpack-'));
  layer = path.join(tmp, 'layer');
  outside = path.join(tmp, 'outside');
  fs.mkdirSync(layer, { mode: 0o755 });
  fs.mkdirSync(outside, { mode: 0o750 });
  fs.writeFileSync(path.join(outside, 'secret'), 'do not touch\n', { mode: 0o600 });
  fs.writeFileSync(path.join(outside, 'passwd'), 'root:x:0:0::/root:/bin/sh\n', { mode: 0o644 });
  before = snapshot(outside);
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function unpack(data: Buffer, mediaType = TAR): Promise<{ diffId: string; size: number }> {
  return unpackLayer({ source: Readable.from([data]), mediaType, diffDir: layer, native });
}

/** Asserts the unpack fails with `message`, leaving the temp dir as it was apart from layer/. */
async function expectRefused(data: Buffer, message: string | RegExp, mediaType = TAR): Promise<void> {
  const fds = openFdCount();
  await expect(unpack(data, mediaType)).rejects.toThrow(message);
  expect(openFdCount()).toBe(fds);
  expect(fs.readdirSync(tmp).sort()).toEqual(['layer', 'outside']);
  expect(snapshot(outside)).toEqual(before);
}

describe('unpackLayer', () => {
  it('writes files, modes, owners, times, links and devices as the tar says', async () => {
    const data = await packTar([
      [{ name: 'bin', type: 'directory', mode: 0o755 }],
      [{ name: 'bin/su', mode: 0o4755, uid: 1000, gid: 1000 }, '#!/bin/sh\n'],
      [{ name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox', uid: 7, gid: 8 }],
      [{ name: 'bin/su-again', type: 'link', linkname: 'bin/su' }],
      [{ name: 'shared', type: 'directory', mode: 0o2775, uid: 0, gid: 50 }],
      [{ name: 'tmp', type: 'directory', mode: 0o1777 }],
      [{ name: 'tmp/keep', mode: 0o640, mtime: new Date(1_000_000_000_000) }, 'x'],
      [{ name: 'dev/null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 }],
      [{ name: 'dev/sda', type: 'block-device', mode: 0o660, devmajor: 8, devminor: 0, gid: 6 }],
      [{ name: 'run/fifo', type: 'fifo', mode: 0o622 }],
      [{ name: 'a/b/c/deep.txt', mode: 0o644 }, 'deep\n'],
      [{ name: './dot/slash.txt', mode: 0o644 }, 'dot'],
      [{ name: 'etc/passwd', mode: 0o644 }, 'root:x:0:0:root:/root:/bin/sh\n'],
      [{ name: 'etc/passwd', mode: 0o600 }, 'second wins\n'],
      [{ name: 'was-dir', type: 'directory' }],
      [{ name: 'was-dir', mode: 0o644 }, 'now a file'],
      [{ name: 'was-link', type: 'symlink', linkname: '/nowhere' }],
      [{ name: 'was-link', type: 'directory', mode: 0o700 }],
    ]);
    const fds = openFdCount();
    const { diffId, size } = await unpack(data);
    expect(openFdCount()).toBe(fds);
    expect(diffId).toBe(sha256Digest(data));
    expect(size).toBe('#!/bin/sh\n'.length + 1 + 5 + 3 + 'root:x:0:0:root:/root:/bin/sh\n'.length + 'second wins\n'.length + 'now a file'.length);

    const st = (p: string): fs.Stats => fs.lstatSync(path.join(layer, p));
    expect(st('bin/su').mode & 0o7777).toBe(0o4755);
    expect([st('bin/su').uid, st('bin/su').gid]).toEqual([1000, 1000]);
    expect(st('bin/su').mtimeMs).toBe(T0.getTime());
    expect(fs.readlinkSync(path.join(layer, 'bin/sh'))).toBe('/bin/busybox');
    expect([st('bin/sh').uid, st('bin/sh').gid, st('bin/sh').mtimeMs]).toEqual([7, 8, T0.getTime()]);
    expect(st('bin/su-again').ino).toBe(st('bin/su').ino);
    expect(st('bin/su').nlink).toBe(2);
    expect(st('shared').mode & 0o7777).toBe(0o2775);
    expect(st('shared').gid).toBe(50);
    expect(st('tmp').mode & 0o7777).toBe(0o1777);
    expect(st('tmp/keep').mtimeMs).toBe(1_000_000_000_000);
    // Directory times are applied after their children were created.
    expect(st('tmp').mtimeMs).toBe(T0.getTime());
    expect(st('bin').mtimeMs).toBe(T0.getTime());
    expect(st('dev/null').isCharacterDevice()).toBe(true);
    expect(st('dev/null').rdev).toBe(0x103);
    expect(st('dev/null').mode & 0o7777).toBe(0o666);
    expect(st('dev/sda').isBlockDevice()).toBe(true);
    expect([st('dev/sda').rdev, st('dev/sda').gid, st('dev/sda').mode & 0o7777]).toEqual([0x800, 6, 0o660]);
    expect(st('run/fifo').isFIFO()).toBe(true);
    expect(st('run/fifo').mode & 0o7777).toBe(0o622);
    // Implicit parents: 0755, as tar creates them.
    for (const d of ['a', 'a/b', 'a/b/c', 'dev', 'run', 'dot']) expect(st(d).mode & 0o7777).toBe(0o755);
    expect(fs.readFileSync(path.join(layer, 'a/b/c/deep.txt'), 'utf8')).toBe('deep\n');
    expect(fs.readFileSync(path.join(layer, 'dot/slash.txt'), 'utf8')).toBe('dot');
    expect(fs.readFileSync(path.join(layer, 'etc/passwd'), 'utf8')).toBe('second wins\n');
    expect(st('etc/passwd').mode & 0o7777).toBe(0o600);
    expect(st('was-dir').isFile()).toBe(true);
    expect(st('was-link').isDirectory()).toBe(true);
    expect(st('was-link').mode & 0o7777).toBe(0o700);
    expect(st('.').mode & 0o7777).toBe(0o755);
  });

  it('decompresses gzip by media type or by magic, and reports the diff id of the uncompressed tar', async () => {
    const data = await packTar([[{ name: 'hello.txt', mode: 0o644 }, 'this is an update to the hello.txt\n']]);
    const r1 = await unpack(gzipSync(data), TGZ);
    expect(r1).toEqual({ diffId: sha256Digest(data), size: 35 });
    fs.rmSync(path.join(layer, 'hello.txt'));
    const r2 = await unpack(gzipSync(data), 'application/vnd.docker.image.rootfs.diff.tar.gzip');
    expect(r2.diffId).toBe(sha256Digest(data));
    fs.rmSync(path.join(layer, 'hello.txt'));
    const r3 = await unpack(gzipSync(data), 'application/octet-stream');
    expect(r3.diffId).toBe(sha256Digest(data));
    fs.rmSync(path.join(layer, 'hello.txt'));
    const r4 = await unpack(data, '');
    expect(r4.diffId).toBe(sha256Digest(data));
    expect(fs.readFileSync(path.join(layer, 'hello.txt'), 'utf8')).toBe('this is an update to the hello.txt\n');
  });

  it('streams a large file with backpressure, never far ahead of the disk', async () => {
    const total = 64 * 1024 * 1024;
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    const file = path.join(layer, 'big');
    const hash = createHash('sha256');
    let produced = 0;
    let maxLag = 0;
    async function* source(): AsyncGenerator<Buffer> {
      const emit = (b: Buffer): Buffer => {
        hash.update(b);
        produced += b.length;
        return b;
      };
      yield emit(headerBlock({ name: 'big', size: total }));
      for (let sent = 0; sent < total; sent += chunk.length) {
        const written = fs.existsSync(file) ? fs.statSync(file).size : 0;
        maxLag = Math.max(maxLag, produced - 512 - written);
        yield emit(chunk);
      }
      yield emit(END);
    }
    const r = await unpackLayer({ source: Readable.from(source()), mediaType: TAR, diffDir: layer, native });
    expect(r).toEqual({ diffId: `sha256:${hash.digest('hex')}`, size: total });
    expect(fs.statSync(file).size).toBe(total);
    expect(maxLag).toBeLessThan(4 * 1024 * 1024);
  });

  it('converts whiteouts to 0/0 character devices and opaque markers to the overlay xattr', async () => {
    const data = await packTar([
      [{ name: 'etc', type: 'directory', mode: 0o755 }],
      [{ name: 'etc/.wh.hostname', mode: 0o600 }],
      [{ name: '.wh.gone', mode: 0o600, uid: 1000, gid: 1001 }],
      [{ name: 'opaque', type: 'directory', mode: 0o750 }],
      [{ name: 'opaque/.wh..wh..opq', mode: 0o750 }],
      [{ name: 'opaque/new', mode: 0o644 }, 'n'],
      [{ name: 'implicit/.wh..wh..opq' }],
      [{ name: '.wh..wh.plnk', mode: 0o600 }],
    ]);
    await unpack(data);
    const gone = fs.lstatSync(path.join(layer, 'gone'));
    expect(gone.isCharacterDevice()).toBe(true);
    expect(gone.rdev).toBe(0);
    expect([gone.uid, gone.gid]).toEqual([1000, 1001]);
    const hostname = fs.lstatSync(path.join(layer, 'etc/hostname'));
    expect(hostname.isCharacterDevice() && hostname.rdev === 0).toBe(true);
    expect([hostname.uid, hostname.gid]).toEqual([0, 0]);
    expect(xattr(path.join(layer, 'opaque'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(xattr(path.join(layer, 'implicit'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(xattr(path.join(layer, 'etc'), 'trusted.overlay.opaque')).toBeNull();
    expect(fs.readdirSync(layer).sort()).toEqual(['etc', 'gone', 'implicit', 'opaque']);
    expect(fs.readdirSync(path.join(layer, 'opaque'))).toEqual(['new']);
    expect(fs.readdirSync(path.join(layer, 'etc'))).toEqual(['hostname']);
  });

  it('applies PAX xattrs as raw bytes, and never overlay xattrs from the tar', async () => {
    const cap = Buffer.alloc(20);
    cap.writeUInt32LE(0x02000001, 0); // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
    cap.writeUInt32LE(1 << 13, 4); // CAP_NET_RAW permitted
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3]);
    const data = Buffer.concat([
      paxFile(
        [
          paxRecord('SCHILY.xattr.security.capability', cap),
          paxRecord('SCHILY.xattr.user.binary', binary),
          paxRecord('SCHILY.xattr.trusted.overlay.redirect', '/elsewhere'),
          paxRecord('SCHILY.xattr.trusted.overlay.opaque', 'y'),
        ],
        'ping',
        'elf',
        0o755,
      ),
      END,
    ]);
    await unpack(data);
    const ping = path.join(layer, 'ping');
    expect(xattr(ping, 'security.capability')!.equals(cap)).toBe(true);
    expect(xattr(ping, 'user.binary')!.equals(binary)).toBe(true);
    expect(xattr(ping, 'trusted.overlay.redirect')).toBeNull();
    expect(xattr(ping, 'trusted.overlay.opaque')).toBeNull();
    expect(fs.statSync(ping).mode & 0o7777).toBe(0o755);
  });

  it('refuses names that leave the layer', async () => {
    await expectRefused(await packTar([[{ name: '../x', mode: 0o644 }, 'x']]), 'refusing tar entry "../x": name contains a ".." component');
    await expectRefused(await packTar([[{ name: 'a/../../x', mode: 0o644 }, 'x']]), /".." component/);
    await expectRefused(
      await packTar([[{ name: path.join(outside, 'abs'), mode: 0o644 }, 'x']]),
      `refusing tar entry ${JSON.stringify(path.join(outside, 'abs'))}: absolute name`,
    );
    await expectRefused(Buffer.concat([paxFile([paxRecord('path', 'a\0b')], 'nul', 'x'), END]), /NUL byte/);
    await expectRefused(Buffer.concat([paxFile([paxRecord('path', '')], '', 'x'), END]), /empty name/);
  });

  it('refuses writes through symlinks, absolute or relative', async () => {
    await expectRefused(
      await packTar([
        [{ name: 'x', type: 'symlink', linkname: outside }],
        [{ name: 'x/passwd', mode: 0o644 }, 'pwned\n'],
      ]),
      'refusing tar entry "x/passwd": "x" resolves through a symlink',
    );
    await expectRefused(
      await packTar([
        [{ name: 'x', type: 'symlink', linkname: '/etc' }],
        [{ name: 'x/passwd', mode: 0o644 }, 'pwned\n'],
      ]),
      /"x" resolves through a symlink/,
    );
    await expectRefused(
      await packTar([
        [{ name: 'x', type: 'symlink', linkname: '..' }],
        [{ name: 'x/outside/secret', mode: 0o644 }, 'pwned\n'],
      ]),
      /resolves through a symlink/,
    );
    await expectRefused(
      await packTar([
        [{ name: 'd', type: 'directory' }],
        [{ name: 'd/up', type: 'symlink', linkname: '../../outside' }],
        [{ name: 'd/up/new', type: 'directory', mode: 0o777 }],
      ]),
      /"d\/up" resolves through a symlink/,
    );
    await expectRefused(
      await packTar([
        [{ name: 'x', type: 'symlink', linkname: outside }],
        [{ name: 'x/.wh.secret' }],
      ]),
      /resolves through a symlink/,
    );
    await expectRefused(
      await packTar([
        [{ name: 'x', type: 'symlink', linkname: outside }],
        [{ name: 'x/.wh..wh..opq' }],
      ]),
      /resolves through a symlink/,
    );
  });

  it('replaces a symlink by the entry of the same name instead of following it', async () => {
    const data = await packTar([
      [{ name: 'f', type: 'symlink', linkname: path.join(outside, 'secret') }],
      [{ name: 'f', mode: 0o666 }, 'replaced'],
      [{ name: 'd', type: 'symlink', linkname: outside }],
      [{ name: 'd', type: 'directory', mode: 0o777 }],
      [{ name: 'n', type: 'symlink', linkname: path.join(outside, 'passwd') }],
      [{ name: 'n', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 }],
    ]);
    await unpack(data);
    expect(fs.lstatSync(path.join(layer, 'f')).isFile()).toBe(true);
    expect(fs.readFileSync(path.join(layer, 'f'), 'utf8')).toBe('replaced');
    expect(fs.lstatSync(path.join(layer, 'd')).isDirectory()).toBe(true);
    expect(fs.lstatSync(path.join(layer, 'n')).isCharacterDevice()).toBe(true);
    expect(snapshot(outside)).toEqual(before);
  });

  it('refuses hard links that leave the layer or do not exist', async () => {
    await expectRefused(
      await packTar([[{ name: 'h', type: 'link', linkname: '../outside/secret' }]]),
      'refusing tar entry "h": hard link target "../outside/secret" is outside the layer',
    );
    await expectRefused(await packTar([[{ name: 'h', type: 'link', linkname: '../../etc/passwd' }]]), /outside the layer/);
    await expectRefused(await packTar([[{ name: 'h', type: 'link', linkname: '/etc/passwd' }]]), /outside the layer/);
    await expectRefused(
      await packTar([
        [{ name: 's', type: 'symlink', linkname: outside }],
        [{ name: 'h', type: 'link', linkname: 's/secret' }],
      ]),
      /"s" resolves through a symlink/,
    );
    await expectRefused(
      await packTar([[{ name: 'h', type: 'link', linkname: 'missing' }]]),
      'refusing tar entry "h": hard link target "missing" does not exist in the layer',
    );
    await expectRefused(
      await packTar([[{ name: 'h', type: 'link', linkname: 'nodir/missing' }]]),
      /"nodir" does not exist in the layer/,
    );
    await expectRefused(
      await packTar([
        [{ name: 'dir', type: 'directory' }],
        [{ name: 'h', type: 'link', linkname: 'dir' }],
      ]),
      /is a directory/,
    );
  });

  it('refuses invalid whiteouts, non-empty directory replacement and absurd sizes', async () => {
    for (const name of ['.wh.', '.wh..', '.wh...', 'd/.wh..']) {
      await expectRefused(await packTar([[{ name }]]), `refusing tar entry ${JSON.stringify(name)}: invalid whiteout name`);
    }
    await expectRefused(
      await packTar([
        [{ name: 'n', type: 'directory' }],
        [{ name: 'n/child' }, 'x'],
        [{ name: 'n', mode: 0o644 }, 'file'],
      ]),
      'refusing tar entry "n": would replace a non-empty directory',
    );
    await expectRefused(
      await packTar([
        [{ name: 'file' }, 'x'],
        [{ name: 'file/child' }, 'x'],
      ]),
      /a component of "file" is not a directory/,
    );
    const absurd = Buffer.concat([headerBlock({ name: 'huge', size: 64 * 1024 ** 3 + 512, binarySize: true }), END]);
    await expectRefused(absurd, /refusing tar entry "huge": size 68719477248 exceeds the limit/);
  });

  it('fails on corrupt gzip, truncated or corrupt tar, zstd, and a blob that does not match its digest', async () => {
    const data = await packTar([[{ name: 'a', mode: 0o644 }, 'a'.repeat(3000)]]);
    const gz = gzipSync(data);
    const garbage = Buffer.from(gz);
    garbage.fill(0x5a, 10, 40);
    await expectRefused(garbage, /^corrupt gzip layer: /, TGZ);
    await expectRefused(gz.subarray(0, gz.length - 20), /^corrupt gzip layer: /, TGZ);
    await expectRefused(Buffer.from('not gzip at all'), /^corrupt gzip layer: /, TGZ);
    await expectRefused(data.subarray(0, 1000), 'corrupt tar: unexpected end of data');
    await expectRefused(Buffer.alloc(1024, 0x41), /corrupt tar header/);
    await expectRefused(
      Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]),
      /^corrupt zstd data: /,
      'application/vnd.oci.image.layer.v1.tar+zstd',
    );
    await expectRefused(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]), /^corrupt zstd data: /, 'application/octet-stream');

    const wrong = `sha256:${'0'.repeat(64)}`;
    const fds = openFdCount();
    await expect(
      unpackLayer({ source: verifiedStream(Readable.from([gz]), wrong, gz.length, 'blob'), mediaType: TGZ, diffDir: layer, native }),
    ).rejects.toThrow(`blob ${wrong} content does not match its digest`);
    expect(openFdCount()).toBe(fds);
  });

  it('fails when the layer root does not exist', async () => {
    await expect(
      unpackLayer({ source: Readable.from([END]), mediaType: TAR, diffDir: path.join(tmp, 'missing'), native }),
    ).rejects.toThrow(/^cannot open layer directory .*missing: .*ENOENT/);
  });
});
