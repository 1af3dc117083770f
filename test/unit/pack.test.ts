import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { decodeHeaderBlock } from '../../src/image/tar-format.js';
import { StreamByteSource, TarReader } from '../../src/image/tar-reader.js';
import { encodeHeader, splitUstarName } from '../../src/store/pack.js';

const base = { type: 'file' as const, mode: 0o644, uid: 0, gid: 0, size: 0, mtimeSec: 1691590620, mtimeNsec: 0 };

async function headersOf(bytes: Buffer) {
  const reader = new TarReader(new StreamByteSource(Readable.from([Buffer.concat([bytes, Buffer.alloc(1024)])])));
  const out = [];
  for (let e = await reader.next(); e !== null; e = await reader.next()) out.push(e.header);
  return out;
}

describe('the layer packer header encoding', () => {
  it('writes the ustar header GNU tar --format=ustar --numeric-owner writes', () => {
    const b = encodeHeader({ ...base, name: 'bin', type: 'directory', mode: 0o755 });
    expect(b.length).toBe(512);
    expect(b.toString('latin1', 0, 4)).toBe('bin/');
    expect(b.toString('latin1', 100, 108)).toBe('0000755\0');
    expect(b.toString('latin1', 136, 148)).toBe('14464717734\0');
    expect(b.toString('latin1', 148, 156)).toBe('010035\0 ');
    expect(b.toString('latin1', 257, 265)).toBe('ustar\x0000');
    expect(b.toString('latin1', 329, 345)).toBe('0000000\x000000000\0');
    expect(decodeHeaderBlock(b).typeflag).toBe('5');
  });

  it('keeps setuid and sticky bits, and splits long names into the ustar prefix', async () => {
    const long = `${'d'.repeat(120)}/file`;
    expect(splitUstarName(long)).toEqual(['d'.repeat(120), 'file']);
    const [h] = await headersOf(encodeHeader({ ...base, name: long, mode: 0o4755 }));
    expect(h!.name).toBe(long);
    expect(h!.mode).toBe(0o4755);
  });

  it('adds PAX records only for what ustar cannot hold: xattrs (binary), names, big ids, nanoseconds', async () => {
    const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0x00, 0x0a, 0x3d]);
    const name = 'x'.repeat(300);
    const bytes = encodeHeader({ ...base, name, uid: 100_000_000, gid: 3, mtimeNsec: 5, xattrs: new Map([['security.capability', cap]]) });
    expect(bytes.length).toBeGreaterThan(512);
    const [h] = await headersOf(bytes);
    expect(h!.name).toBe(name);
    expect(h!.uid).toBe(100_000_000);
    expect(h!.gid).toBe(3);
    expect(h!.mtimeNsec).toBe(5);
    expect(h!.xattrs.get('security.capability')).toEqual(cap);
  });

  it('writes links, symlinks and devices with their targets and numbers', async () => {
    const bytes = Buffer.concat([
      encodeHeader({ ...base, name: 'a', type: 'symlink', linkname: '/bin/busybox' }),
      encodeHeader({ ...base, name: 'b', type: 'link', linkname: 'c' }),
      encodeHeader({ ...base, name: 'dev/null', type: 'char', devmajor: 1, devminor: 3 }),
    ]);
    const hs = await headersOf(bytes);
    expect(hs.map((h) => [h.name, h.type, h.linkname])).toEqual([
      ['a', 'symlink', '/bin/busybox'],
      ['b', 'link', 'c'],
      ['dev/null', 'char', ''],
    ]);
    expect([hs[2]!.devmajor, hs[2]!.devminor]).toEqual([1, 3]);
  });
});
