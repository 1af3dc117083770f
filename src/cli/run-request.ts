import * as fs from 'node:fs';
import * as os from 'node:os';
import { type MountSpec, parseDeviceCgroupRule, parseVolumesFrom, parseDeviceFlag, parseIdMap, parseMountFlag, parseNamespaceMode, parseOomScoreAdj, parsePublish, parseRestartPolicy, parseShmSize, parseSysctl, parseTmpfsFlag, parseUlimit, parseVolumeFlag } from '../runtime/plan/run-flags.js';
import { parseResourceFlags, type ResourceFlags } from '../runtime/cgroups/limits.js';
import { cgroupHost } from '../runtime/cgroups/host.js';
import { ID_MAP_FLAGS, checkIdmappedRootKernel, planIdMaps } from '../runtime/plan/user-namespace.js';
import { UsageError } from '../errors.js';
import { bridgeNetwork } from '../runtime/network/leases.js';
import { parseSignal } from '../runtime/lifecycle/stop.js';
import { writeStderr } from '../util/stdio.js';
import { parseLogFlags } from '../runtime/logs/log-config.js';

/**
 * The flags of `run` and `create` (cli/run.ts defines them) turned into a
 * create request. Loaded by those two only: its parsers pull in the launch
 * plan, seccomp and user-namespace modules, whose evaluation every other
 * command would pay at start (~0.4 ms) if cli/run.ts imported them.
 */

export interface RunFlags extends ResourceFlags {
  detach?: boolean;
  interactive?: boolean;
  tty?: boolean;
  rm?: boolean;
  envFile?: string[];
  init?: boolean;
  name?: string;
  env?: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  entrypoint?: string;
  label?: string[];
  labelFile?: string[];
  expose?: string[];
  cidfile?: string;
  stopSignal?: string;
  stopTimeout?: string;
  volume?: string[];
  volumesFrom?: string[];
  logDriver?: string;
  logOpt?: string[];
  mount?: string[];
  tmpfs?: string[];
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  readOnly?: boolean;
  ulimit?: string[];
  sysctl?: string[];
  shmSize?: string;
  oomScoreAdj?: string;
  device?: string[];
  deviceCgroupRule?: string[];
  groupAdd?: string[];
  uidmap?: string[];
  gidmap?: string[];
  userns?: string;
  securityOpt?: string[];
  pull: 'missing' | 'always' | 'never';
  platform?: string;
  restart?: string;
  network?: string;
  publish?: string[];
  publishAll?: boolean;
  pid?: string;
  ipc?: string;
  uts?: string;
  addHost?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOption?: string[];
}

export const request = (image: string, command: string[], o: RunFlags) => ({
  image,
  name: o.name,
  cidFile: o.cidfile,
  autoRemove: o.rm === true,
  interactive: o.interactive === true,
  env: o.env ?? [],
  envFile: o.envFile ?? [],
  securityOpt: o.securityOpt ?? [],
  options: {
    workdir: o.workdir,
    user: o.user,
    hostname: o.hostname,
    entrypoint: o.entrypoint,
    cmd: command,
    ...labels(o),
    ...(o.expose?.length ? { expose: o.expose.flatMap(parseExpose) } : {}),
    ...(o.stopSignal !== undefined ? { stopSignal: checkedSignal(o.stopSignal) } : {}),
    ...(o.stopTimeout !== undefined ? { stopTimeout: parseStopTimeout(o.stopTimeout) } : {}),
    tty: o.tty === true,
    openStdin: o.interactive === true,
    ...logging(o),
    init: o.init === true,
    ...isolation(o),
  },
});

/** --log-driver and --log-opt (runtime/logs/log-config.ts): only when given. */
function logging(o: RunFlags) {
  const logConfig = parseLogFlags(o.logDriver, o.logOpt ?? []);
  return logConfig ? { logConfig } : {};
}

/** The isolation flags as RunOptions fields; only those given, so a record stays small. */
function isolation(o: RunFlags) {
  const mounts = [...(o.volume ?? []).map(parseVolumeFlag), ...(o.mount ?? []).map(parseMountFlag), ...(o.tmpfs ?? []).map(parseTmpfsFlag)];
  checkIdmapBinds(mounts, o);
  for (const spec of o.volumesFrom ?? []) parseVolumesFrom(spec);
  return {
    ...(mounts.length ? { mounts } : {}),
    ...(o.volumesFrom?.length ? { volumesFrom: o.volumesFrom } : {}),
    ...(o.capAdd ? { capAdd: o.capAdd } : {}),
    ...(o.capDrop ? { capDrop: o.capDrop } : {}),
    ...(o.privileged ? { privileged: true } : {}),
    ...(o.readOnly ? { readOnly: true } : {}),
    ...(o.ulimit ? { ulimits: o.ulimit.map(parseUlimit) } : {}),
    ...(o.sysctl ? { sysctls: Object.fromEntries(o.sysctl.map(parseSysctl)) } : {}),
    ...(o.shmSize !== undefined ? { shmSize: parseShmSize(o.shmSize) } : {}),
    ...(o.oomScoreAdj !== undefined ? { oomScoreAdj: parseOomScoreAdj(o.oomScoreAdj) } : {}),
    ...(o.device ? { devices: o.device.map(parseDeviceFlag) } : {}),
    ...(o.deviceCgroupRule ? { deviceCgroupRules: deviceCgroupRules(o.deviceCgroupRule) } : {}),
    ...(o.groupAdd ? { groupAdd: o.groupAdd } : {}),
    ...idMappings(o),
    ...(o.restart !== undefined ? { restart: parseRestartPolicy(o.restart) } : {}),
    ...hostNamespaces(o),
    ...joinedNamespaces(o),
    ...network(o),
    ...names(o),
    ...resources(o),
  };
}

/**
 * An IPv4 or IPv6 address. Not node:net's isIP: loading node:net (with
 * stream and dns) is ~1.5 ms of every run (test/integration/startup.test.ts);
 * URL's parser, always loaded, knows IPv6.
 */
function isIpAddress(s: string): boolean {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(s)) return s.split('.').every((o) => Number(o) <= 255);
  if (!s.includes(':') || /[^0-9a-fA-F:.]/.test(s)) return false;
  try {
    return new URL(`http://[${s}]/`).hostname !== '';
  } catch {
    return false;
  }
}

/** --add-host NAME:IP (or NAME=IP) and --dns*; a joined network's files are that container's, so they are refused there (docker's rule). */
function names(o: RunFlags) {
  const extraHosts = (o.addHost ?? []).map((spec): [string, string] => {
    const sep = spec.includes('=') ? spec.indexOf('=') : spec.indexOf(':');
    const given = spec.slice(sep + 1).replace(/^\[(.*)\]$/, '$1');
    // docker's host-gateway: the host's address on the bridge (its gateway), as at create.
    const [name, address] = [spec.slice(0, sep), given === 'host-gateway' ? bridgeNetwork().gateway : given];
    if (sep <= 0 || !/^[a-zA-Z0-9_][a-zA-Z0-9_.-]*$/.test(name) || !isIpAddress(address)) throw new UsageError(`invalid --add-host "${spec}": use NAME:IP (or NAME:host-gateway), as db:10.0.0.5`);
    return [name, address];
  });
  for (const server of o.dns ?? []) if (!isIpAddress(server)) throw new UsageError(`invalid --dns "${server}": an IP address is needed`);
  // --dns-search . is docker's "no search domains": the host's go, none come.
  const search = o.dnsSearch?.filter((d) => d !== '.');
  const dns = { ...(o.dns ? { servers: o.dns } : {}), ...(search ? { search } : {}), ...(o.dnsOption ? { options: o.dnsOption } : {}) };
  const asked = extraHosts.length > 0 || Object.keys(dns).length > 0;
  if (asked && o.network?.startsWith('container:')) throw new UsageError('conflicting options: --add-host and --dns* go with a network of its own, not --network container:NAME');
  return { ...(extraHosts.length ? { extraHosts } : {}), ...(Object.keys(dns).length ? { dns } : {}) };
}

/**
 * --network bridge, which -p implies (docker's default network is the bridge).
 * -p with --network host is dropped with docker's warning (the host's ports
 * are the container's already); with another network it is refused.
 */
function network(o: RunFlags) {
  const ports = (o.publish ?? []).flatMap(parsePublish);
  const publishing = ports.length > 0 || o.publishAll === true;
  if (publishing && o.network === 'host') {
    writeStderr('WARNING: Published ports are discarded when using host network mode\n');
    return {};
  }
  const bridge = o.network === 'bridge' || o.network === 'default' || (o.network === undefined && publishing);
  if (publishing && o.network?.startsWith('container:')) throw new UsageError('conflicting options: port publishing and the container type network mode');
  if (publishing && !bridge) throw new UsageError(`-p needs the bridge network, not --network ${o.network}`);
  return { ...(bridge ? { network: 'bridge' as const } : {}), ...(ports.length ? { ports } : {}), ...(o.publishAll ? { publishAll: true } : {}) };
}

/** container:NAME modes, as names here; create resolves them to ids. */
function joinedNamespaces(o: RunFlags) {
  const joined = Object.fromEntries((['network', 'pid', 'ipc'] as const).flatMap((k) => (o[k]?.startsWith('container:') ? [[k, o[k]!.slice('container:'.length)]] : [])));
  return Object.keys(joined).length ? { joinNamespaces: joined } : {};
}

function hostNamespaces(o: RunFlags) {
  const shared = (['network', 'pid', 'ipc', 'uts'] as const).filter((k) => o[k] !== undefined && parseNamespaceMode(k, o[k]!));
  return shared.length ? { hostNamespaces: [...shared] } : {};
}

/** `-v HOST:DEST:idmap` is seen through the container's maps: it needs a user namespace. */
function checkIdmapBinds(mounts: MountSpec[], o: RunFlags): void {
  const idmapped = mounts.find((m) => m.idmap);
  if (idmapped && !o.uidmap && !o.userns?.startsWith('auto')) throw new UsageError(`the idmap option of ${idmapped.source}:${idmapped.target} needs a user namespace (--uidmap or --userns auto)`);
}

/** --uidmap and --gidmap; the gids map as the uids unless --gidmap is given (podman's rule). --userns auto picks them at create. */
function idMappings(o: RunFlags) {
  const auto = o.userns === undefined || o.userns === 'host' ? undefined : /^auto(?::size=(\d+))?$/.exec(o.userns);
  if (o.userns !== undefined && o.userns !== 'host' && !auto) throw new UsageError(`invalid --userns ${o.userns}: use host, auto or auto:size=N`);
  if (o.userns !== undefined && (o.uidmap || o.gidmap)) throw new UsageError('conflicting options: --userns and --uidmap/--gidmap');
  if (!auto && !o.uidmap && !o.gidmap) return {};
  checkIdmappedRootKernel(os.release());
  // proc can be mounted only for a pid namespace the user namespace owns (proc_fill_super).
  if (o.pid !== undefined) throw new UsageError(`${auto ? '--userns auto' : '--uidmap'} needs a pid namespace of the container's own, not --pid ${o.pid}`);
  if (auto) {
    const size = auto[1] === undefined ? 65536 : Number(auto[1]);
    if (size < 1 || size > 2 ** 32 - 2) throw new UsageError(`invalid --userns ${o.userns}: the size must be from 1 to 4294967294`);
    return { usernsAuto: { size } };
  }
  if (!o.uidmap) throw new UsageError('--gidmap needs --uidmap too');
  const uid = o.uidmap.map((m) => parseIdMap('--uidmap', m));
  const idMappings = { uid, gid: o.gidmap ? o.gidmap.map((m) => parseIdMap('--gidmap', m)) : uid };
  // The whole maps, checked now rather than at the first start.
  planIdMaps({ linux: { namespaces: [{ type: 'user' }], uidMappings: idMappings.uid, gidMappings: idMappings.gid } }, { ...ID_MAP_FLAGS, gid: o.gidmap ? '--gidmap' : '--uidmap' });
  return { idMappings };
}

function resources(o: RunFlags) {
  const r = discardUnsupported(parseResourceFlags(o));
  if (r.oomKillDisable && r.memory === undefined) writeStderr("WARNING: Disabling the OOM killer on containers without setting a '-m/--memory' limit may be dangerous.\n");
  return Object.keys(r).length ? { resources: r } : {};
}

/**
 * What this host's cgroups cannot do is dropped with docker's warning, not
 * refused at start: v2 has no per-cgroup swappiness or OOM-killer switch,
 * and a block I/O weight needs a scheduler with weights (BFQ, or CFQ).
 */
function discardUnsupported(r: ReturnType<typeof parseResourceFlags>) {
  const v2 = (r.memorySwappiness !== undefined || r.oomKillDisable) && cgroupHost().version === 2;
  if (v2 && r.memorySwappiness !== undefined) {
    writeStderr('WARNING: Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.\n');
    delete r.memorySwappiness;
  }
  if (v2 && r.oomKillDisable) {
    writeStderr('WARNING: Your kernel does not support OomKillDisable. OomKillDisable discarded.\n');
    delete r.oomKillDisable;
  }
  if (r.blkioWeight !== undefined && !blockIoWeights(cgroupHost())) {
    writeStderr('WARNING: Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.\n');
    delete r.blkioWeight;
  }
  return r;
}

/** Whether cgroups can be weighed for block I/O: v2's io controller (io.weight), or on v1 a disk whose scheduler can (BFQ or CFQ). */
function blockIoWeights(host: ReturnType<typeof cgroupHost>): boolean {
  if (host.version === 2) return host.controllers.includes('io');
  try {
    return fs.readdirSync('/sys/block').some((d) => {
      try {
        return /\b(bfq|cfq)\b/.test(fs.readFileSync(`/sys/block/${d}/queue/scheduler`, 'utf8'));
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** --device-cgroup-rule: checked now (one line at create), kept as written for inspect. */
function deviceCgroupRules(rules: string[]): string[] {
  for (const r of rules) parseDeviceCgroupRule(r);
  return rules.map((r) => r.trim());
}

/** --label-file's lines, then --label (which wins). */
function labels(o: RunFlags) {
  const fromFiles = (o.labelFile ?? []).flatMap((file) => {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read the label file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  });
  const all = [...fromFiles, ...(o.label ?? [])];
  return all.length ? { labels: parseLabels(all) } : {};
}

/** --expose PORT[/PROTO] or a range: the ExposedPorts keys ("80/tcp"), as docker's. */
function parseExpose(spec: string): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(spec.trim());
  const [low, high] = m ? [Number(m[1]), Number(m[2] ?? m[1])] : [0, 0];
  if (!m || low < 1 || high > 65535 || high < low) throw new UsageError(`invalid --expose "${spec}": use PORT[/PROTO] or a range, as 80 or 8000-8010/udp`);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  return Array.from({ length: high - low + 1 }, (_, i) => `${low + i}/${proto}`);
}

/** docker's --label KEY[=VALUE] (no value: an empty one). */
function parseLabels(specs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const key = eq < 0 ? spec : spec.slice(0, eq);
    if (key === '' || /\s/.test(key)) throw new UsageError(`invalid label ${JSON.stringify(spec)}: KEY=VALUE, with no blanks in KEY`);
    out[key] = eq < 0 ? '' : spec.slice(eq + 1);
  }
  return out;
}

/** A --stop-signal refused now, not at the first stop. */
function checkedSignal(name: string): string {
  parseSignal(name);
  return name;
}

/** Whole seconds, or -1 for no limit (docker's). */
function parseStopTimeout(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < -1) throw new UsageError(`invalid timeout ${JSON.stringify(value)}: whole seconds, or -1 for none`);
  return n;
}
