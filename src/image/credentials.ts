import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RuntimeError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';

/**
 * Registry credentials in docker's own file, so a `docker login` already
 * done works for tsrun and the other way round: $DOCKER_CONFIG/config.json
 * (default ~/.docker/config.json), `auths` keyed by registry, each with
 * `auth` = base64("user:password"). A login kept by a `credsStore` or
 * `credHelpers` program (docker-credential-*) is not read: tsrun warns and
 * pulls anonymously, which serves public images.
 */

export interface Credentials {
  username: string;
  password: string;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

/** Docker Hub's key in config.json (docker's IndexServer); every other registry is keyed by host[:port]. */
const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const DOCKER_HUB_NAMES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

export function configFile(): string {
  return path.join(process.env.DOCKER_CONFIG ?? path.join(os.homedir(), '.docker'), 'config.json');
}

/** The config.json key for a registry as users write it (docker.io, host:port, or a URL). */
export function registryKey(server: string): string {
  const host = server.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return DOCKER_HUB_NAMES.has(host) ? DOCKER_HUB_KEY : host;
}

function readConfig(): DockerConfig {
  let text: string;
  try {
    text = fs.readFileSync(configFile(), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new RuntimeError(`cannot read ${configFile()}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return JSON.parse(text) as DockerConfig;
  } catch {
    throw new RuntimeError(`${configFile()} is not valid JSON`);
  }
}

/** The saved credentials for a registry (docker.io or host[:port]), if any; `warn` hears of a login tsrun cannot read. */
export function credentialsFor(server: string, warn: (message: string) => void = () => undefined): Credentials | undefined {
  const config = readConfig();
  const key = registryKey(server);
  let listed = false;
  for (const [k, entry] of Object.entries(config.auths ?? {})) {
    if (registryKey(k) !== key) continue;
    listed = true;
    if (!entry.auth) continue;
    const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    if (colon < 0) throw new RuntimeError(`${configFile()}: the credentials for ${k} are not user:password`);
    return { username: plain.slice(0, colon), password: plain.slice(colon + 1) };
  }
  // A login kept by a helper: docker lists the registry in auths with no `auth`.
  const helper = config.credHelpers?.[key] ?? (listed ? config.credsStore : undefined);
  if (helper) warn(`${configFile()} keeps the credentials for ${key} in docker-credential-${helper}, which tsrun does not use: pulling anonymously (tsrun login ${key === DOCKER_HUB_KEY ? '' : key} saves some it can use)`.replace('  ', ' '));
  return undefined;
}

/** Saves credentials (0600, written atomically; every other field of the file is kept). */
export function saveCredentials(server: string, creds: Credentials): void {
  const config = readConfig();
  const key = registryKey(server);
  const auths = { ...(config.auths ?? {}) };
  for (const k of Object.keys(auths)) if (registryKey(k) === key) delete auths[k];
  auths[key] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  fs.mkdirSync(path.dirname(configFile()), { recursive: true, mode: 0o700 });
  writeFileAtomic(configFile(), `${JSON.stringify({ ...config, auths }, null, '\t')}\n`, 0o600);
}

/** Forgets a registry's credentials; false if there were none. */
export function removeCredentials(server: string): boolean {
  const config = readConfig();
  const key = registryKey(server);
  const auths = { ...(config.auths ?? {}) };
  const keys = Object.keys(auths).filter((k) => registryKey(k) === key);
  if (keys.length === 0) return false;
  for (const k of keys) delete auths[k];
  writeFileAtomic(configFile(), `${JSON.stringify({ ...config, auths }, null, '\t')}\n`, 0o600);
  return true;
}
