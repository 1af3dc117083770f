import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimName, ensureNameIndex, nameOwner, releaseName } from '../../src/runtime/names.js';
import { storePaths, type StorePaths } from '../../src/store/paths.js';

let dir: string;
let p: StorePaths;
const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const record = (id: string, name: string) => {
  fs.mkdirSync(path.join(p.root, 'containers', id), { recursive: true });
  fs.writeFileSync(path.join(p.root, 'containers', id, 'container.json'), JSON.stringify({ id, name }));
};

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-names-'));
  p = storePaths(path.join(dir, 'root'), path.join(dir, 'run'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('container name index', () => {
  it('is built from the records of a store that has none', () => {
    record(A, 'web');
    ensureNameIndex(p);
    expect(nameOwner(p, 'web')).toBe(A);
    expect(nameOwner(p, 'db')).toBeUndefined();
  });

  it('claims a name once; a second container gets docker\'s conflict', () => {
    ensureNameIndex(p);
    claimName(p, 'web', A);
    record(A, 'web');
    claimName(p, 'web', A);
    expect(() => claimName(p, 'web', B)).toThrow(/the container name "web" is already in use by container aaaaaaaaaaaa/);
  });

  it('takes over a stale name: its container gone, or called otherwise now', () => {
    ensureNameIndex(p);
    claimName(p, 'web', A); // a crash before A's record was written
    claimName(p, 'web', B);
    record(B, 'web');
    expect(nameOwner(p, 'web')).toBe(B);
    claimName(p, 'api', A);
    record(A, 'renamed');
    expect(nameOwner(p, 'api')).toBeUndefined();
    claimName(p, 'api', B);
  });

  it('releases a name only for its owner', () => {
    ensureNameIndex(p);
    claimName(p, 'web', A);
    record(A, 'web');
    releaseName(p, 'web', B);
    expect(nameOwner(p, 'web')).toBe(A);
    releaseName(p, 'web', A);
    expect(nameOwner(p, 'web')).toBeUndefined();
  });
});
