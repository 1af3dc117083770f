import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable, pipeline } from 'node:stream';
import { digestHex, verifiedStream, verifyBlob } from './digest.js';
import {
  ANNOTATION_IMAGE_NAME,
  ANNOTATION_REF_NAME,
  MT_OCI_LAYOUT_VERSION,
  isConfigType,
  isIndexType,
  isManifestType,
  layerCompression,
} from './media-types.js';
import {
  parseImageConfig,
  parseIndex,
  parseJson,
  parseManifest,
  type Descriptor,
  type OciImageConfig,
  type OciManifest,
  type Platform,
} from './oci-types.js';

export type {
  Descriptor,
  OciContainerConfig,
  OciHistory,
  OciImageConfig,
  OciManifest,
  Platform,
} from './oci-types.js';
import { FileByteSource, TarReader } from './tar-reader.js';
import { formatPlatform, hostPlatform, platformSatisfies } from './platform.js';

/**
 * Reads an OCI image layout (image-spec image-layout.md) from a directory or
 * from a tar of one (an "oci-archive", as skopeo and `docker save` write it).
 * An archive is never extracted: its headers are indexed once and each blob
 * is read at its offset. Every blob is checked against its digest: manifests
 * and configs when read, layers while their stream is consumed.
 */

export interface LayoutLayer {
  /** The blob's digest; for a legacy docker-archive "ID/layer.tar", which has none, the diff id. */
  digest: string;
  /** "" (docker-archive layers) means unknown: the unpacker detects the compression from the magic bytes. */
  mediaType: string;
  size: number;
  diffId: string;
  /** The blob as stored (compressed); the stream fails with an Error naming the digest if the content does not match. */
  open(): Readable;
}

export interface LayoutImage {
  /** From io.containerd.image.name, else org.opencontainers.image.ref.name; raw, not normalised. */
  names: string[];
  manifestDigest: string;
  manifest: OciManifest;
  manifestBytes: Buffer;
  /** The image id. */
  configDigest: string;
  config: OciImageConfig;
  /** Exact bytes; the id is their digest. */
  configBytes: Buffer;
  /** Bottom layer first. */
  layers: LayoutLayer[];
}

export interface ReadLayoutOptions {
  /** Which manifest to take from a multi-platform index; default this machine's. */
  platform?: Platform;
}

/** Manifests, indexes and configs are small JSON documents; refuse giants before reading them. */
const MAX_JSON_BLOB = 8 * 1024 * 1024;
const MAX_INDEX_DEPTH = 4;

/** An image directory or an (uncompressed) tar of one, read without extracting it. */
export interface BlobStore {
  /** "image archive FILE" or "image layout DIR", for messages. */
  readonly label: string;
  /**
   * Any file by its relative name ("abc/layer.tar"; symlinks inside the
   * image resolved, never out of it): its size, or undefined when absent.
   */
  memberSize(name: string): Promise<number | undefined>;
  /** A file's bytes; null when absent, an Error when larger than maxSize. */
  readMember(name: string, maxSize: number): Promise<Buffer | null>;
  /** A file's bytes as a stream (errors surface on the stream). */
  openMember(name: string, size: number): Readable;
  /** A top-level file (oci-layout, index.json); null when absent. */
  readTopFile(name: string): Promise<Buffer | null>;
  /** Size of a blob, or undefined when absent. */
  blobSize(digest: string): Promise<number | undefined>;
  readBlob(digest: string, maxSize: number): Promise<Buffer>;
  openBlob(digest: string, size: number): Readable;
}

class DirStore implements BlobStore {
  readonly label: string;

  constructor(private readonly dir: string) {
    this.label = `image layout ${dir}`;
  }

  private blobPath(digest: string): string {
    return path.join(this.dir, 'blobs', 'sha256', digestHex(digest));
  }

  private async readCapped(file: string, maxSize: number, what: string): Promise<Buffer | null> {
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new Error(`invalid ${this.label}: cannot open ${what}: ${(err as Error).message}`);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new Error(`invalid ${this.label}: ${what} is not a regular file`);
      if (st.size > maxSize) throw new Error(`invalid ${this.label}: ${what} is too large (${st.size} bytes)`);
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  readTopFile(name: string): Promise<Buffer | null> {
    return this.readCapped(path.join(this.dir, name), MAX_JSON_BLOB, name);
  }

  /** The real path of a member, refusing names (or symlinks) that lead out of the directory; undefined when absent. */
  private async memberPath(name: string): Promise<string | undefined> {
    const rel = normaliseMemberName(name);
    if (rel === undefined) throw new Error(`invalid ${this.label}: bad file name ${JSON.stringify(name)}`);
    let real: string;
    try {
      real = await fs.promises.realpath(path.join(this.dir, rel));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`invalid ${this.label}: cannot open ${name}: ${(err as Error).message}`);
    }
    const root = await fs.promises.realpath(this.dir);
    if (real !== root && !real.startsWith(`${root}/`)) throw new Error(`invalid ${this.label}: ${name} leads out of the directory`);
    return real;
  }

  async memberSize(name: string): Promise<number | undefined> {
    const file = await this.memberPath(name);
    if (file === undefined) return undefined;
    const st = await fs.promises.stat(file);
    return st.isFile() ? st.size : undefined;
  }

  async readMember(name: string, maxSize: number): Promise<Buffer | null> {
    const file = await this.memberPath(name);
    return file === undefined ? null : this.readCapped(file, maxSize, name);
  }

  openMember(name: string, size: number): Readable {
    const out = new PassThrough();
    this.memberPath(name).then(
      (file) => {
        if (file === undefined) throw new Error(`invalid ${this.label}: ${name} missing`);
        const raw =
          size === 0
            ? Readable.from([])
            : fs.createReadStream('', { fd: fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW), highWaterMark: 256 * 1024 });
        pipeline(raw, out, () => {
          /* errors surface on out */
        });
      },
      (err: Error) => out.destroy(err),
    );
    return out;
  }

  async blobSize(digest: string): Promise<number | undefined> {
    try {
      const st = await fs.promises.lstat(this.blobPath(digest));
      return st.isFile() ? st.size : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async readBlob(digest: string, maxSize: number): Promise<Buffer> {
    const data = await this.readCapped(this.blobPath(digest), maxSize, `blob ${digest}`);
    if (data === null) throw new Error(`invalid ${this.label}: blob ${digest} missing`);
    return data;
  }

  openBlob(digest: string, size: number): Readable {
    let fd: number;
    try {
      fd = fs.openSync(this.blobPath(digest), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch (err) {
      return failedStream(new Error(`invalid ${this.label}: cannot open blob ${digest}: ${(err as Error).message}`));
    }
    const raw = fs.createReadStream('', { fd, highWaterMark: 256 * 1024 });
    return verifiedStream(raw, digest, size, this.label);
  }
}

interface ArchiveMember {
  offset: number;
  size: number;
}

class ArchiveStore implements BlobStore {
  readonly label: string;

  private constructor(
    private readonly file: string,
    private readonly fd: number,
    private readonly members: Map<string, ArchiveMember>,
  ) {
    this.label = `image archive ${file}`;
  }

  /** Indexes the archive's regular files by normalised name (a later entry wins, as tar does). */
  static async open(file: string, fd: number): Promise<ArchiveStore> {
    const label = `image archive ${file}`;
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new Error(`invalid ${label}: not a regular file`);
    const magic = Buffer.alloc(4);
    fs.readSync(fd, magic, 0, 4, 0);
    if (magic[0] === 0x1f && magic[1] === 0x8b) {
      throw new Error(`invalid ${label}: compressed archives are not supported (decompress it first)`);
    }
    const members = new Map<string, ArchiveMember>();
    const symlinks = new Map<string, string>();
    const reader = new TarReader(new FileByteSource(fd, st.size), {
      maxEntrySize: Number.MAX_SAFE_INTEGER,
      maxEntries: 1_000_000,
      maxExtensionSize: 1024 * 1024,
    });
    try {
      for (let entry = await reader.next(); entry !== null; entry = await reader.next()) {
        const name = normaliseMemberName(entry.header.name);
        if (name === undefined) continue;
        symlinks.delete(name);
        if (entry.header.type === 'file') {
          if (entry.dataOffset + entry.header.size > st.size) throw new Error('corrupt tar: unexpected end of data');
          members.set(name, { offset: entry.dataOffset, size: entry.header.size });
        } else if (entry.header.type === 'link') {
          const target = members.get(normaliseMemberName(entry.header.linkname) ?? '');
          if (target) members.set(name, target);
          else members.delete(name);
        } else if (entry.header.type === 'symlink') {
          // `docker save` (before 25) links a repeated layer.tar to its first copy: "../ID/layer.tar".
          members.delete(name);
          symlinks.set(name, entry.header.linkname);
        } else {
          members.delete(name);
        }
      }
    } catch (err) {
      throw new Error(`invalid ${label}: ${(err as Error).message}`);
    }
    for (const name of symlinks.keys()) {
      const target = resolveArchiveSymlink(name, symlinks, members);
      if (target) members.set(name, target);
    }
    return new ArchiveStore(file, fd, members);
  }

  async readTopFile(name: string): Promise<Buffer | null> {
    const m = this.members.get(name);
    if (!m) return null;
    if (m.size > MAX_JSON_BLOB) throw new Error(`invalid ${this.label}: ${name} is too large (${m.size} bytes)`);
    return this.readAt(m);
  }

  private readAt(m: ArchiveMember): Buffer {
    const buf = Buffer.alloc(m.size);
    let done = 0;
    while (done < m.size) {
      const n = fs.readSync(this.fd, buf, done, m.size - done, m.offset + done);
      if (n === 0) throw new Error(`invalid ${this.label}: unexpected end of file`);
      done += n;
    }
    return buf;
  }

  async memberSize(name: string): Promise<number | undefined> {
    return this.members.get(normaliseMemberName(name) ?? '')?.size;
  }

  async readMember(name: string, maxSize: number): Promise<Buffer | null> {
    const m = this.members.get(normaliseMemberName(name) ?? '');
    if (!m) return null;
    if (m.size > maxSize) throw new Error(`invalid ${this.label}: ${name} is too large (${m.size} bytes)`);
    return this.readAt(m);
  }

  openMember(name: string, _size: number): Readable {
    const m = this.members.get(normaliseMemberName(name) ?? '');
    if (!m) return failedStream(new Error(`invalid ${this.label}: ${name} missing`));
    return m.size === 0
      ? Readable.from([])
      : fs.createReadStream(this.file, { start: m.offset, end: m.offset + m.size - 1, highWaterMark: 256 * 1024 });
  }

  private member(digest: string): ArchiveMember | undefined {
    return this.members.get(`blobs/sha256/${digestHex(digest)}`);
  }

  async blobSize(digest: string): Promise<number | undefined> {
    return this.member(digest)?.size;
  }

  async readBlob(digest: string, maxSize: number): Promise<Buffer> {
    const m = this.member(digest);
    if (!m) throw new Error(`invalid ${this.label}: blob ${digest} missing`);
    if (m.size > maxSize) throw new Error(`invalid ${this.label}: blob ${digest} is too large (${m.size} bytes)`);
    return this.readAt(m);
  }

  openBlob(digest: string, size: number): Readable {
    const m = this.member(digest);
    if (!m) return failedStream(new Error(`invalid ${this.label}: blob ${digest} missing`));
    // Reopened by name: the index fd is closed once the layout has been read,
    // and a file swapped in the meantime is caught by the digest check.
    const raw =
      m.size === 0
        ? Readable.from([])
        : fs.createReadStream(this.file, { start: m.offset, end: m.offset + m.size - 1, highWaterMark: 256 * 1024 });
    return verifiedStream(raw, digest, size, this.label);
  }
}

/** A stream that fails on first read, so the error reaches whoever consumes it (never an unhandled 'error'). */
function failedStream(err: Error): Readable {
  return new Readable({
    read() {
      this.destroy(err);
    },
  });
}

/** Follows a symlink inside the archive (relative targets only, a few hops) to a regular file. */
function resolveArchiveSymlink(
  name: string,
  symlinks: Map<string, string>,
  members: Map<string, ArchiveMember>,
): ArchiveMember | undefined {
  let cur = name;
  for (let hop = 0; hop < 8; hop++) {
    const link = symlinks.get(cur);
    if (link === undefined) return members.get(cur);
    if (link.startsWith('/')) return undefined;
    const joined = path.posix.normalize(path.posix.join(path.posix.dirname(cur), link));
    if (joined === '..' || joined.startsWith('../')) return undefined;
    const next = normaliseMemberName(joined);
    if (next === undefined) return undefined;
    cur = next;
  }
  return undefined;
}

/** "./blobs//sha256/x" → "blobs/sha256/x"; undefined for names that cannot be a layout file. */
function normaliseMemberName(name: string): string | undefined {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.includes('..') || name.startsWith('/')) return undefined;
  return parts.join('/');
}

function platformMatches(d: Descriptor, want: Platform): boolean {
  return d.platform !== undefined && platformSatisfies(d.platform, want);
}

function namesOf(d: Descriptor): string[] {
  const a = d.annotations ?? {};
  const name = a[ANNOTATION_IMAGE_NAME] ?? a[ANNOTATION_REF_NAME];
  return name !== undefined && name !== '' ? [name] : [];
}

interface ManifestRef {
  descriptor: Descriptor;
  names: string[];
}

async function readDescribedBlob(store: BlobStore, d: Descriptor, what: string): Promise<Buffer> {
  if (d.size > MAX_JSON_BLOB) throw new Error(`invalid ${store.label}: ${what} ${d.digest} is too large (${d.size} bytes)`);
  const data = await store.readBlob(d.digest, MAX_JSON_BLOB);
  verifyBlob(data, d.digest, d.size, `invalid ${store.label}`);
  return data;
}

/** Follows a (possibly nested) index entry down to one image manifest. */
async function resolveManifest(
  store: BlobStore,
  d: Descriptor,
  platform: Platform,
  depth: number,
): Promise<Descriptor> {
  if (isManifestType(d.mediaType)) return d;
  if (!isIndexType(d.mediaType)) {
    throw new Error(`invalid ${store.label}: ${d.digest} has unsupported media type ${JSON.stringify(d.mediaType)}`);
  }
  if (depth >= MAX_INDEX_DEPTH) throw new Error(`invalid ${store.label}: image indexes nested too deeply`);
  const where = `invalid ${store.label}: index ${d.digest}`;
  const index = parseIndex(await readDescribedBlob(store, d, 'index'), where);
  if (index.mediaType !== undefined && index.mediaType !== d.mediaType) {
    throw new Error(`${where}: media type ${JSON.stringify(index.mediaType)} differs from its descriptor's`);
  }
  const match = index.manifests.find((m) => platformMatches(m, platform));
  if (!match) {
    throw new Error(`invalid ${store.label}: index ${d.digest} has no ${formatPlatform(platform)} image`);
  }
  return resolveManifest(store, match, platform, depth + 1);
}

async function readImage(store: BlobStore, ref: ManifestRef): Promise<LayoutImage> {
  const md = ref.descriptor;
  const where = `invalid ${store.label}: manifest ${md.digest}`;
  const manifestBytes = await readDescribedBlob(store, md, 'manifest');
  const manifest = parseManifest(manifestBytes, where);
  if (manifest.mediaType !== undefined && manifest.mediaType !== md.mediaType) {
    throw new Error(`${where}: media type ${JSON.stringify(manifest.mediaType)} differs from its descriptor's`);
  }
  if (!isConfigType(manifest.config.mediaType)) {
    throw new Error(`${where}: config has unsupported media type ${JSON.stringify(manifest.config.mediaType)}`);
  }
  const configBytes = await readDescribedBlob(store, manifest.config, 'config');
  const config = parseImageConfig(configBytes, `invalid ${store.label}: config ${manifest.config.digest}`);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw new Error(`${where}: ${manifest.layers.length} layers but the config lists ${diffIds.length} diff_ids`);
  }
  const layers: LayoutLayer[] = [];
  for (const [i, l] of manifest.layers.entries()) {
    if (layerCompression(l.mediaType) === undefined) {
      throw new Error(`${where}: layer ${l.digest} has unsupported media type ${JSON.stringify(l.mediaType)}`);
    }
    const size = await store.blobSize(l.digest);
    if (size === undefined) throw new Error(`invalid ${store.label}: layer blob ${l.digest} missing`);
    if (size !== l.size) {
      throw new Error(`invalid ${store.label}: layer blob ${l.digest} has ${size} bytes, descriptor says ${l.size}`);
    }
    layers.push({
      digest: l.digest,
      mediaType: l.mediaType,
      size: l.size,
      diffId: diffIds[i]!,
      open: () => store.openBlob(l.digest, l.size),
    });
  }
  return {
    names: ref.names,
    manifestDigest: md.digest,
    manifest,
    manifestBytes,
    configDigest: manifest.config.digest,
    config,
    configBytes,
    layers,
  };
}

async function readLayout(store: BlobStore, opts: ReadLayoutOptions): Promise<LayoutImage[]> {
  const layoutFile = await store.readTopFile('oci-layout');
  const indexFile = await store.readTopFile('index.json');
  if (indexFile === null) {
    if (layoutFile === null && (await store.readTopFile('manifest.json')) !== null) {
      throw new Error(`invalid ${store.label}: docker-archive format (manifest.json without index.json) is not supported`);
    }
    throw new Error(`invalid ${store.label}: index.json missing`);
  }
  if (layoutFile === null) throw new Error(`invalid ${store.label}: oci-layout missing`);
  const layout = parseJson(layoutFile, `invalid ${store.label}: oci-layout`);
  if (layout['imageLayoutVersion'] !== MT_OCI_LAYOUT_VERSION) {
    throw new Error(`invalid ${store.label}: unsupported imageLayoutVersion ${JSON.stringify(layout['imageLayoutVersion'])}`);
  }
  const index = parseIndex(indexFile, `invalid ${store.label}: index.json`);
  if (index.mediaType !== undefined && !isIndexType(index.mediaType)) {
    throw new Error(`invalid ${store.label}: index.json has media type ${JSON.stringify(index.mediaType)}`);
  }
  const platform = opts.platform ?? hostPlatform();
  // One image per manifest; the same manifest under several names is one image with several names.
  const refs = new Map<string, ManifestRef>();
  for (const entry of index.manifests) {
    const descriptor = await resolveManifest(store, entry, platform, 0);
    const ref = refs.get(descriptor.digest);
    if (ref) {
      for (const n of namesOf(entry)) if (!ref.names.includes(n)) ref.names.push(n);
    } else {
      refs.set(descriptor.digest, { descriptor, names: namesOf(entry) });
    }
  }
  if (refs.size === 0) throw new Error(`invalid ${store.label}: index.json lists no images`);
  const images: LayoutImage[] = [];
  for (const ref of refs.values()) images.push(await readImage(store, ref));
  return images;
}

/**
 * Opens an image directory or uncompressed archive for reading; `use` runs
 * while the archive's index fd is open. Streams from the store stay valid
 * afterwards (an archive is reopened by name for each).
 */
export async function withBlobStore<T>(source: string, use: (store: BlobStore) => Promise<T>): Promise<T> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(source);
  } catch (err) {
    throw new Error(`cannot read image ${source}: ${(err as Error).message}`);
  }
  if (st.isDirectory()) return use(new DirStore(source));
  let fd: number;
  try {
    fd = fs.openSync(source, fs.constants.O_RDONLY);
  } catch (err) {
    throw new Error(`cannot read image ${source}: ${(err as Error).message}`);
  }
  try {
    return await use(await ArchiveStore.open(source, fd));
  } finally {
    fs.closeSync(fd);
  }
}

/** Every image of an OCI layout held by `store` (see readOciLayout). */
export function readLayoutFrom(store: BlobStore, opts: ReadLayoutOptions = {}): Promise<LayoutImage[]> {
  return readLayout(store, opts);
}

/**
 * Reads every image of an OCI layout directory or oci-archive tar at `source`.
 * Layer streams (LayoutLayer.open) stay valid after this returns; an archive
 * is reopened for each.
 */
export async function readOciLayout(source: string, opts: ReadLayoutOptions = {}): Promise<LayoutImage[]> {
  return withBlobStore(source, (store) => readLayout(store, opts));
}
