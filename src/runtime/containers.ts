import { ConflictError, ContainerNotFoundError } from '../errors.js';
import type { StorePaths } from '../store/paths.js';
import { type ContainerRecord, listContainerIds, readRecord } from './state/record.js';
import { haveNameIndex, nameOwner } from './names.js';

export function listContainers(p: StorePaths): ContainerRecord[] {
  const out: ContainerRecord[] = [];
  for (const id of listContainerIds(p)) {
    const rec = readRecord(p, id);
    if (rec) out.push(rec);
  }
  return out;
}

/**
 * A container by full id, exact name, or unique id prefix, as docker
 * resolves them; through the name index (names.ts) and the directory
 * listing, reading only the record it returns. A store without the index
 * is searched record by record.
 */
export function findContainer(p: StorePaths, ref: string): ContainerRecord {
  if (/^[a-f0-9]{64}$/.test(ref)) {
    const rec = readRecord(p, ref);
    if (rec) return rec;
  }
  const name = ref.startsWith('/') ? ref.slice(1) : ref;
  if (haveNameIndex(p)) {
    const owner = nameOwner(p, name);
    const rec = owner ? readRecord(p, owner) : undefined;
    if (rec) return rec;
  } else {
    const byName = listContainers(p).find((c) => c.name === name);
    if (byName) return byName;
  }
  if (/^[a-f0-9]+$/.test(ref)) {
    const matches = listContainerIds(p).filter((id) => id.startsWith(ref));
    if (matches.length > 1) throw new ConflictError(`multiple containers match the id prefix ${ref}`);
    const rec = matches.length === 1 ? readRecord(p, matches[0]!) : undefined;
    if (rec) return rec;
  }
  throw new ContainerNotFoundError(ref);
}
