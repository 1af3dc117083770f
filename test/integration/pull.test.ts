import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout, type Descriptor } from '../helpers/oci-layout.js';
import { FakeCredentialHelper } from '../helpers/credential-helper.js';
import { TestStore } from '../helpers/store.js';

/**
 * `tsrun pull` against a registry served from this test process: the
 * distribution API's manifest and blob endpoints behind Docker Hub's Bearer
 * token dance, blobs redirected to a "CDN" on another host name (which must
 * not see the token), a multi-platform index, and a corrupt blob; and
 * login: a private repository behind the token service, one behind Basic
 * auth, credentials in a DOCKER_CONFIG of the test's own.
 */

const s = new TestStore();
let server: http.Server;
let port: number;
let layout: OciLayout;
const tags = new Map<string, Descriptor & { mediaType: string }>();
const served = { tokens: 0, refreshGrants: 0, cdnWithAuth: 0, cdnHits: 0 };
/** Blob digests whose bytes the "CDN" damages. */
const damaged = new Set<string>();
let amd64: Descriptor;
let arm64: Descriptor;

const TOKEN = 'test-token';
/** The token for alice's credentials: it also opens private/box. */
const PRIVATE_TOKEN = 'alice-token';
const ALICE = `Basic ${Buffer.from('alice:s3cret').toString('base64')}`;
/** alice's OAuth2 refresh token, as a credential helper would keep it (user "<token>"). */
const ALICE_REFRESH = 'alice-refresh-token';
let dockerConfig: string;
let savedDockerConfig: string | undefined;
const gz = (b: Buffer) => zlib.gzipSync(b);

function tarOf(name: string, body: string): Buffer {
  // One-file ustar layer, built by hand (512-byte header, data padded, two zero blocks).
  const header = Buffer.alloc(512);
  header.write(name, 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const data = Buffer.alloc(Math.ceil(body.length / 512) * 512);
  data.write(body);
  return Buffer.concat([header, data, Buffer.alloc(1024)]);
}

beforeAll(async () => {
  layout = new OciLayout(path.join(s.dir, 'registry'));
  const base = fs.readFileSync(path.join(s.fixtures, 'busybox-rootfs.tar'));
  const image = (extra: Buffer, architecture = 'amd64') =>
    layout.image(
      [base, extra].map((t) => ({ blob: gz(t), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', diffId: sha(t) })),
      { architecture, config: { Cmd: ['sh'], Env: ['PATH=/bin:/usr/bin'] } },
    );
  const a = image(tarOf('pulled.txt', 'pulled for amd64\n'));
  const arm = image(tarOf('pulled.txt', 'pulled for arm64\n'), 'arm64');
  amd64 = a.manifest;
  arm64 = arm.manifest;
  const index = layout.blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...arm.manifest, platform: { os: 'linux', architecture: 'arm64' } },
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...a.manifest, platform: { os: 'linux', architecture: 'amd64' } },
        ],
      }),
    ),
  );
  tags.set('1', { ...index, mediaType: 'application/vnd.oci.image.index.v1+json' });
  const bad = image(tarOf('bad.txt', 'never stored\n'));
  damaged.add(bad.layers[1]!.digest);
  tags.set('bad', { ...bad.manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });

  // Never the host's ~/.docker: every tsrun this file starts inherits this.
  savedDockerConfig = process.env.DOCKER_CONFIG;
  dockerConfig = path.join(s.dir, 'docker-config');
  process.env.DOCKER_CONFIG = dockerConfig;
  server = http.createServer((req, res) => serve(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  if (savedDockerConfig === undefined) delete process.env.DOCKER_CONFIG;
  else process.env.DOCKER_CONFIG = savedDockerConfig;
  await new Promise((resolve) => server.close(resolve));
  s.cleanup();
});

function sha(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

function serve(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
  const fail = (status: number, code: string) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code, message: code.toLowerCase().replace('_', ' ') }] }));
  };
  if (url.pathname === '/token' && req.method === 'POST') {
    // OAuth2's refresh-token grant: what a credential helper's identity token is traded with.
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      // The realm's own query stays on the URL it is POSTed to.
      const good = url.searchParams.get('tenant') === 'test' && form.get('grant_type') === 'refresh_token' && form.get('refresh_token') === ALICE_REFRESH && form.get('service') === 'test-registry';
      if (good) served.refreshGrants++;
      res.writeHead(good ? 200 : 401);
      res.end(good ? JSON.stringify({ access_token: PRIVATE_TOKEN }) : undefined);
    });
    return;
  }
  if (url.pathname === '/token') {
    served.tokens++;
    if (req.headers.authorization !== undefined && req.headers.authorization !== ALICE) {
      res.writeHead(401);
      res.end();
      return;
    }
    res.end(JSON.stringify({ token: req.headers.authorization === ALICE ? PRIVATE_TOKEN : TOKEN }));
    return;
  }
  const cdn = /^\/cdn\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
  if (cdn) {
    served.cdnHits++;
    if (req.headers.authorization) served.cdnWithAuth++;
    let bytes = layout.readBlob(cdn[1]!);
    if (damaged.has(cdn[1]!)) bytes = Buffer.concat([bytes.subarray(0, bytes.length - 1), Buffer.from([bytes[bytes.length - 1]! ^ 1])]);
    res.writeHead(200, { 'Content-Length': bytes.length });
    res.end(req.method === 'HEAD' ? undefined : bytes);
    return;
  }
  const repo = /^\/v2\/(\w+\/box)\//.exec(url.pathname)?.[1];
  const auth = req.headers.authorization;
  const allowed =
    repo === 'basic/box' ? auth === ALICE : repo === 'private/box' ? auth === `Bearer ${PRIVATE_TOKEN}` : auth === `Bearer ${TOKEN}` || auth === `Bearer ${PRIVATE_TOKEN}`;
  if (!allowed) {
    const scope = repo ? `,scope="repository:${repo}:pull"` : '';
    res.writeHead(401, { 'WWW-Authenticate': repo === 'basic/box' ? 'Basic realm="test"' : `Bearer realm="http://127.0.0.1:${port}/token?tenant=test",service="test-registry"${scope}` });
    res.end();
    return;
  }
  if (url.pathname === '/v2/') {
    res.end('{}');
    return;
  }
  const m = /^\/v2\/\w+\/box\/(manifests|blobs)\/(.+)$/.exec(url.pathname);
  if (!m) return fail(404, 'NAME_UNKNOWN');
  const [, kind, ref] = m;
  if (kind === 'blobs') {
    // Blobs live elsewhere, as Docker Hub's do: another host name, no token.
    res.writeHead(307, { Location: `http://localhost:${port}/cdn/${ref}` });
    res.end();
    return;
  }
  const byDigest = [amd64, arm64].find((d) => d.digest === ref);
  const desc = tags.get(ref!) ?? (byDigest ? { ...byDigest, mediaType: 'application/vnd.oci.image.manifest.v1+json' } : undefined);
  if (!desc) return fail(404, 'MANIFEST_UNKNOWN');
  const bytes = layout.readBlob(desc.digest);
  res.writeHead(200, { 'Content-Type': desc.mediaType, 'Content-Length': bytes.length, 'Docker-Content-Digest': desc.digest });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

const overlayDirs = () => (fs.existsSync(path.join(s.root, 'overlay')) ? fs.readdirSync(path.join(s.root, 'overlay')).sort() : []);

describe('pull', () => {
  it('pulls this platform\'s image of a multi-platform tag through token auth and a redirect, and runs it', async () => {
    const name = `127.0.0.1:${port}/test/box:1`;
    const r = await s.runAsync(['pull', name]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(`1: Pulling from 127.0.0.1:${port}/test/box`);
    expect(lines).toContain(`Digest: ${tags.get('1')!.digest}`);
    expect(lines.at(-1)).toBe(name);
    expect(served.tokens).toBeGreaterThan(0);
    expect(served.cdnHits).toBeGreaterThan(0);
    expect(served.cdnWithAuth).toBe(0);
    expect((await s.runAsync(['run', '--rm', name, 'cat', '/pulled.txt'])).stdout).toBe('pulled for amd64\n');

    // Again: every layer is already there, and the image is the same.
    const id = s.inspect(name).Id;
    const again = await s.runAsync(['pull', name]);
    expect(again.stdout.match(/already exists/g)).toHaveLength(2);
    expect(s.inspect(name).Id).toBe(id);
  });

  it('run pulls an image the store lacks (--pull missing), create --pull never does not', async () => {
    const name = `localhost:${port}/test/box@${amd64.digest}`;
    expect(await s.runAsync(['create', '--pull', 'never', name])).toMatchObject({ code: 125, stderr: `tsrun: no such image: ${name}\n` });
    const r = await s.runAsync(['run', '--rm', name, 'cat', '/pulled.txt']);
    expect(r).toMatchObject({ code: 0, stdout: 'pulled for amd64\n' });
    expect(r.stderr.split('\n')[0]).toBe(`Unable to find image '${name}' locally`);
  });

  it('pulls by digest', async () => {
    const r = await s.runAsync(['pull', '-q', `127.0.0.1:${port}/test/box@${amd64.digest}`]);
    expect(r).toMatchObject({ code: 0, stdout: `127.0.0.1:${port}/test/box@${amd64.digest}\n` });
  });

  it('--platform: pull takes that image of an index; run pulls again for another; a mismatch with --pull never is refused', async () => {
    const name = `127.0.0.1:${port}/test/box:1`;
    expect(await s.runAsync(['pull', '-q', '--platform', 'linux/aarch64', name])).toMatchObject({ code: 0, stdout: `${name}\n` });
    expect(s.inspect(name).Architecture).toBe('arm64');
    const armId = s.inspect(name).Id;
    expect(await s.runAsync(['create', '--pull', 'never', '--platform', 'linux/amd64', name])).toMatchObject({
      code: 125,
      stderr: `tsrun: image with reference ${name} was found but does not match the specified platform: wanted linux/amd64, actual: linux/arm64\n`,
    });
    // --pull missing takes an image of another platform as missing, as docker's.
    expect(await s.runAsync(['run', '--rm', '--platform', 'linux/amd64', name, 'cat', '/pulled.txt'])).toMatchObject({ code: 0, stdout: 'pulled for amd64\n' });
    expect(s.inspect(name).Architecture).toBe('amd64');
    expect(await s.runAsync(['run', '--rm', '--platform', 'linux/amd64', name, 'true'])).toMatchObject({ code: 0, stderr: '' });
    const none = await s.runAsync(['pull', '--platform', 'linux/s390x', name]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^tsrun: .*has no linux\/s390x image\n$/);
    expect(await s.runAsync(['pull', '--platform', 'windows/amd64', name])).toMatchObject({ code: 1, stderr: 'tsrun: invalid --platform "windows/amd64": tsrun runs linux images only\n' });
    // One word is an architecture (or an OS), as containerd reads it.
    expect(await s.runAsync(['run', '--rm', '--platform', 'amd64', name, 'true'])).toMatchObject({ code: 0 });
    expect(await s.runAsync(['run', '--rm', '--platform', 'linux', name, 'true'])).toMatchObject({ code: 0 });
    expect(await s.runAsync(['run', '--platform', 'linux/amd64/v1/x', name])).toMatchObject({ code: 125, stderr: 'tsrun: invalid --platform "linux/amd64/v1/x": use OS/ARCH[/VARIANT], as linux/amd64\n' });
    // Untagged by the amd64 pull: gone, so the store holds what it held before.
    s.ok(['rmi', armId]);
  });

  it('an unknown tag is one line and exit 1, as docker\'s pull', async () => {
    const r = await s.runAsync(['pull', `127.0.0.1:${port}/test/box:nope`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`tsrun: 127.0.0.1:${port}/test/box: not found (manifest unknown)\n`);
  });

  it('a blob that does not match its digest fails the pull and leaves the store as it was', async () => {
    const before = overlayDirs();
    const r = await s.runAsync(['pull', `127.0.0.1:${port}/test/box:bad`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/sha256:[a-f0-9]{64}/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(overlayDirs()).toEqual(before);
    expect((await s.runAsync(['images', '-q'])).stdout.trim().split('\n')).toHaveLength(1);
  });
});

describe('login', () => {
  const configJson = () => path.join(dockerConfig, 'config.json');

  it('a private repository wants credentials; wrong ones are refused and not saved', async () => {
    const r = await s.runAsync(['pull', `127.0.0.1:${port}/private/box:1`]);
    expect(r).toMatchObject({ code: 1, stderr: `tsrun: 127.0.0.1:${port}/private/box: the registry wants credentials; run tsrun login 127.0.0.1:${port}\n` });
    const bad = await s.runAsync(['login', '-u', 'alice', '--password-stdin', `127.0.0.1:${port}`], 30_000, 'wrong\n');
    expect(bad).toMatchObject({ code: 1, stderr: `tsrun: 127.0.0.1:${port} refused the credentials of alice\n` });
    expect(fs.existsSync(configJson())).toBe(false);
  });

  it('login checks and saves the credentials as docker does; pulls use them (Bearer and Basic); logout forgets them', async () => {
    const ok = await s.runAsync(['login', '-u', 'alice', '--password-stdin', `127.0.0.1:${port}`], 30_000, 's3cret\n');
    expect(ok).toMatchObject({ code: 0, stdout: 'Login Succeeded\n' });
    const config = JSON.parse(fs.readFileSync(configJson(), 'utf8'));
    expect(config.auths[`127.0.0.1:${port}`].auth).toBe(Buffer.from('alice:s3cret').toString('base64'));
    expect(fs.statSync(configJson()).mode & 0o777).toBe(0o600);

    // The blobs are redirected to localhost:PORT, another host: neither the token nor the password may follow.
    const leaked = served.cdnWithAuth;
    expect(await s.runAsync(['run', '--rm', `127.0.0.1:${port}/private/box:1`, 'cat', '/pulled.txt'])).toMatchObject({ code: 0, stdout: 'pulled for amd64\n' });
    expect(await s.runAsync(['pull', '-q', `127.0.0.1:${port}/basic/box:1`])).toMatchObject({ code: 0, stdout: `127.0.0.1:${port}/basic/box:1\n` });
    expect(served.cdnWithAuth).toBe(leaked);

    expect(await s.runAsync(['logout', `127.0.0.1:${port}`])).toMatchObject({ code: 0, stdout: `Removing login credentials for 127.0.0.1:${port}\n` });
    expect(JSON.parse(fs.readFileSync(configJson(), 'utf8')).auths).toEqual({});
    const r = await s.runAsync(['pull', `127.0.0.1:${port}/basic/box:1`]);
    expect(r).toMatchObject({ code: 1, stderr: `tsrun: 127.0.0.1:${port} wants a user name and password; run tsrun login 127.0.0.1:${port}\n` });
  });

  it('with a credential helper: login stores there, pulls ask it (a password, or an identity token traded at the token service), logout erases', async () => {
    const helper = new FakeCredentialHelper(path.join(s.dir, 'credential-helper'));
    const undo = helper.use();
    const key = `127.0.0.1:${port}`;
    try {
      fs.writeFileSync(configJson(), JSON.stringify({ credsStore: 'fake' }));
      expect(await s.runAsync(['login', '-u', 'alice', '--password-stdin', key], 30_000, 's3cret\n')).toMatchObject({ code: 0, stdout: 'Login Succeeded\n' });
      expect(helper.has(key)).toBe(true);
      expect(JSON.parse(fs.readFileSync(configJson(), 'utf8'))).toEqual({ credsStore: 'fake', auths: { [key]: {} } });
      expect(await s.runAsync(['pull', '-q', `${key}/private/box:1`])).toMatchObject({ code: 0, stdout: `${key}/private/box:1\n` });
      expect(await s.runAsync(['logout', key])).toMatchObject({ code: 0, stdout: `Removing login credentials for ${key}\n` });
      expect(helper.has(key)).toBe(false);
      expect(helper.calls()).toEqual([`store ${key}`, `get ${key}`, `erase ${key}`]);

      helper.put(key, '<token>', ALICE_REFRESH);
      const grants = served.refreshGrants;
      expect(await s.runAsync(['pull', '-q', `${key}/private/box:1`])).toMatchObject({ code: 0, stdout: `${key}/private/box:1\n` });
      expect(served.refreshGrants).toBeGreaterThan(grants);
      helper.put(key, '<token>', 'revoked');
      expect(await s.runAsync(['pull', '-q', `${key}/private/box:1`])).toMatchObject({ code: 1, stderr: `tsrun: 127.0.0.1:${port} refused the saved identity token\n` });
    } finally {
      undo();
      fs.rmSync(configJson(), { force: true });
    }
  });
});

