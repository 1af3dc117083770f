import { RuntimeError } from '../../errors.js';
import { containerLockFile } from '../../store/paths.js';
import { withLock } from '../../util/lock.js';
import type { Context } from '../context.js';
import { cgroupHost, cgroupsPathFor, existingCgroup, setFrozen } from '../cgroups/host.js';
import { readRecord } from '../state/record.js';
import { currentState } from '../state/status.js';

/** `pause` / `unpause`: freeze or thaw every process of a running container (its freezer cgroup), as docker. */
export async function setPaused(ctx: Context, id: string, pause: boolean): Promise<void> {
  const p = ctx.paths;
  await withLock(ctx.native, containerLockFile(p, id), async () => {
    const rec = readRecord(p, id);
    if (!rec) throw new RuntimeError(`container ${id} disappeared`);
    const st = currentState(p, rec);
    if (!st.running) throw new RuntimeError(`container ${rec.name} is not running`);
    if (pause && st.paused) throw new RuntimeError(`container ${rec.name} is already paused`);
    if (!pause && !st.paused) throw new RuntimeError(`container ${rec.name} is not paused`);
    const host = cgroupHost();
    await setFrozen(host, existingCgroup(host, cgroupsPathFor(id)), pause);
  });
}
