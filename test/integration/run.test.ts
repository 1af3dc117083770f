import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { storeForFile, until } from '../helpers/store.js';

const s = storeForFile('busybox', 'hello-world-v1');

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? [full, ...walk(full)] : [full];
  });
}

/** A fingerprint of every image layer's files, to prove containers never write to them. */
function imageLayersFingerprint(): string {
  const img = s.inspect('hello-world:v1');
  const dirs = [img.GraphDriver.Data.UpperDir, ...img.GraphDriver.Data.LowerDir.split(':')];
  return dirs
    .flatMap((d: string) => walk(d).map((f) => {
      const st = fs.lstatSync(f);
      return `${f} ${st.mode} ${st.size} ${st.mtimeMs} ${st.isFile() ? fs.readFileSync(f).toString('base64').slice(0, 64) : ''}`;
    }))
    .join('\n');
}

describe('tsrun run: namespaces and the container view', () => {
  it('runs the command as PID 1 and sees no host processes', () => {
    const r = s.run(['run', '--rm', 'busybox', 'sh', '-c', 'echo $$; ls -d /proc/[0-9]*']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [pid, ...procs] = r.stdout.trim().split('\n');
    expect(pid).toBe('1');
    for (const p of procs) expect(Number(path.basename(p))).toBeLessThan(10);
  });

  it('has its own hostname (the short id by default, or --hostname)', () => {
    const r = s.run(['run', '--rm', 'busybox', 'hostname']);
    expect(r.stdout.trim()).toMatch(/^[a-f0-9]{12}$/);
    expect(r.stdout.trim()).not.toBe(os.hostname());
    expect(s.ok(['run', '--rm', '--hostname', 'box', 'busybox', 'sh', '-c', 'hostname; cat /etc/hostname']).trim()).toBe('box\nbox');
  });

  it('does not see the host\'s mounts', () => {
    const mounts = s.ok(['run', '--rm', 'busybox', 'cat', '/proc/self/mountinfo']);
    // Mount points (field 5) are all inside the container; the sources may name host paths, as in docker.
    const points = mounts.trim().split('\n').map((l) => l.split(' ')[4]!);
    expect(points[0]).toBe('/');
    for (const mp of points) {
      expect(mp.startsWith(s.dir)).toBe(false);
      expect(mp.startsWith('/work')).toBe(false);
    }
    for (const want of ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/etc/hosts', '/etc/hostname', '/etc/resolv.conf']) {
      expect(points).toContain(want);
    }
  });

  it('has only lo in its network namespace, and lo is up', () => {
    const devs = s.ok(['run', '--rm', 'busybox', 'cat', '/proc/net/dev']).trim().split('\n').slice(2).map((l) => l.split(':')[0]!.trim());
    expect(devs).toEqual(['lo']);
    expect(s.ok(['run', '--rm', 'busybox', 'ip', 'link', 'show', 'lo'])).toMatch(/<LOOPBACK,UP/);
  });

  it('gets a minimal /dev, a read-only /sys and the /dev symlinks', () => {
    const out = s.ok(['run', '--rm', 'busybox', 'sh', '-c', 'ls /dev; readlink /dev/fd; readlink /dev/ptmx; touch /sys/x 2>&1; echo x > /dev/null && echo null-ok']);
    for (const d of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'pts', 'shm', 'mqueue', 'stdin', 'stdout', 'stderr']) {
      expect(out.split('\n')).toContain(d);
    }
    expect(out).toContain('/proc/self/fd\npts/ptmx');
    expect(out).toMatch(/Read-only file system/);
    expect(out).toContain('null-ok');
  });

  it('passes env, working dir (created when missing) and user', () => {
    const out = s.ok(['run', '--rm', '-e', 'FOO=bar', '-w', '/made/here', '-u', '1000:1000', 'busybox', 'sh', '-c', 'echo $FOO; pwd; id -u; id -g; echo $HOME']);
    expect(out).toBe('bar\n/made/here\n1000\n1000\n/home/app\n');
    expect(s.ok(['run', '--rm', '-u', 'app', 'busybox', 'id', '-un']).trim()).toBe('app');
    // The image's USER, unless -u says otherwise; exec runs as it too.
    s.ok(['run', '--name', 'as-root', 'busybox', 'true']);
    s.ok(['commit', '--change', 'USER app', 'as-root', 'busybox-app:1']);
    s.ok(['rm', 'as-root']);
    expect(s.ok(['run', '--rm', 'busybox-app:1', 'id', '-un'])).toBe('app\n');
    expect(s.ok(['run', '--rm', '-u', 'root', 'busybox-app:1', 'id', '-un'])).toBe('root\n');
    const id = s.ok(['run', '-d', 'busybox-app:1', 'sleep', '100']).trim();
    expect(s.ok(['exec', id, 'id', '-un'])).toBe('app\n');
    s.ok(['rm', '-f', id]);
    s.ok(['rmi', 'busybox-app:1']);
    const envFile = path.join(s.dir, 'run.env');
    fs.writeFileSync(envFile, 'FOO=from file\nBAR=1\n');
    expect(s.ok(['run', '--rm', '--env-file', envFile, '-e', 'BAR=2', 'busybox', 'sh', '-c', 'echo $FOO $BAR'])).toBe('from file 2\n');
    // The file is the container's, never Node's own --env-file (Node 20 reads one from after the script's name too).
    fs.writeFileSync(envFile, 'NODE_OPTIONS=--require /nonexistent-tsrun-test\n');
    expect(s.ok(['run', '--rm', '--env-file', envFile, 'busybox', 'sh', '-c', 'echo $NODE_OPTIONS'])).toBe('--require /nonexistent-tsrun-test\n');
    expect(s.run(['run', '--rm', '--env-file', path.join(s.dir, 'missing.env'), 'busybox', 'true'])).toMatchObject({ code: 125, stderr: `tsrun: cannot read the env file ${path.join(s.dir, 'missing.env')}: ENOENT\n` });
  });

  it('starts the process with no signal ignored or blocked (glibc internal ones included)', () => {
    expect(s.ok(['run', '--rm', 'busybox', 'grep', '-E', '^Sig(Ign|Blk)', '/proc/self/status'])).toBe('SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n');
  });
});

describe('tsrun run: layers and copy-on-write', () => {
  it('shows the top layer\'s /hello.txt', () => {
    expect(s.ok(['run', '--rm', 'hello-world:v1', 'cat', '/hello.txt'])).toBe('this is an update to the hello.txt\n');
  });

  it('puts new files, whiteouts and copy-ups in the upper dir, never in an image layer', () => {
    const before = imageLayersFingerprint();
    s.ok(['run', '--name', 'cow', 'hello-world:v1', 'sh', '-c', 'echo new > /new.txt; echo more >> /hello.txt; rm /bin/ls']);
    const c = s.inspect('cow');
    const upper = c.GraphDriver.Data.UpperDir as string;
    expect(fs.readFileSync(path.join(upper, 'new.txt'), 'utf8')).toBe('new\n');
    expect(fs.readFileSync(path.join(upper, 'hello.txt'), 'utf8')).toBe('this is an update to the hello.txt\nmore\n');
    const wh = fs.lstatSync(path.join(upper, 'bin/ls'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(imageLayersFingerprint()).toBe(before);
    const img = s.inspect('hello-world:v1');
    for (const d of [img.GraphDriver.Data.UpperDir, ...img.GraphDriver.Data.LowerDir.split(':')]) {
      expect(fs.existsSync(path.join(d, 'new.txt'))).toBe(false);
    }
    // The upper dir outlives the container's process, and the merged mount is gone.
    expect(s.mounts()).toEqual([]);
    s.ok(['rm', 'cow']);
    expect(fs.existsSync(upper)).toBe(false);
  });

  it('mounts the union of a container removed at its exit volatile (no sync of the host\'s disk), and mounts it again at a restart', () => {
    const rootOptions = (mountinfo: string) => mountinfo.split('\n').find((l) => l.split(' ')[4] === '/')!.split(' - ')[1]!;
    // Linux 6.x shows it as fsync=volatile.
    const volatile = /,(fsync=)?volatile(,|$)/;
    expect(rootOptions(s.ok(['run', '--rm', 'busybox', 'cat', '/proc/self/mountinfo']))).toMatch(volatile);
    expect(rootOptions(s.ok(['run', '--name', 'kept', 'busybox', 'cat', '/proc/self/mountinfo']))).not.toMatch(volatile);
    s.ok(['rm', 'kept']);
    // The kernel refuses a second mount of an upper dir once mounted volatile, until its work dir's mark is gone.
    s.ok(['run', '-d', '--rm', '--name', 'vol', 'busybox', 'sleep', '100']);
    try {
      s.ok(['restart', '-t', '0', 'vol']);
      expect(rootOptions(s.ok(['exec', 'vol', 'cat', '/proc/self/mountinfo']))).toMatch(volatile);
    } finally {
      s.run(['rm', '-f', 'vol']);
    }
  });

  it('clears the volatile mark of a mount made in this boot, and refuses one left from an earlier boot (the host went down: writes may be torn)', () => {
    s.ok(['run', '--name', 'marked', 'busybox', 'true']);
    try {
      const mark = path.join(s.inspect('marked').GraphDriver.Data.WorkDir as string, 'work', 'incompat', 'volatile');
      fs.mkdirSync(mark, { recursive: true });
      const bootMs = Number(/^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'))![1]) * 1000;
      const before = new Date(bootMs - 60_000);
      fs.utimesSync(mark, before, before);
      const r = s.run(['start', '-a', 'marked']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/was mounted volatile .* when the host went down: its files may be torn; remove the container\n$/);
      fs.utimesSync(mark, new Date(), new Date());
      expect(s.run(['start', '-a', 'marked']).code).toBe(0);
      expect(fs.existsSync(mark)).toBe(false);
    } finally {
      s.run(['rm', '-f', 'marked']);
    }
  });
});

describe('tsrun run: exit codes and errors', () => {
  it('returns the container\'s exit code', () => {
    expect(s.run(['run', '--rm', 'busybox', 'true']).code).toBe(0);
    expect(s.run(['run', '--rm', 'busybox', 'sh', '-c', 'exit 7']).code).toBe(7);
  });

  it('gives 127 for a command not found and 126 for one that cannot run', () => {
    const nf = s.run(['run', '--rm', 'busybox', 'no-such-command']);
    expect(nf.code).toBe(127);
    expect(nf.stderr).toBe('tsrun: executing no-such-command: ENOENT (no such file or directory)\n');
    const nx = s.run(['run', '--rm', 'busybox', '/etc/passwd']);
    expect(nx.code).toBe(126);
    expect(nx.stderr).toMatch(/^tsrun: executing \/etc\/passwd: EACCES/);
  });

  it('gives 125 with one line for tsrun\'s own errors', () => {
    const img = s.run(['run', '--rm', '--pull', 'never', 'no-such-image']);
    expect(img.code).toBe(125);
    expect(img.stderr).toBe('tsrun: no such image: no-such-image\n');
    const flag = s.run(['run', '--bogus', 'busybox']);
    expect(flag.code).toBe(125);
    expect(flag.stderr.split('\n')[0]).toMatch(/^tsrun: unknown option '--bogus'/);
  });

  it('reports the failing step of the child: -w naming a file fails chdir with ENOTDIR', () => {
    const r = s.run(['run', '--rm', '-w', '/etc/passwd', 'busybox', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe('tsrun: changing to the working directory /etc/passwd: ENOTDIR (not a directory)\n');
  });

  it('a user starts in a working directory only root may enter (chdir before the user switch, as runc\'s)', () => {
    expect(s.run(['run', '--rm', '-u', '1000', '-w', '/root', 'busybox', 'sh', '-c', 'pwd; ls . 2>&1 >/dev/null | grep -c denied'])).toMatchObject({ code: 0, stdout: '/root\n1\n' });
  });

  it('refuses a working directory in /proc/self/fd (CVE-2024-21626)', () => {
    // Refused at create: no container is left holding the name.
    for (const w of ['relative', '/proc/self/fd/5']) {
      expect(s.run(['run', '--name', 'badwd', '-w', w, 'busybox', 'true']).code).toBe(125);
      expect(s.run(['inspect', 'badwd']).code).not.toBe(0);
    }
    const r = s.run(['run', '--rm', '-w', '/proc/self/fd/5', 'busybox', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/CVE-2024-21626/);
  });

  it('mounts nothing on or under /proc but lxcfs\'s files (runc\'s rule; CVE-2019-16884 covered /proc/self/attr)', () => {
    for (const flags of [['--tmpfs', '/proc'], ['-v', `${s.dir}:/proc/sys/kernel`], ['--tmpfs', '/proc/self/attr']]) {
      const r = s.run(['run', '--rm', ...flags, 'busybox', 'true']);
      expect(r).toMatchObject({ code: 125, stderr: expect.stringMatching(/^tsrun: cannot mount on \/proc\S*: it is inside \/proc, where only procfs itself \(and lxcfs's files\) may be mounted\n$/) });
    }
    expect(s.ok(['run', '--rm', '-v', '/proc/meminfo:/proc/meminfo:ro', 'busybox', 'head', '-c', '9', '/proc/meminfo'])).toBe('MemTotal:');
  });

  it('leaves nothing behind after a failed --rm run', () => {
    s.run(['run', '--rm', 'busybox', 'no-such-command']);
    expect(s.ok(['ps', '-aq'])).toBe('');
    expect(s.mounts()).toEqual([]);
  });
});

describe('tsrun run -d, ps, inspect, rm', () => {
  it('returns at once under piped stdio and records the exit code (runc#1047)', async () => {
    const r = await s.runAsync(['run', '-d', '--name', 'quick', 'busybox', 'sh', '-c', 'sleep 1; exit 3'], 10_000);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^[a-f0-9]{64}$/);
    expect(s.inspect('quick').State.Running).toBe(true);
    await until(() => s.inspect('quick').State.Status === 'exited');
    const st = s.inspect('quick').State;
    expect(st.ExitCode).toBe(3);
    expect(s.ok(['ps', '-a'])).toMatch(/Exited \(3\) .* ago\s+quick/);
    expect(s.ok(['ps'])).not.toContain('quick');
    s.ok(['rm', 'quick']);
  });

  it('shows the union on the host while it runs, with Docker\'s GraphDriver data', async () => {
    const id = s.ok(['run', '-d', '--name', 'helloworld', 'hello-world:v1', 'sh', '-c', 'echo hi > /from-ctr.txt; sleep 1000']).trim();
    const c = s.inspect('helloworld');
    expect(c.Id).toBe(id);
    expect(c.Name).toBe('/helloworld');
    expect(c.State).toMatchObject({ Status: 'running', Running: true, ExitCode: 0 });
    expect(c.State.Pid).toBeGreaterThan(1);
    expect(c.GraphDriver.Name).toBe('overlay2');
    const { LowerDir, UpperDir, MergedDir, WorkDir } = c.GraphDriver.Data;
    const img = s.inspect('hello-world:v1');
    const lowers = LowerDir.split(':');
    expect(lowers[0]).toBe(path.join(s.root, 'overlay', `${id}-init`, 'diff'));
    expect(lowers.slice(1)).toEqual([img.GraphDriver.Data.UpperDir, ...img.GraphDriver.Data.LowerDir.split(':')]);
    expect(UpperDir).toBe(path.join(s.root, 'overlay', id, 'diff'));
    expect(WorkDir).toBe(path.join(s.root, 'overlay', id, 'work'));
    expect(s.mounts()).toContain(MergedDir);
    expect(fs.readFileSync(path.join(MergedDir, 'hello.txt'), 'utf8')).toBe('this is an update to the hello.txt\n');
    await until(() => fs.existsSync(path.join(UpperDir, 'from-ctr.txt')));
    expect(s.ok(['ps'])).toMatch(/hello-world:v1\s+"sh -c 'echo hi > …"|helloworld/);

    s.ok(['rm', '-f', 'helloworld']);
    expect(s.mounts()).toEqual([]);
    expect(fs.existsSync(path.join(s.root, 'overlay', id))).toBe(false);
    expect(fs.existsSync(path.join(s.root, 'overlay', `${id}-init`))).toBe(false);
    expect(fs.existsSync(path.join(s.root, 'containers', id))).toBe(false);
    const links = fs.readdirSync(path.join(s.root, 'overlay', 'l')).map((l) => fs.readlinkSync(path.join(s.root, 'overlay', 'l', l)));
    expect(links.some((l) => l.includes(id))).toBe(false);
    // No process of the container is left.
    expect(fs.existsSync(`/proc/${c.State.Pid}`)).toBe(false);
  });

  it('refuses rm of a running container without -f, and duplicate names', () => {
    s.ok(['run', '-d', '--name', 'busy', 'busybox', 'sleep', '1000']);
    const rm = s.run(['rm', 'busy']);
    expect(rm.code).not.toBe(0);
    expect(rm.stderr).toMatch(/busy is running/);
    const dup = s.run(['run', '-d', '--name', 'busy', 'busybox', 'true']);
    expect(dup.code).toBe(125);
    expect(dup.stderr).toMatch(/already in use/);
    s.ok(['rm', '-f', 'busy']);
  });

  it('run -d --rm removes the container when it exits', async () => {
    const id = s.ok(['run', '-d', '--rm', 'busybox', 'true']).trim();
    await until(() => !fs.existsSync(path.join(s.root, 'containers', id)));
    expect(fs.existsSync(path.join(s.root, 'overlay', id))).toBe(false);
  });

  it('rebuilds a lost l/ link instead of failing to mount (containers/storage#326)', () => {
    const img = s.inspect('hello-world:v1');
    const top = path.dirname(img.GraphDriver.Data.UpperDir);
    const linkId = fs.readFileSync(path.join(top, 'link'), 'utf8').trim();
    fs.unlinkSync(path.join(s.root, 'overlay', 'l', linkId));
    const r = s.run(['run', '--rm', 'hello-world:v1', 'cat', '/hello.txt']);
    expect(r.stdout).toBe('this is an update to the hello.txt\n');
    expect(fs.readlinkSync(path.join(s.root, 'overlay', 'l', linkId))).toBe(`../${path.basename(top)}/diff`);
  });

  it('refuses an image missing a layer record, and leaves no container behind', () => {
    const image = s.inspect('hello-world:v1');
    const [base, middle] = image.RootFS.Layers as string[];
    const chainId = crypto.createHash('sha256').update(`${base} ${middle}`).digest('hex');
    const entry = path.join(s.root, 'image', 'layerdb', 'sha256', chainId);
    fs.renameSync(entry, `${entry}.away`);
    try {
      const r = s.run(['run', '--rm', 'hello-world:v1', 'true']);
      expect(r.code).toBe(125);
      expect(r.stderr).toBe(`tsrun: image ${image.Id.slice(7, 19)} is missing its layer sha256:${chainId}\n`);
      expect(s.ok(['ps', '-aq'])).toBe('');
    } finally {
      fs.renameSync(`${entry}.away`, entry);
    }
  });

  it('names a lower layer whose dir is gone (no rebuilding that), and leaves no container or mount', () => {
    const img = s.inspect('hello-world:v1');
    // The middle one of its three layers: run reads only the top layer's record, so the mount is where it shows.
    const middle = img.GraphDriver.Data.LowerDir.split(':')[0] as string;
    const dir = path.dirname(middle);
    fs.renameSync(dir, `${dir}.away`);
    try {
      const r = s.run(['run', '--rm', 'hello-world:v1', 'true']);
      expect(r.code).toBe(125);
      expect(r.stderr).toMatch(/^tsrun: a layer below \S+ is gone \(l\/\w+ names no layer dir\); remove the image and load or pull it again\n$/);
      expect(s.ok(['ps', '-aq'])).toBe('');
      expect(s.mounts()).toEqual([]);
    } finally {
      fs.renameSync(`${dir}.away`, dir);
    }
    expect(s.run(['run', '--rm', 'hello-world:v1', 'cat', '/hello.txt']).stdout).toBe('this is an update to the hello.txt\n');
  });

  it('rm never deletes through a mount left inside a container layer (containerd#10704)', () => {
    s.ok(['run', '--name', 'pinned', 'busybox', 'true']);
    const upper = s.inspect('pinned').GraphDriver.Data.UpperDir as string;
    const victim = fs.mkdtempSync(path.join(s.dir, 'victim-'));
    fs.writeFileSync(path.join(victim, 'precious'), 'keep me');
    fs.mkdirSync(path.join(upper, 'mnt'));
    // A mount a failed unmount could have left behind (the test may use mount(8); tsrun never does).
    execFileSync('mount', ['--bind', victim, path.join(upper, 'mnt')]);
    try {
      const r = s.run(['rm', 'pinned']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/mount point/);
      expect(fs.readFileSync(path.join(victim, 'precious'), 'utf8')).toBe('keep me');
    } finally {
      execFileSync('umount', [path.join(upper, 'mnt')]);
    }
    s.ok(['rm', 'pinned']);
    expect(fs.readFileSync(path.join(victim, 'precious'), 'utf8')).toBe('keep me');
  });

  it('accepts unique id prefixes', () => {
    const id = s.ok(['run', '-d', 'busybox', 'sleep', '1000']).trim();
    expect(s.inspect(id.slice(0, 5)).Id).toBe(id);
    s.ok(['rm', '-f', id.slice(0, 8)]);
    expect(s.ok(['ps', '-aq'])).toBe('');
  });
});
