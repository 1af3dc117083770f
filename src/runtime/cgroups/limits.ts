import * as fs from 'node:fs';
import * as os from 'node:os';
import { UsageError } from '../../errors.js';
import { parseBytes } from '../../util/bytes.js';
import { devNumbers } from '../../util/devnum.js';
import { logger } from '../../log.js';

/**
 * Resource limits: docker's flags, the OCI `linux.resources` they become,
 * and the cgroup files each lands in (v1 and v2). Pure: the host side is
 * in host.ts.
 */

/** The limits a container was created (or last updated) with, as `run`/`update` flags set them. */
export interface ResourceOptions {
  /** --memory, bytes. */
  memory?: number;
  /** --memory-swap: memory plus swap, bytes; -1 unlimited. */
  memorySwap?: number;
  /** --cpus × 1e9 (docker's NanoCpus). */
  nanoCpus?: number;
  /** --cpu-shares (relative weight, v1 cpu.shares). */
  cpuShares?: number;
  /** --cpuset-cpus, "0-2,4". */
  cpusetCpus?: string;
  /** --pids-limit; absent or <= 0: unlimited. */
  pidsLimit?: number;
  /** --memory-reservation: a soft limit, bytes. */
  memoryReservation?: number;
  /** --memory-swappiness: 0-100 (v1). */
  memorySwappiness?: number;
  /** --cpu-period and --cpu-quota, µs (CFS), instead of --cpus. */
  cpuPeriod?: number;
  cpuQuota?: number;
  /** --cpuset-mems, "0-1". */
  cpusetMems?: string;
  /** --oom-kill-disable (v1). */
  oomKillDisable?: boolean;
  /** --blkio-weight: 10-1000. */
  blkioWeight?: number;
  /** --device-read-bps, --device-write-bps, --device-read-iops, --device-write-iops: per device node. */
  deviceThrottles?: { path: string; major: number; minor: number; rate: number; kind: 'readBps' | 'writeBps' | 'readIops' | 'writeIops' }[];
}

/** config-linux.md "Control groups": the part tsrun sets. */
export interface OciResources {
  /**
   * reservation: a soft limit (v1 memory.soft_limit_in_bytes, v2 memory.low); swappiness: 0-100, v1 only;
   * disableOOMKiller: v1 memory.oom_control (v2 has no such switch).
   */
  memory?: { limit?: number; swap?: number; reservation?: number; swappiness?: number; disableOOMKiller?: boolean };
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string };
  pids?: { limit: number };
  /** The device cgroup's rules, in order (config-linux.md "Device allowlist"). */
  devices?: OciDeviceRule[];
  /** cgroup v2 only: files of the container's cgroup and their values ("memory.oom.group": "1"). */
  unified?: Record<string, string>;
  blockIO?: OciBlockIo;
}

/** config-linux.md's blockIO: a weight (10-1000), per device or for all, and per-device throttles. */
export interface OciBlockIo {
  weight?: number;
  leafWeight?: number;
  weightDevice?: { major: number; minor: number; weight?: number; leafWeight?: number }[];
  throttleReadBpsDevice?: OciThrottle[];
  throttleWriteBpsDevice?: OciThrottle[];
  throttleReadIOPSDevice?: OciThrottle[];
  throttleWriteIOPSDevice?: OciThrottle[];
}

export interface OciThrottle {
  major: number;
  minor: number;
  rate: number;
}

export interface OciDeviceRule {
  allow: boolean;
  /** a (all), c or b; absent: a. */
  type?: 'a' | 'c' | 'b';
  /** Absent: any (*). */
  major?: number;
  minor?: number;
  /** Some of r, w, m; absent: rwm. */
  access?: string;
}

/**
 * The devices a runtime allows after a spec's own device rules (runc's
 * AllowedDevices): any node may be made, and the default devices (null,
 * zero, full, random, urandom, tty, console, ptmx, the pts, tun) used.
 * config-linux.md makes the runtime supply these, so a spec's rules (podman
 * sends only "deny all") never name them. Behind a "deny all" nothing else
 * can be opened: CAP_MKNOD is a default capability, and without the rules a
 * container's root could make a node for the host's disk and read it.
 */
export const RUNTIME_DEVICE_ALLOWS: OciDeviceRule[] = [
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  ...[
    [1, 3],
    [1, 5],
    [1, 7],
    [1, 8],
    [1, 9],
    [5, 0],
    [5, 1],
    [5, 2],
    [10, 200],
  ].map(([major, minor]) => ({ allow: true, type: 'c' as const, major, minor, access: 'rwm' })),
  { allow: true, type: 'c', major: 136, access: 'rwm' },
];

export const CFS_PERIOD_US = 100_000;
/** docker's minimum for --memory. */
const MIN_MEMORY = 6 * 1024 * 1024;

export interface ResourceFlags {
  memory?: string;
  memorySwap?: string;
  cpus?: string;
  cpuShares?: string;
  cpusetCpus?: string;
  pidsLimit?: string;
  memoryReservation?: string;
  memorySwappiness?: string;
  cpuPeriod?: string;
  cpuQuota?: string;
  cpusetMems?: string;
  oomKillDisable?: boolean;
  blkioWeight?: string;
  deviceReadBps?: string[];
  deviceWriteBps?: string[];
  deviceReadIops?: string[];
  deviceWriteIops?: string[];
}

/** The CPUs the host has: how many this process may run on (docker's NumCPU), and which are online. */
export interface HostCpus {
  count: number;
  online: string;
}

export function hostCpus(): HostCpus {
  let online = '';
  try {
    online = fs.readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
  } catch {
    online = `0-${os.availableParallelism() - 1}`;
  }
  return { count: os.availableParallelism(), online };
}

/** The host's memory nodes, as cpuset.mems takes them ("0" on a machine without NUMA). */
function onlineMemoryNodes(): string {
  try {
    return fs.readFileSync('/sys/devices/system/node/online', 'utf8').trim() || '0';
  } catch {
    return '0';
  }
}

/** "0-2,4" → [0, 1, 2, 4]; a reversed range, or a CPU past the kernel's NR_CPUS bound (8192), is refused. */
function cpuList(list: string): number[] {
  return list.split(',').flatMap((part) => {
    const [lo, hi = lo] = part.split('-').map(Number) as [number, number?];
    if (hi! < lo || hi! >= 8192) throw new UsageError(`invalid value ${list} for cpuset cpus`);
    return Array.from({ length: hi! - lo + 1 }, (_, i) => lo + i);
  });
}

/** The resource flags as ResourceOptions (only those given); `current` is what an `update` starts from. */
export function parseResourceFlags(f: ResourceFlags, current: ResourceOptions = {}, host: () => HostCpus = hostCpus): ResourceOptions {
  const out: ResourceOptions = { ...current };
  if (f.memory !== undefined) {
    const n = parseBytes(f.memory);
    if (n !== 0 && n < MIN_MEMORY) throw new UsageError('Minimum memory limit allowed is 6MB');
    if (n === 0) delete out.memory;
    else out.memory = n;
  }
  if (f.memorySwap !== undefined) {
    const n = f.memorySwap === '-1' ? -1 : parseBytes(f.memorySwap);
    if (n === 0) delete out.memorySwap;
    else out.memorySwap = n;
  }
  if (out.memorySwap !== undefined && out.memorySwap !== -1) {
    if (out.memory === undefined) throw new UsageError('You should always set the Memory limit when using Memoryswap limit');
    if (out.memorySwap < out.memory) throw new UsageError('Minimum memoryswap limit should be larger than memory limit, see usage');
  }
  if (f.cpus !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(f.cpus)) throw new UsageError(`invalid argument "${f.cpus}" for "--cpus" flag`);
    const nano = Math.round(Number(f.cpus) * 1e9);
    if (nano === 0) delete out.nanoCpus;
    else if (nano < 1e7 || nano > host().count * 1e9) {
      const n = host().count;
      throw new UsageError(`Range of CPUs is from 0.01 to ${n}.00, as there are only ${n} CPUs available`);
    } else out.nanoCpus = nano;
  }
  if (f.cpuShares !== undefined) {
    const n = Number(f.cpuShares);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`invalid argument "${f.cpuShares}" for "--cpu-shares" flag`);
    if (n === 0) delete out.cpuShares;
    else out.cpuShares = Math.min(Math.max(n, 2), 262144);
  }
  if (f.cpusetCpus !== undefined) {
    if (f.cpusetCpus === '') delete out.cpusetCpus;
    else if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(f.cpusetCpus)) throw new UsageError(`invalid value ${f.cpusetCpus} for cpuset cpus`);
    else {
      // docker's message, before the kernel's ERANGE from cpuset.cpus.
      const { online } = host();
      const have = new Set(cpuList(online));
      if (!cpuList(f.cpusetCpus).every((c) => have.has(c))) throw new UsageError(`Requested CPUs are not available - requested ${f.cpusetCpus}, available: ${online}`);
      out.cpusetCpus = f.cpusetCpus;
    }
  }
  if (f.pidsLimit !== undefined) {
    const n = Number(f.pidsLimit);
    if (!Number.isInteger(n)) throw new UsageError(`invalid argument "${f.pidsLimit}" for "--pids-limit" flag`);
    if (n <= 0) delete out.pidsLimit;
    else out.pidsLimit = n;
  }
  return moreResourceFlags(f, out);
}

/** docker's less used limits (--memory-reservation, --cpu-period/--cpu-quota, --blkio-weight, ...), with its checks and words. */
function moreResourceFlags(f: ResourceFlags, out: ResourceOptions): ResourceOptions {
  const int = (flag: string, v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new UsageError(`invalid argument "${v}" for "${flag}" flag`);
    return n;
  };
  const set = <K extends keyof ResourceOptions>(key: K, value: ResourceOptions[K] | undefined) => {
    if (value === undefined) delete out[key];
    else out[key] = value;
  };
  if (f.memoryReservation !== undefined) {
    const n = parseBytes(f.memoryReservation);
    if (n !== 0 && n < MIN_MEMORY) throw new UsageError('Minimum memory reservation allowed is 6MB');
    set('memoryReservation', n || undefined);
  }
  if (out.memoryReservation !== undefined && out.memory !== undefined && out.memory < out.memoryReservation) {
    throw new UsageError('Minimum memory limit can not be less than memory reservation limit, see usage');
  }
  if (f.memorySwappiness !== undefined) {
    const n = int('--memory-swappiness', f.memorySwappiness);
    if (n < -1 || n > 100) throw new UsageError(`Invalid value: ${n}, valid memory swappiness range is 0-100`);
    set('memorySwappiness', n === -1 ? undefined : n);
  }
  if (f.cpuPeriod !== undefined) {
    const n = int('--cpu-period', f.cpuPeriod);
    if (n !== 0 && (n < 1000 || n > 1_000_000)) throw new UsageError('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
    set('cpuPeriod', n || undefined);
  }
  if (f.cpuQuota !== undefined) {
    const n = int('--cpu-quota', f.cpuQuota);
    if (n > 0 && n < 1000) throw new UsageError('CPU cfs quota can not be less than 1ms (i.e. 1000)');
    set('cpuQuota', n > 0 ? n : undefined);
  }
  if (out.nanoCpus !== undefined && out.cpuPeriod !== undefined) throw new UsageError('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (out.nanoCpus !== undefined && out.cpuQuota !== undefined) throw new UsageError('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  if (f.cpusetMems !== undefined) {
    if (f.cpusetMems !== '' && !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(f.cpusetMems)) throw new UsageError(`invalid value ${f.cpusetMems} for cpuset mems`);
    // docker's message, before the kernel's EINVAL from cpuset.mems.
    const nodes = onlineMemoryNodes();
    if (f.cpusetMems !== '' && !cpuList(f.cpusetMems).every((n) => cpuList(nodes).includes(n))) throw new UsageError(`Requested memory nodes are not available - requested ${f.cpusetMems}, available: ${nodes}`);
    set('cpusetMems', f.cpusetMems || undefined);
  }
  if (f.oomKillDisable !== undefined) set('oomKillDisable', f.oomKillDisable || undefined);
  if (f.blkioWeight !== undefined) {
    const n = int('--blkio-weight', f.blkioWeight);
    if (n !== 0 && (n < 10 || n > 1000)) throw new UsageError(`Range of blkio weight is from 10 to 1000, got ${n}`);
    set('blkioWeight', n || undefined);
  }
  const throttles = [
    ['deviceReadBps', '--device-read-bps', 'readBps'],
    ['deviceWriteBps', '--device-write-bps', 'writeBps'],
    ['deviceReadIops', '--device-read-iops', 'readIops'],
    ['deviceWriteIops', '--device-write-iops', 'writeIops'],
  ] as const;
  if (throttles.some(([key]) => f[key] !== undefined)) {
    const kept = (out.deviceThrottles ?? []).filter((t) => !throttles.some(([key, , kind]) => f[key] !== undefined && t.kind === kind));
    const given = throttles.flatMap(([key, flag, kind]) => (f[key] ?? []).map((spec) => deviceThrottle(flag, kind, spec)));
    set('deviceThrottles', [...kept, ...given].length ? [...kept, ...given] : undefined);
  }
  return out;
}

/** "/dev/sda:1mb" (bytes a second; iops: a count): the block device by its numbers, as docker resolves them. */
function deviceThrottle(flag: string, kind: NonNullable<ResourceOptions['deviceThrottles']>[number]['kind'], spec: string): NonNullable<ResourceOptions['deviceThrottles']>[number] {
  const colon = spec.lastIndexOf(':');
  const [path, value] = colon > 0 ? [spec.slice(0, colon), spec.slice(colon + 1)] : ['', ''];
  if (!path.startsWith('/') || value === '') throw new UsageError(`invalid argument "${spec}" for "${flag}" flag: use DEVICE:RATE, as /dev/sda:1mb`);
  const rate = kind.endsWith('Bps') ? parseBytes(value) : Number(value);
  if (!Number.isSafeInteger(rate) || rate < 0) throw new UsageError(`invalid argument "${spec}" for "${flag}" flag: the rate must be a whole number`);
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (err) {
    throw new UsageError(`${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!st.isBlockDevice()) throw new UsageError(`${flag} ${path}: not a block device`);
  return { path, ...devNumbers(st.rdev), rate, kind };
}

/** The flags' OCI form. Without --memory-swap, docker gives as much swap as memory (swap = 2 × memory). */
export function ociResources(r: ResourceOptions): OciResources {
  const out: OciResources = {};
  const memory: NonNullable<OciResources['memory']> = {};
  if (r.memory !== undefined) Object.assign(memory, { limit: r.memory, swap: r.memorySwap ?? 2 * r.memory });
  else if (r.memorySwap === -1) memory.swap = -1;
  if (r.memoryReservation !== undefined) memory.reservation = r.memoryReservation;
  if (r.memorySwappiness !== undefined) memory.swappiness = r.memorySwappiness;
  if (r.oomKillDisable) memory.disableOOMKiller = true;
  if (Object.keys(memory).length) out.memory = memory;
  const cpu: NonNullable<OciResources['cpu']> = {};
  if (r.nanoCpus !== undefined) {
    cpu.period = CFS_PERIOD_US;
    cpu.quota = Math.round((r.nanoCpus * CFS_PERIOD_US) / 1e9);
  }
  if (r.cpuPeriod !== undefined) cpu.period = r.cpuPeriod;
  if (r.cpuQuota !== undefined) cpu.quota = r.cpuQuota;
  if (r.cpuShares !== undefined) cpu.shares = r.cpuShares;
  if (r.cpusetCpus !== undefined) cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems !== undefined) cpu.mems = r.cpusetMems;
  if (Object.keys(cpu).length) out.cpu = cpu;
  if (r.pidsLimit !== undefined) out.pids = { limit: r.pidsLimit };
  const io: OciBlockIo = {};
  if (r.blkioWeight !== undefined) io.weight = r.blkioWeight;
  const field = { readBps: 'throttleReadBpsDevice', writeBps: 'throttleWriteBpsDevice', readIops: 'throttleReadIOPSDevice', writeIops: 'throttleWriteIOPSDevice' } as const;
  for (const t of r.deviceThrottles ?? []) (io[field[t.kind]] ??= []).push({ major: t.major, minor: t.minor, rate: t.rate });
  if (Object.keys(io).length) out.blockIO = io;
  return out;
}

/**
 * The device rules of a spec, completed as runtime.md asks: its own, then
 * the runtime's defaults, then each linux.devices entry; behind a "deny
 * all" unless the spec starts with an "a" rule of its own (runc's starting
 * point: a spec without device rules gets only the defaults, never the host's devices).
 */
export function cgroupResources(resources: OciResources | undefined, devices: { type: string; major?: number; minor?: number }[] = []): OciResources {
  const given = resources?.devices ?? [];
  // A node the spec's rules already allow keeps their access (docker's --device /dev/x:/dev/x:r); others get rwm.
  const ruled = (d: { type: string; major?: number; minor?: number }) => given.some((r) => r.allow && r.type === d.type && r.major === d.major && r.minor === d.minor);
  const own = devices.filter((d) => (d.type === 'c' || d.type === 'b') && !ruled(d)).map((d) => ({ allow: true, type: d.type as 'c' | 'b', major: d.major, minor: d.minor, access: 'rwm' }));
  const start: OciDeviceRule[] = (given[0]?.type ?? 'a') === 'a' && given.length > 0 ? [] : [{ allow: false, access: 'rwm' }];
  return { ...resources, devices: [...start, ...given, ...RUNTIME_DEVICE_ALLOWS, ...own] };
}

/** One write: `file` in the container's cgroup of `controller` (v2: all in one dir). */
export interface CgroupWrite {
  controller: 'memory' | 'cpu' | 'cpuset' | 'pids' | 'devices' | 'blkio';
  file: string;
  value: string;
}

/**
 * Where each limit goes. Unset limits are written as "unlimited", so an
 * `update` that lifts one, or a restart after it, leaves nothing behind.
 * v1 memory: the limit before memsw (memsw may never be below it; host.ts
 * retries in the other order when a limit grows).
 */
export function cgroupWrites(res: OciResources, version: 1 | 2, onlyGiven = false): CgroupWrite[] {
  const base = baseWrites(res, version);
  // A new cgroup holds the kernel's defaults already: only what was asked for.
  const kept = onlyGiven ? base.filter((w) => (w.controller === 'memory' ? res.memory : w.controller === 'pids' ? res.pids : res.cpu) !== undefined) : base;
  return [...kept, ...oomWrites(res, version), ...blockIoWrites(res.blockIO, version), ...deviceWrites(res.devices ?? [], version), ...unifiedWrites(res.unified ?? {}, version)];
}

/** memory.disableOOMKiller: v1's memory.oom_control; v2 has no switch for it (runc ignores it there too). */
function oomWrites(res: OciResources, version: 1 | 2): CgroupWrite[] {
  const disable = res.memory?.disableOOMKiller;
  if (disable === undefined) return [];
  if (version === 2) {
    if (disable) logger('cgroups').warn({ field: 'linux.resources.memory.disableOOMKiller' }, 'cgroup v2 cannot disable the OOM killer: ignored');
    return [];
  }
  return [{ controller: 'memory', file: 'memory.oom_control', value: disable ? '1' : '0' }];
}

/**
 * blockIO as runc writes it: weights to BFQ's files (blkio.bfq.weight,
 * v2 io.bfq.weight; host.ts falls back to blkio.weight, or to v2's
 * io.weight on its 1-10000 scale, where BFQ is not there), the v1
 * blkio.throttle.* files and v2 io.max ("MAJ:MIN rbps=N"), one device a
 * write. A weight outside 10-1000 (BFQ's range) is refused, and so is a
 * leaf weight (gone from the kernel with CFQ).
 */
function blockIoWrites(io: OciBlockIo | undefined, version: 1 | 2): CgroupWrite[] {
  if (!io) return [];
  const w: CgroupWrite[] = [];
  const weight = (n: number | undefined, what: string) => {
    if (n !== undefined && n !== 0 && !(Number.isInteger(n) && n >= 10 && n <= 1000)) throw new UsageError(`linux.resources.blockIO.${what} must be from 10 to 1000: ${n}`);
    return n !== undefined && n !== 0 ? n : undefined;
  };
  const dev = (d: { major: number; minor: number }, what: string) => {
    if (!Number.isInteger(d.major) || !Number.isInteger(d.minor) || d.major < 0 || d.minor < 0) throw new UsageError(`linux.resources.blockIO.${what}: a device needs its major and minor numbers`);
    return `${d.major}:${d.minor}`;
  };
  const bfq = version === 1 ? 'blkio.bfq.weight' : 'io.bfq.weight';
  const all = weight(io.weight, 'weight');
  if (all !== undefined) w.push({ controller: 'blkio', file: bfq, value: String(all) });
  for (const d of io.weightDevice ?? []) {
    if (d.leafWeight) throw new UsageError('linux.resources.blockIO.weightDevice.leafWeight is not supported (leaf weights went with CFQ)');
    const n = weight(d.weight, 'weightDevice.weight');
    if (n !== undefined) w.push({ controller: 'blkio', file: version === 1 ? 'blkio.bfq.weight_device' : bfq, value: `${dev(d, 'weightDevice')} ${n}` });
  }
  const throttles = [
    ['throttleReadBpsDevice', 'read_bps_device', 'rbps'],
    ['throttleWriteBpsDevice', 'write_bps_device', 'wbps'],
    ['throttleReadIOPSDevice', 'read_iops_device', 'riops'],
    ['throttleWriteIOPSDevice', 'write_iops_device', 'wiops'],
  ] as const;
  for (const [field, v1, v2] of throttles) {
    for (const t of io[field] ?? []) {
      if (!Number.isInteger(t.rate) || t.rate < 0) throw new UsageError(`linux.resources.blockIO.${field}: rate must be a whole number of ${v2.endsWith('bps') ? 'bytes' : 'operations'} a second`);
      // 0 lifts the throttle: v1 takes 0, v2 "max".
      w.push(version === 1 ? { controller: 'blkio', file: `blkio.throttle.${v1}`, value: `${dev(t, field)} ${t.rate}` } : { controller: 'blkio', file: 'io.max', value: `${dev(t, field)} ${v2}=${t.rate === 0 ? 'max' : t.rate}` });
    }
  }
  return w;
}

/**
 * linux.resources.unified (config-linux.md): each key a file of the
 * container's v2 cgroup, written as given, as runc does. A path, or one of
 * the cgroup.* files that move processes or controllers, is refused.
 */
function unifiedWrites(unified: Record<string, string>, version: 1 | 2): CgroupWrite[] {
  const keys = Object.keys(unified);
  if (keys.length === 0) return [];
  if (version === 1) throw new UsageError('linux.resources.unified needs cgroup v2; this host has v1');
  return keys.map((file) => {
    if (!/^[a-z]+\.[a-z0-9_.]+$/.test(file) || file.startsWith('cgroup.')) throw new UsageError(`linux.resources.unified: ${JSON.stringify(file)} is not a cgroup v2 controller file`);
    // v2 has one directory for every controller: 'memory' only names it.
    return { controller: 'memory', file, value: String(unified[file]) };
  });
}

/**
 * v1 devices.allow/devices.deny lines, in the rules' order. v2 has no such
 * files: host.ts attaches the rules as an eBPF program (device-filter.ts).
 */
function deviceWrites(rules: OciDeviceRule[], version: 1 | 2): CgroupWrite[] {
  if (version === 2) return [];
  return rules.map((r) => {
    const type = r.type ?? 'a';
    const value = type === 'a' ? 'a' : `${type} ${r.major ?? '*'}:${r.minor ?? '*'} ${r.access ?? 'rwm'}`;
    return { controller: 'devices', file: r.allow ? 'devices.allow' : 'devices.deny', value };
  });
}

function baseWrites(res: OciResources, version: 1 | 2): CgroupWrite[] {
  const w: CgroupWrite[] = [];
  // runc's reading of the OCI numbers: a limit, quota or share of 0 or -1 means none set.
  const set = (n: number | undefined) => (n !== undefined && n > 0 ? n : undefined);
  const mem = res.memory ?? {};
  const limit = set(mem.limit);
  const quota = set(res.cpu?.quota);
  const shares = set(res.cpu?.shares);
  const period = set(res.cpu?.period) ?? CFS_PERIOD_US;
  const cpuset = (c: CgroupWrite['controller']) => {
    if (res.cpu?.cpus !== undefined) w.push({ controller: c, file: 'cpuset.cpus', value: res.cpu.cpus });
    if (res.cpu?.mems !== undefined) w.push({ controller: c, file: 'cpuset.mems', value: res.cpu.mems });
  };
  const reservation = set(mem.reservation);
  // The kernel's own swappiness stays unless one is asked for: there is no value meaning "unset" to write back.
  const swappiness = mem.swappiness ?? undefined;
  if (swappiness !== undefined && !(Number.isInteger(swappiness) && swappiness >= 0 && swappiness <= 100)) {
    throw new UsageError(`linux.resources.memory.swappiness must be from 0 to 100: ${swappiness}`);
  }
  if (version === 1) {
    w.push({ controller: 'memory', file: 'memory.limit_in_bytes', value: String(limit ?? -1) });
    // swap 0 is none set too (runc's), not a memsw of 0 bytes, which the kernel refuses under the limit.
    w.push({ controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: String(set(mem.swap) ?? -1) });
    w.push({ controller: 'memory', file: 'memory.soft_limit_in_bytes', value: String(reservation ?? -1) });
    if (swappiness !== undefined) w.push({ controller: 'memory', file: 'memory.swappiness', value: String(swappiness) });
    w.push({ controller: 'cpu', file: 'cpu.cfs_period_us', value: String(period) });
    w.push({ controller: 'cpu', file: 'cpu.cfs_quota_us', value: String(quota ?? -1) });
    w.push({ controller: 'cpu', file: 'cpu.shares', value: String(shares ?? 1024) });
    cpuset('cpuset');
    w.push({ controller: 'pids', file: 'pids.max', value: res.pids && res.pids.limit > 0 ? String(res.pids.limit) : 'max' });
    return w;
  }
  // cgroup v2 takes "max" for none: -1 is EINVAL in memory.max and cpu.max.
  w.push({ controller: 'memory', file: 'memory.max', value: limit !== undefined ? String(limit) : 'max' });
  // swap 0 is none set, as on v1 (runc's reading), not no swap.
  const swap = set(mem.swap) !== undefined && limit !== undefined ? String(Math.max(0, mem.swap! - limit)) : 'max';
  w.push({ controller: 'memory', file: 'memory.swap.max', value: swap });
  w.push({ controller: 'memory', file: 'memory.low', value: String(reservation ?? 0) });
  if (swappiness !== undefined) throw new UsageError('linux.resources.memory.swappiness needs cgroup v1: v2 has no swappiness of its own for a cgroup');
  w.push({ controller: 'cpu', file: 'cpu.max', value: `${quota ?? 'max'} ${period}` });
  // No shares asked for: the kernel's default weight (100), not the conversion of v1's default 1024 (39).
  w.push({ controller: 'cpu', file: 'cpu.weight', value: String(shares !== undefined ? sharesToWeight(shares) : 100) });
  cpuset('cpuset');
  w.push({ controller: 'pids', file: 'pids.max', value: res.pids && res.pids.limit > 0 ? String(res.pids.limit) : 'max' });
  return w;
}

/** runc's conversion of cpu.shares [2, 262144] to cpu.weight [1, 10000] (shares outside it clamped, as the kernel clamps them on v1). */
export function sharesToWeight(shares: number): number {
  const s = Math.min(Math.max(shares, 2), 262144);
  return 1 + Math.floor(((s - 2) * 9999) / 262142);
}

/**
 * docker's CPU %: the container's CPU time over the host's (both in ns)
 * between two samples, scaled by the number of online CPUs.
 */
export function cpuPercent(cpuDelta: number, systemDelta: number, onlineCpus: number): number {
  if (cpuDelta <= 0 || systemDelta <= 0) return 0;
  return (cpuDelta / systemDelta) * onlineCpus * 100;
}
