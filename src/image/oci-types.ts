import { assertDigest } from './digest.js';

/**
 * The image-spec documents tsrun reads (opencontainers/image-spec descriptor.md,
 * image-index.md, manifest.md, config.md), with parsers that check every field
 * they return. Unknown fields are dropped from the parsed value; the exact
 * bytes are kept by the caller where their digest matters.
 */

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface OciManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface OciContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ArgsEscaped?: boolean;
}

export interface OciHistory {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface OciImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  config?: OciContainerConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: OciHistory[];
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function object(v: unknown, where: string, field: string): Json {
  if (!isObject(v)) throw new Error(`${where}: ${field} must be an object`);
  return v;
}

function string(v: unknown, where: string, field: string): string {
  if (typeof v !== 'string') throw new Error(`${where}: ${field} must be a string`);
  return v;
}

/** null and absent both mean "not set" in configs written by docker. */
function optString(v: unknown, where: string, field: string): string | undefined {
  return v === undefined || v === null ? undefined : string(v, where, field);
}

function optStringArray(v: unknown, where: string, field: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) {
    throw new Error(`${where}: ${field} must be an array of strings`);
  }
  return v as string[];
}

function optStringMap(v: unknown, where: string, field: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  const o = object(v, where, field);
  for (const [k, val] of Object.entries(o)) {
    if (typeof val !== 'string') throw new Error(`${where}: ${field}[${JSON.stringify(k)}] must be a string`);
  }
  return o as Record<string, string>;
}

function optObjectMap(v: unknown, where: string, field: string): Record<string, object> | undefined {
  if (v === undefined || v === null) return undefined;
  const o = object(v, where, field);
  for (const [k, val] of Object.entries(o)) {
    if (!isObject(val)) throw new Error(`${where}: ${field}[${JSON.stringify(k)}] must be an object`);
  }
  return o as Record<string, object>;
}

function schemaVersion2(doc: Json, where: string): 2 {
  if (doc['schemaVersion'] !== 2) throw new Error(`${where}: schemaVersion must be 2`);
  return 2;
}

export function parseJson(bytes: Buffer, where: string): Json {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new Error(`${where}: not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(doc)) throw new Error(`${where}: not a JSON object`);
  return doc;
}

function parsePlatform(v: unknown, where: string, field: string): Platform | undefined {
  if (v === undefined || v === null) return undefined;
  const o = object(v, where, field);
  const platform: Platform = {
    os: string(o['os'], where, `${field}.os`),
    architecture: string(o['architecture'], where, `${field}.architecture`),
  };
  const variant = optString(o['variant'], where, `${field}.variant`);
  if (variant !== undefined) platform.variant = variant;
  return platform;
}

export function parseDescriptor(v: unknown, where: string, field: string): Descriptor {
  const o = object(v, where, field);
  const size = o['size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new Error(`${where}: ${field}.size must be a non-negative integer`);
  }
  const d: Descriptor = {
    mediaType: string(o['mediaType'], where, `${field}.mediaType`),
    digest: assertDigest(o['digest'], `${where}: ${field}.digest`),
    size,
  };
  const annotations = optStringMap(o['annotations'], where, `${field}.annotations`);
  if (annotations !== undefined) d.annotations = annotations;
  const platform = parsePlatform(o['platform'], where, `${field}.platform`);
  if (platform !== undefined) d.platform = platform;
  return d;
}

function descriptors(v: unknown, where: string, field: string): Descriptor[] {
  if (!Array.isArray(v)) throw new Error(`${where}: ${field} must be an array`);
  return v.map((d, i) => parseDescriptor(d, where, `${field}[${i}]`));
}

export function parseIndex(bytes: Buffer, where: string): OciIndex {
  const doc = parseJson(bytes, where);
  const index: OciIndex = {
    schemaVersion: schemaVersion2(doc, where),
    manifests: descriptors(doc['manifests'], where, 'manifests'),
  };
  const mediaType = optString(doc['mediaType'], where, 'mediaType');
  if (mediaType !== undefined) index.mediaType = mediaType;
  const annotations = optStringMap(doc['annotations'], where, 'annotations');
  if (annotations !== undefined) index.annotations = annotations;
  return index;
}

export function parseManifest(bytes: Buffer, where: string): OciManifest {
  const doc = parseJson(bytes, where);
  const manifest: OciManifest = {
    schemaVersion: schemaVersion2(doc, where),
    config: parseDescriptor(doc['config'], where, 'config'),
    layers: descriptors(doc['layers'], where, 'layers'),
  };
  const mediaType = optString(doc['mediaType'], where, 'mediaType');
  if (mediaType !== undefined) manifest.mediaType = mediaType;
  const annotations = optStringMap(doc['annotations'], where, 'annotations');
  if (annotations !== undefined) manifest.annotations = annotations;
  return manifest;
}

function parseContainerConfig(v: unknown, where: string): OciContainerConfig | undefined {
  if (v === undefined || v === null) return undefined;
  const o = object(v, where, 'config');
  const c: OciContainerConfig = {};
  const set = <K extends keyof OciContainerConfig>(key: K, value: OciContainerConfig[K] | undefined): void => {
    if (value !== undefined) c[key] = value;
  };
  set('User', optString(o['User'], where, 'config.User'));
  set('ExposedPorts', optObjectMap(o['ExposedPorts'], where, 'config.ExposedPorts'));
  set('Env', optStringArray(o['Env'], where, 'config.Env'));
  set('Entrypoint', optStringArray(o['Entrypoint'], where, 'config.Entrypoint'));
  set('Cmd', optStringArray(o['Cmd'], where, 'config.Cmd'));
  set('Volumes', optObjectMap(o['Volumes'], where, 'config.Volumes'));
  set('WorkingDir', optString(o['WorkingDir'], where, 'config.WorkingDir'));
  set('Labels', optStringMap(o['Labels'], where, 'config.Labels'));
  set('StopSignal', optString(o['StopSignal'], where, 'config.StopSignal'));
  if (o['ArgsEscaped'] !== undefined && o['ArgsEscaped'] !== null) {
    if (typeof o['ArgsEscaped'] !== 'boolean') throw new Error(`${where}: config.ArgsEscaped must be a boolean`);
    c.ArgsEscaped = o['ArgsEscaped'];
  }
  return c;
}

function parseHistory(v: unknown, where: string): OciHistory[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new Error(`${where}: history must be an array`);
  return v.map((h, i) => {
    const o = object(h, where, `history[${i}]`);
    const entry: OciHistory = {};
    for (const key of ['created', 'created_by', 'author', 'comment'] as const) {
      const s = optString(o[key], where, `history[${i}].${key}`);
      if (s !== undefined) entry[key] = s;
    }
    if (o['empty_layer'] !== undefined && o['empty_layer'] !== null) {
      if (typeof o['empty_layer'] !== 'boolean') throw new Error(`${where}: history[${i}].empty_layer must be a boolean`);
      entry.empty_layer = o['empty_layer'];
    }
    return entry;
  });
}

export function parseImageConfig(bytes: Buffer, where: string): OciImageConfig {
  const doc = parseJson(bytes, where);
  const rootfs = object(doc['rootfs'], where, 'rootfs');
  if (rootfs['type'] !== 'layers') throw new Error(`${where}: rootfs.type must be "layers"`);
  if (!Array.isArray(rootfs['diff_ids'])) throw new Error(`${where}: rootfs.diff_ids must be an array`);
  const diffIds = rootfs['diff_ids'].map((d, i) => assertDigest(d, `${where}: rootfs.diff_ids[${i}]`));
  const config: OciImageConfig = {
    architecture: string(doc['architecture'], where, 'architecture'),
    os: string(doc['os'], where, 'os'),
    rootfs: { type: 'layers', diff_ids: diffIds },
  };
  const created = optString(doc['created'], where, 'created');
  if (created !== undefined) config.created = created;
  const author = optString(doc['author'], where, 'author');
  if (author !== undefined) config.author = author;
  const variant = optString(doc['variant'], where, 'variant');
  if (variant !== undefined) config.variant = variant;
  const containerConfig = parseContainerConfig(doc['config'], where);
  if (containerConfig !== undefined) config.config = containerConfig;
  const history = parseHistory(doc['history'], where);
  if (history !== undefined) config.history = history;
  return config;
}
