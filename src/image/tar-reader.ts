import fs from 'node:fs';
import type { Readable } from 'node:stream';
import {
  BLOCK,
  buildHeader,
  decodeHeaderBlock,
  entryType,
  gnuLongName,
  isZeroBlock,
  padding,
  parsePaxRecords,
  type TarHeader,
} from './tar-format.js';

/**
 * A pull parser for tar archives over either a stream (a layer being
 * unpacked: bytes are pulled only as fast as entries are consumed, so
 * backpressure is natural and nothing is buffered beyond one chunk) or a file
 * read at offsets (an image archive: headers are read, bodies skipped, and
 * each entry's byte offset recorded).
 */

export interface TarLimits {
  /** Largest body of one entry. */
  maxEntrySize: number;
  /** Most entries (PAX and GNU extension headers not counted). */
  maxEntries: number;
  /** Largest PAX or GNU long-name extension header. */
  maxExtensionSize: number;
}

export const DEFAULT_TAR_LIMITS: TarLimits = {
  maxEntrySize: 64 * 1024 ** 3,
  maxEntries: 1_000_000,
  maxExtensionSize: 1024 * 1024,
};

/** Where the bytes come from. */
export interface ByteSource {
  /** Offset of the next unread byte. */
  readonly position: number;
  /** Exactly n bytes, or fewer only when the input ends. */
  read(n: number): Promise<Buffer>;
  /** Passes over n bytes; throws when the input ends first. */
  skip(n: number): Promise<void>;
  /** Yields the next n bytes in chunks; throws when the input ends first. */
  chunks(n: number): AsyncGenerator<Buffer>;
}

export interface TarEntry {
  header: TarHeader;
  /** Byte offset of the entry's data in the (uncompressed) archive. */
  dataOffset: number;
  /** The entry's data; may be read at most once, and only before the next entry is requested. */
  body(): AsyncGenerator<Buffer>;
}

const TRUNCATED = 'corrupt tar: unexpected end of data';

/** Reads a Readable chunk by chunk, handing every byte to onBytes (for hashing). */
export class StreamByteSource implements ByteSource {
  private readonly iter: AsyncIterator<unknown>;
  private queue: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private pos = 0;

  constructor(
    stream: Readable,
    private readonly onBytes?: (chunk: Buffer) => void,
  ) {
    this.iter = stream[Symbol.asyncIterator]();
  }

  get position(): number {
    return this.pos;
  }

  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    const r = await this.iter.next();
    if (r.done) {
      this.ended = true;
      return false;
    }
    const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    if (chunk.length === 0) return true;
    this.onBytes?.(chunk);
    this.queue.push(chunk);
    this.queued += chunk.length;
    return true;
  }

  /** Removes up to n bytes from the front of the queue as one buffer. */
  private take(n: number): Buffer {
    const first = this.queue[0]!;
    if (first.length <= n) {
      this.queue.shift();
      this.queued -= first.length;
      this.pos += first.length;
      return first;
    }
    this.queue[0] = first.subarray(n);
    this.queued -= n;
    this.pos += n;
    return first.subarray(0, n);
  }

  async read(n: number): Promise<Buffer> {
    while (this.queued < n && (await this.fill()));
    const parts: Buffer[] = [];
    let want = Math.min(n, this.queued);
    while (want > 0) {
      const part = this.take(want);
      parts.push(part);
      want -= part.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.queued === 0 && !(await this.fill())) throw new Error(TRUNCATED);
      if (this.queued === 0) continue;
      left -= this.take(left).length;
    }
  }

  async *chunks(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.queued === 0 && !(await this.fill())) throw new Error(TRUNCATED);
      if (this.queued === 0) continue;
      const part = this.take(left);
      left -= part.length;
      yield part;
    }
  }

  /** Consumes (and so hashes) whatever follows the end-of-archive marker. */
  async drain(): Promise<void> {
    this.pos += this.queued;
    this.queue = [];
    this.queued = 0;
    while (await this.fill()) {
      this.pos += this.queued;
      this.queue = [];
      this.queued = 0;
    }
  }
}

/** Reads a file at offsets; skipping costs nothing. */
export class FileByteSource implements ByteSource {
  private pos = 0;

  constructor(
    private readonly fd: number,
    private readonly fileSize: number,
  ) {}

  get position(): number {
    return this.pos;
  }

  async read(n: number): Promise<Buffer> {
    const len = Math.max(0, Math.min(n, this.fileSize - this.pos));
    const buf = Buffer.alloc(len);
    let done = 0;
    while (done < len) {
      const bytesRead = await readAt(this.fd, buf, done, len - done, this.pos + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    this.pos += done;
    return done === len ? buf : buf.subarray(0, done);
  }

  async skip(n: number): Promise<void> {
    if (this.pos + n > this.fileSize) throw new Error(TRUNCATED);
    this.pos += n;
  }

  async *chunks(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      const part = await this.read(Math.min(left, 1024 * 1024));
      if (part.length === 0) throw new Error(TRUNCATED);
      left -= part.length;
      yield part;
    }
  }
}

function readAt(fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, buf, off, len, pos, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead)));
  });
}

export class TarReader {
  private pendingBody = 0; // body bytes of the current entry not yet consumed
  private pendingPad = 0;
  private entries = 0;
  private finished = false;
  private globalPax = new Map<string, Buffer>();

  constructor(
    private readonly src: ByteSource,
    private readonly limits: TarLimits = DEFAULT_TAR_LIMITS,
  ) {}

  private async readBlock(): Promise<Buffer | null> {
    const block = await this.src.read(BLOCK);
    if (block.length === 0) return null;
    if (block.length < BLOCK) throw new Error(TRUNCATED);
    return block;
  }

  private async readExtension(size: number, what: string): Promise<Buffer> {
    if (size > this.limits.maxExtensionSize) throw new Error(`corrupt tar: ${what} header of ${size} bytes is too large`);
    const data = await this.src.read(size);
    if (data.length < size) throw new Error(TRUNCATED);
    await this.src.skip(padding(size));
    return data;
  }

  /** The next entry, or null after the end-of-archive marker (or a clean end of input). */
  async next(): Promise<TarEntry | null> {
    if (this.finished) return null;
    if (this.pendingBody > 0 || this.pendingPad > 0) {
      await this.src.skip(this.pendingBody + this.pendingPad);
      this.pendingBody = 0;
      this.pendingPad = 0;
    }
    let pax: Map<string, Buffer> | undefined;
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      const block = await this.readBlock();
      if (block === null) {
        if (pax || longName !== undefined || longLink !== undefined) throw new Error(TRUNCATED);
        this.finished = true;
        return null;
      }
      if (isZeroBlock(block)) {
        // End of archive is two zero blocks; a lone zero block followed by a
        // header is what Go's archive/tar (and so docker) rejects too.
        const second = await this.readBlock();
        if (second !== null && !isZeroBlock(second)) throw new Error('corrupt tar: lone zero block inside the archive');
        this.finished = true;
        return null;
      }
      const raw = decodeHeaderBlock(block);
      switch (raw.typeflag) {
        case 'x':
          pax = parsePaxRecords(await this.readExtension(raw.size, 'PAX'));
          continue;
        case 'g':
          for (const [k, v] of parsePaxRecords(await this.readExtension(raw.size, 'PAX global'))) {
            if (v.length === 0) this.globalPax.delete(k);
            else this.globalPax.set(k, v);
          }
          continue;
        case 'L':
          longName = gnuLongName(await this.readExtension(raw.size, 'GNU long name'));
          continue;
        case 'K':
          longLink = gnuLongName(await this.readExtension(raw.size, 'GNU long link'));
          continue;
        case 'V': // GNU volume label: not a file
          await this.src.skip(raw.size + padding(raw.size));
          continue;
      }
      const type = entryType(raw);
      if (type === undefined) {
        throw new Error(`unsupported tar entry type ${JSON.stringify(raw.typeflag)} for ${JSON.stringify(longName ?? raw.name)}`);
      }
      let merged = this.globalPax;
      if (pax) {
        merged = new Map(this.globalPax);
        for (const [k, v] of pax) {
          if (v.length === 0) merged.delete(k);
          else merged.set(k, v);
        }
      }
      const header = buildHeader(raw, type, merged, longName, longLink);
      if (header.size > this.limits.maxEntrySize) {
        throw new Error(`refusing tar entry ${JSON.stringify(header.name)}: size ${header.size} exceeds the limit of ${this.limits.maxEntrySize} bytes`);
      }
      if (++this.entries > this.limits.maxEntries) {
        throw new Error(`refusing tar: more than ${this.limits.maxEntries} entries`);
      }
      this.pendingBody = header.size;
      this.pendingPad = padding(header.size);
      const dataOffset = this.src.position;
      return { header, dataOffset, body: () => this.body(header.size) };
    }
  }

  private async *body(size: number): AsyncGenerator<Buffer> {
    if (this.pendingBody !== size) throw new Error('tar entry body read twice or after the next entry');
    for await (const chunk of this.src.chunks(size)) {
      this.pendingBody -= chunk.length;
      yield chunk;
    }
  }
}
