import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { storeForFile, tsrunBin } from '../helpers/store.js';

const s = storeForFile('busybox');
const upper = (name: string) => s.inspect(name).GraphDriver.Data.UpperDir as string;
const host = (...parts: string[]) => path.join(s.dir, 'host', ...parts);

describe('cp', () => {
  it('copies out of and into a running container, docker\'s rules for where things land', () => {
    s.ok(['run', '-d', '--name', 'live', 'busybox', 'sh', '-c', 'mkdir -p /data/sub && echo a > /data/a && echo b > /data/sub/b && ln -s a /data/link && chmod 4755 /data/a && exec sleep 1000']);
    fs.mkdirSync(host(), { recursive: true });
    for (let i = 0; i < 100 && s.run(['exec', 'live', 'test', '-L', '/data/link']).code !== 0; i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);

    // A directory into an existing host directory lands under its name; symlinks stay symlinks.
    s.ok(['cp', 'live:/data', host()]);
    expect(fs.readFileSync(host('data/a'), 'utf8')).toBe('a\n');
    expect(fs.readFileSync(host('data/sub/b'), 'utf8')).toBe('b\n');
    expect(fs.readlinkSync(host('data/link'))).toBe('a');
    // Without -a the copies are ours, and a setuid bit does not come along (it would be setuid root here); with -a it does.
    expect(fs.statSync(host('data/a')).mode & 0o7777).toBe(0o755);
    s.ok(['cp', '-a', 'live:/data/a', host('kept-a')]);
    expect(fs.statSync(host('kept-a')).mode & 0o7777).toBe(0o4755);
    // "DIR/." copies the contents; a file to a new name takes that name.
    s.ok(['cp', 'live:/data/sub/.', host('contents')]);
    expect(fs.readdirSync(host('contents'))).toEqual(['b']);
    s.ok(['cp', 'live:/data/a', host('renamed')]);
    expect(fs.readFileSync(host('renamed'), 'utf8')).toBe('a\n');

    // Into the container: the files land in the rw layer, owned by root unless -a.
    fs.writeFileSync(host('in.txt'), 'from the host\n');
    fs.chownSync(host('in.txt'), 1000, 1000);
    s.ok(['cp', host('in.txt'), 'live:/data/']);
    s.ok(['cp', '-a', host('in.txt'), 'live:/data/kept.txt']);
    s.ok(['cp', host('contents'), 'live:/copied']);
    expect(s.ok(['exec', 'live', 'sh', '-c', 'cat /data/in.txt; stat -c "%u:%g" /data/in.txt /data/kept.txt; cat /copied/b'])).toBe('from the host\n0:0\n1000:1000\nb\n');
    expect(fs.readFileSync(path.join(upper('live'), 'data/in.txt'), 'utf8')).toBe('from the host\n');
    s.ok(['rm', '-f', 'live']);
  });

  it('works on a stopped container and leaves nothing mounted', () => {
    s.ok(['run', '--name', 'cold', 'busybox', 'true']);
    fs.mkdirSync(host(), { recursive: true });
    fs.writeFileSync(host('cold.txt'), 'cold\n');
    s.ok(['cp', host('cold.txt'), 'cold:/cold.txt']);
    expect(s.mounts()).toEqual([]);
    s.ok(['cp', 'cold:/cold.txt', host('back.txt')]);
    expect(fs.readFileSync(host('back.txt'), 'utf8')).toBe('cold\n');
    expect(s.mounts()).toEqual([]);
    expect(s.ok(['start', '-a', 'cold'])).toBe('');
    expect(fs.readFileSync(path.join(upper('cold'), 'cold.txt'), 'utf8')).toBe('cold\n');
    s.ok(['rm', 'cold']);
  });

  it('never leaves the container through its symlinks or ..', () => {
    const hostDir = host('target');
    fs.mkdirSync(hostDir, { recursive: true });
    fs.writeFileSync(path.join(hostDir, 'secret'), 'host secret\n');
    // /evil points at a host path by name: resolved in the container's root, it is the container's own /<that path>.
    s.ok(['run', '-d', '--name', 'hostile', 'busybox', 'sh', '-c', `ln -s ${hostDir} /evil; echo in-container > /etc/motd; exec sleep 1000`]);
    for (let i = 0; i < 100 && s.run(['exec', 'hostile', 'test', '-L', '/evil']).code !== 0; i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);

    fs.writeFileSync(host('payload'), 'payload\n');
    expect(s.run(['cp', host('payload'), 'hostile:/evil/payload']).code).not.toBe(0);
    expect(fs.existsSync(path.join(hostDir, 'payload'))).toBe(false);
    expect(s.run(['cp', 'hostile:/evil/secret', host('stolen')]).code).not.toBe(0);
    expect(fs.existsSync(host('stolen'))).toBe(false);
    // The link itself is copied out as a link, its text as it is (not the host path of the link); its target is never read.
    s.ok(['cp', 'hostile:/evil', host('evil-link')]);
    expect(fs.readlinkSync(host('evil-link'))).toBe(hostDir);
    const tar = spawnSync(tsrunBin, ['--root', s.root, '--runroot', s.runroot, 'cp', 'hostile:/evil', '-']);
    expect(execFileSync('tar', ['-tv'], { input: tar.stdout, encoding: 'utf8' })).toContain(`evil -> ${hostDir}`);
    // .. stops at the container's root.
    s.ok(['cp', 'hostile:/../../../../etc/motd', host('motd')]);
    expect(fs.readFileSync(host('motd'), 'utf8')).toBe('in-container\n');
    s.ok(['rm', '-f', 'hostile']);
  });

  it('writes out beneath the destination, never through a symlink planted in it, and makes device nodes root-only', () => {
    s.ok(['run', '-d', '--name', 'nodes', 'busybox', 'sh', '-c', 'mkdir -p /d/sub && echo f > /d/sub/f && mknod -m 666 /d/mem c 1 1 && mkfifo /d/fifo && exec sleep 1000']);
    for (let i = 0; i < 100 && s.run(['exec', 'nodes', 'test', '-p', '/d/fifo']).code !== 0; i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    // What another container sharing the destination could have planted: d/sub -> a directory elsewhere.
    const canary = host('canary');
    fs.mkdirSync(canary, { recursive: true });
    fs.mkdirSync(host('shared', 'd'), { recursive: true });
    fs.symlinkSync(canary, host('shared', 'd', 'sub'));
    const r = s.run(['cp', 'nodes:/d', host('shared')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('tsrun: refusing to copy through the symlink sub: a directory goes there\n');
    expect(fs.readdirSync(canary)).toEqual([]);
    // A copy of /dev/mem's kind stays root's and 0600, -a or not: the host's users get no readable clone of it. (A new path: d's contents.)
    s.ok(['cp', '-a', 'nodes:/d', host('nodes')]);
    const mem = fs.lstatSync(host('nodes', 'mem'));
    expect([mem.isCharacterDevice(), mem.mode & 0o7777, mem.uid, mem.rdev]).toEqual([true, 0o600, 0, (1 << 8) | 1]);
    expect(fs.lstatSync(host('nodes', 'fifo')).isFIFO()).toBe(true);
    expect(fs.readFileSync(host('nodes', 'sub', 'f'), 'utf8')).toBe('f\n');
    s.ok(['rm', '-f', 'nodes']);
  });

  it('goes through a running container\'s volumes, binds and /etc files, as it sees them; a stopped one\'s volumes and binds on the host, never the layer under them', () => {
    const bindDir = host('bound');
    fs.mkdirSync(bindDir, { recursive: true });
    s.ok(['run', '-d', '--name', 'mounted', '-h', 'cp-host', '-v', `${bindDir}:/mnt/b`, '-v', 'cpvol:/data', '-v', 'cpro:/ro:ro', '--tmpfs', '/scratch', 'busybox', 'sleep', '1000']);
    fs.writeFileSync(host('in.txt'), 'in\n');
    s.ok(['cp', host('in.txt'), 'mounted:/data/']);
    s.ok(['cp', host('in.txt'), 'mounted:/mnt/b/']);
    expect(fs.readFileSync(path.join(bindDir, 'in.txt'), 'utf8')).toBe('in\n');
    expect(s.ok(['exec', 'mounted', 'cat', '/data/in.txt'])).toBe('in\n');
    s.ok(['cp', 'mounted:/data/in.txt', host('from-volume.txt')]);
    expect(fs.readFileSync(host('from-volume.txt'), 'utf8')).toBe('in\n');
    s.ok(['cp', 'mounted:/etc/hostname', host('hostname')]);
    expect(fs.readFileSync(host('hostname'), 'utf8')).toBe('cp-host\n');
    // Symlinks into the mounts, followed as the copy would follow them.
    s.ok(['exec', 'mounted', 'sh', '-c', 'ln -s /data /dlink && mkdir /sub && ln -s ../mnt/b /sub/blink && ln -s /data/in.txt /flink && ln -s /p/q /ln && ln -s /data/sub /l']);
    s.ok(['stop', '-t', '0', 'mounted']);

    // Stopped: what is on a volume or a directory bind is reached on the host, as docker's cp mounts them for it.
    const volume = path.join(s.root, 'volumes/cpvol/_data');
    fs.writeFileSync(host('late.txt'), 'late\n');
    s.ok(['cp', host('late.txt'), 'mounted:/data/']);
    s.ok(['cp', host('late.txt'), 'mounted:/dlink/via-link.txt']);
    // The path's own .. is taken as written (as the copy cleans it), not from where /ln leads.
    s.ok(['cp', host('late.txt'), 'mounted:/ln/../data/dotdot.txt']);
    expect(fs.readdirSync(volume).sort()).toEqual(['dotdot.txt', 'in.txt', 'late.txt', 'via-link.txt']);
    expect(fs.existsSync(path.join(upper('mounted'), 'data/late.txt'))).toBe(false);
    for (const [from, to] of [['mounted:/mnt/b/in.txt', 'b1'], ['mounted:/sub/blink/in.txt', 'b2'], ['mounted:/data/late.txt', 'v1']]) {
      s.ok(['cp', from!, host(to!)]);
      expect(fs.readFileSync(host(to!), 'utf8')).toMatch(/^(in|late)\n$/);
    }
    s.ok(['cp', '-L', 'mounted:/flink', host('followed')]);
    expect(fs.readFileSync(host('followed'), 'utf8')).toBe('in\n');
    expect(s.run(['cp', host('in.txt'), 'mounted:/dlink/new/deeper'])).toMatchObject({ code: 1, stderr: 'tsrun: destination directory /dlink/new does not exist in container mounted\n' });
    // A link on the volume means the container's /etc, not the volume's: not followed while it is stopped, and said so.
    fs.symlinkSync('/etc', path.join(volume, 'etclink'));
    for (const args of [[host('in.txt'), 'mounted:/data/etclink/'], ['mounted:/data/etclink/passwd', host('x')], ['-L', 'mounted:/data/etclink', host('x')]]) {
      expect(s.run(['cp', ...args]), args.join(' ')).toMatchObject({ code: 1, stderr: expect.stringMatching(/goes through a symlink on the volume mount at \/data of container mounted that leads out of it: while it is stopped such links are not followed/) });
    }
    fs.rmSync(path.join(volume, 'etclink'));
    // A relative link that stays on the volume means the same there: followed.
    fs.mkdirSync(path.join(volume, 'releases/2'), { recursive: true });
    fs.writeFileSync(path.join(volume, 'releases/2/app.conf'), 'two\n');
    fs.symlinkSync('releases/2', path.join(volume, 'current'));
    s.ok(['cp', 'mounted:/data/current/app.conf', host('app.conf')]);
    expect(fs.readFileSync(host('app.conf'), 'utf8')).toBe('two\n');
    s.ok(['cp', host('in.txt'), 'mounted:/data/current/']);
    expect(fs.readFileSync(path.join(volume, 'releases/2/in.txt'), 'utf8')).toBe('in\n');
    fs.symlinkSync('../../x', path.join(volume, 'releases/out'));
    expect(s.run(['cp', 'mounted:/data/releases/out/y', host('y')]).stderr).toMatch(/that leads out of it/);
    fs.rmSync(path.join(volume, 'current'));
    fs.rmSync(path.join(volume, 'releases'), { recursive: true });
    // Nothing to reach on the host: a tmpfs and the /etc files; and a read-only volume takes nothing.
    const refused: [string[], RegExp][] = [
      [[host('in.txt'), 'mounted:/scratch/'], /is on the tmpfs mount at \/scratch of container mounted, which is there only while it runs: start it to copy there\n$/],
      [['mounted:/etc/hostname', host('x')], /is on the bind mount at \/etc\/hostname of container mounted, which is there only while it runs/],
      [[host('in.txt'), 'mounted:/ro/'], /^tsrun: \/ro\/ is on the volume mount at \/ro of container mounted, which is read-only\n$/],
    ];
    for (const [args, message] of refused) {
      const r = s.run(['cp', ...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(message);
    }
    // Without -L the link itself is copied: it is in the layer, not on the volume.
    s.ok(['cp', 'mounted:/flink', host('flink')]);
    expect(fs.readlinkSync(host('flink'))).toBe('/data/in.txt');
    // Neither lands on a mount: /l/../ is /, and a link to a file (not a directory) is replaced in the layer.
    s.ok(['cp', host('in.txt'), 'mounted:/l/../top.txt']);
    s.ok(['cp', host('in.txt'), 'mounted:/flink']);
    s.ok(['cp', 'mounted:/top.txt', host('top.txt')]);
    expect(fs.readFileSync(host('top.txt'), 'utf8')).toBe('in\n');
    expect(fs.readFileSync(path.join(volume, 'in.txt'), 'utf8')).toBe('in\n');
    s.ok(['rm', '-f', '-v', 'mounted']);
    s.run(['volume', 'rm', 'cpvol', 'cpro']);
  });

  it('never opens what is at a destination name (a FIFO there is replaced, not written), nor copies the kernel\'s files of a running container', () => {
    s.ok(['run', '-d', '--name', 'fifo', 'busybox', 'sh', '-c', 'mkfifo /tmp/d && mkdir -p /tmp/dir && mkfifo /tmp/dir/f && exec sleep 1000']);
    for (let i = 0; i < 100 && s.run(['exec', 'fifo', 'test', '-p', '/tmp/dir/f']).code !== 0; i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    fs.mkdirSync(host('over', 'dir'), { recursive: true });
    fs.writeFileSync(host('over', 'd'), 'file\n');
    fs.writeFileSync(host('over', 'dir', 'f'), 'nested\n');
    // Opening either FIFO for writing would block (no reader): the copy would never end.
    expect(s.run(['cp', host('over', 'd'), 'fifo:/tmp/d'], { timeoutMs: 20_000 }).code).toBe(0);
    expect(s.run(['cp', host('over', 'dir'), 'fifo:/tmp/'], { timeoutMs: 20_000 }).code).toBe(0);
    expect(s.ok(['exec', 'fifo', 'sh', '-c', 'cat /tmp/d /tmp/dir/f; test -f /tmp/d && test -f /tmp/dir/f && echo regular'])).toBe('file\nnested\nregular\n');
    // /proc/kmsg is a regular file that reading drains the host's kernel log from: the container's /proc and /sys are the kernel's, never copied.
    expect(s.run(['cp', 'fifo:/proc/kmsg', host('kmsg')], { timeoutMs: 20_000 })).toMatchObject({ code: 1, stderr: 'tsrun: cannot copy /proc/kmsg out of container fifo: it is on a kernel filesystem (proc, sysfs, ...), not one of the container\'s files\n' });
    expect(s.run(['cp', host('over', 'd'), 'fifo:/sys/fs/cgroup/']).code).toBe(1);
    s.ok(['cp', 'fifo:/', host('whole')]);
    expect(fs.readdirSync(host('whole', 'proc'))).toEqual([]);
    expect(fs.readdirSync(host('whole', 'sys'))).toEqual([]);
    expect(fs.existsSync(host('whole', 'bin', 'busybox'))).toBe(true);
    s.ok(['rm', '-f', 'fifo']);
  });

  it('reads a host directory without following its symlinks: a link to a host file goes in as a link', () => {
    fs.mkdirSync(host('links'), { recursive: true });
    fs.writeFileSync(host('secret'), 'host secret\n');
    fs.symlinkSync(host('secret'), host('links', 'to-secret'));
    s.ok(['run', '-d', '--name', 'links', 'busybox', 'sleep', '1000']);
    s.ok(['cp', host('links'), 'links:/tmp/']);
    expect(s.ok(['exec', 'links', 'readlink', '/tmp/links/to-secret'])).toBe(`${host('secret')}\n`);
    expect(s.run(['exec', 'links', 'cat', '/tmp/links/to-secret']).code).not.toBe(0);
    s.ok(['rm', '-f', 'links']);
  });

  it('- streams a tar: out of a directory or a file, into a directory (.wh. names are plain files, .. refused)', () => {
    s.ok(['run', '-d', '--name', 'tarry', 'busybox', 'sh', '-c', 'mkdir -p /d/s && echo one > /d/s/one && ln -s one /d/s/l && exec sleep 1000']);
    for (let i = 0; i < 100 && s.run(['exec', 'tarry', 'test', '-L', '/d/s/l']).code !== 0; i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    const raw = (args: string[], input?: Buffer) => spawnSync(tsrunBin, ['--root', s.root, '--runroot', s.runroot, ...args], { input, maxBuffer: 1 << 26 });
    const out = raw(['cp', 'tarry:/d', '-']);
    expect(out.status).toBe(0);
    const listing = execFileSync('tar', ['-tv'], { input: out.stdout, encoding: 'utf8' });
    expect(listing.split('\n').filter(Boolean).map((l) => l.split(/\s+/).slice(5).join(' '))).toEqual(['d/', 'd/s/', 'd/s/l -> one', 'd/s/one']);
    const file = raw(['cp', 'tarry:/d/s/one', '-']);
    expect(execFileSync('tar', ['-xO'], { input: file.stdout, encoding: 'utf8' })).toBe('one\n');

    const src = host('tar-src');
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(src, 'sub', 'f'), 'in\n');
    fs.writeFileSync(path.join(src, '.wh.keep'), 'not a whiteout\n');
    const tarIn = execFileSync('tar', ['-c', '-C', src, '.']);
    expect(raw(['cp', '-', 'tarry:/d'], tarIn).status).toBe(0);
    expect(s.ok(['exec', 'tarry', 'cat', '/d/sub/f', '/d/.wh.keep'])).toBe('in\nnot a whiteout\n');
    const evil = execFileSync('tar', ['-c', '-P', '--transform', 's,^.*f$,../../escape,', path.join(src, 'sub', 'f')]);
    const r = raw(['cp', '-', 'tarry:/d'], evil);
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toMatch(/refusing tar entry/);
    expect(s.run(['exec', 'tarry', 'ls', '/escape']).code).not.toBe(0);
    s.ok(['rm', '-f', 'tarry']);
  });

  it('keeps modification times both ways, and file capabilities where it keeps setuid bits', () => {
    s.ok(['run', '-d', '--name', 'timed', 'busybox', 'sh', '-c', 'mkdir /d; touch -d "2021-02-03 04:05:06" /d/f; touch -d "2020-01-01 00:00:00" /d; exec sleep 1000']);
    for (let i = 0; i < 100 && s.run(['exec', 'timed', 'test', '-f', '/d/f']).code !== 0; i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    fs.mkdirSync(host('times'), { recursive: true });
    s.ok(['cp', 'timed:/d', host('times')]);
    expect(fs.statSync(host('times/d/f')).mtime.toISOString()).toBe('2021-02-03T04:05:06.000Z');
    expect(fs.statSync(host('times/d')).mtime.toISOString()).toBe('2020-01-01T00:00:00.000Z');
    fs.writeFileSync(host('old'), 'old\n');
    fs.utimesSync(host('old'), new Date('2019-05-06T07:08:09Z'), new Date('2019-05-06T07:08:09Z'));
    execFileSync('setcap', ['cap_net_raw+ep', host('old')]);
    s.ok(['cp', host('old'), 'timed:/old']);
    expect(s.ok(['exec', 'timed', 'date', '-u', '-r', '/old', '+%FT%T'])).toBe('2019-05-06T07:08:09\n');
    // Into the container the capability comes along; out of it, only with -a (as a setuid bit).
    expect(execFileSync('getcap', [path.join(upper('timed'), 'old')], { encoding: 'utf8' })).toMatch(/cap_net_raw[=+]ep/);
    s.ok(['cp', 'timed:/old', host('capless')]);
    expect(execFileSync('getcap', [host('capless')], { encoding: 'utf8' })).toBe('');
    s.ok(['cp', '-a', 'timed:/old', host('capped')]);
    expect(execFileSync('getcap', [host('capped')], { encoding: 'utf8' })).toMatch(/cap_net_raw[=+]ep/);
    // "FILE/" names a directory: an existing file there is refused, both ways.
    expect(s.run(['cp', host('old'), 'timed:/old/'])).toMatchObject({ code: 1, stderr: 'tsrun: destination /old/ in container timed is not a directory\n' });
    expect(s.run(['cp', 'timed:/d/f', `${host('old')}/`])).toMatchObject({ code: 1, stderr: `tsrun: destination ${host('old')}/ is not a directory\n` });
    expect(fs.readFileSync(host('old'), 'utf8')).toBe('old\n');
    s.ok(['rm', '-f', 'timed']);
  });

  it('refuses bad requests with one line', () => {
    s.ok(['create', '--name', 'errs', 'busybox', 'true']);
    const missing = s.run(['cp', 'errs:/nope', host('x')]);
    expect(missing).toMatchObject({ code: 1, stderr: 'tsrun: could not find /nope in container errs: ENOENT\n' });
    expect(s.run(['cp', host('a'), host('b')])).toMatchObject({ code: 1, stderr: 'tsrun: copying needs exactly one CONTAINER:PATH, as the source or the destination\n' });
    expect(s.run(['cp', 'errs:/etc', 'errs:/tmp']).code).toBe(1);
    s.ok(['rm', 'errs']);
  });
});
