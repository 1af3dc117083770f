import * as fs from 'node:fs';
import * as path from 'node:path';
import { logger } from '../log.js';
import { loadNative } from '../native/binding.js';
import type { TreeEntry } from '../native/types.js';
import type { SyncBatch } from '../util/atomic-write.js';
import { newLinkId } from '../util/ids.js';
import { type LayerLink, prepareLayer, removeLayer } from './layers.js';
import { mountsUnder } from './mountinfo.js';
import { type StorePaths, initSparesDir, layerDiff, layerDir } from './paths.js';
import { removeTree } from './remove-tree.js';

/**
 * The entries of a container's `<id>-init` layer: exactly Docker's
 * initlayer.Setup table (OVERLAY2.md §4). The placeholders are what the
 * hosts/hostname/resolv.conf binds land on; being a layer of its own, it
 * also masks an image's /dev or /etc symlink games (the 2026 runc /dev
 * advisory is "not exploitable under Docker" for this reason).
 *
 * The diff dir is new and empty, created by tsrun itself, so plain path
 * operations cannot be redirected by anything an image put there (or it
 * is a spare, below, checked to hold exactly this table).
 */
const INIT_ENTRIES: [path: string, kind: 'dir' | 'file' | 'symlink', target?: string][] = [
  ['/dev/pts', 'dir'],
  ['/dev/shm', 'dir'],
  ['/proc', 'dir'],
  ['/sys', 'dir'],
  ['/.dockerenv', 'file'],
  ['/etc/resolv.conf', 'file'],
  ['/etc/hosts', 'file'],
  ['/etc/hostname', 'file'],
  ['/dev/console', 'file'],
  ['/etc/mtab', 'symlink', '/proc/mounts'],
];

export function populateInitLayer(diffDir: string): void {
  for (const [rel, kind, target] of INIT_ENTRIES) {
    const full = path.join(diffDir, rel);
    fs.mkdirSync(path.dirname(full), { recursive: true, mode: 0o755 });
    if (kind === 'dir') fs.mkdirSync(full, { mode: 0o755 });
    // Docker opens every file entry with mode 0755 (sic).
    else if (kind === 'file') fs.closeSync(fs.openSync(full, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o755));
    else fs.symlinkSync(target!, full);
  }
}

/**
 * A container's init layer on `parent`: its diff is a spare (below) renamed
 * in when there is one, made from the table otherwise. Under the store lock.
 */
export function prepareInitLayer(p: StorePaths, cacheId: string, parent: string, batch: SyncBatch): LayerLink {
  const spare = takeSpare(p);
  const link = prepareLayer(p, cacheId, parent, batch, spare);
  if (spare === undefined) populateInitLayer(layerDiff(p, cacheId));
  return link;
}

/** Removes a container's init layer, keeping its diff as a spare when it is still exactly the table. Under the store lock. */
export function removeInitLayer(p: StorePaths, cacheId: string, points?: string[]): void {
  try {
    keepAsSpare(p, cacheId, points);
  } catch (err) {
    // A spare only saves time: a failure to keep one (ENOSPC, say) must not fail the removal.
    logger('store').warn({ cid: cacheId, err }, 'could not keep the init layer as a spare');
  }
  removeLayer(p, cacheId, points);
}

/**
 * Spares (overlay/.init-spares): diff dirs of removed containers' init
 * layers, kept for the next containers'. An init layer is never written
 * once made (it is a lower dir of its container's union, and overlayfs
 * writes no lower dir), so a removed container's is what the next needs, and
 * a rename in and out replaces making 13 inodes at create and deleting
 * them at rm: ~1.4 ms of a `run --rm` where inodes are dear (journal-less
 * ext4 scans past recently deleted ones). In overlay/ for a rename on the
 * same filesystem; the dot keeps it out of the layer dirs (LAYER_DIR_NAME).
 * The init layer masks an image's /dev and /etc symlinks (above), so a
 * spare is checked to be exactly the table when it is kept and again when
 * it is taken (what a crash, fsck or a hand left there is deleted, and the
 * table made anew): one native listing, ~0.25 ms, each time. At most
 * MAX_INIT_SPARES: enough for the containers one burst of `run --rm` removes.
 */
export const MAX_INIT_SPARES = 8;

/** A spare that is still exactly the table, moved out of the spares dir's listing; undefined for none. */
function takeSpare(p: StorePaths): string | undefined {
  let names: string[];
  try {
    names = fs.readdirSync(initSparesDir(p));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  for (const name of names) {
    const spare = path.join(initSparesDir(p), name);
    if (isInitTable(spare)) return spare;
    try {
      removeTree(spare);
    } catch (err) {
      // A mount inside, say: it is left (and counts as a spare), and the next one is tried.
      logger('store').warn({ spare, err }, 'could not delete a spare init diff that is not the table');
    }
  }
  return undefined;
}

function keepAsSpare(p: StorePaths, cacheId: string, points?: string[]): void {
  const diff = layerDiff(p, cacheId);
  // A mount inside is for removeLayer to refuse; anything else in the diff (a hand-made file) goes with the layer.
  if (mountsUnder(layerDir(p, cacheId), points).length > 0 || !isInitTable(diff)) return;
  fs.mkdirSync(initSparesDir(p), { mode: 0o700, recursive: true });
  if (fs.readdirSync(initSparesDir(p)).length >= MAX_INIT_SPARES) return;
  fs.renameSync(diff, path.join(initSparesDir(p), newLinkId()));
}

/** The table as listTree gives it, an entry as one JSON array [path, kind, size, ours, target], its parent dirs included, sorted. */
function initListing(): string[] {
  const lines = new Set<string>();
  for (const [rel, kind, target] of INIT_ENTRIES) {
    const parts = rel.slice(1).split('/');
    for (let i = 1; i < parts.length; i++) lines.add(JSON.stringify([parts.slice(0, i).join('/'), 'dir', 0, true, '']));
    lines.add(JSON.stringify([parts.join('/'), kind, 0, true, target ?? '']));
  }
  return [...lines].sort();
}

/**
 * The diff holds the table and nothing else: each entry of its kind (a
 * symlink never taken for a dir, nor followed), files empty, mtab's
 * target, the diff and all in it ours. Entries are compared as JSON arrays,
 * so no name or link target can pass for two entries. One native call
 * (listTree): ~25 calls into node:fs took 0.55 ms of a short-lived CLI,
 * twice a run --rm. Any failure, an addon without listTree included, is
 * "not the table": the table is then made anew.
 */
function isInitTable(diff: string): boolean {
  const uid = process.geteuid?.() ?? 0;
  let entries: TreeEntry[] | undefined;
  try {
    if (fs.lstatSync(diff).uid !== uid) return false;
    entries = loadNative().listTree({ path: diff, max: 32 });
  } catch {
    return false;
  }
  const listing = entries?.map((e) => JSON.stringify([e.path, e.kind, e.kind === 'file' ? e.size : 0, e.uid === uid, e.target ?? ''])).sort();
  // JSON escapes every newline in a string: the joined listings are equal only if each entry is.
  return listing !== undefined && listing.join('\n') === initListing().join('\n');
}
