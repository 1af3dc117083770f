import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_CAPABILITIES } from '../../src/oci/spec.js';
import { DEFAULT_SECCOMP_PROFILE, compileSeccomp, encodeBpf, resolveSeccompProfile } from '../../src/runtime/plan/seccomp.js';
import { compileSeccompCached, fnv1a64, seccompCacheKey } from '../../src/runtime/plan/seccomp-cache.js';
import { planSeccomp } from '../../src/runtime/plan/launch-plan.js';
import { loadNative } from '../../src/native/binding.js';

let dir: string;
const profile = resolveSeccompProfile(DEFAULT_SECCOMP_PROFILE, DEFAULT_CAPABILITIES);
const compiled = encodeBpf(compileSeccomp(profile));
const entries = () => fs.readdirSync(dir).filter((n) => n.endsWith('.bpf'));

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-seccomp-cache-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('seccomp cache', () => {
  it('compiles on a miss and writes one entry, then serves the same program from it', () => {
    expect(compileSeccompCached(profile, dir)).toEqual(compiled);
    expect(entries()).toHaveLength(1);
    const file = path.join(dir, entries()[0]!);
    const mtime = fs.statSync(file).mtimeMs;
    expect(compileSeccompCached(profile, dir)).toEqual(compiled);
    expect(fs.statSync(file).mtimeMs).toBe(mtime);
    expect(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('is read on a hit: a (hand-made) different program under the right key is what comes back', () => {
    compileSeccompCached(profile, dir);
    const file = path.join(dir, entries()[0]!);
    const data = fs.readFileSync(file);
    const body = data.subarray(0, data.length - compiled.length);
    const other = Buffer.alloc(8, 6); // one RET
    const header = body.toString('utf8').split('\n');
    header[1] = `${other.length}`;
    fs.writeFileSync(file, Buffer.concat([Buffer.from(header.join('\n')), other]));
    expect(compileSeccompCached(profile, dir)).toEqual(other);
  });

  it.each([
    ['truncated', (d: Buffer) => d.subarray(0, d.length - 8)],
    ['one byte longer', (d: Buffer) => Buffer.concat([d, Buffer.from([0])])],
    ['empty', () => Buffer.alloc(0)],
    ['garbage', () => Buffer.from('not a cache entry\n')],
    ['another key', (d: Buffer) => Buffer.from(d.toString('latin1').replace('SCMP_ACT_ERRNO', 'SCMP_ACT_ALLOW'), 'latin1')],
  ])('recompiles and rewrites a %s entry', (_what, corrupt) => {
    compileSeccompCached(profile, dir);
    const file = path.join(dir, entries()[0]!);
    fs.writeFileSync(file, corrupt(fs.readFileSync(file)));
    expect(compileSeccompCached(profile, dir)).toEqual(compiled);
    expect(compileSeccompCached(profile, dir)).toEqual(compiled);
    expect(fs.readFileSync(file).subarray(-compiled.length)).toEqual(compiled);
  });

  it('keys by the capabilities through the resolved profile: other caps, another entry and program', () => {
    const withPtrace = resolveSeccompProfile(DEFAULT_SECCOMP_PROFILE, [...DEFAULT_CAPABILITIES, 'CAP_SYS_PTRACE']);
    expect(seccompCacheKey(withPtrace)).not.toBe(seccompCacheKey(profile));
    compileSeccompCached(profile, dir);
    const other = compileSeccompCached(withPtrace, dir);
    expect(other).toEqual(encodeBpf(compileSeccomp(withPtrace)));
    expect(other).not.toEqual(compiled);
    expect(entries()).toHaveLength(2);
  });

  it('compiles without a cache dir, and planSeccomp uses the one it is given', () => {
    expect(compileSeccompCached(profile, undefined)).toEqual(compiled);
    expect(entries()).toHaveLength(0);
    expect(planSeccomp({ linux: { seccomp: profile } } as never, dir)).toEqual(compiled);
    expect(entries()).toHaveLength(1);
    expect(planSeccomp({ linux: {} } as never, dir)).toBeUndefined();
  });

  it('still compiles when the cache dir cannot be written', () => {
    const file = path.join(dir, 'not-a-dir');
    fs.writeFileSync(file, '');
    expect(compileSeccompCached(profile, file)).toEqual(compiled);
  });

  it("names an entry by its key's sha256 (the addon's OpenSSL), not the slower JavaScript FNV-1a", () => {
    const native = loadNative();
    expect(native.sha256Hex).toBeTypeOf('function');
    compileSeccompCached(profile, dir);
    expect(entries()).toEqual([`${createHash('sha256').update(seccompCacheKey(profile)).digest('hex').slice(0, 16)}.bpf`]);
  });

  it('hashes with FNV-1a 64 where the addon has no SHA256', () => {
    expect(fnv1a64('')).toBe('cbf29ce484222325');
    expect(fnv1a64('a')).toBe('af63dc4c8601ec8c');
    expect(fnv1a64('foobar')).toBe('85944171f73967e8');
  });
});
