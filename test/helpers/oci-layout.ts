import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Descriptor {
  digest: string;
  size: number;
}

export interface LayoutLayer {
  /** The blob as stored (compressed or not). */
  blob: Buffer;
  /** Default: an uncompressed OCI layer. */
  mediaType?: string;
  /** The uncompressed tar's digest; default: the blob's own (right for an uncompressed layer). */
  diffId?: string;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * An OCI image layout directory (image-layout.md) written by hand, for
 * tests that need images no tool makes: hundreds of layers, zstd layers,
 * entries in an order tsrun would not write.
 */
export class OciLayout {
  constructor(readonly dir: string) {
    fs.mkdirSync(path.join(dir, 'blobs/sha256'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  }

  blob(bytes: Buffer): Descriptor {
    const digest = sha256(bytes);
    fs.writeFileSync(path.join(this.dir, 'blobs/sha256', digest.slice(7)), bytes);
    return { digest, size: bytes.length };
  }

  readBlob(digest: string): Buffer {
    return fs.readFileSync(path.join(this.dir, 'blobs/sha256', digest.slice(7)));
  }

  /** Config and manifest blobs for `layers`; returns them (the config digest is the image id). */
  image(layers: LayoutLayer[], config: Record<string, unknown> = {}): { config: Descriptor; manifest: Descriptor; layers: Descriptor[] } {
    const descs = layers.map((l) => ({ mediaType: l.mediaType ?? 'application/vnd.oci.image.layer.v1.tar', ...this.blob(l.blob) }));
    const diffIds = layers.map((l, i) => l.diffId ?? descs[i]!.digest);
    const cfg = this.blob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', ...config, rootfs: { type: 'layers', diff_ids: diffIds } })));
    const manifest = this.manifest({ config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg }, layers: descs });
    return { config: cfg, manifest, layers: descs };
  }

  manifest(body: { config: object; layers: object[] }): Descriptor {
    return this.blob(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', ...body })));
  }

  /** index.json naming one manifest, with annotations such as io.containerd.image.name. */
  index(manifest: Descriptor, annotations?: Record<string, string>): void {
    fs.writeFileSync(
      path.join(this.dir, 'index.json'),
      JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, ...(annotations ? { annotations } : {}) }] }),
    );
  }
}
