import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConflictError } from '../errors.js';
import type { StorePaths } from '../store/paths.js';
import { listContainerIds, readRecord } from './state/record.js';
import { unlinkIfExists } from '../util/remove-file.js';

/**
 * Container names, one symlink each: <root>/names/NAME -> ID. symlink(2)
 * either creates the name or fails with EEXIST, so claiming one is atomic
 * and needs no reading of every record (create, rename and a lookup by
 * name stay the same cost with 1 or 1000 containers). The record is the
 * truth: a link whose container is gone, or names it otherwise, is stale
 * and may be taken over (a crash between the link and the record, or
 * between rm's record removal and the unlink, leaves one). A store made
 * before the index gets it built on first use, under the store lock.
 */

const namesDir = (p: StorePaths) => path.join(p.root, 'names');
const linkOf = (p: StorePaths, name: string) => path.join(namesDir(p), name);

/** The id of the container called `name`, if the index says so and its record agrees. */
export function nameOwner(p: StorePaths, name: string): string | undefined {
  let id: string;
  try {
    id = fs.readlinkSync(linkOf(p, name));
  } catch {
    return undefined;
  }
  return readRecord(p, id)?.name === name ? id : undefined;
}

/** Whether the index exists (a store from before it has none until the first create). */
export function haveNameIndex(p: StorePaths): boolean {
  return fs.existsSync(namesDir(p));
}

/** Builds the index from the records if the store has none. The caller holds the store lock. */
export function ensureNameIndex(p: StorePaths): void {
  if (haveNameIndex(p)) return;
  const tmp = `${namesDir(p)}.${process.pid}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true, mode: 0o700 });
  for (const id of listContainerIds(p)) {
    const rec = readRecord(p, id);
    if (rec) fs.symlinkSync(id, path.join(tmp, rec.name));
  }
  fs.renameSync(tmp, namesDir(p));
}

/** Takes `name` for `id`, or throws docker's conflict. The caller holds the store lock (for stale links). */
export function claimName(p: StorePaths, name: string, id: string): void {
  for (;;) {
    try {
      fs.symlinkSync(id, linkOf(p, name));
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = nameOwner(p, name);
    if (owner === id) return;
    if (owner) throw new ConflictError(`the container name "${name}" is already in use by container ${owner.slice(0, 12)}; remove it or pick another name`);
    unlinkIfExists(linkOf(p, name));
  }
}

/** Gives `name` up, if it is still `id`'s. */
export function releaseName(p: StorePaths, name: string, id: string): void {
  try {
    if (fs.readlinkSync(linkOf(p, name)) === id) fs.unlinkSync(linkOf(p, name));
  } catch {
    // already gone
  }
}
