import { UsageError } from '../../errors.js';
import type { OciImageConfig } from '../../image/oci-layout.js';
import {
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  OCI_VERSION,
  type OciIdMapping,
  type OciMount,
  type OciSpec,
} from '../../oci/spec.js';
import { hostBoundingCapabilities, processCapabilities, tweakCapabilities } from './capabilities.js';
import { checkWorkingDir } from './launch-plan.js';
import type { HostDevice } from './devices.js';
import { type DeviceFlag, type MountSpec, type SecurityOptions, type Ulimit, ULIMIT_TYPES, parseDeviceCgroupRule } from './run-flags.js';
import { DEFAULT_SECCOMP_PROFILE, resolveSeccompProfile } from './seccomp.js';
import { hostId } from './user-namespace.js';
import type { ResolvedUser } from './user.js';
import { type ResourceOptions, ociResources } from '../cgroups/limits.js';

/**
 * The image level's half of the engine: an image and `run` flags become an
 * OCI runtime config, as docker or podman hand one to runc.
 */

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface RunOptions extends SecurityOptions {
  /** -e K=V (or K to take the value from tsrun's environment). */
  env: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  /** undefined: the image's; "": none. */
  entrypoint?: string;
  cmd: string[];
  /** --label: the container's own, over the image's (inspect's Config.Labels, ps --filter label=). */
  labels?: Record<string, string>;
  /** --stop-signal: what `stop` sends first (default: the image's StopSignal, else SIGTERM). */
  stopSignal?: string;
  /** --stop-timeout: seconds `stop` waits before SIGKILL when -t is not given (default 10; -1: for ever). */
  stopTimeout?: number;
  /** -t: a terminal from the container's devpts. */
  tty?: boolean;
  /** -i: the stdin stays open, for the terminal that started it or for `attach` later (docker's OpenStdin). */
  openStdin?: boolean;
  /** --network bridge: eth0 on tsrun's bridge (runtime/network/); otherwise only lo, or the host's network. */
  network?: 'bridge';
  /** -p: host ports forwarded to the container's (bridge only). */
  ports?: PortBinding[];
  /** -P: every port the image exposes, each on a free host port (resolved into `ports` at create). */
  publishAll?: boolean;
  /** --expose: ports added to the image's ExposedPorts ("80/tcp"), published by -P. */
  expose?: string[];
  /** --add-host NAME:IP: lines added to its /etc/hosts, as [name, address]. */
  extraHosts?: [string, string][];
  /** --dns, --dns-search, --dns-option: its resolv.conf's nameservers, search domains and options instead of the host's. */
  dns?: { servers?: string[]; search?: string[]; options?: string[] };
  /** --network/--pid/--ipc container:NAME: the id of the container whose namespace is joined at each start. */
  joinNamespaces?: Partial<Record<JoinableNamespace, string>>;
  /** --log-driver and --log-opt, as given (inspect's LogConfig); absent: json-file, unbounded. */
  logConfig?: LogConfig;
  /** --init: tsrun-init runs as PID 1, reaping orphans and forwarding signals. */
  init?: boolean;
  /**
   * -v, --mount, --tmpfs in the order given; at create, those of --volumes-from
   * and the image's VOLUMEs after them (volumes named and host paths resolved).
   */
  mounts?: MountSpec[];
  /** --volumes-from CONTAINER[:ro|:rw], as given (inspect's HostConfig.VolumesFrom); its mounts are in `mounts`. */
  volumesFrom?: string[];
  capAdd?: string[];
  capDrop?: string[];
  /** Every capability of the host's bounding set, no masked or read-only /proc paths, /sys read-write. */
  privileged?: boolean;
  /** --read-only: root.readonly, with tmpfs on /run, /tmp and /var/tmp (podman's --read-only-tmpfs). */
  readOnly?: boolean;
  ulimits?: Ulimit[];
  sysctls?: Record<string, string>;
  /** /dev/shm's size in bytes (default 64 MiB). */
  shmSize?: number;
  /** --oom-score-adj: process.oomScoreAdj. */
  oomScoreAdj?: number;
  /** --device: host device nodes made in the container and allowed (a directory: every node under it). */
  devices?: DeviceFlag[];
  /** --device-cgroup-rule: devices.allow lines added to the container's rules. */
  deviceCgroupRules?: string[];
  /** --group-add: group names (from the image's /etc/group) or numbers. */
  groupAdd?: string[];
  /** --uidmap/--gidmap: a user namespace of its own with these maps; its root is mounted idmapped (start.ts). */
  idMappings?: { uid: OciIdMapping[]; gid: OciIdMapping[] };
  /** --userns auto[:size=N]: maps of this many ids picked at create (into idMappings), free of other containers'. */
  usernsAuto?: { size: number };
  /** --memory, --cpus, --pids-limit ... (also changed by `update`). */
  resources?: ResourceOptions;
  /** --restart: what happens when the process exits (restart-policy.ts). */
  restart?: RestartPolicy;
  /** --network host, --pid host, --ipc host, --uts host: the host's namespace instead of a new one. */
  hostNamespaces?: SharedNamespace[];
}

/** docker's json-file driver (and local, its rotated form), or none: no log at all. */
export interface LogConfig {
  type: 'json-file' | 'local' | 'none';
  config: Record<string, string>;
}

export type SharedNamespace = 'network' | 'pid' | 'ipc' | 'uts';
export type JoinableNamespace = 'network' | 'pid' | 'ipc';

/** `-p [hostIp:]hostPort:containerPort[/tcp|udp]`; no hostIp: every address of the host. */
export interface PortBinding {
  hostIp?: string;
  /** 0: a free port chosen at each start (`-p 80`, `-P`), as docker's. */
  hostPort: number;
  /** With hostPort 0: where the port is chosen from (`-p 8000-8010:80`); absent, the kernel's ephemeral range. */
  hostRange?: { low: number; high: number };
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

/** The namespaces a container gets of its own: all five, less those it shares with the host. */
export function privateNamespaces(o: Pick<RunOptions, 'hostNamespaces'>): ('pid' | 'network' | 'ipc' | 'uts' | 'mount')[] {
  const shared = new Set(o.hostNamespaces ?? []);
  return (['pid', 'network', 'ipc', 'uts', 'mount'] as const).filter((n) => n === 'mount' || !shared.has(n));
}

export interface RestartPolicy {
  name: 'no' | 'always' | 'unless-stopped' | 'on-failure';
  /** on-failure:N; 0 means no limit. */
  maxRetries: number;
}

/** Where `--init` puts the reaper: on the container's /dev tmpfs, so it leaves nothing in its layers. */
export const INIT_PATH = '/dev/init';

/** Entrypoint and Cmd combined as docker does. */
export function resolveArgs(image: OciImageConfig['config'], opts: Pick<RunOptions, 'entrypoint' | 'cmd'>): string[] {
  let entrypoint: string[];
  let cmd: string[];
  if (opts.entrypoint !== undefined) {
    // A new entrypoint drops the image's Cmd unless the user gives one.
    entrypoint = opts.entrypoint === '' ? [] : [opts.entrypoint];
    cmd = opts.cmd;
  } else {
    entrypoint = image?.Entrypoint ?? [];
    cmd = opts.cmd.length > 0 ? opts.cmd : (image?.Cmd ?? []);
  }
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw new UsageError('no command specified');
  return args;
}

/** -e values: `K=V` as is, a bare `K` copies tsrun's own value (and is dropped when unset). */
export function expandEnvFlags(flags: string[], hostEnv: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const f of flags) {
    const eq = f.indexOf('=');
    if (eq === 0 || f === '') throw new UsageError(`invalid environment variable: ${f}`);
    if (eq > 0) out.push(f);
    else if (hostEnv[f] !== undefined) out.push(`${f}=${hostEnv[f]}`);
  }
  return out;
}

/**
 * docker's --env-file: one KEY=VALUE (or KEY, taken from tsrun's
 * environment) a line; blank lines and lines starting with # are skipped;
 * the value is everything after the first =, quotes and spaces included.
 * Comes before -e, so -e wins.
 */
export function readEnvFiles(files: string[], read: (file: string) => string): string[] {
  const out: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = read(file);
    } catch (err) {
      throw new UsageError(`cannot read the env file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    for (const [i, raw] of text.split('\n').entries()) {
      const line = raw.replace(/\r$/, '');
      if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
      const key = line.split('=', 1)[0]!.trimStart();
      if (key === '' || /\s/.test(key)) throw new UsageError(`${file}:${i + 1}: invalid variable name ${JSON.stringify(key)}`);
      out.push(line.includes('=') ? `${key}${line.slice(line.indexOf('='))}` : key);
    }
  }
  return out;
}

/** Later entries win, keeping first-seen order, as docker merges image Env with -e. */
export function mergeEnv(...lists: string[][]): string[] {
  const map = new Map<string, string>();
  for (const list of lists) {
    for (const kv of list) {
      const eq = kv.indexOf('=');
      const key = eq < 0 ? kv : kv.slice(0, eq);
      map.set(key, kv);
    }
  }
  return [...map.values()];
}

export interface ContainerSpecInput {
  image: OciImageConfig;
  options: RunOptions;
  user: ResolvedUser;
  hostname: string;
  rootPath: string;
  /** Host path of tsrun-init, with --init. */
  initPath?: string;
  files: { hosts: string; hostname: string; resolvConf: string };
  /** linux.cgroupsPath ("tsrun/<id>"). */
  cgroupsPath?: string;
  /** The host's bounding set, for --privileged and --cap-add ALL (default: read from /proc/self/status). */
  hostCapabilities?: () => string[];
  /** container:NAME modes: the namespace files (/proc/<pid>/ns/...) of the running containers joined. */
  joinPaths?: Partial<Record<JoinableNamespace, string>>;
  /** --device, read from the host at this start (devices.ts). */
  hostDevices?: HostDevice[];
}

const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

/** podman's --read-only-tmpfs: the places programs expect to write. */
const READ_ONLY_TMPFS: OciMount[] = [
  { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755'] },
  { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] },
  { destination: '/var/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] },
];

/** A user's mount as OCI config: binds (volumes are binds of their _data) and tmpfs. */
export function userMount(m: MountSpec): OciMount {
  if (m.type === 'tmpfs') {
    // docker's --tmpfs defaults; the user's options come last and win (exec clears noexec).
    return { destination: m.target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', ...(m.options ?? []), ...(m.readonly ? ['ro'] : [])] };
  }
  if (!m.hostPath) throw new UsageError(`mount on ${m.target} has no resolved host path`);
  const propagation = (m.options ?? []).find((o) => /^r?(private|shared|slave)$/.test(o)) ?? 'rprivate';
  return { destination: m.target, type: 'bind', source: m.hostPath, options: ['rbind', propagation, ...(m.readonly ? ['ro'] : [])] };
}

const depth = (p: string) => p.split('/').filter(Boolean).length;

export function buildContainerSpec(input: ContainerSpecInput): OciSpec {
  const { image, options, user } = input;
  const imageEnv = image.config?.Env ?? [];
  const hasPath = [...imageEnv, ...options.env].some((e) => e.startsWith('PATH='));
  let env = mergeEnv(hasPath ? [] : [DEFAULT_PATH], [`HOSTNAME=${input.hostname}`], imageEnv, options.env);
  if (!env.some((e) => e.startsWith('HOME='))) env = [...env, `HOME=${user.home}`];

  const cwd = options.workdir || image.config?.WorkingDir || '/';
  checkWorkingDir(cwd);

  const bind = (destination: string, source: string): OciMount => ({
    destination,
    type: 'bind',
    source,
    options: ['rbind', 'rprivate'],
  });

  const privileged = options.privileged === true;
  const host = input.hostCapabilities ?? (() => hostBoundingCapabilities());
  const caps = tweakCapabilities({ add: options.capAdd, drop: options.capDrop, privileged, host });
  const shmSize = options.shmSize ?? DEFAULT_SHM_SIZE;
  const seccomp = containerSeccomp(options, caps);
  // --uidmap: what tsrun keeps for the container (its /etc files, volumes) holds the container's own ids
  // on disk, as its layers do: seen idmapped, they are its root's inside, as without a user namespace.
  const maps = options.idMappings;
  const idmapped = (m: OciMount): OciMount => (maps ? { ...m, options: [...(m.options ?? []), 'idmap'], uidMappings: maps.uid, gidMappings: maps.gid } : m);
  // podman's rule: the tty group only when the user namespace maps it (devpts refuses an unmapped gid=).
  const ttyGroup = !maps || hostId(maps.gid, 5) !== undefined ? ['gid=5'] : [];

  const defaults: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...ttyGroup] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shmSize}`] },
    idmapped(bind('/etc/resolv.conf', input.files.resolvConf)),
    idmapped(bind('/etc/hostname', input.files.hostname)),
    idmapped(bind('/etc/hosts', input.files.hosts)),
    ...(input.initPath ? [{ destination: INIT_PATH, type: 'bind', source: input.initPath, options: ['rbind', 'ro', 'nosuid', 'nodev'] }] : []),
    ...(options.readOnly ? READ_ONLY_TMPFS : []),
  ];
  // The user's mounts replace a default on the same destination (docker's rule).
  // With any, everything goes parents first (a stable sort, as moby's
  // sortMounts), so `-v /h:/etc` cannot hide the /etc/hosts bind made before it.
  const userMounts = (options.mounts ?? []).map((m) => (m.type === 'volume' || m.idmap ? idmapped(userMount(m)) : userMount(m)));
  const taken = new Set(userMounts.map((m) => m.destination));
  const mounts = userMounts.length === 0 ? defaults : [...defaults.filter((m) => !taken.has(m.destination)), ...userMounts].map((m, i) => ({ m, i })).sort((a, b) => depth(a.m.destination) - depth(b.m.destination) || a.i - b.i).map(({ m }) => m);

  const rlimits = (options.ulimits ?? []).map((u) => {
    const type = ULIMIT_TYPES[u.name];
    if (!type) throw new UsageError(`invalid ulimit type: ${u.name}`);
    return { type, soft: u.soft, hard: u.hard };
  });

  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: options.tty === true,
      user: { uid: user.uid, gid: user.gid, umask: 0o022, additionalGids: user.additionalGids },
      args: input.initPath ? [INIT_PATH, '--', ...resolveArgs(image.config, options)] : resolveArgs(image.config, options),
      env,
      cwd,
      ...(rlimits.length ? { rlimits } : {}),
      noNewPrivileges: options.noNewPrivileges !== false,
      capabilities: processCapabilities(caps, user.uid),
      ...(options.oomScoreAdj !== undefined ? { oomScoreAdj: options.oomScoreAdj } : {}),
    },
    root: { path: input.rootPath, readonly: options.readOnly === true },
    // With the host's uts namespace the hostname is the host's: setting it would change the host's.
    ...(options.hostNamespaces?.includes('uts') ? {} : { hostname: input.hostname }),
    mounts,
    linux: {
      namespaces: [
        ...privateNamespaces(options).map((type) => {
          const joined = type === 'network' || type === 'pid' || type === 'ipc' ? input.joinPaths?.[type] : undefined;
          return joined ? { type, path: joined } : { type };
        }),
        ...(options.idMappings ? [{ type: 'user' as const }] : []),
      ],
      ...(options.idMappings ? { uidMappings: options.idMappings.uid, gidMappings: options.idMappings.gid } : {}),
      maskedPaths: privileged ? [] : DEFAULT_MASKED_PATHS,
      readonlyPaths: privileged ? [] : DEFAULT_READONLY_PATHS,
      rootfsPropagation: 'rslave',
      ...(options.sysctls && Object.keys(options.sysctls).length ? { sysctl: { ...options.sysctls } } : {}),
      ...(seccomp ? { seccomp } : {}),
      ...(input.cgroupsPath !== undefined ? { cgroupsPath: input.cgroupsPath } : {}),
      ...(input.hostDevices?.length ? { devices: input.hostDevices.map((d) => d.device) } : {}),
      // Deny every device but those the runtime allows (cgroupResources), as docker's; --privileged allows all;
      // then --device's nodes with their permissions, and --device-cgroup-rule's lines.
      resources: {
        ...ociResources(options.resources ?? {}),
        devices: [
          { allow: privileged, access: 'rwm' },
          ...(input.hostDevices ?? []).map(({ device: d, perms }) => ({ allow: true, type: d.type as 'b' | 'c', major: d.major, minor: d.minor, access: perms })),
          ...(options.deviceCgroupRules ?? []).map((r) => ({ allow: true, ...parseDeviceCgroupRule(r) })),
        ],
      },
    },
  };
}

/**
 * moby's rule: unconfined when asked, or privileged; otherwise the given
 * profile or the default, resolved against the container's capabilities.
 * The default profile with CAP_SYS_ADMIN is no filter either: docker's would
 * allow nearly everything that capability guards (mount, unshare, setns...).
 */
export function containerSeccomp(options: Pick<RunOptions, 'seccomp' | 'privileged'>, caps: string[]) {
  if (options.seccomp === 'unconfined' || options.privileged) return undefined;
  if (options.seccomp === undefined && caps.includes('CAP_SYS_ADMIN')) return undefined;
  return resolveSeccompProfile(options.seccomp ?? DEFAULT_SECCOMP_PROFILE, caps);
}
