import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { RuntimeError, UsageError } from '../errors.js';
import { readOciLayout } from '../image/oci-layout.js';
import { logger } from '../log.js';
import type { Context } from '../runtime/context.js';
import { newId } from '../util/ids.js';
import { withLock } from '../util/lock.js';
import { chainIds, readLayerRecord, setTag, writeImageConfig, writeLayerRecord } from './images.js';
import { createLayer, removeLayer } from './layers.js';
import { layerDiff, storeLockFile, tmpDir } from './paths.js';
import { canonicalName, parseReference } from './reference.js';
import { unpackLayer } from './unpack.js';

export interface LoadRequest {
  /** An OCI layout directory or archive; standard input when absent. */
  input?: string;
  /** Store the (single) image under this name instead of the archive's. */
  tag?: string;
  progress: (line: string) => void;
}

export interface LoadedImage {
  id: string;
  names: string[];
}

/**
 * `tsrun load`: every image of an OCI layout goes into the store. Layers are
 * shared by chain id, so only layers the store lacks are unpacked. A layer
 * is recorded only once its content matched the config's diff id, and names
 * are set last, so a failed load leaves no half-written layer and no tag.
 */
export async function loadImages(ctx: Context, req: LoadRequest): Promise<LoadedImage[]> {
  const p = ctx.paths;
  fs.mkdirSync(tmpDir(p), { recursive: true, mode: 0o700 });
  let source = req.input;
  let spooled: string | undefined;
  if (source === undefined) {
    if (process.stdin.isTTY) throw new UsageError('no input: give -i FILE, or pipe an archive to standard input');
    spooled = path.join(tmpDir(p), `load-${process.pid}-${newId().slice(0, 8)}.tar`);
    await pipeline(process.stdin, fs.createWriteStream(spooled, { mode: 0o600 }));
    source = spooled;
  }
  try {
    const images = await readOciLayout(source);
    if (images.length === 0) throw new RuntimeError(`${source} holds no images`);
    if (req.tag !== undefined && images.length !== 1) throw new UsageError(`--tag needs an archive with one image; ${source} has ${images.length}`);
    const tagRef = req.tag !== undefined ? canonicalName(parseReference(req.tag)) : undefined;

    return await withLock(ctx.native, storeLockFile(p), async () => {
      const loaded: LoadedImage[] = [];
      for (const image of images) {
        const diffIds = image.config.rootfs.diff_ids;
        if (diffIds.length !== image.layers.length) {
          throw new RuntimeError(`image ${image.configDigest}: the manifest has ${image.layers.length} layers but the config lists ${diffIds.length} diff ids`);
        }
        const chains = chainIds(diffIds);
        let parentCacheId: string | undefined;
        for (const [i, layer] of image.layers.entries()) {
          const existing = readLayerRecord(p, chains[i]!);
          if (existing) {
            req.progress(`Layer ${diffIds[i]!.slice(7, 19)} already exists`);
            parentCacheId = existing.cacheId;
            continue;
          }
          parentCacheId = await unpackNewLayer(ctx, {
            chainId: chains[i]!,
            parentChainId: chains[i - 1],
            parentCacheId,
            diffId: diffIds[i]!,
            open: () => layer.open(),
            mediaType: layer.mediaType,
          });
        }
        const id = writeImageConfig(p, image.configBytes);
        const names = tagRef !== undefined ? [tagRef] : image.names.map((n) => canonicalName(parseReference(n)));
        for (const name of names) setTag(p, name, id);
        loaded.push({ id, names: names.map((n) => n.replace(/^docker\.io\/library\//, '')) });
        logger('store').info({ op: 'load', image: id }, 'image loaded');
      }
      return loaded;
    });
  } finally {
    if (spooled !== undefined) fs.rmSync(spooled, { force: true });
  }
}

interface NewLayer {
  chainId: string;
  parentChainId?: string;
  parentCacheId?: string;
  diffId: string;
  mediaType: string;
  open: () => NodeJS.ReadableStream;
}

async function unpackNewLayer(ctx: Context, layer: NewLayer): Promise<string> {
  const p = ctx.paths;
  const cacheId = newId();
  createLayer(p, cacheId, layer.parentCacheId);
  try {
    const { diffId, size } = await unpackLayer({
      source: layer.open() as import('node:stream').Readable,
      mediaType: layer.mediaType,
      diffDir: layerDiff(p, cacheId),
      native: ctx.native,
    });
    if (diffId !== layer.diffId) {
      throw new RuntimeError(`layer content ${diffId} does not match the image config's diff id ${layer.diffId}`);
    }
    // A crash after the record must not leave it naming files that never reached the disk.
    syncFilesystem(ctx, layerDiff(p, cacheId));
    writeLayerRecord(p, { chainId: layer.chainId, diffId, cacheId, parent: layer.parentChainId, size });
    return cacheId;
  } catch (err) {
    removeLayer(p, cacheId);
    throw err;
  }
}

/** syncfs(2) on the store's filesystem: one call instead of an fsync per unpacked file. */
function syncFilesystem(ctx: Context, dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    ctx.native.syncfs({ fd });
  } finally {
    fs.closeSync(fd);
  }
}
