import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadNative } from '../../src/native/binding.js';
import { removeTree } from '../../src/store/remove-tree.js';
import { unlinkIfExists } from '../../src/util/remove-file.js';
import { repo } from '../helpers/store.js';

/**
 * removeTree (native/addon/tree.cc under src/store/remove-tree.ts), which
 * deletes layers, containers and volumes: never through a symlink, and
 * however deep a container made its tree. A mount inside: in
 * test/integration/remove-tree.test.ts (mounting needs root).
 */

// Made before the first test that runs: a file whose tests are all filtered out (-t) runs no afterAll to remove it.
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-remove-tree-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('deletes files, fifos, symlinks and empty dirs, and nothing a symlink points at', () => {
  const outside = fs.mkdtempSync(path.join(dir, 'outside-'));
  fs.writeFileSync(path.join(outside, 'precious'), 'keep me');
  const top = path.join(dir, 'layer');
  fs.mkdirSync(path.join(top, 'diff/etc/empty'), { recursive: true });
  fs.writeFileSync(path.join(top, 'diff/etc/hosts'), '127.0.0.1 localhost\n');
  fs.symlinkSync(outside, path.join(top, 'diff/to-dir'));
  fs.symlinkSync(path.join(outside, 'precious'), path.join(top, 'diff/etc/to-file'));
  execFileSync('mkfifo', [path.join(top, 'diff/fifo')]);
  removeTree(top);
  expect(fs.existsSync(top)).toBe(false);
  expect(fs.readFileSync(path.join(outside, 'precious'), 'utf8')).toBe('keep me');
});

it('deletes a tree deeper than PATH_MAX allows a path to name', () => {
  const top = path.join(dir, 'deep');
  fs.mkdirSync(top);
  // 3000 levels of "d/": 6000 bytes, past PATH_MAX (4096); made a level at a time from the one above.
  let fd = fs.openSync(top, 'r');
  for (let i = 0; i < 3000; i++) {
    loadNative().mkdirat({ dirFd: fd, name: 'd', mode: 0o755 });
    const next = loadNative().openat2({ dirFd: fd, path: 'd', flags: fs.constants.O_RDONLY | fs.constants.O_DIRECTORY, resolve: 0 });
    fs.closeSync(fd);
    fd = next;
  }
  fs.writeFileSync(`/proc/self/fd/${fd}/bottom`, 'x');
  fs.closeSync(fd);
  removeTree(top);
  expect(fs.existsSync(top)).toBe(false);
});

it('deletes a wide tree whole: it lists on after each subdirectory from where it left', () => {
  const top = path.join(dir, 'wide');
  for (let i = 0; i < 500; i++) {
    fs.mkdirSync(path.join(top, `d${i}`, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(top, `d${i}`, 'f'), '');
    fs.writeFileSync(path.join(top, `d${i}`, 'sub', 'g'), '');
    fs.writeFileSync(path.join(top, `f${i}`), '');
  }
  removeTree(top);
  expect(fs.existsSync(top)).toBe(false);
});

it('keeps at most 64 listings open: 1000 levels under a limit of 128 fds', () => {
  const top = path.join(dir, 'fd-limited');
  fs.mkdirSync(path.join(top, ...Array<string>(1000).fill('d')), { recursive: true });
  const addon = path.join(repo, 'build/native/Release/tsrun_native.node');
  const script = `const m = { exports: {} }; process.dlopen(m, ${JSON.stringify(addon)}); m.exports.removeTree({ path: ${JSON.stringify(top)} });`;
  const r = spawnSync('sh', ['-c', 'ulimit -n 128 && exec "$0" -e "$1"', process.execPath, script], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(fs.existsSync(top)).toBe(false);
});

it('is a no-op for a missing path, and removes a symlink given as the top, not its target', () => {
  removeTree(path.join(dir, 'never-was'));
  const target = fs.mkdtempSync(path.join(dir, 'target-'));
  fs.writeFileSync(path.join(target, 'precious'), 'keep me');
  fs.symlinkSync(target, path.join(dir, 'link'));
  removeTree(path.join(dir, 'link'));
  expect(fs.existsSync(path.join(dir, 'link'))).toBe(false);
  expect(fs.readFileSync(path.join(target, 'precious'), 'utf8')).toBe('keep me');
});

it('listTree lists a tree in one call: kinds, sizes, owners and link targets, never through a symlink, undefined past max', () => {
  const top = path.join(dir, 'listed');
  fs.mkdirSync(path.join(top, 'etc/empty'), { recursive: true });
  fs.writeFileSync(path.join(top, 'etc/hosts'), 'x\n');
  fs.symlinkSync(path.join(dir, 'elsewhere'), path.join(top, 'to-dir'));
  fs.mkdirSync(path.join(dir, 'elsewhere/inside'), { recursive: true });
  const uid = process.geteuid!();
  const entries = loadNative().listTree({ path: top, max: 10 })!;
  expect(entries.sort((a, b) => a.path.localeCompare(b.path))).toEqual([
    { path: 'etc', kind: 'dir', size: expect.any(Number), uid },
    { path: 'etc/empty', kind: 'dir', size: expect.any(Number), uid },
    { path: 'etc/hosts', kind: 'file', size: 2, uid },
    { path: 'to-dir', kind: 'symlink', size: expect.any(Number), uid, target: path.join(dir, 'elsewhere') },
  ]);
  expect(loadNative().listTree({ path: top, max: 3 })).toBeUndefined();
  // The top itself a symlink: refused.
  expect(() => loadNative().listTree({ path: path.join(top, 'to-dir'), max: 10 })).toThrow(/ELOOP|ENOTDIR/);
});

it('with no mount points given (a state dir of tsrun\'s own), deletes a dir and all in it; a dir or parent that is not there is no error', () => {
  const top = path.join(dir, 'state');
  fs.mkdirSync(path.join(top, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(top, 'sub/runtime.json'), '{}');
  removeTree(top, []);
  expect(fs.existsSync(top)).toBe(false);
  removeTree(top, []);
  removeTree(path.join(dir, 'no-such-parent', 'state'), []);
});

it('unlinkIfExists (util/remove-file.ts), for single files, deletes a file or a symlink (not what it points at), takes a missing one as deleted, refuses a dir', () => {
  const file = path.join(dir, 'file');
  fs.writeFileSync(file, 'x');
  const link = path.join(dir, 'link');
  fs.symlinkSync(file, link);
  unlinkIfExists(link);
  expect(fs.existsSync(link)).toBe(false);
  expect(fs.readFileSync(file, 'utf8')).toBe('x');
  unlinkIfExists(file);
  unlinkIfExists(file);
  expect(fs.existsSync(file)).toBe(false);
  expect(() => unlinkIfExists(dir)).toThrow(/EISDIR/);
});
