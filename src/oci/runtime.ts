import * as fs from 'node:fs';
import * as path from 'node:path';
import { RuntimeError, UsageError } from '../errors.js';
import { loadNative } from '../native/binding.js';
import type { NativeBinding } from '../native/types.js';
import { writeVolatileAtomic } from '../util/atomic-write.js';
import { type CgroupHost, applyLimits, cgroupDirs, cgroupHost, cgroupPids, existingCgroup, isFrozen, removeCgroup, removeMadeCgroups, setFrozen, setupCgroup } from '../runtime/cgroups/host.js';
import { type OciResources, cgroupResources } from '../runtime/cgroups/limits.js';
import { PendingMonitor, proxySignals, type Monitor } from '../runtime/monitor.js';
import { planCapabilities } from '../runtime/plan/capabilities.js';
import { checkProcessMapped, planIdMaps } from '../runtime/plan/user-namespace.js';
import {
  type ExecPlan,
  type NamespaceName,
  buildLaunchPlan,
  checkWorkingDir,
  encodeExecPlan,
  encodePlan,
  planRlimits,
  planSeccomp,
  sessionKeyring,
} from '../runtime/plan/launch-plan.js';
import { bootId, pidStartTime, waitAllExited } from '../runtime/state/liveness.js';
import { makeStartFifo, releaseStartFifo } from '../runtime/start-fifo.js';
import { parseSignal } from '../runtime/lifecycle/stop.js';
import { checkProcess, loadBundle, normalizeProcess } from './bundle.js';
import { cgroupsPathOf } from './cgroups-path.js';
import { OCI_VERSION, type OciHookKind, type OciProcess, type OciSpec } from './spec.js';
import {
  type OciContainerState,
  type OciPaths,
  type OciStatus,
  ContainerMissingError,
  checkId,
  configCopy,
  execFifo,
  initAlive,
  listStates,
  lockFile,
  mustReadState,
  readConfigCopy,
  readState,
  report,
  stateDir,
  statusOf,
  withContainerLock,
  writeState,
} from './state.js';
import { writeStderr } from '../util/stdio.js';
import { removeTree } from '../store/remove-tree.js';

/**
 * The runc-compatible verbs (runtime.md "Operations"): create, start,
 * state, kill, delete, plus run and exec. The engine is the image level's:
 * config.json becomes a launch plan and a monitor clones the init. The
 * differences are the ones runc's callers (podman's conmon, containerd's
 * shim) rely on: the container gets the caller's own stdio (no log), and
 * after `create` or a detached `run`/`exec` the monitor leaves, so the
 * process is reparented to the caller's subreaper, which waits for it.
 */

export interface CreateOptions {
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  /** runc's --preserve-fds: the caller's fds after the listening ones (3+listenFds..) passed on to the process. */
  preserveFds?: number;
  /** systemd socket activation: the caller's fds 3..3+N-1 passed on first, and LISTEN_FDS=N LISTEN_PID=1 in the process's env. */
  listenFds?: number;
  /** false: runc's --no-new-keyring, the process (and its execs) keep the caller's session keyring. */
  newKeyring?: boolean;
}

/** `create`: the container set up completely, its init waiting before execve until `start`. */
export async function ociCreate(p: OciPaths, id: string, opts: CreateOptions): Promise<OciContainerState> {
  const launched = await launch(p, id, { ...opts, mode: 'created' });
  return launched.state;
}

/** `start`: lets a created container's init execve its process; then the poststart hooks. */
export async function ociStart(p: OciPaths, id: string): Promise<void> {
  const native = loadNative();
  const st = await withContainerLock(native, p, id, async () => {
    const st = mustReadState(p, id);
    const status = statusOf(p, st);
    if (status !== 'created') throw new RuntimeError(`cannot start container ${id}: it is ${status}, not created`);
    await releaseStartFifo(native, execFifo(p, id), id, () => initAlive(st));
    return st;
  });
  runHooks(readConfigCopy(p, id), 'poststart', report(p, st, OCI_VERSION));
}

export function ociState(p: OciPaths, id: string): ReturnType<typeof report> {
  return report(p, mustReadState(p, id), OCI_VERSION);
}

export function ociList(p: OciPaths): ReturnType<typeof report>[] {
  return listStates(p).map((st) => report(p, st, OCI_VERSION));
}

/** `pause` / `resume`: freeze or thaw every process of a running container (the freezer cgroup). */
export async function ociPause(p: OciPaths, id: string, pause: boolean): Promise<void> {
  await withContainerLock(loadNative(), p, id, async () => {
    const st = mustReadState(p, id);
    const status = statusOf(p, st);
    // A created container pauses too, as runc's; resumed, it is created again.
    const can = pause ? status === 'running' || status === 'created' : status === 'paused';
    if (!can) throw new RuntimeError(`cannot ${pause ? 'pause' : 'resume'} container ${id}: it is ${status}, not ${pause ? 'running or created' : 'paused'}`);
    const host = cgroupHost();
    await setFrozen(host, existingCgroup(host, st.cgroupsPath), pause);
  });
}

/**
 * `update`: new limits for a created, running or paused container, merged
 * into the ones it has (runc's rule: what is not given stays), written to
 * its cgroups and kept in its saved config.
 */
export async function ociUpdate(p: OciPaths, id: string, changes: OciResources): Promise<void> {
  await withContainerLock(loadNative(), p, id, async () => {
    const st = mustReadState(p, id);
    const status = statusOf(p, st);
    if (status === 'stopped' || status === 'creating') throw new RuntimeError(`cannot update container ${id}: it is ${status}`);
    const spec = readConfigCopy(p, id);
    const old = spec.linux.resources ?? {};
    const merged: OciResources = {
      ...old,
      ...(changes.memory ? { memory: { ...old.memory, ...changes.memory } } : {}),
      ...(changes.cpu ? { cpu: { ...old.cpu, ...changes.cpu } } : {}),
      ...(changes.pids ? { pids: changes.pids } : {}),
      ...(changes.blockIO ? { blockIO: { ...old.blockIO, ...changes.blockIO } } : {}),
    };
    const host = cgroupHost();
    applyLimits(host, existingCgroup(host, st.cgroupsPath).dirs, cgroupResources(merged, spec.linux.devices));
    writeVolatileAtomic(configCopy(p, id), JSON.stringify({ ...spec, linux: { ...spec.linux, resources: merged } }), 0o600);
  });
}

/**
 * `kill [--all] ID SIGNAL`: to the init (which, as PID 1 of its namespace,
 * takes the rest along on SIGKILL), or to every process in its cgroups.
 * As runc 1.1: a stopped container is "container not running" (containerd
 * reads those words as "already finished"), except with --all, which still
 * reaches what a shared PID namespace left in its cgroups (the shim's kill
 * --all after such an init exits). SIGKILL thaws a paused container, which
 * could not die frozen.
 */
export async function ociKill(p: OciPaths, id: string, signal: string, all: boolean): Promise<void> {
  const sig = ociSignal(signal);
  const st = mustReadState(p, id);
  const status = statusOf(p, st);
  const cg = st.cgroupsPath ? existingCgroup(cgroupHost(), st.cgroupsPath) : undefined;
  if (status === 'creating' || (status === 'stopped' && !all)) throw new RuntimeError(`cannot kill container ${id}: container not running`);
  if (all && cg) {
    for (const pid of cgroupPids(cg)) signalPid(pid, sig);
  } else if (status !== 'stopped') {
    signalPid(st.pid, sig);
  }
  if ((sig === 'SIGKILL' || sig === 9) && cg && isFrozen(cgroupHost(), cg.dirs)) await setFrozen(cgroupHost(), cg, false);
}

/** runc's signals: a name (TERM, SIGKILL) or any number 0-64 (37 is SIGRTMIN+3, systemd's stop signal). */
function ociSignal(input: string): NodeJS.Signals | number {
  if (/^\d+$/.test(input)) {
    const n = Number(input);
    if (n <= 64) return n;
  }
  return parseSignal(input);
}

/**
 * `delete [--force] ID`: a stopped (or still created) container's cgroups
 * and state go; a running one only with --force, which kills it first. The
 * poststop hooks run last.
 */
export async function ociDelete(p: OciPaths, id: string, force: boolean): Promise<void> {
  checkId(id);
  const native = loadNative();
  let removed: { st: OciContainerState; spec: OciSpec } | undefined;
  try {
    removed = await withContainerLock(native, p, id, async () => {
      const st = readState(p, id);
      const spec = st ? readConfigCopy(p, id) : undefined;
      if (st) {
        const status = statusOf(p, st);
        if ((status === 'running' || status === 'paused') && !force) throw new RuntimeError(`cannot delete container ${id} that is not stopped: ${status} (use --force)`);
        if (status !== 'stopped') await killAndWait(native, st);
        if (st.cgroupsPath) await removeCgroup(cgroupHost(), st.cgroupsPath);
        removeMadeCgroups(st.cgroupsMade ?? []);
      }
      // No mount is ever made in it: no mountinfo to read first (the walk still refuses to enter one).
      removeTree(stateDir(p, id), []);
      return st && spec ? { st, spec } : undefined;
    });
  } catch (err) {
    if (!(err instanceof ContainerMissingError && force)) throw err;
    // An empty state dir is what a create killed between its mkdir and its lock file leaves (runc's "aborted
    // start"): nothing ran, and callers (containerd, CRI-O) free the id with delete --force to use it again.
    // rmdir, not rm -r: a dir with anything in it is not that.
    try {
      fs.rmdirSync(stateDir(p, id));
    } catch {
      // none, or not empty
    }
    return;
  }
  if (removed) runHooks(removed.spec, 'poststop', { ...report(p, removed.st, OCI_VERSION), status: 'stopped', pid: 0 });
}

export interface RunOptions extends CreateOptions {
  detach: boolean;
  /** runc run --keep: in the foreground, the container stays (stopped) after its exit, for `state` and `delete`. */
  keep?: boolean;
}

/**
 * `run`: create and start in one. Detached, like create + start; otherwise
 * tsrun-oci stays the monitor's parent, passes signals on, returns the
 * process's exit code and deletes the container after it.
 */
export async function ociRun(p: OciPaths, id: string, opts: RunOptions): Promise<number> {
  const launched = await launch(p, id, { ...opts, mode: opts.detach ? 'detached' : 'foreground' });
  const spec = readConfigCopy(p, id);
  runHooks(spec, 'poststart', report(p, launched.state, OCI_VERSION));
  if (opts.detach) return 0;
  const stop = proxySignals(launched.monitor, { tty: spec.process.terminal === true });
  const code = await launched.monitor.wait();
  stop();
  if (!opts.keep) await ociDelete(p, id, true);
  return code;
}

export interface ExecOptions {
  /** An OCI process (config.md "process"), as `exec --process FILE` gives it. */
  process?: OciProcess;
  args: string[];
  env: string[];
  cwd?: string;
  user?: string;
  tty: boolean;
  detach: boolean;
  pidFile?: string;
  consoleSocket?: string;
  noNewPrivs?: boolean;
  capAdd: string[];
  preserveFds?: number;
  /** runc's -g: supplementary groups added to the process's. */
  additionalGids?: number[];
  apparmorProfile?: string;
  selinuxLabel?: string;
  /** runc's --ignore-paused: a paused container is not refused (the process joins its frozen cgroup). */
  ignorePaused?: boolean;
}

/**
 * `exec`: one more process in a created or running container; its exit
 * code, or 0 at once when detached (the pid is in --pid-file).
 */
export async function ociExec(p: OciPaths, id: string, opts: ExecOptions): Promise<number> {
  const st = mustReadState(p, id);
  const status = statusOf(p, st);
  const usable = status === 'running' || status === 'created' || (status === 'paused' && opts.ignorePaused);
  if (!usable) throw new RuntimeError(`cannot exec in container ${id}: it is ${status}${status === 'paused' ? ' (--ignore-paused to exec anyway)' : ''}`);
  // Spawned now, the monitor starts up while the process is planned (monitor.ts, PendingMonitor).
  const pending = PendingMonitor.spawn({ foreground: true, stdin: true, preserveFds: opts.preserveFds });
  try {
    return await execWith(p, id, opts, st, status, pending);
  } finally {
    await pending.cancel();
  }
}

async function execWith(p: OciPaths, id: string, opts: ExecOptions, st: OciContainerState, status: OciStatus, pending: PendingMonitor): Promise<number> {
  const spec = readConfigCopy(p, id);
  const proc = execProcess(spec.process, opts);
  checkWorkingDir(proc.cwd);
  const idMaps = planIdMaps(spec);
  if (idMaps) checkProcessMapped(idMaps, proc.user);
  const terminal = proc.terminal === true;
  if (terminal && opts.detach && !opts.consoleSocket) throw new UsageError('a detached exec with a terminal needs --console-socket');
  const caps = proc.capabilities;
  const cgroup = st.cgroupsPath ? existingCgroup(cgroupHost(), st.cgroupsPath) : undefined;
  const plan: ExecPlan = {
    join: { pid: st.pid, namespaces: joinedNamespaces(spec) },
    cgroups: cgroup?.joinFiles,
    cgroupSelf: cgroup?.selfJoin,
    cgroupsLate: cgroup?.lateJoinFiles,
    env: proc.env,
    args: proc.args,
    cwd: proc.cwd,
    uid: proc.user.uid,
    gid: proc.user.gid,
    groups: proc.user.additionalGids ?? [],
    umask: proc.user.umask,
    oomScoreAdj: proc.oomScoreAdj,
    apparmorProfile: proc.apparmorProfile,
    rlimits: planRlimits(proc),
    noNewPrivs: proc.noNewPrivileges ?? false,
    capabilities: caps ? planCapabilities(caps) : undefined,
    seccomp: planSeccomp(spec, seccompCache(p)),
    keyring: st.noNewKeyring ? undefined : sessionKeyring(id),
    ...terminalPlan(terminal, opts.consoleSocket, proc),
    detach: opts.detach,
  };
  // Into a paused container (--ignore-paused) the process starts once it is resumed, whenever that is (runc's).
  const startTimeoutMs = status === 'paused' ? 2 ** 31 - 1 : undefined;
  const monitor = await pending.launch(encodeExecPlan(plan), { startTimeoutMs });
  if (opts.pidFile) writePidFile(opts.pidFile, monitor.pid);
  if (opts.detach) {
    await monitor.wait();
    return 0;
  }
  const stop = proxySignals(monitor, { tty: terminal });
  try {
    return await monitor.wait();
  } finally {
    stop();
  }
}

type LaunchMode = 'created' | 'detached' | 'foreground';

interface Launched {
  state: OciContainerState;
  monitor: Monitor;
}

/** Everything create and run share: state dir, cgroups, plan, monitor, pid file. */
async function launch(p: OciPaths, id: string, opts: CreateOptions & { mode: LaunchMode }): Promise<Launched> {
  checkId(id);
  const native = loadNative();
  const bundle = loadBundle(opts.bundle);
  const spec = bundle.spec;
  const listenFds = opts.listenFds ?? 0;
  const given = normalizeProcess(spec.process);
  // runc's words to the process: its sockets start at fd 3, and it is LISTEN_PID, the container's pid 1.
  const proc = listenFds > 0 ? { ...given, env: [...given.env, `LISTEN_FDS=${listenFds}`, 'LISTEN_PID=1'] } : given;
  const terminal = proc.terminal === true;
  if (terminal && opts.mode !== 'foreground' && !opts.consoleSocket) {
    throw new UsageError('process.terminal is true: a container that is not run in the foreground needs --console-socket for its terminal');
  }
  const cgroupsPath = cgroupsPathOf(spec, id);
  const host = cgroupHost();

  // Spawned first, the monitor starts up while the state and cgroups are made (monitor.ts, PendingMonitor).
  const pending = PendingMonitor.spawn({ foreground: true, stdin: true, preserveFds: listenFds + (opts.preserveFds ?? 0) });
  try {
    fs.mkdirSync(p.root, { recursive: true, mode: 0o700 });
    try {
      fs.mkdirSync(stateDir(p, id), { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new RuntimeError(`container ${id} already exists`);
      throw err;
    }
    fs.writeFileSync(lockFile(p, id), '', { mode: 0o600 });
    // Whether an init was made: a create that fails after that goes on at delete (poststop hooks included).
    let initMade = false;
    const state: OciContainerState = {
      id,
      bundle: bundle.dir,
      rootfs: spec.root.path,
      pid: 0,
      pidStartTime: '',
      bootId: bootId(),
      created: new Date().toISOString(),
      annotations: spec.annotations ?? {},
      cgroupsPath,
      ...(opts.newKeyring === false ? { noNewKeyring: true } : {}),
    };
    try {
      return await withContainerLock(native, p, id, async () => {
        writeVolatileAtomic(configCopy(p, id), JSON.stringify(spec), 0o600);
        writeState(p, state);
        const cgroup = setupCgroup(host, cgroupsPath, cgroupResources(spec.linux.resources, spec.linux.devices));
        state.cgroupsMade = cgroup.made;
        const plan = buildLaunchPlan(
          { ...spec, process: proc },
          {
            mkcwd: true,
            keyring: opts.newKeyring === false ? undefined : sessionKeyring(id),
            ...terminalPlan(terminal, opts.consoleSocket, proc),
            startFifo: opts.mode === 'created' ? makeStartFifo(native, execFifo(p, id)) : undefined,
            detach: opts.mode !== 'foreground',
            cgroups: cgroup.joinFiles,
            cgroupSelf: cgroup.selfJoin,
            cgroupsLate: cgroup.lateJoinFiles,
            // Read if the process is killed before it runs: the OOM killer's work is named then.
            oomFile: cgroup.oomFile,
            cgroupViews: cgroupViews(host, cgroupsPath),
            isFileSource: (src) => !fs.statSync(src).isDirectory(),
            isHostNamespace,
            seccompCacheDir: seccompCache(p),
            hookPause: [...CREATE_HOOKS, 'createContainer' as const].some((kind) => (spec.hooks?.[kind]?.length ?? 0) > 0),
            // runtime.md: startContainer hooks run in the container once started, before the process (from the init, as runc).
            ...(spec.hooks?.startContainer?.length ? { startHooks: spec.hooks.startContainer, hookState: startHookState(p, state) } : {}),
          },
        );
        // runtime.md step 5-6: with the namespaces and mounts made, before pivot_root; prestart first (deprecated, same moment), as runc.
        const onPaused = async (pid: number) => {
          initMade = true;
          const creating = { ...report(p, state, OCI_VERSION), status: 'creating', pid };
          for (const kind of CREATE_HOOKS) runHooks(spec, kind, creating, true);
          // runtime.md: createContainer after createRuntime, in the container's namespaces, before pivot_root.
          runHooks(spec, 'createContainer', creating, true, pid);
        };
        const monitor = await pending.launch(encodePlan(plan), { expectCreated: opts.mode === 'created', onPaused });
        initMade = true;
        state.pid = monitor.pid;
        state.pidStartTime = pidStartTime(monitor.pid) ?? '';
        writeState(p, state);
        if (opts.pidFile) writePidFile(opts.pidFile, monitor.pid);
        // A detached monitor exits right after its report; reaping it here keeps it from lingering as a zombie of ours.
        if (opts.mode !== 'foreground') await monitor.wait();
        return { state, monitor };
      });
    } catch (err) {
      // Nothing of this container may be left behind: its init (if any), cgroups, state. runtime.md: a
      // create that failed past its start (a hook, say) goes on at delete, so poststop hooks run too.
      if (state.pid > 0) await killAndWait(native, state).catch(() => undefined);
      await removeCgroup(host, cgroupsPath).catch(() => undefined);
      removeMadeCgroups(state.cgroupsMade ?? []);
      if (initMade) runHooks(spec, 'poststop', { ...report(p, state, OCI_VERSION), status: 'stopped', pid: 0 });
      removeTree(stateDir(p, id), []);
      throw err;
    }
  } finally {
    await pending.cancel();
  }
}

/** Compiled seccomp filters, beside the containers' state (a name no container id can take: ids never start with a dot). */
const seccompCache = (p: OciPaths) => path.join(p.root, '.cache', 'seccomp');

/** The same namespace inode as tsrun-oci's own (the host's): setns(2) would change nothing. */
function isHostNamespace(ns: NamespaceName, nsPath: string): boolean {
  try {
    const a = fs.statSync(nsPath);
    const b = fs.statSync(`/proc/self/ns/${ns}`);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

/** The container's own directory in each hierarchy, for a `cgroup` mount (launch-plan.ts planCgroupMount). */
function cgroupViews(host: CgroupHost, cgroupsPath: string): { name: string; dir: string }[] {
  const dirs = cgroupDirs(host, cgroupsPath);
  if (host.version === 2) return dirs.memory ? [{ name: '', dir: dirs.memory }] : [];
  const seen = new Map<string, string>();
  for (const dir of Object.values(dirs)) {
    const mountPoint = dir.slice(0, dir.length - cgroupsPath.length - 1);
    seen.set(path.basename(mountPoint), dir);
  }
  return [...seen].map(([name, dir]) => ({ name, dir }));
}

const NAMESPACE_NAMES: Record<string, NamespaceName> = { mount: 'mnt', pid: 'pid', uts: 'uts', ipc: 'ipc', network: 'net', cgroup: 'cgroup', user: 'user' };

/** Every namespace the container has (made or joined): exec enters them all through its init. */
function joinedNamespaces(spec: OciSpec): NamespaceName[] {
  return spec.linux.namespaces.map((n) => NAMESPACE_NAMES[n.type]).filter((n): n is NamespaceName => n !== undefined);
}

/** exec's process: --process as given, or the container's with the flags' overrides (runc's rules). */
function execProcess(base: OciProcess, opts: ExecOptions): OciProcess {
  const proc = opts.process ?? fromFlags(base, opts);
  checkProcess(proc, (what) => new UsageError(opts.process ? `--process: ${what}` : what));
  return normalizeProcess(proc);
}

function fromFlags(base: OciProcess, opts: ExecOptions): OciProcess {
  if (opts.args.length === 0) throw new UsageError('exec needs a command, or --process FILE');
  const user = opts.user === undefined ? base.user : parseUser(opts.user, base.user);
  const caps = base.capabilities;
  const add = opts.capAdd.map((c) => (c.toUpperCase().startsWith('CAP_') ? c.toUpperCase() : `CAP_${c.toUpperCase()}`));
  const withAdded = (set?: string[]) => [...new Set([...(set ?? []), ...add])];
  return {
    ...base,
    terminal: opts.tty,
    args: opts.args,
    env: mergeEnv(base.env ?? [], opts.env),
    cwd: opts.cwd ?? base.cwd,
    user: opts.additionalGids?.length ? { ...user, additionalGids: [...(user.additionalGids ?? []), ...opts.additionalGids] } : user,
    noNewPrivileges: opts.noNewPrivs ?? base.noNewPrivileges,
    ...(opts.apparmorProfile !== undefined ? { apparmorProfile: opts.apparmorProfile } : {}),
    ...(opts.selinuxLabel !== undefined ? { selinuxLabel: opts.selinuxLabel } : {}),
    capabilities:
      add.length && caps
        ? { ...caps, bounding: withAdded(caps.bounding), effective: withAdded(caps.effective), permitted: withAdded(caps.permitted) }
        : caps,
  };
}

function mergeEnv(base: string[], extra: string[]): string[] {
  const out = new Map(base.map((e) => [e.split('=', 1)[0]!, e]));
  for (const e of extra) {
    if (!e.includes('=')) throw new UsageError(`--env needs KEY=VALUE: ${JSON.stringify(e)}`);
    out.set(e.split('=', 1)[0]!, e);
  }
  return [...out.values()];
}

/** runc's --user: numbers only, "uid[:gid]" (the image level resolves names); the process's additional groups stay, as runc's. */
function parseUser(s: string, base: OciProcess['user']): OciProcess['user'] {
  const m = /^(\d+)(?::(\d+))?$/.exec(s);
  if (!m) throw new UsageError(`--user must be UID[:GID] as numbers: ${JSON.stringify(s)}`);
  return { ...base, uid: Number(m[1]), gid: m[2] !== undefined ? Number(m[2]) : base.gid };
}

function signalPid(pid: number, sig: NodeJS.Signals | number): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** SIGKILL, then wait (bounded) until the init is gone: a zombie counts as gone, its reaper is the caller's. */
async function killAndWait(native: NativeBinding, st: OciContainerState): Promise<void> {
  if (!initAlive(st)) return;
  signalPid(st.pid, 'SIGKILL');
  // A frozen process dies only once thawed.
  const host = cgroupHost();
  const cg = st.cgroupsPath ? existingCgroup(host, st.cgroupsPath) : undefined;
  if (cg && isFrozen(host, cg.dirs)) await setFrozen(host, cg, false);
  if (!(await waitAllExited(native, [{ pid: st.pid, startTime: st.pidStartTime }], 5_000))) throw new RuntimeError(`container ${st.id} (pid ${st.pid}) did not die after SIGKILL`);
}

/** runc writes the pid file atomically, so a caller polling it never reads half a number. */
function writePidFile(file: string, pid: number): void {
  writeVolatileAtomic(path.resolve(file), String(pid), 0o644);
}

const CREATE_HOOKS: OciHookKind[] = ['prestart', 'createRuntime'];

/** The state a startContainer hook reads, up to its pid, which the init writes (its own, as runc's init does) and closes. */
function startHookState(p: OciPaths, st: OciContainerState): string {
  const { pid: _pid, ...rest } = { ...report(p, st, OCI_VERSION), status: 'created' };
  return `${JSON.stringify(rest).slice(0, -1)},"pid":`;
}

/**
 * Hooks (config.md "POSIX-platform Hooks") run on the host with the state
 * on stdin, each bounded by its timeout (default 30 s here). A failing
 * prestart or createRuntime hook fails the create (`strict`); a failing
 * poststart or poststop hook is a warning, as the spec says.
 */
function runHooks(spec: OciSpec, kind: OciHookKind, state: object, strict = false, insidePid?: number): void {
  const hooks = spec.hooks?.[kind] ?? [];
  if (hooks.length === 0) return;
  // Loaded only for hooks: node:child_process (with net and stream) is ~1.5 ms of every command.
  const { spawnSync } = process.getBuiltinModule('node:child_process');
  for (const hook of hooks) {
    const args = (hook.args ?? [hook.path]).slice(1);
    // createContainer: in the init's namespaces, through nsenter (util-linux; found on our PATH, not the
    // hook's). A hook past its timeout dies with the init's pid namespace when the create fails.
    const [cmd, argv] =
      insidePid !== undefined
        ? [nsenterPath(), ['--target', String(insidePid), ...insideNamespaces(spec), '--', hook.path, ...args]]
        : [hook.path, args];
    const r = spawnSync(cmd, argv, {
      argv0: insidePid !== undefined ? undefined : hook.args?.[0],
      killSignal: 'SIGKILL',
      env: Object.fromEntries((hook.env ?? []).map((e) => [e.split('=', 1)[0]!, e.slice(e.indexOf('=') + 1)])),
      input: JSON.stringify(state),
      timeout: (hook.timeout ?? 30) * 1000,
      // Its output is kept for the error, as runc's: under a shim or conmon our stderr is the container's log.
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 4 << 20,
    });
    // A hook may exit without reading the state: EPIPE writing it is no failure of its own.
    const error = r.error && (r.error as NodeJS.ErrnoException).code !== 'EPIPE' ? r.error : undefined;
    if (error || r.status !== 0) {
      const said = (stream: Buffer | null) => (stream?.toString('utf8') ?? '').trim().replace(/\s*\n\s*/g, '; ').slice(-1000);
      const why = `${error?.message ?? (r.status !== null ? `exit ${r.status}` : `killed by ${r.signal}`)}, stdout: ${said(r.stdout)}, stderr: ${said(r.stderr)}`;
      if (strict) throw new RuntimeError(`${kind} hook ${hook.path} failed: ${why}`);
      writeStderr(`tsrun-oci: warning: ${kind} hook ${hook.path} failed: ${why}\n`);
    }
  }
}

/** nsenter's flags for the init's namespaces; with a user namespace, as its root (nsenter's default there). */
function insideNamespaces(spec: OciSpec): string[] {
  const flags = ['--mount', '--uts', '--ipc', '--net', '--pid', '--cgroup'];
  return spec.linux.namespaces.some((n) => n.type === 'user') ? [...flags, '--user'] : flags;
}

function nsenterPath(): string {
  const dir = (process.env.PATH ?? '/usr/bin:/bin').split(':').find((d) => d && fs.existsSync(path.join(d, 'nsenter')));
  if (!dir) throw new RuntimeError('createContainer hooks need nsenter (util-linux), which is not on PATH');
  return path.join(dir, 'nsenter');
}

/** `ps`: the pids in the container's cgroups. */
export function ociPids(p: OciPaths, id: string): number[] {
  const st = mustReadState(p, id);
  if (!st.cgroupsPath || statusOf(p, st) === 'stopped') return [];
  return cgroupPids(existingCgroup(cgroupHost(), st.cgroupsPath));
}

/**
 * The plan's stdio for a process, as runc's: with a terminal, its master goes
 * to --console-socket, or without one stays with the monitor, which copies it
 * to our stdio (attach); without a terminal the caller's stdio is the process's own.
 */
function terminalPlan(terminal: boolean, consoleSocket: string | undefined, proc: OciSpec['process']) {
  return {
    passthrough: !terminal,
    tty: terminal,
    consoleSocket: terminal ? consoleSocket : undefined,
    attach: terminal && !consoleSocket,
    stdin: terminal && !consoleSocket,
    winsize: terminal ? consoleSize(proc) : undefined,
  };
}

/** process.consoleSize as the terminal's first size (the monitor's own terminal, if it has one, wins). */
function consoleSize(proc: OciSpec['process']): { rows: number; cols: number } | undefined {
  return proc.consoleSize ? { rows: proc.consoleSize.height, cols: proc.consoleSize.width } : undefined;
}
