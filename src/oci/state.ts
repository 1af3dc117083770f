import * as fs from 'node:fs';
import * as path from 'node:path';
import { RuntimeError, UsageError } from '../errors.js';
import { readJsonIfExists, writeVolatileAtomic } from '../util/atomic-write.js';
import { bootId, isAlive } from '../runtime/state/liveness.js';
import { cgroupDirs, cgroupHost, isFrozen } from '../runtime/cgroups/host.js';
import { loadNative } from '../native/binding.js';
import type { NativeBinding } from '../native/types.js';
import type { OciSpec } from './spec.js';

/**
 * The OCI runtime's own state, one directory per container under its
 * --root (default /run/tsrun-oci, as runc's /run/runc):
 *   <root>/<id>/state.json   who the container is: bundle, init pid + start time, boot
 *   <root>/<id>/config.json  the bundle's config as it was at create (exec reads it)
 *   <root>/<id>/exec.fifo    present while the container is created, not yet started
 *   <root>/<id>/lock         flock held by every verb that changes the container
 * A container's status is never stored: it is read off the init process
 * (runtime.md "State"), so a killed runtime or a reboot cannot leave a lie.
 */

export const DEFAULT_OCI_ROOT = '/run/tsrun-oci';

export type OciStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export interface OciContainerState {
  id: string;
  bundle: string;
  rootfs: string;
  /** The init in the host's PID namespace; 0 until create has it. */
  pid: number;
  pidStartTime: string;
  bootId: string;
  created: string;
  annotations: Record<string, string>;
  /** Relative to each controller's mount; "" when the container has no cgroups of its own. */
  cgroupsPath: string;
  /** The levels above its cgroup its create made (a systemd path's slices), taken back at delete once empty. */
  cgroupsMade?: string[];
  /** Made with --no-new-keyring: its execs keep the caller's session keyring too (runc's rule). */
  noNewKeyring?: boolean;
}

/** runtime.md "State", as `state` prints it (and runc's extra rootfs/created/owner). */
export interface OciStateReport {
  ociVersion: string;
  id: string;
  status: OciStatus;
  pid: number;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations: Record<string, string>;
}

export interface OciPaths {
  root: string;
}

/** runc's rule for ids: they become path components, so no separators or dots alone. */
const ID_PATTERN = /^[\w+\-.]+$/;

export function checkId(id: string): void {
  if (!ID_PATTERN.test(id) || id.startsWith('.')) {
    throw new UsageError(`invalid container id ${JSON.stringify(id)}: use letters, digits and _ + - . only, not starting with a dot`);
  }
}

export const stateDir = (p: OciPaths, id: string) => path.join(p.root, id);
export const stateFile = (p: OciPaths, id: string) => path.join(stateDir(p, id), 'state.json');
export const configCopy = (p: OciPaths, id: string) => path.join(stateDir(p, id), 'config.json');
export const execFifo = (p: OciPaths, id: string) => path.join(stateDir(p, id), 'exec.fifo');
export const lockFile = (p: OciPaths, id: string) => path.join(stateDir(p, id), 'lock');

export function readState(p: OciPaths, id: string): OciContainerState | undefined {
  checkId(id);
  return readJsonIfExists<OciContainerState>(stateFile(p, id));
}

export function mustReadState(p: OciPaths, id: string): OciContainerState {
  const st = readState(p, id);
  if (!st) throw new ContainerMissingError(id);
  return st;
}

export class ContainerMissingError extends RuntimeError {
  constructor(id: string) {
    super(`container ${id} does not exist`);
  }
}

/** Volatile, as runc's: the status is read off the init, and a reboot (a new boot id) makes every container stopped. */
export function writeState(p: OciPaths, st: OciContainerState): void {
  writeVolatileAtomic(stateFile(p, st.id), JSON.stringify(st), 0o600);
}

export function readConfigCopy(p: OciPaths, id: string): OciSpec {
  const spec = readJsonIfExists<OciSpec>(configCopy(p, id));
  if (!spec) throw new RuntimeError(`container ${id} has no saved config.json`);
  return spec;
}

/** Whether the init still runs: same pid, same start time, this boot, not a zombie. */
export function initAlive(st: OciContainerState): boolean {
  return st.pid > 0 && st.bootId === bootId() && isAlive(st.pid, st.pidStartTime);
}

export function statusOf(p: OciPaths, st: OciContainerState): OciStatus {
  // No init yet: `create` is still at work while it holds the lock (runtime.md's "creating"); else it died.
  if (st.pid === 0) return lockHeld(p, st.id) ? 'creating' : 'stopped';
  if (!initAlive(st)) return 'stopped';
  // Frozen first: a created container may be paused too (runc's), and is created again once resumed.
  if (st.cgroupsPath && isFrozen(cgroupHost(), cgroupDirs(cgroupHost(), st.cgroupsPath))) return 'paused';
  return fs.existsSync(execFifo(p, st.id)) ? 'created' : 'running';
}

export function report(p: OciPaths, st: OciContainerState, ociVersion: string): OciStateReport {
  const status = statusOf(p, st);
  return {
    ociVersion,
    id: st.id,
    status,
    pid: status === 'stopped' ? 0 : st.pid,
    bundle: st.bundle,
    rootfs: st.rootfs,
    created: st.created,
    owner: '',
    annotations: st.annotations,
  };
}

/** Every container with a readable state, by id. */
export function listStates(p: OciPaths): OciContainerState[] {
  let names: string[];
  try {
    names = fs.readdirSync(p.root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: OciContainerState[] = [];
  for (const name of names.sort()) {
    if (!ID_PATTERN.test(name) || name.startsWith('.')) continue;
    const st = readJsonIfExists<OciContainerState>(stateFile(p, name));
    if (st) out.push(st);
  }
  return out;
}

/** The containers whose lock this process holds (withContainerLock): flock would see our own lock as another's. */
const heldHere = new Set<string>();

/** Whether another process holds the container's lock now (a shared flock that cannot be had). */
function lockHeld(p: OciPaths, id: string): boolean {
  if (heldHere.has(id)) return false;
  let fd: number;
  try {
    fd = fs.openSync(lockFile(p, id), fs.constants.O_RDONLY);
  } catch {
    return false;
  }
  try {
    const native = loadNative();
    native.flock({ fd, op: native.constants.LOCK_SH | native.constants.LOCK_NB });
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EAGAIN';
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Runs `fn` holding the container's lock. The lock file lives in the state
 * directory and is never recreated here: a container deleted meanwhile (its
 * lock file unlinked while we waited) is reported missing, not revived.
 */
export async function withContainerLock<T>(native: NativeBinding, p: OciPaths, id: string, fn: () => Promise<T> | T): Promise<T> {
  checkId(id);
  let fd: number;
  try {
    fd = fs.openSync(lockFile(p, id), fs.constants.O_RDWR);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ContainerMissingError(id);
    throw err;
  }
  try {
    native.flock({ fd, op: native.constants.LOCK_EX });
    if (fs.fstatSync(fd).nlink === 0) throw new ContainerMissingError(id);
    heldHere.add(id);
    return await fn();
  } finally {
    heldHere.delete(id);
    fs.closeSync(fd);
  }
}
