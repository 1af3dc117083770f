import { setTimeout as sleep } from 'node:timers/promises';
import { RuntimeError } from '../../errors.js';
import type { Context } from '../context.js';
import { isAlive, pidStartTime } from '../state/liveness.js';
import { readRuntime } from '../state/record.js';

/**
 * Signals a running container's init and waits, up to `timeoutMs`, for it
 * and its monitor to be gone (the monitor writes exit.json and unmounts
 * the union before it exits). Returns whether they went away in time.
 */
export async function signalAndWait(ctx: Context, id: string, signal: NodeJS.Signals, timeoutMs: number): Promise<boolean> {
  const rt = readRuntime(ctx.paths, id);
  if (!rt) return true;
  if (isAlive(rt.pid, rt.pidStartTime)) {
    try {
      process.kill(rt.pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw new RuntimeError(`cannot signal container: ${(err as Error).message}`);
    }
  }
  const monitorStart = rt.monitorPid > 0 ? pidStartTime(rt.monitorPid) : undefined;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const initGone = !isAlive(rt.pid, rt.pidStartTime);
    const monitorGone = monitorStart === undefined || !isAlive(rt.monitorPid, monitorStart);
    if (initGone && monitorGone) return true;
    if (Date.now() >= deadline) return false;
    await sleep(10);
  }
}
