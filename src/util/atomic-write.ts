import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NativeBinding } from '../native/types.js';

/**
 * Writes a file so that a crash leaves either the old or the new content:
 * temp file in the same directory, fsync, rename, fsync the directory
 * (containers/storage#326 lost l/ links to a missing fsync).
 */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o644): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  writeSynced(tmp, 'w', data, mode);
  fs.renameSync(tmp, file);
  fsyncDir(dir);
}

export function writeJsonAtomic(file: string, value: unknown, mode = 0o644): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n', mode);
}

/**
 * Temp file and rename, without fsync: a reader sees the old content or the
 * new, never half; a crash may lose the write. For state that is checked
 * against the boot id or rebuilt at every start (runtime.json, config.json,
 * the OCI runtime's state), where a lost write after a crash is harmless
 * and an fsync would only cost time (0.2-0.5 ms each).
 */
export function writeVolatileAtomic(file: string, data: string | Buffer, mode = 0o644): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, data, { mode });
  fs.renameSync(tmp, file);
}

/** fsync of a directory (its entries' names), or of a file. */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads and parses a JSON file; undefined when it does not exist. */
export function readJsonIfExists<T>(file: string): T | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text) as T;
}

/**
 * Writes a file that did not exist, in a directory the caller made and will
 * fsync once after all its entries: the rename of writeFileAtomic buys
 * nothing when there is no old content to protect.
 */
export function writeNewFileSynced(file: string, data: string | Buffer, mode = 0o644): void {
  writeSynced(file, 'wx', data, mode);
}

/** writeNewFileSynced for a caller that makes the file durable later, with a SyncBatch. */
export function writeNewFile(file: string, data: string | Buffer, mode = 0o644): void {
  fs.writeFileSync(file, data, { flag: 'wx', mode });
}

/**
 * Past this much dirty page cache (/proc/meminfo Dirty + Writeback, all
 * filesystems), a SyncBatch fsyncs its paths one by one instead of calling
 * syncfs: syncfs flushes everyone's dirty data on the filesystem, and with
 * 100 MB written by another process it took 63 ms where each fsync stayed
 * under 0.6 ms.
 */
export const SYNCFS_MAX_DIRTY_BYTES = 2 * 1024 * 1024;

/**
 * Files and directories written in one go that must all be on disk before
 * the caller goes on. commit() makes them durable with one syncfs(2) per
 * filesystem they are on when the kernel holds little dirty data (one
 * journal commit instead of one per fsync), and with an fsync each
 * otherwise, so another writer's backlog never stalls a create.
 */
export class SyncBatch {
  private readonly paths = new Set<string>();

  add(...paths: string[]): void {
    for (const p of paths) this.paths.add(p);
  }

  commit(native: Pick<NativeBinding, 'syncfs'>, dirtyBytes: () => number = systemDirtyBytes): 'syncfs' | 'fsync' {
    if (dirtyBytes() <= SYNCFS_MAX_DIRTY_BYTES) {
      // One path per filesystem: a store may span several (overlay/ on a disk of its own, say).
      const byDevice = new Map<number, string>();
      for (const p of this.paths) {
        const dev = fs.lstatSync(p).dev;
        if (!byDevice.has(dev)) byDevice.set(dev, p);
      }
      for (const p of byDevice.values()) syncFilesystem(native, p);
      return 'syncfs';
    }
    for (const p of this.paths) fsyncDir(p);
    return 'fsync';
  }
}

/** Dirty and under-writeback page cache, in bytes; Infinity if unknown (then fsync is the safe choice). */
export function systemDirtyBytes(meminfo?: string): number {
  let text = meminfo;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/meminfo', 'latin1');
    } catch {
      return Infinity;
    }
  }
  const info = text;
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(info)?.[1] ?? NaN);
  const total = (kb('Dirty') + kb('Writeback')) * 1024;
  return Number.isFinite(total) ? total : Infinity;
}

/**
 * syncfs(2) on the filesystem holding `dir`: every file and directory written
 * there so far is on disk when it returns (Linux >= 5.8 also reports
 * writeback errors).
 */
export function syncFilesystem(native: Pick<NativeBinding, 'syncfs'>, dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    native.syncfs({ fd });
  } finally {
    fs.closeSync(fd);
  }
}

function writeSynced(file: string, flags: 'w' | 'wx', data: string | Buffer, mode: number): void {
  const fd = fs.openSync(file, flags, mode);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
