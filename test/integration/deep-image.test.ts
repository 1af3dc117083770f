import * as fs from 'node:fs';
import * as path from 'node:path';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '../helpers/oci-layout.js';
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
  const layout = new OciLayout(dir);
  const layers: Buffer[] = [fs.readFileSync(path.join(s.fixtures, 'busybox-rootfs.tar'))];
  for (let i = 1; i <= extra; i++) layers.push(await tarOf({ [`layer-${i}`]: `${i}\n`, 'top': `${i}\n` }));
  const { manifest } = layout.image(layers.map((blob) => ({ blob })), { config: { Env: ['PATH=/bin:/usr/bin:/sbin:/usr/sbin'], Cmd: ['sh'] } });
  layout.index(manifest, { 'io.containerd.image.name': name });
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
    // With --uidmap the monitor stages 500 idmapped layers and names them in one mount(2) page.
    expect(s.ok(['run', '--rm', '--uidmap', '0:100000:65536', 'deep:499', 'sh', '-c', 'cat /top; stat -c %u /layer-1; id -u'])).toBe('498\n0\n0\n');
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
