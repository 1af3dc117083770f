import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repo } from '../helpers/store.js';

/**
 * `npm run bench` end to end at its smallest (one run a measurement, two
 * containers for density), so the benchmark cannot rot unnoticed as the
 * CLI changes: every measurement must come out, for every runtime, with
 * the host left as it was. The numbers themselves are not checked; speed
 * is quoted from full runs (README, bench/results.json), never tested.
 */

const RUNTIMES = ['runc', 'crun', 'podman', 'unshare', 'python3'];

let dir: string;
let out: string;

/** The cgroups podman (cgroupfs manager) and tsrun make, per v1 memory hierarchy or the v2 root. */
function cgroupNames(): string[] {
  const roots = ['/sys/fs/cgroup/memory', '/sys/fs/cgroup'];
  return roots.flatMap((root) =>
    ['libpod_parent', 'tsrun'].flatMap((group) => {
      try {
        return fs.readdirSync(path.join(root, group), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `${root}/${group}/${e.name}`);
      } catch {
        return [];
      }
    }),
  );
}

let cgroupsBefore: string[];

beforeAll(() => {
  // Prerequisites .ci/setup installs: their absence is a failure, not a skip.
  for (const cmd of RUNTIMES) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) throw new Error(`${cmd} is required (bash .ci/setup installs it)`);
  }
  // Short: podman refuses a --runroot over 50 characters, and the bench's is <TMPDIR>/tsrun-bench-XXXXXX/podman/run.
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-'));
  out = path.join(dir, 'out');
  fs.mkdirSync(out);
  cgroupsBefore = cgroupNames();
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('npm run bench (smoke)', () => {
  it('measures everything for every runtime, writes the JSON and the chart, and leaves nothing behind', () => {
    const r = spawnSync('node', [path.join(repo, 'bench/bench.mjs')], {
      encoding: 'utf8',
      timeout: 600_000,
      // Its work dir goes under our TMPDIR, so whatever it left is ours to see.
      env: { ...process.env, TMPDIR: dir, BENCH_RUNS: '1', BENCH_DENSITY: '2', BENCH_GAP_MS: '0', BENCH_OUT: out },
    });
    expect(r.error).toBeUndefined();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);

    const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as {
      runs: number;
      measurements: { name: string; results: Record<string, { median: number; min: number; max: number; runs: number }> }[];
    };
    expect(results.runs).toBe(1);
    const byName = (start: string) => {
      const m = results.measurements.find((x) => x.name.startsWith(start));
      expect(m, start).toBeDefined();
      return m!.results;
    };
    const keys = (start: string) => Object.keys(byName(start)).sort();
    expect(keys('run --rm')).toEqual(['crun', 'podman+crun', 'podman+runc', 'podman+tsrun-oci', 'runc', 'tsrun', 'tsrun-oci']);
    expect(keys('exec')).toEqual(['crun', 'podman', 'runc', 'tsrun', 'tsrun-oci']);
    expect(keys('resident memory')).toEqual(['conmon', 'tsrun monitor']);
    expect(keys('peak resident memory')).toEqual(['podman', 'runc', 'tsrun', 'tsrun-oci']);
    expect(keys('detached cycle')).toEqual(['podman+runc', 'runc', 'tsrun']);
    expect(keys('density: 2')).toContain('tsrun start');
    expect(keys('run --rm true by image depth')).toEqual(['tsrun 1 layers', 'tsrun 10 layers', 'tsrun 100 layers', 'tsrun 128 layers', 'tsrun 499 layers']);
    expect(keys('load')).toEqual(['tar -x', 'tsrun load']);
    expect(results.measurements).toHaveLength(8);
    for (const m of results.measurements) {
      for (const [k, s] of Object.entries(m.results)) {
        expect(Number.isFinite(s.median) && s.median > 0, `${m.name}: ${k}`).toBe(true);
        expect(s.min <= s.median && s.median <= s.max, `${m.name}: ${k}`).toBe(true);
      }
    }
    // Ratios are what the table is for.
    expect(r.stdout).toMatch(/tsrun\/runc = \d+\.\d\dx/);

    const png = fs.readFileSync(path.join(out, 'results.png'));
    expect(png.subarray(0, 8)).toEqual(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]));

    // Nothing left: its work dir (podman's and tsrun's stores, the bundles), mounts, or cgroups.
    expect(fs.readdirSync(dir)).toEqual(['out']);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
    expect(cgroupNames()).toEqual(cgroupsBefore);
  }, 600_000);
});
