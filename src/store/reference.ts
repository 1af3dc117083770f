import { UsageError } from '../errors.js';

/**
 * Image references, normalised as docker does: `busybox` is
 * `docker.io/library/busybox:latest`, `me/app:v1` is `docker.io/me/app:v1`,
 * and a first component with a dot, a colon or `localhost` is a registry.
 */
export interface ImageRef {
  /** docker.io/library/hello-world */
  repository: string;
  tag?: string;
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const DOMAIN = /^[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*(?::\d+)?$/;

export function parseReference(input: string): ImageRef {
  const bad = (why: string) => new UsageError(`invalid reference format "${input}": ${why}`);
  if (input === '' || input !== input.trim()) throw bad('empty or padded');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad('the digest must be sha256:<64 hex>');
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad('bad tag');
  }
  const parts = rest.split('/');
  let domain = 'docker.io';
  if (parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost')) {
    domain = parts.shift()!;
    if (!DOMAIN.test(domain)) throw bad(`bad registry host ${domain}`);
  }
  if (parts.length === 0 || parts.some((c) => !COMPONENT.test(c))) throw bad('repository names are lowercase letters, digits and separators');
  if (domain === 'docker.io' && parts.length === 1) parts.unshift('library');
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { repository: `${domain}/${parts.join('/')}`, tag, digest };
}

/** The full name a tag is stored under: docker.io/library/busybox:latest. */
export function canonicalName(ref: ImageRef): string {
  if (ref.tag !== undefined) return `${ref.repository}:${ref.tag}`;
  return `${ref.repository}@${ref.digest}`;
}

/** The short form docker prints: `busybox`, `me/app`, `quay.io/x/y`. */
export function familiarRepository(repository: string): string {
  if (repository.startsWith('docker.io/library/')) return repository.slice('docker.io/library/'.length);
  if (repository.startsWith('docker.io/')) return repository.slice('docker.io/'.length);
  return repository;
}

export function familiarName(canonical: string): string {
  const ref = parseReference(canonical);
  const repo = familiarRepository(ref.repository);
  return ref.tag !== undefined ? `${repo}:${ref.tag}` : `${repo}@${ref.digest}`;
}
