import { UsageError } from '../../errors.js';
import type { OciIdMapping, OciProcess, OciSpec } from '../../oci/spec.js';

/** The maps' names in messages: the spec's fields, or the flags of `run --uidmap`. */
export interface IdMapNames {
  uid: string;
  gid: string;
}
const SPEC_FIELDS: IdMapNames = { uid: 'linux.uidMappings', gid: 'linux.gidMappings' };
export const ID_MAP_FLAGS: IdMapNames = { uid: '--uidmap', gid: '--gidmap' };

/** The kernel's limit on lines of a uid_map or gid_map (Linux 4.15; user_namespaces(7)). */
const MAX_LINES = 340;
const MAX_ID = 2 ** 32 - 1;

export interface IdMaps {
  uid: OciIdMapping[];
  gid: OciIdMapping[];
}

/**
 * The uid and gid maps of a container with a user namespace, checked as
 * the kernel would check them when the monitor writes them
 * (user_namespaces(7): whole numbers, at most 340 lines, no two ranges
 * overlapping on either side), plus runc's rules: mappings exactly when
 * there is a user namespace, and the container's root mapped, since the
 * container is set up as that root. A user namespace joined by path (a
 * Kubernetes pod's) needs its maps too, as Kubernetes sends them: the
 * monitor checks they are that namespace's. Undefined without a user
 * namespace.
 */
export function planIdMaps(spec: Pick<OciSpec, 'linux'>, names: IdMapNames = SPEC_FIELDS): IdMaps | undefined {
  const userns = spec.linux.namespaces.find((n) => n.type === 'user');
  const { uidMappings = [], gidMappings = [] } = spec.linux;
  if (!userns) {
    if (uidMappings.length > 0 || gidMappings.length > 0) throw new UsageError('linux.uidMappings and gidMappings need a user namespace (linux.namespaces has no "user")');
    return undefined;
  }
  const maps = { uid: checkMap(names.uid, uidMappings), gid: checkMap(names.gid, gidMappings) };
  if (hostId(maps.uid, 0) === undefined) throw new UsageError(`${names.uid} must map uid 0: the container is set up as its root`);
  if (hostId(maps.gid, 0) === undefined) throw new UsageError(`${names.gid} must map gid 0: the container is set up as its root`);
  return maps;
}

function checkMap(key: string, map: unknown): OciIdMapping[] {
  if (!Array.isArray(map) || map.length === 0) throw new UsageError(`a user namespace needs ${key}`);
  if (map.length > MAX_LINES) throw new UsageError(`${key}: at most ${MAX_LINES} mappings (the kernel's limit), got ${map.length}`);
  const whole = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_ID;
  for (const m of map as Record<string, unknown>[]) {
    if (typeof m !== 'object' || m === null || !whole(m.containerID) || !whole(m.hostID) || !whole(m.size) || m.size === 0 || m.containerID + m.size > MAX_ID || m.hostID + m.size > MAX_ID) {
      throw new UsageError(`${key}: ${JSON.stringify(m)} is not a mapping of containerID, hostID and size (whole numbers, size above 0)`);
    }
  }
  const ranges = map as OciIdMapping[];
  // map_write: the kernel takes the whole map in one write of under a page.
  const bytes = ranges.reduce((n, m) => n + `${m.containerID} ${m.hostID} ${m.size}\n`.length, 0);
  if (bytes >= 4096) throw new UsageError(`${key}: ${bytes} bytes written out, and the kernel takes under 4096: use fewer or larger ranges`);
  for (const [i, a] of ranges.entries()) {
    for (const b of ranges.slice(i + 1)) {
      const overlap = (x: number, y: number) => x < y + b.size && y < x + a.size;
      if (overlap(a.containerID, b.containerID) || overlap(a.hostID, b.hostID)) throw new UsageError(`${key}: ${shown(key, a)} and ${shown(key, b)} overlap`);
    }
  }
  return ranges;
}

/** A mapping as the user gave it: a flag's CONTAINER_ID:HOST_ID:AMOUNT, a spec's JSON. */
const shown = (key: string, m: OciIdMapping) => (key.startsWith('--') ? `${m.containerID}:${m.hostID}:${m.size}` : JSON.stringify(m));

/** The host id that `id` inside the namespace is, or undefined when `map` does not map it. */
export function hostId(map: OciIdMapping[], id: number): number | undefined {
  const m = map.find((r) => id >= r.containerID && id < r.containerID + r.size);
  return m && m.hostID + (id - m.containerID);
}


/** A process of the container runs as ids of its namespace: each must be mapped (setresuid and setgroups would refuse it). */
export function checkProcessMapped(maps: IdMaps, user: OciProcess['user'], names = SPEC_FIELDS): void {
  if (hostId(maps.uid, user.uid) === undefined) throw new UsageError(`uid ${user.uid} is not mapped in the container's user namespace (${names.uid})`);
  for (const gid of [user.gid, ...(user.additionalGids ?? [])]) {
    if (hostId(maps.gid, gid) === undefined) throw new UsageError(`gid ${gid} is not mapped in the container's user namespace (${names.gid})`);
  }
}

/** --uidmap's root is an overlay of idmapped layers, which overlayfs takes from Linux 5.19 ("ovl: support idmapped layers"). */
export function checkIdmappedRootKernel(release: string): void {
  const [major = 0, minor = 0] = release.split(/[.-]/).map(Number);
  if (major < 5 || (major === 5 && minor < 19)) throw new UsageError(`--uidmap needs Linux 5.19 or later (overlayfs over idmapped layers), and this is ${release}`);
}

/** The subordinate id ranges /etc/subuid or /etc/subgid gives `user` ("name:start:count" lines). */
export function subordinateIds(text: string, user: string): { start: number; count: number }[] {
  return text.split('\n').flatMap((line) => {
    const [name, start, count] = line.trim().split(':');
    return name === user && /^\d+$/.test(start ?? '') && /^\d+$/.test(count ?? '') && Number(count) > 0 ? [{ start: Number(start), count: Number(count) }] : [];
  });
}

/**
 * podman's --userns auto: `size` ids from the subordinate ranges of the
 * user "containers", the first that no other container's map uses (`used`,
 * host ranges), so no two such containers share an id on the host.
 * Undefined when none is free.
 */
export function freeIdRange(ranges: { start: number; count: number }[], used: OciIdMapping[], size: number): number | undefined {
  const taken = [...used].sort((a, b) => a.hostID - b.hostID);
  for (const r of ranges) {
    let start = r.start;
    for (const u of taken) {
      if (u.hostID + u.size <= start) continue;
      if (u.hostID >= start + size) break;
      start = u.hostID + u.size;
    }
    if (start + size <= r.start + r.count) return start;
  }
  return undefined;
}
