import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { ImageNotFoundError, RuntimeError, UsageError } from '../errors.js';
import { readImageArchive, type ImageFormat } from '../image/docker-archive.js';
import { readLayoutFrom, type LayoutImage } from '../image/oci-layout.js';
import type { Platform } from '../image/oci-types.js';
import { formatPlatform, hostPlatform, platformSatisfies } from '../image/platform.js';
import { RegistryStore } from '../image/registry.js';
import { ZSTD_MAGIC, createZstdDecompressStream } from '../image/zstd.js';
import { logger } from '../log.js';
import type { Context } from '../runtime/context.js';
import { newId } from '../util/ids.js';
import { withLock } from '../util/lock.js';
import { chainIds, readLayerRecord, removeLayerRecord, resolveImage, setTag, writeImageConfig, writeLayerRecord } from './images.js';
import { createLayer, removeLayer } from './layers.js';
import { layerCommittedFile, layerDiff, storeLockFile, tmpDir } from './paths.js';
import { canonicalName, familiarName, parseReference } from './reference.js';
import { unpackLayer } from './unpack.js';
import { applyChanges, parseChange } from './changes.js';

export interface LoadRequest {
  /** An OCI layout or docker-archive (directory or tar); standard input when absent. */
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
 * What one load or import changed, so a failure can put the store back
 * exactly as it was: new layers (record and overlay dir), and `committed`
 * marks set on layers that existed before.
 */
class Changes {
  private readonly layers: { chainId: string; cacheId: string }[] = [];
  private readonly marks: string[] = [];

  constructor(private readonly ctx: Context) {}

  /** Call before createLayer on an existing parent: remembers a mark it is about to add. */
  noteParent(parentCacheId: string | undefined): void {
    if (parentCacheId === undefined) return;
    const mark = layerCommittedFile(this.ctx.paths, parentCacheId);
    if (!fs.existsSync(mark)) this.marks.push(mark);
  }

  addLayer(chainId: string, cacheId: string): void {
    this.layers.push({ chainId, cacheId });
  }

  /** Undoes everything, newest first; best effort, so the original error is the one reported. */
  rollback(): void {
    const p = this.ctx.paths;
    for (const { chainId, cacheId } of this.layers.reverse()) {
      try {
        removeLayerRecord(p, chainId);
        removeLayer(p, cacheId);
      } catch (err) {
        logger('store').warn({ op: 'load', layer: cacheId, err: (err as Error).message }, 'rollback could not remove a layer');
      }
    }
    for (const mark of this.marks) fs.rmSync(mark, { force: true });
  }
}

/** Copies standard input to a temp file on the store's filesystem. */
async function spoolStdin(ctx: Context, what: string): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError(`no input: give ${what}, or pipe an archive to standard input`);
  const spooled = path.join(tmpDir(ctx.paths), `load-${process.pid}-${newId().slice(0, 8)}.tar`);
  await pipeline(process.stdin, fs.createWriteStream(spooled, { mode: 0o600 }));
  // Nothing came (< /dev/null, an empty pipe): said so, not as a broken archive named by our temp file.
  if (fs.statSync(spooled).size === 0) {
    fs.rmSync(spooled, { force: true });
    throw new UsageError(`standard input is empty: give ${what}, or pipe an archive to it`);
  }
  return spooled;
}

/**
 * `docker save | gzip` (or zstd) output: an archive file that is compressed
 * as a whole is decompressed into a temp file first, since images are read
 * from an archive at offsets. Returns the temp file, or undefined when
 * `source` is a directory or an uncompressed file.
 */
async function decompressArchive(ctx: Context, source: string): Promise<string | undefined> {
  let head: Buffer;
  try {
    const fd = fs.openSync(source, 'r');
    try {
      if (!fs.fstatSync(fd).isFile()) return undefined;
      head = Buffer.alloc(4);
      head = head.subarray(0, fs.readSync(fd, head, 0, 4, 0));
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined; // reported by the archive reader, with its own message
  }
  const gzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
  const zstd = head.length === 4 && head.equals(ZSTD_MAGIC);
  if (!gzip && !zstd) return undefined;
  const out = path.join(tmpDir(ctx.paths), `load-${process.pid}-${newId().slice(0, 8)}.tar`);
  try {
    await pipeline(
      fs.createReadStream(source, { highWaterMark: 256 * 1024 }),
      gzip ? zlib.createGunzip() : createZstdDecompressStream(ctx.native),
      fs.createWriteStream(out, { mode: 0o600 }),
    );
  } catch (err) {
    fs.rmSync(out, { force: true });
    throw new RuntimeError(`cannot decompress ${source}: ${(err as Error).message}`, { cause: err });
  }
  return out;
}

/**
 * `tsrun load`: every image of an OCI layout or docker-archive goes into
 * the store. Layers are shared by chain id, so only layers the store lacks
 * are unpacked. A layer is recorded only once its content matched the
 * config's diff id; configs and names are written only after every layer of
 * every image is in; and any failure removes what this load added, so the
 * store is left exactly as before (no layer record, overlay dir or tag).
 */
export async function loadImages(ctx: Context, req: LoadRequest): Promise<LoadedImage[]> {
  const p = ctx.paths;
  fs.mkdirSync(tmpDir(p), { recursive: true, mode: 0o700 });
  let source = req.input;
  let spooled: string | undefined;
  try {
    if (source === undefined) source = spooled = await spoolStdin(ctx, '-i FILE');
    const decompressed = await decompressArchive(ctx, source);
    if (decompressed !== undefined) {
      if (spooled !== undefined) fs.rmSync(spooled, { force: true });
      source = spooled = decompressed;
    }
    let format: ImageFormat;
    let images;
    try {
      ({ format, images } = await readImageArchive(source));
    } catch (err) {
      throw new RuntimeError((err as Error).message, { cause: err });
    }
    if (images.length === 0) throw new RuntimeError(`${source} holds no images`);
    if (req.tag !== undefined && images.length !== 1) throw new UsageError(`--tag needs an archive with one image; ${source} has ${images.length}`);
    // Every name is checked before anything is written.
    const tagRef = req.tag !== undefined ? canonicalName(parseReference(req.tag)) : undefined;
    const namesOf = images.map((image) => {
      if (tagRef !== undefined) return [tagRef];
      // An OCI layout's org.opencontainers.image.ref.name may be a bare tag
      // ("v1", as `skopeo copy … oci:DIR:v1` writes it): it names no repository, so no image.
      const names = format === 'oci-layout' ? image.names.filter((n) => n.includes('/') || n.includes(':')) : image.names;
      return names.map((n) => {
        try {
          return canonicalName(parseReference(n));
        } catch (err) {
          throw new RuntimeError(`invalid ${format} ${source}: image name ${JSON.stringify(n)}: ${(err as Error).message}`);
        }
      });
    });

    return await storeImages(ctx, images, namesOf, req.progress, format);
  } finally {
    if (spooled !== undefined) fs.rmSync(spooled, { force: true });
  }
}

/** What storing needs of an image, whatever it was read from. */
type StoredImage = Pick<LayoutImage, 'configDigest' | 'configBytes' | 'layers'> & { config: Pick<LayoutImage['config'], 'rootfs'> };

/**
 * Unpacks the layers the store lacks (bottom up, shared by chain id), then
 * writes each config and tags it with its names, all under the store lock;
 * a failure takes back every layer it added. Used by load and pull.
 */
async function storeImages(ctx: Context, images: StoredImage[], namesOf: string[][], progress: (line: string) => void, format: string): Promise<LoadedImage[]> {
  const p = ctx.paths;
  return withLock(ctx.native, storeLockFile(p), async () => {
    const changes = new Changes(ctx);
    try {
      for (const image of images) {
        const diffIds = image.config.rootfs.diff_ids;
        if (diffIds.length !== image.layers.length) {
          throw new RuntimeError(`image ${image.configDigest}: ${image.layers.length} layers but the config lists ${diffIds.length} diff ids`);
        }
        const chains = chainIds(diffIds);
        let parentCacheId: string | undefined;
        for (const [i, layer] of image.layers.entries()) {
          const existing = readLayerRecord(p, chains[i]!);
          if (existing) {
            progress(`Layer ${diffIds[i]!.slice(7, 19)} already exists`);
            parentCacheId = existing.cacheId;
            continue;
          }
          changes.noteParent(parentCacheId);
          parentCacheId = await unpackNewLayer(ctx, changes, {
            chainId: chains[i]!,
            parentChainId: chains[i - 1],
            parentCacheId,
            diffId: diffIds[i]!,
            open: () => layer.open(),
            mediaType: layer.mediaType,
          });
          progress(`Loaded layer ${diffIds[i]!.slice(7, 19)}`);
        }
      }
    } catch (err) {
      changes.rollback();
      throw err;
    }
    const loaded: LoadedImage[] = [];
    for (const [i, image] of images.entries()) {
      const id = writeImageConfig(p, image.configBytes);
      const names = namesOf[i]!;
      for (const name of names) setTag(p, name, id);
      loaded.push({ id, names: names.map(familiarName) });
      logger('store').info({ op: 'load', image: id, format }, 'image loaded');
    }
    return loaded;
  });
}

export type PullPolicy = 'missing' | 'always' | 'never';

/**
 * run/create's --pull, as docker's: `missing` pulls an image the store
 * lacks ("Unable to find image ... locally"), `always` pulls first anyway,
 * `never` leaves the lookup (and its "no such image") to create.
 */
export async function ensureImage(ctx: Context, ref: string, policy: PullPolicy, say: (line: string) => void, platform?: Platform): Promise<void> {
  // An id names nothing a registry could serve.
  const isId = /^(sha256:)?[a-f0-9]{12,64}$/.test(ref);
  if (policy === 'missing') {
    let found: Platform | undefined;
    try {
      found = imagePlatform(ctx, ref);
    } catch (err) {
      if (!(err instanceof ImageNotFoundError)) throw err;
    }
    // One of another platform than --platform asks for is missing too, as docker's pull policy takes it.
    if (found && (!platform || platformSatisfies(found, platform))) return;
    if (!found && !isId) say(`Unable to find image '${ref}' locally`);
    if (!isId) await pullImage(ctx, { ref, progress: say, platform });
  } else if (policy === 'always') {
    await pullImage(ctx, { ref, progress: say, platform });
  }
  if (!platform) return;
  let found: Platform;
  try {
    found = imagePlatform(ctx, ref);
  } catch (err) {
    if (err instanceof ImageNotFoundError) return; // the caller's own message
    throw err;
  }
  if (!platformSatisfies(found, platform)) {
    throw new RuntimeError(`image with reference ${ref} was found but does not match the specified platform: wanted ${formatPlatform(platform)}, actual: ${formatPlatform(found)}`);
  }
}

/** The platform a stored image was made for (its config's os, architecture and variant). */
function imagePlatform(ctx: Context, ref: string): Platform {
  const { config } = resolveImage(ctx.paths, ref);
  return { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
}

export interface PullRequest {
  /** NAME[:TAG|@DIGEST], docker's reference forms. */
  ref: string;
  progress: (line: string) => void;
  /** Which image of a multi-platform tag; default this machine's. */
  platform?: Platform;
}

/**
 * `pull`: the image a registry serves under a reference, for this machine's
 * platform (or the one asked for), stored like a loaded one (layers it
 * already has are kept). Returns its id, manifest digest and canonical name.
 */
export async function pullImage(ctx: Context, req: PullRequest): Promise<LoadedImage & { digest: string }> {
  const ref = parseReference(req.ref);
  const name = canonicalName(ref);
  const store = new RegistryStore(ref, name);
  let images: LayoutImage[];
  let digest: string;
  try {
    digest = await store.resolve();
    images = await readLayoutFrom(store, { platform: req.platform ?? hostPlatform() });
  } catch (err) {
    throw err instanceof RuntimeError ? err : new RuntimeError((err as Error).message, { cause: err });
  }
  const [loaded] = await storeImages(ctx, images, [[name]], req.progress, 'registry');
  return { ...loaded!, digest };
}

interface NewLayer {
  chainId: string;
  parentChainId?: string;
  parentCacheId?: string;
  /** The expected diff id; undefined to accept whatever the content hashes to (import). */
  diffId?: string;
  mediaType: string;
  open: () => Readable;
}

/** Unpacks a layer into a new overlay dir and records it; on failure nothing of it remains. */
async function unpackLayerDir(ctx: Context, layer: NewLayer): Promise<{ cacheId: string; diffId: string; size: number }> {
  const p = ctx.paths;
  const cacheId = newId();
  createLayer(p, cacheId, layer.parentCacheId);
  try {
    const { diffId, size } = await unpackLayer({
      source: layer.open(),
      mediaType: layer.mediaType,
      diffDir: layerDiff(p, cacheId),
      native: ctx.native,
    });
    if (layer.diffId !== undefined && diffId !== layer.diffId) {
      throw new RuntimeError(`layer content ${diffId} does not match the image config's diff id ${layer.diffId}`);
    }
    return { cacheId, diffId, size };
  } catch (err) {
    removeLayer(p, cacheId);
    if (err instanceof RuntimeError) throw err;
    const what = layer.diffId !== undefined ? `layer ${layer.diffId}` : 'layer';
    throw new RuntimeError(`${what}: ${(err as Error).message}`, { cause: err });
  }
}

/** Writes the layer record (the commit point) after syncing the layer's files. */
function recordLayer(ctx: Context, rec: { chainId: string; diffId: string; cacheId: string; parent?: string; size: number }): void {
  try {
    // A crash after the record must not leave it naming files that never reached the disk.
    syncFilesystem(ctx, layerDiff(ctx.paths, rec.cacheId));
    writeLayerRecord(ctx.paths, rec);
  } catch (err) {
    removeLayer(ctx.paths, rec.cacheId);
    throw err;
  }
}

async function unpackNewLayer(ctx: Context, changes: Changes, layer: NewLayer & { diffId: string }): Promise<string> {
  const { cacheId, diffId, size } = await unpackLayerDir(ctx, layer);
  recordLayer(ctx, { chainId: layer.chainId, diffId, cacheId, parent: layer.parentChainId, size });
  changes.addLayer(layer.chainId, cacheId);
  return cacheId;
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

export interface ImportRequest {
  /** A rootfs tarball (plain, gzip or zstd); "-" for standard input. */
  input: string;
  /** Name for the new image. */
  ref?: string;
  /** The history comment; default "Imported from INPUT", as docker. */
  message?: string;
  /** Dockerfile instructions applied to the config (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, STOPSIGNAL). */
  changes?: string[];
  progress: (line: string) => void;
}

/**
 * `tsrun import`: a root filesystem tarball becomes a one-layer image, as
 * `docker import` makes it. The tarball goes through the same unpacker as
 * any layer (hostile entries refused, compression detected); a layer the
 * store already has (the same diff id) is reused. Returns the image id.
 */
export async function importImage(ctx: Context, req: ImportRequest): Promise<string> {
  const p = ctx.paths;
  const ref = req.ref !== undefined ? canonicalName(parseReference(req.ref)) : undefined;
  const containerConfig = applyChanges({}, (req.changes ?? []).map(parseChange));
  if (req.input === '-' && process.stdin.isTTY) throw new UsageError('no input: give a file, or pipe a tarball to standard input');
  let source: Readable;
  if (req.input === '-') {
    source = process.stdin;
  } else {
    try {
      const fd = fs.openSync(req.input, 'r');
      if (!fs.fstatSync(fd).isFile()) {
        fs.closeSync(fd);
        throw new Error('not a regular file');
      }
      source = fs.createReadStream('', { fd, highWaterMark: 256 * 1024 });
    } catch (err) {
      throw new RuntimeError(`cannot read ${req.input}: ${(err as Error).message}`);
    }
  }
  fs.mkdirSync(tmpDir(p), { recursive: true, mode: 0o700 });
  return withLock(ctx.native, storeLockFile(p), async () => {
    const { cacheId, diffId, size } = await unpackLayerDir(ctx, { chainId: '', mediaType: '', open: () => source });
    const existing = readLayerRecord(p, diffId);
    if (existing) {
      removeLayer(p, cacheId);
      req.progress(`Layer ${diffId.slice(7, 19)} already exists`);
    } else {
      recordLayer(ctx, { chainId: diffId, diffId, cacheId, size });
    }
    const created = new Date().toISOString();
    const comment = req.message ?? `Imported from ${req.input}`;
    const config = {
      architecture: hostPlatform().architecture,
      comment,
      config: containerConfig,
      created,
      history: [{ created, comment }],
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [diffId] },
    };
    const id = writeImageConfig(p, Buffer.from(JSON.stringify(config)));
    if (ref !== undefined) setTag(p, ref, id);
    logger('store').info({ op: 'import', image: id }, 'image imported');
    return id;
  });
}
