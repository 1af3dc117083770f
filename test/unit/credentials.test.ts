import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { credentialsFor, registryKey, removeCredentials, saveCredentials } from '../../src/image/credentials.js';

/** docker's config.json, read and written in a DOCKER_CONFIG of the test's own. */

let dir: string;
let saved: string | undefined;
const file = () => path.join(dir, 'config.json');
const b64 = (s: string) => Buffer.from(s).toString('base64');

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-docker-config-'));
  saved = process.env.DOCKER_CONFIG;
  process.env.DOCKER_CONFIG = dir;
});
afterEach(() => {
  if (saved === undefined) delete process.env.DOCKER_CONFIG;
  else process.env.DOCKER_CONFIG = saved;
  fs.rmSync(dir, { recursive: true, force: true });
});

it('keys Docker Hub as docker does and every other registry by host[:port]', () => {
  expect(registryKey('docker.io')).toBe('https://index.docker.io/v1/');
  expect(registryKey('registry-1.docker.io')).toBe('https://index.docker.io/v1/');
  expect(registryKey('https://quay.io/v1/')).toBe('quay.io');
  expect(registryKey('localhost:5000')).toBe('localhost:5000');
});

it('reads a docker login, whatever form its key has; nothing without one', () => {
  fs.writeFileSync(file(), JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: b64('bob:pw:with:colons') }, 'https://quay.io': { auth: b64('q:x') } } }));
  expect(credentialsFor('docker.io')).toEqual({ username: 'bob', password: 'pw:with:colons' });
  expect(credentialsFor('quay.io')).toEqual({ username: 'q', password: 'x' });
  expect(credentialsFor('ghcr.io')).toBeUndefined();
});

it('warns of a login kept by a credential helper and goes on anonymously; a helper for registries never logged in to is silent', () => {
  fs.writeFileSync(file(), JSON.stringify({ auths: { 'ghcr.io': {} }, credsStore: 'desktop', credHelpers: { 'gcr.io': 'gcloud' } }));
  const warnings: string[] = [];
  const warn = (m: string) => warnings.push(m);
  expect(credentialsFor('ghcr.io', warn)).toBeUndefined();
  expect(credentialsFor('gcr.io', warn)).toBeUndefined();
  expect(credentialsFor('quay.io', warn)).toBeUndefined();
  expect(warnings).toHaveLength(2);
  expect(warnings[0]).toMatch(/docker-credential-desktop, which tsrun does not use: pulling anonymously \(tsrun login ghcr.io saves some it can use\)/);
  expect(warnings[1]).toMatch(/docker-credential-gcloud/);
});

it('saves 0600 keeping the file\'s other fields, replaces an old login, and removes it', () => {
  fs.writeFileSync(file(), JSON.stringify({ auths: { 'https://localhost:5000': { auth: b64('old:old') } }, psFormat: 'table {{.ID}}' }));
  saveCredentials('localhost:5000', { username: 'new', password: 'pw' });
  const config = JSON.parse(fs.readFileSync(file(), 'utf8'));
  expect(config).toEqual({ auths: { 'localhost:5000': { auth: b64('new:pw') } }, psFormat: 'table {{.ID}}' });
  expect(fs.statSync(file()).mode & 0o777).toBe(0o600);
  expect(removeCredentials('localhost:5000')).toBe(true);
  expect(removeCredentials('localhost:5000')).toBe(false);
  expect(credentialsFor('localhost:5000')).toBeUndefined();
});
