import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLayer, lowerDiffDirs, prepareLayer, publishLinks, readLinkId, readLower, removeLayer, repairLinks } from '../../src/store/layers.js';
import { MAX_INIT_SPARES, populateInitLayer, prepareInitLayer, removeInitLayer } from '../../src/store/init-layer.js';
import { loadNative } from '../../src/native/binding.js';
import { SyncBatch } from '../../src/util/atomic-write.js';
import { type StorePaths, initSparesDir, layerDir, linkPath, storePaths } from '../../src/store/paths.js';

let tmp: string;
let p: StorePaths;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-layers-'));
  p = storePaths(path.join(tmp, 'root'), path.join(tmp, 'run'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('overlay2 layer layout', () => {
  it('gives a base layer diff/ and a 26-char link with its l/ entry, and no lower or work', () => {
    createLayer(p, 'base');
    const id = readLinkId(p, 'base');
    expect(id).toMatch(/^[A-Z2-7]{26}$/);
    expect(fs.readlinkSync(linkPath(p, id))).toBe('../base/diff');
    expect(fs.statSync(path.join(layerDir(p, 'base'), 'diff')).isDirectory()).toBe(true);
    expect(fs.existsSync(path.join(layerDir(p, 'base'), 'lower'))).toBe(false);
    expect(fs.existsSync(path.join(layerDir(p, 'base'), 'work'))).toBe(false);
    expect(fs.statSync(layerDir(p, 'base')).mode & 0o777).toBe(0o710);
    expect(fs.statSync(path.join(p.root, 'overlay', 'l')).mode & 0o777).toBe(0o700);
  });

  it('chains lower closest parent first, adds work/ and marks the parent committed', () => {
    createLayer(p, 'a');
    createLayer(p, 'b', 'a');
    createLayer(p, 'c', 'b');
    const [la, lb] = [readLinkId(p, 'a'), readLinkId(p, 'b')];
    expect(fs.readFileSync(path.join(layerDir(p, 'c'), 'lower'), 'utf8')).toBe(`l/${lb}:l/${la}`);
    expect(readLower(p, 'c')).toEqual([`l/${lb}`, `l/${la}`]);
    expect(fs.statSync(path.join(layerDir(p, 'c'), 'work')).mode & 0o777).toBe(0o700);
    expect(fs.existsSync(path.join(layerDir(p, 'a'), 'committed'))).toBe(true);
    expect(fs.existsSync(path.join(layerDir(p, 'b'), 'committed'))).toBe(true);
    expect(fs.existsSync(path.join(layerDir(p, 'c'), 'committed'))).toBe(false);
    expect(lowerDiffDirs(p, 'c')).toEqual([path.join(layerDir(p, 'b'), 'diff'), path.join(layerDir(p, 'a'), 'diff')]);
  });

  it('prepares a chain of layers without l/ entries until they are published', () => {
    createLayer(p, 'base');
    const batch = new SyncBatch();
    const links = [prepareLayer(p, 'init', 'base', batch)];
    links.push(prepareLayer(p, 'rw', 'init', batch));
    const synced: number[] = [];
    expect(batch.commit({ syncfs: ({ fd }) => void synced.push(fd) }, () => 0)).toBe('syncfs');
    expect(synced).toHaveLength(1);
    expect(links.map((l) => l.linkId)).toEqual([readLinkId(p, 'init'), readLinkId(p, 'rw')]);
    expect(readLower(p, 'rw')).toEqual([`l/${links[0]!.linkId}`, `l/${readLinkId(p, 'base')}`]);
    expect(fs.existsSync(path.join(layerDir(p, 'init'), 'committed'))).toBe(true);
    for (const l of links) expect(fs.existsSync(linkPath(p, l.linkId))).toBe(false);
    publishLinks(p, links);
    expect(fs.readlinkSync(linkPath(p, links[0]!.linkId))).toBe('../init/diff');
    expect(fs.readlinkSync(linkPath(p, links[1]!.linkId))).toBe('../rw/diff');
    expect(fs.readdirSync(path.join(p.root, 'overlay', 'l')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('removes a prepared layer whose link file a crash left empty, and nothing else', () => {
    createLayer(p, 'base');
    prepareLayer(p, 'rw', 'base', new SyncBatch());
    fs.truncateSync(path.join(layerDir(p, 'rw'), 'link'));
    removeLayer(p, 'rw');
    expect(fs.existsSync(layerDir(p, 'rw'))).toBe(false);
    expect(fs.readlinkSync(linkPath(p, readLinkId(p, 'base')))).toBe('../base/diff');
  });

  it('removes a layer with its l/ entry', () => {
    createLayer(p, 'a');
    const id = readLinkId(p, 'a');
    removeLayer(p, 'a');
    expect(fs.existsSync(layerDir(p, 'a'))).toBe(false);
    expect(fs.existsSync(linkPath(p, id))).toBe(false);
  });

  it('rebuilds lost l/ entries from the link files (containers/storage#326), from layer dirs only', () => {
    const a = 'a'.repeat(64);
    createLayer(p, a);
    createLayer(p, 'b'.repeat(64), a);
    const id = readLinkId(p, a);
    fs.unlinkSync(linkPath(p, id));
    // A copy beside the layer, link file and all, must never become the link's target, whichever readdir gives first.
    fs.cpSync(layerDir(p, a), path.join(path.dirname(layerDir(p, a)), `${a.slice(0, 63)}.copy`), { recursive: true });
    expect(repairLinks(p)).toEqual([id]);
    expect(fs.readlinkSync(linkPath(p, id))).toBe(`../${a}/diff`);
    expect(repairLinks(p)).toEqual([]);
  });

  it('fills an init layer with exactly Docker\'s entries', () => {
    createLayer(p, 'x-init');
    const diff = path.join(layerDir(p, 'x-init'), 'diff');
    populateInitLayer(diff);
    const walk = (dir: string, prefix = ''): string[] =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const rel = `${prefix}/${e.name}`;
        return e.isDirectory() ? [rel, ...walk(path.join(dir, e.name), rel)] : [rel];
      });
    expect(walk(diff).sort()).toEqual(
      ['/.dockerenv', '/dev', '/dev/console', '/dev/pts', '/dev/shm', '/etc', '/etc/hostname', '/etc/hosts', '/etc/mtab', '/etc/resolv.conf', '/proc', '/sys'].sort(),
    );
    expect(fs.readlinkSync(path.join(diff, 'etc/mtab'))).toBe('/proc/mounts');
    expect(fs.statSync(path.join(diff, '.dockerenv')).mode & 0o777).toBe(0o755);
    expect(fs.statSync(path.join(diff, 'etc/hosts')).size).toBe(0);
  });
});

describe('spare init diffs (overlay/.init-spares)', () => {
  const spares = () => initSparesDir(p);
  const spareNames = () => (fs.existsSync(spares()) ? fs.readdirSync(spares()) : []);
  /** An image layer and `n` containers' init layers on it, as create makes them. */
  function initLayers(n: number, first = 0): string[] {
    if (!fs.existsSync(layerDir(p, 'image'))) createLayer(p, 'image');
    const batch = new SyncBatch();
    const ids = Array.from({ length: n }, (_, i) => `c${first + i}-init`);
    const links = ids.map((id) => prepareInitLayer(p, id, 'image', batch));
    batch.commit(loadNative());
    publishLinks(p, links);
    return ids;
  }

  it('keeps a removed container\'s init diff and gives it, whole, to the next container', () => {
    const [a] = initLayers(1);
    const inode = fs.statSync(path.join(layerDir(p, a!), 'diff', 'etc')).ino;
    removeInitLayer(p, a!);
    expect(fs.existsSync(layerDir(p, a!))).toBe(false);
    expect(spareNames()).toHaveLength(1);
    const [b] = initLayers(1, 1);
    expect(spareNames()).toHaveLength(0);
    // The same dir, renamed in: nothing made again.
    expect(fs.statSync(path.join(layerDir(p, b!), 'diff', 'etc')).ino).toBe(inode);
    expect(readLower(p, b!)).toEqual([`l/${readLinkId(p, 'image')}`]);
    expect(fs.readlinkSync(linkPath(p, readLinkId(p, b!)))).toBe(`../${b}/diff`);
  });

  it('keeps only a diff that is still exactly the table', () => {
    const ids = initLayers(5);
    const diff = (i: number) => path.join(layerDir(p, ids[i]!), 'diff');
    fs.writeFileSync(path.join(diff(0), 'extra'), '');
    fs.writeFileSync(path.join(diff(1), 'etc/hosts'), '10.0.0.1 evil\n');
    fs.rmSync(path.join(diff(2), 'dev/console'));
    fs.rmSync(path.join(diff(3), 'etc/mtab'));
    fs.symlinkSync('/etc/shadow', path.join(diff(3), 'etc/mtab'));
    for (const id of ids.slice(0, 4)) removeInitLayer(p, id);
    expect(spareNames()).toEqual([]);
    removeInitLayer(p, ids[4]!);
    expect(spareNames()).toHaveLength(1);
    for (const id of ids) expect(fs.existsSync(layerDir(p, id))).toBe(false);
  });

  it('keeps no diff with an entry of another owner, or a dir of the table that is a symlink', () => {
    const ids = initLayers(2);
    const diff = (i: number) => path.join(layerDir(p, ids[i]!), 'diff');
    fs.lchownSync(path.join(diff(0), 'etc/hosts'), 1000, 1000);
    // /etc a symlink to a dir that holds exactly the table's names.
    fs.renameSync(path.join(diff(1), 'etc'), path.join(tmp, 'etc-elsewhere'));
    fs.symlinkSync(path.join(tmp, 'etc-elsewhere'), path.join(diff(1), 'etc'));
    for (const id of ids) removeInitLayer(p, id);
    expect(spareNames()).toEqual([]);
  });

  it('keeps no diff with a name or link target made to pass for two entries, nor a diff of another owner', () => {
    const ids = initLayers(3);
    const diff = (i: number) => path.join(layerDir(p, ids[i]!), 'diff');
    // mtab's target carries a second line naming resolv.conf, which is gone.
    fs.rmSync(path.join(diff(0), 'etc/resolv.conf'));
    fs.rmSync(path.join(diff(0), 'etc/mtab'));
    fs.symlinkSync('/proc/mounts\netc/resolv.conf file 0 ours ', path.join(diff(0), 'etc/mtab'));
    // One dir whose name holds two lines, for proc and sys.
    fs.rmdirSync(path.join(diff(1), 'proc'));
    fs.rmdirSync(path.join(diff(1), 'sys'));
    fs.mkdirSync(path.join(diff(1), 'proc dir 0 ours \nsys'));
    fs.chownSync(diff(2), 1000, 1000);
    for (const id of ids) removeInitLayer(p, id);
    expect(spareNames()).toEqual([]);
  });

  it('deletes a spare that is no longer the table when it is taken, and makes the table anew', () => {
    const [a] = initLayers(1);
    removeInitLayer(p, a!);
    fs.writeFileSync(path.join(spares(), spareNames()[0]!, 'etc/hosts'), 'changed in the pool\n');
    const [b] = initLayers(1, 1);
    expect(spareNames()).toEqual([]);
    expect(fs.statSync(path.join(layerDir(p, b!), 'diff', 'etc/hosts')).size).toBe(0);
  });

  it('removes the layer when no spare can be kept (the spares dir is a file), and one a crash left without its diff', () => {
    const [a, b] = initLayers(2);
    fs.mkdirSync(path.dirname(spares()), { recursive: true });
    fs.writeFileSync(spares(), '');
    removeInitLayer(p, a!);
    expect(fs.existsSync(layerDir(p, a!))).toBe(false);
    fs.rmSync(spares());
    // Kept as a spare, then killed before the layer dir went: rm -f removes the rest.
    fs.rmSync(path.join(layerDir(p, b!), 'diff'), { recursive: true });
    removeInitLayer(p, b!);
    expect(fs.existsSync(layerDir(p, b!))).toBe(false);
    expect(fs.readdirSync(path.join(p.root, 'overlay', 'l'))).toEqual([readLinkId(p, 'image')]);
  });

  it(`keeps at most ${MAX_INIT_SPARES}`, () => {
    const ids = initLayers(MAX_INIT_SPARES + 2);
    for (const id of ids) removeInitLayer(p, id);
    expect(spareNames()).toHaveLength(MAX_INIT_SPARES);
    for (const id of ids) expect(fs.existsSync(layerDir(p, id))).toBe(false);
  });

  it('keeps nothing from a layer with a mount inside, and removes nothing there', () => {
    const [a] = initLayers(1);
    const points = [path.join(layerDir(p, a!), 'diff', 'proc')];
    expect(() => removeInitLayer(p, a!, points)).toThrow(/is a mount point/);
    expect(spareNames()).toEqual([]);
    expect(fs.existsSync(path.join(layerDir(p, a!), 'diff', 'proc'))).toBe(true);
  });
});
