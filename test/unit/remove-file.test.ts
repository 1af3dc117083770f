import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { unlinkIfExists } from '../../src/util/remove-file.js';

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
