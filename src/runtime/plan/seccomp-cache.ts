import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadNative } from '../../native/binding.js';
import type { OciSeccomp } from '../../oci/spec.js';
import { compileSeccomp, encodeBpf } from './seccomp.js';

/**
 * Compiled seccomp filters kept on disk (the store's cache/seccomp/), so a
 * start or an exec reads ~5 kB instead of compiling the profile again (~2.5 ms
 * of every run and exec). An entry is keyed by the resolved OCI profile (which
 * the container's capabilities already shaped), the architecture, and the
 * identity of the compiler's own code file, so a rebuilt tsrun never reads
 * another build's output. An entry holds that whole key and the program's
 * length, and is written as state files are (tmp + fsync + rename), so it is
 * complete or absent: a missing, short, foreign or colliding entry is never
 * used, just compiled and written again.
 *
 * The file name is a 64-bit digest of the key: the first 16 hex digits of its
 * sha256 by the addon's OpenSSL (~15 µs for the default profile's ~5 kB key),
 * or an FNV-1a where the addon has no SHA256 (~1.3 ms: a JavaScript loop that
 * runs once a command is still interpreted). Not node:crypto, which costs
 * ~2 ms to load in a command that does not otherwise need it. The full key in
 * the entry makes collisions harmless.
 */

const MAGIC = 'tsrun-seccomp-bpf 1';

/** The compiled filter (struct sock_filter[]) for a resolved profile, from the cache in `cacheDir` when it holds it (none: compile). */
export function compileSeccompCached(profile: OciSeccomp, cacheDir: string | undefined): Buffer {
  if (cacheDir === undefined) return encodeBpf(compileSeccomp(profile));
  const key = seccompCacheKey(profile);
  const file = path.join(cacheDir, `${entryName(key)}.bpf`);
  const cached = readEntry(file, key);
  if (cached) return cached;
  const bpf = encodeBpf(compileSeccomp(profile));
  writeEntry(file, key, bpf);
  return bpf;
}

export function seccompCacheKey(profile: OciSeccomp): string {
  return JSON.stringify([MAGIC, process.arch, compilerIdentity(), profile]);
}

function entryName(key: string): string {
  // Loaded already: whatever plans a launch goes on to start it.
  const native = loadNative();
  return native.sha256Hex ? native.sha256Hex({ text: key }).slice(0, 16) : fnv1a64(key);
}

let identity: string | undefined;

/** The file this code was loaded from (the bundle, or the module): its inode, size and mtime. */
function compilerIdentity(): string {
  if (identity === undefined) {
    try {
      const st = fs.statSync(import.meta.filename);
      identity = `${st.ino}-${st.size}-${st.mtimeMs}`;
    } catch {
      identity = 'unknown';
    }
  }
  return identity;
}

/** entry = MAGIC \n length \n key \n program */
function readEntry(file: string, key: string): Buffer | undefined {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch {
    return undefined;
  }
  const nl1 = data.indexOf(10);
  const nl2 = nl1 < 0 ? -1 : data.indexOf(10, nl1 + 1);
  const nl3 = nl2 < 0 ? -1 : data.indexOf(10, nl2 + 1);
  if (nl3 < 0 || data.toString('latin1', 0, nl1) !== MAGIC) return undefined;
  const bpf = data.subarray(nl3 + 1);
  if (bpf.length === 0 || bpf.length % 8 !== 0 || data.toString('latin1', nl1 + 1, nl2) !== String(bpf.length)) return undefined;
  if (data.toString('utf8', nl2 + 1, nl3) !== key) return undefined;
  return bpf;
}

function writeEntry(file: string, key: string, bpf: Buffer): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, Buffer.concat([Buffer.from(`${MAGIC}\n${bpf.length}\n${key}\n`), bpf]));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch {
    // Best effort: the next start compiles again.
    try {
      fs.unlinkSync(tmp);
    } catch {
      // never made
    }
  }
}

/** 64-bit FNV-1a over a string's UTF-16 units, as two 32-bit halves (no BigInt in the loop). */
export function fnv1a64(input: string): string {
  let lo = 0x84222325;
  let hi = 0xcbf29ce4;
  const n = input.length;
  for (let i = 0; i < n; i++) {
    lo = (lo ^ input.charCodeAt(i)) >>> 0;
    // h *= 0x100000001b3 (mod 2^64): lo*0x1b3 carries into hi, plus lo << 40.
    const loMul = lo * 0x1b3;
    const carry = Math.floor(loMul / 0x100000000);
    hi = (Math.imul(hi, 0x1b3) + carry + ((lo << 8) >>> 0)) >>> 0;
    lo = loMul >>> 0;
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}
