import { setTimeout as sleep } from 'node:timers/promises';
import { RuntimeError } from '../../errors.js';
import type { Context } from '../context.js';
import { cgroupHost, thawProcess } from '../cgroups/host.js';
import { isAlive, pidStartTime } from '../state/liveness.js';
import { type RuntimeRecord, readRuntime } from '../state/record.js';

/**
 * Sends a signal to the container's init, if it is still the process we
 * started; a paused container is thawed so the signal is acted on (docker's
 * stop and kill of a paused container do the same).
 */
export async function sendSignal(rt: RuntimeRecord, signal: NodeJS.Signals): Promise<void> {
  if (!isAlive(rt.pid, rt.pidStartTime)) return;
  try {
    process.kill(rt.pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw new RuntimeError(`cannot signal the container: ${(err as Error).message}`);
  }
  await thawProcess(cgroupHost(), rt.pid);
}

/**
 * Waits, up to `timeoutMs`, for the init and its monitor to be gone (the
 * monitor writes exit.json and unmounts the union before it exits).
 */
export async function waitGone(rt: RuntimeRecord, timeoutMs: number): Promise<boolean> {
  // `run -d --rm`: the monitor execs `tsrun rm -f` as its last act, so that rm is the monitor's pid.
  const monitorStart = rt.monitorPid > 0 && rt.monitorPid !== process.pid ? (rt.monitorStartTime ?? pidStartTime(rt.monitorPid)) : undefined;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const initGone = rt.pid <= 0 || !isAlive(rt.pid, rt.pidStartTime);
    const monitorGone = monitorStart === undefined || !isAlive(rt.monitorPid, monitorStart);
    if (initGone && monitorGone) return true;
    if (Date.now() >= deadline) return false;
    await sleep(10);
  }
}

export async function signalAndWait(ctx: Context, id: string, signal: NodeJS.Signals, timeoutMs: number): Promise<boolean> {
  const rt = readRuntime(ctx.paths, id);
  if (!rt) return true;
  await sendSignal(rt, signal);
  return waitGone(rt, timeoutMs);
}

/**
 * Ends a container for `rm -f`, whatever state it is in: SIGKILL to its init,
 * and, if the monitor is still there after a moment (a start cut short by a
 * killed CLI), SIGKILL to the monitor too; the container's init dies with
 * it (PR_SET_PDEATHSIG in the child ladder).
 */
export async function killForRemoval(rt: RuntimeRecord): Promise<boolean> {
  await sendSignal(rt, 'SIGKILL');
  if (await waitGone(rt, 2_000)) return true;
  const monitorStart = rt.monitorStartTime ?? pidStartTime(rt.monitorPid);
  if (rt.monitorPid > 0 && rt.monitorPid !== process.pid && monitorStart !== undefined && isAlive(rt.monitorPid, monitorStart)) {
    try {
      process.kill(rt.monitorPid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  return waitGone(rt, 5_000);
}
