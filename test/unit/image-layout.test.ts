import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readOciLayout } from '../../src/image/oci-layout.js';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (d: string): string => d.slice('sha256:'.length);

interface Blob {
  digest: string;
  size: number;
  bytes: Buffer;
}

/** An OCI layout under construction in a temp dir. */
class LayoutBuilder {
  readonly blobs = new Map<string, Buffer>();

  blob(bytes: Buffer | string): Blob {
    const b = Buffer.from(bytes);
    const digest = sha(b);
    this.blobs.set(digest, b);
    return { digest, size: b.length, bytes: b };
  }

  json(doc: unknown): Blob {
    return this.blob(JSON.stringify(doc));
  }

  /** A config + manifest for the given layer contents (uncompressed tars); returns the manifest blob. */
  image(opts: { layers: Buffer[]; gzip?: boolean; cmd?: string[]; arch?: string } = { layers: [] }): { manifest: Blob; config: Blob; layers: Blob[] } {
    const layers = opts.layers.map((t) => this.blob(opts.gzip === false ? t : gzipSync(t)));
    const config = this.json({
      created: '2023-10-16T10:54:00Z',
      architecture: opts.arch ?? 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/bin'], Cmd: opts.cmd ?? ['sh'], WorkingDir: '/', Labels: { a: 'b' }, Entrypoint: null },
      rootfs: { type: 'layers', diff_ids: opts.layers.map((t) => sha(t)) },
      history: [{ created: '2023-10-16T10:54:00Z', created_by: 'ADD x /' }, { created_by: 'CMD', empty_layer: true }],
      container_config: { ignored: true },
    });
    const manifest = this.json({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
      layers: layers.map((l) => ({
        mediaType: opts.gzip === false ? 'application/vnd.oci.image.layer.v1.tar' : 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: l.digest,
        size: l.size,
      })),
    });
    return { manifest, config, layers };
  }

  /** Writes the layout into dir with index.json listing `manifests`. */
  writeDir(dir: string, manifests: unknown[], opts: { skipLayout?: boolean } = {}): void {
    fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
    if (!opts.skipLayout) fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    fs.writeFileSync(
      path.join(dir, 'index.json'),
      JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }),
    );
    for (const [d, b] of this.blobs) fs.writeFileSync(path.join(dir, 'blobs', 'sha256', hex(d)), b);
  }
}

/** A tiny layer tar with one file. */
async function layerTar(name: string, content: string): Promise<Buffer> {
  const pack = tar.pack();
  pack.entry({ name, mode: 0o644, mtime: new Date(0) }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** Packs a directory tree into a tar file with tar-stream, names prefixed by `prefix`. */
async function packDir(dir: string, out: string, prefix = ''): Promise<void> {
  const pack = tar.pack();
  const done = new Promise<void>((resolve, reject) => {
    const ws = fs.createWriteStream(out);
    ws.on('finish', () => resolve());
    ws.on('error', reject);
    (pack as unknown as Readable).pipe(ws);
  });
  const walk = (rel: string): void => {
    const abs = path.join(dir, rel);
    for (const name of fs.readdirSync(abs).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.statSync(path.join(dir, r));
      if (st.isDirectory()) {
        pack.entry({ name: prefix + r, type: 'directory', mode: 0o755 });
        walk(r);
      } else {
        pack.entry({ name: prefix + r, mode: 0o644 }, fs.readFileSync(path.join(dir, r)));
      }
    }
  };
  walk('');
  pack.finalize();
  await done;
}

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const manifestEntry = (m: Blob, annotations?: Record<string, string>, platform?: object): object => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: m.digest,
  size: m.size,
  ...(annotations ? { annotations } : {}),
  ...(platform ? { platform } : {}),
});

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-image-test-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('readOciLayout', () => {
  it('follows index.json → manifest → config in a directory', async () => {
    const b = new LayoutBuilder();
    const l1 = await layerTar('hello.txt', '');
    const l2 = await layerTar('hello.txt', 'this is an update to the hello.txt\n');
    const img = b.image({ layers: [l1, l2] });
    b.writeDir(tmp, [
      manifestEntry(img.manifest, {
        'io.containerd.image.name': 'docker.io/library/hello-world:v1',
        'org.opencontainers.image.ref.name': 'v1',
      }),
    ]);

    const [image, ...rest] = await readOciLayout(tmp);
    expect(rest).toEqual([]);
    expect(image!.names).toEqual(['docker.io/library/hello-world:v1']);
    expect(image!.manifestDigest).toBe(img.manifest.digest);
    expect(image!.configDigest).toBe(img.config.digest);
    expect(image!.configBytes.equals(img.config.bytes)).toBe(true);
    expect(sha(image!.configBytes)).toBe(image!.configDigest);
    expect(image!.config.config).toEqual({ Env: ['PATH=/bin'], Cmd: ['sh'], WorkingDir: '/', Labels: { a: 'b' } });
    expect(image!.config.architecture).toBe('amd64');
    expect(image!.config.history).toHaveLength(2);
    expect(image!.config.history![1]!.empty_layer).toBe(true);
    expect(image!.layers.map((l) => l.diffId)).toEqual([sha(l1), sha(l2)]);
    expect(image!.layers.map((l) => l.digest)).toEqual(img.layers.map((l) => l.digest));
    expect(image!.layers[0]!.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect((await readAll(image!.layers[1]!.open())).equals(img.layers[1]!.bytes)).toBe(true);
  });

  it('reads the same image from an oci-archive tar, with or without ./ prefixes', async () => {
    const b = new LayoutBuilder();
    const img = b.image({ layers: [await layerTar('a', 'x'), await layerTar('b', 'y')] });
    const dir = path.join(tmp, 'layout');
    b.writeDir(dir, [manifestEntry(img.manifest, { 'org.opencontainers.image.ref.name': 'v1' })]);
    for (const prefix of ['', './']) {
      const file = path.join(tmp, `image${prefix ? '-dot' : ''}.tar`);
      await packDir(dir, file, prefix);
      const [image] = await readOciLayout(file);
      expect(image!.names).toEqual(['v1']);
      expect(image!.configDigest).toBe(img.config.digest);
      expect(image!.layers).toHaveLength(2);
      for (const [i, l] of image!.layers.entries()) {
        expect((await readAll(l.open())).equals(img.layers[i]!.bytes)).toBe(true);
      }
    }
  });

  it('merges names of one manifest listed twice, and leaves unnamed images without names', async () => {
    const b = new LayoutBuilder();
    const one = b.image({ layers: [await layerTar('a', '1')] });
    const two = b.image({ layers: [await layerTar('a', '2')] });
    b.writeDir(tmp, [
      manifestEntry(one.manifest, { 'io.containerd.image.name': 'docker.io/library/busybox:latest' }),
      manifestEntry(one.manifest, { 'io.containerd.image.name': 'docker.io/library/busybox:1' }),
      manifestEntry(two.manifest),
    ]);
    const images = await readOciLayout(tmp);
    expect(images.map((i) => i.names)).toEqual([['docker.io/library/busybox:latest', 'docker.io/library/busybox:1'], []]);
  });

  it('picks the linux/amd64 manifest of a nested index', async () => {
    const b = new LayoutBuilder();
    const arm = b.image({ layers: [await layerTar('a', 'arm')], arch: 'arm64' });
    const amd = b.image({ layers: [await layerTar('a', 'amd')] });
    const nested = b.json({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        manifestEntry(arm.manifest, undefined, { os: 'linux', architecture: 'arm64' }),
        manifestEntry(amd.manifest, undefined, { os: 'linux', architecture: 'amd64' }),
      ],
    });
    b.writeDir(tmp, [
      {
        mediaType: 'application/vnd.oci.image.index.v1+json',
        digest: nested.digest,
        size: nested.size,
        annotations: { 'io.containerd.image.name': 'docker.io/library/multi:1' },
      },
    ]);
    const [image] = await readOciLayout(tmp);
    expect(image!.manifestDigest).toBe(amd.manifest.digest);
    expect(image!.names).toEqual(['docker.io/library/multi:1']);

    await expect(readOciLayout(tmp, { platform: { os: 'linux', architecture: 's390x' } })).rejects.toThrow(
      /has no linux\/s390x image/,
    );
  });

  it('refuses a config blob whose content does not match its digest', async () => {
    const b = new LayoutBuilder();
    const img = b.image({ layers: [await layerTar('a', 'x')] });
    b.writeDir(tmp, [manifestEntry(img.manifest)]);
    const file = path.join(tmp, 'blobs', 'sha256', hex(img.config.digest));
    const tampered = Buffer.from(img.config.bytes.toString().replace('"sh"', '"id"'));
    expect(tampered.length).toBe(img.config.size);
    fs.writeFileSync(file, tampered);
    await expect(readOciLayout(tmp)).rejects.toThrow(`blob ${img.config.digest} content does not match its digest`);
  });

  it('fails a layer stream whose content does not match its digest, naming the digest', async () => {
    const b = new LayoutBuilder();
    const img = b.image({ layers: [await layerTar('a', 'x')] });
    const dir = path.join(tmp, 'layout');
    b.writeDir(dir, [manifestEntry(img.manifest)]);
    const file = path.join(dir, 'blobs', 'sha256', hex(img.layers[0]!.digest));
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 1] ^= 0xff;
    fs.writeFileSync(file, bytes);
    const [image] = await readOciLayout(dir);
    await expect(readAll(image!.layers[0]!.open())).rejects.toThrow(
      `blob ${img.layers[0]!.digest} content does not match its digest`,
    );
    // The same through an archive.
    const archive = path.join(tmp, 'image.tar');
    await packDir(dir, archive);
    const [fromArchive] = await readOciLayout(archive);
    await expect(readAll(fromArchive!.layers[0]!.open())).rejects.toThrow(img.layers[0]!.digest);
  });

  it('refuses digests that are not sha256:<64 hex>, before touching the file system', async () => {
    const b = new LayoutBuilder();
    const img = b.image({ layers: [await layerTar('a', 'x')] });
    for (const digest of [
      'sha256:../../../../etc/passwd',
      `sha256:${hex(img.manifest.digest).toUpperCase()}`,
      `sha256:${hex(img.manifest.digest)}/..`,
      hex(img.manifest.digest),
    ]) {
      b.writeDir(tmp, [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: img.manifest.size }]);
      await expect(readOciLayout(tmp)).rejects.toThrow(/invalid digest/);
    }
    b.writeDir(tmp, [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha512:${'a'.repeat(128)}`, size: 1 }]);
    await expect(readOciLayout(tmp)).rejects.toThrow(/unsupported digest algorithm/);
  });

  it('refuses layouts with missing or inconsistent parts, in one line', async () => {
    const b = new LayoutBuilder();
    const img = b.image({ layers: [await layerTar('a', 'x')] });

    await expect(readOciLayout(tmp)).rejects.toThrow(`invalid image layout ${tmp}: index.json missing`);

    b.writeDir(tmp, [manifestEntry(img.manifest)], { skipLayout: true });
    await expect(readOciLayout(tmp)).rejects.toThrow('oci-layout missing');

    fs.writeFileSync(path.join(tmp, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    fs.rmSync(path.join(tmp, 'blobs', 'sha256', hex(img.layers[0]!.digest)));
    await expect(readOciLayout(tmp)).rejects.toThrow(`layer blob ${img.layers[0]!.digest} missing`);

    fs.writeFileSync(
      path.join(tmp, 'index.json'),
      JSON.stringify({ schemaVersion: 2, manifests: [{ ...manifestEntry(img.manifest), mediaType: 'application/x-helm' }] }),
    );
    await expect(readOciLayout(tmp)).rejects.toThrow(/unsupported media type "application\/x-helm"/);

    const wrongSize = { ...manifestEntry(img.manifest), size: img.manifest.size + 1 };
    fs.writeFileSync(path.join(tmp, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [wrongSize] }));
    await expect(readOciLayout(tmp)).rejects.toThrow(/descriptor says/);

    fs.writeFileSync(path.join(tmp, 'index.json'), '{"schemaVersion": 2, "manifests": {}}');
    await expect(readOciLayout(tmp)).rejects.toThrow(`invalid image layout ${tmp}: index.json: manifests must be an array`);

    const notArchive = path.join(tmp, 'x.tar');
    fs.writeFileSync(notArchive, gzipSync(Buffer.alloc(1024)));
    await expect(readOciLayout(notArchive)).rejects.toThrow(/compressed archives are not supported/);

    fs.writeFileSync(notArchive, Buffer.alloc(700, 0x41));
    await expect(readOciLayout(notArchive)).rejects.toThrow(`invalid image archive ${notArchive}: corrupt tar header`);
  });

  it('checks the manifest against the config and the layer media types', async () => {
    const b = new LayoutBuilder();
    const l = await layerTar('a', 'x');
    const twoDiffIds = b.json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(l), sha(l)] } });
    const oneDiffId = b.json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(l)] } });
    const layer = b.blob(gzipSync(l));
    const manifest = (layerType: string, config = oneDiffId): Blob =>
      b.json({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
        layers: [{ mediaType: layerType, digest: layer.digest, size: layer.size }],
      });
    const m0 = manifest('application/vnd.oci.image.layer.v1.tar+gzip', twoDiffIds);
    b.writeDir(tmp, [manifestEntry(m0)]);
    await expect(readOciLayout(tmp)).rejects.toThrow(/1 layers but the config lists 2 diff_ids/);

    const m2 = manifest('application/vnd.example.not-a-layer');
    b.writeDir(tmp, [manifestEntry(m2)]);
    await expect(readOciLayout(tmp)).rejects.toThrow(/unsupported media type "application\/vnd.example.not-a-layer"/);

    const m1 = manifest('application/vnd.oci.image.layer.v1.tar+gzip');
    b.writeDir(tmp, [manifestEntry(m1)]);
    expect(await readOciLayout(tmp)).toHaveLength(1);

    b.writeDir(tmp, [{ ...manifestEntry(m1), mediaType: 'application/vnd.docker.distribution.manifest.v2+json' }]);
    await expect(readOciLayout(tmp)).rejects.toThrow(/differs from its descriptor/);
  });

  it('points at the docker-archive format when only manifest.json is there', async () => {
    const file = path.join(tmp, 'docker.tar');
    const dir = path.join(tmp, 'd');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'manifest.json'), '[]');
    await packDir(dir, file);
    await expect(readOciLayout(file)).rejects.toThrow(/docker-archive format/);
  });
});
