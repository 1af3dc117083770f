import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ImageNotFoundError, UsageError } from '../errors.js';
import { sha256Digest } from '../image/digest.js';
import { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, MT_OCI_CONFIG, MT_OCI_INDEX, MT_OCI_LAYER_TAR, MT_OCI_MANIFEST } from '../image/media-types.js';
import type { Context } from '../runtime/context.js';
import { newId } from '../util/ids.js';
import { withLock } from '../util/lock.js';
import { resolveImage, type StoredImage } from './images.js';
import { TarWriter, packDirToFile } from './pack.js';
import { imageConfigFile, layerDiff, storeLockFile, tmpDir } from './paths.js';
import { removeTree } from './remove-tree.js';
import { canonicalName, familiarName, familiarRepository, parseReference } from './reference.js';

export interface SaveRequest {
  refs: string[];
  /** Output file; standard output when absent. */
  output?: string;
  format: 'oci' | 'docker';
  warn: (line: string) => void;
}

interface SavedLayer {
  file: string;
  digest: string;
  size: number;
}

interface SavedImage {
  configBytes: Buffer;
  configDigest: string;
  layers: SavedLayer[];
  names: string[];
}

/**
 * `tsrun save`: images as an OCI image layout archive; with
 * `--format docker`, also docker-archive's manifest.json and repositories,
 * as docker 25 writes both in one tar. Config bytes are written as stored,
 * so image ids survive a save and load. Layers are regenerated from their
 * diff dirs with the commit packer, uncompressed; when a regenerated layer
 * does not hash to its diff id (its original tar ordered or encoded entries
 * differently), the saved config carries the new diff id instead, which
 * gives the saved image a different id, and a warning says so.
 */
export async function saveImages(ctx: Context, req: SaveRequest): Promise<void> {
  const p = ctx.paths;
  if (req.refs.length === 0) throw new UsageError('save needs at least one image');
  if (req.output === undefined && process.stdout.isTTY) {
    throw new UsageError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  }
  fs.mkdirSync(tmpDir(p), { recursive: true, mode: 0o700 });
  const work = path.join(tmpDir(p), `save-${process.pid}-${newId().slice(0, 8)}`);
  fs.mkdirSync(work, { mode: 0o700 });
  try {
    const archive = req.output !== undefined ? `${path.resolve(req.output)}.${process.pid}.tmp` : path.join(work, 'out.tar');
    await withLock(ctx.native, storeLockFile(p), () => {
      const byId = new Map<string, { image: StoredImage; names: Set<string> }>();
      for (const ref of req.refs) {
        const image = resolveImage(p, ref);
        const slot = byId.get(image.id) ?? { image, names: new Set<string>() };
        byId.set(image.id, slot);
        let name: string | undefined;
        try {
          name = canonicalName(parseReference(ref));
        } catch {
          name = undefined;
        }
        // Given by name: that name; given by id: every name the image has, as docker does.
        if (name !== undefined && image.names.includes(name)) slot.names.add(name);
        else for (const n of image.names) slot.names.add(n);
      }
      if (byId.size === 0) throw new ImageNotFoundError(req.refs.join(' '));
      const layerCache = new Map<string, SavedLayer>();
      const images: SavedImage[] = [];
      for (const { image, names } of byId.values()) {
        images.push(saveImageLayers(ctx, image, [...names], work, layerCache, req.warn));
      }
      writeArchive(archive, images, req.format);
    });
    if (req.output !== undefined) fs.renameSync(archive, path.resolve(req.output));
    else await pipeline(fs.createReadStream(archive), process.stdout);
  } finally {
    removeTree(work);
    if (req.output !== undefined) fs.rmSync(`${path.resolve(req.output)}.${process.pid}.tmp`, { force: true });
  }
}

function saveImageLayers(ctx: Context, image: StoredImage, names: string[], work: string, cache: Map<string, SavedLayer>, warn: (line: string) => void): SavedImage {
  const p = ctx.paths;
  let configBytes = fs.readFileSync(imageConfigFile(p, image.id.slice(7)));
  const layers: SavedLayer[] = [];
  const diffIds: string[] = [];
  let changed = false;
  for (const rec of image.layers) {
    let saved = cache.get(rec.chainId);
    if (saved === undefined) {
      const file = path.join(work, `layer-${cache.size}.tar`);
      const { digest, size } = packDirToFile(layerDiff(p, rec.cacheId), file, { native: ctx.native, overlayWhiteouts: true, expectDigest: rec.diffId });
      saved = { file, digest, size };
      cache.set(rec.chainId, saved);
      if (digest !== rec.diffId) {
        warn(`layer ${rec.diffId.slice(7, 19)} of image ${image.id.slice(7, 19)} cannot be reproduced byte for byte; it is saved as ${digest.slice(7, 19)}, so the saved image gets a new id`);
      }
    }
    if (saved.digest !== rec.diffId) changed = true;
    layers.push(saved);
    diffIds.push(saved.digest);
  }
  if (changed) {
    const raw = JSON.parse(configBytes.toString('utf8')) as { rootfs: { type: string; diff_ids: string[] } };
    raw.rootfs = { ...raw.rootfs, diff_ids: diffIds };
    configBytes = Buffer.from(JSON.stringify(raw));
  }
  return { configBytes, configDigest: sha256Digest(configBytes), layers, names };
}

const hexOf = (digest: string) => digest.slice(7);

function writeArchive(file: string, images: SavedImage[], format: 'oci' | 'docker'): void {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
  try {
    const tar = new TarWriter(fd);
    const meta = { mode: 0o644, uid: 0, gid: 0, mtimeSec: 0, mtimeNsec: 0 };
    tar.add({ ...meta, name: 'blobs', type: 'directory', mode: 0o755, size: 0 });
    tar.add({ ...meta, name: 'blobs/sha256', type: 'directory', mode: 0o755, size: 0 });
    const written = new Set<string>();
    const blob = (data: Buffer) => {
      const digest = sha256Digest(data);
      if (!written.has(digest)) {
        written.add(digest);
        tar.add({ ...meta, name: `blobs/sha256/${hexOf(digest)}`, type: 'file', size: data.length }, data);
      }
      return { digest, size: data.length };
    };
    const manifests: object[] = [];
    const dockerManifest: object[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    for (const img of images) {
      for (const layer of img.layers) {
        if (written.has(layer.digest)) continue;
        written.add(layer.digest);
        const lfd = fs.openSync(layer.file, 'r');
        try {
          tar.addFromFd({ ...meta, name: `blobs/sha256/${hexOf(layer.digest)}`, type: 'file', size: layer.size }, lfd);
        } finally {
          fs.closeSync(lfd);
        }
      }
      const config = blob(img.configBytes);
      const manifestBytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MT_OCI_MANIFEST,
          config: { mediaType: MT_OCI_CONFIG, digest: config.digest, size: config.size },
          layers: img.layers.map((l) => ({ mediaType: MT_OCI_LAYER_TAR, digest: l.digest, size: l.size })),
        }),
      );
      const manifest = blob(manifestBytes);
      const desc = { mediaType: MT_OCI_MANIFEST, digest: manifest.digest, size: manifest.size };
      if (img.names.length === 0) manifests.push(desc);
      for (const name of img.names) {
        const ref = parseReference(name);
        manifests.push({ ...desc, annotations: { [ANNOTATION_IMAGE_NAME]: name, [ANNOTATION_REF_NAME]: ref.tag ?? ref.digest ?? '' } });
        if (ref.tag !== undefined) {
          const top = img.layers[img.layers.length - 1];
          (repositories[familiarRepository(ref.repository)] ??= {})[ref.tag] = top ? hexOf(top.digest) : '';
        }
      }
      dockerManifest.push({
        Config: `blobs/sha256/${hexOf(config.digest)}`,
        RepoTags: img.names.filter((n) => parseReference(n).tag !== undefined).map(familiarName),
        Layers: img.layers.map((l) => `blobs/sha256/${hexOf(l.digest)}`),
      });
    }
    const json = (v: unknown) => Buffer.from(JSON.stringify(v));
    tar.add({ ...meta, name: 'index.json', type: 'file', size: 0 }, json({ schemaVersion: 2, mediaType: MT_OCI_INDEX, manifests }));
    if (format === 'docker') tar.add({ ...meta, name: 'manifest.json', type: 'file', size: 0 }, json(dockerManifest));
    tar.add({ ...meta, name: 'oci-layout', type: 'file', size: 0 }, json({ imageLayoutVersion: '1.0.0' }));
    if (format === 'docker') tar.add({ ...meta, name: 'repositories', type: 'file', size: 0 }, json(repositories));
    tar.finish();
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
