import * as fs from 'node:fs';
import * as path from 'node:path';
import { RuntimeError } from '../errors.js';
import { readJsonIfExists, writeJsonAtomic } from '../util/atomic-write.js';
import { removeTree } from './remove-tree.js';
import type { StorePaths } from './paths.js';

/**
 * Named volumes, laid out as docker's local driver:
 *   <root>/volumes/<name>/_data        what containers bind
 *   <root>/volumes/<name>/volume.json  name, creation time, labels (tmp+fsync+rename)
 * (The paths live here rather than in paths.ts only to keep this change in
 * files of its own; they are computed nowhere else.)
 */
export const volumesDir = (p: StorePaths) => path.join(p.root, 'volumes');
export const volumeDir = (p: StorePaths, name: string) => path.join(volumesDir(p), name);
export const volumeDataDir = (p: StorePaths, name: string) => path.join(volumeDir(p, name), '_data');
const volumeFile = (p: StorePaths, name: string) => path.join(volumeDir(p, name), 'volume.json');

export interface VolumeRecord {
  name: string;
  createdAt: string;
  labels: Record<string, string>;
  /** Made by `-v /path` for one container; `rm -v` and `run --rm` remove it. */
  anonymous: boolean;
}

/** `docker volume inspect`'s shape. */
export interface VolumeInspect {
  CreatedAt: string;
  Driver: 'local';
  Labels: Record<string, string> | null;
  Mountpoint: string;
  Name: string;
  Options: Record<string, string> | null;
  Scope: 'local';
}

export function readVolume(p: StorePaths, name: string): VolumeRecord | undefined {
  if (name.includes('/') || name.startsWith('.')) return undefined;
  return readJsonIfExists<VolumeRecord>(volumeFile(p, name));
}

/** Creates the volume, or returns it when it exists (docker's `volume create` is idempotent). The caller holds the store lock. */
export function createVolume(p: StorePaths, name: string, opts: { labels?: Record<string, string>; anonymous?: boolean } = {}): VolumeRecord {
  const existing = readVolume(p, name);
  if (existing) return existing;
  fs.mkdirSync(volumesDir(p), { recursive: true, mode: 0o701 });
  fs.mkdirSync(volumeDir(p, name), { recursive: true, mode: 0o701 });
  fs.mkdirSync(volumeDataDir(p, name), { recursive: true, mode: 0o755 });
  const rec: VolumeRecord = { name, createdAt: rfc3339Seconds(new Date()), labels: opts.labels ?? {}, anonymous: opts.anonymous === true };
  writeJsonAtomic(volumeFile(p, name), rec, 0o600);
  return rec;
}

export function listVolumes(p: StorePaths): VolumeRecord[] {
  let names: string[];
  try {
    names = fs.readdirSync(volumesDir(p));
  } catch {
    return [];
  }
  return names
    .sort()
    .map((n) => readVolume(p, n))
    .filter((v): v is VolumeRecord => v !== undefined);
}

/** Deletes a volume and its data, never across a mount point (containerd#10704). The caller checks it is unused. */
export function deleteVolume(p: StorePaths, name: string): void {
  if (!readVolume(p, name)) throw new RuntimeError(`no such volume: ${name}`);
  // The record goes last, so an interrupted removal still lists the volume and can be retried.
  removeTree(volumeDataDir(p, name));
  removeTree(volumeDir(p, name));
}

export function inspectVolume(p: StorePaths, v: VolumeRecord): VolumeInspect {
  return {
    CreatedAt: v.createdAt,
    Driver: 'local',
    Labels: Object.keys(v.labels).length ? v.labels : null,
    Mountpoint: volumeDataDir(p, v.name),
    Name: v.name,
    Options: null,
    Scope: 'local',
  };
}

/** "2024-05-01T10:00:00Z", as docker prints CreatedAt (seconds, RFC 3339). */
function rfc3339Seconds(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}
