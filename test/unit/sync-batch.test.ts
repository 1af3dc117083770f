import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SYNCFS_MAX_DIRTY_BYTES, SyncBatch, systemDirtyBytes } from '../../src/util/atomic-write.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-sync-batch-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function batchOf(n: number): SyncBatch {
  const batch = new SyncBatch();
  for (let i = 0; i < n; i++) {
    fs.writeFileSync(path.join(dir, `f${i}`), `${i}`);
    batch.add(path.join(dir, `f${i}`));
  }
  batch.add(dir, dir);
  return batch;
}

describe('SyncBatch', () => {
  it('syncs each filesystem once with syncfs when little is dirty', () => {
    const calls: number[] = [];
    expect(batchOf(3).commit({ syncfs: ({ fd }) => void calls.push(fd) }, () => SYNCFS_MAX_DIRTY_BYTES)).toBe('syncfs');
    expect(calls).toHaveLength(1);
  });

  it('falls back to an fsync per path when much is dirty, or when it cannot tell', () => {
    const calls: number[] = [];
    const native = { syncfs: ({ fd }: { fd: number }) => void calls.push(fd) };
    expect(batchOf(3).commit(native, () => SYNCFS_MAX_DIRTY_BYTES + 1)).toBe('fsync');
    expect(batchOf(1).commit(native, () => Infinity)).toBe('fsync');
    expect(calls).toEqual([]);
  });

  it('fails loudly on a path that is gone, rather than calling it durable', () => {
    const batch = batchOf(1);
    batch.add(path.join(dir, 'missing'));
    expect(() => batch.commit({ syncfs: () => undefined }, () => Infinity)).toThrow(/ENOENT/);
    expect(() => batch.commit({ syncfs: () => undefined }, () => 0)).toThrow(/ENOENT/);
  });
});

describe('systemDirtyBytes', () => {
  it('adds Dirty and Writeback from meminfo', () => {
    expect(systemDirtyBytes('MemFree:  100 kB\nDirty:              36 kB\nWriteback:         4 kB\n')).toBe(40 * 1024);
  });
  it('is Infinity when it cannot tell', () => {
    expect(systemDirtyBytes('MemFree: 1 kB\n')).toBe(Infinity);
  });
  it('reads this host', () => {
    expect(systemDirtyBytes()).toBeGreaterThanOrEqual(0);
  });
});
