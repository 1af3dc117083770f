import { Duplex } from 'node:stream';
import type { NativeBinding } from '../native/types.js';

/**
 * zstd decompression for tar+zstd layers. Node 20's zlib has none, so the
 * addon wraps libzstd's streaming decoder (native/addon/zstd.cc); this turns
 * it into a stream. Output is produced in bounded steps (at most ~1 MiB per
 * native call) and only as fast as the consumer reads, so neither a whole
 * layer nor a decompression bomb is ever held in memory.
 */

export const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

function zstdError(err: unknown): Error {
  if ((err as NodeJS.ErrnoException | undefined)?.code === 'ERR_ZSTD') {
    const e = new Error((err as Error).message, { cause: err });
    (e as NodeJS.ErrnoException).code = 'ERR_ZSTD';
    return e;
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** The decompressed bytes of a zstd stream (one or more frames). */
export async function* zstdDecompress(native: NativeBinding, source: AsyncIterable<Buffer | Uint8Array>): AsyncGenerator<Buffer> {
  const d = native.createZstdDecompressor();
  try {
    for await (const chunk of source) {
      let input = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      for (;;) {
        let r: ReturnType<typeof d.decompress>;
        try {
          r = d.decompress(input);
        } catch (err) {
          throw zstdError(err);
        }
        input = input.subarray(r.consumed);
        for (const out of r.chunks) yield out;
        if (r.flushed) break;
      }
    }
    try {
      d.end();
    } catch (err) {
      throw zstdError(err);
    }
  } finally {
    d.free();
  }
}

/**
 * A transform stream: zstd in, plain bytes out, with backpressure. A corrupt
 * or truncated stream makes it fail with an Error whose message starts
 * "corrupt zstd data:" (code ERR_ZSTD).
 */
export function createZstdDecompressStream(native: NativeBinding): Duplex {
  return Duplex.from(async function* (source: AsyncIterable<Buffer>) {
    yield* zstdDecompress(native, source);
  });
}
