import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detectImageFormat, parseDockerManifest, readImageArchive } from '../../src/image/docker-archive.js';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (d: string): string => d.slice('sha256:'.length);

async function layerTar(name: string, content: string): Promise<Buffer> {
  const pack = tar.pack();
  pack.entry({ name, mode: 0o644, mtime: new Date(0) }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

type Entry = { name: string; data?: Buffer | string; linkname?: string };

async function packEntries(entries: Entry[], out: string): Promise<void> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.linkname !== undefined) pack.entry({ name: e.name, type: 'symlink', linkname: e.linkname });
    else pack.entry({ name: e.name, mode: 0o644 }, e.data ?? '');
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  fs.writeFileSync(out, Buffer.concat(chunks));
}

function writeEntries(entries: Entry[], dir: string): void {
  for (const e of entries) {
    const file = path.join(dir, e.name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (e.linkname !== undefined) fs.symlinkSync(e.linkname, file);
    else fs.writeFileSync(file, e.data ?? '');
  }
}

function config(diffIds: string[]): Buffer {
  return Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: diffIds } }),
  );
}

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-docker-archive-test-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('detectImageFormat', () => {
  it('prefers index.json, falls back to manifest.json, refuses neither', () => {
    expect(detectImageFormat({ indexJson: true, manifestJson: false })).toBe('oci-layout');
    expect(detectImageFormat({ indexJson: true, manifestJson: true })).toBe('oci-layout');
    expect(detectImageFormat({ indexJson: false, manifestJson: true })).toBe('docker-archive');
    expect(() => detectImageFormat({ indexJson: false, manifestJson: false }, 'image archive x.tar')).toThrow(
      'invalid image archive x.tar: neither an OCI image layout (index.json) nor a docker-archive (manifest.json)',
    );
  });
});

describe('parseDockerManifest', () => {
  it('reads Config, RepoTags (null or absent means none) and Layers', () => {
    const doc = [
      { Config: 'a.json', RepoTags: ['busybox:latest', 'busybox:1'], Layers: ['x/layer.tar'] },
      { Config: 'blobs/sha256/' + 'b'.repeat(64), RepoTags: null, Layers: [] },
      { Config: 'c.json', Layers: ['blobs/sha256/' + 'c'.repeat(64)], Parent: 'ignored' },
    ];
    expect(parseDockerManifest(Buffer.from(JSON.stringify(doc)), 'm')).toEqual([
      { config: 'a.json', repoTags: ['busybox:latest', 'busybox:1'], layers: ['x/layer.tar'] },
      { config: 'blobs/sha256/' + 'b'.repeat(64), repoTags: [], layers: [] },
      { config: 'c.json', repoTags: [], layers: ['blobs/sha256/' + 'c'.repeat(64)] },
    ]);
  });

  it('refuses malformed documents with one clear message', () => {
    const bad: [unknown, string][] = [
      [{}, 'm: must be a JSON array'],
      [[], 'm: lists no images'],
      [[1], 'm: [0] must be an object'],
      [[{ Layers: [] }], 'm: [0].Config must be a file name'],
      [[{ Config: 'a', Layers: 'x' }], 'm: [0].Layers must be an array of strings'],
      [[{ Config: 'a', Layers: [] , RepoTags: [1] }], 'm: [0].RepoTags must be an array of strings'],
      [[{ Config: 'a' }], 'm: [0].Layers must be an array of strings'],
    ];
    for (const [doc, message] of bad) expect(() => parseDockerManifest(Buffer.from(JSON.stringify(doc)), 'm')).toThrow(message);
    expect(() => parseDockerManifest(Buffer.from('{'), 'm')).toThrow(/^m: not valid JSON/);
  });
});

describe('readImageArchive: docker-archive', () => {
  /** A legacy (docker < 25) archive: "<hex>.json" config, "<id>/layer.tar" layers, the repeated one a symlink. */
  async function legacy(): Promise<{ entries: Entry[]; l1: Buffer; l2: Buffer; cfg: Buffer }> {
    const l1 = await layerTar('a', 'x');
    const l2 = await layerTar('b', 'y');
    const cfg = config([sha(l1), sha(l2)]);
    const other = config([sha(l1)]);
    const entries: Entry[] = [
      { name: `${hex(sha(cfg))}.json`, data: cfg },
      { name: `${hex(sha(other))}.json`, data: other },
      { name: '1111/layer.tar', data: l1 },
      { name: '2222/layer.tar', data: gzipSync(l2) },
      { name: '3333/layer.tar', linkname: '../1111/layer.tar' },
      {
        name: 'manifest.json',
        data: JSON.stringify([
          { Config: `${hex(sha(cfg))}.json`, RepoTags: ['busybox:latest', 'busybox:1'], Layers: ['1111/layer.tar', '2222/layer.tar'] },
          { Config: `${hex(sha(other))}.json`, RepoTags: null, Layers: ['3333/layer.tar'] },
        ]),
      },
      { name: 'repositories', data: '{}' },
    ];
    return { entries, l1, l2, cfg };
  }

  it('reads every image, from a tar and from a directory, symlinked layers included', async () => {
    const { entries, l1, l2, cfg } = await legacy();
    const file = path.join(tmp, 'docker.tar');
    await packEntries(entries, file);
    const dir = path.join(tmp, 'dir');
    writeEntries(entries, dir);
    for (const source of [file, dir]) {
      const { format, images } = await readImageArchive(source);
      expect(format).toBe('docker-archive');
      expect(images).toHaveLength(2);
      const [a, b] = images as [(typeof images)[0], (typeof images)[0]];
      expect(a.names).toEqual(['busybox:latest', 'busybox:1']);
      expect(a.configDigest).toBe(sha(cfg));
      expect(a.configBytes.equals(cfg)).toBe(true);
      expect(a.layers.map((l) => l.diffId)).toEqual([sha(l1), sha(l2)]);
      expect(a.layers.map((l) => l.mediaType)).toEqual(['', '']); // compression is sniffed by the unpacker
      expect((await readAll(a.layers[0]!.open())).equals(l1)).toBe(true);
      expect((await readAll(a.layers[1]!.open())).equals(gzipSync(l2))).toBe(true);
      expect(b.names).toEqual([]);
      expect((await readAll(b.layers[0]!.open())).equals(l1)).toBe(true);
    }
  });

  it('reads a docker 25 style archive (blobs/sha256) and checks blob digests while streaming', async () => {
    const l1 = await layerTar('a', 'x');
    const cfg = config([sha(l1)]);
    const entries: Entry[] = [
      { name: `blobs/sha256/${hex(sha(cfg))}`, data: cfg },
      { name: `blobs/sha256/${hex(sha(l1))}`, data: l1 },
      { name: 'manifest.json', data: JSON.stringify([{ Config: `blobs/sha256/${hex(sha(cfg))}`, RepoTags: ['x:1'], Layers: [`blobs/sha256/${hex(sha(l1))}`] }]) },
    ];
    const dir = path.join(tmp, 'd25');
    writeEntries(entries, dir);
    const [img] = (await readImageArchive(dir)).images;
    expect((await readAll(img!.layers[0]!.open())).equals(l1)).toBe(true);
    expect(img!.layers[0]!.digest).toBe(sha(l1));
    fs.writeFileSync(path.join(dir, 'blobs/sha256', hex(sha(l1))), Buffer.concat([l1.subarray(0, 10), Buffer.from('Z'), l1.subarray(11)]));
    const [again] = (await readImageArchive(dir)).images;
    await expect(readAll(again!.layers[0]!.open())).rejects.toThrow(`blob ${sha(l1)} content does not match its digest`);
  });

  it('refuses a config that does not match its name, a missing file, and a layer count mismatch', async () => {
    const l1 = await layerTar('a', 'x');
    const cfg = config([sha(l1)]);
    const cases: [Entry[], RegExp][] = [
      [
        [
          { name: `${'0'.repeat(64)}.json`, data: cfg },
          { name: 'l/layer.tar', data: l1 },
          { name: 'manifest.json', data: JSON.stringify([{ Config: `${'0'.repeat(64)}.json`, Layers: ['l/layer.tar'] }]) },
        ],
        /config 0{64}\.json does not match its digest/,
      ],
      [
        [
          { name: 'c.json', data: cfg },
          { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', Layers: ['l/layer.tar'] }]) },
        ],
        /layer l\/layer.tar missing/,
      ],
      [
        [{ name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', Layers: [] }]) }],
        /config c.json missing/,
      ],
      [
        [
          { name: 'c.json', data: cfg },
          { name: 'l/layer.tar', data: l1 },
          { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', Layers: ['l/layer.tar', 'l/layer.tar'] }]) },
        ],
        /2 layers but config c.json lists 1 diff_ids/,
      ],
      [
        [
          { name: 'c.json', data: cfg },
          { name: 'l/layer.tar', linkname: '/etc/passwd' },
          { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', Layers: ['l/layer.tar'] }]) },
        ],
        /layer l\/layer.tar missing/,
      ],
    ];
    for (const [i, [entries, message]] of cases.entries()) {
      const file = path.join(tmp, `bad${i}.tar`);
      await packEntries(entries, file);
      await expect(readImageArchive(file)).rejects.toThrow(message);
    }
  });

  it('refuses a directory whose layer symlink leads outside it', async () => {
    const l1 = await layerTar('a', 'x');
    const cfg = config([sha(l1)]);
    fs.writeFileSync(path.join(tmp, 'outside.tar'), l1);
    const dir = path.join(tmp, 'esc');
    writeEntries(
      [
        { name: 'c.json', data: cfg },
        { name: 'l/layer.tar', linkname: '../../outside.tar' },
        { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', Layers: ['l/layer.tar'] }]) },
      ],
      dir,
    );
    await expect(readImageArchive(dir)).rejects.toThrow(/l\/layer.tar leads out of the directory/);
  });

  it('refuses an input that is neither format', async () => {
    const file = path.join(tmp, 'none.tar');
    await packEntries([{ name: 'hello', data: 'x' }], file);
    await expect(readImageArchive(file)).rejects.toThrow(/neither an OCI image layout \(index.json\) nor a docker-archive/);
  });
});
