import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createZstdDecompressStream, zstdDecompress } from '../../src/image/zstd.js';
import { loadNative } from '../../src/native/binding.js';

/** The zstd CLI (package zstd) makes the input, so the decoder is checked against the reference encoder. */
const native = loadNative();
const zstd = (data: Buffer, ...args: string[]): Buffer => execFileSync('zstd', ['-q', '-c', ...args], { input: data, maxBuffer: 256 * 1024 * 1024 });

/** Feeds `data` in chunks of `size` bytes. */
function chunked(data: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts);
}

async function decompress(data: Buffer, chunk = 64 * 1024): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of zstdDecompress(native, chunked(data, chunk))) out.push(c);
  return Buffer.concat(out);
}

describe('zstd decompression (libzstd in the addon)', () => {
  it('round-trips data from the zstd CLI, whatever the input chunking', async () => {
    const data = Buffer.concat([randomBytes(300_000), Buffer.alloc(500_000, 7), randomBytes(1000)]);
    const z = zstd(data);
    for (const size of [1, 7, 4096, 1 << 20]) {
      expect((await decompress(z, size)).equals(data)).toBe(true);
    }
  });

  it('reads concatenated frames as one stream', async () => {
    const a = randomBytes(10_000);
    const b = Buffer.from('second frame\n');
    expect((await decompress(Buffer.concat([zstd(a), zstd(b)]))).equals(Buffer.concat([a, b]))).toBe(true);
  });

  it('fails on a corrupt, truncated or empty stream with a clear error', async () => {
    const data = randomBytes(200_000);
    const z = zstd(data);
    const corrupt = Buffer.from(z);
    corrupt.fill(0x5a, 20, 60);
    await expect(decompress(corrupt)).rejects.toThrow(/^corrupt zstd data: /);
    await expect(decompress(z.subarray(0, z.length - 10))).rejects.toThrow('corrupt zstd data: truncated frame');
    await expect(decompress(Buffer.alloc(0))).rejects.toThrow('corrupt zstd data: empty input');
    await expect(decompress(Buffer.from('not zstd at all'))).rejects.toThrow(/^corrupt zstd data: Unknown frame descriptor/);
  });

  it('never produces more than ~1 MiB per step, even from a tiny bomb', async () => {
    const z = zstd(Buffer.alloc(64 * 1024 * 1024), '-19');
    expect(z.length).toBeLessThan(64 * 1024);
    const d = native.createZstdDecompressor();
    let input = z;
    let total = 0;
    let steps = 0;
    for (;;) {
      const r = d.decompress(input);
      const produced = r.chunks.reduce((n, c) => n + c.length, 0);
      expect(produced).toBeLessThanOrEqual(1024 * 1024 + 128 * 1024);
      total += produced;
      steps++;
      input = input.subarray(r.consumed);
      if (r.flushed) break;
    }
    d.end();
    expect(total).toBe(64 * 1024 * 1024);
    expect(steps).toBeGreaterThan(32);
  });

  it('works as a transform stream with backpressure, and frees its context on error', async () => {
    const data = randomBytes(2_000_000);
    const out: Buffer[] = [];
    await pipeline(
      chunked(zstd(data), 100_000),
      createZstdDecompressStream(native),
      new Writable({
        highWaterMark: 1,
        write(chunk: Buffer, _enc, cb) {
          out.push(chunk);
          setImmediate(cb);
        },
      }),
    );
    expect(Buffer.concat(out).equals(data)).toBe(true);
    await expect(
      pipeline(Readable.from([Buffer.from('garbage!')]), createZstdDecompressStream(native), new Writable({ write: (_c, _e, cb) => cb() })),
    ).rejects.toThrow(/^corrupt zstd data/);
  });
});
