import * as fs from 'node:fs';
import * as path from 'node:path';
import { RuntimeError } from '../../errors.js';
import type { NativeBinding } from '../../native/types.js';
import { cgroupHost, thawProcess } from '../cgroups/host.js';
import { isAlive, pidStartTime, waitAllExited } from '../state/liveness.js';
import type { RuntimeRecord } from '../state/record.js';

/**
 * Sends a signal to the container's init, if it is still the process we
 * started; a paused container is thawed so the signal is acted on (docker's
 * stop and kill of a paused container do the same).
 */
export async function sendSignal(rt: RuntimeRecord, signal: NodeJS.Signals | number): Promise<void> {
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
 * of a polling loop. A monitor whose last act is an exec (`run -d --rm`'s
 * removal, a restart policy's step) counts as gone once it has made it:
 * it is then that command, which may itself wait for the caller's lock.
 */
export async function waitGone(native: NativeBinding, rt: RuntimeRecord, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  if (!(await waitAllExited(native, [{ pid: rt.pid, startTime: rt.pidStartTime }], timeoutMs))) return false;
  if (rt.monitorPid <= 0 || rt.monitorPid === process.pid) return true;
  const monitorStart = rt.monitorStartTime ?? pidStartTime(rt.monitorPid);
  if (monitorStart === undefined) return true;
  // No event tells an exec: asked again every 20 ms, the exit itself ends the wait at once.
  for (;;) {
    if (!isMonitor(rt.monitorPid, monitorStart)) return true;
    const left = deadline - Date.now();
    if (left <= 0) return false;
    if (await waitAllExited(native, [{ pid: rt.monitorPid, startTime: monitorStart }], Math.min(left, 20))) return true;
  }
}

/**
 * Still tsrun's monitor: that process, alive, and running the monitor's
 * program (its sealed memfd copy, or the file before it re-execs from
 * one). An exec to anything else (`tsrun on-exit`) makes it that. Its name
 * would not do: a monitor is not yet named when a start is cut short.
 */
function isMonitor(pid: number, startTime: string): boolean {
  if (!isAlive(pid, startTime)) return false;
  try {
    const exe = fs.readlinkSync(`/proc/${pid}/exe`);
    return exe.startsWith('/memfd:tsrun-monitor') || path.basename(exe.replace(/ \(deleted\)$/, '')) === 'tsrun-monitor';
  } catch (err) {
    // Gone meanwhile, or a zombie with no exe: not the monitor any more. Refused (the monitor is not dumpable,
    // and this tsrun may lack CAP_SYS_PTRACE): still it, as an exec makes a process dumpable again.
    const code = (err as NodeJS.ErrnoException).code;
    return code !== 'ENOENT' && code !== 'ESRCH';
  }
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
