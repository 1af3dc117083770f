import { RuntimeError } from '../../errors.js';
import type { NativeBinding } from '../../native/types.js';
import type { Context } from '../context.js';
import { cgroupHost, thawProcess } from '../cgroups/host.js';
import { isAlive, pidStartTime, waitAllExited } from '../state/liveness.js';
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
 * monitor writes exit.json and unmounts the union before it exits): on
 * their pidfds, so `stop` returns the moment they are, not at the next tick
 * of a polling loop.
 */
export async function waitGone(native: NativeBinding, rt: RuntimeRecord, timeoutMs: number): Promise<boolean> {
  // `run -d --rm`: the monitor execs `tsrun rm -f` as its last act, so that rm is the monitor's pid.
  const monitorStart = rt.monitorPid > 0 && rt.monitorPid !== process.pid ? (rt.monitorStartTime ?? pidStartTime(rt.monitorPid)) : undefined;
  return waitAllExited(native, [
    { pid: rt.pid, startTime: rt.pidStartTime },
    { pid: rt.monitorPid, startTime: monitorStart },
  ], timeoutMs);
}

export async function signalAndWait(ctx: Context, id: string, signal: NodeJS.Signals, timeoutMs: number): Promise<boolean> {
  const rt = readRuntime(ctx.paths, id);
  if (!rt) return true;
  await sendSignal(rt, signal);
  return waitGone(ctx.native, rt, timeoutMs);
}

/**
 * Ends a container for `rm -f`, whatever state it is in: SIGKILL to its init,
 * and, if the monitor is still there after a moment (a start cut short by a
 * killed CLI), SIGKILL to the monitor too; the container's init dies with
 * it (PR_SET_PDEATHSIG in the child ladder).
 */
export async function killForRemoval(native: NativeBinding, rt: RuntimeRecord): Promise<boolean> {
  await sendSignal(rt, 'SIGKILL');
  if (await waitGone(native, rt, 2_000)) return true;
  const monitorStart = rt.monitorStartTime ?? pidStartTime(rt.monitorPid);
  if (rt.monitorPid > 0 && rt.monitorPid !== process.pid && monitorStart !== undefined && isAlive(rt.monitorPid, monitorStart)) {
    try {
      process.kill(rt.monitorPid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  return waitGone(native, rt, 5_000);
}
