import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import { logger } from '../../log.js';
import { DEFAULT_DEVICES, DEFAULT_DEV_SYMLINKS, type OciHook, type OciMount, type OciProcess, type OciSpec } from '../../oci/spec.js';
import { type PlanCapabilities, planCapabilities } from './capabilities.js';
import { compileSeccompCached } from './seccomp-cache.js';
import { checkProcessMapped, type IdMaps, planIdMaps } from './user-namespace.js';
import type { RootOverlay } from '../../store/mount-options.js';

/**
 * The launch plan: the OCI spec with every decision made, in the shape the
 * monitor's child ladder executes (native/core/plan.h). Building it is pure.
 */
export interface LaunchPlan extends ProcessPlan, MonitorDuties {
  root: string;
  /** New namespaces, created by clone. */
  namespaces: NamespaceName[];
  /** Existing namespaces joined by path instead (linux.namespaces[].path). */
  nsPaths: [ns: NamespaceName, path: string][];
  /** With a user namespace, new or joined by path: its uid_map and gid_map. */
  idMaps?: IdMaps;
  /** With idMaps: the root is this overlay, of idmapped layers, mounted by the monitor inside (plan.h rootlower). */
  rootOverlay?: RootOverlay;
  propagation: number;
  hostname?: string;
  mounts: PlanMount[];
  devices: PlanDevice[];
  symlinks: [link: string, target: string][];
  masked: string[];
  readonly: string[];
  mkcwd: boolean;
  /** [path under /proc/sys, value], written before /proc/sys becomes read-only. */
  sysctls?: [path: string, value: string][];
  /** root.readonly: / is remounted read-only after pivot_root. */
  rootReadonly?: boolean;
  loopback: boolean;
}

/** What the monitor does around a container's init, beyond its stdio (PlanIo). */
export interface MonitorDuties extends PlanIo {
  /** The merged dir, unmounted by the monitor once the container has exited. */
  unmountPath?: string;
  /** An argv the monitor execs last (`run -d --rm` removes the container this way). */
  exitCmd?: string[];
  /** ... only if a file of this name is beside exitFile then. */
  exitCmdIf?: string;
  /** The created state: the init waits before execve until a reader opens this FIFO (mkfifo 0600 beforehand). */
  startFifo?: string;
  /** Files the init joins its cgroups through (ContainerCgroup.joinFiles); their dirs are removed after the exit. */
  cgroups?: string[];
  /** v1: the cgroups files are `tasks` files the process writes "0" into itself (plan.h cgroupself). */
  cgroupSelf?: boolean;
  /** cgroup.procs files the monitor writes the pid into once the process runs (ContainerCgroup.lateJoinFiles). */
  cgroupsLate?: string[];
  /** memory.oom_control (v1) or memory.events (v2): read at the exit for exit.json's oomKilled. */
  oomFile?: string;
  /** The monitor leaves once the process runs (or waits on startFifo); the caller's subreaper adopts it. */
  detach?: boolean;
  /** The init stops after its mounts, before pivot_root, until the caller's OCI createRuntime hooks have run (plan.h hookpause). */
  hookPause?: boolean;
  /** The process's stdin comes from clients of this socket, one at a time (`attach`; plan.h attachsock). */
  attachSock?: string;
  /** An interface the caller puts into the net namespace while the init waits (hookPause): its address and default route (plan.h netif). */
  netif?: { name: string; address: string; prefix: number; gateway?: string };
  /**
   * OCI startContainer hooks: run by the init once started, before execve,
   * as the process will run (its user, capabilities, cgroup, root), each
   * given `hookState` + its pid + "}" on stdin (plan.h starthook).
   */
  startHooks?: OciHook[];
  hookState?: string;
}

export interface Winsize {
  rows: number;
  cols: number;
}

/**
 * Who owns the process's stdio (native/monitor/main.c). Without a tty the
 * process always writes into pipes the monitor owns; the monitor copies them
 * to the log (logPath) and, with `attach`, to its own stdout and stderr.
 * `stdin` gives the process the monitor's stdin (with a tty: copies it to the
 * terminal); otherwise its stdin is /dev/null. With `tty` the terminal comes
 * from the container's devpts; `winsize` is its size when the monitor's
 * stdin is not a terminal (otherwise that terminal's size is used, and
 * SIGWINCH to the monitor re-reads it).
 */
export interface PlanIo {
  /** Without a tty: the process gets the monitor's own fds 0-2 (the OCI runtime's way, as runc's). */
  passthrough?: boolean;
  /** With a tty: the pty master goes to this AF_UNIX socket (runc's --console-socket). */
  consoleSocket?: string;
  logPath?: string;
  /** json-file's max-size and max-file: the log rotated at maxBytes, keeping `files` files. */
  logRotate?: { maxBytes: number; files: number };
  exitFile?: string;
  attach?: boolean;
  stdin?: boolean;
  tty?: boolean;
  winsize?: Winsize;
}

/**
 * `exec`: one more process in a running container. The monitor joins the
 * namespaces of `join.pid` (a process of the container, normally its init)
 * with one setns(), and forks the process there; the monitor's exit code is
 * the process's (128+N if killed by signal N).
 */
export interface ExecPlan extends ProcessPlan, PlanIo {
  join: { pid: number; namespaces: NamespaceName[] };
  /** The container's cgroup files: the process joins its cgroups before it runs. */
  cgroups?: string[];
  cgroupSelf?: boolean;
  cgroupsLate?: string[];
  /** The monitor leaves once the process runs (runc exec -d). */
  detach?: boolean;
}

/** What a container process is, in a run plan and an exec plan alike. */
export interface ProcessPlan {
  env: string[];
  args: string[];
  cwd: string;
  uid: number;
  gid: number;
  groups: number[];
  umask?: number;
  /** process.oomScoreAdj, written to /proc/self/oom_score_adj (absent: the monitor's, inherited). */
  oomScoreAdj?: number;
  /** process.apparmorProfile: the AppArmor profile execve enters. */
  apparmorProfile?: string;
  rlimits: { resource: number; soft: number; hard: number }[];
  noNewPrivs: boolean;
  /** Absent: the process keeps every capability the monitor has. */
  capabilities?: PlanCapabilities;
  /** A compiled seccomp filter (struct sock_filter[]); absent: none. */
  seccomp?: Buffer;
  /** A session keyring of its own by this name (runc's _ses.<id>); absent: the caller's stays (--no-new-keyring). */
  keyring?: string;
}

export type NamespaceName = 'mnt' | 'pid' | 'uts' | 'ipc' | 'net' | 'cgroup' | 'user';

export interface PlanMount {
  dest: string;
  type: string;
  source: string;
  flags: number;
  data: string;
  /** What to create when dest is missing; copyup: a dir whose files are copied into the new mount. */
  kind: 'dir' | 'file' | 'copyup';
  /** A bind seen through the container's user namespace maps: OCI's idmap (its top mount), ridmap (every mount of an rbind's tree). */
  idmap?: 'idmap' | 'ridmap';
}

export interface PlanDevice {
  path: string;
  kind: 'c' | 'b' | 'p';
  major: number;
  minor: number;
  mode: number;
  uid: number;
  gid: number;
}

/** mount(2) flags (include/uapi/linux/mount.h). */
export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  SYNCHRONOUS: 16,
  REMOUNT: 32,
  MANDLOCK: 64,
  DIRSYNC: 128,
  NOSYMFOLLOW: 256,
  NOATIME: 1024,
  NODIRATIME: 2048,
  BIND: 4096,
  REC: 16384,
  UNBINDABLE: 1 << 17,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
  SHARED: 1 << 20,
  RELATIME: 1 << 21,
  STRICTATIME: 1 << 24,
} as const;

/** runc's table of mount options that are flags; `clear` options unset them. */
const FLAG_OPTIONS: Record<string, { set?: number; clear?: number }> = {
  ro: { set: MS.RDONLY },
  rw: { clear: MS.RDONLY },
  nosuid: { set: MS.NOSUID },
  suid: { clear: MS.NOSUID },
  nodev: { set: MS.NODEV },
  dev: { clear: MS.NODEV },
  noexec: { set: MS.NOEXEC },
  exec: { clear: MS.NOEXEC },
  sync: { set: MS.SYNCHRONOUS },
  async: { clear: MS.SYNCHRONOUS },
  dirsync: { set: MS.DIRSYNC },
  mand: { set: MS.MANDLOCK },
  nomand: { clear: MS.MANDLOCK },
  noatime: { set: MS.NOATIME },
  atime: { clear: MS.NOATIME },
  nodiratime: { set: MS.NODIRATIME },
  diratime: { clear: MS.NODIRATIME },
  relatime: { set: MS.RELATIME },
  norelatime: { clear: MS.RELATIME },
  strictatime: { set: MS.STRICTATIME },
  nostrictatime: { clear: MS.STRICTATIME },
  nosymfollow: { set: MS.NOSYMFOLLOW },
  bind: { set: MS.BIND },
  rbind: { set: MS.BIND | MS.REC },
  // runc's no-ops: the defaults, and what a bind takes from its source.
  defaults: {},
  remount: {},
  // runc's recursive forms (mount_setattr(2) AT_RECURSIVE): a bind's ro, nosuid, nodev and noexec already
  // reach every mount of an rbind's tree here (native/core/mounts.c), and a bind alone has no other.
  rro: { set: MS.RDONLY },
  rrw: { clear: MS.RDONLY },
  rnosuid: { set: MS.NOSUID },
  rsuid: { clear: MS.NOSUID },
  rnodev: { set: MS.NODEV },
  rdev: { clear: MS.NODEV },
  rnoexec: { set: MS.NOEXEC },
  rexec: { clear: MS.NOEXEC },
};

/**
 * Propagation options on a mount, set in a mount(2) call of their own after
 * it (the kernel takes them alone): Kubernetes' Bidirectional mounts are
 * rshared binds, peers of the host's mount (with rootfsPropagation rshared).
 * Their r- forms add no MS_REC here, where it would mean an rbind: the
 * type goes to every mount of an rbind's tree, and a plain bind has no
 * other (native/core/mounts.c).
 */
const PROPAGATION_OPTIONS: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE,
  shared: MS.SHARED,
  rshared: MS.SHARED,
  slave: MS.SLAVE,
  rslave: MS.SLAVE,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE,
};

/**
 * Options runc and crun take that are not the kernel's, so never mount data.
 * tmpcopyup (podman's --read-only tmpfs on /run, /tmp, /var/tmp) copies the
 * image's files under the mount point into the new tmpfs: the plan's
 * "copyup" kind.
 */
const RUNTIME_EXTENSION_OPTIONS = new Set(['tmpcopyup', 'notmpcopyup', 'idmap', 'ridmap']);

const ROOT_PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
};

export function parseMountOptions(options: string[] = []): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const opt of options) {
    const f = FLAG_OPTIONS[opt];
    if (f) {
      if (f.set) flags |= f.set;
      if (f.clear) flags &= ~f.clear;
    } else if (Object.hasOwn(PROPAGATION_OPTIONS, opt)) {
      // One propagation type: the last given wins (the kernel refuses two in one call).
      flags = (flags & ~(MS.SHARED | MS.PRIVATE | MS.SLAVE | MS.UNBINDABLE)) | PROPAGATION_OPTIONS[opt]!;
    } else if (!RUNTIME_EXTENSION_OPTIONS.has(opt)) {
      data.push(opt);
    }
  }
  return { flags, data: data.join(',') };
}

const NAMESPACES: Record<string, NamespaceName> = {
  mount: 'mnt',
  pid: 'pid',
  uts: 'uts',
  ipc: 'ipc',
  network: 'net',
  cgroup: 'cgroup',
  user: 'user',
};

export const RLIMITS: Record<string, number> = {
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
};

/** A path inside the container: absolute, no `..`, no NUL. */
export function checkContainerPath(what: string, p: string): void {
  if (!p.startsWith('/') || p.includes('\0') || p.split('/').includes('..')) {
    throw new UsageError(`${what} must be an absolute path without "..": ${JSON.stringify(p)}`);
  }
}

/**
 * CVE-2024-21626 reached the host through a leaked fd with `-w /proc/self/fd/N`.
 * The child also verifies the cwd after chdir; this is the early, clear refusal.
 */
export function checkWorkingDir(cwd: string): void {
  checkContainerPath('the working directory', cwd);
  const norm = path.posix.normalize(cwd);
  if (/^\/proc\/(self|thread-self|\d+)\/fd(\/|$)/.test(norm)) {
    throw new UsageError(`the working directory ${cwd} points into /proc/*/fd, which could reach host files (CVE-2024-21626)`);
  }
}

/** runc's name for a container's session keyring, its execs' too. */
export const sessionKeyring = (id: string) => `_ses.${id}`;

export interface PlanExtras extends MonitorDuties {
  /** With a user namespace: the root as an idmapped overlay (root.path is then where it goes, unmounted on the host). */
  rootOverlay?: RootOverlay;
  mkcwd: boolean;
  /** The process's own session keyring (ProcessPlan.keyring). */
  keyring?: string;
  /**
   * What a `cgroup` mount shows: the container's own cgroup directories,
   * bound read-only (runc's way without a cgroup namespace). `name` is the
   * v1 hierarchy's directory ("memory", "cpu,cpuacct"); "" for v2's one tree.
   */
  cgroupViews?: { name: string; dir: string }[];
  /** Whether a bind mount's host source is a non-directory (so its target is created as a file). */
  isFileSource: (source: string) => boolean;
  /** Where compiled seccomp filters are cached (seccomp-cache.ts); absent: compiled every time. */
  seccompCacheDir?: string;
  /** Whether a namespace path names the host's own namespace of that kind (for the sysctl rule). */
  isHostNamespace?: (ns: NamespaceName, path: string) => boolean;
}

export function buildLaunchPlan(spec: OciSpec, extras: PlanExtras): LaunchPlan {
  const proc = spec.process;
  if (!proc.args || proc.args.length === 0) throw new UsageError('no command specified');
  checkWorkingDir(proc.cwd);
  if (!path.isAbsolute(spec.root.path)) throw new UsageError(`root.path must be absolute: ${spec.root.path}`);

  const namespaces: NamespaceName[] = [];
  const nsPaths: [NamespaceName, string][] = [];
  for (const ns of spec.linux.namespaces) {
    const name = NAMESPACES[ns.type];
    if (!name) throw new UsageError(`the ${ns.type} namespace is not supported yet`);
    if (ns.path === undefined || ns.path === '') {
      namespaces.push(name);
      continue;
    }
    if (name === 'mnt') throw new UsageError('joining an existing mount namespace is not supported: a container needs its own');
    if (!path.isAbsolute(ns.path)) throw new UsageError(`the ${ns.type} namespace path must be absolute: ${ns.path}`);
    nsPaths.push([name, ns.path]);
  }
  if (!namespaces.includes('mnt')) throw new UsageError('a container needs its own mount namespace');
  if (spec.hostname !== undefined && !namespaces.includes('uts')) throw new UsageError('a hostname needs a new uts namespace');

  const propagation = ROOT_PROPAGATION[spec.linux.rootfsPropagation ?? 'rslave'];
  if (propagation === undefined) throw new UsageError(`unknown rootfsPropagation: ${spec.linux.rootfsPropagation}`);

  const idMaps = planIdMaps(spec);
  if (idMaps) checkProcessMapped(idMaps, proc.user);
  const mounts = spec.mounts.flatMap((m) => (m.type === 'cgroup' || m.type === 'cgroup2' ? planCgroupMount(m, extras) : [planMount(m, extras, idMaps)]));
  // A namespace joined by path is the container's own too, unless it is the host's (runc's rule for sysctls).
  const own = [...namespaces, ...nsPaths.filter(([ns, p]) => !extras.isHostNamespace?.(ns, p)).map(([ns]) => ns)];
  const sysctls = Object.entries(spec.linux.sysctl ?? {}).map(([k, v]) => planSysctl(k, v, own));

  const devices: PlanDevice[] = [];
  const seen = new Set<string>();
  for (const d of [...(spec.linux.devices ?? []), ...DEFAULT_DEVICES]) {
    if (seen.has(d.path)) continue;
    seen.add(d.path);
    checkContainerPath('a device path', d.path);
    if (d.type === 'u') throw new UsageError(`device ${d.path}: type "u" is not supported`);
    devices.push({
      path: d.path,
      kind: d.type,
      major: d.major ?? 0,
      minor: d.minor ?? 0,
      // podman passes st_mode, file type bits included (S_IFCHR|0666): the type is d.type.
      mode: (d.fileMode ?? 0o666) & 0o7777,
      uid: d.uid ?? 0,
      gid: d.gid ?? 0,
    });
  }

  const rlimits = planRlimits(proc);

  for (const p of [...(spec.linux.maskedPaths ?? []), ...(spec.linux.readonlyPaths ?? [])]) checkContainerPath('a masked or read-only path', p);

  return {
    root: spec.root.path,
    namespaces,
    nsPaths,
    idMaps,
    rootOverlay: extras.rootOverlay,
    propagation,
    hostname: spec.hostname,
    mounts,
    devices,
    symlinks: DEFAULT_DEV_SYMLINKS,
    masked: spec.linux.maskedPaths ?? [],
    readonly: spec.linux.readonlyPaths ?? [],
    env: proc.env,
    args: proc.args,
    cwd: proc.cwd,
    mkcwd: extras.mkcwd,
    uid: proc.user.uid,
    gid: proc.user.gid,
    groups: proc.user.additionalGids ?? [],
    umask: proc.user.umask,
    oomScoreAdj: proc.oomScoreAdj,
    apparmorProfile: proc.apparmorProfile,
    rlimits,
    noNewPrivs: proc.noNewPrivileges ?? false,
    capabilities: proc.capabilities ? planCapabilities(proc.capabilities) : undefined,
    seccomp: planSeccomp(spec, extras.seccompCacheDir),
    keyring: extras.keyring,
    sysctls,
    rootReadonly: spec.root.readonly === true,
    loopback: namespaces.includes('net'),
    logPath: extras.logPath,
    logRotate: extras.logRotate,
    exitFile: extras.exitFile,
    unmountPath: extras.unmountPath,
    exitCmd: extras.exitCmd,
    exitCmdIf: extras.exitCmdIf,
    passthrough: extras.passthrough,
    consoleSocket: extras.consoleSocket,
    attach: extras.attach ?? false,
    stdin: extras.stdin ?? false,
    tty: extras.tty ?? false,
    winsize: extras.winsize,
    startFifo: extras.startFifo,
    cgroups: extras.cgroups,
    cgroupsLate: extras.cgroupsLate,
    cgroupSelf: extras.cgroupSelf,
    oomFile: extras.oomFile,
    detach: extras.detach,
    hookPause: extras.hookPause,
    attachSock: extras.attachSock,
    netif: extras.netif,
    startHooks: extras.startHooks,
    hookState: extras.hookState,
  };
}

/**
 * linux.seccomp compiled for the child (native/core/child.c installs it),
 * through the cache of compiled filters in `cacheDir` (seccomp-cache.ts).
 */
export function planSeccomp(spec: Pick<OciSpec, 'linux'>, cacheDir: string | undefined): Buffer | undefined {
  return spec.linux.seccomp ? compileSeccompCached(spec.linux.seccomp, cacheDir) : undefined;
}

/** A process's rlimits for the plan: RLIM_INFINITY (2^64-1, or anything from 2^63 as a JS number) becomes -1. */
export function planRlimits(proc: Pick<OciProcess, 'rlimits'>): { resource: number; soft: number; hard: number }[] {
  const limit = (n: number) => (n >= 2 ** 63 || n === -1 ? -1 : n);
  return (proc.rlimits ?? []).map((r) => {
    const resource = RLIMITS[r.type];
    if (resource === undefined) throw new UsageError(`unknown rlimit ${r.type}`);
    if (!Number.isInteger(r.soft) || !Number.isInteger(r.hard)) throw new UsageError(`invalid ${r.type} limits ${r.soft}:${r.hard}`);
    return { resource, soft: limit(r.soft), hard: limit(r.hard) };
  });
}

const IPC_SYSCTLS = new Set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced']);

/**
 * runc's rule: only sysctls of a namespace the container has of its own
 * (ipc: kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*; net: net.*; uts:
 * kernel.domainname); anything else would change the host.
 */
export function checkSysctl(key: string, namespaces: NamespaceName[]): void {
  if (!/^[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*$/.test(key)) throw new UsageError(`invalid sysctl name: ${JSON.stringify(key)}`);
  if (IPC_SYSCTLS.has(key) || key.startsWith('fs.mqueue.')) {
    if (namespaces.includes('ipc')) return;
    throw new UsageError(`sysctl "${key}" is not allowed in the host's ipc namespace`);
  }
  if (key.startsWith('net.')) {
    if (namespaces.includes('net')) return;
    throw new UsageError(`sysctl "${key}" is not allowed in the host's network namespace`);
  }
  if (namespaces.includes('uts')) {
    if (key === 'kernel.domainname') return;
    if (key === 'kernel.hostname') throw new UsageError('sysctl kernel.hostname is not allowed; use --hostname instead');
  }
  throw new UsageError(`sysctl "${key}" is not in a separate kernel namespace`);
}

function planSysctl(key: string, value: string, namespaces: NamespaceName[]): [string, string] {
  checkSysctl(key, namespaces);
  return [`/proc/sys/${key.replaceAll('.', '/')}`, value];
}

/**
 * /sys/fs/cgroup without a cgroup namespace: a tmpfs holding a read-only
 * bind of the container's own directory in each hierarchy (runc's v1 way),
 * or, on v2, that one directory bound at the destination. The host's tree
 * above the container's cgroup stays out of sight.
 */
function planCgroupMount(m: OciMount, extras: PlanExtras): PlanMount[] {
  checkContainerPath('a mount destination', m.destination);
  const views = extras.cgroupViews ?? [];
  // Read-only unless the spec says rw (podman's --systemd on cgroup v2: systemd makes sub-cgroups of its own).
  const writable = (m.options ?? []).includes('rw') && !(m.options ?? []).includes('ro');
  const bindFlags = MS.BIND | MS.REC | (writable ? 0 : MS.RDONLY) | MS.NOSUID | MS.NODEV | MS.NOEXEC;
  const bind = (dest: string, dir: string): PlanMount => ({ dest, type: 'bind', source: dir, flags: bindFlags, data: '', kind: 'dir' });
  const whole = views.find((v) => v.name === '');
  if (whole) return [bind(m.destination, whole.dir)];
  return [
    { dest: m.destination, type: 'tmpfs', source: 'tmpfs', flags: MS.NOSUID | MS.NODEV | MS.NOEXEC, data: 'mode=755', kind: 'dir' },
    ...views.map((v) => bind(path.posix.join(m.destination, v.name), v.dir)),
  ];
}

function planMount(m: OciMount, extras: PlanExtras, idMaps: IdMaps | undefined): PlanMount {
  checkContainerPath('a mount destination', m.destination);
  const { flags, data } = parseMountOptions(m.options);
  const isBind = (flags & MS.BIND) !== 0 || m.type === 'bind';
  // A bind takes no filesystem data: what is left there is dropped, as runc drops it, but said (a recursive
  // option asking for less, say, is not applied).
  if (isBind && data !== '') logger('plan').warn({ mount: m.destination, options: data }, 'bind mount options ignored');
  checkProcMount(m.destination, isBind ? 'bind' : (m.type ?? 'none'));
  const source = m.source ?? m.type ?? 'none';
  if (isBind && !path.isAbsolute(source)) throw new UsageError(`bind mount source must be an absolute host path: ${source}`);
  const idmap = (m.options ?? []).includes('ridmap') ? 'ridmap' : m.uidMappings !== undefined || m.gidMappings !== undefined || (m.options ?? []).includes('idmap') ? 'idmap' : undefined;
  if (idmap) checkIdmapMount(m, isBind, idMaps);
  return {
    ...(idmap ? { idmap } : {}),
    dest: m.destination,
    type: isBind ? 'bind' : (m.type ?? 'none'),
    source,
    flags: isBind ? flags | MS.BIND : flags,
    data,
    kind: isBind ? (extras.isFileSource(source) ? 'file' : 'dir') : m.options?.includes('tmpcopyup') ? 'copyup' : 'dir',
  };
}

/** The files of /proc that lxcfs stands in for, the only ones a mount may cover (runc's list). */
const LXCFS_PROC_FILES = ['/proc/cpuinfo', '/proc/diskstats', '/proc/meminfo', '/proc/stat', '/proc/swaps', '/proc/uptime', '/proc/loadavg', '/proc/slabinfo', '/proc/net/dev', '/proc/sys/kernel/ns_last_pid'];

/**
 * runc's checkProcMount: nothing but a procfs goes on /proc, and nothing
 * under it but lxcfs's files. Covering /proc/self/attr or the like is how
 * CVE-2019-16884 slipped out of an AppArmor profile; a tmpfs on /proc
 * would only fail later, at the masking, with a message about something else.
 */
function checkProcMount(dest: string, type: string): void {
  const at = path.posix.normalize(dest);
  if (at === '/proc' ? type === 'proc' : !at.startsWith('/proc/') || LXCFS_PROC_FILES.includes(at)) return;
  throw new UsageError(`cannot mount on ${dest}: it is inside /proc, where only procfs itself (and lxcfs's files) may be mounted`);
}

/**
 * An idmapped mount (config.md: uidMappings and gidMappings with the idmap
 * or ridmap option): a bind, in a container with a user namespace, with
 * that namespace's own maps, the ones Kubernetes and `run --uidmap` give
 * (the monitor idmaps it with the container's user namespace).
 */
function checkIdmapMount(m: OciMount, isBind: boolean, idMaps: IdMaps | undefined): void {
  const where = `the idmapped mount on ${m.destination}`;
  if (!isBind) throw new UsageError(`${where}: only a bind mount can be idmapped`);
  if (!idMaps) throw new UsageError(`${where} needs a user namespace of the container's own`);
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (!same(m.uidMappings ?? idMaps.uid, idMaps.uid) || !same(m.gidMappings ?? idMaps.gid, idMaps.gid)) {
    throw new UsageError(`${where}: maps other than the container's own user namespace's are not supported`);
  }
}

type Rec = (...fields: (string | number)[]) => void;

function encoder(): { rec: Rec; done: () => Buffer } {
  const out: string[] = [];
  const rec: Rec = (...fields) => {
    for (const f of fields) {
      const s = String(f);
      if (s.includes('\0')) throw new UsageError(`a NUL byte is not allowed here: ${JSON.stringify(s)}`);
      out.push(s);
    }
  };
  const done = () => {
    rec('end');
    return Buffer.from(out.join('\0') + '\0');
  };
  return { rec, done };
}

function encodeProcess(rec: Rec, p: ProcessPlan): void {
  for (const e of p.env) rec('env', e);
  for (const a of p.args) rec('arg', a);
  rec('cwd', p.cwd);
  rec('user', p.uid, p.gid);
  for (const g of p.groups) rec('group', g);
  if (p.umask !== undefined) rec('umask', p.umask);
  if (p.keyring !== undefined) rec('keyring', p.keyring);
  if (p.oomScoreAdj !== undefined) rec('oomscoreadj', p.oomScoreAdj);
  if (p.apparmorProfile) rec('apparmor', p.apparmorProfile);
  for (const r of p.rlimits) rec('rlimit', r.resource, r.soft, r.hard);
  rec('nonewprivs', p.noNewPrivs ? 1 : 0);
  const c = p.capabilities;
  if (c) rec('caps', ...[c.bounding, c.effective, c.permitted, c.inheritable, c.ambient].map((m) => m.toString()));
  if (p.seccomp) rec('seccomp', p.seccomp.toString('hex'));
}

function encodeIo(rec: Rec, io: PlanIo): void {
  if (io.attach) rec('attach', 1);
  if (io.stdin) rec('stdin', 1);
  if (io.tty) rec('tty', 1);
  if (io.winsize) {
    const { rows, cols } = io.winsize;
    for (const n of [rows, cols]) {
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`invalid terminal size ${rows}x${cols}`);
    }
    rec('winsize', rows, cols);
  }
  if (io.passthrough) rec('passthrough', 1);
  if (io.consoleSocket !== undefined) rec('consolesocket', io.consoleSocket);
  if (io.logPath !== undefined) rec('log', io.logPath);
  if (io.logRotate !== undefined) rec('logrotate', io.logRotate.maxBytes, io.logRotate.files);
  if (io.exitFile !== undefined) rec('exitfile', io.exitFile);
}

/** Serialises a plan into the monitor's wire format (native/core/plan.h). */
export function encodePlan(plan: LaunchPlan): Buffer {
  const { rec, done } = encoder();
  rec('root', plan.root);
  for (const ns of plan.namespaces) rec('ns', ns);
  for (const [ns, p] of plan.nsPaths) rec('nspath', ns, p);
  for (const m of plan.idMaps?.uid ?? []) rec('uidmap', m.containerID, m.hostID, m.size);
  for (const m of plan.idMaps?.gid ?? []) rec('gidmap', m.containerID, m.hostID, m.size);
  if (plan.rootOverlay) {
    if (!plan.idMaps) throw new UsageError('an idmapped root needs a user namespace');
    if (plan.rootOverlay.lowerDirs.length > 500) throw new UsageError(`an idmapped root takes at most 500 layers, not ${plan.rootOverlay.lowerDirs.length}`);
    for (const d of plan.rootOverlay.lowerDirs) rec('rootlower', d);
    rec('rootlayer', plan.rootOverlay.layerDir);
    for (const o of plan.rootOverlay.options) rec('rootopt', o);
  }
  rec('propagation', plan.propagation);
  if (plan.hostname !== undefined) rec('hostname', plan.hostname);
  for (const m of plan.mounts) rec('mount', m.dest, m.type, m.source, m.flags, m.data, m.idmap ? `${m.kind}+${m.idmap}` : m.kind);
  for (const d of plan.devices) rec('device', d.path, d.kind, d.major, d.minor, d.mode, d.uid, d.gid);
  for (const [link, target] of plan.symlinks) rec('symlink', link, target);
  for (const p of plan.masked) rec('masked', p);
  for (const p of plan.readonly) rec('readonly', p);
  for (const [p, v] of plan.sysctls ?? []) rec('sysctl', p, v);
  if (plan.rootReadonly) rec('rootro', 1);
  encodeProcess(rec, plan);
  rec('mkcwd', plan.mkcwd ? 1 : 0);
  rec('loopback', plan.loopback ? 1 : 0);
  encodeIo(rec, plan);
  if (plan.startFifo !== undefined) rec('startfifo', plan.startFifo);
  if (plan.unmountPath !== undefined) rec('unmount', plan.unmountPath);
  for (const a of plan.exitCmd ?? []) rec('exitcmd', a);
  if (plan.exitCmdIf !== undefined) rec('exitcmdif', plan.exitCmdIf);
  for (const c of plan.cgroups ?? []) rec('cgroup', c);
  if (plan.cgroupSelf) rec('cgroupself', 1);
  for (const c of plan.cgroupsLate ?? []) rec('cgrouplate', c);
  if (plan.oomFile !== undefined) rec('oomfile', plan.oomFile);
  if (plan.detach) rec('detach', 1);
  if (plan.hookPause) rec('hookpause', 1);
  if (plan.attachSock !== undefined) rec('attachsock', plan.attachSock);
  if (plan.netif) rec('netif', plan.netif.name, plan.netif.address, plan.netif.prefix, plan.netif.gateway ?? '');
  // Each hook's words and their two NULLs, in the init's fixed room (plan.h CTR_MAX_HOOK_WORDS).
  const words = (plan.startHooks ?? []).reduce((n, h) => n + Math.max(h.args?.length ?? 0, 1) + (h.env?.length ?? 0) + 2, 0);
  if (words > 1023) throw new UsageError('startContainer hooks: too many arguments and environment entries (about 1000 in all)');
  for (const h of plan.startHooks ?? []) rec('starthook', h.path, h.timeout ?? 0, hookWords(h.args?.length ? h.args : [h.path]), hookWords(h.env ?? []));
  if (plan.hookState !== undefined) rec('hookstate', plan.hookState);
  return done();
}

/** A hook's argv or env as one plan field, split by the unit separator (0x1f) that no word may hold. */
function hookWords(words: string[]): string {
  for (const w of words) if (w.includes('\x1f')) throw new UsageError(`a hook's arguments and environment may not hold the byte 0x1f: ${JSON.stringify(w)}`);
  return words.join('\x1f');
}

/** Serialises an exec plan (native/core/plan.h, exec mode). */
export function encodeExecPlan(plan: ExecPlan): Buffer {
  if (!plan.join.namespaces.includes('mnt')) throw new UsageError('exec must join the container\'s mount namespace');
  if (!Number.isInteger(plan.join.pid) || plan.join.pid <= 0) throw new UsageError(`invalid pid to join: ${plan.join.pid}`);
  const { rec, done } = encoder();
  rec('join', plan.join.pid);
  for (const ns of plan.join.namespaces) rec('joinns', ns);
  encodeProcess(rec, plan);
  encodeIo(rec, plan);
  for (const c of plan.cgroups ?? []) rec('cgroup', c);
  if (plan.cgroupSelf) rec('cgroupself', 1);
  for (const c of plan.cgroupsLate ?? []) rec('cgrouplate', c);
  if (plan.detach) rec('detach', 1);
  return done();
}
