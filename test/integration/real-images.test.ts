import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNative } from '../../src/native/binding.js';
import { TestStore } from '../helpers/store.js';

/**
 * An image made by real tools in the test run: umoci builds two layers on
 * the busybox rootfs (the second deletes files, replaces a directory's
 * contents, adds a symlink, a hard link, a setuid file and a file with a
 * security.capability xattr), skopeo exports it as oci-archive and
 * docker-archive, and tsrun loads both and runs them.
 */
let s: TestStore;
let work: string;

const sh = (cmd: string, args: string[], cwd?: string) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

beforeAll(() => {
  s = new TestStore();
  work = path.join(s.dir, 'umoci');
  fs.mkdirSync(work);
  const rootfs = (b: string) => path.join(work, b, 'rootfs');
  sh('umoci', ['init', '--layout', 'L'], work);
  sh('umoci', ['new', '--image', 'L:base'], work);
  sh('umoci', ['unpack', '--image', 'L:base', 'B1'], work);
  sh('tar', ['-xf', path.join(s.fixtures, 'busybox-rootfs.tar'), '-C', rootfs('B1')]);
  fs.mkdirSync(path.join(rootfs('B1'), 'data'));
  fs.writeFileSync(path.join(rootfs('B1'), 'data/old1'), 'one\n');
  fs.writeFileSync(path.join(rootfs('B1'), 'data/old2'), 'two\n');
  fs.writeFileSync(path.join(rootfs('B1'), 'etc/gone.txt'), 'bye\n');
  sh('umoci', ['repack', '--image', 'L:base', 'B1'], work);

  sh('umoci', ['unpack', '--image', 'L:base', 'B2'], work);
  const r = rootfs('B2');
  fs.unlinkSync(path.join(r, 'etc/gone.txt'));
  fs.rmSync(path.join(r, 'data'), { recursive: true });
  fs.mkdirSync(path.join(r, 'data'));
  fs.writeFileSync(path.join(r, 'data/new'), 'new\n');
  fs.symlinkSync('/etc/passwd', path.join(r, 'pw-link'));
  fs.writeFileSync(path.join(r, 'hl-a'), 'shared\n');
  fs.linkSync(path.join(r, 'hl-a'), path.join(r, 'hl-b'));
  fs.copyFileSync(path.join(r, 'bin/busybox'), path.join(r, 'suid'));
  fs.chmodSync(path.join(r, 'suid'), 0o4755);
  fs.copyFileSync(path.join(r, 'bin/busybox'), path.join(r, 'capped'));
  sh('setcap', ['cap_net_raw+ep', path.join(r, 'capped')]);
  sh('umoci', ['repack', '--image', 'L:v2', 'B2'], work);
  sh('skopeo', ['copy', '-q', 'oci:L:v2', `oci-archive:${work}/demo-oci.tar:demo:v2`], work);
  sh('skopeo', ['copy', '-q', 'oci:L:v2', `docker-archive:${work}/demo-docker.tar:demo:v2`], work);
}, 120_000);
afterAll(() => s.cleanup());

describe('images made by umoci and skopeo', () => {
  for (const format of ['oci', 'docker'] as const) {
    it(`loads the ${format} archive and shows the second layer's changes file by file`, () => {
      const store = format === 'oci' ? s : new TestStore();
      try {
        store.ok(['load', '-i', path.join(work, `demo-${format}.tar`), '--tag', 'demo:v2']);
        const out = store.ok([
          'run', '--rm', 'demo:v2', '/bin/sh', '-c',
          'ls /data; cat /data/new; test -e /etc/gone.txt && echo gone-still-there; readlink /pw-link; ' +
            'stat -c "%i %h" /hl-a /hl-b; stat -c %a /suid; cat /hl-b',
        ]);
        const lines = out.trim().split('\n');
        expect(lines.slice(0, 2)).toEqual(['new', 'new']);
        expect(out).not.toContain('gone-still-there');
        expect(lines[2]).toBe('/etc/passwd');
        const [a, b] = [lines[3]!.split(' '), lines[4]!.split(' ')];
        expect(a[0]).toBe(b[0]); // one inode: the hard link survived
        expect(a[1]).toBe('2');
        expect(lines[5]).toBe('4755');
        expect(lines[6]).toBe('shared');

        // The capability xattr is on the unpacked file in the top layer.
        const top = store.inspect('demo:v2').GraphDriver.Data.UpperDir as string;
        const native = loadNative();
        const fd = fs.openSync(path.join(top, 'capped'), 'r');
        try {
          expect(native.fgetxattr({ fd, name: 'security.capability' })).not.toBeNull();
        } finally {
          fs.closeSync(fd);
        }
        // Deletions are whiteouts in the layer: 0/0 character devices.
        const wh = fs.lstatSync(path.join(top, 'etc/gone.txt'));
        expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
      } finally {
        if (store !== s) store.cleanup();
      }
    });
  }

  it('loads the same image twice from the two formats with the layers shared', () => {
    const store = new TestStore();
    try {
      store.ok(['load', '-i', path.join(work, 'demo-oci.tar'), '--tag', 'demo:oci']);
      const second = store.ok(['load', '-i', path.join(work, 'demo-docker.tar'), '--tag', 'demo:docker']);
      expect(second).toMatch(/already exists/);
      const layers = store.layerDirs();
      expect(layers.length).toBe(2);
    } finally {
      store.cleanup();
    }
  });
});
