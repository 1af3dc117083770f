import { RuntimeError } from '../../errors.js';
import { logger } from '../../log.js';
import { removeInitLayer } from '../../store/init-layer.js';
import { removeLayer } from '../../store/layers.js';
import { unmountLayer } from '../../store/mounts.js';
import { containerDir, containerLockFile, storeLockFile } from '../../store/paths.js';
import { removeTree } from '../../store/remove-tree.js';
import { withLock } from '../../util/lock.js';
import { releaseName } from '../names.js';
import { bridgeNetwork, releaseAddresses } from '../network/leases.js';
import type { Context } from '../context.js';
import { readRecord, readRuntime, removeRuntime, writeRecord } from '../state/record.js';
import { assertCan, currentState } from '../state/status.js';
import { removeAnonymousVolumes } from '../volumes.js';
import { killForRemoval } from './kill.js';
import { cgroupHost, cgroupsPathFor, removeCgroup } from '../cgroups/host.js';
import { unlinkIfExists } from '../../util/remove-file.js';

/**
 * Removes a container in the order STYLE.md §3 gives: mark it removing,
 * kill it (with -f), detach the union and verify it is gone, then delete
 * the rw and init layers, their l/ links, and the state. If the unmount
 * cannot be verified nothing is deleted (containerd#10704). With `volumes`
 * (`rm -v`), or for a `--rm` container, its anonymous volumes go too.
 */
export async function removeContainer(ctx: Context, id: string, opts: { force: boolean; volumes?: boolean; auto?: boolean }): Promise<void> {
  const p = ctx.paths;
  await withLock(ctx.native, containerLockFile(p, id), async () => {
    const rec = readRecord(p, id);
    if (!rec) {
      // Removed already (a --rm container's monitor after an rm -f): the lock file this lock made again goes too.
      unlinkIfExists(containerLockFile(p, id));
      return;
    }
    const st = currentState(p, rec);
    // `auto`: a --rm container's monitor removing it at its exit; not when `restart` stopped it to start it again
    // (about to, or done already: that start's run is not the one that exited).
    if (opts.auto && (rec.state.restarting || st.running || st.status === 'created')) return;
    assertCan(st.running ? 'running' : st.status, opts.force ? 'rm -f' : 'rm', rec.name);
    // Not only a running container: a start cut short by a killed CLI leaves a monitor behind too.
    const rt = readRuntime(p, id);
    if (rt && !(await killForRemoval(ctx.native, rt))) {
      throw new RuntimeError(`container ${rec.name} did not die after SIGKILL`);
    }
    rec.state = { ...rec.state, status: 'removing', exitCode: st.exitCode, finishedAt: st.finishedAt };
    writeRecord(p, rec);
    // The mount points after the unmount serve the three removals: the container's lock is held.
    const points = unmountLayer(ctx.native, p, rec.rwLayerId);
    // A killed monitor leaves its cgroups behind.
    await removeCgroup(cgroupHost(), cgroupsPathFor(id));
    await withLock(ctx.native, storeLockFile(p), () => {
      removeLayer(p, rec.rwLayerId, points);
      removeInitLayer(p, rec.initLayerId, points);
    });
    removeTree(containerDir(p, id), points);
    releaseName(p, rec.name, id);
    if (opts.volumes || rec.autoRemove) await removeAnonymousVolumes(ctx, rec);
    if (rec.options.ports?.length) {
      const { unpublishPorts } = await import('../network/bridge.js');
      await unpublishPorts(ctx.native, p, bridgeNetwork(readRuntime(p, id)?.network?.bridge), { id });
    }
    if (rec.options.network === 'bridge') releaseAddresses(p, id);
    removeRuntime(p, id);
    unlinkIfExists(containerLockFile(p, id));
    logger('lifecycle').info({ cid: id, op: 'rm' }, 'removed');
  });
}
