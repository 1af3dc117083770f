import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadNative } from '../../src/native/binding.js';
import { prepareInitLayer, removeInitLayer } from '../../src/store/init-layer.js';
import { createLayer, publishLinks } from '../../src/store/layers.js';
import { initSparesDir, storePaths } from '../../src/store/paths.js';
import { removeTree } from '../../src/store/remove-tree.js';
import { SyncBatch } from '../../src/util/atomic-write.js';

/** removeTree never deletes into a mount (containerd#10704); the rest of it is in test/unit/remove-tree.test.ts. */

// Made before the first test that runs: a file whose tests are all filtered out (-t) runs no afterAll to remove it.
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-remove-tree-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs fn with `mount ...args target` in place, and unmounts target even when fn fails. */
function whileMounted(args: string[], target: string, fn: () => void): void {
  execFileSync('mount', [...args, target]);
  try {
    fn();
  } finally {
    execFileSync('umount', [target]);
  }
}

it('refuses a directory on another filesystem inside, and deletes nothing in it', () => {
  const top = path.join(dir, 'mounted');
  const mnt = path.join(top, 'a/mnt');
  fs.mkdirSync(mnt, { recursive: true });
  whileMounted(['-t', 'tmpfs', 'tmpfs'], mnt, () => {
    fs.writeFileSync(path.join(mnt, 'precious'), 'keep me');
    // mountinfo catches it first; the walk's own device check is the guard for one that appears mid-walk.
    expect(() => removeTree(top)).toThrow(/mount point/);
    expect(() => loadNative().removeTree({ path: top })).toThrow(/refusing to delete .*\/a\/mnt: it is a mount point/);
    expect(fs.readFileSync(path.join(mnt, 'precious'), 'utf8')).toBe('keep me');
  });
  removeTree(top);
  expect(fs.existsSync(top)).toBe(false);
});

it('refuses a bind mount of the same filesystem inside, which st_dev would not tell', () => {
  const victim = fs.mkdtempSync(path.join(dir, 'victim-'));
  fs.writeFileSync(path.join(victim, 'precious'), 'keep me');
  const top = path.join(dir, 'bound');
  const mnt = path.join(top, 'a/mnt');
  fs.mkdirSync(mnt, { recursive: true });
  whileMounted(['--bind', victim], mnt, () => {
    expect(fs.statSync(mnt).dev).toBe(fs.statSync(top).dev);
    expect(() => loadNative().removeTree({ path: top })).toThrow(/refusing to delete .*\/a\/mnt: it is a mount point/);
    expect(fs.readFileSync(path.join(victim, 'precious'), 'utf8')).toBe('keep me');
  });
  removeTree(top);
  expect(fs.existsSync(top)).toBe(false);
  expect(fs.readFileSync(path.join(victim, 'precious'), 'utf8')).toBe('keep me');
});

it('refuses a top that is itself a mount point, and empties nothing of it', () => {
  const top = path.join(dir, 'mounted-top');
  fs.mkdirSync(top);
  whileMounted(['-t', 'tmpfs', 'tmpfs'], top, () => {
    fs.writeFileSync(path.join(top, 'precious'), 'keep me');
    expect(() => loadNative().removeTree({ path: top })).toThrow(/refusing to delete .*mounted-top: it is a mount point/);
    expect(fs.readFileSync(path.join(top, 'precious'), 'utf8')).toBe('keep me');
  });
  removeTree(top);
  expect(fs.existsSync(top)).toBe(false);
});

it('listTree enters no mount inside the tree', () => {
  const top = path.join(dir, 'listed');
  const mnt = path.join(top, 'a/mnt');
  fs.mkdirSync(mnt, { recursive: true });
  whileMounted(['-t', 'tmpfs', 'tmpfs'], mnt, () => {
    fs.writeFileSync(path.join(mnt, 'inside'), '');
    expect(() => loadNative().listTree({ path: top, max: 10 })).toThrow(/EXDEV/);
  });
});

it('a spare init diff that is not the table and cannot be deleted (a mount inside) is left, and the next spare taken', () => {
  const p = storePaths(path.join(dir, 'spares-store'), path.join(dir, 'spares-run'));
  createLayer(p, 'image');
  const batch = new SyncBatch();
  const made = ['a-init', 'b-init'].map((id) => prepareInitLayer(p, id, 'image', batch));
  batch.commit(loadNative());
  publishLinks(p, made);
  for (const { cacheId } of made) removeInitLayer(p, cacheId);
  const spares = fs.readdirSync(initSparesDir(p)).map((n) => path.join(initSparesDir(p), n));
  expect(spares).toHaveLength(2);
  const [bad, good] = spares as [string, string];
  const mnt = path.join(bad, 'proc');
  whileMounted(['-t', 'tmpfs', 'tmpfs'], mnt, () => {
    fs.writeFileSync(path.join(mnt, 'inside'), '');
    const goodInode = fs.statSync(good).ino;
    const taken = prepareInitLayer(p, 'c-init', 'image', new SyncBatch());
    expect(fs.statSync(path.join(p.root, 'overlay', taken.cacheId, 'diff')).ino).toBe(goodInode);
    expect(fs.existsSync(path.join(mnt, 'inside'))).toBe(true);
  });
});
