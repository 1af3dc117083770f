import * as fs from 'node:fs';
import * as path from 'node:path';
import { RuntimeError } from '../../errors.js';
import { loadNative } from '../../native/binding.js';
import { someMountinfo } from '../../store/mountinfo.js';
import { deviceFilterProgram } from './device-filter.js';
import { type CgroupWrite, type OciResources, cgroupWrites } from './limits.js';

/**
 * The host's cgroups: which version, where each controller is mounted, and
 * the container's cgroup directories under them (`<mount>/<cgroupsPath>`,
 * cgroupsPath = "tsrun/<id>"). TypeScript creates them and writes the
 * limits before the monitor clones; the monitor moves the process in
 * (plan `cgroup` records) and removes them after the exit.
 */

export type Controller = 'memory' | 'cpu' | 'cpuacct' | 'cpuset' | 'pids' | 'blkio' | 'freezer' | 'devices' | 'name=systemd' | 'unified';
const V1_CONTROLLERS: Controller[] = ['memory', 'cpu', 'cpuacct', 'cpuset', 'pids', 'blkio', 'freezer', 'devices'];
/**
 * The hierarchies of a v1 host that carry no limits but say whose a process
 * is: systemd's (name=systemd), and a hybrid host's empty cgroup2
 * ("unified"). A container joins them too, as runc's does, so it is not
 * counted as part of its caller's unit (containerd.service, conmon's
 * scope), which a stop of that unit with KillMode=control-group would kill.
 */
const MEMBERSHIP: Controller[] = ['name=systemd', 'unified'];

export type CgroupHost =
  | { version: 1; mounts: Partial<Record<Controller, string>> }
  | { version: 2; root: string; controllers: string[] };

/**
 * cgroup v2 when /sys/fs/cgroup itself is cgroup2 (unified); otherwise v1,
 * each controller where its hierarchy is mounted, with name=systemd's and
 * a hybrid host's cgroup2 (MEMBERSHIP) where they are.
 */
export function parseCgroupHost(mountinfo: string, readControllers: (root: string) => string = readV2Controllers): CgroupHost {
  const mounts: Partial<Record<Controller, string>> = {};
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fields = line.slice(0, sep).split(' ');
    const [fstype, , superOpts] = line.slice(sep + 3).split(' ');
    const mountPoint = unescape(fields[4] ?? '');
    if (fstype === 'cgroup2' && mountPoint === '/sys/fs/cgroup') {
      return { version: 2, root: mountPoint, controllers: readControllers(mountPoint).split(/\s+/).filter(Boolean) };
    }
    if (fields[3] !== '/') continue;
    if (fstype === 'cgroup2') mounts.unified ??= mountPoint;
    if (fstype !== 'cgroup') continue;
    for (const opt of (superOpts ?? '').split(',')) {
      if ((V1_CONTROLLERS as string[]).includes(opt) || opt === 'name=systemd') mounts[opt as Controller] ??= mountPoint;
    }
  }
  return { version: 1, mounts };
}

const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

function readV2Controllers(root: string): string {
  try {
    return fs.readFileSync(path.join(root, 'cgroup.controllers'), 'utf8');
  } catch {
    return '';
  }
}

let cached: CgroupHost | undefined;
/** The host's cgroup mounts: they do not change under a command, so the mountinfo a mount check read serves. */
export function cgroupHost(): CgroupHost {
  cached ??= parseCgroupHost(someMountinfo());
  return cached;
}

export const cgroupsPathFor = (id: string) => `tsrun/${id}`;

/** The host's cgroupfs cannot be written at all (tsrun inside another container, say). */
export class CgroupsUnavailableError extends RuntimeError {}

/** The container's cgroup directory for each controller (v2: the same one for all). */
export function cgroupDirs(host: CgroupHost, cgroupsPath: string): Partial<Record<Controller, string>> {
  if (host.version === 2) {
    const dir = path.join(host.root, cgroupsPath);
    return Object.fromEntries(V1_CONTROLLERS.map((c) => [c, dir]));
  }
  const out: Partial<Record<Controller, string>> = {};
  for (const c of [...V1_CONTROLLERS, ...MEMBERSHIP]) {
    const m = host.mounts[c];
    if (m) out[c] = path.join(m, cgroupsPath);
  }
  return out;
}

/** Each distinct directory once (v1 controllers may share a hierarchy: cpu,cpuacct). */
export function uniqueDirs(dirs: Partial<Record<Controller, string>>): string[] {
  return [...new Set(Object.values(dirs))];
}

export interface ContainerCgroup {
  dirs: Partial<Record<Controller, string>>;
  /**
   * The files a new process joins through (plan `cgroup` records): on v1 each
   * dir's `tasks`, which the process writes "0" into itself (selfJoin: one
   * thread moving itself skips the global threadgroup lock and its ~10-20 ms
   * RCU grace period); on v2 cgroup.procs, which the monitor writes the pid into.
   */
  joinFiles: string[];
  selfJoin: boolean;
  /**
   * A v1 host's cgroup2 (MEMBERSHIP: no limits) is joined by the monitor
   * after it reports the process started (plan `cgrouplate`): its
   * cgroup.procs write waits out an RCU grace period, ~10-20 ms nobody
   * needs to wait for.
   */
  lateJoinFiles: string[];
  /** memory.oom_control (v1) or memory.events (v2), read by the monitor at the exit. */
  oomFile?: string;
  /** The levels above the container's own that setupCgroup made (a systemd path's slices): removeMadeCgroups takes them back once empty. */
  made?: string[];
}

function joinFilesOf(host: CgroupHost, dirs: ContainerCgroup['dirs']): Pick<ContainerCgroup, 'joinFiles' | 'selfJoin' | 'lateJoinFiles'> {
  const v1 = host.version === 1;
  if (!v1) return { joinFiles: uniqueDirs(dirs).map((d) => path.join(d, 'cgroup.procs')), selfJoin: false, lateJoinFiles: [] };
  const { unified, ...rest } = dirs;
  return { joinFiles: uniqueDirs(rest).map((d) => path.join(d, 'tasks')), selfJoin: true, lateJoinFiles: unified ? [path.join(unified, 'cgroup.procs')] : [] };
}

function describe(host: CgroupHost, cgroupsPath: string): ContainerCgroup {
  const dirs = cgroupDirs(host, cgroupsPath);
  const mem = dirs.memory;
  return {
    dirs,
    ...joinFilesOf(host, dirs),
    oomFile: mem ? path.join(mem, host.version === 1 ? 'memory.oom_control' : 'memory.events') : undefined,
  };
}

/**
 * Creates the container's cgroups (again, if a killed monitor left them)
 * and writes its limits; every container gets them, limits or not, so
 * `stats` and `top` work.
 */
export function setupCgroup(host: CgroupHost, cgroupsPath: string, res: OciResources): ContainerCgroup {
  const cg = describe(host, cgroupsPath);
  const made: string[] = [];
  if (host.version === 2) enableV2Controllers(host, cgroupsPath, made);
  let fresh = true;
  for (const dir of uniqueDirs(cg.dirs)) {
    const base = host.version === 1 ? baseOf(dir, cgroupsPath) : host.root;
    fresh = mkdirCgroup(base, cgroupsPath, host.version === 1 && dir === cg.dirs.cpuset, made) && fresh;
  }
  // A new cgroup already has the kernel's defaults; only one left behind may hold old limits.
  if (!fresh || Object.keys(res).length > 0) applyLimits(host, cg.dirs, res, fresh);
  const own = new Set(uniqueDirs(cg.dirs));
  return { ...cg, made: made.filter((d) => !own.has(d)) };
}

/** The levels a setupCgroup made above a container's cgroup, deepest first, each once empty (another container's still in use is left). */
export function removeMadeCgroups(made: string[]): void {
  for (const dir of [...made].sort((a, b) => b.length - a.length)) {
    try {
      fs.rmdirSync(dir);
    } catch {
      // in use by another container, or gone
    }
  }
}

/** The cgroups of an existing container, for exec, stats, top and update (only those that exist). */
export function existingCgroup(host: CgroupHost, cgroupsPath: string): ContainerCgroup {
  const cg = describe(host, cgroupsPath);
  const dirs = Object.fromEntries(Object.entries(cg.dirs).filter(([, d]) => fs.existsSync(d))) as ContainerCgroup['dirs'];
  return { dirs, ...joinFilesOf(host, dirs), oomFile: dirs.memory ? cg.oomFile : undefined };
}

const baseOf = (dir: string, cgroupsPath: string) => dir.slice(0, dir.length - cgroupsPath.length - 1);

/**
 * mkdir each level; a v1 cpuset level starts with empty cpus and mems, so
 * copy them from its parent. Whether the last level is new.
 */
function mkdirCgroup(base: string, cgroupsPath: string, isCpuset: boolean, made: string[]): boolean {
  let dir = base;
  let created = false;
  for (const part of cgroupsPath.split('/')) {
    const parent = dir;
    dir = path.join(dir, part);
    try {
      fs.mkdirSync(dir);
      created = true;
      made.push(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') throw new CgroupsUnavailableError(`cannot create cgroup ${dir}: ${(err as Error).message}`, { cause: err });
      if (code !== 'EEXIST') throw new RuntimeError(`cannot create cgroup ${dir}: ${(err as Error).message}`, { cause: err });
      created = false;
    }
    if (isCpuset) {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        if (read(path.join(dir, f)).trim() === '') write(path.join(dir, f), read(path.join(parent, f)).trim());
      }
    }
  }
  return created;
}

/**
 * Delegates the controllers (memory, cpu, cpuset, pids, and io for
 * blockIO) down to the container's cgroup: each level above it
 * (mkdirCgroup makes the last), with those that level has. The kernel
 * refuses a whole subtree_control write for one controller it cannot give,
 * so on a refusal each goes alone (runc's way): one missing controller
 * costs its own limits, not all of them.
 */
function enableV2Controllers(host: Extract<CgroupHost, { version: 2 }>, cgroupsPath: string, made: string[]): void {
  const parts = cgroupsPath.split('/');
  let dir = host.root;
  for (const [i, part] of parts.entries()) {
    const have = readV2Controllers(dir).split(/\s+/);
    const want = ['memory', 'cpu', 'cpuset', 'pids', 'io'].filter((c) => have.includes(c));
    const enable = (list: string[]) => write(path.join(dir, 'cgroup.subtree_control'), list.map((c) => `+${c}`).join(' '));
    if (want.length > 0) {
      try {
        enable(want);
      } catch {
        for (const c of want) {
          try {
            enable([c]);
          } catch {
            // this one cannot be delegated here: its limits then fail, with the file named
          }
        }
      }
    }
    if (i === parts.length - 1) break;
    dir = path.join(dir, part);
    try {
      fs.mkdirSync(dir);
      made.push(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/** Writes the limits into the container's cgroups (at setup, and for `update`). */
export function applyLimits(host: CgroupHost, dirs: ContainerCgroup['dirs'], res: OciResources, onlyGiven = false): void {
  const writes = cgroupWrites(res, host.version, onlyGiven);
  const memory = writes.filter((w) => w.controller === 'memory');
  const put = (w: CgroupWrite) => {
    const dir = dirs[w.controller];
    if (!dir) return;
    const file = path.join(dir, w.file);
    // memsw exists only with swap accounting; v2's swap.max only with swap.
    if ((w.file === 'memory.memsw.limit_in_bytes' || w.file === 'memory.swap.max') && !fs.existsSync(file)) return;
    // Weights go to BFQ's files; without BFQ, runc's fallback: v1's blkio.weight, v2's io.weight on its own scale.
    if (/\.bfq\.weight/.test(w.file) && !fs.existsSync(file)) {
      const [other, value] = host.version === 1 ? [w.file.replace('.bfq', ''), w.value] : ['io.weight', ioWeight(w.value)];
      if (!fs.existsSync(path.join(dir, other))) throw new RuntimeError(`linux.resources.blockIO weights need an I/O scheduler with weights (BFQ); this host has none (no ${w.file} or ${other})`);
      write(path.join(dir, other), value);
      return;
    }
    write(file, w.value);
  };
  try {
    memory.forEach(put);
  } catch (err) {
    // A limit may never exceed memsw: growing both goes memsw first.
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw wrap(err);
    try {
      [...memory].reverse().forEach(put);
    } catch (e) {
      throw wrap(e);
    }
  }
  const rest = writes.filter((w) => w.controller !== 'memory');
  const deviceRules = rest.filter((w) => w.controller === 'devices');
  try {
    rest.filter((w) => w.controller !== 'devices').forEach(put);
    if (dirs.devices && host.version === 1) writeDeviceRules(dirs.devices, deviceRules);
    if (dirs.devices && host.version === 2 && res.devices) {
      loadNative().attachDeviceFilter({ cgroup: dirs.devices, program: deviceFilterProgram(res.devices) });
    }
  } catch (err) {
    throw wrap(err);
  }
}

/** A BFQ weight (10-1000) as v2's io.weight takes it (1-10000, 100 by default): runc's ConvertBlkIOToIOWeightValue. */
function ioWeight(bfq: string): string {
  const m = /^(?:(\d+:\d+) )?(\d+)$/.exec(bfq)!;
  const weight = 1 + Math.floor(((Number(m[2]) - 10) * 9999) / 990);
  return m[1] ? `${m[1]} ${weight}` : `default ${weight}`;
}

/** The device rules in order, each file opened once: the kernel takes one rule a write(2). */
function writeDeviceRules(dir: string, rules: CgroupWrite[]): void {
  const fds = new Map<string, number>();
  try {
    for (const r of rules) {
      let fd = fds.get(r.file);
      if (fd === undefined) fds.set(r.file, (fd = fs.openSync(path.join(dir, r.file), 'w')));
      fs.writeSync(fd, r.value);
    }
  } finally {
    for (const fd of fds.values()) fs.closeSync(fd);
  }
}

const wrap = (err: unknown) => new RuntimeError(`setting a cgroup limit: ${(err as Error).message}`, { cause: err });

/** Removes the container's cgroups (after a killed monitor, and at rm); retried briefly while the last tasks leave. */
export async function removeCgroup(host: CgroupHost, cgroupsPath: string): Promise<void> {
  for (const dir of uniqueDirs(cgroupDirs(host, cgroupsPath))) {
    for (let tries = 0; ; tries++) {
      try {
        fs.rmdirSync(dir);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // A read-only cgroupfs answers EROFS even for a dir that is not there (it could not be made).
        if (code === 'ENOENT' || (code === 'EROFS' && !fs.existsSync(dir))) break;
        if (code !== 'EBUSY' || tries >= 100) throw new RuntimeError(`cannot remove cgroup ${dir}: ${(err as Error).message}`, { cause: err });
        // Each try: what was forked meanwhile, and the cgroups made under the container's own (systemd in it).
        killCgroup(dir);
        removeChildren(dir);
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }
}

/**
 * Kills what is left in a cgroup after the init (a container sharing a PID
 * namespace: the end of its own kills everything in it), as runc's destroy:
 * cgroup.kill on v2 (Linux 5.14), else SIGKILL to each pid of cgroup.procs.
 */
function killCgroup(dir: string): void {
  try {
    write(path.join(dir, 'cgroup.kill'), '1');
    return;
  } catch {
    // v1, or an older kernel
  }
  for (const pid of tryRead(path.join(dir, 'cgroup.procs')).split('\n').filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/** The cgroups under a container's own, deepest first (an rmdir of one with children is EBUSY); what stays busy stays. */
function removeChildren(dir: string, depth = 0): void {
  if (depth > 32) return;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const sub = path.join(dir, e.name);
    killCgroup(sub);
    removeChildren(sub, depth + 1);
    try {
      fs.rmdirSync(sub);
    } catch {
      // busy still: the caller's retry says so
    }
  }
}

export function read(file: string): string {
  return fs.readFileSync(file, 'utf8');
}

function write(file: string, value: string): void {
  fs.writeFileSync(file, value);
}

/** The pids in the container's cgroup (host pid namespace). */
export function cgroupPids(cg: ContainerCgroup): number[] {
  const dir = cg.dirs.pids ?? cg.dirs.memory ?? Object.values(cg.dirs)[0];
  if (!dir) return [];
  try {
    return read(path.join(dir, 'cgroup.procs')).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export interface CgroupSample {
  /** Total CPU time used, ns. */
  cpuNs: number;
  memUsage: number;
  /** undefined: unlimited. */
  memLimit?: number;
  pids: number;
  /** Bytes read and written on block devices (docker's BLOCK I/O). */
  blockRead: number;
  blockWrite: number;
}

const num = (s: string) => {
  const n = Number(s.trim());
  return Number.isFinite(n) ? n : 0;
};
const tryRead = (file: string | undefined) => {
  if (!file) return '';
  try {
    return read(file);
  } catch {
    return '';
  }
};
const statField = (text: string, key: string) => num(new RegExp(`^${key} (\\d+)$`, 'm').exec(text)?.[1] ?? '0');

/** One sample of the counters `stats` shows (docker's: memory without the inactive page cache). */
export function sampleCgroup(host: CgroupHost, cg: ContainerCgroup): CgroupSample {
  const d = cg.dirs;
  const j = (dir: string | undefined, f: string) => (dir ? path.join(dir, f) : undefined);
  if (host.version === 1) {
    const usage = num(tryRead(j(d.memory, 'memory.usage_in_bytes')));
    const inactive = statField(tryRead(j(d.memory, 'memory.stat')), 'total_inactive_file');
    const limit = num(tryRead(j(d.memory, 'memory.limit_in_bytes')));
    return {
      cpuNs: num(tryRead(j(d.cpuacct, 'cpuacct.usage'))),
      memUsage: Math.max(0, usage - inactive),
      memLimit: limit > 0 && limit < 2 ** 62 ? limit : undefined,
      pids: num(tryRead(j(d.pids, 'pids.current'))),
      ...blockIo(tryRead(j(d.blkio, 'blkio.throttle.io_service_bytes_recursive')), /^\S+ (Read|Write) (\d+)$/gm),
    };
  }
  const usage = num(tryRead(j(d.memory, 'memory.current')));
  const inactive = statField(tryRead(j(d.memory, 'memory.stat')), 'inactive_file');
  const max = tryRead(j(d.memory, 'memory.max')).trim();
  return {
    cpuNs: statField(tryRead(j(d.cpu, 'cpu.stat')), 'usage_usec') * 1000,
    memUsage: Math.max(0, usage - inactive),
    memLimit: max && max !== 'max' ? num(max) : undefined,
    pids: num(tryRead(j(d.pids, 'pids.current'))),
    ...blockIo(tryRead(j(d.memory, 'io.stat')), /\b(rbytes|wbytes)=(\d+)/g),
  };
}

/** Read and written bytes summed over devices: v1's "MAJ:MIN Read N" lines, or v2's io.stat rbytes=/wbytes= fields. */
function blockIo(text: string, field: RegExp): { blockRead: number; blockWrite: number } {
  const io = { blockRead: 0, blockWrite: 0 };
  for (const [, kind, bytes] of text.matchAll(field)) {
    if (kind === 'Read' || kind === 'rbytes') io.blockRead += Number(bytes);
    else io.blockWrite += Number(bytes);
  }
  return io;
}

/** The host's CPU time (all CPUs, ns) from /proc/stat, as docker's systemDelta. */
export function hostCpuNs(): number {
  const line = read('/proc/stat').split('\n')[0] ?? '';
  const jiffies = line.split(/\s+/).slice(1, 8).reduce((a, s) => a + num(s), 0);
  return (jiffies * 1e9) / 100; // USER_HZ
}

/** Whether the container's processes are frozen (v1 freezer.state FROZEN, v2 cgroup.freeze 1); a cgroup that does not exist is not. */
export function isFrozen(host: CgroupHost, dirs: ContainerCgroup['dirs']): boolean {
  const dir = host.version === 1 ? dirs.freezer : dirs.memory;
  if (!dir) return false;
  return host.version === 1 ? tryRead(path.join(dir, 'freezer.state')).trim() === 'FROZEN' : tryRead(path.join(dir, 'cgroup.freeze')).trim() === '1';
}

/**
 * Freezes or thaws every process of the container (pause/unpause), and
 * waits until the kernel says it is done: v1 passes through FREEZING while
 * tasks are caught, v2 reports "frozen 1" in cgroup.events.
 */
export async function setFrozen(host: CgroupHost, cg: ContainerCgroup, frozen: boolean): Promise<void> {
  const dir = host.version === 1 ? cg.dirs.freezer : cg.dirs.memory;
  if (!dir) throw new RuntimeError(`the container has no ${host.version === 1 ? 'freezer ' : ''}cgroup to ${frozen ? 'freeze' : 'thaw'}`);
  const done = () =>
    host.version === 1
      ? read(path.join(dir, 'freezer.state')).trim() === (frozen ? 'FROZEN' : 'THAWED')
      : new RegExp(`^frozen ${frozen ? 1 : 0}$`, 'm').test(read(path.join(dir, 'cgroup.events')));
  for (let i = 0; i < 500; i++) {
    // v1: a write while FREEZING restarts the attempt; repeat it until the state settles.
    if (host.version === 1) write(path.join(dir, 'freezer.state'), frozen ? 'FROZEN' : 'THAWED');
    else if (i === 0) write(path.join(dir, 'cgroup.freeze'), frozen ? '1' : '0');
    if (done()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  // A freeze that did not finish is undone (runc's too): the container must not stay half frozen, shown paused.
  if (frozen) write(path.join(dir, host.version === 1 ? 'freezer.state' : 'cgroup.freeze'), host.version === 1 ? 'THAWED' : '0');
  throw new RuntimeError(`the container's processes did not ${frozen ? 'freeze' : 'thaw'} within 5s`);
}

/**
 * Thaws the freezer cgroup of a process if it is frozen: a signal to a
 * paused container (stop, kill, rm -f) is only acted on once it runs again.
 */
export async function thawProcess(host: CgroupHost, pid: number): Promise<void> {
  let text: string;
  try {
    text = read(`/proc/${pid}/cgroup`);
  } catch {
    return;
  }
  const line = text.split('\n').find((l) => (host.version === 1 ? /^\d+:([^:]*,)?freezer(,[^:]*)?:/.test(l) : l.startsWith('0::')));
  const rel = line?.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
  const base = host.version === 1 ? host.mounts.freezer : host.root;
  if (!rel || !base || rel === '/') return;
  const cg: ContainerCgroup = { dirs: { freezer: path.join(base, rel), memory: path.join(base, rel) }, joinFiles: [], selfJoin: false, lateJoinFiles: [] };
  if (isFrozen(host, cg.dirs)) await setFrozen(host, cg, false);
}
