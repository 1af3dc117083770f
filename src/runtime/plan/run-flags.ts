import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import { parseBytes } from '../../util/bytes.js';
import type { PortBinding, RestartPolicy, SharedNamespace } from './container-spec.js';
import { type OciIdMapping, RLIM_INFINITY_JSON } from '../../oci/spec.js';
import { checkContainerPath } from './launch-plan.js';
import { type SeccompProfile, parseSeccompProfile } from './seccomp.js';

/**
 * The isolation flags of `run`/`create`, parsed as docker parses them, into
 * the container record (RunOptions). They become OCI config in
 * container-spec.ts; nothing here touches the filesystem.
 */

/** A mount the user asked for: `-v`, `--mount` or `--tmpfs`. */
export interface MountSpec {
  type: 'bind' | 'volume' | 'tmpfs';
  /** bind: the host path; volume: its name, absent for an anonymous volume until create names it. */
  source?: string;
  target: string;
  readonly: boolean;
  /** A volume made for this one container (`-v /path`): `rm -v` and `--rm` remove it. */
  anonymous?: boolean;
  /** Set at create: the host directory bound (a volume's <root>/volumes/NAME/_data). */
  hostPath?: string;
  /** Mount options beyond ro/rw: bind propagation, or tmpfs options (size=, mode=, exec...). */
  options?: string[];
  /** A volume is not filled from the image's files at its target (`nocopy`, `volume-nocopy`). */
  noCopy?: boolean;
  /** A bind seen through the container's user namespace maps (podman's `idmap`; volumes are idmapped anyway). */
  idmap?: boolean;
  /** `-v HOSTDIR:...`: a missing host directory is made (docker's -v); `--mount` refuses it instead. */
  makeSource?: boolean;
  /** --volumes-from: the id of the container this mount is shared from. */
  from?: string;
}

export interface Ulimit {
  /** docker's name: nofile, nproc, core, ... */
  name: string;
  soft: number;
  hard: number;
}

/** docker's volume names (moby volume/local: validName). */
export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

const PROPAGATION = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);

function checkTarget(target: string): string {
  checkContainerPath('a mount destination', target);
  const norm = path.posix.normalize(target);
  if (norm === '/') throw new UsageError('invalid mount config: the destination cannot be "/"');
  return norm.length > 1 && norm.endsWith('/') ? norm.slice(0, -1) : norm;
}

/** Normalised, without a trailing slash. */
function hostPath(p: string): string {
  const n = path.posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

function source(src: string): Pick<MountSpec, 'type' | 'source'> {
  // A relative host path (./data, ../x, .) is taken from the current directory, as docker 23's -v takes it.
  if (src.startsWith('/') || src === '.' || src === '..' || src.startsWith('./') || src.startsWith('../')) {
    if (src.includes('\0')) throw new UsageError(`invalid bind source: ${JSON.stringify(src)}`);
    return { type: 'bind', source: hostPath(path.resolve(src)) };
  }
  if (!VOLUME_NAME.test(src)) {
    throw new UsageError(`"${src}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  }
  return { type: 'volume', source: src };
}

/** `--volumes-from CONTAINER[:ro|:rw]`: the container and the mode its mounts get (undefined: each keeps its own). */
export function parseVolumesFrom(spec: string): { container: string; readonly?: boolean } {
  const colon = spec.lastIndexOf(':');
  const [container, mode] = colon < 0 ? [spec, undefined] : [spec.slice(0, colon), spec.slice(colon + 1)];
  if (container === '' || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) throw new UsageError(`invalid --volumes-from "${spec}": use CONTAINER, CONTAINER:ro or CONTAINER:rw`);
  return { container, ...(mode !== undefined ? { readonly: mode === 'ro' } : {}) };
}

/**
 * `-v [SRC:]DST[:MODE]`, MODE a comma list of ro|rw, z|Z, a propagation and
 * nocopy (moby's linux parser), and podman's idmap. Docker Desktop's
 * consistency modes (cached, delegated, consistent) are taken and ignored,
 * as docker on Linux does.
 */
export function parseVolumeFlag(spec: string): MountSpec {
  const parts = spec.split(':');
  let src: string | undefined;
  let dst: string;
  let mode: string | undefined;
  const bad = () => new UsageError(`invalid volume specification: '${spec}'`);
  if (parts.length === 1) dst = parts[0]!;
  else if (parts.length === 2) {
    if (isMode(parts[1]!)) throw bad(); // "/foo:ro": a destination with a mode and no source
    [src, dst] = parts as [string, string];
  } else if (parts.length === 3) [src, dst, mode] = parts as [string, string, string];
  else throw bad();
  if (dst === '' || src === '') throw bad();
  let readonly = false;
  let noCopy = false;
  let idmap = false;
  const options: string[] = [];
  if (mode !== undefined) {
    if (!isMode(mode)) throw new UsageError(`invalid mode: ${mode}`);
    for (const m of mode.split(',')) {
      if (m === 'ro') readonly = true;
      else if (m === 'nocopy') noCopy = true;
      else if (m === 'idmap') idmap = true;
      else if (PROPAGATION.has(m)) options.push(m);
    }
  }
  const target = checkTarget(dst);
  const copy = noCopy ? { noCopy } : {};
  if (src === undefined) return { type: 'volume', target, readonly, anonymous: true, ...copy };
  const s = source(src);
  if (s.type === 'volume' && options.length > 0) throw new UsageError(`invalid mode: ${mode} (propagation is for bind mounts only)`);
  if (s.type === 'bind' && noCopy) throw new UsageError(`invalid mode: ${mode} (nocopy is for volumes only)`);
  if (s.type === 'volume' && idmap) throw new UsageError(`invalid mode: ${mode} (idmap is for host directories; a volume is idmapped with --uidmap anyway)`);
  return { ...s, target, readonly, ...(options.length ? { options } : {}), ...copy, ...(idmap ? { idmap } : {}), ...(s.type === 'bind' ? { makeSource: true } : {}) };
}

/** Docker Desktop's file-sharing hints (moby's mount.Consistency; --mount also takes "default"): nothing on Linux. */
const CONSISTENCY = new Set(['consistent', 'cached', 'delegated']);

function isMode(mode: string): boolean {
  let rw = 0;
  let label = 0;
  let prop = 0;
  let copy = 0;
  let idmap = 0;
  let consistency = 0;
  for (const m of mode.split(',')) {
    if (m === 'ro' || m === 'rw') rw++;
    else if (m === 'z' || m === 'Z') label++;
    else if (PROPAGATION.has(m)) prop++;
    else if (m === 'nocopy') copy++;
    else if (m === 'idmap') idmap++;
    else if (CONSISTENCY.has(m)) consistency++;
    else return false;
  }
  return rw <= 1 && label <= 1 && prop <= 1 && copy <= 1 && idmap <= 1 && consistency <= 1;
}

function parseBool(key: string, v: string | undefined): boolean {
  if (v === undefined || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new UsageError(`invalid value for ${key}: ${v}`);
}

/** `--mount type=bind|volume|tmpfs,source=…,target=…,readonly,bind-propagation=…,tmpfs-size=…,tmpfs-mode=…`. */
export function parseMountFlag(spec: string): MountSpec {
  let type: MountSpec['type'] = 'volume';
  let src: string | undefined;
  let target: string | undefined;
  let readonly = false;
  let noCopy = false;
  const options: string[] = [];
  for (const field of spec.split(',')) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    const need = () => {
      if (value === undefined || value === '') throw new UsageError(`invalid field '${field}' must be a key=value pair`);
      return value;
    };
    switch (key) {
      case 'type': {
        const t = need();
        if (t !== 'bind' && t !== 'volume' && t !== 'tmpfs') throw new UsageError(`invalid mount type: ${t} (bind, volume or tmpfs)`);
        type = t;
        break;
      }
      case 'source':
      case 'src':
        src = need();
        break;
      case 'target':
      case 'destination':
      case 'dst':
        target = need();
        break;
      case 'readonly':
      case 'ro':
        readonly = parseBool(key, value);
        break;
      case 'bind-propagation':
        if (!PROPAGATION.has(need())) throw new UsageError(`invalid bind-propagation: ${value}`);
        options.push(value!);
        break;
      case 'volume-nocopy':
        noCopy = parseBool(key, value);
        break;
      case 'tmpfs-size':
        options.push(`size=${parseBytes(need())}`);
        break;
      case 'consistency':
        if (!CONSISTENCY.has(need()) && value !== 'default') throw new UsageError(`invalid consistency: ${value}`);
        break;
      case 'tmpfs-mode': {
        const m = need();
        if (!/^[0-7]{1,4}$/.test(m)) throw new UsageError(`invalid tmpfs-mode: ${m} (octal)`);
        options.push(`mode=${m}`);
        break;
      }
      default:
        throw new UsageError(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (target === undefined) throw new UsageError('invalid mount config: target is required');
  const t = checkTarget(target);
  const extra = options.length ? { options } : {};
  switch (type) {
    case 'tmpfs':
      if (noCopy) throw new UsageError('invalid mount config for type "tmpfs": volume-nocopy is for volumes only');
      if (src !== undefined) throw new UsageError('invalid mount config for type "tmpfs": source is not allowed');
      return { type, target: t, readonly, ...extra };
    case 'bind':
      if (noCopy) throw new UsageError('invalid mount config for type "bind": volume-nocopy is for volumes only');
      if (src === undefined) throw new UsageError('invalid mount config for type "bind": field source must not be empty');
      if (!src.startsWith('/')) throw new UsageError(`invalid mount config for type "bind": source must be an absolute path: ${src}`);
      return { type, source: hostPath(src), target: t, readonly, ...extra };
    default:
      if (options.length) throw new UsageError('invalid mount config for type "volume": bind and tmpfs options are not allowed');
      if (src === undefined) return { type, target: t, readonly, anonymous: true, ...(noCopy ? { noCopy } : {}) };
      if (!VOLUME_NAME.test(src)) throw new UsageError(`invalid volume name: ${src}`);
      return { type, source: src, target: t, readonly, ...(noCopy ? { noCopy } : {}) };
  }
}

/** `--tmpfs PATH[:OPTIONS]`, OPTIONS as mount(8) takes them (size=64m,mode=1777,exec...). */
export function parseTmpfsFlag(spec: string): MountSpec {
  const colon = spec.indexOf(':');
  const target = checkTarget(colon < 0 ? spec : spec.slice(0, colon));
  const options = colon < 0 ? [] : spec.slice(colon + 1).split(',').filter(Boolean);
  for (const o of options) if (o.includes('\0')) throw new UsageError(`invalid tmpfs option: ${JSON.stringify(o)}`);
  const readonly = options.includes('ro');
  const rest = options.filter((o) => o !== 'ro' && o !== 'rw');
  return { type: 'tmpfs', target, readonly, ...(rest.length ? { options: rest } : {}) };
}

/**
 * --network/--pid/--ipc/--uts: `host` shares the host's namespace; the
 * default, a namespace of the container's own, is also `none` (network:
 * only lo), `bridge` (network: and eth0 on tsrun's bridge; runtime/network/),
 * `private` or `shareable` (ipc); `container:NAME` (network, pid, ipc)
 * joins another container's.
 */
export function parseNamespaceMode(kind: SharedNamespace, value: string): boolean {
  if (value === 'host') return true;
  // container:NAME joins that container's namespace (resolved at create, joined at each start).
  if (kind !== 'uts' && /^container:.+/.test(value)) return false;
  const own: Record<SharedNamespace, string[]> = { network: ['none', 'private', 'bridge', 'default'], pid: ['private'], ipc: ['private', 'shareable', 'none'], uts: ['private'] };
  if (own[kind].includes(value)) return false;
  throw new UsageError(`invalid --${kind} mode "${value}": use host${kind === 'uts' ? '' : ', container:NAME'} or ${own[kind].join(', ')}`);
}

/**
 * `-p [hostIp:][hostPort:]containerPort[/tcp|udp]`, docker's forms; without
 * a host port (`-p 80`, `-p 127.0.0.1::80`) one is chosen at each start.
 * Ports may be ranges (docker's rules): `8000-8002:80-82` pairs them off,
 * `80-82` gives each a chosen port, and `8000-8010:80` chooses 80's host
 * port from 8000-8010.
 */
export function parsePublish(spec: string): PortBinding[] {
  const m = /^(?:(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(\d+(?:-\d+)?)?:)?(\d+(?:-\d+)?)(?:\/(tcp|udp))?$/.exec(spec);
  const bad = (why: string) => new UsageError(`invalid -p "${spec}": ${why}`);
  if (!m || (m[1] !== undefined && m[1].split('.').some((x) => Number(x) > 255))) {
    throw bad('use [HOST_IP:][HOST_PORT[-END]:]CONTAINER_PORT[-END][/tcp|udp]');
  }
  const range = (s: string): [number, number] => {
    const [low, high = low] = s.split('-').map(Number) as [number, number?];
    if (!(low >= 1 && high <= 65535 && low <= high)) throw bad('ports are 1-65535, and a range goes from low to high');
    return [low, high as number];
  };
  const [cLow, cHigh] = range(m[3]!);
  const host = m[2] !== undefined ? range(m[2]) : undefined;
  const common = { ...(m[1] !== undefined && m[1] !== '0.0.0.0' ? { hostIp: m[1] } : {}), protocol: (m[4] as 'tcp' | 'udp' | undefined) ?? 'tcp' };
  if (host && cLow === cHigh && host[0] !== host[1]) return [{ ...common, hostPort: 0, hostRange: { low: host[0], high: host[1] }, containerPort: cLow }];
  if (host && host[1] - host[0] !== cHigh - cLow) throw bad('the host and container port ranges must be the same size');
  const out: PortBinding[] = [];
  for (let port = cLow; port <= cHigh; port++) out.push({ ...common, hostPort: host ? host[0] + (port - cLow) : 0, containerPort: port });
  return out;
}

/** `--restart no|always|unless-stopped|on-failure[:N]`, docker's policies. */
export function parseRestartPolicy(s: string): RestartPolicy {
  const [name, count, extra] = s.split(':');
  if (extra !== undefined || !['no', 'always', 'unless-stopped', 'on-failure'].includes(name!)) {
    throw new UsageError(`invalid restart policy "${s}": use no, always, unless-stopped or on-failure[:max-retries]`);
  }
  if (count !== undefined && name !== 'on-failure') throw new UsageError(`invalid restart policy "${s}": a maximum retry count goes only with on-failure`);
  const maxRetries = count === undefined ? 0 : Number(count);
  if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new UsageError(`invalid restart policy "${s}": the maximum retry count must be a number >= 0`);
  return { name: name as RestartPolicy['name'], maxRetries };
}

/** `--device HOST[:CONTAINER][:PERMS]`, docker's form: PERMS some of r, w, m (default rwm). */
export interface DeviceFlag {
  host: string;
  container: string;
  perms: string;
}

export function parseDeviceFlag(spec: string): DeviceFlag {
  const parts = spec.split(':');
  const bad = () => new UsageError(`invalid --device ${spec}: use HOST_PATH[:CONTAINER_PATH][:PERMISSIONS] (permissions some of r, w, m)`);
  const isPerms = (s: string | undefined) => s !== undefined && /^[rwm]{1,3}$/.test(s) && new Set(s).size === s.length;
  let [host, container, perms] = parts as [string, string?, string?];
  if (parts.length > 3 || !host.startsWith('/')) throw bad();
  // HOST:PERMS (docker's short form) when the second part is not a path.
  if (parts.length === 2 && isPerms(container)) [container, perms] = [undefined, container];
  if ((container !== undefined && !container.startsWith('/')) || (perms !== undefined && !isPerms(perms))) throw bad();
  return { host, container: container ?? host, perms: perms ?? 'rwm' };
}

/**
 * podman's `--uidmap CONTAINER_ID:HOST_ID:AMOUNT` (and --gidmap): ids
 * CONTAINER_ID.. inside are HOST_ID.. on the host. The ranges are checked
 * as a whole when the spec is built (user-namespace.ts).
 */
export function parseIdMap(flag: '--uidmap' | '--gidmap', spec: string): OciIdMapping {
  const m = /^(\d+):(\d+):(\d+)$/.exec(spec);
  if (!m) throw new UsageError(`invalid ${flag} ${spec}: use CONTAINER_ID:HOST_ID:AMOUNT, as 0:100000:65536`);
  return { containerID: Number(m[1]), hostID: Number(m[2]), size: Number(m[3]) };
}

/** `--device-cgroup-rule "c 10:* rwm"`, a devices.allow line: TYPE MAJOR:MINOR ACCESS. */
export function parseDeviceCgroupRule(spec: string): { type: 'a' | 'b' | 'c'; major?: number; minor?: number; access: string } {
  const m = /^([abc]) (\d+|\*):(\d+|\*) ([rwm]{1,3})$/.exec(spec.trim());
  if (!m) throw new UsageError(`invalid --device-cgroup-rule "${spec}": use TYPE MAJOR:MINOR ACCESS, as c 10:229 rwm`);
  const num = (s: string) => (s === '*' ? undefined : Number(s));
  return { type: m[1] as 'a' | 'b' | 'c', major: num(m[2]!), minor: num(m[3]!), access: m[4]! };
}

/** `--oom-score-adj`: an integer, -1000 to 1000 (the kernel's range). */
export function parseOomScoreAdj(s: string): number {
  const n = Number(s);
  if (!/^-?\d+$/.test(s) || n < -1000 || n > 1000) throw new UsageError(`invalid --oom-score-adj ${s}: must be an integer from -1000 to 1000`);
  return n;
}

/** `--shm-size`: bytes, more than zero. */
export function parseShmSize(s: string): number {
  const n = parseBytes(s);
  if (n <= 0) throw new UsageError(`invalid --shm-size ${s}: must be greater than 0`);
  return n;
}

/** docker's ulimit names (go-units) and their RLIMIT_* types. */
export const ULIMIT_TYPES: Record<string, string> = {
  as: 'RLIMIT_AS',
  core: 'RLIMIT_CORE',
  cpu: 'RLIMIT_CPU',
  data: 'RLIMIT_DATA',
  fsize: 'RLIMIT_FSIZE',
  locks: 'RLIMIT_LOCKS',
  memlock: 'RLIMIT_MEMLOCK',
  msgqueue: 'RLIMIT_MSGQUEUE',
  nice: 'RLIMIT_NICE',
  nofile: 'RLIMIT_NOFILE',
  nproc: 'RLIMIT_NPROC',
  rss: 'RLIMIT_RSS',
  rtprio: 'RLIMIT_RTPRIO',
  rttime: 'RLIMIT_RTTIME',
  sigpending: 'RLIMIT_SIGPENDING',
  stack: 'RLIMIT_STACK',
};

function parseLimit(s: string, spec: string): number {
  if (s === 'unlimited' || s === '-1') return RLIM_INFINITY_JSON;
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s))) throw new UsageError(`invalid ulimit value in ${spec}: ${s}`);
  return Number(s);
}

/** `--ulimit NAME=SOFT[:HARD]`; "unlimited" or -1 is RLIM_INFINITY; HARD defaults to SOFT. */
export function parseUlimit(spec: string): Ulimit {
  const eq = spec.indexOf('=');
  if (eq < 0) throw new UsageError(`invalid ulimit argument: ${spec} (NAME=SOFT[:HARD])`);
  const name = spec.slice(0, eq);
  if (!ULIMIT_TYPES[name]) throw new UsageError(`invalid ulimit type: ${name}`);
  const [softS, hardS, extra] = spec.slice(eq + 1).split(':');
  if (extra !== undefined || softS === undefined || softS === '') throw new UsageError(`too many limit value arguments - ${spec.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``);
  const soft = parseLimit(softS, spec);
  const hard = hardS === undefined ? soft : parseLimit(hardS, spec);
  if (soft > hard) throw new UsageError(`ulimit soft limit must be less than or equal to hard limit: ${softS} > ${hardS}`);
  return { name, soft, hard };
}

/** `--sysctl KEY=VALUE` (checked against the container's namespaces in the launch plan). */
export function parseSysctl(spec: string): [key: string, value: string] {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new UsageError(`invalid sysctl: ${spec} (KEY=VALUE)`);
  return [spec.slice(0, eq), spec.slice(eq + 1)];
}

/** What `--security-opt` sets in the container record. */
export interface SecurityOptions {
  /** "unconfined": no filter; a profile: that one instead of the default. */
  seccomp?: 'unconfined' | SeccompProfile;
  /** false: the process may gain privileges through execve (setuid files); default true. */
  noNewPrivileges?: boolean;
}

/**
 * `--security-opt seccomp=unconfined|FILE`, `no-new-privileges[=true|false]`
 * (docker's forms, `:` also accepted as the separator). FILE is read with
 * readFile and checked now, as docker's client does. apparmor and label are
 * accepted and ignored: tsrun applies no LSM profile.
 */
export function parseSecurityOpts(specs: string[], readFile: (file: string) => string): SecurityOptions {
  const out: SecurityOptions = {};
  for (const spec of specs) {
    const m = /^([a-z-]+)(?:[=:](.*))?$/s.exec(spec);
    const key = m?.[1];
    const value = m?.[2];
    if (key === 'no-new-privileges') {
      out.noNewPrivileges = parseBool('no-new-privileges', value);
    } else if (key === 'seccomp' && value !== undefined && value !== '') {
      if (value === 'unconfined') {
        out.seccomp = 'unconfined';
      } else {
        let text: string;
        try {
          text = readFile(value);
        } catch (e) {
          throw new UsageError(`opening seccomp profile (${value}) failed: ${(e as Error).message}`);
        }
        out.seccomp = parseSeccompProfile(text, `seccomp profile ${value}`);
      }
    } else if ((key === 'apparmor' || key === 'label') && value !== undefined) {
      continue;
    } else {
      throw new UsageError(`invalid --security-opt: ${spec}`);
    }
  }
  return out;
}
