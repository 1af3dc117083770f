import * as fs from 'node:fs';
import { RuntimeError } from '../errors.js';
import type { NativeBinding } from '../native/types.js';
import { type StorePaths, layerDiff, layerMerged, layerWork, overlayHome } from './paths.js';
import { readLower, repairLinks } from './layers.js';
import { mountsUnder } from './mountinfo.js';

export { mountsUnder };
import { logger } from '../log.js';
import { planOverlayMount } from './mount-options.js';
import * as path from 'node:path';

/**
 * Mounting a container layer's union at overlay/<id>/merged on the host, and
 * taking it down again. Whether something is mounted is always asked of the
 * kernel (/proc/self/mountinfo), never remembered (podman#19913).
 */

let indexParamExists: boolean | undefined;

export function mountLayer(native: NativeBinding, p: StorePaths, cacheId: string): string {
  const merged = layerMerged(p, cacheId);
  fs.mkdirSync(merged, { mode: 0o700, recursive: true });
  // Lower dirs are given by their l/ links, as Docker does: short names keep the option string small.
  const lowerDirs = readLower(p, cacheId).map((name) => path.join(overlayHome(p), name));
  if (lowerDirs.length === 0) throw new RuntimeError(`layer ${cacheId} has no lower layers to mount`);
  // A crash can lose l/ links (containers/storage#326): rebuild them from the link files rather than fail.
  if (lowerDirs.some((dir) => !fs.existsSync(dir))) {
    const repaired = repairLinks(p);
    logger('store').warn({ cid: cacheId, repaired }, 'rebuilt missing l/ links');
  }
  indexParamExists ??= fs.existsSync('/sys/module/overlay/parameters/index');
  const plan = planOverlayMount({
    lowerDirs,
    upperDir: layerDiff(p, cacheId),
    workDir: layerWork(p, cacheId),
    indexOff: indexParamExists,
  });
  if (plan.kind === 'data') native.mountOverlay({ target: merged, data: plan.data });
  else native.mountOverlayLayers({ target: merged, lowerDirs: plan.lowerDirs, upperDir: plan.upperDir, workDir: plan.workDir, options: plan.options });
  return merged;
}

/**
 * Detaches every mount at or under the merged dir and checks they are gone.
 * EINVAL and ENOENT mean "not mounted" (podman#19913). If a mount stays,
 * this throws: the caller must not delete anything beneath it
 * (containerd#10704).
 */
export function unmountLayer(native: NativeBinding, p: StorePaths, cacheId: string): void {
  const merged = layerMerged(p, cacheId);
  const MNT_DETACH = native.constants.MNT_DETACH;
  const mounted = mountsUnder(merged);
  // Nothing was mounted (the monitor unmounted at the exit): nothing to check again.
  if (mounted.length === 0) return;
  for (const target of mounted.sort((a, b) => b.length - a.length)) {
    try {
      native.unmount({ target, flags: MNT_DETACH });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EINVAL' && code !== 'ENOENT') throw err;
    }
  }
  const left = mountsUnder(merged);
  if (left.length > 0) throw new RuntimeError(`${left[0]} is still mounted after unmounting it`);
}
