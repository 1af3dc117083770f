import * as fs from 'node:fs';
import * as path from 'node:path';
import { StoreCorruptError, RuntimeError } from '../errors.js';
import { newLinkId } from '../util/ids.js';
import { type SyncBatch, fsyncDir, writeNewFile, writeNewFileSynced } from '../util/atomic-write.js';
import {
  type StorePaths,
  layerCommittedFile,
  layerDiff,
  layerDir,
  layerLinkFile,
  layerLowerFile,
  layerWork,
  linkDir,
  linkPath,
  linkTarget,
  overlayHome,
} from './paths.js';
import { removeTree } from './remove-tree.js';
import { unlinkIfExists } from '../util/remove-file.js';

/** The kernel refuses an overlay with more than 500 lower dirs (fs/overlayfs: OVL_MAX_STACK). */
export const MAX_LOWER_LAYERS = 500;

const LINK_ID = /^[A-Z2-7]{26}$/;

/** Creates the overlay home and its l/ directory with Docker's modes. */
export function ensureOverlayHome(p: StorePaths): void {
  fs.mkdirSync(overlayHome(p), { recursive: true, mode: 0o710 });
  fs.mkdirSync(linkDir(p), { mode: 0o700, recursive: true });
}

/**
 * Creates `overlay/<cacheId>` the way Docker's overlay2 Create does: diff/,
 * a fresh link id with its l/ entry, and, on top of a parent, `lower`
 * (closest parent first), work/ and `committed` on the parent.
 */
export function createLayer(p: StorePaths, cacheId: string, parentCacheId?: string): void {
  const linkId = writeLayer(p, cacheId, parentCacheId, undefined);
  // The layer dir is new: its files need no rename, one fsync of the dir covers their names.
  fsyncDir(layerDir(p, cacheId));
  publishLinks(p, [{ cacheId, linkId }]);
}

/**
 * createLayer without any sync and without the l/ entry, for a caller that
 * makes several layers durable at once: every file and directory written
 * is added to `batch`; after batch.commit(), publishLinks makes the l/ entries.
 * `diffFrom`: a whole diff dir to rename in as the layer's (a spare init
 * diff, init-layer.ts) instead of an empty one.
 */
export function prepareLayer(p: StorePaths, cacheId: string, parentCacheId: string | undefined, batch: SyncBatch, diffFrom?: string): LayerLink {
  return { cacheId, linkId: writeLayer(p, cacheId, parentCacheId, batch, diffFrom) };
}

export interface LayerLink {
  cacheId: string;
  linkId: string;
}

/** The layer's dirs and files; each synced as made, or, with a batch, added to it. */
function writeLayer(p: StorePaths, cacheId: string, parentCacheId: string | undefined, batch: SyncBatch | undefined, diffFrom?: string): string {
  const write = (file: string, data: string) => {
    if (batch) {
      writeNewFile(file, data);
      batch.add(file);
    } else {
      writeNewFileSynced(file, data);
    }
  };
  ensureOverlayHome(p);
  let lower: string | undefined;
  if (parentCacheId !== undefined) {
    const parentLower = readLower(p, parentCacheId);
    const chain = [`l/${readLinkId(p, parentCacheId)}`, ...parentLower];
    if (chain.length > MAX_LOWER_LAYERS) {
      throw new RuntimeError(`too many layers: ${chain.length} lower layers, and an overlay stacks at most ${MAX_LOWER_LAYERS} (a container's init layer counts as one)`);
    }
    lower = chain.join(':');
  }
  fs.mkdirSync(layerDir(p, cacheId), { mode: 0o710 });
  if (diffFrom === undefined) {
    fs.mkdirSync(layerDiff(p, cacheId), { mode: 0o755 });
  } else {
    fs.renameSync(diffFrom, layerDiff(p, cacheId));
    // The dir it left, so that after a crash it is in one place only.
    batch?.add(path.dirname(diffFrom));
  }
  const linkId = newLinkId();
  write(layerLinkFile(p, cacheId), linkId);
  if (lower !== undefined && parentCacheId !== undefined) {
    write(layerLowerFile(p, cacheId), lower);
    fs.mkdirSync(layerWork(p, cacheId), { mode: 0o700 });
    // Docker marks a layer once a child sits on it; from then on it is only ever a lower.
    const committed = layerCommittedFile(p, parentCacheId);
    if (!fs.existsSync(committed)) {
      fs.closeSync(fs.openSync(committed, 'a', 0o600));
      if (batch) batch.add(layerDir(p, parentCacheId));
      else fsyncDir(layerDir(p, parentCacheId));
    }
  }
  batch?.add(layerDir(p, cacheId));
  return linkId;
}

/**
 * Makes the l/ entries of layers whose files are already on disk. Each is
 * made under a temp name and renamed, so a crash never leaves a half-made
 * link, and l/ is fsynced once (containers/storage#326). An l/ entry is
 * never durable before its layer's link file, so fsck can always rebuild l/.
 */
export function publishLinks(p: StorePaths, layers: LayerLink[]): void {
  for (const { cacheId, linkId } of layers) {
    const tmpLink = linkPath(p, `.${linkId}.tmp`);
    fs.symlinkSync(linkTarget(cacheId), tmpLink);
    fs.renameSync(tmpLink, linkPath(p, linkId));
  }
  fsyncDir(linkDir(p));
}

export function readLinkId(p: StorePaths, cacheId: string): string {
  let id: string;
  try {
    id = fs.readFileSync(layerLinkFile(p, cacheId), 'utf8').trim();
  } catch (err) {
    throw new StoreCorruptError(`layer ${cacheId} has no link file`, { cause: err });
  }
  if (!LINK_ID.test(id)) throw new StoreCorruptError(`layer ${cacheId} has a malformed link id`);
  return id;
}

/** The `lower` file as a list of `l/<id>` names, closest parent first; [] for a base layer. */
export function readLower(p: StorePaths, cacheId: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(layerLowerFile(p, cacheId), 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return text === '' ? [] : text.split(':');
}

/** The layer dirs under a layer, closest first, as absolute paths of their diff dirs. */
export function lowerDiffDirs(p: StorePaths, cacheId: string): string[] {
  return readLower(p, cacheId).map((name) => {
    const target = fs.readlinkSync(path.join(overlayHome(p), name));
    return path.resolve(linkDir(p), target);
  });
}

/** Removes a layer: its l/ entry first, then the directory (never across a mount; `points`: a mountinfo snapshot). */
export function removeLayer(p: StorePaths, cacheId: string, points?: string[]): void {
  let linkId: string | undefined;
  try {
    linkId = readLinkId(p, cacheId);
  } catch {
    linkId = undefined;
  }
  if (linkId !== undefined) {
    unlinkIfExists(linkPath(p, linkId));
  }
  removeTree(layerDir(p, cacheId), points);
}

/** A layer's dir name under overlay/: its cache id (64 hex), or a container's `<id>-init`. */
const LAYER_DIR_NAME = /^[a-f0-9]{64}(-init)?$/;

/**
 * Rebuilds missing or wrong l/ entries from each layer's link file, as
 * containers/storage#326's fix does after a crash lost them. Returns the
 * link ids it repaired.
 */
export function repairLinks(p: StorePaths): string[] {
  ensureOverlayHome(p);
  const repaired: string[] = [];
  for (const entry of fs.readdirSync(overlayHome(p), { withFileTypes: true })) {
    // Layer dirs only: a copy or leftover beside one (its link file and all) must never become a link's target.
    if (!entry.isDirectory() || !LAYER_DIR_NAME.test(entry.name)) continue;
    let linkId: string;
    try {
      linkId = readLinkId(p, entry.name);
    } catch {
      continue;
    }
    const want = linkTarget(entry.name);
    let have: string | undefined;
    try {
      have = fs.readlinkSync(linkPath(p, linkId));
    } catch {
      have = undefined;
    }
    if (have !== want) {
      unlinkIfExists(linkPath(p, linkId));
      fs.symlinkSync(want, linkPath(p, linkId));
      repaired.push(linkId);
    }
  }
  if (repaired.length > 0) fsyncDir(linkDir(p));
  return repaired;
}
