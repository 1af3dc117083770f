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

/** writeNewFileSynced for a caller that makes everything durable at once with syncFilesystem. */
export function writeNewFile(file: string, data: string | Buffer, mode = 0o644): void {
  fs.writeFileSync(file, data, { flag: 'wx', mode });
}

/**
 * syncfs(2) on the filesystem holding `dir`: every file and directory written
 * there so far is on disk when it returns (Linux >= 5.8 also reports
 * writeback errors). One call instead of an fsync per file and directory,
 * each of which is a journal commit of its own.
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
