import * as fs from 'node:fs';
import { ContainerStartError, InvalidStateError, RuntimeError } from '../../errors.js';
import type { OciSpec } from '../../oci/spec.js';
import { containerFile, layerMerged, seccompCacheDir } from '../../store/paths.js';
import { readJsonIfExists } from '../../util/atomic-write.js';
import type { Context } from '../context.js';
import { PendingMonitor, proxySignals } from '../monitor.js';
import { expandEnvFlags, mergeEnv, readEnvFiles } from '../plan/container-spec.js';
import { planCapabilities, processCapabilities } from '../plan/capabilities.js';
import { checkWorkingDir, encodeExecPlan, planRlimits, planSeccomp, sessionKeyring, type ExecPlan, type NamespaceName } from '../plan/launch-plan.js';
import { resolveUser } from '../plan/user.js';
import { ID_MAP_FLAGS, checkProcessMapped, planIdMaps } from '../plan/user-namespace.js';
import { readAccountFiles } from '../rootfs-files.js';
import { readRecord } from '../state/record.js';
import { STAGE_CREATE, STAGE_SETUID } from '../../native/report.js';
import { currentState } from '../state/status.js';
import { cgroupHost, existingCgroup } from '../cgroups/host.js';

export interface ExecRequest {
  cmd: string[];
  detach: boolean;
  interactive: boolean;
  tty: boolean;
  env: string[];
  /** --env-file: read before -e, so -e wins. */
  envFile?: string[];
  workdir?: string;
  user?: string;
}

/**
 * `exec`: one more process in a running container, through a monitor that
 * joins every namespace of the container's init and forks it there. The
 * process gets the container's env, cwd, user and limits unless overridden;
 * its exit code is returned (126/127 when it cannot be started).
 */
export async function execInContainer(ctx: Context, id: string, req: ExecRequest): Promise<number> {
  // Spawned first, the monitor starts up while the process is planned (monitor.ts, PendingMonitor).
  const pending = PendingMonitor.spawn({ foreground: !req.detach, stdin: req.interactive && !req.detach });
  try {
    return await execWith(ctx, id, req, pending);
  } finally {
    await pending.cancel();
  }
}

async function execWith(ctx: Context, id: string, req: ExecRequest, pending: PendingMonitor): Promise<number> {
  const p = ctx.paths;
  const rec = readRecord(p, id);
  if (!rec) throw new RuntimeError(`container ${id} disappeared`);
  const st = currentState(p, rec);
  // pid 0: its init has just exited and its monitor is finishing up.
  if (!st.running || st.pid <= 0) throw new InvalidStateError('exec', st.status, `container ${rec.name} is not running`);
  if (st.paused) throw new InvalidStateError('exec', 'paused', `container ${rec.name} is paused, unpause the container before exec`);
  const spec = readJsonIfExists<OciSpec>(containerFile(p, id, 'config.json'));
  if (!spec) throw new RuntimeError(`container ${rec.name} has no config.json`);

  const proc = spec.process;
  // With a user namespace the union is mounted only inside the container: its files are read through the init's root.
  const root = rec.options.idMappings ? `/proc/${st.pid}/root` : layerMerged(p, rec.rwLayerId);
  const user = req.user !== undefined ? execUser(() => resolveUser(req.user!, ...readAccountFiles(ctx.native, root), rec.options.groupAdd)) : undefined;
  const uid = user?.uid ?? proc.user.uid;
  // The container's capabilities; another user gets them as docker gives them to one (bounding only unless root).
  const caps = proc.capabilities && user ? processCapabilities(proc.capabilities.bounding ?? [], uid) : proc.capabilities;
  const cwd = req.workdir ?? proc.cwd;
  checkWorkingDir(cwd);
  let env = mergeEnv(proc.env, expandEnvFlags([...readEnvFiles(req.envFile ?? [], (f) => fs.readFileSync(f, 'utf8')), ...req.env], process.env));
  if (user) env = mergeEnv(env, [`HOME=${user.home}`]);
  const cgroup = spec.linux.cgroupsPath !== undefined ? existingCgroup(cgroupHost(), spec.linux.cgroupsPath) : undefined;
  if (cgroup?.dirs.pids) refuseAtPidsLimit(cgroup.dirs.pids, rec.name);
  const idMaps = planIdMaps(spec);
  if (idMaps) checkProcessMapped(idMaps, { uid, gid: user?.gid ?? proc.user.gid, additionalGids: user?.additionalGids ?? proc.user.additionalGids }, ID_MAP_FLAGS);
  const plan: ExecPlan = {
    // The namespaces of its own (--network host and the like share the host's: nothing to join).
    join: { pid: st.pid, namespaces: spec.linux.namespaces.flatMap((n) => NAMESPACE_NAME[n.type] ?? []) },
    cgroups: cgroup?.joinFiles,
    cgroupSelf: cgroup?.selfJoin,
    cgroupsLate: cgroup?.lateJoinFiles,
    env,
    args: req.cmd,
    cwd,
    uid,
    gid: user?.gid ?? proc.user.gid,
    groups: user?.additionalGids ?? proc.user.additionalGids ?? [],
    umask: proc.user.umask,
    oomScoreAdj: proc.oomScoreAdj,
    rlimits: planRlimits(proc),
    noNewPrivs: proc.noNewPrivileges ?? false,
    capabilities: caps ? planCapabilities(caps) : undefined,
    seccomp: planSeccomp(spec, seccompCacheDir(p)),
    keyring: sessionKeyring(id),
    attach: !req.detach,
    stdin: req.interactive && !req.detach,
    tty: req.tty,
    winsize: req.tty ? terminalSize() : undefined,
  };
  const monitor = await pending.launch(encodeExecPlan(plan));
  // Detached, the monitor is left to run (our exit hands it to init).
  if (req.detach) return 0;
  const stopProxy = proxySignals(monitor, { tty: req.tty });
  try {
    return await monitor.wait();
  } finally {
    stopProxy();
  }
}

const NAMESPACE_NAME: Partial<Record<string, NamespaceName>> = { mount: 'mnt', pid: 'pid', uts: 'uts', ipc: 'ipc', network: 'net', user: 'user' };

/** The size of tsrun's terminal, when it has one: the monitor reads it itself from stdin otherwise. */
export function terminalSize(): { rows: number; cols: number } | undefined {
  const out = process.stdout;
  return out.isTTY && out.rows && out.columns ? { rows: out.rows, cols: out.columns } : undefined;
}

/** -u naming nobody the container knows: the process cannot be started there (docker's 126), not a usage error. */
function execUser<T>(resolve: () => T): T {
  try {
    return resolve();
  } catch (err) {
    if (err instanceof ContainerStartError || !(err instanceof Error)) throw err;
    throw new ContainerStartError(err.message, STAGE_SETUID, 'ENOENT', 126);
  }
}

/**
 * A container at its --pids-limit takes no exec'd process: moving one into
 * the cgroup is not a fork, so the kernel would let it past the limit
 * (runc's exec fails there too, its init unable to fork).
 */
function refuseAtPidsLimit(dir: string, name: string): void {
  const read = (file: string) => {
    try {
      return fs.readFileSync(`${dir}/${file}`, 'utf8').trim();
    } catch {
      return '';
    }
  };
  const max = read('pids.max');
  if (max === '' || max === 'max') return;
  if (Number(read('pids.current')) >= Number(max)) throw new ContainerStartError(`container ${name} is at its process limit (pids.max ${max}): no process can be added`, STAGE_CREATE, 'EAGAIN', 126);
}
