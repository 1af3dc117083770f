import * as fs from 'node:fs';
import { readJsonIfExists, writeJsonAtomic, writeVolatileAtomic } from '../../util/atomic-write.js';
import { ON_EXIT_FLAG, type StorePaths, containerDir, containerFile, containersDir, runtimeDir, runtimeFile } from '../../store/paths.js';
import { removeTree } from '../../store/remove-tree.js';
import type { ExitFailure } from '../../native/report.js';
import type { PortBinding, RunOptions } from '../plan/container-spec.js';
import { unlinkIfExists } from '../../util/remove-file.js';

export type ContainerStatus = 'created' | 'running' | 'exited' | 'removing';

/** Durable: containers/<id>/container.json, written tmp + fsync + rename. */
export interface ContainerRecord {
  id: string;
  name: string;
  created: string;
  imageId: string;
  /** The image as the user named it (docker's Config.Image). */
  imageName: string;
  options: RunOptions;
  autoRemove: boolean;
  hostname: string;
  path: string;
  args: string[];
  rwLayerId: string;
  initLayerId: string;
  state: {
    status: ContainerStatus;
    exitCode: number;
    error: string;
    startedAt: string;
    finishedAt: string;
    /** The kernel's OOM killer ended a process of its last run (the monitor's exit.json). */
    oomKilled?: boolean;
    /** Ended by stop or kill: its restart policy is not applied until it is started again (docker's rule). */
    manuallyStopped?: boolean;
    /** Fast exits in a row, for the restart policy's backoff (100 ms doubling, reset after 10 s of running). */
    restartBackoff?: number;
    /** Stopped by `restart`, to be started again: a --rm container is not removed at this exit (docker's rule). */
    restarting?: boolean;
    /** When its restart policy starts it again (the backoff's end): till then docker's "Restarting". */
    restartAt?: string;
  };
  restartCount: number;
}

/** Volatile: <runroot>/containers/<id>/runtime.json. Only meaningful in the boot that wrote it. */
export interface RuntimeRecord {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: tells a reused pid apart. */
  pidStartTime: string;
  monitorPid: number;
  /** The monitor's own start time, so a killed monitor's reused pid is never signalled. */
  monitorStartTime?: string;
  bootId: string;
  startedAt: string;
  /** --network bridge: the address this start leased (runtime/network/leases.ts), and the -p bindings as made (host ports chosen). */
  network?: { bridge: string; address: string; prefix: number; gateway: string; ports?: PortBinding[] };
}

/** Written by the monitor when the container's init exits (containers/<id>/exit.json). */
export interface ExitRecord {
  exitCode: number;
  signal: number;
  finishedAt: string;
  pid: number;
  /** The memory cgroup's oom_kill counter was nonzero at the exit. */
  oomKilled?: boolean;
  /** A created container whose execve failed after `start`: the child's failure record. */
  failure?: ExitFailure;
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';

export function readRecord(p: StorePaths, id: string): ContainerRecord | undefined {
  return readJsonIfExists<ContainerRecord>(containerFile(p, id, 'container.json'));
}

export function writeRecord(p: StorePaths, rec: ContainerRecord): void {
  writeJsonAtomic(containerFile(p, rec.id, 'container.json'), rec, 0o600);
}

export function listContainerIds(p: StorePaths): string[] {
  try {
    return fs.readdirSync(containersDir(p)).filter((n) => /^[a-f0-9]{64}$/.test(n));
  } catch {
    return [];
  }
}

export function ensureContainerDir(p: StorePaths, id: string): void {
  fs.mkdirSync(containerDir(p, id), { recursive: true, mode: 0o710 });
}

export function readRuntime(p: StorePaths, id: string): RuntimeRecord | undefined {
  try {
    return readJsonIfExists<RuntimeRecord>(runtimeFile(p, id));
  } catch {
    return undefined; // a torn volatile file means "not running"
  }
}

export function writeRuntime(p: StorePaths, id: string, rec: RuntimeRecord): void {
  fs.mkdirSync(runtimeDir(p, id), { recursive: true, mode: 0o700 });
  // Volatile: believed only with its boot id and a live pid (status.ts), so a write lost in a crash is harmless.
  writeVolatileAtomic(runtimeFile(p, id), JSON.stringify(rec), 0o600);
}

export function removeRuntime(p: StorePaths, id: string): void {
  // No mount is ever made in it: no mountinfo to read first (the walk still refuses to enter one).
  removeTree(runtimeDir(p, id), []);
}

export function readExit(p: StorePaths, id: string): ExitRecord | undefined {
  try {
    return readJsonIfExists<ExitRecord>(containerFile(p, id, 'exit.json'));
  } catch {
    return undefined;
  }
}

export function clearExit(p: StorePaths, id: string): void {
  unlinkIfExists(containerFile(p, id, 'exit.json'));
}

/**
 * The ON_EXIT_FLAG file, there while the container has a restart policy or
 * published ports: its monitor runs `on-exit` at the exit only then (start.ts).
 */
export function setOnExitFlag(p: StorePaths, rec: ContainerRecord): void {
  const flag = containerFile(p, rec.id, ON_EXIT_FLAG);
  if ((rec.options.restart && rec.options.restart.name !== 'no') || rec.options.ports?.length) fs.writeFileSync(flag, '', { mode: 0o600 });
  else unlinkIfExists(flag);
}
