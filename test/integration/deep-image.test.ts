import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestStore } from '../helpers/store.js';

/**
 * Past Docker's 128: an image of 499 layers (the busybox base and 498 more)
 * runs, with the init layer making the kernel's 500 lower dirs. The option
 * string cannot fit a page, so this goes through fsconfig(lowerdir+). One
 * layer more is refused with a clear error.
 */
let s: TestStore;

function tarOf(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  for (const [name, body] of Object.entries(files)) p.entry({ name, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, body);
  p.finalize();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    p.on('data', (c) => chunks.push(c as Buffer));
    p.on('end', () => resolve(Buffer.concat(chunks)));
    p.on('error', reject);
  });
}

/** An OCI layout: the busybox fixture's layer, then `extra` one-file layers. */
async function deepLayout(dir: string, extra: number, name: string): Promise<void> {
  fs.mkdirSync(path.join(dir, 'blobs/sha256'), { recursive: true });
  const blob = (bytes: Buffer) => {
    const hex = createHash('sha256').update(bytes).digest('hex');
    fs.writeFileSync(path.join(dir, 'blobs/sha256', hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  const layers: Buffer[] = [fs.readFileSync(path.join(s.fixtures, 'busybox-rootfs.tar'))];
  for (let i = 1; i <= extra; i++) layers.push(await tarOf({ [`layer-${i}`]: `${i}\n`, 'top': `${i}\n` }));
  const descs = layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...blob(l) }));
  const config = blob(Buffer.from(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/bin:/usr/bin:/sbin:/usr/sbin'], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: descs.map((d) => d.digest) },
  })));
  const manifest = blob(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: descs })));
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'io.containerd.image.name': name } }] }));
}

beforeAll(async () => {
  s = new TestStore();
  await deepLayout(path.join(s.dir, 'deep499'), 498, 'docker.io/library/deep:499');
  await deepLayout(path.join(s.dir, 'deep500'), 499, 'docker.io/library/deep:500');
}, 120_000);
afterAll(() => s.cleanup());

describe('deep images', () => {
  it('runs a 499-layer image: every layer visible, the top one wins', () => {
    s.ok(['load', '-q', '-i', path.join(s.dir, 'deep499')]);
    const out = s.ok(['run', '--rm', 'deep:499', 'sh', '-c', 'cat /top /layer-1 /layer-498; ls / | grep -c "^layer-"']);
    expect(out).toBe('498\n1\n498\n498\n');
    expect(s.mounts()).toEqual([]);
  }, 120_000);

  it('refuses a 500-layer image at create with one clear line', () => {
    s.ok(['load', '-q', '-i', path.join(s.dir, 'deep500')]);
    const r = s.run(['run', '--rm', 'deep:500', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe('tsrun: too many layers: 501 lower layers, and an overlay stacks at most 500 (a container\'s init layer counts as one)\n');
    expect(s.ok(['ps', '-aq'])).toBe('');
  }, 120_000);
});
