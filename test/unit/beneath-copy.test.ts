import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadNative } from '../../src/native/binding.js';
import { fillFromImage } from '../../src/runtime/copy.js';
import { TreeReader } from '../../src/store/tree-reader.js';

/**
 * The host side of the copies a container can race: a volume's copy-up
 * (another container sharing the volume may plant symlinks in it) and the
 * reads of a live tree (a file swapped for a FIFO or a device after its
 * lstat). Writes go beneath the destination's fd and are refused through a
 * symlink; only regular files are ever opened for reading.
 */

const native = loadNative();
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-beneath-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('a volume copy-up refuses to write through a symlink planted in the volume, and writes nothing where it points', () => {
  const root = path.join(dir, 'image-root');
  fs.mkdirSync(path.join(root, 'data', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(root, 'data', 'sub', 'f'), 'from the image\n');
  const volume = path.join(dir, 'volume');
  const canary = path.join(dir, 'canary');
  fs.mkdirSync(volume);
  fs.mkdirSync(canary);
  fs.symlinkSync(canary, path.join(volume, 'sub'));
  expect(() => fillFromImage(native, root, '/data', volume)).toThrow('refusing to copy through the symlink sub: a directory goes there');
  expect(fs.readdirSync(canary)).toEqual([]);

  // Without the plant, the copy is whole, modes kept.
  fs.unlinkSync(path.join(volume, 'sub'));
  fs.chmodSync(path.join(root, 'data', 'sub'), 0o750);
  fillFromImage(native, root, '/data', volume);
  expect(fs.readFileSync(path.join(volume, 'sub', 'f'), 'utf8')).toBe('from the image\n');
  expect(fs.statSync(path.join(volume, 'sub')).mode & 0o7777).toBe(0o750);
});

it('opens only regular files of a live tree: a FIFO (or a device) is left unopened, so it can neither block nor act', () => {
  const tree = path.join(dir, 'tree');
  fs.mkdirSync(tree);
  fs.writeFileSync(path.join(tree, 'file'), 'data');
  // A FIFO with no writer: an open for reading would block this test for ever.
  const { spawnSync } = process.getBuiltinModule('node:child_process');
  expect(spawnSync('mkfifo', [path.join(tree, 'fifo')]).status).toBe(0);
  const reader = new TreeReader(native, tree);
  try {
    expect(reader.openFile('fifo')).toBeUndefined();
    const fd = reader.openFile('file')!;
    try {
      expect(fs.readFileSync(fd, 'utf8')).toBe('data');
    } finally {
      fs.closeSync(fd);
    }
  } finally {
    reader.close();
  }
});
