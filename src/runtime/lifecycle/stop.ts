import * as os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { RuntimeError, UsageError } from '../../errors.js';
import { logger } from '../../log.js';
import { readImageConfig } from '../../store/images.js';
import { containerLockFile } from '../../store/paths.js';
import { withLock } from '../../util/lock.js';
import type { Context } from '../context.js';
import { type ContainerRecord, readRecord, readRuntime, writeRecord } from '../state/record.js';
import { currentState } from '../state/status.js';
import { sendSignal, waitGone } from './kill.js';
import { foldExit } from './start.js';
import { unlinkIfExists } from '../../util/remove-file.js';

/** A signal by Node's name, or by number (the real-time ones, which Node does not name). */
export type Signal = NodeJS.Signals | number;

/** The real-time signals as a glibc program numbers them (glibc keeps 32 and 33): docker's RTMIN and RTMAX. */
const RTMIN = 34;
const RTMAX = 64;

/**
 * "KILL", "SIGKILL", "9" → SIGKILL, as docker's --signal takes them; and
 * the real-time signals by number (up to 64) or by docker's names, RTMIN,
 * RTMIN+1 to RTMIN+15, RTMAX-14 to RTMAX-1, RTMAX (systemd stops on
 * RTMIN+3).
 */
export function parseSignal(input: string): Signal {
  const upper = input.toUpperCase();
  if (/^\d+$/.test(upper)) {
    const n = Number(upper);
    const name = Object.entries(os.constants.signals).find(([, v]) => v === n)?.[0];
    if (name) return name as NodeJS.Signals;
    if (n >= 1 && n <= RTMAX) return n;
  } else {
    const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
    if (name in os.constants.signals) return name as NodeJS.Signals;
    const rt = /^SIGRT(MIN|MAX)(?:([+-])(\d{1,2}))?$/.exec(name);
    if (rt) {
      const [, base, sign, offset] = rt;
      if (base === 'MIN' && (sign === undefined || (sign === '+' && Number(offset) <= 15))) return RTMIN + Number(offset ?? 0);
      if (base === 'MAX' && (sign === undefined || (sign === '-' && Number(offset) <= 14))) return RTMAX - Number(offset ?? 0);
    }
  }
  throw new UsageError(`invalid signal: ${input}`);
}

/**
 * `stop`: --stop-signal, else the image's StopSignal, else SIGTERM; then
 * SIGKILL once `timeoutSec` has passed (not given: --stop-timeout, else 10;
 * negative: never), as docker does. A stopped container is left as is.
 * `restarting`: a --rm container is kept at this exit, for the start after.
 */
export async function stopContainer(ctx: Context, id: string, timeoutSec?: number, opts: { restarting?: boolean } = {}): Promise<void> {
  const p = ctx.paths;
  const lock = containerLockFile(p, id);
  // The signal under the lock, to the process the record names now.
  const sent = await withLock(ctx.native, lock, async () => {
    const rec = readRecord(p, id);
    if (!rec) return undefined;
    markStopped(ctx, rec);
    const rt = readRuntime(p, id);
    if (!currentState(p, rec).running || !rt) {
      foldExit(ctx, id);
      return undefined;
    }
    if (opts.restarting) {
      rec.state = { ...rec.state, restarting: true };
      writeRecord(p, rec);
    }
    let signal: Signal = 'SIGTERM';
    try {
      const stopSignal = rec.options.stopSignal ?? readImageConfig(p, rec.imageId).config?.StopSignal;
      if (stopSignal) signal = parseSignal(stopSignal);
    } catch {
      signal = 'SIGTERM';
    }
    await sendSignal(rt, signal);
    return { rt, signal, name: rec.name, seconds: timeoutSec ?? rec.options.stopTimeout ?? 10 };
  });
  if (!sent) return;
  // The wait holds no lock (it is on that very process's pidfd): a kill or rm -f meanwhile goes through, as
  // docker's, and a stop that may wait for ever (-t -1) blocks nobody else.
  if (!(await waitGone(ctx.native, sent.rt, sent.seconds < 0 ? Infinity : sent.seconds * 1000))) {
    logger('lifecycle').info({ cid: id, op: 'stop' }, `no exit ${sent.seconds}s after ${sent.signal}; sending SIGKILL`);
    const killed = await withLock(ctx.native, lock, async () => {
      const rt = readRuntime(p, id);
      // Still that process (a start meanwhile would be another): SIGKILL.
      if (rt?.pid !== sent.rt.pid || rt.pidStartTime !== sent.rt.pidStartTime) return undefined;
      await sendSignal(rt, 'SIGKILL');
      return rt;
    });
    // Waited for without the lock, as above: the monitor's last act (a --rm removal) takes it.
    if (killed && !(await waitGone(ctx.native, killed, 10_000))) throw new RuntimeError(`container ${sent.name} did not die after SIGKILL`);
  }
  await withLock(ctx.native, lock, () => {
    // A --rm container is gone by now (its monitor's last act): its lock file, made again by this lock, goes too.
    if (readRecord(p, id)) foldExit(ctx, id);
    else unlinkIfExists(lock);
  });
}

/** A restart whose start failed: the container is no longer one that restart is bringing back. */
export async function endRestart(ctx: Context, id: string): Promise<void> {
  await withLock(ctx.native, containerLockFile(ctx.paths, id), () => {
    const rec = readRecord(ctx.paths, id);
    if (!rec?.state.restarting) return;
    rec.state = { ...rec.state, restarting: false };
    writeRecord(ctx.paths, rec);
  });
}

/** A container the user stopped or killed is not restarted by its policy until started again (docker's rule). */
function markStopped(ctx: Context, rec: ContainerRecord): void {
  if (!rec.options.restart || (rec.state.manuallyStopped && rec.state.restartAt === undefined)) return;
  // A restart it was waiting for is off too.
  const { restartAt: _off, ...state } = rec.state;
  rec.state = { ...state, manuallyStopped: true };
  writeRecord(ctx.paths, rec);
}

/** `kill`: one signal to the container's init; no waiting. */
export async function killContainer(ctx: Context, id: string, signal: Signal): Promise<void> {
  const p = ctx.paths;
  await withLock(ctx.native, containerLockFile(p, id), async () => {
    const rec = readRecord(p, id);
    if (!rec) return;
    const st = currentState(p, rec);
    const rt = readRuntime(p, id);
    if (!st.running || !rt) throw new RuntimeError(`container ${rec.name} is not running`);
    markStopped(ctx, rec);
    await sendSignal(rt, signal);
  });
}

/** `wait`: blocks until the container is not running and returns its exit code. */
export async function waitContainer(ctx: Context, id: string): Promise<number> {
  const p = ctx.paths;
  for (;;) {
    const rec = readRecord(p, id);
    if (!rec) throw new RuntimeError(`container ${id} was removed while waiting`);
    const st = currentState(p, rec);
    if (!st.running && st.status !== 'created') {
      if (rec.state.status === 'running') await withLock(ctx.native, containerLockFile(p, id), () => foldExit(ctx, id));
      return st.exitCode;
    }
    const rt = readRuntime(p, id);
    if (rt) await waitGone(ctx.native, rt, 500);
    else await sleep(100);
  }
}
