import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { credentialsFor, registryKey, removeCredentials, saveCredentials } from '../../src/image/credentials.js';
import { FakeCredentialHelper } from '../helpers/credential-helper.js';

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
  fs.writeFileSync(file(), JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: b64('bob:pw:with:colons') }, 'https://quay.io': { auth: b64('q:x') }, 'myreg.azurecr.io': { identitytoken: 'rt' } } }));
  expect(credentialsFor('myreg.azurecr.io')).toEqual({ username: '<token>', password: '', identityToken: 'rt' });
  expect(credentialsFor('docker.io')).toEqual({ username: 'bob', password: 'pw:with:colons' });
  expect(credentialsFor('quay.io')).toEqual({ username: 'q', password: 'x' });
  expect(credentialsFor('ghcr.io')).toBeUndefined();
});

describe('credential helpers (docker-credential-NAME)', () => {
  let helper: FakeCredentialHelper;
  let undo: () => void;
  beforeEach(() => {
    helper = new FakeCredentialHelper(path.join(dir, 'helper'));
    undo = helper.use();
  });
  afterEach(() => undo());

  it('asks credsStore for every registry, under docker\'s keys; one it has nothing for is pulled anonymously, as docker', () => {
    fs.writeFileSync(file(), JSON.stringify({ auths: { 'ghcr.io': {}, 'quay.io': { auth: b64('q:x') } }, credsStore: 'fake' }));
    helper.put('ghcr.io', 'gh', 'pat');
    helper.put('https://index.docker.io/v1/', 'hub', 'hubpw');
    expect(credentialsFor('ghcr.io')).toEqual({ username: 'gh', password: 'pat' });
    expect(credentialsFor('docker.io')).toEqual({ username: 'hub', password: 'hubpw' });
    // An old login in the file does not count once a helper keeps them (docker's native store answers empty).
    expect(credentialsFor('quay.io')).toBeUndefined();
    expect(credentialsFor('localhost:5000')).toBeUndefined();
    expect(helper.calls()).toEqual(['get ghcr.io', 'get https://index.docker.io/v1/', 'get quay.io', 'get localhost:5000']);
  });

  it('a registry\'s credHelpers entry wins over credsStore; a "<token>" user is an identity token', () => {
    fs.writeFileSync(file(), JSON.stringify({ credsStore: 'broken', credHelpers: { 'myreg.azurecr.io': 'fake' } }));
    helper.put('myreg.azurecr.io', '<token>', 'refresh-me');
    expect(credentialsFor('myreg.azurecr.io')).toEqual({ username: '<token>', password: '', identityToken: 'refresh-me' });
    // Every other registry goes to credsStore, which fails: one line naming it.
    expect(() => credentialsFor('ghcr.io')).toThrow('docker-credential-broken get: the keychain is locked');
  });

  it('a helper that is not installed is warned of, and the pull goes on with what the file has', () => {
    fs.writeFileSync(file(), JSON.stringify({ auths: { 'quay.io': { auth: b64('q:x') } }, credsStore: 'desktop' }));
    const warnings: string[] = [];
    expect(credentialsFor('ghcr.io', (m) => warnings.push(m))).toBeUndefined();
    expect(credentialsFor('quay.io', (m) => warnings.push(m))).toEqual({ username: 'q', password: 'x' });
    expect(warnings[0]).toBe(`${file()} keeps registry logins in docker-credential-desktop, which is not installed: pulling from ghcr.io anonymously`);
    fs.writeFileSync(file(), JSON.stringify({ credsStore: '../../bin/sh' }));
    expect(() => credentialsFor('ghcr.io')).toThrow('"../../bin/sh" is not a credential helper name');
  });

  it('login stores in the helper and lists the registry with no secret, as docker does; logout erases it', () => {
    fs.writeFileSync(file(), JSON.stringify({ credsStore: 'fake' }));
    saveCredentials('ghcr.io', { username: 'gh', password: 'pat' });
    expect(JSON.parse(fs.readFileSync(file(), 'utf8'))).toEqual({ credsStore: 'fake', auths: { 'ghcr.io': {} } });
    expect(credentialsFor('ghcr.io')).toEqual({ username: 'gh', password: 'pat' });
    expect(removeCredentials('ghcr.io')).toBe(true);
    expect(helper.has('ghcr.io')).toBe(false);
    expect(JSON.parse(fs.readFileSync(file(), 'utf8'))).toEqual({ credsStore: 'fake', auths: {} });
    expect(removeCredentials('ghcr.io')).toBe(false);
    expect(helper.calls()).toEqual(['store ghcr.io', 'get ghcr.io', 'erase ghcr.io', 'erase ghcr.io']);
  });
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
