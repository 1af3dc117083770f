import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Context } from '../runtime/context.js';
import { listContainers } from '../runtime/containers.js';
import { currentState } from '../runtime/state/status.js';
import { listImageIds, readImage } from './images.js';
import { layerDiff, type StorePaths } from './paths.js';
import { listVolumes, volumeDataDir } from './volumes.js';
import { volumeUsers } from '../runtime/volumes.js';

/** One row of `docker system df`. */
export interface UsageRow {
  type: string;
  total: number;
  active: number;
  size: number;
  reclaimable: number;
}

/** Bytes of the regular files under dir, as overlay2's DiffSize counts them; never follows symlinks. */
export function treeSize(dir: string): number {
  let total = 0;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) total += treeSize(full);
    else if (e.isFile()) total += fs.lstatSync(full).size;
  }
  return total;
}

/** docker's SizeRw (the files a container's rw layer holds) and SizeRootFs (those and its image's layers). */
export function containerSize(p: StorePaths, rec: { rwLayerId: string; imageId: string }): { rw: number; rootFs: number } {
  const rw = treeSize(layerDiff(p, rec.rwLayerId));
  let image = 0;
  try {
    image = readImage(p, rec.imageId).size;
  } catch {
    // its image's records unreadable: the rw layer alone
  }
  return { rw, rootFs: rw + image };
}

/**
 * Images: a layer shared by several images is counted once; an image is
 * active while a container uses it; what is reclaimable is the layers no
 * active image uses. Containers: the size of their rw layers; the stopped
 * ones are reclaimable. Volumes: the size of their data; those no
 * container refers to are reclaimable. tsrun has no build cache.
 */
export function diskUsage(ctx: Context): UsageRow[] {
  const p = ctx.paths;
  const images = listImageIds(p).flatMap((id) => {
    try {
      return [readImage(p, id)];
    } catch {
      return [];
    }
  });
  const containers = listContainers(p);
  const activeIds = new Set(containers.map((c) => c.imageId));
  const layerSize = new Map<string, number>();
  const activeLayers = new Set<string>();
  for (const img of images) {
    for (const l of img.layers) {
      layerSize.set(l.chainId, l.size);
      if (activeIds.has(img.id)) activeLayers.add(l.chainId);
    }
  }
  const imagesSize = [...layerSize.values()].reduce((a, b) => a + b, 0);
  const imagesReclaimable = [...layerSize].filter(([k]) => !activeLayers.has(k)).reduce((a, [, v]) => a + v, 0);
  let ctrSize = 0;
  let ctrReclaimable = 0;
  let running = 0;
  for (const c of containers) {
    const size = treeSize(layerDiff(p, c.rwLayerId));
    ctrSize += size;
    if (currentState(p, c).running) running++;
    else ctrReclaimable += size;
  }
  const volumes = listVolumes(p).map((v) => ({ size: treeSize(volumeDataDir(p, v.name)), used: volumeUsers(containers, v.name).length > 0 }));
  return [
    { type: 'Images', total: images.length, active: images.filter((i) => activeIds.has(i.id)).length, size: imagesSize, reclaimable: imagesReclaimable },
    { type: 'Containers', total: containers.length, active: running, size: ctrSize, reclaimable: ctrReclaimable },
    {
      type: 'Local Volumes',
      total: volumes.length,
      active: volumes.filter((v) => v.used).length,
      size: volumes.reduce((a, v) => a + v.size, 0),
      reclaimable: volumes.filter((v) => !v.used).reduce((a, v) => a + v.size, 0),
    },
    { type: 'Build Cache', total: 0, active: 0, size: 0, reclaimable: 0 },
  ];
}
