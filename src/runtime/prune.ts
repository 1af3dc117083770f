import { UsageError } from '../errors.js';
import { labelMatches } from '../util/labels.js';
import { treeSize } from '../store/disk-usage.js';
import { listImageIds, readImage, readImageConfig } from '../store/images.js';
import { layerDiff, storeLockFile } from '../store/paths.js';
import { removeImages } from '../store/remove-image.js';
import { deleteVolume, listVolumes, volumeDataDir } from '../store/volumes.js';
import { withLock } from '../util/lock.js';
import { listContainers } from './containers.js';
import type { Context } from './context.js';
import { removeContainer } from './lifecycle/remove.js';
import { currentState } from './state/status.js';
import { volumeUsers } from './volumes.js';
import { runConfig } from './inspect.js';
import type { ContainerRecord } from './state/record.js';
import type { StorePaths } from '../store/paths.js';

/** A container's labels: its image's under its own --label ones (docker's Config.Labels). */
function containerLabels(p: StorePaths, rec: ContainerRecord): Record<string, string> {
  try {
    return runConfig(readImageConfig(p, rec.imageId).config ?? {}, rec).Labels ?? {};
  } catch {
    return rec.options.labels ?? {};
  }
}

/**
 * docker's prune commands: what nothing uses goes, and how much space that
 * gave back. Each removal goes through the ordinary path (rm, rmi, volume
 * rm), so the same locks and rules hold; something that is in use again by
 * the time its turn comes is skipped, not forced.
 */

/**
 * docker's prune filters: until= (made before a time: RFC 3339, Unix
 * seconds, or a duration ago as 24h or 1h30m) and label= / label!= (KEY
 * or KEY=VALUE; every one must hold).
 */
export interface PruneFilters {
  /** ms since the epoch; only what was made before it goes. */
  until?: number;
  label: string[];
  notLabel: string[];
}

export const NO_FILTERS: PruneFilters = { label: [], notLabel: [] };

/** Whether something made at `created` with these labels passes the filters. */
function passes(f: PruneFilters, created: string | undefined, labels: Record<string, string>): boolean {
  if (f.until !== undefined && !(Date.parse(created ?? '') < f.until)) return false;
  return f.label.every((l) => labelMatches(labels, l)) && !f.notLabel.some((l) => labelMatches(labels, l));
}

/** until='s value: a time, or a Go duration before now. */
export function parseUntil(value: string, now = Date.now()): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const duration = /^(?:\d+(?:\.\d+)?(?:h|m|s|ms))+$/.test(value) ? [...value.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)] : undefined;
  if (duration) return now - duration.reduce((ms, [, n, unit]) => ms + Number(n) * { h: 3_600_000, m: 60_000, s: 1000, ms: 1 }[unit as 'h' | 'm' | 's' | 'ms'], 0);
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new UsageError(`invalid filter 'until=${value}': use a time (2024-01-02T15:04:05Z, Unix seconds) or a duration (24h, 1h30m)`);
  return t;
}

export interface Pruned {
  /** Ids (containers, images' "Deleted:"/"Untagged:" lines, volume names), as docker lists them. */
  removed: string[];
  bytes: number;
}

/** Every container that is not running (exited, or created and never started) and passes the filters (its image's labels under its own). */
export async function pruneContainers(ctx: Context, filters: PruneFilters = NO_FILTERS): Promise<Pruned> {
  const p = ctx.paths;
  const out: Pruned = { removed: [], bytes: 0 };
  for (const rec of listContainers(p)) {
    if (currentState(p, rec).running) continue;
    if (filters !== NO_FILTERS && !passes(filters, rec.created, containerLabels(p, rec))) continue;
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
export async function pruneImages(ctx: Context, all: boolean, filters: PruneFilters = NO_FILTERS): Promise<Pruned> {
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
    if (!used.has(id) && (all || img.names.length === 0) && passes(filters, img.config.created, img.config.config?.Labels ?? {})) targets.push(id);
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
export async function pruneVolumes(ctx: Context, all: boolean, filters: PruneFilters = NO_FILTERS): Promise<Pruned> {
  const p = ctx.paths;
  return withLock(ctx.native, storeLockFile(p), () => {
    const containers = listContainers(p);
    const out: Pruned = { removed: [], bytes: 0 };
    for (const v of listVolumes(p)) {
      if ((!all && !v.anonymous) || volumeUsers(containers, v.name).length > 0 || !passes(filters, v.createdAt, v.labels)) continue;
      out.bytes += treeSize(volumeDataDir(p, v.name));
      deleteVolume(p, v.name);
      out.removed.push(v.name);
    }
    return out;
  });
}
