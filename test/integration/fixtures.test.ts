import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOciLayout, type LayoutImage } from '../../src/image/oci-layout.js';
import { loadNative } from '../../src/native/binding.js';
import { unpackLayer } from '../../src/store/unpack.js';

const repo = path.resolve(import.meta.dirname, '../..');
const buildScript = path.join(repo, 'rootfs-fixtures/build.sh');

let tmp: string;
let out: string;
let busybox: LayoutImage;
let hello: LayoutImage;

function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const hasSkopeo = spawnSync('skopeo', ['--version'], { stdio: 'ignore' }).status === 0;

/** skopeo is a requirement of this file: a skip where it is missing, a failure under CI. */
function requireSkopeo(ctx: { skip: (note?: string) => void }): void {
  if (hasSkopeo) return;
  if (process.env['CI'] === 'true') throw new Error('skopeo is required (CI=true): apt-get install skopeo');
  ctx.skip('skopeo is not installed');
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-fixtures-test-'));
  out = path.join(tmp, 'out');
  const stdout = execFileSync('bash', [buildScript, out], { encoding: 'utf8' });
  expect(stdout.trim().split('\n').length).toBeLessThanOrEqual(3);
  [busybox] = (await readOciLayout(path.join(out, 'busybox.tar'))) as [LayoutImage];
  [hello] = (await readOciLayout(path.join(out, 'hello-world-v1.tar'))) as [LayoutImage];
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('rootfs-fixtures/build.sh', () => {
  it('builds the busybox and hello-world:v1 OCI archives', () => {
    expect(fs.readdirSync(out).sort()).toEqual(['busybox-rootfs.tar', 'busybox.tar', 'hello-world-v1.tar']);
    expect(busybox.names).toEqual(['docker.io/library/busybox:latest']);
    expect(hello.names).toEqual(['docker.io/library/hello-world:v1']);
    for (const img of [busybox, hello]) {
      expect(img.config.architecture).toBe('amd64');
      expect(img.config.os).toBe('linux');
      expect(img.config.config?.Cmd).toEqual(['sh']);
      expect(img.config.config?.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
      expect(img.config.created).toMatch(/^2023-/);
      for (const l of img.layers) expect(l.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    }
    expect(busybox.layers).toHaveLength(1);
    expect(hello.layers).toHaveLength(3);
    expect(hello.config.history).toHaveLength(3);
    expect(busybox.config.history!.filter((h) => !h.empty_layer)).toHaveLength(1);
  });

  it('shares the busybox layer blob byte for byte', async () => {
    expect(hello.layers[0]!.digest).toBe(busybox.layers[0]!.digest);
    expect(hello.layers[0]!.diffId).toBe(busybox.layers[0]!.diffId);
    const a = await readAll(busybox.layers[0]!.open());
    const b = await readAll(hello.layers[0]!.open());
    expect(a.equals(b)).toBe(true);
    expect(`sha256:${sha256File(path.join(out, 'busybox-rootfs.tar'))}`).toBe(busybox.layers[0]!.diffId);
  });

  it('is deterministic', () => {
    const again = path.join(tmp, 'again');
    execFileSync('bash', [buildScript, again], { stdio: 'ignore' });
    for (const f of ['busybox.tar', 'hello-world-v1.tar', 'busybox-rootfs.tar']) {
      expect(sha256File(path.join(again, f))).toBe(sha256File(path.join(out, f)));
    }
  });

  it('unpacks every layer to its diff id, with the expected files', async () => {
    const native = loadNative();
    const dirs: string[] = [];
    for (const [i, layer] of hello.layers.entries()) {
      const dir = path.join(tmp, `layer${i}`);
      fs.mkdirSync(dir);
      const r = await unpackLayer({ source: layer.open(), mediaType: layer.mediaType, diffDir: dir, native });
      expect(r.diffId).toBe(layer.diffId);
      dirs.push(dir);
    }
    const [base, empty, update] = dirs as [string, string, string];
    const st = (p: string): fs.Stats => fs.lstatSync(path.join(base, p));
    expect(st('bin/busybox').mode & 0o7777).toBe(0o755);
    expect(fs.readFileSync(path.join(base, 'bin/busybox')).equals(fs.readFileSync('/bin/busybox'))).toBe(true);
    expect(fs.readlinkSync(path.join(base, 'bin/sh'))).toBe('/bin/busybox');
    expect(fs.readlinkSync(path.join(base, 'usr/bin/env'))).toBe('/bin/busybox');
    expect(st('root').mode & 0o7777).toBe(0o700);
    expect(st('tmp').mode & 0o7777).toBe(0o1777);
    expect([st('home/app').uid, st('home/app').gid]).toEqual([1000, 1000]);
    expect([st('etc/passwd').uid, st('etc/passwd').gid]).toEqual([0, 0]);
    const passwd = fs.readFileSync(path.join(base, 'etc/passwd'), 'utf8');
    expect(passwd).toContain('root:x:0:0:root:/root:/bin/sh\n');
    expect(passwd).toContain('nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
    expect(passwd).toContain('app:x:1000:1000:app:/home/app:/bin/sh\n');
    expect(fs.readFileSync(path.join(base, 'etc/group'), 'utf8')).toBe('root:x:0:\nnobody:x:65534:\napp:x:1000:\n');
    expect(fs.readdirSync(empty)).toEqual(['hello.txt']);
    expect(fs.statSync(path.join(empty, 'hello.txt')).size).toBe(0);
    expect(fs.readdirSync(update)).toEqual(['hello.txt']);
    expect(fs.readFileSync(path.join(update, 'hello.txt'), 'utf8')).toBe('this is an update to the hello.txt\n');
    expect(fs.statSync(path.join(update, 'hello.txt')).mode & 0o7777).toBe(0o644);
  });

  it('passes skopeo inspect and a digest-checking skopeo copy', (ctx) => {
    requireSkopeo(ctx);
    for (const [file, layers] of [
      ['busybox.tar', 1],
      ['hello-world-v1.tar', 3],
    ] as const) {
      const archive = `oci-archive:${path.join(out, file)}`;
      const inspect = JSON.parse(execFileSync('skopeo', ['inspect', archive], { encoding: 'utf8' })) as {
        Layers: string[];
        Architecture: string;
        Os: string;
      };
      expect(inspect.Layers).toHaveLength(layers);
      expect([inspect.Os, inspect.Architecture]).toEqual(['linux', 'amd64']);
      const copy = path.join(tmp, `copy-${file}`);
      execFileSync('skopeo', ['copy', '--quiet', archive, `dir:${copy}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    }
  });
});
