import { familiarName } from '../store/reference.js';
import { lowerDiffDirs } from '../store/layers.js';
import { type StoredImage, readImageConfig } from '../store/images.js';
import type { OciContainerConfig, OciImageConfig } from '../image/oci-types.js';
import { type StorePaths, containerFile, layerDiff, layerMerged, layerWork } from '../store/paths.js';
import { inspectHostConfig, inspectMounts, networkName } from './inspect-isolation.js';
import { type PortBinding, mergeEnv } from './plan/container-spec.js';
import { type ContainerRecord, readRuntime } from './state/record.js';
import { currentState, waitingToRestart } from './state/status.js';

/** `inspect` output in docker's shape, for containers and images. */

export function inspectContainer(p: StorePaths, rec: ContainerRecord): Record<string, unknown> {
  const st = currentState(p, rec);
  let lowerDir = '';
  try {
    lowerDir = lowerDiffDirs(p, rec.rwLayerId).join(':');
  } catch {
    lowerDir = '';
  }
  return {
    Id: rec.id,
    Created: rec.created,
    Path: rec.path,
    Args: rec.args,
    State: {
      Status: st.paused ? 'paused' : st.running ? 'running' : waitingToRestart(rec, st) ? 'restarting' : st.status,
      Running: st.running,
      Paused: st.paused,
      Restarting: waitingToRestart(rec, st),
      OOMKilled: st.oomKilled,
      Dead: false,
      Pid: st.pid,
      ExitCode: st.exitCode,
      Error: st.error,
      StartedAt: st.startedAt,
      FinishedAt: st.finishedAt,
    },
    Image: rec.imageId,
    ResolvConfPath: containerFile(p, rec.id, 'resolv.conf'),
    HostnamePath: containerFile(p, rec.id, 'hostname'),
    HostsPath: containerFile(p, rec.id, 'hosts'),
    LogPath: rec.options.logConfig?.type === 'none' ? '' : containerFile(p, rec.id, 'ctr.log'),
    Name: `/${rec.name}`,
    RestartCount: rec.restartCount,
    Driver: 'overlay2',
    Platform: 'linux',
    HostConfig: { AutoRemove: rec.autoRemove, PortBindings: portMap(rec.options.ports ?? []), ...inspectHostConfig(rec) },
    Mounts: inspectMounts(rec),
    NetworkSettings: networkSettings(p, rec, st.running),
    GraphDriver: {
      Data: {
        LowerDir: lowerDir,
        // With a user namespace the union is mounted inside it only (idmapped layers), from create on (pid > 0:
        // running, or created and waiting): its init's root is where the host sees it. A path of the moment,
        // as State.Pid is.
        MergedDir: rec.options.idMappings && st.pid > 0 ? `/proc/${st.pid}/root` : layerMerged(p, rec.rwLayerId),
        UpperDir: layerDiff(p, rec.rwLayerId),
        WorkDir: layerWork(p, rec.rwLayerId),
      },
      Name: 'overlay2',
    },
    Config: containerConfig(p, rec),
    ExecIDs: null,
  };
}

/**
 * docker's container Config: what the container runs with, the image's
 * config under the run flags (its Env with -e's on top, its Cmd, User,
 * WorkingDir, Labels with --label's), not only the flags. An image removed with rmi -f
 * leaves the flags alone.
 */
function containerConfig(p: StorePaths, rec: ContainerRecord): Record<string, unknown> {
  let image: OciImageConfig['config'] = {};
  try {
    image = readImageConfig(p, rec.imageId).config ?? {};
  } catch {
    // the image is gone
  }
  const o = rec.options;
  const run = runConfig(image ?? {}, rec);
  return {
    Hostname: rec.hostname,
    User: run.User ?? '',
    Env: run.Env,
    Cmd: run.Cmd ?? null,
    Image: rec.imageName,
    WorkingDir: run.WorkingDir ?? '',
    Entrypoint: run.Entrypoint ?? null,
    Labels: run.Labels,
    ExposedPorts: run.ExposedPorts,
    Volumes: run.Volumes ?? null,
    Domainname: '',
    StdinOnce: false,
    // Empty when unset (docker's struct field, omitted from its JSON): a template reads it either way.
    StopSignal: run.StopSignal ?? '',
    ...(o.stopTimeout !== undefined ? { StopTimeout: o.stopTimeout } : {}),
    Tty: o.tty === true,
    OpenStdin: o.openStdin === true,
  };
}

/**
 * The image config's part a container runs with: the image's under the
 * run flags (-e, --entrypoint, the command, -u, -w, --label, -p,
 * --stop-signal, anonymous -v). inspect's Config, and what `commit` makes
 * the new image's, as docker's commit does.
 */
export function runConfig(image: OciContainerConfig, rec: ContainerRecord): OciContainerConfig {
  const o = rec.options;
  // A new entrypoint drops the image's Cmd, as docker's; "" clears the entrypoint.
  const entrypoint = o.entrypoint !== undefined ? (o.entrypoint === '' ? undefined : [o.entrypoint]) : image.Entrypoint;
  const cmd = o.cmd.length > 0 ? o.cmd : o.entrypoint !== undefined ? undefined : image.Cmd;
  const anonymous = (o.mounts ?? []).filter((m) => m.type === 'volume' && m.anonymous).map((m) => [m.target, {}] as const);
  const volumes = { ...image.Volumes, ...Object.fromEntries(anonymous) };
  const user = o.user ?? image.User;
  const workdir = o.workdir || image.WorkingDir;
  const stopSignal = o.stopSignal ?? image.StopSignal;
  // The image's other fields (Healthcheck, Shell, OnBuild...) as they are; these, under the flags.
  const { User: _u, Entrypoint: _e, Cmd: _c, Volumes: _v, WorkingDir: _w, StopSignal: _s, ...rest } = image;
  return {
    ...rest,
    ...(user ? { User: user } : {}),
    ExposedPorts: { ...image.ExposedPorts, ...Object.fromEntries([...(o.expose ?? []), ...(o.ports ?? []).map((b) => `${b.containerPort}/${b.protocol}`)].map((k) => [k, {}])) },
    Env: mergeEnv(image.Env ?? [], o.env ?? []),
    ...(entrypoint ? { Entrypoint: entrypoint } : {}),
    ...(cmd ? { Cmd: cmd } : {}),
    ...(Object.keys(volumes).length > 0 ? { Volumes: volumes } : {}),
    ...(workdir ? { WorkingDir: workdir } : {}),
    Labels: { ...image.Labels, ...o.labels },
    ...(stopSignal ? { StopSignal: stopSignal } : {}),
  };
}

/** docker's NetworkSettings: a running bridged container's address; empty otherwise, as docker's. */
function networkSettings(p: StorePaths, rec: ContainerRecord, running: boolean): Record<string, unknown> {
  const lease = running ? readRuntime(p, rec.id)?.network : undefined;
  const address = { IPAddress: lease?.address ?? '', IPPrefixLen: lease?.prefix ?? 0, Gateway: lease?.gateway ?? '' };
  const name = networkName(rec.options);
  // On another container's network it is on none of its own, as docker's Networks is then empty.
  return { ...address, MacAddress: '', Ports: portMap(publishedPorts(p, rec, running)), Networks: name ? { [name]: address } : {} };
}

/** The -p bindings as made by this start (host ports chosen), for a running container; as asked otherwise. */
export function publishedPorts(p: StorePaths, rec: ContainerRecord, running: boolean): PortBinding[] {
  return (running ? readRuntime(p, rec.id)?.network?.ports : undefined) ?? rec.options.ports ?? [];
}

/** docker's {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]} (HostPort "": chosen at start), for NetworkSettings.Ports and HostConfig.PortBindings. */
export function portMap(ports: PortBinding[]): Record<string, { HostIp: string; HostPort: string }[]> {
  const map: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const b of ports) (map[`${b.containerPort}/${b.protocol}`] ??= []).push({ HostIp: b.hostIp ?? '0.0.0.0', HostPort: b.hostPort ? String(b.hostPort) : b.hostRange ? `${b.hostRange.low}-${b.hostRange.high}` : '' });
  return map;
}

export function inspectImage(p: StorePaths, image: StoredImage): Record<string, unknown> {
  const top = image.layers[image.layers.length - 1]!;
  const data: Record<string, string> = {};
  if (image.layers.length > 1) {
    data.LowerDir = image.layers
      .slice(0, -1)
      .reverse()
      .map((l) => layerDiff(p, l.cacheId))
      .join(':');
  }
  data.MergedDir = layerMerged(p, top.cacheId);
  data.UpperDir = layerDiff(p, top.cacheId);
  data.WorkDir = layerWork(p, top.cacheId);
  return {
    Id: image.id,
    RepoTags: image.names.map((n) => familiarName(n)),
    RepoDigests: [],
    // No parent chain in an OCI image; docker's builder leaves it empty too.
    Parent: '',
    // docker's config comment: commit -m, import -m, or the builder's, as the last history entry keeps it.
    Comment: image.config.history?.at(-1)?.comment ?? '',
    Created: image.config.created ?? '',
    DockerVersion: '',
    Author: image.config.author ?? '',
    Config: { ...image.config.config, Labels: { ...image.config.config?.Labels }, ExposedPorts: { ...image.config.config?.ExposedPorts } },
    Architecture: image.config.architecture,
    ...(image.config.variant ? { Variant: image.config.variant } : {}),
    Os: image.config.os,
    Size: image.size,
    GraphDriver: { Data: data, Name: 'overlay2' },
    RootFS: { Type: 'layers', Layers: image.config.rootfs.diff_ids },
    // tsrun keeps no tag times: Go's zero time, as docker prints an image never tagged here.
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
  };
}
