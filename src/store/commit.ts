import * as fs from 'node:fs';
import * as path from 'node:path';
import { RuntimeError } from '../errors.js';
import { MT_OCI_LAYER_TAR } from '../image/media-types.js';
import type { OciContainerConfig } from '../image/oci-types.js';
import { logger } from '../log.js';
import type { Context } from '../runtime/context.js';
import { findContainer } from '../runtime/containers.js';
import { runConfig } from '../runtime/inspect.js';
import { newId } from '../util/ids.js';
import { withLock } from '../util/lock.js';
import { type ParsedChange, applyChanges } from './changes.js';
import { chainIds, readImage, readLayerRecord, setTag, writeImageConfig, writeLayerRecord } from './images.js';
import { createLayer, removeLayer } from './layers.js';
import { packDirToFile } from './pack.js';
import { imageConfigFile, layerDiff, storeLockFile, tmpDir } from './paths.js';
import { canonicalName, parseReference } from './reference.js';
import { unpackLayer } from './unpack.js';

export interface CommitRequest {
  container: string;
  repoTag?: string;
  message?: string;
  author?: string;
  changes: ParsedChange[];
}

/**
 * `docker commit`: the container's upper dir, tarred with the overlay
 * whiteouts turned back into OCI ones (OVERLAY2.md §5, §6: the init layer
 * is the parent, so its files are not part of it), becomes a new layer on
 * the image's top layer, and a new config records it. The layer is stored
 * by unpacking that very tar, so its diff id is checked on the way in.
 *
 * Unlike docker, the container is not paused: a running container's writes
 * during the commit may or may not be in the layer.
 */
export async function commitContainer(ctx: Context, req: CommitRequest): Promise<string> {
  const p = ctx.paths;
  const rec = findContainer(p, req.container);
  const tagName = req.repoTag !== undefined ? canonicalName(parseReference(req.repoTag)) : undefined;
  fs.mkdirSync(tmpDir(p), { recursive: true, mode: 0o700 });
  const tarFile = path.join(tmpDir(p), `commit-${process.pid}-${newId().slice(0, 8)}.tar`);
  try {
    return await withLock(ctx.native, storeLockFile(p), async () => {
      const image = readImage(p, rec.imageId);
      const top = image.layers[image.layers.length - 1];
      if (!top) throw new RuntimeError(`image ${rec.imageId} has no layers`);
      const { digest: diffId } = packDirToFile(layerDiff(p, rec.rwLayerId), tarFile, { native: ctx.native, overlayWhiteouts: true });
      const diffIds = [...image.config.rootfs.diff_ids, diffId];
      const chainId = chainIds(diffIds)[diffIds.length - 1]!;
      if (!readLayerRecord(p, chainId)) {
        const cacheId = newId();
        createLayer(p, cacheId, top.cacheId);
        try {
          const got = await unpackLayer({ source: fs.createReadStream(tarFile), mediaType: MT_OCI_LAYER_TAR, diffDir: layerDiff(p, cacheId), native: ctx.native });
          if (got.diffId !== diffId) throw new RuntimeError(`the committed layer unpacked as ${got.diffId}, not ${diffId}`);
          writeLayerRecord(p, { chainId, diffId, cacheId, parent: top.chainId, size: got.size });
        } catch (err) {
          removeLayer(p, cacheId);
          throw err;
        }
      }

      const raw = JSON.parse(fs.readFileSync(imageConfigFile(p, image.id.slice(7)), 'utf8')) as Record<string, unknown>;
      const created = new Date().toISOString();
      // The container's own config (its command, -e, -w, -u, --label...), as docker's commit keeps it; then -c's.
      const containerConfig = applyChanges(runConfig((raw['config'] ?? {}) as OciContainerConfig, rec), req.changes);
      const history = [...((raw['history'] as unknown[] | undefined) ?? [])];
      const entry: Record<string, unknown> = { created, created_by: [rec.path, ...rec.args].join(' ') };
      if (req.author !== undefined) entry['author'] = req.author;
      if (req.message !== undefined && req.message !== '') entry['comment'] = req.message;
      history.push(entry);
      const next: Record<string, unknown> = { ...raw, created, config: containerConfig, rootfs: { type: 'layers', diff_ids: diffIds }, history };
      if (req.author !== undefined) next['author'] = req.author;
      else delete next['author'];
      const id = writeImageConfig(p, Buffer.from(JSON.stringify(next)));
      if (tagName !== undefined) setTag(p, tagName, id);
      logger('store').info({ op: 'commit', cid: rec.id, image: id }, 'committed');
      return id;
    });
  } finally {
    fs.rmSync(tarFile, { force: true });
  }
}
