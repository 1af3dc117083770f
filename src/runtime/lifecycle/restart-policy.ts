import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { RuntimeError, UsageError } from '../../errors.js';
import { logger } from '../../log.js';
import { containerLockFile } from '../../store/paths.js';
import { withLock } from '../../util/lock.js';
import type { Context } from '../context.js';
import type { RestartPolicy } from '../plan/container-spec.js';
import { readRecord, readRuntime, setOnExitFlag, writeRecord } from '../state/record.js';
import { currentState } from '../state/status.js';
import { foldExit, startContainer } from './start.js';
import { unlinkIfExists } from '../../util/remove-file.js';

/**
 * --restart without a daemon: the monitor of a container with a policy
 * execs `tsrun on-exit ID` once the process has exited and the exit is
 * recorded. That first step only hands over to a detached copy of itself,
 * so a foreground `run` (waiting for its monitor's pid) returns at once;
 * the copy applies docker's rules: on-failure restarts after a non-zero
 * exit, up to its count; always and unless-stopped after any exit; none
 * after a stop or kill by the user (until the next start). Delays double
 * from 100 ms while the container keeps exiting within 10 s of starting,
 * up to a minute. Policies act while the host runs: after a reboot nothing
 * restarts a container by itself (there is no daemon); `tsrun start` does.
 */
export function handOver(selfCommand: string[], id: string): void {
  const [cmd, ...args] = selfCommand;
  spawn(cmd!, [...args, 'on-exit', '--apply', id], { detached: true, stdio: 'ignore' }).unref();
}

const FAST_EXIT_MS = 10_000;
const MAX_DELAY_MS = 60_000;

export async function applyRestartPolicy(ctx: Context, id: string): Promise<void> {
  const p = ctx.paths;
  // Removed already (a foreground --rm run's CLI was first): the lock must not make its file again.
  if (!readRecord(p, id)) return;
  const delay = await withLock(ctx.native, containerLockFile(p, id), () => {
    if (!readRecord(p, id)) {
      unlinkIfExists(containerLockFile(p, id));
      return undefined;
    }
    foldExit(ctx, id);
    const rec = readRecord(p, id);
    const policy = rec?.options.restart;
    if (!rec || !policy || policy.name === 'no' || rec.state.status !== 'exited' || rec.state.manuallyStopped) return undefined;
    if (policy.name === 'on-failure' && (rec.state.exitCode === 0 || (policy.maxRetries > 0 && rec.restartCount >= policy.maxRetries))) return undefined;
    const ran = Date.parse(rec.state.finishedAt) - Date.parse(rec.state.startedAt);
    const fastExits = ran >= FAST_EXIT_MS ? 0 : (rec.state.restartBackoff ?? 0) + 1;
    const delay = Math.min(MAX_DELAY_MS, fastExits === 0 ? 0 : 100 * 2 ** (fastExits - 1));
    rec.state = { ...rec.state, restartBackoff: fastExits, restartAt: new Date(Date.now() + delay).toISOString() };
    rec.restartCount += 1;
    writeRecord(p, rec);
    return delay;
  });
  if (delay === undefined) {
    await releasePorts(ctx, id);
    return;
  }
  await sleep(delay);
  // Removed meanwhile (rm -f during the backoff): nothing to start, and no lock file to leave behind.
  if (!readRecord(p, id)) return;
  try {
    await startContainer(ctx, id, { mode: 'detached', byPolicy: true });
    logger('lifecycle').info({ cid: id, op: 'restart', delayMs: delay }, 'restarted by its policy');
  } catch (err) {
    // Stopped, removed or started by someone else meanwhile: nothing to do.
    logger('lifecycle').info({ cid: id, op: 'restart', err: (err as Error).message }, 'not restarted');
  }
}

/**
 * `update --restart`: the container's policy from its next exit on, running
 * or not (its monitor looks at the ON_EXIT_FLAG file when the process exits).
 */
export async function updateRestartPolicy(ctx: Context, id: string, policy: RestartPolicy): Promise<void> {
  await withLock(ctx.native, containerLockFile(ctx.paths, id), () => {
    const rec = readRecord(ctx.paths, id);
    if (!rec) throw new RuntimeError(`container ${id} disappeared`);
    // docker's rule, as at run: a container removed at its exit cannot also be restarted then.
    if (rec.autoRemove && policy.name !== 'no') throw new UsageError('Restart policy cannot be updated because AutoRemove is enabled for the container');
    rec.options = { ...rec.options, restart: policy };
    writeRecord(ctx.paths, rec);
    setOnExitFlag(ctx.paths, rec);
  });
}

/** Not restarted: its published ports go (the next start, or rm, would otherwise be the first to notice). */
async function releasePorts(ctx: Context, id: string): Promise<void> {
  const rec = readRecord(ctx.paths, id);
  if (!rec?.options.ports?.length) return;
  const [{ unpublishPorts }, { bridgeNetwork }] = await Promise.all([import('../network/bridge.js'), import('../network/leases.js')]);
  await withLock(ctx.native, containerLockFile(ctx.paths, id), async () => {
    // Started again meanwhile (by the user): its bindings are its new start's.
    if (currentState(ctx.paths, rec).running) return;
    await unpublishPorts(ctx.native, ctx.paths, bridgeNetwork(readRuntime(ctx.paths, id)?.network?.bridge), { id });
  });
}
