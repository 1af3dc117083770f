import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { PassThrough, type Readable } from 'node:stream';
import { RuntimeError } from '../errors.js';
import type { ImageRef } from '../store/reference.js';
import { credentialsFor, type Credentials } from './credentials.js';
import { sha256Digest, verifiedStream, verifyBlob } from './digest.js';
import { MT_DOCKER_MANIFEST, MT_DOCKER_MANIFEST_LIST, MT_OCI_INDEX, MT_OCI_LAYOUT_VERSION, MT_OCI_MANIFEST, isIndexType } from './media-types.js';
import type { BlobStore } from './oci-layout.js';
import { parseIndex } from './oci-types.js';
import { writeStderr } from '../util/stdio.js';

/**
 * A registry's repository as a BlobStore, so `pull` reads it with the same
 * code as `load` reads an OCI layout: the tag's manifest becomes a one-entry
 * index.json, manifests and blobs come from the distribution API
 * (distribution-spec "pull"), every byte checked against its digest.
 *
 * Auth: a 401's WWW-Authenticate decides. Bearer (Docker Hub's token
 * dance: realm/service/scope) gets a token, anonymously or with the saved
 * credentials (credentials.ts) as Basic auth to the realm; Basic gets the
 * credentials themselves. Neither is sent to another host a registry
 * redirects to (a blob store). Transport: HTTPS, with the
 * system's CAs plus TSRUN_EXTRA_CA_CERTS (bin/tsrun moves NODE_EXTRA_CA_CERTS
 * there so Node does not load it at every start); plain HTTP only for
 * localhost and 127.0.0.0/8, as docker allows by default.
 */

const ACCEPT = [MT_OCI_INDEX, MT_DOCKER_MANIFEST_LIST, MT_OCI_MANIFEST, MT_DOCKER_MANIFEST].join(', ');
const MAX_JSON = 8 * 1024 * 1024;
const MAX_REDIRECTS = 5;
const TIMEOUT_MS = 60_000;

/** Docker Hub's API lives at registry-1.docker.io; others at their own name. */
export function registryHost(repository: string): { host: string; path: string } {
  const slash = repository.indexOf('/');
  const domain = repository.slice(0, slash);
  return { host: domain === 'docker.io' ? 'registry-1.docker.io' : domain, path: repository.slice(slash + 1) };
}

function insecureAllowed(host: string): boolean {
  const name = host.replace(/:\d+$/, '');
  return name === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

let agent: https.Agent | undefined;
function httpsAgent(): https.Agent {
  if (!agent) {
    const extra = process.env.TSRUN_EXTRA_CA_CERTS ?? process.env.NODE_EXTRA_CA_CERTS;
    const ca = [...tls.rootCertificates];
    if (extra) {
      try {
        ca.push(fs.readFileSync(extra, 'utf8'));
      } catch {
        // an unreadable bundle adds nothing, as Node's own NODE_EXTRA_CA_CERTS handling
      }
    }
    agent = new https.Agent({ ca, keepAlive: true });
  }
  return agent;
}

interface Challenge {
  realm: string;
  service?: string;
  scope?: string;
}

/** `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"` */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header || !/^Bearer\s/i.test(header)) return undefined;
  const params: Record<string, string> = {};
  for (const m of header.slice(7).matchAll(/(\w+)="([^"]*)"/g)) params[m[1]!.toLowerCase()] = m[2]!;
  return params.realm ? { realm: params.realm, service: params.service, scope: params.scope } : undefined;
}

const basicAuth = (c: Credentials) => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;

export class RegistryClient {
  /** The Authorization header the registry accepted (or will be tried with). */
  private authorization: string | undefined;
  readonly base: URL;

  constructor(
    readonly host: string,
    readonly repo: string,
    private readonly credentials?: Credentials,
  ) {
    this.base = new URL(`${insecureAllowed(host) ? 'http' : 'https'}://${host}/v2/${repo ? `${repo}/` : ''}`);
  }

  /** A request under /v2/<repo>/, authenticated when the registry asks, redirects followed; non-2xx is an error. */
  async get(path: string, opts: { accept?: string; method?: 'GET' | 'HEAD'; allow404?: boolean } = {}): Promise<http.IncomingMessage | undefined> {
    let url = new URL(path, this.base);
    for (let hops = 0; ; hops++) {
      // Credentials and tokens go only to the registry itself, never to a blob store it redirects to.
      const headers: Record<string, string> = opts.accept ? { Accept: opts.accept } : {};
      if (url.host === this.base.host && this.authorization) headers.Authorization = this.authorization;
      let res = await send(url, opts.method ?? 'GET', headers);
      if (res.statusCode === 401 && url.host === this.base.host && !this.authorization) {
        res.resume();
        this.authorization = await this.authorize(res.headers['www-authenticate'] as string | undefined);
        res = await send(url, opts.method ?? 'GET', { ...headers, Authorization: this.authorization });
      }
      if (res.statusCode === 401 && url.host === this.base.host) {
        res.resume();
        throw new RuntimeError(
          this.credentials
            ? `${this.host}/${this.repo}: the registry refused the saved ${this.credentials.identityToken !== undefined ? 'identity token' : `credentials of ${this.credentials.username}`}`
            : `${this.host}/${this.repo}: the registry wants credentials; run tsrun login ${this.host}`,
        );
      }
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (hops >= MAX_REDIRECTS) throw new RuntimeError(`${url.host}: too many redirects`);
        url = new URL(res.headers.location, url);
        continue;
      }
      if (status === 404 && opts.allow404) {
        res.resume();
        return undefined;
      }
      if (status < 200 || status >= 300) {
        const body = opts.method === 'HEAD' ? '' : (await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0))).toString();
        throw new RuntimeError(`${this.host}/${this.repo}: ${describeError(status, body)}`);
      }
      return res;
    }
  }

  /** The Authorization header for a 401's challenge: a token (Bearer), or the credentials themselves (Basic). */
  private async authorize(header: string | undefined): Promise<string> {
    const challenge = parseChallenge(header);
    if (challenge) return `Bearer ${await fetchToken(challenge, this.repo, this.credentials)}`;
    if (header && /^Basic\b/i.test(header)) {
      if (!this.credentials) throw new RuntimeError(`${this.host} wants a user name and password; run tsrun login ${this.host}`);
      if (this.credentials.identityToken !== undefined) throw new RuntimeError(`${this.host} wants a user name and password, and the credential helper has a token for it`);
      return basicAuth(this.credentials);
    }
    throw new RuntimeError(`${this.host} asks for an authentication tsrun does not know (${header ?? 'no WWW-Authenticate'})`);
  }

  /** `login`'s check: GET /v2/ with the credentials; throws unless the registry accepts them. */
  async ping(): Promise<void> {
    (await this.get(''))?.resume();
  }

  async getBytes(path: string, max: number, accept?: string): Promise<{ bytes: Buffer; type?: string }> {
    const res = (await this.get(path, { accept }))!;
    return { bytes: await readBody(res, max), type: res.headers['content-type']?.split(';')[0]?.trim() };
  }
}

/** distribution-spec error bodies: {"errors":[{"code":"MANIFEST_UNKNOWN","message":"..."}]}. */
function describeError(status: number, body: string): string {
  try {
    const e = (JSON.parse(body) as { errors?: { code?: string; message?: string }[] }).errors?.[0];
    if (e?.code === 'MANIFEST_UNKNOWN' || e?.code === 'NAME_UNKNOWN') return `not found (${e.message ?? e.code})`;
    if (e?.code === 'UNAUTHORIZED' || e?.code === 'DENIED') return `pull access denied (${e.message ?? e.code}): the repository does not exist or needs a login`;
    if (e) return `${e.code ?? 'error'}: ${e.message ?? ''} (HTTP ${status})`;
  } catch {
    // not JSON
  }
  return status === 404 ? 'not found (HTTP 404)' : `HTTP ${status}`;
}

async function fetchToken(c: Challenge, repo: string, credentials: Credentials | undefined): Promise<string> {
  const url = new URL(c.realm);
  if (c.service) url.searchParams.set('service', c.service);
  // login pings /v2/ with no repository: a token for no scope says whether the credentials are good.
  const scope = c.scope ?? (repo ? `repository:${repo}:pull` : undefined);
  if (scope) url.searchParams.set('scope', scope);
  // The realm is the registry's own token service, which is what the credentials are for (docker sends them there too).
  const res = credentials?.identityToken !== undefined ? await refreshTokenGrant(c, scope, credentials.identityToken) : await send(url, 'GET', credentials ? { Authorization: basicAuth(credentials) } : {});
  const body = await readBody(res, 1024 * 1024);
  if (res.statusCode === 401 && credentials?.identityToken !== undefined) throw new RuntimeError(`${url.host} refused the saved identity token`);
  if (res.statusCode === 401 && credentials) throw new RuntimeError(`${url.host} refused the credentials of ${credentials.username}`);
  if (res.statusCode === 401) throw new RuntimeError(`${url.host} wants credentials; run tsrun login`);
  if ((res.statusCode ?? 0) !== 200) throw new RuntimeError(`cannot get a token from ${url.host}: HTTP ${res.statusCode}`);
  const json = JSON.parse(body.toString()) as { token?: string; access_token?: string };
  const token = json.token ?? json.access_token;
  if (!token) throw new RuntimeError(`${url.host} gave no token`);
  return token;
}

/**
 * A credential helper's identity token is an OAuth2 refresh token: POSTed to
 * the token service with the same service and scope (distribution's
 * token-auth "oauth" flow, what docker does with one).
 */
function refreshTokenGrant(c: Challenge, scope: string | undefined, refreshToken: string): Promise<http.IncomingMessage> {
  const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'tsrun' });
  if (c.service) form.set('service', c.service);
  if (scope) form.set('scope', scope);
  // To the realm as given, its own query included.
  return send(new URL(c.realm), 'POST', { 'Content-Type': 'application/x-www-form-urlencoded' }, form.toString());
}

function send(url: URL, method: string, headers: Record<string, string>, body?: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const secure = url.protocol === 'https:';
    if (!secure && !insecureAllowed(url.host)) {
      reject(new RuntimeError(`refusing plain HTTP to ${url.host}: only localhost registries may skip TLS`));
      return;
    }
    const req = (secure ? https : http).request(url, { method, headers: { 'User-Agent': 'tsrun', ...headers }, agent: secure ? httpsAgent() : undefined, timeout: TIMEOUT_MS });
    req.on('response', resolve);
    req.on('timeout', () => req.destroy(new RuntimeError(`${url.host}: no answer within ${TIMEOUT_MS / 1000}s`)));
    req.on('error', (err) => reject(err instanceof RuntimeError ? err : new RuntimeError(`cannot reach ${url.host}: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err })));
    req.end(body);
  });
}

function readBody(res: http.IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    res.on('data', (c: Buffer) => {
      n += c.length;
      if (n > max) {
        res.destroy();
        reject(new RuntimeError(`a registry document is larger than ${max} bytes`));
        return;
      }
      chunks.push(c);
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
  });
}

/** The repository as an OCI layout of one image: the reference's manifest. */
export class RegistryStore implements BlobStore {
  readonly label: string;
  private readonly client: RegistryClient;
  private readonly docs = new Map<string, Buffer>();
  private readonly manifestDigests = new Set<string>();
  private top: { digest: string; size: number; mediaType: string } | undefined;

  constructor(
    private readonly ref: ImageRef,
    private readonly name: string,
  ) {
    const { host, path } = registryHost(ref.repository);
    const warn = (message: string) => writeStderr(`tsrun: warning: ${message}\n`);
    this.client = new RegistryClient(host, path, credentialsFor(ref.repository.slice(0, ref.repository.indexOf('/')), warn));
    this.label = `registry ${host}/${path}`;
  }

  /** Fetches the tag's (or digest's) manifest; its digest, for `Digest:`. */
  async resolve(): Promise<string> {
    const wanted = this.ref.digest ?? this.ref.tag ?? 'latest';
    const { bytes, type } = await this.client.getBytes(`manifests/${wanted}`, MAX_JSON, ACCEPT);
    const digest = sha256Digest(bytes);
    if (this.ref.digest !== undefined) verifyBlob(bytes, this.ref.digest, bytes.length, `invalid ${this.label}`);
    const mediaType = (JSON.parse(bytes.toString()) as { mediaType?: string }).mediaType ?? type;
    if (!mediaType) throw new RuntimeError(`${this.label}: the manifest of ${wanted} has no media type`);
    this.remember(digest, bytes, mediaType);
    this.top = { digest, size: bytes.length, mediaType };
    return digest;
  }

  private remember(digest: string, bytes: Buffer, mediaType: string): void {
    this.docs.set(digest, bytes);
    if (isIndexType(mediaType)) {
      // The children of an index are manifests: they come from /manifests/, not /blobs/.
      for (const m of parseIndex(bytes, `invalid ${this.label}: index ${digest}`).manifests) this.manifestDigests.add(m.digest);
    }
  }

  async readTopFile(name: string): Promise<Buffer | null> {
    if (name === 'oci-layout') return Buffer.from(JSON.stringify({ imageLayoutVersion: MT_OCI_LAYOUT_VERSION }));
    if (name !== 'index.json') return null;
    if (!this.top) await this.resolve();
    const top = this.top!;
    return Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ ...top, annotations: { 'io.containerd.image.name': this.name } }] }));
  }

  async readBlob(digest: string, maxSize: number): Promise<Buffer> {
    const known = this.docs.get(digest);
    if (known) return known;
    if (this.manifestDigests.has(digest)) {
      const { bytes, type } = await this.client.getBytes(`manifests/${digest}`, maxSize, ACCEPT);
      const mediaType = (JSON.parse(bytes.toString()) as { mediaType?: string }).mediaType ?? type ?? '';
      this.remember(digest, bytes, mediaType);
      return bytes;
    }
    return (await this.client.getBytes(`blobs/${digest}`, maxSize)).bytes;
  }

  async blobSize(digest: string): Promise<number | undefined> {
    const res = await this.client.get(`blobs/${digest}`, { method: 'HEAD', allow404: true });
    if (!res) return undefined;
    res.resume();
    const len = Number(res.headers['content-length']);
    return Number.isFinite(len) ? len : undefined;
  }

  openBlob(digest: string, size: number): Readable {
    const out = new PassThrough({ highWaterMark: 256 * 1024 });
    this.client.get(`blobs/${digest}`).then(
      (res) => res!.on('error', (err) => out.destroy(err)).pipe(out),
      (err: Error) => out.destroy(err),
    );
    return verifiedStream(out, digest, size, this.label);
  }

  memberSize(): Promise<number | undefined> {
    return Promise.resolve(undefined);
  }

  readMember(): Promise<Buffer | null> {
    return Promise.resolve(null);
  }

  openMember(name: string): Readable {
    const out = new PassThrough();
    out.destroy(new Error(`${this.label} has no member ${name}`));
    return out;
  }
}
