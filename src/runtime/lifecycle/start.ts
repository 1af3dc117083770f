import * as fs from 'node:fs';
import { ContainerStartError, InvalidStateError, RuntimeError } from '../../errors.js';
import { logger } from '../../log.js';
import { initPath } from '../../native/binding.js';
import { readImageConfig } from '../../store/images.js';
import { layerRootOverlay, mountLayer, unmountLayer } from '../../store/mounts.js';
import { logReadable, logRotation } from '../logs/log-config.js';
import { ON_EXIT_FLAG, attachSocket, containerFile, containerLockFile, runtimeDir, seccompCacheDir, startFifoPath } from '../../store/paths.js';
import { writeVolatileAtomic } from '../../util/atomic-write.js';
import { withLock } from '../../util/lock.js';
import type { Context } from '../context.js';
import { PendingMonitor, type SpawnOptions, proxySignals } from '../monitor.js';
import { type JoinableNamespace, buildContainerSpec } from '../plan/container-spec.js';
import { CgroupsUnavailableError, type ContainerCgroup, cgroupHost, cgroupsPathFor, removeCgroup, setupCgroup } from '../cgroups/host.js';
import { type OciResources, cgroupResources } from '../cgroups/limits.js';
import { buildLaunchPlan, encodePlan, sessionKeyring } from '../plan/launch-plan.js';
import { resolveDeviceFlags } from '../plan/devices.js';
import { resolveUser } from '../plan/user.js';
import { readAccountFiles } from '../rootfs-files.js';
import { bootId, isAlive, pidStartTime } from '../state/liveness.js';
import {
  type ContainerRecord,
  type RuntimeRecord,
  clearExit,
  readExit,
  readRecord,
  readRuntime,
  removeRuntime,
  setOnExitFlag,
  writeRecord,
  writeRuntime,
} from '../state/record.js';
import { assertCan, currentState } from '../state/status.js';
import { exitFailureToError } from '../../native/report.js';
import { waitGone } from './kill.js';
import { terminalSize } from './exec.js';
import { fillEmptyVolumes } from '../volumes.js';
import { makeStartFifo, releaseStartFifo } from '../start-fifo.js';
import { ID_MAP_FLAGS, checkProcessMapped } from '../plan/user-namespace.js';

/**
 * How a container is launched:
 * - foreground: output copied to tsrun's stdout/stderr (and the log), exit code returned;
 * - detached: output to the log only, tsrun returns once it runs;
 * - created: set up completely, the init waiting before execve until `start` (runc's exec.fifo).
 */
export type LaunchMode = 'foreground' | 'detached' | 'created';

export interface StartResult {
  pid: number;
  /** Foreground only: resolves with the container's exit code. */
  exited?: Promise<number>;
}

export interface StartOptions {
  mode: LaunchMode;
  stdin?: boolean;
  byPolicy?: boolean;
  /** The caller removes it at its exit (run --rm): its exit is recorded by the removal. */
  removedAtExit?: boolean;
  /** A monitor the caller spawned ahead (run), of monitorSpawnOptions(mode, stdin); the caller cancels it if unused. */
  monitor?: PendingMonitor;
}

/** What a container's monitor is spawned with, for a launch in this mode. */
export function monitorSpawnOptions(mode: LaunchMode, stdin: boolean | undefined): SpawnOptions {
  return { foreground: mode === 'foreground', stdin };
}

/**
 * Starts a container. A created one whose init is waiting is released; any
 * other (created earlier in another boot, or exited) is launched anew on its
 * existing rw layer, so everything it wrote before is still there.
 */
export async function startContainer(ctx: Context, id: string, opts: StartOptions): Promise<StartResult> {
  const p = ctx.paths;
  const started = await withLock(ctx.native, containerLockFile(p, id), async () => {
    const rec = readRecord(p, id);
    if (!rec) throw new RuntimeError(`container ${id} disappeared`);
    // A restart by policy yields to a stop or kill that came while it waited (restart-policy.ts).
    if (opts.byPolicy && rec.state.manuallyStopped) throw new RuntimeError(`container ${rec.name} was stopped by the user; not restarted`);
    const st = currentState(p, rec);
    if (st.paused) throw new InvalidStateError('start', 'paused', `cannot start a paused container ${rec.name}, try unpause instead`);
    // docker's `start` of a running container is a no-op (scripts start idempotently); a restart by policy is not.
    if (st.status === 'running' && opts.mode === 'detached' && !opts.byPolicy) return undefined;
    assertCan(st.status, 'start', rec.name);
    if (st.running) throw new RuntimeError(`container ${rec.name} is already running`);
    const rt = readRuntime(p, id);
    if (st.status === 'created' && rt && rt.pid > 0 && isAlive(rt.pid, rt.pidStartTime) && opts.mode !== 'created') {
      await releaseCreated(ctx, rec, rt);
      return undefined;
    }
    return launchContainer(ctx, rec, opts);
  });

  if (!started) return { pid: readRuntime(p, id)?.pid ?? 0 };
  // Detached, the monitor is left to run (our exit hands it to init).
  if (opts.mode !== 'foreground') return { pid: started.pid };
  const stopProxy = proxySignals(started, { tty: readRecord(p, id)?.options.tty === true });
  const exited = started.wait().then(async (code) => {
    stopProxy();
    // A record about to be removed is not written first (an fsync'd write of container.json and its directory).
    if (!opts.removedAtExit) await recordExit(ctx, id);
    return readExit(p, id)?.exitCode ?? code;
  });
  return { pid: started.pid, exited };
}

/** Mounts the union, writes config.json and hands the launch plan to a monitor. The caller holds the lock. */
async function launchContainer(ctx: Context, rec: ContainerRecord, opts: StartOptions) {
  const p = ctx.paths;
  const id = rec.id;
  // A monitor killed earlier may have left the union mounted (podman#19913).
  unmountLayer(ctx.native, p, rec.rwLayerId);
  const merged = mountLayer(ctx.native, p, rec.rwLayerId, { volatile: removedAtExit(rec) });
  const idmapped = rec.options.idMappings !== undefined;
  const t0 = process.hrtime.bigint();
  let bridged: Awaited<ReturnType<typeof joinBridge>> | undefined;
  try {
    fillEmptyVolumes(ctx.native, rec.options.mounts ?? [], merged);
    const joinPaths = joinedNamespaces(p, rec);
    // Sharing a network, the containers share its /etc/hosts and resolv.conf too (docker's rule).
    const netFiles = rec.options.joinNamespaces?.network ?? id;
    const image = readImageConfig(p, rec.imageId);
    const spec = buildContainerSpec({
      image,
      options: rec.options,
      // -u, else the image's USER (docker's rule): an image that drops root must not run as root.
      user: resolveUser(rec.options.user ?? image.config?.User, ...readAccountFiles(ctx.native, merged), rec.options.groupAdd),
      hostname: rec.hostname,
      rootPath: merged,
      initPath: rec.options.init ? initPath() : undefined,
      cgroupsPath: cgroupsPathFor(id),
      hostDevices: rec.options.devices?.length ? resolveDeviceFlags(rec.options.devices) : undefined,
      files: {
        hosts: containerFile(p, netFiles, 'hosts'),
        hostname: containerFile(p, id, 'hostname'),
        resolvConf: containerFile(p, netFiles, 'resolv.conf'),
      },
      joinPaths,
    });
    // -u and --group-add against --uidmap, named as the user gave them (buildLaunchPlan checks again, by the spec's names).
    if (rec.options.idMappings) checkProcessMapped(rec.options.idMappings, spec.process.user, ID_MAP_FLAGS);
    // Rebuilt from the record at every start: nothing to keep across a crash.
    writeVolatileAtomic(containerFile(p, id, 'config.json'), JSON.stringify(spec, null, 2), 0o600);
    // Policy stays here: the cgroups and their limits exist before the monitor clones into them.
    const cgroup = containerCgroup(id, cgroupResources(spec.linux.resources, spec.linux.devices));
    const fifo = opts.mode === 'created' ? makeStartFifo(ctx.native, startFifoPath(p, id)) : undefined;
    // The monitor binds the attach socket there before it reports, maybe before onSpawn below has run.
    fs.mkdirSync(runtimeDir(p, id), { recursive: true, mode: 0o700 });
    if (rec.options.network === 'bridge') bridged = await joinBridge(ctx, rec);
    const network = bridged;
    const plan = buildLaunchPlan(spec, {
      mkcwd: true,
      // --log-driver none: the output is copied to an attached caller, and kept nowhere.
      logPath: logReadable(rec.options.logConfig) ? containerFile(p, id, 'ctr.log') : undefined,
      logRotate: logRotation(rec.options.logConfig),
      attach: opts.mode === 'foreground',
      stdin: opts.stdin === true,
      // -i without the caller's own stdin (run -d -i, create -i): `attach` brings one.
      attachSock: rec.options.openStdin && opts.stdin !== true ? attachSocket(p, id) : undefined,
      tty: rec.options.tty === true,
      winsize: rec.options.tty ? terminalSize() : undefined,
      startFifo: fifo,
      exitFile: containerFile(p, id, 'exit.json'),
      // With a user namespace the union is mounted inside the container only, of idmapped layers (plan.h rootlower).
      ...(idmapped ? { rootOverlay: layerRootOverlay(p, rec.rwLayerId, { volatile: removedAtExit(rec) }) } : { unmountPath: merged }),
      ...exitCommand(ctx, rec, opts.mode),
      cgroups: cgroup.joinFiles,
      cgroupSelf: cgroup.selfJoin,
      cgroupsLate: cgroup.lateJoinFiles,
      oomFile: cgroup.oomFile,
      isFileSource: (src) => !fs.statSync(src).isDirectory(),
      seccompCacheDir: seccompCacheDir(p),
      keyring: sessionKeyring(rec.id),
      // The init waits after its mounts while the veth's end goes into its namespace, then configures it.
      hookPause: network !== undefined,
      netif: network && { name: 'eth0', address: network.lease.address, prefix: network.lease.prefix, gateway: network.lease.gateway },
    });
    clearExit(p, id);
    // Read from for the image's accounts and the volumes' first contents; a second union over the same upper dir must not coexist with it.
    if (idmapped) unmountLayer(ctx.native, p, rec.rwLayerId);
    // The runtime record exists before the monitor has its plan (before the container does), so rm -f can always find it.
    const runtime: RuntimeRecord = { pid: 0, pidStartTime: '', monitorPid: 0, bootId: bootId(), startedAt: '', network: network?.lease };
    const pending = opts.monitor ?? PendingMonitor.spawn(monitorSpawnOptions(opts.mode, opts.stdin));
    const monitor = await pending.launch(encodePlan(plan), {
      expectCreated: opts.mode === 'created',
      onPaused: network && (async (pid) => network.plug(pid)),
      onSpawn: (monitorPid) => {
        runtime.monitorPid = monitorPid;
        runtime.monitorStartTime = pidStartTime(monitorPid);
        writeRuntime(p, id, runtime);
      },
    });
    runtime.pid = monitor.pid;
    runtime.pidStartTime = pidStartTime(monitor.pid) ?? '';
    if (opts.mode !== 'created') runtime.startedAt = new Date().toISOString();
    writeRuntime(p, id, runtime);
    rec.state =
      opts.mode === 'created'
        ? { ...rec.state, status: 'created', exitCode: 0, error: '', oomKilled: false, manuallyStopped: false, restarting: false, restartAt: undefined }
        : { ...rec.state, status: 'running', exitCode: 0, error: '', startedAt: runtime.startedAt, oomKilled: false, manuallyStopped: false, restarting: false, restartAt: undefined };
    writeRecord(p, rec);
    logger('lifecycle').info({ cid: id, op: opts.mode === 'created' ? 'create' : 'start', pid: monitor.pid, durMs: Number(process.hrtime.bigint() - t0) / 1e6 }, opts.mode === 'created' ? 'created' : 'started');
    return monitor;
  } catch (err) {
    // Published ports must not point at an address nothing answers on, nor stay allocated.
    await bridged?.unpublish().catch(() => undefined);
    removeRuntime(p, id);
    unmountLayer(ctx.native, p, rec.rwLayerId);
    await removeCgroup(cgroupHost(), cgroupsPathFor(id)).catch(() => undefined);
    if (err instanceof ContainerStartError) {
      rec.state = { ...rec.state, exitCode: err.exitCode, error: err.message };
      writeRecord(p, rec);
    }
    throw err;
  }
}

/** container:NAME modes: each container joined must be running now; its namespace files, by kind. */
function joinedNamespaces(p: Context['paths'], rec: ContainerRecord): Partial<Record<JoinableNamespace, string>> | undefined {
  const joins = rec.options.joinNamespaces;
  if (!joins) return undefined;
  const paths: Partial<Record<JoinableNamespace, string>> = {};
  for (const [kind, targetId] of Object.entries(joins) as [JoinableNamespace, string][]) {
    const target = readRecord(p, targetId);
    const st = target && currentState(p, target);
    if (!target || !st?.running || st.pid <= 0) throw new RuntimeError(`cannot join the ${kind} namespace of container ${target?.name ?? targetId.slice(0, 12)}: it is not running`);
    paths[kind] = `/proc/${st.pid}/ns/${kind === 'network' ? 'net' : kind}`;
  }
  return paths;
}

/**
 * --network bridge: the bridge (made at the first bridged start of a boot),
 * an address, the -p bindings to it, /etc/hosts naming it, a resolver
 * reachable from the bridge, and the veth to plug in while the init waits. Loaded only for a bridged
 * start: it runs ip and nft (child_process).
 */
async function joinBridge(ctx: Context, rec: ContainerRecord) {
  const [{ ensureBridge, plugVeth, publishPorts, unpublishPorts }, { bridgeNetwork, leaseAddress }] = await Promise.all([
    import('../network/bridge.js'),
    import('../network/leases.js'),
  ]);
  const p = ctx.paths;
  const net = bridgeNetwork();
  await ensureBridge(ctx.native, p, net);
  const lease = await leaseAddress(ctx.native, p, net, rec.id);
  // Bindings a stopped container left on this address must not reach its new holder.
  await unpublishPorts(ctx.native, p, net, { address: lease.address, exceptId: rec.id });
  const ports = rec.options.ports?.length ? await publishPorts(ctx.native, p, net, rec.id, lease.address, rec.options.ports) : undefined;
  const hostsFile = containerFile(p, rec.id, 'hosts');
  const hosts = fs.readFileSync(hostsFile, 'utf8').split('\n').filter((l) => l !== '' && !l.endsWith(`\t${rec.hostname}`));
  writeVolatileAtomic(hostsFile, [...hosts, `${lease.address}\t${rec.hostname}`, ''].join('\n'), 0o644);
  // Loopback resolvers were dropped at create (they mean nothing in another namespace); with none left, docker's fallback.
  const resolv = containerFile(p, rec.id, 'resolv.conf');
  const conf = fs.readFileSync(resolv, 'utf8');
  if (!/^\s*nameserver\s/m.test(conf)) writeVolatileAtomic(resolv, `${conf.trimEnd()}\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n`.trimStart(), 0o644);
  return {
    lease: { ...lease, ...(ports ? { ports } : {}) },
    plug: (pid: number) => plugVeth(net, rec.id, pid),
    unpublish: () => unpublishPorts(ctx.native, p, net, { id: rec.id }),
  };
}

/**
 * What the monitor execs once the process has exited and everything is
 * recorded: the removal of a `run -d --rm` container; else `on-exit`, which
 * applies the restart policy and takes the published ports away (no daemon
 * is left to do either), run only while the container has one or the other
 * (the ON_EXIT_FLAG file, which `update --restart` may set while it runs).
 * A foreground --rm container is removed by its CLI.
 */
function exitCommand(ctx: Context, rec: ContainerRecord, mode: LaunchMode): { exitCmd?: string[]; exitCmdIf?: string } {
  // A foreground one's ports still go if its CLI is killed before it removes it.
  const removed = removedAtExit(rec);
  if (removed && mode !== 'foreground') return { exitCmd: [...ctx.selfCommand, 'on-exit', '--remove', rec.id] };
  if (removed && !rec.options.ports?.length) return {};
  setOnExitFlag(ctx.paths, rec);
  return { exitCmd: [...ctx.selfCommand, 'on-exit', rec.id], exitCmdIf: ON_EXIT_FLAG };
}

/** --rm without a restart policy: removed when its process exits, by its CLI or its monitor. */
function removedAtExit(rec: ContainerRecord): boolean {
  return rec.autoRemove && (rec.options.restart?.name ?? 'no') === 'no';
}

/**
 * The container's cgroups, made and limited. A host whose cgroupfs tsrun
 * cannot write (tsrun inside another container, say) still runs containers
 * that ask for no limits, without cgroups of their own (the devices are
 * then those of the cgroup tsrun runs in). Cgroups that exist but whose
 * limits or device rules cannot be set stop the start: it never goes on
 * with a container's devices open.
 */
function containerCgroup(id: string, resources: OciResources): ContainerCgroup {
  try {
    return setupCgroup(cgroupHost(), cgroupsPathFor(id), resources);
  } catch (err) {
    if (!(err instanceof CgroupsUnavailableError) || resources.memory || resources.cpu || resources.pids) throw err;
    logger('lifecycle').warn({ cid: id, op: 'start', err: (err as Error).message }, 'running without cgroups');
    return { dirs: {}, joinFiles: [], selfJoin: false, lateJoinFiles: [] };
  }
}

/**
 * Lets a created container's init go on to execve (its FIFO read), then
 * records it as running. An execve that fails is this start's error, as
 * docker's start reports it: the init's failure record, which its monitor
 * puts in exit.json.
 */
async function releaseCreated(ctx: Context, rec: ContainerRecord, rt: RuntimeRecord): Promise<void> {
  const p = ctx.paths;
  await releaseStartFifo(ctx.native, startFifoPath(p, rec.id), rec.name, () => isAlive(rt.pid, rt.pidStartTime), { untilExec: true });
  const startedAt = new Date().toISOString();
  writeRuntime(p, rec.id, { ...rt, startedAt });
  rec.state = { ...rec.state, status: 'running', startedAt };
  writeRecord(p, rec);
  logger('lifecycle').info({ cid: rec.id, op: 'start', pid: rt.pid }, 'started');
  if (isAlive(rt.pid, rt.pidStartTime)) return;
  await waitGone(ctx.native, rt, 5_000);
  const failure = readExit(p, rec.id)?.failure;
  if (!failure) return;
  foldExit(ctx, rec.id);
  throw exitFailureToError(failure);
}

/** Folds the monitor's exit.json into the durable record once the container is gone. */
export async function recordExit(ctx: Context, id: string): Promise<void> {
  await withLock(ctx.native, containerLockFile(ctx.paths, id), () => foldExit(ctx, id));
}

/** recordExit for a caller that already holds the container's lock. */
export function foldExit(ctx: Context, id: string): void {
  const p = ctx.paths;
  const rec: ContainerRecord | undefined = readRecord(p, id);
  if (!rec) return;
  const st = currentState(p, rec);
  if (st.running || rec.state.status !== 'running') return;
  rec.state = { ...rec.state, status: 'exited', exitCode: st.exitCode, error: st.error, finishedAt: st.finishedAt, oomKilled: st.oomKilled };
  writeRecord(p, rec);
  logger('lifecycle').info({ cid: id, op: 'exit', exitCode: st.exitCode }, 'exited');
}
