import { isValidDigest, sha256Digest, verifiedStream } from './digest.js';
import { readLayoutFrom, withBlobStore, type BlobStore, type LayoutImage, type LayoutLayer, type ReadLayoutOptions } from './oci-layout.js';
import { parseImageConfig, type OciImageConfig } from './oci-types.js';

/**
 * Image archives as `docker save` writes them, and the one entry point that
 * reads any image archive or directory `tsrun load` accepts.
 *
 * docker-archive: a top-level manifest.json
 *   [{"Config": "<hex>.json" | "blobs/sha256/<hex>",
 *     "RepoTags": ["name:tag", ...] | null,
 *     "Layers": ["<id>/layer.tar" | "blobs/sha256/<hex>", ...]}]
 * plus the files it names (and a legacy `repositories` file, which adds
 * nothing RepoTags lacks). Layers carry no media type: their compression
 * (none, gzip, zstd) is detected from their first bytes by the unpacker, and
 * their uncompressed digest must equal the config's rootfs.diff_ids[i].
 * Docker 25 and later write an OCI layout (index.json) beside manifest.json;
 * the OCI layout is preferred then.
 */

export type ImageFormat = 'oci-layout' | 'docker-archive';

/** An image to load, from either format. */
export interface SourceImage {
  format: ImageFormat;
  /** Raw names (docker-archive RepoTags, or the OCI index's annotations); not normalised. */
  names: string[];
  /** sha256 of configBytes: the image id. */
  configDigest: string;
  config: OciImageConfig;
  configBytes: Buffer;
  /** Bottom layer first. An empty mediaType means "detect the compression". */
  layers: LayoutLayer[];
}

export interface DockerManifestEntry {
  config: string;
  repoTags: string[];
  layers: string[];
}

/** Largest manifest.json or config accepted. */
const MAX_JSON = 8 * 1024 * 1024;
const CONFIG_NAME_RE = /^(?:\.\/)?(?:blobs\/sha256\/)?([0-9a-f]{64})(?:\.json)?$/;
const BLOB_NAME_RE = /^(?:\.\/)?blobs\/sha256\/([0-9a-f]{64})$/;

/** Which format a set of top-level files is: index.json wins (docker 25+ writes both). */
export function detectImageFormat(has: { indexJson: boolean; manifestJson: boolean }, label = 'image'): ImageFormat {
  if (has.indexJson) return 'oci-layout';
  if (has.manifestJson) return 'docker-archive';
  throw new Error(`invalid ${label}: neither an OCI image layout (index.json) nor a docker-archive (manifest.json)`);
}

function stringArray(v: unknown, where: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new Error(`${where} must be an array of strings`);
  return v as string[];
}

/** Parses and checks docker-archive's manifest.json. */
export function parseDockerManifest(bytes: Buffer, where: string): DockerManifestEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new Error(`${where}: not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(doc)) throw new Error(`${where}: must be a JSON array`);
  if (doc.length === 0) throw new Error(`${where}: lists no images`);
  return doc.map((e: unknown, i) => {
    const at = `${where}: [${i}]`;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new Error(`${at} must be an object`);
    const o = e as Record<string, unknown>;
    if (typeof o['Config'] !== 'string' || o['Config'] === '') throw new Error(`${at}.Config must be a file name`);
    const repoTags = o['RepoTags'] === undefined || o['RepoTags'] === null ? [] : stringArray(o['RepoTags'], `${at}.RepoTags`);
    const layers = stringArray(o['Layers'] ?? null, `${at}.Layers`);
    return { config: o['Config'], repoTags, layers };
  });
}

async function readDockerImage(store: BlobStore, entry: DockerManifestEntry): Promise<SourceImage> {
  const where = `invalid ${store.label}`;
  const configBytes = await store.readMember(entry.config, MAX_JSON);
  if (configBytes === null) throw new Error(`${where}: config ${entry.config} missing`);
  const configDigest = sha256Digest(configBytes);
  const named = CONFIG_NAME_RE.exec(entry.config);
  if (named && `sha256:${named[1]}` !== configDigest) {
    throw new Error(`${where}: config ${entry.config} does not match its digest (got ${configDigest})`);
  }
  const config = parseImageConfig(configBytes, `${where}: config ${entry.config}`);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== entry.layers.length) {
    throw new Error(`${where}: ${entry.layers.length} layers but config ${entry.config} lists ${diffIds.length} diff_ids`);
  }
  const layers: LayoutLayer[] = [];
  for (const [i, name] of entry.layers.entries()) {
    const size = await store.memberSize(name);
    if (size === undefined) throw new Error(`${where}: layer ${name} missing`);
    const blob = BLOB_NAME_RE.exec(name);
    const digest = blob ? `sha256:${blob[1]}` : undefined;
    layers.push({
      // A legacy "<id>/layer.tar" has no content digest of its own; its diff id stands in.
      digest: digest ?? diffIds[i]!,
      mediaType: '',
      size,
      diffId: diffIds[i]!,
      open: () => {
        const raw = store.openMember(name, size);
        return digest !== undefined && isValidDigest(digest) ? verifiedStream(raw, digest, size, store.label) : raw;
      },
    });
  }
  return { format: 'docker-archive', names: [...entry.repoTags], configDigest, config, configBytes, layers };
}

/** Every image of a docker-archive held by `store`. */
export async function readDockerArchiveFrom(store: BlobStore): Promise<SourceImage[]> {
  const bytes = await store.readMember('manifest.json', MAX_JSON);
  if (bytes === null) throw new Error(`invalid ${store.label}: manifest.json missing`);
  const entries = parseDockerManifest(bytes, `invalid ${store.label}: manifest.json`);
  const images: SourceImage[] = [];
  for (const entry of entries) images.push(await readDockerImage(store, entry));
  return images;
}

function fromLayout(img: LayoutImage): SourceImage {
  return {
    format: 'oci-layout',
    names: img.names,
    configDigest: img.configDigest,
    config: img.config,
    configBytes: img.configBytes,
    layers: img.layers,
  };
}

/**
 * Reads every image of an OCI layout or docker-archive, as a directory or an
 * uncompressed tar; the format is detected (detectImageFormat). Layer
 * streams stay valid after this returns.
 */
export async function readImageArchive(source: string, opts: ReadLayoutOptions = {}): Promise<{ format: ImageFormat; images: SourceImage[] }> {
  return withBlobStore(source, async (store) => {
    const format = detectImageFormat(
      {
        indexJson: (await store.memberSize('index.json')) !== undefined,
        manifestJson: (await store.memberSize('manifest.json')) !== undefined,
      },
      store.label,
    );
    const images = format === 'oci-layout' ? (await readLayoutFrom(store, opts)).map(fromLayout) : await readDockerArchiveFrom(store);
    return { format, images };
  });
}
