import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TarWriter } from '../../src/store/pack.js';
import { OciLayout } from '../helpers/oci-layout.js';
import { TestStore } from '../helpers/store.js';

let stores: TestStore[] = [];
function store(...fixtures: Array<'busybox' | 'hello-world-v1'>): TestStore {
  const s = new TestStore();
  stores.push(s);
  for (const f of fixtures) s.loadFixture(f);
  return s;
}
afterEach(() => {
  for (const s of stores) s.cleanup();
  stores = [];
});

const layerRecords = (s: TestStore) => fs.readdirSync(path.join(s.root, 'image/layerdb/sha256')).sort();
const tarList = (file: string) => execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).split('\n').filter(Boolean);
const skopeo = (ref: string) => JSON.parse(execFileSync('skopeo', ['inspect', ref], { encoding: 'utf8' })) as { Layers: string[]; Env?: string[] };

/** The container's changes in the walkthrough's shape: deletions, an added file, a replaced one, an opaque dir. */
const CHANGES = 'rm /bin/ls /hello.txt; echo added > /new.txt; echo replaced > /etc/group; rm -rf /home && mkdir /home && touch /home/new';

describe('tsrun tag and rmi', () => {
  it('tags an image under a new name', () => {
    const s = store('busybox');
    s.ok(['tag', 'busybox', 'me/box:1']);
    expect(s.inspect('me/box:1').Id).toBe(s.inspect('busybox').Id);
    expect(s.ok(['images'])).toMatch(/^me\/box\s+1\s/m);
    expect(s.run(['tag', 'nothing', 'x']).code).not.toBe(0);
  });

  it('keeps shared layers until the last image using them is gone', () => {
    const s = store('busybox', 'hello-world-v1');
    expect(layerRecords(s)).toHaveLength(3);
    const busyboxLayer = s.inspect('busybox').RootFS.Layers[0];

    const out = s.ok(['rmi', 'hello-world:v1']);
    expect(out).toMatch(/^Untagged: hello-world:v1$/m);
    expect(out).toMatch(/^Deleted: sha256:[a-f0-9]{64}$/m);
    expect(out.split('\n').filter((l) => l.startsWith('Deleted:'))).toHaveLength(3); // config + its two own layers
    expect(layerRecords(s)).toEqual([busyboxLayer.slice(7)]);
    expect(s.layerDirs()).toHaveLength(1);
    expect(s.ok(['run', '--rm', 'busybox', 'echo', 'ok']).trim()).toBe('ok');

    // A second name only untags.
    s.ok(['tag', 'busybox', 'other:1']);
    expect(s.ok(['rmi', 'busybox'])).toBe('Untagged: busybox:latest\n');
    expect(layerRecords(s)).toHaveLength(1);

    // Refused while a container uses the image; then removed with its layer.
    s.ok(['create', '--name', 'user', 'other:1', 'true']);
    const refused = s.run(['rmi', 'other:1']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/conflict: unable to remove repository reference "other:1" \(must force\) - container [a-f0-9]{12} is using its referenced image/);
    expect(s.inspect('other:1').Id).toBeDefined();
    s.ok(['rm', 'user']);
    expect(s.ok(['rmi', 'other:1'])).toMatch(/Untagged: other:1\nDeleted: sha256:/);
    expect(layerRecords(s)).toEqual([]);
    expect(s.layerDirs()).toEqual([]);
    expect(s.ok(['images', '-q'])).toBe('');
  });

  it('removes by id, refusing an id with several names unless -f', () => {
    const s = store('busybox');
    const id: string = s.inspect('busybox').Id;
    s.ok(['tag', 'busybox', 'b2']);
    const r = s.run(['rmi', id.slice(7, 19)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/must be forced\) - image is referenced in multiple repositories/);
    const out = s.ok(['rmi', '-f', id.slice(7, 19)]);
    expect(out).toContain('Untagged: busybox:latest');
    expect(out).toContain('Untagged: b2:latest');
    expect(out).toContain(`Deleted: ${id}`);
    expect(s.run(['rmi', 'busybox']).code).toBe(1);
  });
});

describe('tsrun diff, commit and history', () => {
  it('diff prints A/C/D lines from the rw layer, never the init layer', () => {
    const s = store('hello-world-v1');
    s.ok(['run', '--name', 'c', 'hello-world:v1', 'sh', '-c', `${CHANGES}; mkdir -p /var/a; touch /var/a/f`]);
    expect(s.ok(['diff', 'c'])).toBe(
      ['C /bin', 'D /bin/ls', 'C /etc', 'C /etc/group', 'D /hello.txt', 'C /home', 'D /home/app', 'A /home/new', 'A /new.txt', 'C /var', 'A /var/a', 'A /var/a/f', ''].join('\n'),
    );
    s.ok(['run', '--name', 'quiet', 'hello-world:v1', 'true']);
    expect(s.ok(['diff', 'quiet'])).toBe('');
  });

  it('commits the changes, deletions and opaque dirs included, as a new image that runs', () => {
    const s = store('hello-world-v1');
    s.ok(['run', '--name', 'c', 'hello-world:v1', 'sh', '-c', CHANGES]);
    const id = s.ok(['commit', '-m', 'my change', '-a', 'Jane', '-c', 'CMD ["cat", "/new.txt"]', '-c', 'ENV A=1', 'c', 'committed:v2']).trim();
    expect(id).toMatch(/^sha256:[a-f0-9]{64}$/);
    const img = s.inspect('committed:v2');
    expect(img.Id).toBe(id);
    expect(img).toMatchObject({ Author: 'Jane', Comment: 'my change', Parent: '', DockerVersion: '' });
    expect(s.ok(['images', 'committed:v2', '--format', '{{.Size}}={{.VirtualSize}} {{.Containers}}'])).toMatch(/^(\S+)=\1 N\/A\n$/);
    expect(img.RootFS.Layers).toHaveLength(4);
    expect(img.Config.Cmd).toEqual(['cat', '/new.txt']);
    expect(img.Config.Env).toContain('A=1');

    expect(s.ok(['run', '--rm', 'committed:v2'])).toBe('added\n');
    const check = s.run(['run', '--rm', 'committed:v2', 'sh', '-c', 'cat /etc/group; ls /home; test -e /bin/ls || echo no-ls; test -e /hello.txt || echo no-hello; echo $A']);
    expect(check.stdout).toBe('replaced\nnew\nno-ls\nno-hello\n1\n');
    // The original image is untouched.
    expect(s.ok(['run', '--rm', 'hello-world:v1', 'sh', '-c', 'cat /hello.txt; ls /home'])).toBe('this is an update to the hello.txt\napp\n');

    const history = s.ok(['history', 'committed:v2']).trimEnd().split('\n');
    expect(history[0]).toMatch(/^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    expect(history).toHaveLength(5);
    expect(history[1]).toMatch(new RegExp(`^${id.slice(7, 19)}\\s+Less than a second ago\\s+sh -c rm /bin/ls.*\\s+my change$`));
    expect(history[2]).toMatch(/^<missing>\s+\d+ years ago\s+\/bin\/sh -c echo "this is an update to the he…\s+35B\s*$/);
    expect(history[3]).toMatch(/touch \/hello.txt\s+0B/);
    expect(history[4]).toMatch(/1.98MB/);
    expect(s.ok(['history', '-q', '--no-trunc', 'committed:v2']).split('\n')[0]).toBe(id);
    // --format and -H=false (bytes, RFC 3339 times), as docker's.
    const raw = s.ok(['history', '-H=false', '--format', '{{.Size}}|{{.CreatedSince}}|{{.Comment}}', 'committed:v2']).trimEnd().split('\n');
    expect(raw[1]).toMatch(/^35\|\d{4}-\d\d-\d\dT[\d:.]+Z\|$/);
    expect(raw[0]).toMatch(/\|my change$/);
    expect(s.ok(['history', '--human=false', '--format', 'table {{.ID}}\\t{{.Size}}', 'hello-world:v1']).split('\n')[0]).toMatch(/^IMAGE +SIZE$/);
    expect(s.run(['history', '-H', 'maybe', 'committed:v2'])).toMatchObject({ code: 1, stderr: 'tsrun: invalid argument "maybe" for "-H, --human": use true or false\n' });

    // On the committed image, a whited-out file and an entry under the opaque dir are new again (A), not changed.
    s.ok(['run', '--name', 'again', 'committed:v2', 'sh', '-c', 'touch /hello.txt /bin/ls; mkdir /home/app; rm /new.txt']);
    expect(s.ok(['diff', 'again'])).toBe(['C /bin', 'A /bin/ls', 'A /hello.txt', 'C /home', 'A /home/app', 'D /new.txt', ''].join('\n'));
  });
});

describe('tsrun commit keeps the container\'s config', () => {
  it('its command, -e, -w, -u, --label and anonymous volumes become the image\'s, as docker\'s commit makes them', () => {
    const s = store('busybox');
    s.ok(['run', '--name', 'cm', '-e', 'FOO=bar', '-w', '/etc', '-u', 'nobody', '-l', 'lab=1', '-v', '/cache', 'busybox', 'sh', '-c', 'echo ran in $PWD as $(id -un) with $FOO']);
    s.ok(['commit', 'cm', 'img:1']);
    const c = s.inspect('img:1').Config;
    expect(c).toMatchObject({ Cmd: ['sh', '-c', 'echo ran in $PWD as $(id -un) with $FOO'], WorkingDir: '/etc', User: 'nobody', Labels: { lab: '1' }, Volumes: { '/cache': {} } });
    expect(c.Env).toContain('FOO=bar');
    expect(s.ok(['run', '--rm', 'img:1'])).toBe('ran in /etc as nobody with bar\n');
    s.ok(['rm', '-v', 'cm']);
  });
});

describe('tsrun save and export', () => {
  it('saves the fixtures so that skopeo reads them and a load gives the same image ids', () => {
    const s = store('busybox', 'hello-world-v1');
    const file = path.join(s.dir, 'images.tar');
    s.ok(['save', '-o', file, 'busybox', 'hello-world:v1']);
    expect(tarList(file)).toEqual(expect.arrayContaining(['oci-layout', 'index.json', 'manifest.json', 'repositories']));

    const hello = s.inspect('hello-world:v1');
    expect(skopeo(`oci-archive:${file}:v1`).Layers).toHaveLength(3);
    expect(skopeo(`docker-archive:${file}:hello-world:v1`).Layers).toEqual(hello.RootFS.Layers);
    expect(skopeo(`docker-archive:${file}:busybox:latest`).Layers).toEqual(s.inspect('busybox').RootFS.Layers);

    const fresh = store();
    // -q drops the progress, never the lines scripts read the names from (docker's).
    expect(fresh.ok(['load', '-q', '-i', file]).split('\n').filter(Boolean).sort()).toEqual(['Loaded image: busybox:latest', 'Loaded image: hello-world:v1']);
    expect(fresh.inspect('hello-world:v1').Id).toBe(hello.Id);
    expect(fresh.inspect('busybox').Id).toBe(s.inspect('busybox').Id);
    expect(fresh.ok(['run', '--rm', 'hello-world:v1', 'cat', '/hello.txt'])).toBe('this is an update to the hello.txt\n');
  });

  it('round-trips a committed image through save --format oci and load', () => {
    const s = store('hello-world-v1');
    s.ok(['run', '--name', 'c', 'hello-world:v1', 'sh', '-c', CHANGES]);
    const id = s.ok(['commit', 'c', 'committed']).trim();
    const file = path.join(s.dir, 'oci.tar');
    const r = s.run(['save', '--format', 'oci', '-o', file, 'committed']);
    expect(r.stderr).toBe('');
    expect(tarList(file)).not.toContain('manifest.json');
    expect(skopeo(`oci-archive:${file}`).Layers).toHaveLength(4);

    const fresh = store();
    fresh.ok(['load', '-q', '-i', file]);
    expect(fresh.inspect('committed').Id).toBe(id);
    expect(fresh.ok(['run', '--rm', 'committed', 'sh', '-c', 'ls /home; test -e /hello.txt || echo gone'])).toBe('new\ngone\n');
  });

  it('saves a layer it cannot reproduce byte for byte under a new diff id, and says so', () => {
    const s = store();
    // A layer whose entries are not in sorted order: its diff dir packs back differently.
    const layout = path.join(s.dir, 'layout');
    const layerFile = path.join(s.dir, 'layer.tar');
    const fd = fs.openSync(layerFile, 'w');
    const tar = new TarWriter(fd);
    const meta = { mode: 0o644, uid: 0, gid: 0, size: 0, mtimeSec: 1691590620, mtimeNsec: 0 };
    tar.add({ ...meta, name: 'z', type: 'file' }, Buffer.from('z\n'));
    tar.add({ ...meta, name: 'a', type: 'file' }, Buffer.from('a\n'));
    tar.finish();
    fs.closeSync(fd);
    const oci = new OciLayout(layout);
    const { config, manifest, layers } = oci.image([{ blob: fs.readFileSync(layerFile) }]);
    const layer = layers[0]!;
    oci.index(manifest, {
      'io.containerd.image.name': 'docker.io/library/unsorted:1',
      'org.opencontainers.image.ref.name': '1',
    });
    s.ok(['load', '-q', '-i', layout]);
    const before = s.inspect('unsorted:1');
    expect(before.Id).toBe(config.digest);

    const file = path.join(s.dir, 'saved.tar');
    const r = s.run(['save', '-o', file, 'unsorted:1']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/cannot be reproduced byte for byte; it is saved as [a-f0-9]{12}, so the saved image gets a new id/);
    const fresh = store();
    fresh.ok(['load', '-q', '-i', file]);
    const after = fresh.inspect('unsorted:1');
    expect(after.Id).not.toBe(before.Id);
    expect(after.RootFS.Layers[0]).not.toBe(layer.digest);
    expect(fs.readFileSync(path.join(after.GraphDriver.Data.UpperDir, 'a'), 'utf8')).toBe('a\n');
  });

  it('export writes the flattened filesystem, stopped or running', async () => {
    const s = store('hello-world-v1');
    s.ok(['run', '--name', 'c', 'hello-world:v1', 'sh', '-c', 'rm /hello.txt; echo n > /added']);
    const file = path.join(s.dir, 'fs.tar');
    s.ok(['export', '-o', file, 'c']);
    const names = tarList(file);
    expect(names).toEqual(expect.arrayContaining(['added', 'bin/busybox', 'etc/passwd', 'home/app/', '.dockerenv']));
    expect(names).not.toContain('hello.txt');
    expect(names.some((n) => n.includes('.wh.'))).toBe(false);
    expect(s.mounts().filter((m) => m.endsWith('/merged'))).toEqual([]);

    s.ok(['run', '-d', '--name', 'live', 'hello-world:v1', 'sh', '-c', 'touch /live; sleep 30']);
    const deadline = Date.now() + 10_000;
    while (!s.ok(['diff', 'live']).includes('A /live')) {
      if (Date.now() > deadline) throw new Error('/live never appeared');
      await new Promise((res) => setTimeout(res, 20));
    }
    const live = path.join(s.dir, 'live.tar');
    s.ok(['export', '-o', live, 'live']);
    expect(tarList(live)).toEqual(expect.arrayContaining(['live', 'hello.txt']));
  });

  it('system df counts shared layers once; images --digests shows <none>', () => {
    const s = store('busybox', 'hello-world-v1');
    const df = s.ok(['system', 'df']).split('\n');
    expect(df[0]).toMatch(/^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/);
    expect(df[1]).toMatch(/^Images\s+2\s+0\s+1.98MB\s+1.98MB \(100%\)$/);
    expect(df[2]).toMatch(/^Containers\s+0\s+0\s+0B\s+0B$/);
    expect(df[3]).toMatch(/^Local Volumes\s+0\s+0/);
    s.ok(['volume', 'create', 'data']);
    s.ok(['run', '--name', 'c', '-v', 'data:/data', 'busybox', 'sh', '-c', 'echo 12345 > /data/f; echo 123 > /f']);
    const after = s.ok(['system', 'df']).split('\n');
    expect(after[1]).toMatch(/^Images\s+2\s+1\s+1.98MB\s+35B \(0%\)$/);
    expect(after[2]).toMatch(/^Containers\s+1\s+0\s+4B\s+4B \(100%\)$/);
    expect(after[3]).toMatch(/^Local Volumes\s+1\s+1\s+6B\s+0B \(0%\)$/);
    expect(s.ok(['images', '--digests']).split('\n')[1]).toMatch(/^hello-world\s+v1\s+<none>\s+[a-f0-9]{12}\s/);
  });
});
