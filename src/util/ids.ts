import * as fs from 'node:fs';

/**
 * n bytes from the kernel's CSPRNG (/dev/urandom, the same pool as
 * getrandom(2)). Not node:crypto's randomBytes: loading node:crypto costs
 * ~2 ms, which a `run` that needs no hashing would pay for 32 bytes.
 */
function randomBytes(n: number): Buffer {
  const buf = Buffer.alloc(n);
  const fd = fs.openSync('/dev/urandom', 'r');
  try {
    for (let off = 0; off < n; ) off += fs.readSync(fd, buf, off, n - off, null);
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}

/** A container or layer id: 64 hex characters, shown as 12. */
export function newId(): string {
  return randomBytes(32).toString('hex');
}

export const shortId = (id: string) => id.slice(0, 12);

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * A layer's link id: 26 characters of base32 from random bytes, as Docker's
 * overlayutils.GenerateID. 26 is what lets 128 `l/` lower names fit one page
 * of mount data (OVERLAY2.md §2).
 */
export function newLinkId(): string {
  const bytes = randomBytes(26);
  let out = '';
  for (const b of bytes) out += BASE32[b & 31];
  return out;
}

/** crun's rule for container names (and ids given by OCI callers). */
export const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

const ADJECTIVES = ['admiring', 'brave', 'clever', 'dazzling', 'eager', 'focused', 'gallant', 'happy', 'jolly', 'keen', 'lucid', 'modest', 'nifty', 'quirky', 'serene', 'trusting', 'vibrant', 'wizardly', 'zealous', 'bold'];
const NAMES = ['babbage', 'curie', 'dijkstra', 'euler', 'fermat', 'galois', 'hopper', 'kepler', 'lovelace', 'mccarthy', 'noether', 'pascal', 'ritchie', 'shannon', 'thompson', 'turing', 'wozniak', 'yalow', 'lamarr', 'knuth'];

/** A docker-style generated name such as `eager_turing`. */
export function generateName(taken: (name: string) => boolean): string {
  for (let attempt = 0; ; attempt++) {
    const pick = (list: string[]) => list[randomBytes(1)[0]! % list.length]!;
    const base = `${pick(ADJECTIVES)}_${pick(NAMES)}`;
    const name = attempt < 10 ? base : `${base}${attempt}`;
    if (!taken(name)) return name;
  }
}
