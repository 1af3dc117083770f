import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConflictError, RuntimeError, UsageError } from '../errors.js';
import { logger } from '../log.js';
import { type StorePaths, storeLockFile } from '../store/paths.js';
import { type VolumeRecord, createVolume, deleteVolume, readVolume, volumeDataDir } from '../store/volumes.js';
import { newId } from '../util/ids.js';
import { withLock } from '../util/lock.js';
import { findContainer, listContainers } from './containers.js';
import type { Context } from './context.js';
import { type MountSpec, VOLUME_NAME, parseVolumesFrom } from './plan/run-flags.js';
import type { ContainerRecord } from './state/record.js';
import { fillFromImage } from './copy.js';
import type { NativeBinding } from '../native/types.js';

/**
 * Volumes as containers use them: created on first use, shared by name,
 * refused removal while any container (running or not) refers to one, as
 * docker refuses with a conflict.
 */

/** Checks what needs no lock: bind sources exist; -v's are made if missing (a directory, 0755, as docker's -v), --mount's refused. */
export function checkMountSources(mounts: MountSpec[]): void {
  for (const m of mounts) {
    if (m.type !== 'bind') continue;
    try {
      fs.statSync(m.source!);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !m.makeSource) {
        throw new UsageError(`invalid mount config for type "bind": bind source path does not exist: ${m.source}`);
      }
      try {
        fs.mkdirSync(m.source!, { recursive: true, mode: 0o755 });
      } catch (mkdirErr) {
        throw new UsageError(`cannot make the bind source ${m.source}: ${(mkdirErr as NodeJS.ErrnoException).code ?? (mkdirErr as Error).message}`);
      }
    }
  }
}

/**
 * Every mount a new container gets, in docker's order of precedence: its
 * own (-v, --mount, --tmpfs); then the volumes and binds of each
 * --volumes-from container at the paths still free (shared, never its
 * anonymous volumes to remove); then an anonymous volume at each of the
 * image's VOLUME paths still free, so what a database writes there stays
 * out of the rw layer (diff, commit) and writable under --read-only.
 */
export function plannedMounts(p: StorePaths, own: MountSpec[], volumesFrom: string[], imageVolumes: string[]): MountSpec[] {
  const mounts = [...own];
  const taken = new Set(own.map((m) => m.target));
  for (const spec of volumesFrom) {
    const { container, readonly } = parseVolumesFrom(spec);
    const source = findContainer(p, container);
    for (const m of source.options.mounts ?? []) {
      if (m.type === 'tmpfs' || taken.has(m.target)) continue;
      taken.add(m.target);
      const { anonymous: _anonymous, makeSource: _make, ...shared } = m;
      mounts.push({ ...shared, readonly: readonly ?? m.readonly, from: m.from ?? source.id });
    }
  }
  for (const target of imageVolumes.map((v) => path.posix.normalize(v).replace(/(.)\/+$/, '$1'))) {
    if (!target.startsWith('/') || taken.has(target)) continue;
    taken.add(target);
    mounts.push({ type: 'volume', target, readonly: false });
  }
  return mounts;
}

/**
 * Names anonymous volumes (64 hex), creates missing volumes and records
 * each mount's host path. The caller holds the store lock, so a volume
 * cannot be removed between this and the container's record being written.
 */
export function resolveMounts(ctx: Context, mounts: MountSpec[]): MountSpec[] {
  return mounts.map((m) => {
    if (m.type === 'tmpfs') return m;
    if (m.type === 'bind') return { ...m, hostPath: m.source };
    const name = m.source ?? newId();
    createVolume(ctx.paths, name, { anonymous: m.source === undefined });
    return { ...m, source: name, anonymous: m.source === undefined, hostPath: volumeDataDir(ctx.paths, name) };
  });
}

/**
 * docker's rule for a volume mounted over image content: an empty volume
 * gets a copy of what the image has at its target (a database image's
 * default data dir, say), unless the mount says nocopy. Runs at every
 * start with the union mounted; a volume with anything in it is left alone.
 */
export function fillEmptyVolumes(native: NativeBinding, mounts: MountSpec[], merged: string): void {
  for (const m of mounts) {
    if (m.type !== 'volume' || m.noCopy || !m.hostPath) continue;
    let empty: boolean;
    try {
      empty = fs.readdirSync(m.hostPath).length === 0;
    } catch {
      continue;
    }
    if (empty) fillFromImage(native, merged, m.target, m.hostPath);
  }
}

export function volumeUsers(containers: ContainerRecord[], name: string): ContainerRecord[] {
  return containers.filter((c) => (c.options.mounts ?? []).some((m) => m.type === 'volume' && m.source === name));
}

export async function createNamedVolume(ctx: Context, name: string | undefined, labels: Record<string, string>): Promise<VolumeRecord> {
  if (name !== undefined && !VOLUME_NAME.test(name)) {
    throw new UsageError(`create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`);
  }
  return withLock(ctx.native, storeLockFile(ctx.paths), () => createVolume(ctx.paths, name ?? newId(), { labels, anonymous: name === undefined }));
}

/** `volume rm`: a volume any container refers to is a conflict, with or without -f (docker's rule). */
export async function removeVolume(ctx: Context, name: string, opts: { force: boolean }): Promise<void> {
  await withLock(ctx.native, storeLockFile(ctx.paths), () => {
    if (!readVolume(ctx.paths, name)) {
      if (opts.force) return;
      throw new RuntimeError(`get ${name}: no such volume`);
    }
    const users = volumeUsers(listContainers(ctx.paths), name);
    if (users.length > 0) throw new ConflictError(`remove ${name}: volume is in use - [${users.map((c) => c.id).join(', ')}]`);
    deleteVolume(ctx.paths, name);
  });
}

/** `rm -v` (and `--rm`): the container's anonymous volumes go with it, unless another container uses one too. */
export async function removeAnonymousVolumes(ctx: Context, rec: ContainerRecord): Promise<void> {
  const names = (rec.options.mounts ?? []).filter((m) => m.type === 'volume' && m.anonymous && m.source).map((m) => m.source!);
  if (names.length === 0) return;
  await withLock(ctx.native, storeLockFile(ctx.paths), () => {
    const others = listContainers(ctx.paths).filter((c) => c.id !== rec.id);
    for (const name of names) {
      if (!readVolume(ctx.paths, name) || volumeUsers(others, name).length > 0) continue;
      try {
        deleteVolume(ctx.paths, name);
      } catch (err) {
        logger('lifecycle').warn({ cid: rec.id, volume: name, err }, 'could not remove an anonymous volume');
      }
    }
  });
}
