import * as fs from 'node:fs';
import type { NativeBinding } from '../../native/types.js';

let cachedBootId: string | undefined;

/** /proc/sys/kernel/random/boot_id: changes on every boot, unlike /run here (on disk). */
export function bootId(): string {
  cachedBootId ??= fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  return cachedBootId;
}

interface ProcStat {
  state: string;
  startTime: string;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0]!, startTime: rest[19]! };
}

/** Field 22 of /proc/<pid>/stat, or undefined when the process is gone. */
export function pidStartTime(pid: number): string | undefined {
  return readStat(pid)?.startTime;
}

/** crun's check: the pid exists, is the same process (start time), and is not a zombie. */
export function isAlive(pid: number, startTime: string): boolean {
  const st = readStat(pid);
  return st !== undefined && st.startTime === startTime && st.state !== 'Z' && st.state !== 'X';
}

/**
 * Waits, up to `timeoutMs`, until every one of these processes has exited
 * (a zombie counts: its reaper is someone else): on their pidfds, so the
 * caller goes on the moment they are, not at the next tick of a polling loop.
 */
export async function waitAllExited(native: NativeBinding, procs: { pid: number; startTime: string | undefined }[], timeoutMs: number): Promise<boolean> {
  const fds: number[] = [];
  try {
    for (const { pid, startTime } of procs) {
      if (pid <= 0 || startTime === undefined) continue;
      const fd = native.pidfdOpen({ pid });
      if (fd < 0) continue;
      // Checked after opening: the pid may have been reused before, but from here on the fd holds this process.
      if (isAlive(pid, startTime)) fds.push(fd);
      else fs.closeSync(fd);
    }
    // poll(2) takes an int: `stop -t 3000000` waits "forever" (24 days) rather than failing.
    return fds.length === 0 || (await native.waitPidfds({ fds, timeoutMs: Math.min(timeoutMs, 2 ** 31 - 1) }));
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
}
