import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { storePaths } from '../../src/store/paths.js';
import { createVolume, deleteVolume, inspectVolume, listVolumes, readVolume, volumeDataDir } from '../../src/store/volumes.js';
import { volumeUsers } from '../../src/runtime/volumes.js';
import type { ContainerRecord } from '../../src/runtime/state/record.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function store() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-vol-'));
  dirs.push(dir);
  return storePaths(path.join(dir, 'root'), path.join(dir, 'run'));
}

describe('volume store', () => {
  it('creates <root>/volumes/NAME/_data once, lists and deletes', () => {
    const p = store();
    const v = createVolume(p, 'data', { labels: { a: 'b' } });
    expect(v).toMatchObject({ name: 'data', labels: { a: 'b' }, anonymous: false });
    expect(fs.statSync(volumeDataDir(p, 'data')).isDirectory()).toBe(true);
    fs.writeFileSync(path.join(volumeDataDir(p, 'data'), 'f'), 'x');
    expect(createVolume(p, 'data')).toEqual(v);
    createVolume(p, 'anon', { anonymous: true });
    expect(listVolumes(p).map((x) => x.name)).toEqual(['anon', 'data']);
    expect(inspectVolume(p, v)).toEqual({ CreatedAt: v.createdAt, Driver: 'local', Labels: { a: 'b' }, Mountpoint: path.join(p.root, 'volumes/data/_data'), Name: 'data', Options: null, Scope: 'local' });
    deleteVolume(p, 'data');
    expect(readVolume(p, 'data')).toBeUndefined();
    expect(fs.existsSync(path.join(p.root, 'volumes/data'))).toBe(false);
    expect(() => deleteVolume(p, 'data')).toThrow(/no such volume/);
    expect(readVolume(p, '../x')).toBeUndefined();
  });

  it('finds the containers that use a volume', () => {
    const rec = (id: string, mounts: object[]) => ({ id, options: { env: [], cmd: [], mounts } }) as unknown as ContainerRecord;
    const all = [rec('a', [{ type: 'volume', source: 'v', target: '/v', readonly: false }]), rec('b', [{ type: 'bind', source: 'v', target: '/v', readonly: false }]), rec('c', [])];
    expect(volumeUsers(all, 'v').map((c) => c.id)).toEqual(['a']);
  });
});
