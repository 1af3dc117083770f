import { ConflictError, ContainerNotFoundError } from '../errors.js';
import type { StorePaths } from '../store/paths.js';
import { type ContainerRecord, listContainerIds, readRecord } from './state/record.js';

export function listContainers(p: StorePaths): ContainerRecord[] {
  const out: ContainerRecord[] = [];
  for (const id of listContainerIds(p)) {
    const rec = readRecord(p, id);
    if (rec) out.push(rec);
  }
  return out;
}

/** A container by full id, exact name, or unique id prefix, as docker resolves them. */
export function findContainer(p: StorePaths, ref: string): ContainerRecord {
  const all = listContainers(p);
  const exact = all.find((c) => c.id === ref || c.name === ref || `/${c.name}` === ref);
  if (exact) return exact;
  if (/^[a-f0-9]+$/.test(ref)) {
    const matches = all.filter((c) => c.id.startsWith(ref));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) throw new ConflictError(`multiple containers match the id prefix ${ref}`);
  }
  throw new ContainerNotFoundError(ref);
}
