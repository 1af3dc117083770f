import { RLIM_INFINITY_JSON } from '../oci/spec.js';
import type { ContainerRecord } from './state/record.js';

/** The isolation part of a container's `inspect`, in docker's shape: Mounts and HostConfig fields. */
export function inspectMounts(rec: ContainerRecord): Record<string, unknown>[] {
  return (rec.options.mounts ?? []).map((m) => {
    const propagation = m.type === 'bind' ? ((m.options ?? []).find((o) => /^r?(private|shared|slave)$/.test(o)) ?? 'rprivate') : '';
    return {
      Type: m.type,
      ...(m.type === 'volume' ? { Name: m.source } : {}),
      Source: m.hostPath ?? '',
      Destination: m.target,
      ...(m.type === 'volume' ? { Driver: 'local' } : {}),
      Mode: m.readonly ? 'ro' : '',
      RW: !m.readonly,
      Propagation: propagation,
    };
  });
}

const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

/** docker's HostConfig.SecurityOpt: a profile file appears as its JSON. */
function securityOpt(o: ContainerRecord['options']): string[] | null {
  const out: string[] = [];
  if (o.seccomp !== undefined) out.push(`seccomp=${o.seccomp === 'unconfined' ? o.seccomp : JSON.stringify(o.seccomp)}`);
  if (o.noNewPrivileges !== undefined) out.push(`no-new-privileges=${o.noNewPrivileges}`);
  return out.length ? out : null;
}

export function inspectHostConfig(rec: ContainerRecord): Record<string, unknown> {
  const o = rec.options;
  const limit = (n: number) => (n >= RLIM_INFINITY_JSON / 2 ? -1 : n);
  const r = o.resources ?? {};
  return {
    CapAdd: o.capAdd ?? null,
    CapDrop: o.capDrop ?? null,
    GroupAdd: o.groupAdd ?? null,
    Privileged: o.privileged === true,
    ReadonlyRootfs: o.readOnly === true,
    SecurityOpt: securityOpt(o),
    ShmSize: o.shmSize ?? DEFAULT_SHM_SIZE,
    OomScoreAdj: o.oomScoreAdj ?? 0,
    Devices: (o.devices ?? []).map((d) => ({ PathOnHost: d.host, PathInContainer: d.container, CgroupPermissions: d.perms })),
    DeviceCgroupRules: o.deviceCgroupRules ?? null,
    Sysctls: o.sysctls ?? null,
    Ulimits: o.ulimits ? o.ulimits.map((u) => ({ Name: u.name, Hard: limit(u.hard), Soft: limit(u.soft) })) : null,
    Memory: r.memory ?? 0,
    MemorySwap: r.memorySwap ?? (r.memory !== undefined ? 2 * r.memory : 0),
    NanoCpus: r.nanoCpus ?? 0,
    CpuShares: r.cpuShares ?? 0,
    CpusetCpus: r.cpusetCpus ?? '',
    PidsLimit: r.pidsLimit ?? null,
    MemoryReservation: r.memoryReservation ?? 0,
    MemorySwappiness: r.memorySwappiness ?? null,
    OomKillDisable: r.oomKillDisable === true,
    CpuPeriod: r.cpuPeriod ?? 0,
    CpuQuota: r.cpuQuota ?? 0,
    CpusetMems: r.cpusetMems ?? '',
    BlkioWeight: r.blkioWeight ?? 0,
    ...blkioDevices(r.deviceThrottles ?? []),
    RestartPolicy: { Name: o.restart?.name ?? 'no', MaximumRetryCount: o.restart?.maxRetries ?? 0 },
    NetworkMode: o.joinNamespaces?.network ? `container:${o.joinNamespaces.network}` : networkName(o),
    PidMode: o.joinNamespaces?.pid ? `container:${o.joinNamespaces.pid}` : o.hostNamespaces?.includes('pid') ? 'host' : '',
    IpcMode: o.joinNamespaces?.ipc ? `container:${o.joinNamespaces.ipc}` : o.hostNamespaces?.includes('ipc') ? 'host' : 'private',
    UTSMode: o.hostNamespaces?.includes('uts') ? 'host' : '',
    // docker's UsernsMode; podman's IDMappings, its maps as --uidmap/--gidmap take them.
    UsernsMode: o.idMappings ? 'private' : '',
    IDMappings: o.idMappings
      ? { UidMap: o.idMappings.uid.map((m) => `${m.containerID}:${m.hostID}:${m.size}`), GidMap: o.idMappings.gid.map((m) => `${m.containerID}:${m.hostID}:${m.size}`) }
      : null,
    // The rest of docker's HostConfig that scripts read, as tsrun has them.
    Binds: binds(o),
    Tmpfs: tmpfs(o),
    Init: o.init === true ? true : null,
    PublishAllPorts: o.publishAll === true,
    LogConfig: { Type: o.logConfig?.type ?? 'json-file', Config: o.logConfig?.config ?? {} },
    Dns: o.dns?.servers ?? [],
    DnsOptions: o.dns?.options ?? [],
    DnsSearch: o.dns?.search ?? [],
    ExtraHosts: o.extraHosts ? o.extraHosts.map(([n, ip]) => `${n}:${ip}`) : null,
    Links: null,
    VolumesFrom: o.volumesFrom ?? null,
  };
}

/** docker's HostConfig.Binds: the host paths and named volumes mounted, as -v gives them (SRC:DST[:ro]); null when none. */
function binds(o: ContainerRecord['options']): string[] | null {
  const own = (o.mounts ?? []).filter((m) => m.from === undefined);
  const out = own.filter((m) => m.type === 'bind' || (m.type === 'volume' && !m.anonymous)).map((m) => `${m.source}:${m.target}${m.readonly ? ':ro' : ''}`);
  return out.length ? out : null;
}

/** docker's HostConfig.BlkioDevice*: {Path, Rate} of each --device-*-bps/iops, null for a kind not given. */
function blkioDevices(throttles: NonNullable<NonNullable<ContainerRecord['options']['resources']>['deviceThrottles']>) {
  const of = (kind: string) => {
    const list = throttles.filter((t) => t.kind === kind).map((t) => ({ Path: t.path, Rate: t.rate }));
    return list.length ? list : null;
  };
  return { BlkioDeviceReadBps: of('readBps'), BlkioDeviceWriteBps: of('writeBps'), BlkioDeviceReadIOps: of('readIops'), BlkioDeviceWriteIOps: of('writeIops') };
}

/** docker's HostConfig.Tmpfs: each --tmpfs target with its options; null when none. */
function tmpfs(o: ContainerRecord['options']): Record<string, string> | null {
  const out = Object.fromEntries((o.mounts ?? []).filter((m) => m.type === 'tmpfs').map((m) => [m.target, (m.options ?? []).join(',')]));
  return Object.keys(out).length ? out : null;
}

/** docker's name for the network a container is on: none, bridge or host; "" on another container's (it has none of its own). */
export function networkName(o: ContainerRecord['options']): string {
  return o.joinNamespaces?.network ? '' : o.hostNamespaces?.includes('network') ? 'host' : (o.network ?? 'none');
}
