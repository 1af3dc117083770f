import * as fs from 'node:fs';
import * as os from 'node:os';
import { UsageError } from '../../errors.js';
import { prepareInitLayer, removeInitLayer } from '../../store/init-layer.js';
import { prepareLayer, publishLinks, removeLayer } from '../../store/layers.js';
import { removeTree } from '../../store/remove-tree.js';
import { checkImageLayers, imageTopLayer, readImageConfig, resolveImageId } from '../../store/images.js';
import { containerDir, containerFile, initLayerId, storeLockFile } from '../../store/paths.js';
import { NAME_PATTERN, generateName, newId } from '../../util/ids.js';
import { SyncBatch, writeNewFile } from '../../util/atomic-write.js';
import { withLock } from '../../util/lock.js';
import type { Context } from '../context.js';
import { findContainer, listContainers } from '../containers.js';
import { freeIdRange, subordinateIds } from '../plan/user-namespace.js';
import type { OciIdMapping } from '../../oci/spec.js';
import type { StorePaths } from '../../store/paths.js';
import { claimName, ensureNameIndex, nameOwner, releaseName } from '../names.js';
import { hostBoundingCapabilities, tweakCapabilities } from '../plan/capabilities.js';
import { type PortBinding, type RunOptions, privateNamespaces, resolveArgs } from '../plan/container-spec.js';
import { checkSysctl, checkWorkingDir } from '../plan/launch-plan.js';
import { checkMountSources, plannedMounts, resolveMounts } from '../volumes.js';
import { type ContainerRecord, ZERO_TIME, ensureContainerDir, writeRecord } from '../state/record.js';
import { logger } from '../../log.js';

export interface CreateRequest {
  image: string;
  name?: string;
  options: RunOptions;
  autoRemove: boolean;
}

/** --userns auto: `size` uids and gids of the user "containers", apart from every other container's (podman's). */
function autoIdMappings(p: StorePaths, size: number): NonNullable<RunOptions['idMappings']> {
  const pick = (file: string, used: OciIdMapping[]) => {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      text = '';
    }
    const ranges = subordinateIds(text, 'containers');
    if (ranges.length === 0) throw new UsageError(`--userns auto needs subordinate ids for the user "containers" in ${file} (a line as containers:2147483647:2147483648, as podman's)`);
    const start = freeIdRange(ranges, used, size);
    if (start === undefined) throw new UsageError(`--userns auto: no ${size} ids of the user "containers" in ${file} are free of other containers'`);
    return [{ containerID: 0, hostID: start, size }];
  };
  const others = listContainers(p).flatMap((c) => (c.options.idMappings ? [c.options.idMappings] : []));
  return { uid: pick('/etc/subuid', others.flatMap((m) => m.uid)), gid: pick('/etc/subgid', others.flatMap((m) => m.gid)) };
}

/**
 * Creates a container: its record, its `<id>-init` layer on the image's top
 * layer, its rw layer on that, and the files bind-mounted over the init
 * layer's placeholders. The record is written first, so an interrupted
 * create leaves something `rm -f` can find and finish.
 */
export async function createContainer(ctx: Context, req: CreateRequest): Promise<ContainerRecord> {
  const p = ctx.paths;
  if (req.name !== undefined && !NAME_PATTERN.test(req.name)) {
    throw new UsageError(`invalid container name "${req.name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  const imageId = resolveImageId(p, req.image);
  const config = readImageConfig(p, imageId);
  const args = resolveArgs(config.config, req.options);
  const top = imageTopLayer(p, imageId, config);
  if (!top) throw new UsageError(`image ${req.image} has no layers`);

  checkIsolation(req.options);
  // Refused now, not at start: a container that could never start is not made (docker's rule).
  checkWorkingDir(req.options.workdir || config.config?.WorkingDir || '/');
  checkMountSources(req.options.mounts ?? []);
  // -P: the image's exposed ports, each from a free host port, after the -p ones (a port given both ways keeps -p's).
  const exposed = req.options.publishAll ? exposedPorts({ ...config.config?.ExposedPorts, ...Object.fromEntries((req.options.expose ?? []).map((k) => [k, {}])) }, req.options.ports ?? []) : [];
  // container:NAME modes name a container by id from here on, as docker's, so a rename does not break them.
  const joinNamespaces = req.options.joinNamespaces && Object.fromEntries(Object.entries(req.options.joinNamespaces).map(([k, ref]) => [k, findContainer(p, ref).id]));

  const id = newId();
  const shared = new Set(req.options.hostNamespaces ?? []);
  if (shared.has('uts') && req.options.hostname !== undefined) throw new UsageError('conflicting options: --hostname and --uts host');
  // --network host without -h: the host's name, as docker's (its /etc/hosts is the host's too, below).
  const hostname = shared.has('uts') || (shared.has('network') && req.options.hostname === undefined) ? os.hostname() : (req.options.hostname ?? id.slice(0, 12));
  const rec = await withLock(ctx.native, storeLockFile(p), () => {
    // Under the store lock an rmi cannot take the layers away between here and the init layer.
    checkImageLayers(p, imageId, readImageConfig(p, imageId));
    // And an rm -v of a --volumes-from container cannot delete its volumes before this record names them.
    const mounts = plannedMounts(p, req.options.mounts ?? [], req.options.volumesFrom ?? [], Object.keys(config.config?.Volumes ?? {}));
    ensureNameIndex(p);
    // The name first: a crash before the record leaves a stale link, which the next claim takes over.
    const name = req.name ?? generateName((n) => nameOwner(p, n) !== undefined);
    // Under the store lock: no other create picks the same ids meanwhile.
    const { usernsAuto, ...options } = req.options;
    const idMappings = usernsAuto ? autoIdMappings(p, usernsAuto.size) : options.idMappings;
    claimName(p, name, id);
    const record: ContainerRecord = {
      id,
      name,
      created: new Date().toISOString(),
      imageId,
      imageName: req.image,
      options: {
        ...options,
        ...(idMappings ? { idMappings } : {}),
        ...(mounts.length ? { mounts: resolveMounts(ctx, mounts) } : {}),
        ...(joinNamespaces ? { joinNamespaces } : {}),
        ...(exposed.length ? { ports: [...(req.options.ports ?? []), ...exposed] } : {}),
      },
      autoRemove: req.autoRemove,
      hostname,
      path: args[0]!,
      args: args.slice(1),
      rwLayerId: id,
      initLayerId: initLayerId(id),
      state: { status: 'created', exitCode: 0, error: '', startedAt: ZERO_TIME, finishedAt: ZERO_TIME },
      restartCount: 0,
    };
    ensureContainerDir(p, id);
    // Durable before any layer exists, so whatever a crash leaves behind, rm -f can find.
    writeRecord(p, record);
    try {
      // Written unsynced, then made durable together (SyncBatch: one syncfs,
      // or an fsync each when the kernel holds much dirty data): two layers
      // and three files cost 17 fsyncs, each a journal commit, before. A
      // crash before the commit leaves the record (synced above), layer dirs
      // whose link files may be empty, and no l/ entries: rm -f removes
      // exactly that (removeLayer skips an unreadable link id). The l/
      // entries come last, once the link files they name are on disk, so
      // fsck can always rebuild l/.
      const batch = new SyncBatch();
      const links = [prepareInitLayer(p, record.initLayerId, top.cacheId, batch)];
      links.push(prepareLayer(p, record.rwLayerId, record.initLayerId, batch));
      const hosts = (shared.has('network') ? hostFile('/etc/hosts') : hostsFile(hostname)) + (req.options.extraHosts ?? []).map(([n, ip]) => `${ip}\t${n}\n`).join('');
      for (const [name, text] of [['hostname', `${hostname}\n`], ['hosts', hosts], ['resolv.conf', resolvConf(shared.has('network'), req.options.dns)]] as const) {
        writeNewFile(containerFile(p, id, name), text);
        batch.add(containerFile(p, id, name));
      }
      batch.add(containerDir(p, id));
      batch.commit(ctx.native);
      publishLinks(p, links);
    } catch (err) {
      // Nothing ran yet: take back what was made (a crash here instead leaves it to rm -f).
      removeLayer(p, record.rwLayerId);
      removeInitLayer(p, record.initLayerId);
      removeTree(containerDir(p, id));
      releaseName(p, name, id);
      throw err;
    }
    return record;
  });

  logger('lifecycle').info({ cid: id, op: 'create' }, 'created');
  return rec;
}

/** What would otherwise fail only at start: refused at create, as docker does. */
function checkIsolation(o: RunOptions): void {
  tweakCapabilities({ add: o.capAdd, drop: o.capDrop, privileged: o.privileged, host: () => hostBoundingCapabilities() });
  // Only a namespace of its own may be tuned (--ipc/--network/--uts host share the host's).
  const own = privateNamespaces(o).map((n) => (n === 'network' ? 'net' : n === 'mount' ? 'mnt' : n));
  for (const key of Object.keys(o.sysctls ?? {})) checkSysctl(key, own);
}

/** docker's /etc/hosts for a container without a network of its own beyond lo. */
function hostsFile(hostname: string): string {
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    `127.0.1.1\t${hostname}`,
    '',
  ].join('\n');
}

/**
 * The host's resolv.conf; in a network namespace of its own, without
 * loopback resolvers, which mean nothing there (docker's rule). --dns,
 * --dns-search and --dns-option each replace the host's lines of theirs.
 */
function resolvConf(hostNetwork: boolean, dns: RunOptions['dns'] = {}): string {
  const host = hostFile('/etc/resolv.conf');
  const lines = host.split('\n').filter((line) => line !== '');
  const kept = lines.filter((line) => {
    if (/^\s*nameserver\s/.test(line)) return !dns.servers && (hostNetwork || !/^\s*nameserver\s+(127\.|::1\b)/.test(line));
    if (/^\s*(search|domain)\s/.test(line)) return !dns.search;
    if (/^\s*options\s/.test(line)) return !dns.options;
    return true;
  });
  const given = [
    ...(dns.servers ?? []).map((s) => `nameserver ${s}`),
    ...(dns.search?.length ? [`search ${dns.search.join(' ')}`] : []),
    ...(dns.options ? [`options ${dns.options.join(' ')}`] : []),
  ];
  return [...kept, ...given, ''].join('\n');
}

function hostFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** An image's ExposedPorts ("80/tcp", "53/udp", "8080") as bindings from free host ports, less those -p already publishes. */
function exposedPorts(exposed: Record<string, object> | undefined, given: PortBinding[]): PortBinding[] {
  return Object.keys(exposed ?? {}).flatMap((key) => {
    const [port, proto = 'tcp'] = key.split('/');
    const containerPort = Number(port);
    if (!Number.isInteger(containerPort) || containerPort < 1 || containerPort > 65535 || (proto !== 'tcp' && proto !== 'udp')) return [];
    if (given.some((b) => b.containerPort === containerPort && b.protocol === proto)) return [];
    return [{ hostPort: 0, containerPort, protocol: proto }];
  });
}
