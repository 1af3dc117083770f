import * as fs from 'node:fs';
import { ConflictError } from '../errors.js';
import { logger } from '../log.js';
import type { Context } from '../runtime/context.js';
import { listContainers } from '../runtime/containers.js';
import { currentState } from '../runtime/state/status.js';
import { withLock } from '../util/lock.js';
import { listImageIds, readImage, readLayerRecord, removeLayerRecord, removeTag, resolveImage, type StoredImage } from './images.js';
import { removeLayer } from './layers.js';
import { imageConfigFile, storeLockFile } from './paths.js';
import { canonicalName, familiarName, parseReference } from './reference.js';

/**
 * `tsrun rmi`, with docker's rules (daemon/images/image_delete.go):
 *  - by name: untag; once an image has no name left, delete it;
 *  - by id: refused while several names point at it unless -f, then untag all and delete;
 *  - while a container uses the image, the last name is not removed and
 *    the image never deleted, unless -f, which untags only.
 * Deleting an image removes its config and every layer no remaining image
 * uses (containers use their image's layers, so they are covered).
 * Each step is reported as docker prints it ("Untagged: …", "Deleted: sha256:…").
 */
export async function removeImages(ctx: Context, refs: string[], opts: { force: boolean }, report: (line: string) => void): Promise<Error[]> {
  const p = ctx.paths;
  const errors: Error[] = [];
  await withLock(ctx.native, storeLockFile(p), () => {
    for (const ref of refs) {
      try {
        removeOne(ctx, ref, opts.force, report);
      } catch (err) {
        errors.push(err as Error);
      }
    }
  });
  return errors;
}

function isIdRef(p: Context['paths'], ref: string, image: StoredImage): boolean {
  const m = /^(sha256:)?([a-f0-9]{1,64})$/.exec(ref);
  return m !== null && image.id.slice(7).startsWith(m[2]!) && listImageIds(p).includes(image.id);
}

function removeOne(ctx: Context, ref: string, force: boolean, report: (line: string) => void): void {
  const p = ctx.paths;
  const image = resolveImage(p, ref);
  const short = image.id.slice(7, 19);
  const users = listContainers(p).filter((c) => c.imageId === image.id);
  const runningUser = users.find((c) => currentState(p, c).running);
  const byId = isIdRef(p, ref, image) && !image.names.includes(safeCanonical(ref) ?? '');

  if (!byId) {
    const name = canonicalName(parseReference(ref));
    if (image.names.length === 1 && users.length > 0 && !force) {
      throw new ConflictError(
        `conflict: unable to remove repository reference "${ref}" (must force) - container ${users[0]!.id.slice(0, 12)} is using its referenced image ${short}`,
      );
    }
    removeTag(p, name);
    report(`Untagged: ${familiarName(name)}`);
    if (image.names.length > 1 || users.length > 0) return;
  } else {
    if (image.names.length > 1 && !force) {
      throw new ConflictError(`conflict: unable to delete ${short} (must be forced) - image is referenced in multiple repositories`);
    }
    if (runningUser) {
      throw new ConflictError(`conflict: unable to delete ${short} (cannot be forced) - image is being used by running container ${runningUser.id.slice(0, 12)}`);
    }
    if (users.length > 0 && !force) {
      throw new ConflictError(`conflict: unable to delete ${short} (must be forced) - image is being used by stopped container ${users[0]!.id.slice(0, 12)}`);
    }
    for (const name of image.names) {
      removeTag(p, name);
      report(`Untagged: ${familiarName(name)}`);
    }
    if (users.length > 0) return; // -f: the stopped containers keep the (now dangling) image
  }
  deleteImage(ctx, image, report);
}

function safeCanonical(ref: string): string | undefined {
  try {
    return canonicalName(parseReference(ref));
  } catch {
    return undefined;
  }
}

/** Deletes the config, then the image's layers, top first, that no other image uses. */
function deleteImage(ctx: Context, image: StoredImage, report: (line: string) => void): void {
  const p = ctx.paths;
  const inUse = new Set<string>();
  for (const id of listImageIds(p)) {
    if (id === image.id) continue;
    try {
      for (const l of readImage(p, id).layers) inUse.add(l.chainId);
    } catch {
      // a broken image keeps nothing alive
    }
  }
  fs.rmSync(imageConfigFile(p, image.id.slice(7)), { force: true });
  report(`Deleted: ${image.id}`);
  for (const layer of [...image.layers].reverse()) {
    if (inUse.has(layer.chainId)) break; // everything below is shared too
    if (!readLayerRecord(p, layer.chainId)) continue;
    removeLayerRecord(p, layer.chainId);
    removeLayer(p, layer.cacheId);
    report(`Deleted: ${layer.chainId}`);
  }
  logger('store').info({ op: 'rmi', image: image.id }, 'image deleted');
}
