import { InvalidStateError } from '../../errors.js';
import { exitFailureToError } from '../../native/report.js';
import type { StorePaths } from '../../store/paths.js';
import { bootId, isAlive } from './liveness.js';
import { cgroupDirs, cgroupHost, cgroupsPathFor, isFrozen } from '../cgroups/host.js';
import { type ContainerRecord, type ContainerStatus, ZERO_TIME, readExit, readRecord, readRuntime } from './record.js';

/**
 * What a container is now, from the durable record checked against the
 * kernel: "running" is only believed while the recorded pid is alive with
 * its recorded start time in this boot (podman#19913: never trust persisted
 * run state across a reboot). A container whose process is gone is exited,
 * with the status its monitor wrote, or 255 as docker reports a container
 * that died with its host.
 */
export interface CurrentState {
  status: ContainerStatus;
  running: boolean;
  /** Running, with every process frozen (`pause`). */
  paused: boolean;
  pid: number;
  monitorPid: number;
  exitCode: number;
  error: string;
  startedAt: string;
  finishedAt: string;
  oomKilled: boolean;
}

/**
 * Waiting out its restart policy's backoff (docker's "Restarting"): until
 * a few seconds past the time set, after which a restart that never came
 * (its waiting process gone with a reboot) shows as the exit it was.
 */
export function waitingToRestart(rec: ContainerRecord, st: CurrentState, now = Date.now()): boolean {
  return !st.running && st.status === 'exited' && rec.state.restartAt !== undefined && now < Date.parse(rec.state.restartAt) + 10_000;
}

export function currentState(p: StorePaths, rec: ContainerRecord): CurrentState {
  const base: CurrentState = {
    status: rec.state.status,
    running: false,
    paused: false,
    pid: 0,
    monitorPid: 0,
    exitCode: rec.state.exitCode,
    error: rec.state.error,
    startedAt: rec.state.startedAt,
    finishedAt: rec.state.finishedAt,
    oomKilled: rec.state.oomKilled === true,
  };
  if (rec.state.status === 'created') {
    // A created container's init may be waiting on its start FIFO.
    const rt = readRuntime(p, rec.id);
    return rt && rt.pid > 0 && rt.bootId === bootId() && isAlive(rt.pid, rt.pidStartTime) ? { ...base, pid: rt.pid, monitorPid: rt.monitorPid } : base;
  }
  if (rec.state.status !== 'running') return base;
  const rt = readRuntime(p, rec.id);
  if (rt && rt.bootId === bootId() && isAlive(rt.pid, rt.pidStartTime)) {
    const host = cgroupHost();
    return { ...base, running: true, paused: isFrozen(host, cgroupDirs(host, cgroupsPathFor(rec.id))), pid: rt.pid, monitorPid: rt.monitorPid };
  }
  const exit = readExit(p, rec.id);
  if (exit && (!rt || exit.pid === rt.pid)) {
    const error = exit.failure ? exitFailureToError(exit.failure).message : base.error;
    return { ...base, status: 'exited', exitCode: exit.exitCode, error, finishedAt: exit.finishedAt, oomKilled: exit.oomKilled === true };
  }
  // The init is gone but its monitor has not written the exit yet (it drains the output first): still
  // running for that moment, or a wait or ps in between would settle the container as exited 255.
  if (rt && rt.bootId === bootId() && rt.monitorPid > 0 && rt.monitorStartTime && isAlive(rt.monitorPid, rt.monitorStartTime)) {
    // pid 0: the init is gone, nothing may join or signal it.
    return { ...base, running: true, pid: 0, monitorPid: rt.monitorPid };
  }
  return { ...base, status: 'exited', exitCode: 255, finishedAt: rec.state.finishedAt === ZERO_TIME ? rec.state.startedAt : rec.state.finishedAt };
}

export type Operation = 'start' | 'stop' | 'kill' | 'restart' | 'exec' | 'rm' | 'rm -f';

/** The transition table (STYLE.md §3): which operations each status allows. */
const ALLOWED: Record<ContainerStatus, readonly Operation[]> = {
  created: ['start', 'rm', 'rm -f', 'stop', 'kill'],
  running: ['stop', 'kill', 'restart', 'exec', 'rm -f'],
  exited: ['start', 'restart', 'rm', 'rm -f', 'stop'],
  removing: ['rm', 'rm -f'],
};

export function can(status: ContainerStatus, op: Operation): boolean {
  return ALLOWED[status].includes(op);
}

export function assertCan(status: ContainerStatus, op: Operation, name: string): void {
  if (can(status, op)) return;
  if (status === 'running' && op === 'rm') {
    throw new InvalidStateError(op, status, `container ${name} is running: stop it first or use rm -f`);
  }
  if (op === 'exec') throw new InvalidStateError(op, status, `container ${name} is not running`);
  throw new InvalidStateError(op, status, `cannot ${op} container ${name}: it is ${status}`);
}

/** Whether a container exists and runs now (for polling loops such as `logs -f`). */
export function isRunning(p: StorePaths, id: string): boolean {
  const rec = readRecord(p, id);
  return rec !== undefined && currentState(p, rec).running;
}
