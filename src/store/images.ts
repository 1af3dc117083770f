import * as fs from 'node:fs';
import * as path from 'node:path';
import { ImageNotFoundError, StoreCorruptError, ConflictError } from '../errors.js';
import type { OciImageConfig } from '../image/oci-layout.js';
import { readJsonIfExists, writeFileAtomic, writeJsonAtomic, fsyncDir } from '../util/atomic-write.js';
import { loadNative } from '../native/binding.js';
import { canonicalName, parseReference } from './reference.js';
import {
  type StorePaths,
  imageConfigDir,
  imageConfigFile,
  layerDbDir,
  layerDbEntry,
  repositoriesFile,
} from './paths.js';

/** sha256 in hex by node:crypto, loaded on first use (~3 ms): for image configs, and chain ids where the addon cannot. */
function cryptoSha256Hex(data: string | Buffer): string {
  return process.getBuiltinModule('node:crypto').createHash('sha256').update(data).digest('hex');
}

/**
 * Images and their layers, recorded as Docker's image/overlay2 does:
 * imagedb/content/sha256/<image id> holds the config bytes (the image id is
 * their digest), layerdb/sha256/<chain id>/ holds one layer's diff id,
 * cache id (its overlay/ dir), parent chain id and size, and
 * repositories.json maps names to image ids.
 */

const HEX64 = /^[a-f0-9]{64}$/;
const hexOf = (digest: string) => {
  const hex = digest.startsWith('sha256:') ? digest.slice(7) : digest;
  if (!HEX64.test(hex)) throw new StoreCorruptError(`not a sha256 digest: ${digest}`);
  return hex;
};

export interface LayerRecord {
  chainId: string;
  diffId: string;
  cacheId: string;
  parent?: string;
  size: number;
}

/**
 * Chain ids as the OCI image spec defines them: ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).
 * Hashed by the addon where it can: node:crypto would cost ~3 ms to load in every `run` of a multi-layer image.
 */
export function chainIds(diffIds: string[]): string[] {
  // Looked up at the first hash: a single-layer image (`images`, `inspect`) needs neither the addon nor node:crypto.
  let hash: ((text: string) => string) | undefined;
  const out: string[] = [];
  for (const diffId of diffIds) {
    const prev = out[out.length - 1];
    if (prev === undefined) {
      out.push(diffId);
      continue;
    }
    if (hash === undefined) {
      const native = loadNative();
      hash = native.sha256Hex ? (text) => native.sha256Hex!({ text }) : cryptoSha256Hex;
    }
    out.push(`sha256:${hash(`${prev} ${diffId}`)}`);
  }
  return out;
}

export function readLayerRecord(p: StorePaths, chainId: string): LayerRecord | undefined {
  const dir = layerDbEntry(p, hexOf(chainId));
  const read = (name: string) => fs.readFileSync(path.join(dir, name), 'utf8').trim();
  if (!fs.existsSync(dir)) return undefined;
  try {
    return { chainId, diffId: read('diff'), cacheId: read('cache-id'), parent: readParent(dir), size: Number(read('size')) };
  } catch (err) {
    throw new StoreCorruptError(`layer record ${chainId} is incomplete`, { cause: err });
  }
}

/** The parent chain id; a base layer has no parent file. */
function readParent(dir: string): string | undefined {
  try {
    return fs.readFileSync(path.join(dir, 'parent'), 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Records a finished layer. This is the commit point of an unpack: the
 * entry is built in a temp dir and renamed into place, so a crash leaves
 * either no record (the overlay dir is an orphan for fsck) or a whole one.
 */
export function writeLayerRecord(p: StorePaths, rec: LayerRecord): void {
  fs.mkdirSync(layerDbDir(p), { recursive: true });
  const final = layerDbEntry(p, hexOf(rec.chainId));
  const tmp = `${final}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  writeFileAtomic(path.join(tmp, 'diff'), rec.diffId);
  writeFileAtomic(path.join(tmp, 'cache-id'), rec.cacheId);
  writeFileAtomic(path.join(tmp, 'size'), String(rec.size));
  if (rec.parent !== undefined) writeFileAtomic(path.join(tmp, 'parent'), rec.parent);
  fs.renameSync(tmp, final);
  fsyncDir(layerDbDir(p));
}

export function removeLayerRecord(p: StorePaths, chainId: string): void {
  const dir = layerDbEntry(p, hexOf(chainId));
  const doomed = `${dir}.rm-${process.pid}`;
  try {
    fs.renameSync(dir, doomed);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  fs.rmSync(doomed, { recursive: true, force: true });
}

export interface StoredImage {
  id: string; // sha256:<hex>
  config: OciImageConfig;
  /** Layer records, bottom first. */
  layers: LayerRecord[];
  names: string[];
  size: number;
}

export function writeImageConfig(p: StorePaths, configBytes: Buffer): string {
  const hex = cryptoSha256Hex(configBytes);
  fs.mkdirSync(imageConfigDir(p), { recursive: true });
  const file = imageConfigFile(p, hex);
  if (!fs.existsSync(file)) writeFileAtomic(file, configBytes);
  return `sha256:${hex}`;
}

interface Repositories {
  Repositories: Record<string, Record<string, string>>;
}

function readRepositories(p: StorePaths): Repositories {
  return readJsonIfExists<Repositories>(repositoriesFile(p)) ?? { Repositories: {} };
}

/** All names, as canonical name → image id. */
export function listTags(p: StorePaths): Map<string, string> {
  const out = new Map<string, string>();
  for (const tags of Object.values(readRepositories(p).Repositories)) {
    for (const [name, id] of Object.entries(tags)) out.set(name, id);
  }
  return out;
}

/** Points `name` at an image. The caller holds the store lock. */
export function setTag(p: StorePaths, name: string, imageId: string): void {
  const ref = parseReference(name);
  const repos = readRepositories(p);
  const canonical = canonicalName(ref);
  (repos.Repositories[ref.repository] ??= {})[canonical] = imageId;
  fs.mkdirSync(path.dirname(repositoriesFile(p)), { recursive: true });
  writeJsonAtomic(repositoriesFile(p), repos);
}

export function removeTag(p: StorePaths, name: string): boolean {
  const ref = parseReference(name);
  const repos = readRepositories(p);
  const tags = repos.Repositories[ref.repository];
  const canonical = canonicalName(ref);
  if (!tags || !(canonical in tags)) return false;
  delete tags[canonical];
  if (Object.keys(tags).length === 0) delete repos.Repositories[ref.repository];
  writeJsonAtomic(repositoriesFile(p), repos);
  return true;
}

export function readImage(p: StorePaths, imageId: string): StoredImage {
  const hex = hexOf(imageId);
  const config = readImageConfig(p, imageId);
  const layers = chainIds(config.rootfs.diff_ids).map((chainId) => {
    const rec = readLayerRecord(p, chainId);
    if (!rec) throw new StoreCorruptError(`image ${hex.slice(0, 12)} is missing its layer ${chainId}`);
    return rec;
  });
  const id = `sha256:${hex}`;
  const names = [...listTags(p)].filter(([, v]) => v === id).map(([k]) => k);
  return { id, config, layers, names, size: layers.reduce((sum, l) => sum + l.size, 0) };
}

/** An image's config alone (ImageNotFoundError when it is gone): what starting and stopping a container read of it. */
export function readImageConfig(p: StorePaths, imageId: string): OciImageConfig {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(imageConfigFile(p, hexOf(imageId)));
  } catch {
    throw new ImageNotFoundError(imageId);
  }
  return JSON.parse(bytes.toString('utf8')) as OciImageConfig;
}

/**
 * An image's top layer alone, or undefined for an image of no layers: all a
 * new container's layers need, as its `lower` file names every layer below.
 * A 499-layer image's other records (~2000 file reads) are not read.
 */
export function imageTopLayer(p: StorePaths, imageId: string, config: OciImageConfig): LayerRecord | undefined {
  const top = chainIds(config.rootfs.diff_ids).at(-1);
  if (top === undefined) return undefined;
  const rec = readLayerRecord(p, top);
  if (!rec) throw new StoreCorruptError(`image ${hexOf(imageId).slice(0, 12)} is missing its layer ${top}`);
  return rec;
}

/**
 * Throws unless every layer of the image is recorded: a container is never
 * made from an image missing one, whose layers rmi of another image would
 * then not count as in use (its readImage fails). A stat a layer.
 */
export function checkImageLayers(p: StorePaths, imageId: string, config: OciImageConfig): void {
  const missing = chainIds(config.rootfs.diff_ids).find((chainId) => !fs.existsSync(layerDbEntry(p, hexOf(chainId))));
  if (missing !== undefined) throw new StoreCorruptError(`image ${hexOf(imageId).slice(0, 12)} is missing its layer ${missing}`);
}

export function listImageIds(p: StorePaths): string[] {
  try {
    return fs.readdirSync(imageConfigDir(p)).filter((n) => HEX64.test(n)).map((n) => `sha256:${n}`);
  } catch {
    return [];
  }
}

/**
 * Finds an image by name (normalised), full id, or unique id prefix of at
 * least one character, as docker does.
 */
export function resolveImage(p: StorePaths, ref: string): StoredImage {
  return readImage(p, resolveImageId(p, ref));
}

/** The id of the image a reference names (ImageNotFoundError when none), its records unread. */
export function resolveImageId(p: StorePaths, ref: string): string {
  const byId = /^(sha256:)?([a-f0-9]{1,64})$/.exec(ref);
  if (byId) {
    const matches = listImageIds(p).filter((id) => id.slice(7).startsWith(byId[2]!));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) throw new ConflictError(`image id prefix ${ref} is ambiguous`);
  }
  let canonical: string;
  try {
    canonical = canonicalName(parseReference(ref));
  } catch (err) {
    if (byId) throw new ImageNotFoundError(ref);
    throw err;
  }
  const id = listTags(p).get(canonical);
  if (id === undefined) throw new ImageNotFoundError(ref);
  readImageConfig(p, id);
  return id;
}
