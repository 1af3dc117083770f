import { treeSize } from '../store/disk-usage.js';
import { listImageIds, readImage } from '../store/images.js';
import { layerDiff, storeLockFile } from '../store/paths.js';
import { removeImages } from '../store/remove-image.js';
import { deleteVolume, listVolumes, volumeDataDir } from '../store/volumes.js';
import { withLock } from '../util/lock.js';
import { listContainers } from './containers.js';
import type { Context } from './context.js';
import { removeContainer } from './lifecycle/remove.js';
import { currentState } from './state/status.js';
import { volumeUsers } from './volumes.js';

/**
 * docker's prune commands: what nothing uses goes, and how much space that
 * gave back. Each removal goes through the ordinary path (rm, rmi, volume
 * rm), so the same locks and rules hold; something that is in use again by
 * the time its turn comes is skipped, not forced.
 */

export interface Pruned {
  /** Ids (containers, images' "Deleted:"/"Untagged:" lines, volume names), as docker lists them. */
  removed: string[];
  bytes: number;
}

/** Every container that is not running (exited, or created and never started). */
export async function pruneContainers(ctx: Context): Promise<Pruned> {
  const p = ctx.paths;
  const out: Pruned = { removed: [], bytes: 0 };
  for (const rec of listContainers(p)) {
    if (currentState(p, rec).running) continue;
    const size = treeSize(layerDiff(p, rec.rwLayerId));
    try {
      await removeContainer(ctx, rec.id, { force: false });
    } catch {
      continue; // started again meanwhile
    }
    out.removed.push(rec.id);
    out.bytes += size;
  }
  return out;
}

/** Dangling images (no name, no container), or with `all` every image no container uses. */
export async function pruneImages(ctx: Context, all: boolean): Promise<Pruned> {
  const p = ctx.paths;
  const used = new Set(listContainers(p).map((c) => c.imageId));
  const sizes = new Map<string, number>();
  const targets: string[] = [];
  for (const id of listImageIds(p)) {
    let img;
    try {
      img = readImage(p, id);
    } catch {
      continue;
    }
    for (const l of img.layers) sizes.set(l.chainId, l.size);
    if (!used.has(id) && (all || img.names.length === 0)) targets.push(id);
  }
  const out: Pruned = { removed: [], bytes: 0 };
  // By id, forced only past several names (no container uses these): rmi's own rules do the rest.
  await removeImages(ctx, targets, { force: true }, (line) => {
    out.removed.push(line);
    const chain = /^Deleted: (sha256:[a-f0-9]{64})$/.exec(line)?.[1];
    if (chain && sizes.has(chain)) out.bytes += sizes.get(chain)!;
  });
  return out;
}

/** Unused anonymous volumes (docker 23's default), or with `all` every unused volume. */
export async function pruneVolumes(ctx: Context, all: boolean): Promise<Pruned> {
  const p = ctx.paths;
  return withLock(ctx.native, storeLockFile(p), () => {
    const containers = listContainers(p);
    const out: Pruned = { removed: [], bytes: 0 };
    for (const v of listVolumes(p)) {
      if ((!all && !v.anonymous) || volumeUsers(containers, v.name).length > 0) continue;
      out.bytes += treeSize(volumeDataDir(p, v.name));
      deleteVolume(p, v.name);
      out.removed.push(v.name);
    }
    return out;
  });
}
