import { logger } from '../log.js';
import { mountsUnder, unmountLayer } from '../store/mounts.js';
import { containerLockFile, layerMerged, overlayHome } from '../store/paths.js';
import { tryWithLock } from '../util/lock.js';
import type { Context } from './context.js';
import type { ContainerRecord } from './state/record.js';
import { currentState } from './state/status.js';

/**
 * Unmounts the union of every container that is not running but still has
 * one: what a killed monitor leaves behind. One read of mountinfo for all
 * containers; a container whose lock is busy is left to its operation.
 */
export async function unmountStale(ctx: Context, records: ContainerRecord[]): Promise<void> {
  const mounted = new Set(mountsUnder(overlayHome(ctx.paths)));
  if (mounted.size === 0) return;
  for (const rec of records) {
    if (!mounted.has(layerMerged(ctx.paths, rec.rwLayerId))) continue;
    await tryWithLock(ctx.native, containerLockFile(ctx.paths, rec.id), () => {
      const st = currentState(ctx.paths, rec);
      if (st.running || st.status === 'created') return;
      unmountLayer(ctx.native, ctx.paths, rec.rwLayerId);
      logger('lifecycle').warn({ cid: rec.id, op: 'reconcile' }, 'unmounted the stale union of a stopped container');
    });
  }
}
