import * as fs from 'node:fs';
import { RuntimeError, StoreCorruptError } from '../errors.js';
import type { NativeBinding } from '../native/types.js';
import { type StorePaths, layerDiff, layerDir, layerMerged, layerWork, overlayHome } from './paths.js';
import { readLower, repairLinks } from './layers.js';
import { mountPoints, mountsUnder } from './mountinfo.js';

export { mountsUnder };
import { logger } from '../log.js';
import { type RootOverlay, overlayFlags, planOverlayMount } from './mount-options.js';
import * as path from 'node:path';

/**
 * Mounting a container layer's union at overlay/<id>/merged on the host, and
 * taking it down again. Whether something is mounted is always asked of the
 * kernel (/proc/self/mountinfo), never remembered (podman#19913).
 */

let indexParamExists: boolean | undefined;

/** A layer's lower dirs by their l/ links (as Docker gives them: short names keep the option string small). */
function layerLowers(p: StorePaths, cacheId: string): string[] {
  const lowerDirs = readLower(p, cacheId).map((name) => path.join(overlayHome(p), name));
  if (lowerDirs.length === 0) throw new RuntimeError(`layer ${cacheId} has no lower layers to mount`);
  return lowerDirs;
}

/**
 * A crash can lose l/ links (containers/storage#326): rebuilds them from the
 * link files rather than fail. False: none was missing. A lower layer whose
 * own dir is gone cannot be rebuilt: that is named, not a bare ENOENT.
 */
function repairMissingLinks(p: StorePaths, cacheId: string, lowerDirs: string[]): boolean {
  if (lowerDirs.every((dir) => fs.existsSync(dir))) return false;
  const repaired = repairLinks(p);
  if (repaired.length > 0) logger('store').warn({ cid: cacheId, repaired }, 'rebuilt missing l/ links');
  const lost = lowerDirs.find((dir) => !fs.existsSync(dir));
  if (lost !== undefined) {
    throw new StoreCorruptError(`a layer below ${cacheId} is gone (${path.relative(overlayHome(p), lost)} names no layer dir); remove the image and load or pull it again`);
  }
  return true;
}

/** Docker adds index=off when the overlay module has the parameter. */
function indexOff(): boolean {
  indexParamExists ??= fs.existsSync('/sys/module/overlay/parameters/index');
  return indexParamExists;
}

/**
 * The union at overlay/<id>/merged. `readOnly`: the upper dir as the top
 * lower dir and no upper (a read-only view of what the container has
 * written, its whiteouts honoured), for reading files of a container whose
 * own union is in use elsewhere (inside its user namespace). `volatile`:
 * overlayfs's, for a container removed at its exit (mount-options.ts).
 */
export function mountLayer(native: NativeBinding, p: StorePaths, cacheId: string, opts: { readOnly?: boolean; volatile?: boolean } = {}): string {
  const merged = layerMerged(p, cacheId);
  fs.mkdirSync(merged, { mode: 0o700, recursive: true });
  const lowerDirs = layerLowers(p, cacheId);
  if (!opts.readOnly) clearVolatileMark(p, cacheId);
  const plan = planOverlayMount(
    opts.readOnly
      ? { lowerDirs: [layerDiff(p, cacheId), ...lowerDirs], indexOff: indexOff() }
      : { lowerDirs, upperDir: layerDiff(p, cacheId), workDir: layerWork(p, cacheId), indexOff: indexOff(), volatile: opts.volatile },
  );
  const mount = () => {
    if (plan.kind === 'data') native.mountOverlay({ target: merged, data: plan.data });
    else native.mountOverlayLayers({ target: merged, lowerDirs: plan.lowerDirs, upperDir: plan.upperDir, workDir: plan.workDir, options: plan.options });
  };
  try {
    mount();
  } catch (err) {
    // The links are looked at only when the mount fails: a stat per layer on every mount would cost ~2 ms at 500 layers.
    if (!repairMissingLinks(p, cacheId, lowerDirs)) throw err;
    mount();
  }
  return merged;
}

/**
 * A container layer's union as the monitor mounts it inside a container
 * with a user namespace (idmapped layers; plan.h rootlower): the same
 * layers and options as mountLayer's, mounted nowhere on the host.
 */
export function layerRootOverlay(p: StorePaths, cacheId: string, opts: { volatile?: boolean } = {}): RootOverlay {
  const lowerDirs = layerLowers(p, cacheId);
  // Repaired up front: the monitor mounts these, where a failure cannot come back here for a retry.
  repairMissingLinks(p, cacheId, lowerDirs);
  clearVolatileMark(p, cacheId);
  return { lowerDirs, layerDir: layerDir(p, cacheId), options: overlayFlags({ indexOff: indexOff(), volatile: opts.volatile }) };
}

/**
 * A volatile mount leaves work/work/incompat/volatile behind, even once
 * cleanly unmounted, and the kernel then refuses every mount of that upper
 * dir ("incompat feature 'volatile'") until it is removed: a restart of a
 * --rm container, or a mount to copy from it, would fail. Made in this boot,
 * the mount it marks ended cleanly (or the host would have rebooted) and it
 * goes. Made in an earlier one, the host went down while the container ran
 * (or before it was removed): its writes may be torn, as the kernel's mark
 * says, and the mount is refused.
 */
function clearVolatileMark(p: StorePaths, cacheId: string): void {
  const mark = path.join(layerWork(p, cacheId), 'work', 'incompat', 'volatile');
  let made: number;
  try {
    made = fs.statSync(mark).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (made < bootTimeMs()) {
    throw new StoreCorruptError(`layer ${cacheId} was mounted volatile (its container is removed at its exit, --rm) when the host went down: its files may be torn; remove the container`);
  }
  fs.rmSync(mark, { recursive: true, force: true });
}

/** When this boot began (/proc/stat btime), in ms since the epoch. */
function bootTimeMs(): number {
  const btime = /^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'latin1'))?.[1];
  if (btime === undefined) throw new RuntimeError('/proc/stat has no btime');
  return Number(btime) * 1000;
}

/**
 * Detaches every mount at or under the merged dir and checks they are gone.
 * EINVAL and ENOENT mean "not mounted" (podman#19913). If a mount stays,
 * this throws: the caller must not delete anything beneath it
 * (containerd#10704). Returns every mount point as it is afterwards, for
 * the caller's next checks (one read of mountinfo when nothing was mounted).
 */
export function unmountLayer(native: NativeBinding, p: StorePaths, cacheId: string): string[] {
  const merged = layerMerged(p, cacheId);
  const MNT_DETACH = native.constants.MNT_DETACH;
  const points = mountPoints();
  const mounted = mountsUnder(merged, points);
  // Nothing was mounted (the monitor unmounted at the exit): nothing to check again.
  if (mounted.length === 0) return points;
  for (const target of mounted.sort((a, b) => b.length - a.length)) {
    try {
      native.unmount({ target, flags: MNT_DETACH });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EINVAL' && code !== 'ENOENT') throw err;
    }
  }
  const after = mountPoints();
  const left = mountsUnder(merged, after);
  if (left.length > 0) throw new RuntimeError(`${left[0]} is still mounted after unmounting it`);
  return after;
}
