import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { OciLayout } from '../helpers/oci-layout.js';
import { TestStore, tsrunBin, type RunResult } from '../helpers/store.js';

/**
 * `tsrun load` of the formats real tools write (skopeo's docker-archive and
 * OCI layout directory, a hand-made OCI layout with tar+zstd layers), the
 * atomicity of a failed load, and `tsrun import`.
 */

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let stores: TestStore[] = [];
let work: string;

function newStore(): TestStore {
  const s = new TestStore();
  stores.push(s);
  return s;
}

afterEach(() => {
  for (const s of stores) s.cleanup();
  stores = [];
});

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-load-formats-'));
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

function fixture(_s: TestStore | undefined, name: string): string {
  return path.join(inject('fixturesDir'), name);
}

function skopeo(...args: string[]): void {
  execFileSync('skopeo', ['copy', '--quiet', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Runs the CLI with binary standard input. */
function runWithInput(s: TestStore, args: string[], input: Buffer): RunResult {
  const r = spawnSync(tsrunBin, ['--root', s.root, '--runroot', s.runroot, ...args], {
    input,
    timeout: 30_000,
    env: { ...process.env, TSRUN_LOG_LEVEL: 'warn' },
  });
  if (r.error) throw r.error;
  return { code: r.status ?? 128, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

/** Every path under the store (tmp/ aside) with its type, mode, owner, size, link target and content digest. */
function listing(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      if (r === 'tmp') continue;
      const full = path.join(dir, name);
      const st = fs.lstatSync(full);
      let extra = '';
      if (st.isSymbolicLink()) extra = `-> ${fs.readlinkSync(full)}`;
      else if (st.isFile()) extra = `${st.size} ${sha(fs.readFileSync(full))}`;
      out.push(`${r} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${extra}`);
      if (st.isDirectory()) walk(full, r);
    }
  };
  walk(root, '');
  return out;
}

describe('load: docker-archive', () => {
  let dockerTar: string;
  beforeAll(() => {
    dockerTar = path.join(work, 'hello-docker.tar');
    skopeo(`oci-archive:${fixture(undefined, 'hello-world-v1.tar')}`, `docker-archive:${dockerTar}:hello-world:v1`);
  });

  it('loads a skopeo docker-archive tar and runs it', () => {
    const s = newStore();
    const out = s.ok(['load', '-i', dockerTar]);
    expect(out).toContain('Loaded image: hello-world:v1');
    expect(s.ok(['run', '--rm', 'hello-world:v1', 'cat', '/hello.txt'])).toBe('this is an update to the hello.txt\n');
    expect(s.inspect('hello-world:v1').RootFS.Layers).toHaveLength(3);
  });

  it('loads the same archive extracted to a directory, and from standard input', () => {
    const dir = path.join(work, 'hello-docker-dir');
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('tar', ['-xf', dockerTar, '-C', dir]);
    const s = newStore();
    s.ok(['load', '-q', '-i', dir]);
    expect(s.ok(['run', '--rm', 'hello-world:v1', 'cat', '/hello.txt'])).toBe('this is an update to the hello.txt\n');

    const t = newStore();
    const r = runWithInput(t, ['load'], fs.readFileSync(dockerTar));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Loaded image: hello-world:v1');
    expect(t.ok(['run', '--rm', 'hello-world:v1', 'cat', '/hello.txt'])).toBe('this is an update to the hello.txt\n');
    expect(fs.readdirSync(path.join(t.root, 'tmp'))).toEqual([]);
    // Nothing on standard input: said as such, not as a broken archive named by a temp file; none is left.
    expect(runWithInput(t, ['load'], Buffer.alloc(0))).toMatchObject({ code: 1, stderr: 'tsrun: standard input is empty: give -i FILE, or pipe an archive to it\n' });
    expect(fs.readdirSync(path.join(t.root, 'tmp'))).toEqual([]);
  });

  it('loads an archive compressed as a whole (docker save | gzip, | zstd), from a file and from standard input', () => {
    const s = newStore();
    const gz = execFileSync('gzip', ['-c', dockerTar], { maxBuffer: 64 * 1024 * 1024 });
    const r = runWithInput(s, ['load'], gz);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('Loaded image: hello-world:v1');
    const zst = path.join(work, 'hello-docker.tar.zst');
    execFileSync('zstd', ['-q', '-f', dockerTar, '-o', zst]);
    const t = newStore();
    expect(t.ok(['load', '-i', zst])).toContain('Loaded image: hello-world:v1');
    expect(t.ok(['run', '--rm', 'hello-world:v1', 'cat', '/hello.txt'])).toBe('this is an update to the hello.txt\n');
    for (const store of [s, t]) expect(fs.readdirSync(path.join(store.root, 'tmp'))).toEqual([]);
  });

  it('shares the busybox layer with an OCI busybox loaded before', () => {
    const s = newStore();
    s.loadFixture('busybox');
    const before = s.layerDirs();
    const bbDocker = path.join(work, 'busybox-docker.tar');
    skopeo(`oci-archive:${fixture(s, 'busybox.tar')}`, `docker-archive:${bbDocker}:busybox:docker`);
    const out = s.ok(['load', '-i', bbDocker]);
    expect(out).toMatch(/Layer [0-9a-f]{12} already exists/);
    expect(out).toContain('Loaded image: busybox:docker');
    expect(s.layerDirs()).toEqual(before);
    expect(s.inspect('busybox:docker').Id).toBe(s.inspect('busybox').Id);
  });

  it('refuses a config that does not match its digest name', () => {
    const dir = path.join(work, 'bad-config');
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('tar', ['-xf', dockerTar, '-C', dir]);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as [{ Config: string }];
    const cfg = path.join(dir, manifest[0].Config);
    fs.chmodSync(cfg, 0o644);
    fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace('"amd64"', '"amd64" '));
    const s = newStore();
    const r = s.run(['load', '-i', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tsrun: invalid image layout .*does not match its digest/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  for (const bad of [1, 2]) {
    it(`leaves the store exactly as before when layer ${bad + 1} is corrupt`, () => {
      const dir = path.join(work, `corrupt-${bad}`);
      fs.mkdirSync(dir, { recursive: true });
      execFileSync('tar', ['-xf', dockerTar, '-C', dir]);
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as [{ Layers: string[]; Config: string }];
      const layerFile = fs.realpathSync(path.join(dir, manifest[0].Layers[bad]!));
      fs.chmodSync(layerFile, 0o644);
      const bytes = fs.readFileSync(layerFile);
      bytes[bytes.length - 1] ^= 0xff; // in the end-of-archive padding: still a valid tar, another diff id
      fs.writeFileSync(layerFile, bytes);
      const archive = path.join(work, `corrupt-${bad}.tar`);
      execFileSync('tar', ['-cf', archive, '-C', dir, '.']);

      const s = newStore();
      s.loadFixture('busybox'); // the first layer is already there: a child gets marked on it
      const before = listing(s.root);
      for (const input of [archive, dir]) {
        const r = s.run(['load', '-i', input]);
        expect(r.code).toBe(1);
        const config = JSON.parse(fs.readFileSync(path.join(dir, manifest[0].Config), 'utf8')) as { rootfs: { diff_ids: string[] } };
        expect(r.stderr).toContain(config.rootfs.diff_ids[bad]!);
        expect(r.stderr).toContain('does not match');
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(listing(s.root)).toEqual(before);
        expect(s.run(['inspect', 'hello-world:v1']).code).not.toBe(0);
      }
    });
  }
});

describe('load: OCI layouts', () => {
  it('loads an OCI layout directory written by skopeo (by id: a bare-tag ref name names no image)', () => {
    const s = newStore();
    const dir = path.join(work, 'hello-oci-dir');
    skopeo(`oci-archive:${fixture(s, 'hello-world-v1.tar')}`, `oci:${dir}:v1`);
    const out = s.ok(['load', '-i', dir]);
    const m = /Loaded image ID: (sha256:[0-9a-f]{64})/.exec(out);
    expect(m).not.toBeNull();
    expect(s.ok(['run', '--rm', m![1]!, 'cat', '/hello.txt'])).toBe('this is an update to the hello.txt\n');
    expect(s.run(['inspect', 'v1']).code).not.toBe(0);
  });

  it('prefers index.json when a docker 25+ archive also has manifest.json', () => {
    const s = newStore();
    const dir = path.join(work, 'both');
    skopeo(`oci-archive:${fixture(s, 'hello-world-v1.tar')}`, `oci:${dir}:docker.io/library/hello-world:v1`);
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify([{ Config: 'missing.json', RepoTags: ['wrong:1'], Layers: [] }]));
    expect(s.ok(['load', '-i', dir])).toContain('Loaded image: hello-world:v1');
    expect(s.ok(['run', '--rm', 'hello-world:v1', 'cat', '/hello.txt'])).toBe('this is an update to the hello.txt\n');
  });

  it('loads tar+zstd layers (built with the zstd CLI) and refuses a corrupt one', () => {
    const s = newStore();
    const dir = path.join(work, 'zstd-layout');
    const oci = new OciLayout(dir);
    const helloDir = path.join(work, 'zstd-hello');
    fs.mkdirSync(helloDir, { recursive: true });
    fs.writeFileSync(path.join(helloDir, 'hello.txt'), 'hello from zstd\n');
    const helloTar = path.join(work, 'zstd-hello.tar');
    execFileSync('tar', ['--format=ustar', '--owner=0', '--group=0', '-cf', helloTar, '-C', helloDir, 'hello.txt']);
    const tars = [fixture(s, 'busybox-rootfs.tar'), helloTar].map((f) => fs.readFileSync(f));
    const zstd = 'application/vnd.oci.image.layer.v1.tar+zstd';
    const { manifest, layers } = oci.image(
      tars.map((t) => ({ blob: execFileSync('zstd', ['-q', '-c', '-19'], { input: t, maxBuffer: 64 * 1024 * 1024 }), mediaType: zstd, diffId: sha(t) })),
      { config: { Cmd: ['sh'], Env: ['PATH=/bin'] } },
    );
    oci.index(manifest, { 'org.opencontainers.image.ref.name': 'zstd-test:1' });
    expect(s.ok(['load', '-i', dir])).toContain('Loaded image: zstd-test:1');
    expect(s.ok(['run', '--rm', 'zstd-test:1', 'cat', '/hello.txt'])).toBe('hello from zstd\n');
    expect(s.ok(['run', '--rm', 'zstd-test:1', '/bin/busybox', 'true'])).toBe('');

    // The same layout with the top layer's frame damaged (its digest updated to match):
    // the zstd decoder fails, the load names the layer, and nothing stays behind.
    const t = newStore();
    const bad = Buffer.from(oci.readBlob(layers[1]!.digest));
    bad[Math.floor(bad.length / 2)] ^= 0xff;
    bad[bad.length - 2] ^= 0xff;
    const m2 = JSON.parse(oci.readBlob(manifest.digest).toString()) as { config: object; layers: { digest: string; size: number }[] };
    m2.layers[1] = { ...m2.layers[1]!, ...oci.blob(bad) };
    oci.index(oci.manifest(m2));
    const r = t.run(['load', '-i', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tsrun: layer sha256:[0-9a-f]{64}: (corrupt zstd data|.*does not match)/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const layerdb = path.join(t.root, 'image', 'layerdb', 'sha256');
    expect(fs.existsSync(layerdb) ? fs.readdirSync(layerdb) : []).toEqual([]);
    expect(t.layerDirs()).toEqual([]);
  });
});

describe('import', () => {
  it('makes a one-layer image from a rootfs tarball, from a file and from standard input', () => {
    const s = newStore();
    const rootfs = fixture(s, 'busybox-rootfs.tar');
    const out = s.ok(['import', rootfs, 'imported:1']);
    expect(out).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(s.ok(['run', '--rm', 'imported:1', '/bin/busybox', 'true'])).toBe('');
    const img = s.inspect('imported:1');
    expect(img.Id).toBe(out.trim());
    expect(img.RootFS.Layers).toEqual([sha(fs.readFileSync(rootfs))]);
    expect(img.Architecture).toBe('amd64');
    expect(img.Os).toBe('linux');

    // gzip on standard input, with a CMD: the layer is shared, the image is new.
    const gz = execFileSync('gzip', ['-c'], { input: fs.readFileSync(rootfs), maxBuffer: 64 * 1024 * 1024 });
    const r = runWithInput(s, ['import', '-c', 'CMD ["echo", "imported"]', '-', 'imported:2'], gz);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(s.ok(['run', '--rm', 'imported:2'])).toBe('imported\n');
    expect(s.layerDirs()).toHaveLength(1);

    // zstd, untagged: the id alone names it.
    const zst = execFileSync('zstd', ['-q', '-c'], { input: fs.readFileSync(rootfs), maxBuffer: 64 * 1024 * 1024 });
    const r3 = runWithInput(s, ['import', '-'], zst);
    expect(r3.code).toBe(0);
    expect(s.ok(['run', '--rm', r3.stdout.trim(), '/bin/busybox', 'echo', 'ok'])).toBe('ok\n');
  });

  it('refuses a hostile tarball and leaves no layer behind', () => {
    const s = newStore();
    s.loadFixture('busybox');
    const before = listing(s.root);
    const evil = path.join(work, 'evil');
    fs.mkdirSync(evil, { recursive: true });
    fs.writeFileSync(path.join(evil, 'x'), 'x');
    const tarFile = path.join(work, 'evil.tar');
    execFileSync('tar', ['-cf', tarFile, '-C', evil, '--transform', 's,^x$,../../escape,', '-P', 'x']);
    const r = s.run(['import', tarFile, 'evil:1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing tar entry/);
    expect(listing(s.root)).toEqual(before);
  });
});
