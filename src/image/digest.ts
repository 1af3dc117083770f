import { createHash } from 'node:crypto';
import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';

/**
 * Content digests. Only sha256 is accepted: it is what every registry and
 * docker/podman write, and a digest is used as a file name (blobs/sha256/HEX),
 * so it must be validated before it is used anywhere near a path.
 */

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export function isValidDigest(value: unknown): value is string {
  return typeof value === 'string' && DIGEST_RE.test(value);
}

/** Throws `${what}: invalid digest "…"` unless value is sha256:<64 lowercase hex>. */
export function assertDigest(value: unknown, what: string): string {
  if (isValidDigest(value)) return value;
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 100)) : String(value);
  if (typeof value === 'string' && /^[a-z0-9]+([+._-][a-z0-9]+)*:/.test(value) && !value.startsWith('sha256:')) {
    throw new Error(`${what}: unsupported digest algorithm in ${shown} (only sha256 is supported)`);
  }
  throw new Error(`${what}: invalid digest ${shown} (want sha256:<64 hex digits>)`);
}

/** The 64 hex digits of a validated digest. */
export function digestHex(digest: string): string {
  if (!isValidDigest(digest)) throw new Error(`invalid digest ${JSON.stringify(digest)}`);
  return digest.slice('sha256:'.length);
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Throws unless data's sha256 (and size, when given) match the descriptor. */
export function verifyBlob(data: Buffer, digest: string, size: number | undefined, where: string): void {
  if (size !== undefined && data.length !== size) {
    throw new Error(`${where}: blob ${digest} has ${data.length} bytes, descriptor says ${size}`);
  }
  const actual = sha256Digest(data);
  if (actual !== digest) {
    throw new Error(`${where}: blob ${digest} content does not match its digest (got ${actual})`);
  }
}

/**
 * Passes bytes through while hashing them; ends with an error naming the
 * digest when the content or size differ, so whoever consumes the stream (an
 * unpacker in a pipeline) fails instead of accepting a tampered blob. A blob
 * that grows past its size fails as soon as it does.
 */
class VerifyingStream extends Transform {
  private readonly hash = createHash('sha256');
  private seen = 0;

  constructor(
    private readonly digest: string,
    private readonly size: number | undefined,
    private readonly where: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.size !== undefined && this.seen > this.size) {
      cb(new Error(`${this.where}: blob ${this.digest} is larger than its descriptor size ${this.size}`));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.size !== undefined && this.seen !== this.size) {
      cb(new Error(`${this.where}: blob ${this.digest} has ${this.seen} bytes, descriptor says ${this.size}`));
      return;
    }
    const actual = `sha256:${this.hash.digest('hex')}`;
    if (actual !== this.digest) {
      cb(new Error(`${this.where}: blob ${this.digest} content does not match its digest (got ${actual})`));
      return;
    }
    cb();
  }
}

/** raw piped through a verifier; errors of raw are forwarded to the result. */
export function verifiedStream(raw: Readable, digest: string, size: number | undefined, where: string): Readable {
  const verifier = new VerifyingStream(digest, size, where);
  pipeline(raw, verifier, () => {
    /* errors surface on verifier, which pipeline destroys with them */
  });
  return verifier;
}
