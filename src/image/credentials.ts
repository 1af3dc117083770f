import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RuntimeError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';

/**
 * Registry credentials where docker keeps them, so a `docker login` already
 * done works for tsrun and the other way round: $DOCKER_CONFIG/config.json
 * (default ~/.docker/config.json), `auths` keyed by registry, each with
 * `auth` = base64("user:password"); or, when the file names one for the
 * registry (`credHelpers`) or for all (`credsStore`), a credential helper,
 * the program docker-credential-NAME speaking docker's protocol: `get`,
 * `store` and `erase`, the registry's key on stdin, JSON on stdout.
 */

export interface Credentials {
  username: string;
  password: string;
  /** A helper's OAuth2 refresh token (its user "<token>"), traded at the registry's token service. */
  identityToken?: string;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; identitytoken?: string }>;
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

/** The saved credentials for a registry (docker.io or host[:port]), if any; `warn` hears of a helper that is not installed. */
export function credentialsFor(server: string, warn: (message: string) => void = () => undefined): Credentials | undefined {
  const config = readConfig();
  const key = registryKey(server);
  const helper = helperFor(config, key);
  if (helper) {
    const got = runHelper(helper, 'get', key);
    if (got === undefined) {
      warn(`${configFile()} keeps registry logins in docker-credential-${helper}, which is not installed: pulling ${key === DOCKER_HUB_KEY ? 'from Docker Hub' : `from ${key}`} anonymously`);
    } else {
      if (!got.ok) return undefined; // the helper has none: anonymous, as docker (an old login in the file is not used)
      const { Username: username, Secret: secret } = parseHelperJson(helper, got.stdout);
      return username === '<token>' ? { username, password: '', identityToken: secret } : { username, password: secret };
    }
  }
  for (const [k, entry] of Object.entries(config.auths ?? {})) {
    if (registryKey(k) !== key) continue;
    // docker's own field for a login that gave an identity token (an OAuth2 refresh token).
    if (entry.identitytoken) return { username: '<token>', password: '', identityToken: entry.identitytoken };
    if (!entry.auth) continue;
    const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    if (colon < 0) throw new RuntimeError(`${configFile()}: the credentials for ${k} are not user:password`);
    return { username: plain.slice(0, colon), password: plain.slice(colon + 1) };
  }
  return undefined;
}

/** docker's choice: the registry's own helper (credHelpers), else the one for all (credsStore). */
function helperFor(config: DockerConfig, key: string): string | undefined {
  for (const [k, helper] of Object.entries(config.credHelpers ?? {})) if (registryKey(k) === key && helper) return helper;
  return config.credsStore || undefined;
}

/**
 * Runs `docker-credential-HELPER ACTION` with input on stdin. Undefined when
 * the helper is not installed; ok false when it says it has nothing for the
 * registry; any other failure is an error naming the helper.
 */
function runHelper(helper: string, action: 'get' | 'store' | 'erase', input: string): { ok: boolean; stdout: string } | undefined {
  if (!/^[A-Za-z0-9_.-]+$/.test(helper)) throw new RuntimeError(`${configFile()}: "${helper}" is not a credential helper name`);
  const program = `docker-credential-${helper}`;
  const r = spawnSync(program, [action], { input, encoding: 'utf8', timeout: HELPER_TIMEOUT_MS, stdio: ['pipe', 'pipe', 'pipe'] });
  const code = (r.error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return undefined;
  // A helper that fails may exit before reading its input: EPIPE then, and its exit status tells.
  if (r.error && code !== 'EPIPE') throw new RuntimeError(`${program} ${action}: ${r.error.message}`);
  if (r.status === 0) return { ok: true, stdout: r.stdout };
  // docker-credential-helpers' credentials.ErrCredentialsNotFound, printed on stdout.
  if (/credentials not found/i.test(r.stdout)) return { ok: false, stdout: r.stdout };
  const why = (r.stderr.trim() || r.stdout.trim() || `exit status ${r.status ?? r.signal}`).split('\n')[0];
  throw new RuntimeError(`${program} ${action}: ${why}`);
}

const HELPER_TIMEOUT_MS = 60_000;

function parseHelperJson(helper: string, text: string): { Username: string; Secret: string } {
  try {
    const j = JSON.parse(text) as { Username?: unknown; Secret?: unknown };
    if (typeof j.Username === 'string' && typeof j.Secret === 'string') return { Username: j.Username, Secret: j.Secret };
  } catch {
    // reported below
  }
  throw new RuntimeError(`docker-credential-${helper} get: its answer is not {"Username": ..., "Secret": ...}`);
}

/**
 * Saves credentials: into the registry's helper when the file names one
 * (the file then lists the registry with no secret, as docker writes it),
 * else into the file (0600, written atomically; its other fields kept).
 */
export function saveCredentials(server: string, creds: Credentials): void {
  const config = readConfig();
  const key = registryKey(server);
  const helper = helperFor(config, key);
  if (helper) {
    const body = JSON.stringify({ ServerURL: key, Username: creds.username, Secret: creds.password });
    if (!runHelper(helper, 'store', body)) throw new RuntimeError(`${configFile()} keeps registry logins in docker-credential-${helper}, which is not installed`);
  }
  const auths = { ...(config.auths ?? {}) };
  for (const k of Object.keys(auths)) if (registryKey(k) === key) delete auths[k];
  auths[key] = helper ? {} : { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  writeConfig({ ...config, auths });
}

/** Forgets a registry's credentials, in its helper too; false if there were none. */
export function removeCredentials(server: string): boolean {
  const config = readConfig();
  const key = registryKey(server);
  const helper = helperFor(config, key);
  const erased = helper ? runHelper(helper, 'erase', key)?.ok === true : false;
  const auths = { ...(config.auths ?? {}) };
  const keys = Object.keys(auths).filter((k) => registryKey(k) === key);
  for (const k of keys) delete auths[k];
  if (keys.length > 0) writeConfig({ ...config, auths });
  return erased || keys.length > 0;
}

function writeConfig(config: DockerConfig): void {
  fs.mkdirSync(path.dirname(configFile()), { recursive: true, mode: 0o700 });
  writeFileAtomic(configFile(), `${JSON.stringify(config, null, '\t')}\n`, 0o600);
}
