import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { loadNative } from '../../src/native/binding.js';
import { removeDirIfExists, unlinkIfExists } from '../../src/util/remove-file.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-remove-file-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

it('unlinkIfExists deletes a file or a symlink (not what it points at), takes a missing one as deleted, refuses a dir', () => {
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

it('removeDirIfExists deletes a dir and all in it; a dir or parent that is not there is no error', () => {
  const top = path.join(dir, 'state');
  fs.mkdirSync(path.join(top, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(top, 'sub/runtime.json'), '{}');
  removeDirIfExists(loadNative(), top);
  expect(fs.existsSync(top)).toBe(false);
  removeDirIfExists(loadNative(), top);
  removeDirIfExists(loadNative(), path.join(dir, 'no-such-parent', 'state'));
});
