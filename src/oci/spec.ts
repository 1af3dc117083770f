import type { OciResources } from '../runtime/cgroups/limits.js';

/**
 * The parts of the OCI runtime spec (config.md, config-linux.md of
 * opencontainers/runtime-spec 1.2) that tsrun reads and writes.
 */
export interface OciSpec {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly?: boolean };
  hostname?: string;
  mounts: OciMount[];
  annotations?: Record<string, string>;
  hooks?: Partial<Record<OciHookKind, OciHook[]>>;
  linux: OciLinux;
}

export type OciHookKind = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';

/** config.md "POSIX-platform Hooks": run with the container's state on stdin. */
export interface OciHook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export interface OciProcess {
  terminal?: boolean;
  /** The terminal's size at start (podman's and docker's -t send it): rows, columns. */
  consoleSize?: { height: number; width: number };
  user: { uid: number; gid: number; umask?: number; additionalGids?: number[] };
  args: string[];
  env: string[];
  cwd: string;
  /** soft/hard: RLIM_INFINITY is 2^64-1, which a JS number holds as 2^64 (RLIM_INFINITY_JSON). */
  rlimits?: { type: string; soft: number; hard: number }[];
  noNewPrivileges?: boolean;
  capabilities?: OciCapabilities;
  /** -1000..1000, into /proc/<pid>/oom_score_adj (Kubernetes sets it per QoS class). */
  oomScoreAdj?: number;
  /** The AppArmor profile the process runs under (loaded by the caller, as podman and containerd do). */
  apparmorProfile?: string;
  /** An SELinux label: ignored where SELinux is off (as runc), refused where it is on (tsrun applies none). */
  selinuxLabel?: string;
}

/** Capability names as "CAP_CHOWN" (config.md "Linux process"). */
export interface OciCapabilities {
  bounding?: string[];
  effective?: string[];
  permitted?: string[];
  inheritable?: string[];
  ambient?: string[];
}

/** What an OCI rlimit of 2^64-1 (RLIM_INFINITY) becomes as a JS number; anything at or above 2^63 is read as infinity. */
export const RLIM_INFINITY_JSON = 2 ** 64;

export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
  /** An idmapped mount (options idmap or ridmap): the source's ids as the container sees them. */
  uidMappings?: OciIdMapping[];
  gidMappings?: OciIdMapping[];
}

export interface OciLinux {
  namespaces: { type: OciNamespaceType; path?: string }[];
  /** With a user namespace: container ids containerID.. are host ids hostID.. (size of them). */
  uidMappings?: OciIdMapping[];
  gidMappings?: OciIdMapping[];
  devices?: OciDevice[];
  maskedPaths?: string[];
  readonlyPaths?: string[];
  rootfsPropagation?: string;
  /** Namespaced kernel parameters, "net.ipv4.ip_forward": "1". */
  sysctl?: Record<string, string>;
  /** Relative to each controller's mount (tsrun: "tsrun/<id>"). */
  cgroupsPath?: string;
  resources?: OciResources;
  /** Absent: no filter (unconfined). */
  seccomp?: OciSeccomp;
}

/** config-linux.md "User namespace mappings". */
export interface OciIdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** config-linux.md "Seccomp". */
export interface OciSeccomp {
  defaultAction: OciSeccompAction;
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls?: { names: string[]; action: OciSeccompAction; errnoRet?: number; args?: OciSeccompArg[] }[];
}

export type OciSeccompAction =
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_LOG';

export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: 'SCMP_CMP_NE' | 'SCMP_CMP_LT' | 'SCMP_CMP_LE' | 'SCMP_CMP_EQ' | 'SCMP_CMP_GE' | 'SCMP_CMP_GT' | 'SCMP_CMP_MASKED_EQ';
}

export type OciNamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';

export interface OciDevice {
  type: 'c' | 'b' | 'u' | 'p';
  path: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export const OCI_VERSION = '1.2.0';

/** The devices every container gets (config-linux.md "Default Devices"). */
export const DEFAULT_DEVICES: OciDevice[] = [
  { type: 'c', path: '/dev/null', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
  { type: 'c', path: '/dev/zero', major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0 },
  { type: 'c', path: '/dev/full', major: 1, minor: 7, fileMode: 0o666, uid: 0, gid: 0 },
  { type: 'c', path: '/dev/random', major: 1, minor: 8, fileMode: 0o666, uid: 0, gid: 0 },
  { type: 'c', path: '/dev/urandom', major: 1, minor: 9, fileMode: 0o666, uid: 0, gid: 0 },
  { type: 'c', path: '/dev/tty', major: 5, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
];

/** The /dev symlinks a runtime provides (config-linux.md "Default Filesystems" / runc). */
export const DEFAULT_DEV_SYMLINKS: [link: string, target: string][] = [
  ['/dev/fd', '/proc/self/fd'],
  ['/dev/stdin', '/proc/self/fd/0'],
  ['/dev/stdout', '/proc/self/fd/1'],
  ['/dev/stderr', '/proc/self/fd/2'],
  ['/dev/ptmx', 'pts/ptmx'],
];

/** docker's and runc's defaults for maskedPaths and readonlyPaths. */
export const DEFAULT_MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const DEFAULT_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** Capability numbers (include/uapi/linux/capability.h), CAP_CHOWN = 0 ... CAP_CHECKPOINT_RESTORE = 40. */
export const CAPABILITY_NAMES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT',
  'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE',
  'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

/** docker's default set (moby oci/caps/defaults.go), 0xa80425fb as a mask. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];
