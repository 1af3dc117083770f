import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadNative } from '../../src/native/binding.js';
import { cgroupDirs, cgroupHost, uniqueDirs } from '../../src/runtime/cgroups/host.js';
import { defaultSpec } from '../../src/oci/default-spec.js';
import { DEFAULT_SECCOMP_PROFILE, resolveSeccompProfile } from '../../src/runtime/plan/seccomp.js';
import type { OciHook, OciSpec } from '../../src/oci/spec.js';
import { recordTeardownPreload, repo, until } from '../helpers/store.js';

/**
 * tsrun-oci, runc's command line, on OCI bundles: the verbs of runtime.md
 * and what runc's callers rely on (pass-through stdio, the init reparented
 * after create, pid files, --log). Every container runs under a private
 * --root; each test deletes what it made, and afterAll checks that no
 * mount, process or cgroup is left.
 */

const ociBin = path.join(repo, 'bin/tsrun-oci');
let dir: string;
let root: string;
let rootfs: string;
const ids = new Set<string>();

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-oci-'));
  root = path.join(dir, 'state');
  rootfs = path.join(dir, 'rootfs');
  fs.mkdirSync(rootfs);
  execFileSync('tar', ['-xf', path.join(inject('fixturesDir'), 'busybox-rootfs.tar'), '-C', rootfs]);
});

afterEach(() => {
  for (const id of ids) oci(['delete', '--force', id]);
  ids.clear();
});

afterAll(() => {
  const left = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m?.startsWith(dir));
  const native = loadNative();
  for (const m of left.sort((a, b) => b!.length - a!.length)) native.unmount({ target: m!, flags: native.constants.MNT_DETACH });
  fs.rmSync(dir, { recursive: true, force: true });
  expect(left).toEqual([]);
});

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs tsrun-oci with stdout and stderr in files, not pipes: a created or
 * detached container keeps the caller's stdio (as runc's does), so a pipe
 * would see EOF only when the container exits.
 */
let calls = 0;
function oci(args: string[], opts: { input?: string; globals?: string[] } = {}): Result {
  // Fresh files each call: a container created earlier still writes into the ones it was given.
  const out = path.join(dir, `out.${++calls}`);
  const err = path.join(dir, `err.${calls}`);
  const fds = [fs.openSync(out, 'w'), fs.openSync(err, 'w')];
  try {
    const r = spawnSync(ociBin, ['--root', root, ...(opts.globals ?? []), ...args], { input: opts.input ?? '', stdio: ['pipe', fds[0]!, fds[1]!], timeout: 30_000 });
    if (r.error) throw r.error;
    return { code: r.status ?? 128, stdout: fs.readFileSync(out, 'utf8'), stderr: fs.readFileSync(err, 'utf8') };
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
}

function ok(args: string[]): string {
  const r = oci(args);
  if (r.code !== 0) throw new Error(`tsrun-oci ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** A bundle dir whose config.json is runc's example with `edit` applied; rootfs shared (read-only root). */
function bundle(name: string, edit: (s: OciSpec) => void): string {
  const b = path.join(dir, `bundle-${name}`);
  fs.mkdirSync(b, { recursive: true });
  const spec = defaultSpec();
  spec.root.path = rootfs;
  spec.process.terminal = false;
  edit(spec);
  fs.writeFileSync(path.join(b, 'config.json'), JSON.stringify(spec));
  return b;
}

const sh = (script: string) => (s: OciSpec) => {
  s.process.args = ['sh', '-c', script];
};

function state(id: string): { status: string; pid: number; bundle: string; id: string } {
  return JSON.parse(ok(['state', id]));
}

const comm = (pid: number) => fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
const ppid = (pid: number) => Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
const cgroupDir = (id: string) => `/sys/fs/cgroup/memory/tsrun-oci/${id}`;

describe('tsrun-oci run', () => {
  it('runs in the foreground with the caller\'s own stdio, exits with the status and deletes the container', () => {
    const b = bundle('fg', sh('echo out; echo err >&2; hostname; echo pid $$; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; exit 3'));
    const spec = JSON.parse(fs.readFileSync(path.join(b, 'config.json'), 'utf8')) as OciSpec;
    spec.linux.resources = { memory: { limit: 64 * 1024 * 1024 } };
    fs.writeFileSync(path.join(b, 'config.json'), JSON.stringify(spec));
    const r = oci(['run', '--bundle', b, 'fg']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe(`out\ntsrun\npid 1\n${64 * 1024 * 1024}\n`);
    expect(r.stderr).toBe('err\n');
    // run deletes the container after it: no state, no cgroup.
    expect(fs.existsSync(path.join(root, 'fg'))).toBe(false);
    expect(fs.existsSync(cgroupDir('fg'))).toBe(false);
  });

  it('hands the teardown of its memory to a holder at exit (native/addon/exit.cc)', () => {
    const out = path.join(dir, 'teardown-holder');
    const r = spawnSync(ociBin, ['--root', root, 'run', '--bundle', bundle('holder', sh('exit 0')), 'holder'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: `--require ${recordTeardownPreload(dir, out)}` },
    });
    expect(r.stderr.toString()).toBe('');
    expect(r.status).toBe(0);
    const holder = JSON.parse(fs.readFileSync(out, 'utf8')) as { pid: number; cmdline: string };
    expect(holder.pid).toBeGreaterThan(0);
    // Not the command's own line: a `pgrep -f` for what ran does not find the holder while it unmaps.
    expect(holder.cmdline).toBe('tsrun-exit');
  });

  it('roots the cgroup namespace at the container\'s own cgroups, for its process and an exec\'d one', async () => {
    // Made by the init once inside its cgroups (cgroup_namespaces(7)): every line reads "/".
    const b = bundle('cgns', (s) => {
      s.process.args = ['sh', '-c', 'cat /proc/self/cgroup; sleep 100'];
    });
    ids.add('cgns');
    ok(['create', '-b', b, 'cgns']);
    ok(['start', 'cgns']);
    const own = ok(['exec', 'cgns', 'cat', '/proc/self/cgroup']).trim().split('\n');
    expect(own.length).toBeGreaterThan(0);
    for (const line of own) expect(line).toMatch(/^\d+:[^:]*:\/$/);
    expect(fs.readlinkSync(`/proc/${state('cgns').pid}/ns/cgroup`)).not.toBe(fs.readlinkSync('/proc/self/ns/cgroup'));
    ok(['delete', '--force', 'cgns']);
    ids.delete('cgns');
  });

  it('sets process.oomScoreAdj (Kubernetes\' per-QoS score) for the process and an exec; refuses one out of range', () => {
    const b = bundle('oom', (s) => {
      s.process.args = ['cat', '/proc/self/oom_score_adj'];
      s.process.oomScoreAdj = 400;
    });
    expect(ok(['run', '-b', b, 'oom'])).toBe('400\n');
    const bad = bundle('oombad', (s) => (s.process.oomScoreAdj = 5000));
    expect(oci(['create', '-b', bad, 'oombad'])).toMatchObject({ code: 1, stderr: expect.stringContaining('process.oomScoreAdj must be an integer from -1000 to 1000') });
  });

  it('an AppArmor profile on a host without AppArmor is refused, never run unconfined (runc\'s rule)', () => {
    const enabled = fs.existsSync('/sys/module/apparmor/parameters/enabled') && fs.readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
    const b = bundle('aa', (s) => (s.process.apparmorProfile = 'tsrun-test-nonexistent'));
    const r = oci(['create', '-b', b, 'aa']);
    expect(r.code).toBe(1);
    // With AppArmor, a profile the kernel does not know fails at the attr write instead.
    expect(r.stderr).toContain(enabled ? 'setting the AppArmor profile tsrun-test-nonexistent' : 'process.apparmorProfile "tsrun-test-nonexistent": AppArmor is not enabled on this host');
    expect(fs.existsSync(path.join(root, 'aa'))).toBe(false);
  });

  it('refuses a limit it would not apply, with its name, at create and at update; an empty one passes', () => {
    const b = bundle('rdma', (s) => {
      s.linux.resources = { rdma: { mlx5_0: { hcaHandles: 3 } }, hugepageLimits: [] } as never;
    });
    expect(oci(['create', '-b', b, 'rdma'])).toMatchObject({ code: 1, stderr: expect.stringContaining('linux.resources.rdma is not supported') });
    ids.add('upd');
    // What Go callers send for fields they leave at zero (a blockIO weight of 0) asks for nothing; a reservation and a swappiness are applied.
    const upd = bundle('upd', (s) => {
      s.process.args = ['sleep', '1000'];
      s.linux.resources = { blockIO: { weight: 0 }, memory: { reservation: 16 << 20, swappiness: 10 } } as never;
    });
    ok(['run', '-d', '-b', upd, 'upd']);
    const memory = (file: string) => fs.readFileSync(path.join(cgroupDir('upd'), file), 'utf8').trim();
    expect([memory('memory.soft_limit_in_bytes'), memory('memory.swappiness')]).toEqual([String(16 << 20), '10']);
    const r = spawnSync(ociBin, ['--root', root, 'update', '-r', '-', 'upd'], { input: JSON.stringify({ memory: { limit: 64 << 20, useHierarchy: true }, unified: {} }), encoding: 'utf8' });
    expect(r).toMatchObject({ status: 1, stderr: 'tsrun-oci: update: resources.memory.useHierarchy is not supported\n' });
    // Kernel memory is gone from the kernel: ignored with a warning, as runc's.
    const k = spawnSync(ociBin, ['--root', root, 'update', '-r', '-', 'upd'], { input: JSON.stringify({ memory: { limit: 64 << 20, kernel: 1 << 20 } }), encoding: 'utf8' });
    expect(k).toMatchObject({ status: 0, stderr: 'tsrun-oci: warning: kernel memory settings are ignored (component=oci, field=resources.memory.kernel)\n' });
    expect(memory('memory.limit_in_bytes')).toBe(String(64 << 20));
    ok(['delete', '--force', 'upd']);
    ids.delete('upd');
  });

  it('blockIO throttles and disableOOMKiller land in the cgroup (v1 files, as runc writes them), at create and at update; a weight needs a scheduler with weights', () => {
    const disk = fs.statSync('/dev/vda', { throwIfNoEntry: false }) ?? fs.statSync(execFileSync('findmnt', ['-no', 'SOURCE', '/'], { encoding: 'utf8' }).trim());
    const [major, minor] = [Math.floor(disk.rdev / 256), disk.rdev % 256];
    ids.add('io');
    const io = bundle('io', (s) => {
      s.process.args = ['sleep', '1000'];
      s.linux.resources = { memory: { disableOOMKiller: true }, blockIO: { throttleReadBpsDevice: [{ major, minor, rate: 1 << 20 }], throttleWriteIOPSDevice: [{ major, minor, rate: 100 }] } } as never;
    });
    ok(['run', '-d', '-b', io, 'io']);
    const blkio = (file: string) => fs.readFileSync(`/sys/fs/cgroup/blkio/tsrun-oci/io/${file}`, 'utf8').trim();
    expect(blkio('blkio.throttle.read_bps_device')).toBe(`${major}:${minor} ${1 << 20}`);
    expect(blkio('blkio.throttle.write_iops_device')).toBe(`${major}:${minor} 100`);
    expect(fs.readFileSync(path.join(cgroupDir('io'), 'memory.oom_control'), 'utf8')).toMatch(/^oom_kill_disable 1$/m);
    const r = spawnSync(ociBin, ['--root', root, 'update', '-r', '-', 'io'], { input: JSON.stringify({ blockIO: { throttleReadBpsDevice: [{ major, minor, rate: 2 << 20 }] } }), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(blkio('blkio.throttle.read_bps_device')).toBe(`${major}:${minor} ${2 << 20}`);
    ok(['delete', '--force', 'io']);
    ids.delete('io');
    const blkioOf = (id: string, file: string) => fs.readFileSync(`/sys/fs/cgroup/blkio/tsrun-oci/${id}/${file}`, 'utf8').trim();
    // A weight goes to CFQ's blkio.weight or BFQ's blkio.bfq.weight, whichever the kernel has; with neither it is refused.
    ids.add('weighted');
    const weighted = oci(['create', '-b', bundle('weighted', (s) => (s.linux.resources = { blockIO: { weight: 500 } } as never)), 'weighted']);
    const schedulerWeight = ['blkio.weight', 'blkio.bfq.weight'].find((f) => fs.existsSync(`/sys/fs/cgroup/blkio/tsrun-oci/${f}`));
    if (schedulerWeight) {
      expect(weighted.code, weighted.stderr).toBe(0);
      expect(blkioOf('weighted', schedulerWeight).replace(/^default /, '')).toBe('500');
    } else {
      expect(weighted).toMatchObject({ code: 1, stderr: expect.stringContaining('blockIO weights need an I/O scheduler with weights') });
    }
    oci(['delete', '--force', 'weighted']);
    ids.delete('weighted');
    expect(oci(['create', '-b', bundle('heavy', (s) => (s.linux.resources = { blockIO: { weight: 5000 } } as never)), 'heavy'])).toMatchObject({ code: 1, stderr: expect.stringContaining('linux.resources.blockIO.weight must be from 10 to 1000: 5000') });
  });

  it('a memory limit too low to start in is named as the reason, at run and at create (the OOM killer took the process before its execve)', () => {
    for (const [cmd, id] of [['run', 'tiny-run'], ['create', 'tiny-created']] as const) {
      ids.add(id);
      const r = oci([cmd, '-b', bundle(id, (s) => (s.linux.resources = { memory: { limit: 100 * 1024 } })), id]);
      expect(r).toMatchObject({ code: 1, stderr: 'tsrun-oci: starting the process: it was killed by the OOM killer: the memory limit is too low for it to start\n' });
      oci(['delete', '--force', id]);
      ids.delete(id);
    }
  });

  it('checkpoint and restore say they are not supported (no CRIU), not "unknown command"', () => {
    expect(oci(['checkpoint', '--image-path', dir, 'any'])).toMatchObject({ code: 1, stderr: 'tsrun-oci: checkpoint is not supported: tsrun-oci cannot checkpoint or restore containers (it has no CRIU support)\n' });
    expect(oci(['restore', '-b', dir, 'any']).stderr).toMatch(/^tsrun-oci: restore is not supported/);
  });

  it('run --keep leaves the stopped container for state and delete', () => {
    ids.add('kept');
    expect(oci(['run', '--keep', '-b', bundle('kept', sh('exit 4')), 'kept']).code).toBe(4);
    expect(state('kept')).toMatchObject({ status: 'stopped', pid: 0 });
    ok(['delete', 'kept']);
    ids.delete('kept');
  });

  it('passes systemd\'s listening sockets (LISTEN_FDS for this pid) to the process first, then --preserve-fds, and tells it so', () => {
    const b = bundle('sock', sh('for fd in 3 4 5; do readlink /proc/self/fd/$fd | cut -d: -f1; done; echo $LISTEN_FDS $LISTEN_PID'));
    const file = path.join(dir, 'preserved');
    fs.writeFileSync(file, '');
    // A shell that makes fds 3 and 4 sockets (socat is not there: python's are), names itself in LISTEN_PID and execs tsrun-oci with fd 5 to preserve.
    const py = [
      'import os, socket, sys',
      'a, b = socket.socket(), socket.socket()',
      'os.dup2(a.fileno(), 3); os.dup2(b.fileno(), 4); os.dup2(os.open(sys.argv[1], os.O_RDONLY), 5)',
      // Python opens everything close-on-exec, and a dup2 onto the same number keeps that.
      'for fd in (3, 4, 5): os.set_inheritable(fd, True)',
      'os.environ.update(LISTEN_FDS="2", LISTEN_PID=str(os.getpid()))',
      'os.execv(sys.argv[2], sys.argv[2:])',
    ].join('\n');
    const r = spawnSync('python3', ['-c', py, file, ociBin, '--root', root, 'run', '--preserve-fds', '1', '-b', b, 'sock'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`socket\nsocket\n${file}\n2 1\n`);
    // Without LISTEN_PID naming tsrun-oci, LISTEN_FDS is someone else's: nothing passed.
    const other = spawnSync(ociBin, ['--root', root, 'run', '-b', b, 'sock'], { encoding: 'utf8', env: { ...process.env, LISTEN_FDS: '2', LISTEN_PID: '1' } });
    expect(other.stdout).toBe('\n');
  });

  it('removes the cgroups a container made under its own (rw cgroup mount, as systemd in it would)', () => {
    const b = bundle('subcg', (s) => {
      const cg = s.mounts.find((m) => m.type === 'cgroup')!;
      cg.options = ['nosuid', 'noexec', 'nodev', 'rw'];
      s.process.args = ['sh', '-c', 'mkdir /sys/fs/cgroup/memory/sub && echo $$ > /sys/fs/cgroup/memory/sub/cgroup.procs && sleep 0.1 & wait'];
    });
    ok(['run', '-b', b, 'subcg']);
    expect(fs.existsSync(path.join(cgroupDir('subcg'), 'sub'))).toBe(false);
    expect(fs.existsSync(cgroupDir('subcg'))).toBe(false);
  });

  it('passes stdin through', () => {
    const b = bundle('stdin', sh('read line; echo got $line'));
    expect(oci(['run', '-b', b, 'stdin'], { input: 'hello\n' }).stdout).toBe('got hello\n');
  });

  it('runs detached and leaves the process to the caller', async () => {
    const b = bundle('det', (s) => (s.process.args = ['sleep', '1000']));
    ids.add('det');
    ok(['run', '-d', '-b', b, '--pid-file', path.join(dir, 'det.pid'), 'det']);
    const pid = Number(fs.readFileSync(path.join(dir, 'det.pid'), 'utf8'));
    expect(state('det')).toMatchObject({ status: 'running', pid });
    expect(comm(pid)).toBe('sleep');
    expect(comm(ppid(pid))).not.toBe('tsrun:[monitor]');
  });
});

describe('tsrun-oci create/start/state/kill/delete', () => {
  it('goes through the runtime spec\'s lifecycle', async () => {
    const b = bundle('life', sh('trap "echo term; exit 42" TERM; echo started > /dev/shm/x; while :; do sleep 0.1; done'));
    ids.add('life');
    const pidFile = path.join(dir, 'life.pid');
    ok(['create', '--bundle', b, '--pid-file', pidFile, 'life']);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(state('life')).toEqual(expect.objectContaining({ id: 'life', status: 'created', pid, bundle: b }));
    // Set up but not yet running the process: the init waits before execve, and its monitor is gone.
    expect(comm(pid)).toBe('tsrun:[init]');
    expect(comm(ppid(pid))).not.toBe('tsrun:[monitor]');
    expect(oci(['start', 'nosuch']).code).toBe(1);

    ok(['start', 'life']);
    await until(() => comm(pid) === 'sh');
    expect(state('life').status).toBe('running');
    expect(oci(['start', 'life'])).toMatchObject({ code: 1, stderr: 'tsrun-oci: cannot start container life: it is running, not created\n' });
    expect(ok(['list', '-q'])).toContain('life\n');
    expect(JSON.parse(ok(['ps', '--format', 'json', 'life']))).toContain(pid);
    // As runc (go-runc's Top parses it): ps(1)'s header and the container's rows, with its options (default -ef).
    const table = (args: string[]) => ok(['ps', ...args]).trim().split('\n').map((l) => l.trim().split(/\s+/));
    const ef = table(['life']);
    expect(ef[0]).toEqual(['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    expect(ef.slice(1).map((row) => Number(row[1]))).toContain(pid);
    expect(ef.slice(1).every((row) => Number(row[1]) !== process.pid)).toBe(true);
    expect(table(['--format', 'table', 'life', '-o', 'pid,comm'])).toContainEqual([String(pid), 'sh']);

    expect(oci(['delete', 'life'])).toMatchObject({ code: 1, stderr: expect.stringContaining('not stopped: running') });
    ok(['kill', 'life', 'TERM']);
    await until(() => state('life').status === 'stopped');
    expect(state('life').pid).toBe(0);
    // runc's words, which containerd reads as "already finished"; --all still goes to what is left in its cgroups.
    expect(oci(['kill', 'life', 'KILL'])).toMatchObject({ code: 1, stderr: 'tsrun-oci: cannot kill container life: container not running\n' });
    ok(['kill', '--all', 'life', 'KILL']);
    ok(['delete', 'life']);
    ids.delete('life');
    expect(fs.existsSync(path.join(root, 'life'))).toBe(false);
    expect(fs.existsSync(cgroupDir('life'))).toBe(false);
    expect(oci(['state', 'life'])).toMatchObject({ code: 1, stderr: 'tsrun-oci: container life does not exist\n' });
    expect(oci(['delete', '--force', 'life']).code).toBe(0);
  });

  it('delete --force frees the id a create killed before its lock file left (an empty state dir), and only that', () => {
    fs.mkdirSync(path.join(root, 'aborted'), { recursive: true });
    const b = bundle('aborted', (s) => (s.process.args = ['true']));
    expect(oci(['create', '-b', b, 'aborted'])).toMatchObject({ code: 1, stderr: 'tsrun-oci: container aborted already exists\n' });
    ok(['delete', '--force', 'aborted']);
    expect(fs.existsSync(path.join(root, 'aborted'))).toBe(false);
    ids.add('aborted');
    ok(['create', '-b', b, 'aborted']);
    ok(['delete', 'aborted']);
    ids.delete('aborted');
    // A dir with anything in it is not a create's leftover.
    fs.mkdirSync(path.join(root, 'other'));
    fs.writeFileSync(path.join(root, 'other', 'x'), '');
    ok(['delete', '--force', 'other']);
    expect(fs.existsSync(path.join(root, 'other', 'x'))).toBe(true);
    fs.rmSync(path.join(root, 'other'), { recursive: true });
  });

  it('an execve that fails after start says why on the process\'s stderr, as runc init does (podman shows it)', async () => {
    const id = 'noexec';
    ids.add(id);
    fs.writeFileSync(path.join(rootfs, 'noshebang'), 'echo x\n', { mode: 0o755 });
    ok(['create', '-b', bundle(id, (s) => (s.process.args = ['/noshebang'])), id]);
    // The process's stderr is the one create was given.
    const stderr = path.join(dir, `err.${calls}`);
    ok(['start', id]);
    await until(() => state(id).status === 'stopped', 5_000);
    expect(fs.readFileSync(stderr, 'utf8')).toBe('exec /noshebang: exec format error\n');
    ok(['delete', id]);
    // Go's words (runc's), not the C library's: musl would say "symbolic link loop".
    const loop = 'loopexec';
    ids.add(loop);
    fs.rmSync(path.join(rootfs, 'loop'), { force: true });
    fs.copyFileSync(path.join(rootfs, 'bin/busybox'), path.join(rootfs, 'loop'));
    ok(['create', '-b', bundle(loop, (s) => (s.process.args = ['/loop'])), loop]);
    const loopErr = path.join(dir, `err.${calls}`);
    // Made a loop after create checked it, before the execve.
    fs.rmSync(path.join(rootfs, 'loop'));
    fs.symlinkSync('/loop', path.join(rootfs, 'loop'));
    ok(['start', loop]);
    await until(() => state(loop).status === 'stopped', 5_000);
    expect(fs.readFileSync(loopErr, 'utf8')).toBe('exec /loop: too many levels of symbolic links\n');
    ok(['delete', loop]);
  });

  it('a created container ends on kill TERM (or INT, HUP), as runc\'s: it is not left waiting for a SIGKILL', async () => {
    for (const sig of ['TERM', 'INT', 'HUP']) {
      const id = `created-${sig.toLowerCase()}`;
      ids.add(id);
      ok(['create', '-b', bundle(id, sh('exit 0')), id]);
      expect(state(id).status).toBe('created');
      ok(['kill', id, sig]);
      await until(() => state(id).status === 'stopped', 5_000);
      ok(['delete', id]);
    }
  });

  it('delete --force kills a running container; delete of a created one needs no force', async () => {
    for (const id of ['forced', 'created']) {
      ids.add(id);
      ok(['create', '-b', bundle(id, (s) => (s.process.args = ['sleep', '1000'])), id]);
    }
    ok(['start', 'forced']);
    const pids = [state('forced').pid, state('created').pid];
    ok(['delete', '--force', 'forced']);
    ok(['delete', 'created']);
    for (const pid of pids) await until(() => !fs.existsSync(`/proc/${pid}`) || fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '));
    expect(ok(['list', '-q'])).toBe('');
  });

  it('execs into a running container: argv, env, cwd, user, exit status, --process', async () => {
    ids.add('ex');
    ok(['run', '-d', '-b', bundle('ex', (s) => (s.process.args = ['sleep', '1000'])), 'ex']);
    expect(oci(['exec', '--env', 'A=1', '--cwd', '/tmp', '-u', '1000:1000', 'ex', 'sh', '-c', 'echo $A $(pwd) $(id -u):$(id -g) $$; exit 5'])).toMatchObject({
      code: 5,
      stdout: expect.stringMatching(/^1 \/tmp 1000:1000 \d+\n$/),
    });
    expect(oci(['exec', 'ex', 'nosuch']).code).toBe(127);
    const proc = path.join(dir, 'process.json');
    fs.writeFileSync(proc, JSON.stringify({ args: ['sh', '-c', 'echo from $WHO in $(hostname)'], env: ['WHO=process.json'], cwd: '/', user: { uid: 0, gid: 0 } }));
    expect(ok(['exec', '--process', proc, 'ex'])).toBe('from process.json in tsrun\n');
    // Detached: the pid file names a process of the container, left to the caller.
    const pidFile = path.join(dir, 'exec.pid');
    ok(['exec', '-d', '--pid-file', pidFile, 'ex', 'sleep', '77']);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toBe('sleep\u000077\u0000');
    expect(JSON.parse(ok(['ps', '-f', 'json', 'ex']))).toContain(pid);
  });

  it('updates the limits of a running container, keeping what is not given', () => {
    ids.add('upd');
    ok(['run', '-d', '-b', bundle('upd', (s) => {
      s.process.args = ['sleep', '1000'];
      s.linux.resources = { memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 50 } };
    }), 'upd']);
    const limit = (file: string) => fs.readFileSync(`/sys/fs/cgroup/${file.split('.')[0]}/tsrun-oci/upd/${file}`, 'utf8').trim();
    ok(['update', '--memory', '128m', 'upd']);
    expect(limit('memory.limit_in_bytes')).toBe(String(128 * 1024 * 1024));
    expect(limit('pids.max')).toBe('50');
    expect(oci(['update', '-r', '-', 'upd'], { input: JSON.stringify({ pids: { limit: 20 } }) }).code).toBe(0);
    expect(limit('pids.max')).toBe('20');
    expect(limit('memory.limit_in_bytes')).toBe(String(128 * 1024 * 1024));
    expect(oci(['update', '--memory', 'lots', 'upd'])).toMatchObject({ code: 1, stderr: expect.stringContaining('lots') });
  });

  it('pauses and resumes every process of a container (freezer)', async () => {
    ids.add('pz');
    ok(['run', '-d', '-b', bundle('pz', sh('i=0; while :; do i=$((i+1)); echo $i > /dev/shm/n; sleep 0.02; done')), 'pz']);
    const count = () => Number(ok(['exec', 'pz', 'cat', '/dev/shm/n']));
    await until(() => count() > 0);
    ok(['pause', 'pz']);
    expect(state('pz').status).toBe('paused');
    expect(oci(['exec', 'pz', 'true'])).toMatchObject({ code: 1, stderr: 'tsrun-oci: cannot exec in container pz: it is paused (--ignore-paused to exec anyway)\n' });
    expect(oci(['delete', 'pz'])).toMatchObject({ code: 1, stderr: expect.stringContaining('not stopped: paused') });
    // --ignore-paused: the process starts frozen with the rest, and the exec returns once the container is resumed (runc's).
    const frozen = spawn(ociBin, ['--root', root, 'exec', '--ignore-paused', 'pz', 'sh', '-c', 'echo ran > /dev/shm/ip'], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => frozen.on('exit', resolve));
    await new Promise((r) => setTimeout(r, 500));
    expect(frozen.exitCode).toBeNull();
    ok(['resume', 'pz']);
    expect(await exited).toBe(0);
    expect(ok(['exec', 'pz', 'cat', '/dev/shm/ip'])).toBe('ran\n');
    expect(state('pz').status).toBe('running');
    const before = count();
    await until(() => count() > before);
    expect(oci(['resume', 'pz'])).toMatchObject({ code: 1, stderr: 'tsrun-oci: cannot resume container pz: it is running, not paused\n' });
    // A paused container dies of kill KILL (thawed for it, as runc) and of delete --force.
    ok(['pause', 'pz']);
    ok(['kill', 'pz', '9']);
    await until(() => state('pz').status === 'stopped');
    ok(['delete', 'pz']);
    ids.add('pz2');
    ok(['run', '-d', '-b', bundle('pz2', (s) => (s.process.args = ['sleep', '1000'])), 'pz2']);
    ok(['pause', 'pz2']);
    const pid = state('pz2').pid;
    ok(['delete', '--force', 'pz2']);
    ids.delete('pz2');
    await until(() => !fs.existsSync(`/proc/${pid}`) || fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '));
    ids.delete('pz');
  });

  it('pauses a created container too, as runc: paused, then created again, and then started', async () => {
    ids.add('pzc');
    ok(['create', '-b', bundle('pzc', sh('echo started')), 'pzc']);
    ok(['pause', 'pzc']);
    expect(state('pzc').status).toBe('paused');
    expect(oci(['start', 'pzc'])).toMatchObject({ code: 1, stderr: 'tsrun-oci: cannot start container pzc: it is paused, not created\n' });
    ok(['resume', 'pzc']);
    expect(state('pzc').status).toBe('created');
    ok(['start', 'pzc']);
    await until(() => state('pzc').status === 'stopped');
  });

  it('exec takes runc\'s -g (added groups), --process-label (ignored without SELinux, as runc) and --apparmor (refused without AppArmor)', () => {
    ids.add('xf');
    ok(['run', '-d', '-b', bundle('xf', (s) => (s.process.args = ['sleep', '1000'])), 'xf']);
    expect(ok(['exec', '-g', '10', '--additional-gids', '20', 'xf', 'id', '-G'])).toBe('0 10 20\n');
    if (!fs.existsSync('/sys/fs/selinux/enforce')) expect(ok(['exec', '--process-label', 'system_u:system_r:container_t:s0', 'xf', 'echo', 'labelled'])).toBe('labelled\n');
    if (!fs.existsSync('/sys/module/apparmor/parameters/enabled')) {
      expect(oci(['exec', '--apparmor', 'tsrun-test', 'xf', 'true'])).toMatchObject({ code: 1, stderr: 'tsrun-oci: process.apparmorProfile "tsrun-test": AppArmor is not enabled on this host\n' });
    }
    expect(oci(['exec', '-g', 'wheel', 'xf', 'true'])).toMatchObject({ code: 1, stderr: 'tsrun-oci: --additional-gids needs a group number: "wheel"\n' });
    ok(['delete', '--force', 'xf']);
    ids.delete('xf');
  });

  it('kill takes any signal number, as runc: 37 (SIGRTMIN+3, systemd\'s stop signal), 0 (a liveness check)', async () => {
    ids.add('rt');
    // PID 1 of its namespace: only a signal it handles reaches it.
    ok(['run', '-d', '-b', bundle('rt', sh('trap "exit 7" 37; while :; do sleep 0.05; done')), 'rt']);
    ok(['kill', 'rt', '0']);
    expect(state('rt').status).toBe('running');
    ok(['kill', 'rt', '37']);
    await until(() => state('rt').status === 'stopped');
    expect(oci(['kill', 'rt', '65'])).toMatchObject({ code: 1, stderr: 'tsrun-oci: invalid signal: 65\n' });
    ok(['delete', 'rt']);
    ids.delete('rt');
  });

  it('copies the image\'s files into a tmpfs marked tmpcopyup, never through a symlink', () => {
    fs.mkdirSync(path.join(rootfs, 'seed/sub'), { recursive: true });
    fs.writeFileSync(path.join(rootfs, 'seed/sub/file'), 'seeded\n');
    fs.chownSync(path.join(rootfs, 'seed/sub/file'), 1000, 1000);
    fs.chmodSync(path.join(rootfs, 'seed/sub/file'), 0o4755);
    fs.symlinkSync('/etc/hostname', path.join(rootfs, 'seed/link'));
    try {
      const b = bundle('copyup', (s) => {
        s.mounts.push({ destination: '/seed', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'tmpcopyup'] });
        s.process.args = ['sh', '-c', 'stat -c "%a %u:%g %n" /seed/sub/file; cat /seed/sub/file; readlink /seed/link; echo new > /seed/new && grep -c seed /proc/mounts'];
      });
      expect(ok(['run', '-b', b, 'copyup'])).toBe('4755 1000:1000 /seed/sub/file\nseeded\n/etc/hostname\n1\n');
      // The root is read-only and untouched: the write went to the tmpfs.
      expect(fs.existsSync(path.join(rootfs, 'seed/new'))).toBe(false);
    } finally {
      fs.rmSync(path.join(rootfs, 'seed'), { recursive: true });
    }
  });

  it('rootfsPropagation rshared (Kubernetes\' Bidirectional mounts): a mount made inside shows on the host; the root\'s own bind does not', () => {
    // Shared host mounts of the test's own, taken down below whatever happens: the bind's source, and one
    // holding the root (containerd's and CRI-O's roots are on shared mounts too).
    const host = path.join(dir, 'bidi');
    const roots = path.join(dir, 'bidi-roots');
    for (const d of [host, roots]) fs.mkdirSync(d);
    try {
      for (const d of [host, roots]) {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'bidi-host', d]);
        execFileSync('mount', ['--make-shared', d]);
      }
      fs.mkdirSync(path.join(host, 'inner'));
      const sharedRoot = path.join(roots, 'root');
      fs.mkdirSync(sharedRoot);
      execFileSync('cp', ['-a', `${rootfs}/.`, sharedRoot]);
      const b = bundle('bidi', (s) => {
        s.root.path = sharedRoot;
        s.linux.rootfsPropagation = 'rshared';
        s.mounts.push({ destination: '/bidi', type: 'bind', source: host, options: ['rbind', 'rshared'] });
        for (const set of ['bounding', 'effective', 'permitted'] as const) s.process.capabilities![set]!.push('CAP_SYS_ADMIN');
        // The root is shared (the spec's rootfsPropagation), and the bind a peer of the host's mount (no master:).
        s.process.args = ['sh', '-c', 'mount -t tmpfs -o size=1m from-ctr /bidi/inner && awk \'$5 == "/" && / shared:/ { print "root shared" } $5 == "/bidi" && !/master:/ { print "bind a peer" }\' /proc/self/mountinfo'];
      });
      expect(oci(['run', '-b', b, 'bidi'])).toMatchObject({ code: 0, stdout: 'root shared\nbind a peer\n', stderr: '' });
      const at = (mountPoint: string) => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === mountPoint);
      expect(at(path.join(host, 'inner'))).toEqual([expect.stringContaining(' from-ctr ')]);
      // The root's bind onto itself (for pivot_root) stayed in the container's namespace.
      expect(at(sharedRoot)).toEqual([]);
    } finally {
      for (const d of [host, roots]) spawnSync('umount', ['-R', d]);
    }
  });

  it('runc\'s recursive bind options (rro, rnosuid, rnoexec) reach the mounts under the source; an unknown bind option is ignored with a warning', () => {
    const host = path.join(dir, 'rtree');
    fs.mkdirSync(path.join(host, 'sub'), { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'rtree-sub', path.join(host, 'sub')]);
    try {
      const b = bundle('rro', (s) => {
        s.mounts.push({ destination: '/r', type: 'bind', source: host, options: ['rbind', 'rro', 'rnosuid', 'rnoexec'] });
        s.process.args = ['sh', '-c', 'touch /r/sub/x 2>/dev/null && echo wrote; awk \'$5 == "/r/sub" { print $6 }\' /proc/self/mountinfo'];
      });
      expect(oci(['run', '-b', b, 'rro'])).toMatchObject({ code: 0, stdout: 'ro,nosuid,noexec,relatime\n' });
      const bad = bundle('ratime', (s) => {
        s.mounts.push({ destination: '/r', type: 'bind', source: host, options: ['rbind', 'rnoatime'] });
      });
      // As runc: dropped (a bind takes no data), but said.
      expect(oci(['run', '-b', bad, 'ratime'])).toMatchObject({ code: 0, stderr: 'tsrun-oci: warning: bind mount options ignored (component=plan, mount=/r, options=rnoatime)\n' });
    } finally {
      spawnSync('umount', [path.join(host, 'sub')]);
    }
  });

  it('takes a relative mount destination as relative to /, as runc does; ".." is still refused', () => {
    const b = bundle('reldest', (s) => {
      s.mounts.push({ destination: 'tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] });
      s.process.args = ['sh', '-c', 'grep -c " /tmp tmpfs " /proc/mounts'];
    });
    expect(ok(['run', '-b', b, 'reldest'])).toBe('1\n');
    const up = bundle('updest', (s) => s.mounts.push({ destination: 'tmp/../..', type: 'tmpfs', source: 'tmpfs' }));
    expect(oci(['run', '-b', up, 'updest'])).toMatchObject({ code: 1, stderr: expect.stringContaining('a mount destination must be an absolute path without ".."') });
  });

  it('--preserve-fds passes the caller\'s fds 3.. on, as the same numbers, and nothing past them', () => {
    const input = path.join(dir, 'fd3');
    const output = path.join(dir, 'fd4');
    fs.writeFileSync(input, 'through fd 3\n');
    const b = bundle('pfds', sh('cat <&3; echo to fd 4 >&4; ls /proc/self/fd | sort -n | tr "\\n" " "'));
    const fds = [fs.openSync(input, 'r'), fs.openSync(output, 'w'), fs.openSync(path.join(dir, 'pfds.out'), 'w')];
    try {
      const r = spawnSync(ociBin, ['--root', root, 'run', '--preserve-fds', '2', '-b', b, 'pfds'], { stdio: ['ignore', fds[2]!, 'pipe', fds[0]!, fds[1]!], encoding: 'utf8' });
      expect(r.status).toBe(0);
    } finally {
      for (const fd of fds) fs.closeSync(fd);
    }
    // ls itself holds one more fd (the directory it reads): 0-2, the two passed, and that one.
    expect(fs.readFileSync(path.join(dir, 'pfds.out'), 'utf8')).toBe('through fd 3\n0 1 2 3 4 5 ');
    expect(fs.readFileSync(output, 'utf8')).toBe('to fd 4\n');
  });

  it('joins existing network, ipc, uts and cgroup namespaces by path', () => {
    const files = { network: 'net', ipc: 'ipc', uts: 'uts', cgroup: 'cgroup' } as const;
    const paths = Object.fromEntries(Object.keys(files).map((t) => [t, path.join(dir, `ns-${t}`)])) as Record<keyof typeof files, string>;
    for (const f of Object.values(paths)) fs.writeFileSync(f, '');
    execFileSync('unshare', Object.entries(files).map(([t, flag]) => `--${flag}=${paths[t as keyof typeof files]}`).concat('true'));
    try {
      const b = bundle('nspaths', (s) => {
        s.hostname = undefined;
        s.linux.namespaces = s.linux.namespaces.filter((n) => n.type !== 'cgroup').map((n) => (n.type in files ? { type: n.type, path: paths[n.type as keyof typeof files] } : n));
        s.linux.namespaces.push({ type: 'cgroup', path: paths.cgroup });
        s.process.args = ['sh', '-c', 'for n in net ipc uts cgroup; do readlink /proc/self/ns/$n; done'];
      });
      expect(ok(['run', '-b', b, 'nspaths'])).toBe(Object.entries(files).map(([t, n]) => `${n}:[${fs.statSync(paths[t as keyof typeof files]).ino}]\n`).join(''));
    } finally {
      for (const f of Object.values(paths)) loadNative().unmount({ target: f, flags: 0 });
    }
  });

  it('runs poststart and poststop hooks with the state on stdin', async () => {
    const out = path.join(dir, 'hooks.log');
    const hook = (tag: string) => ({ path: '/bin/sh', args: ['sh', '-c', `cat >> ${out}; echo " ${tag}" >> ${out}`] });
    const b = bundle('hooks', (s) => {
      s.process.args = ['true'];
      s.hooks = { poststart: [hook('poststart')], poststop: [hook('poststop')] };
    });
    ok(['run', '-b', b, 'hooks']);
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\{.*"id":"hooks".*\} poststart$/);
    expect(lines[1]).toMatch(/"status":"stopped".* poststop$/);
  });

  it('runs createContainer hooks in the container\'s namespaces before pivot_root, and startContainer hooks in it as its process, before it', async () => {
    const data = fs.mkdtempSync(path.join(dir, 'ns-hooks-'));
    fs.chmodSync(data, 0o777);
    const b = bundle('nshooks', (s) => {
      s.process.args = ['sh', '-c', 'echo process >> /data/order'];
      s.process.user = { uid: 1000, gid: 1000 };
      s.process.noNewPrivileges = true;
      // docker's default profile: the hook runs under it, as the process will (runc's order).
      s.linux.seccomp = resolveSeccompProfile(DEFAULT_SECCOMP_PROFILE, s.process.capabilities?.bounding ?? []);
      s.mounts.push({ destination: '/data', type: 'bind', source: data, options: ['rbind', 'rw'] });
      s.hooks = {
        // Before pivot_root the root is still the host's: the bind is seen at its host path; the state on stdin.
        createContainer: [{ path: '/bin/sh', args: ['sh', '-c', `cat > ${data}/create-state; readlink /proc/self/ns/mnt > ${data}/create-ns; echo createContainer >> ${data}/order; chmod 666 ${data}/order`] }],
        // In the container, as its process: its root (the bind at /data, the image's /bin/sh) and its user.
        startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'cat > /data/start-state; id -u > /data/start-uid; grep ^Seccomp: /proc/self/status > /data/start-seccomp; echo startContainer >> /data/order'], env: ['HOOK=1'] }],
      };
    });
    ids.add('nshooks');
    ok(['create', '-b', b, 'nshooks']);
    const { pid } = state('nshooks');
    const containerNs = fs.readlinkSync(`/proc/${pid}/ns/mnt`);
    expect(containerNs).not.toBe(fs.readlinkSync('/proc/self/ns/mnt'));
    expect(fs.readFileSync(path.join(data, 'create-ns'), 'utf8').trim()).toBe(containerNs);
    expect(JSON.parse(fs.readFileSync(path.join(data, 'create-state'), 'utf8'))).toMatchObject({ id: 'nshooks', status: 'creating', pid });
    expect(fs.readFileSync(path.join(data, 'order'), 'utf8')).toBe('createContainer\n');
    ok(['start', 'nshooks']);
    await until(() => fs.readFileSync(path.join(data, 'order'), 'utf8').endsWith('process\n'));
    expect(fs.readFileSync(path.join(data, 'order'), 'utf8')).toBe('createContainer\nstartContainer\nprocess\n');
    expect(fs.readFileSync(path.join(data, 'start-uid'), 'utf8')).toBe('1000\n');
    expect(fs.readFileSync(path.join(data, 'start-seccomp'), 'utf8')).toBe('Seccomp:\t2\n');
    // runc's: the pid is the init's own, as it sees it.
    expect(JSON.parse(fs.readFileSync(path.join(data, 'start-state'), 'utf8'))).toMatchObject({ id: 'nshooks', status: 'created', pid: 1, bundle: b });
  });

  it('a failing or timed-out startContainer hook fails the start with one line; the process never runs', () => {
    const data = fs.mkdtempSync(path.join(dir, 'bad-hooks-'));
    const cases: [string, OciHook, string][] = [
      ['badstart', { path: '/bin/false' }, 'running the startContainer hook /bin/false exited 1'],
      ['slowstart', { path: '/bin/sleep', args: ['sleep', '10'], timeout: 1 }, 'running the startContainer hook /bin/sleep: ETIMEDOUT (connection timed out)'],
    ];
    for (const [name, hook, why] of cases) {
      const b = bundle(name, (s) => {
        s.process.args = ['sh', '-c', 'echo ran > /data/ran'];
        s.mounts.push({ destination: '/data', type: 'bind', source: data, options: ['rbind', 'rw'] });
        s.hooks = { startContainer: [hook] };
      });
      expect(oci(['run', '-b', b, name])).toMatchObject({ code: 1, stderr: `tsrun-oci: ${why}\n` });
      expect(fs.existsSync(path.join(data, 'ran'))).toBe(false);
      expect(fs.existsSync(path.join(root, name))).toBe(false);
    }
  });

  it('state says creating while create is still at work (runtime.md), then created', async () => {
    const b = bundle('slowc', (s) => {
      s.process.args = ['sleep', '1000'];
      s.hooks = { createRuntime: [{ path: '/bin/sleep', args: ['sleep', '1'] }] };
    });
    ids.add('slowc');
    const child = spawn(ociBin, ['--root', root, 'create', '-b', b, 'slowc'], { stdio: 'ignore' });
    const done = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const seen = new Set<string>();
    await until(() => {
      const r = oci(['state', 'slowc']);
      if (r.code === 0) seen.add(JSON.parse(r.stdout).status);
      return seen.has('creating');
    });
    expect(await done).toBe(0);
    expect(state('slowc').status).toBe('created');
    expect(seen.has('stopped')).toBe(false);
    ok(['delete', 'slowc']);
    ids.delete('slowc');
  });

  it('runs prestart then createRuntime hooks after the mounts, before the process, with status creating and the init pid', async () => {
    const log = path.join(dir, 'create-hooks.log');
    const data = fs.mkdtempSync(path.join(dir, 'create-hooks-'));
    // nsenter: in the init's mount namespace /proc is already mounted in the rootfs (runtime.md: hooks run once the environment exists).
    const hook = (tag: string) => ({
      path: '/bin/sh',
      args: ['sh', '-c', `st=$(cat); echo "$st ${tag}" >> ${log}; pid=$(echo "$st" | sed 's/.*"pid":\\([0-9]*\\).*/\\1/'); nsenter -t "$pid" -m test -f ${rootfs}/proc/1/status && echo ${tag} >> ${data}/order`],
    });
    const b = bundle('chooks', (s) => {
      s.process.args = ['sh', '-c', 'echo process >> /data/order'];
      s.mounts.push({ destination: '/data', type: 'bind', source: data, options: ['rbind', 'rw'] });
      s.hooks = { createRuntime: [hook('createRuntime')], prestart: [hook('prestart')] };
    });
    ids.add('chooks');
    ok(['create', '-b', b, 'chooks']);
    const { pid } = state('chooks');
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/ prestart$/);
    expect(lines[1]).toMatch(/ createRuntime$/);
    for (const line of lines) expect(JSON.parse(line.slice(0, line.lastIndexOf(' ')))).toMatchObject({ id: 'chooks', status: 'creating', pid });
    expect(fs.readFileSync(path.join(data, 'order'), 'utf8')).toBe('prestart\ncreateRuntime\n');
    ok(['start', 'chooks']);
    await until(() => fs.readFileSync(path.join(data, 'order'), 'utf8').endsWith('process\n'));
    expect(fs.readFileSync(path.join(data, 'order'), 'utf8')).toBe('prestart\ncreateRuntime\nprocess\n');
  });
});

/**
 * A user namespace of the container's own (podman --uidmap, Kubernetes'
 * hostUsers: false): root inside is host uid 100000. The rootfs is a copy
 * owned by that uid (what podman's storage makes), and the test dir is
 * traversable (0711), as the mapped root must reach its rootfs.
 */
describe('tsrun-oci user namespaces', () => {
  const HOST = 100000;
  let usersRootfs: string;
  const mapped = (s: OciSpec) => {
    s.root.path = usersRootfs;
    s.root.readonly = false;
    s.linux.namespaces.push({ type: 'user' });
    s.linux.uidMappings = [{ containerID: 0, hostID: HOST, size: 65536 }];
    s.linux.gidMappings = [{ containerID: 0, hostID: HOST, size: 65536 }];
  };

  beforeAll(() => {
    fs.chmodSync(dir, 0o711);
    usersRootfs = path.join(dir, 'rootfs-userns');
    fs.mkdirSync(usersRootfs);
    execFileSync('tar', ['-xf', path.join(inject('fixturesDir'), 'busybox-rootfs.tar'), '-C', usersRootfs]);
    execFileSync('chown', ['-R', '-h', `${HOST}:${HOST}`, usersRootfs]);
  });

  it('runs as the root of its own user namespace, which is an unprivileged uid on the host', () => {
    const secret = path.join(dir, 'host-secret');
    fs.writeFileSync(secret, 'host only\n', { mode: 0o600 });
    const b = bundle('uns', (s) => {
      mapped(s);
      s.mounts.push({ destination: '/secret', type: 'bind', source: secret, options: ['rbind', 'ro'] });
      s.process.args = ['sh', '-c', [
        'id -u; cat /proc/self/uid_map /proc/self/gid_map',
        'touch /made',
        // Host root's file is "nobody's" in here, and out of reach: container root is no host root.
        'stat -c "%u %g" /secret; cat /secret 2>/dev/null || echo secret-refused',
        // The default devices are the host's nodes bound in (mknod of a device is EPERM in a user namespace)...
        'echo x > /dev/null && head -c 4 /dev/zero | wc -c',
        // ...and the container cannot make one of its own.
        'mknod /tmp/disk b 8 0 2>/dev/null || echo mknod-refused',
      ].join('; ')];
    });
    ids.add('uns');
    const out = ok(['run', '-b', b, 'uns']).split('\n');
    expect(out.slice(0, 3)).toEqual(['0', `         0     ${HOST}      65536`, `         0     ${HOST}      65536`]);
    expect(out.slice(3)).toEqual(['65534 65534', 'secret-refused', '4', 'mknod-refused', '']);
    // What the container's root made is the mapped uid's on the host.
    const made = fs.statSync(path.join(usersRootfs, 'made'));
    expect([made.uid, made.gid]).toEqual([HOST, HOST]);
  });

  it('the process and an exec\'d one are mapped host ids from outside; exec joins the same user namespace', async () => {
    const b = bundle('unsexec', (s) => {
      mapped(s);
      s.process.args = ['sleep', '1000'];
      s.process.user = { uid: 1000, gid: 1000, additionalGids: [10] };
    });
    ids.add('unsexec');
    ok(['create', '-b', b, 'unsexec']);
    ok(['start', 'unsexec']);
    const { pid } = state('unsexec');
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(status).toMatch(new RegExp(`^Uid:\\t${HOST + 1000}\\t${HOST + 1000}\\t`, 'm'));
    expect(status).toMatch(new RegExp(`^Groups:\\t${HOST + 10} $`, 'm'));
    const userns = fs.readlinkSync(`/proc/${pid}/ns/user`);
    expect(userns).not.toBe(fs.readlinkSync('/proc/self/ns/user'));
    expect(ok(['exec', 'unsexec', 'sh', '-c', 'id -u; readlink /proc/self/ns/user; touch /tmp/by-exec'])).toBe(`1000\n${userns}\n`);
    expect(fs.statSync(path.join(usersRootfs, 'tmp/by-exec')).uid).toBe(HOST + 1000);
    expect(ok(['exec', '--user', '0:0', 'unsexec', 'id', '-u'])).toBe('0\n');
    // An id the namespace does not map is refused before anything runs.
    const r = oci(['exec', '--user', '70000', 'unsexec', 'id']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("tsrun-oci: uid 70000 is not mapped in the container's user namespace (linux.uidMappings)\n");
  });

  it('sets rlimits (only once set up) and oom_score_adj, for the process and an exec; hooks run as the namespace\'s root', () => {
    const b = bundle('unslimits', (s) => {
      mapped(s);
      // A raised hard limit needs the host's privileges; a small file size limit must not reach the setup,
      // which copies the image's /bin (busybox, far above 64 KiB) into a tmpfs (tmpcopyup).
      s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 512, hard: 2048 }, { type: 'RLIMIT_FSIZE', soft: 65536, hard: 65536 }];
      s.mounts.push({ destination: '/bin', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup', 'mode=755'] });
      s.process.oomScoreAdj = 300;
      s.process.args = ['sh', '-c', 'ulimit -n; ulimit -Hn; ulimit -f; cat /proc/self/oom_score_adj; cat /hook-id; exec sleep 1000'];
      // Before pivot_root the host's paths are seen: the hook writes into the rootfs by its host path.
      s.hooks = { createContainer: [{ path: '/bin/sh', args: ['sh', '-c', `{ id -u; readlink /proc/self/ns/user; } > ${usersRootfs}/hook-id`] }] };
    });
    ids.add('unslimits');
    // The process keeps run -d's stdio (runc's way): files, not pipes.
    const log = path.join(dir, 'unslimits.out');
    const errLog = path.join(dir, 'unslimits.err');
    const fds = [fs.openSync(log, 'w'), fs.openSync(errLog, 'w')];
    try {
      const r = spawnSync(ociBin, ['--root', root, 'run', '-d', '-b', b, 'unslimits'], { stdio: ['ignore', fds[0]!, fds[1]!], timeout: 30_000 });
      expect([r.status, fs.readFileSync(errLog, 'utf8')]).toEqual([0, '']);
    } finally {
      for (const fd of fds) fs.closeSync(fd);
    }
    return until(() => fs.readFileSync(log, 'utf8').split('\n').length > 6).then(() => {
      const out = fs.readFileSync(log, 'utf8').split('\n');
      expect(out.slice(0, 5)).toEqual(['512', '2048', '128', '300', '0']);
      expect(out[5]).toMatch(/^user:\[\d+\]$/);
      expect(out[5]).toBe(fs.readlinkSync(`/proc/${state('unslimits').pid}/ns/user`));
      // exec's process sets them before it joins the user namespace.
      expect(ok(['exec', 'unslimits', 'sh', '-c', 'ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj'])).toBe('512\n2048\n300\n');
    });
  });

  it('mounts a bind source only host root may reach (opened by the monitor, as runc\'s parent does)', () => {
    const hidden = path.join(dir, 'private', 'vol');
    fs.mkdirSync(hidden, { recursive: true });
    fs.chmodSync(path.dirname(hidden), 0o700);
    fs.writeFileSync(path.join(hidden, 'data'), 'shared\n', { mode: 0o644 });
    const b = bundle('unsvol', (s) => {
      mapped(s);
      s.mounts.push({ destination: '/vol', type: 'bind', source: hidden, options: ['rbind', 'ro'] });
      s.process.args = ['cat', '/vol/data'];
    });
    ids.add('unsvol');
    expect(ok(['run', '-b', b, 'unsvol'])).toBe('shared\n');
  });

  it('joins host-owned net and ipc namespaces by path; their sysfs and mqueue are made by the monitor, and are theirs', () => {
    const netns = path.join(dir, 'netns-userns');
    const ipcns = path.join(dir, 'ipcns-userns');
    const mq = path.join(dir, 'mq-view');
    for (const f of [netns, ipcns]) fs.writeFileSync(f, '');
    fs.mkdirSync(mq);
    execFileSync('unshare', [`--net=${netns}`, `--ipc=${ipcns}`, 'true']);
    try {
      const b = bundle('unsnet', (s) => {
        mapped(s);
        s.linux.namespaces = s.linux.namespaces.map((n) => (n.type === 'network' || n.type === 'ipc' ? { type: n.type, path: n.type === 'network' ? netns : ipcns } : n));
        // From a user namespace neither can be mounted for a namespace it does not own (sysfs_get_tree, mqueue_get_tree).
        s.process.args = ['sh', '-c', [
          'readlink /proc/self/ns/net; readlink /proc/self/ns/ipc',
          'grep -E " /sys | /dev/mqueue " /proc/self/mounts | cut -d" " -f2,4 | cut -d, -f1',
          // The joined namespace's own devices (only lo), not the host's.
          'ls /sys/class/net',
          'touch /sys/x 2>/dev/null || echo sys-ro',
          'mount -o remount,rw /sys 2>/dev/null || echo remount-refused',
          'touch /dev/mqueue/from-container',
        ].join('; ')];
      });
      ids.add('unsnet');
      expect(ok(['run', '-b', b, 'unsnet'])).toBe(
        `net:[${fs.statSync(netns).ino}]\nipc:[${fs.statSync(ipcns).ino}]\n/dev/mqueue rw\n/sys ro\nlo\nsys-ro\nremount-refused\n`,
      );
      // The queue is in the joined ipc namespace, as that namespace's own mqueue shows.
      expect(execFileSync('nsenter', [`--ipc=${ipcns}`, 'unshare', '-m', '--propagation', 'private', 'sh', '-c', `mount -t mqueue none ${mq} && ls ${mq}`], { encoding: 'utf8' })).toBe('from-container\n');
    } finally {
      for (const f of [netns, ipcns]) loadNative().unmount({ target: f, flags: 0 });
    }
  });

  it('an idmapped bind (mount uidMappings with the idmap option) shows host files with the container\'s ids; other maps are refused', () => {
    const shared = path.join(dir, 'idmap-src');
    fs.mkdirSync(shared, { recursive: true });
    fs.writeFileSync(path.join(shared, 'owned-by-0'), '');
    const idmapBind = (maps: OciSpec['linux']['uidMappings']) => ({ destination: '/shared', type: 'bind', source: shared, options: ['rbind', 'idmap'], uidMappings: maps, gidMappings: maps });
    const b = bundle('unsidmap', (s) => {
      mapped(s);
      s.mounts.push(idmapBind(s.linux.uidMappings));
      s.process.args = ['sh', '-c', 'stat -c %u /shared/owned-by-0; touch /shared/new'];
    });
    ids.add('unsidmap');
    expect(ok(['run', '-b', b, 'unsidmap'])).toBe('0\n');
    // Written by the container's root, it is uid 0 on the host too: the bind is seen through the maps both ways.
    expect(fs.statSync(path.join(shared, 'new')).uid).toBe(0);
    const other = bundle('unsidmap2', (s) => {
      mapped(s);
      s.mounts.push(idmapBind([{ containerID: 0, hostID: 200000, size: 10 }]));
      s.process.args = ['true'];
    });
    const r = oci(['create', '-b', other, 'unsidmap2']);
    expect([r.code, r.stderr]).toEqual([1, "tsrun-oci: the idmapped mount on /shared: maps other than the container's own user namespace's are not supported\n"]);
  });

  it('joins a pod\'s user namespace by path (with its net and ipc): new namespaces are owned by it; maps that are not its own are refused', async () => {
    // The same ids as 0:100000:65536 in six ranges, given last first: the kernel keeps a map of more than five sorted.
    const six = [50000, 40000, 30000, 20000, 10000, 0].map((c) => ({ containerID: c, hostID: HOST + c, size: c === 50000 ? 15536 : 10000 }));
    const sandbox = bundle('unspod', (s) => {
      mapped(s);
      s.linux.uidMappings = six;
      s.linux.gidMappings = six;
      s.process.args = ['sleep', '1000'];
    });
    ids.add('unspod');
    ok(['run', '-d', '-b', sandbox, 'unspod']);
    const pod = state('unspod').pid;
    const joining = (name: string, maps?: OciSpec['linux']['uidMappings']) =>
      bundle(name, (s) => {
        mapped(s);
        s.linux.uidMappings = maps ?? six;
        s.linux.gidMappings = six;
        // shareProcessNamespace too: the helper that clones then numbers pids in the pod's pid namespace.
        const paths: Record<string, string> = { user: `/proc/${pod}/ns/user`, network: `/proc/${pod}/ns/net`, ipc: `/proc/${pod}/ns/ipc`, pid: `/proc/${pod}/ns/pid` };
        s.linux.namespaces = s.linux.namespaces.map((n) => (paths[n.type] ? { type: n.type, path: paths[n.type] } : n));
        s.process.args = ['sh', '-c', 'readlink /proc/self/ns/user; readlink /proc/self/ns/net; id -u; touch /from-app; ls /sys/class/net; ps -o comm | grep -c sleep; exec sleep 1000'];
      });
    ids.add('unsapp');
    const out = path.join(dir, 'unsapp.out');
    const fds = [fs.openSync(out, 'w'), fs.openSync(path.join(dir, 'unsapp.err'), 'w')];
    try {
      const r = spawnSync(ociBin, ['--root', root, 'run', '-d', '-b', joining('unsapp'), 'unsapp'], { stdio: ['ignore', fds[0]!, fds[1]!], timeout: 30_000 });
      expect([r.status, fs.readFileSync(path.join(dir, 'unsapp.err'), 'utf8')]).toEqual([0, '']);
    } finally {
      for (const fd of fds) fs.closeSync(fd);
    }
    await until(() => fs.readFileSync(out, 'utf8').split('\n').length > 5);
    const app = state('unsapp').pid;
    // The pod's sleep is seen from the app's pid namespace, the pod's.
    expect(fs.readFileSync(out, 'utf8')).toBe(`${fs.readlinkSync(`/proc/${pod}/ns/user`)}\n${fs.readlinkSync(`/proc/${pod}/ns/net`)}\n0\nlo\n1\n`);
    // The state's pid is the host's number of the app's own process, not the pod's pid namespace's.
    expect(fs.readlinkSync(`/proc/${app}/ns/pid`)).toBe(fs.readlinkSync(`/proc/${pod}/ns/pid`));
    expect(fs.readFileSync(`/proc/${app}/cmdline`, 'utf8')).toBe('sleep\x001000\x00');
    expect(fs.readFileSync(`/proc/${app}/status`, 'utf8')).toMatch(/^Uid:\t100000\t/m);
    expect(state('unsapp').status).toBe('running');
    expect(fs.statSync(path.join(usersRootfs, 'from-app')).uid).toBe(HOST);
    expect(ok(['exec', 'unsapp', 'readlink', '/proc/self/ns/user'])).toBe(`${fs.readlinkSync(`/proc/${pod}/ns/user`)}\n`);
    const r = oci(['create', '-b', joining('unsbadmap', [{ containerID: 0, hostID: 300000, size: 65536 }]), 'unsbadmap']);
    expect([r.code, r.stderr]).toEqual([1, "tsrun-oci: setting up the user namespace (its uid_map differs from the spec's uidMappings)\n"]);
    expect(fs.existsSync(path.join(root, 'unsbadmap'))).toBe(false);
    // A path that is no user namespace (here a FIFO, which must not block the monitor) is refused as such.
    const fifo = path.join(dir, 'not-a-userns');
    execFileSync('mkfifo', [fifo]);
    const notNs = bundle('unsfifo', (s) => {
      mapped(s);
      s.linux.namespaces = s.linux.namespaces.map((n) => (n.type === 'user' ? { type: 'user', path: fifo } : n));
      s.process.args = ['true'];
    });
    const f = oci(['create', '-b', notNs, 'unsfifo']);
    expect([f.code, f.stderr]).toEqual([1, `tsrun-oci: setting up the user namespace (${fifo}: not a user namespace)\n`]);
  });

  it.each([
    ['mappings without a user namespace', (s: OciSpec) => (s.linux.uidMappings = [{ containerID: 0, hostID: HOST, size: 1 }]), /need a user namespace/],
    ['a user namespace without mappings', (s: OciSpec) => s.linux.namespaces.push({ type: 'user' }), /a user namespace needs linux.uidMappings/],
    ['root not mapped', (s: OciSpec) => { mapped(s); s.linux.uidMappings = [{ containerID: 1, hostID: HOST, size: 10 }]; }, /must map uid 0/],
    ['overlapping ranges', (s: OciSpec) => { mapped(s); s.linux.gidMappings!.push({ containerID: 70000, hostID: HOST + 5, size: 1 }); }, /overlap/],
    ['the process\'s group not mapped', (s: OciSpec) => { mapped(s); s.process.user = { uid: 0, gid: 0, additionalGids: [99999] }; }, /gid 99999 is not mapped/],
    ['joining a user namespace by path without its maps', (s: OciSpec) => s.linux.namespaces.push({ type: 'user', path: '/proc/1/ns/user' }), /a user namespace needs linux.uidMappings/],
  ])('refuses %s with one line and leaves no state', (_what, edit, message) => {
    const b = bundle('unsbad', (s) => {
      edit(s);
      s.process.args = ['true'];
    });
    const r = oci(['create', '-b', b, 'unsbad']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.existsSync(path.join(root, 'unsbad'))).toBe(false);
  });
});

describe('tsrun-oci refuses bad input with one line and leaves nothing', () => {
  it.each([
    [['create', '-b', '/nonexistent', 'x'], /cannot read \/nonexistent\/config.json: ENOENT/],
    [['create', '../evil'], /invalid container id "..\/evil"/],
    [["kill", "nosuch", "NOSIG"], /invalid signal: NOSIG/],
    [['create', '--preserve-fds', 'many', 'x'], /--preserve-fds needs a count/],
  ])('%j', (args, message) => {
    const r = oci(args);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a failing createRuntime hook fails create with one line and kills the init; poststop runs; no state or cgroup is left', () => {
    const out = path.join(dir, 'badhook-poststop');
    const b = bundle('badhook', (s) => {
      // runtime.md: a failed hook stops the container and the lifecycle goes on at delete, then poststop.
      s.hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', 'echo why; echo the reason >&2; echo more >&2; exit 3'] }], poststop: [{ path: '/bin/sh', args: ['sh', '-c', `cat > ${out}`] }] };
    });
    const r = oci(['create', '-b', b, 'badhook']);
    expect(r.code).toBe(1);
    // What the hook said is in the error, as runc's: a shim or conmon would otherwise log it as the container's.
    expect(r.stderr).toBe('tsrun-oci: createRuntime hook /bin/sh failed: exit 3, stdout: why, stderr: the reason; more\n');
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toMatchObject({ id: 'badhook', status: 'stopped' });
    expect(fs.existsSync(path.join(root, 'badhook'))).toBe(false);
    expect(fs.existsSync(cgroupDir('badhook'))).toBe(false);
  });

  it('gives the process a session keyring of its own (_ses.ID), as runc does; --no-new-keyring keeps the caller\'s', () => {
    const keyrings = () => fs.readFileSync('/proc/keys', 'utf8');
    for (const [id, flags] of [['keyed', []], ['unkeyed', ['--no-new-keyring']]] as const) {
      ids.add(id);
      ok(['run', '-d', ...flags, '-b', bundle(id, sh('sleep 100')), id]);
      // The keyring is the process's (its session's), held while it runs: the host's root sees it in /proc/keys.
      const count = () => keyrings().split('\n').filter((l) => l.endsWith(` _ses.${id}: empty`) || l.includes(` _ses.${id}: `)).length;
      expect(count(), id).toBe(id === 'keyed' ? 1 : 0);
      // An exec joins that same keyring (searchable, as runc makes it), not another of its name.
      ok(['exec', '-d', id, 'sleep', '3']);
      expect(count(), `${id} with an exec`).toBe(id === 'keyed' ? 1 : 0);
    }
  });

  it('a capability it does not know is skipped with a warning, as runc\'s, not fatal', () => {
    const b = bundle('capx', (s) => {
      s.process.capabilities!.bounding!.push('CAP_QZFUTURE');
      s.process.args = ['true'];
    });
    const r = oci(['run', '-b', b, 'capx']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^tsrun-oci: warning: ignoring unknown or unavailable capabilities \(.*CAP_QZFUTURE.*\)\n$/);
  });

  it('a terminal needs --console-socket unless run in the foreground', () => {
    const b = bundle('tty', (s) => (s.process.terminal = true));
    expect(oci(['create', '-b', b, 'tty'])).toMatchObject({ code: 1, stderr: expect.stringContaining('needs --console-socket') });
    expect(fs.existsSync(path.join(root, 'tty'))).toBe(false);
  });

  it('process.consoleSize is the terminal\'s first size, for the process and an exec (podman\'s and docker\'s -t send it)', async () => {
    const b = bundle('tsize', (s) => {
      s.process.terminal = true;
      s.process.consoleSize = { height: 33, width: 111 };
      s.process.args = ['stty', 'size'];
    });
    expect(oci(['run', '-b', b, 'tsize'])).toMatchObject({ code: 0, stdout: '33 111\r\n' });
    ids.add('tsize-exec');
    ok(['run', '-d', '-b', bundle('tsize-exec', sh('sleep 100')), 'tsize-exec']);
    const proc = path.join(dir, 'tsize-proc.json');
    fs.writeFileSync(proc, JSON.stringify({ terminal: true, consoleSize: { height: 21, width: 77 }, cwd: '/', user: { uid: 0, gid: 0 }, args: ['stty', 'size'], env: ['PATH=/bin'] }));
    expect(oci(['exec', '-p', proc, 'tsize-exec'])).toMatchObject({ code: 0, stdout: '21 77\r\n' });
  });

  it('a missing command fails create (not a later start), with --log in JSON, and leaves no state or cgroup', () => {
    const log = path.join(dir, 'oci-log');
    const b = bundle('nocmd', (s) => (s.process.args = ['nosuch']));
    const r = oci(['create', '-b', b, 'nocmd'], { globals: ['--log', log, '--log-format', 'json'] });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('tsrun-oci: executing nosuch: ENOENT (no such file or directory)\n');
    expect(JSON.parse(fs.readFileSync(log, 'utf8'))).toMatchObject({ level: 'error', msg: 'executing nosuch: ENOENT (no such file or directory)' });
    expect(fs.existsSync(path.join(root, 'nocmd'))).toBe(false);
    expect(fs.existsSync(cgroupDir('nocmd'))).toBe(false);
  });

  it('a usage error reaches --log too; --rootless=false is accepted, true refused with one line', () => {
    const log = path.join(dir, 'usage-log');
    const r = oci(['create', '--no-such-flag', 'x'], { globals: ['--log', log, '--log-format', 'json'] });
    expect(r.code).toBe(1);
    expect(JSON.parse(fs.readFileSync(log, 'utf8').trim().split('\n').at(-1)!)).toMatchObject({ level: 'error', msg: expect.stringContaining("unknown option '--no-such-flag'") });
    expect(oci(['list', '-q'], { globals: ['--rootless=false'] })).toMatchObject({ code: 0 });
    expect(oci(['list', '-q'], { globals: ['--rootless', 'true'] })).toMatchObject({ code: 1, stderr: 'tsrun-oci: rootless containers are not supported: run tsrun-oci as root\n' });
    // go-runc adds --criu to every verb when containerd is configured with a CRIU path.
    expect(oci(['list', '-q'], { globals: ['--criu', '/usr/sbin/criu'] })).toMatchObject({ code: 0 });
  });

  it('prints its version as runc does: "<name> version X", then commit and spec lines (go-runc and docker parse them)', () => {
    for (const args of [['--version'], ['version']]) {
      const lines = ok(args).trim().split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(/^tsrun-oci version \S+$/);
      expect(lines[1]).toMatch(/^commit: \S+$/);
      expect(lines[2]).toMatch(/^spec: 1\.\d+\.\d+$/);
    }
  });

  it('--systemd-cgroup: slice:prefix:name is made where systemd would put it, and removed at delete with the slice it made', () => {
    // A slice of the test's own: nothing under the host's system.slice is touched.
    const b = bundle('sd', (s) => {
      s.process.args = ['sleep', '1000'];
      s.linux.cgroupsPath = 'tsruntest.slice:tsrun:sd';
    });
    const scope = '/sys/fs/cgroup/memory/tsruntest.slice/tsrun-sd.scope';
    ids.add('sd');
    try {
      ok(['--systemd-cgroup', 'create', '-b', b, 'sd']);
      expect(fs.readFileSync(path.join(scope, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(state('sd').pid));
      ok(['delete', '--force', 'sd']);
      ids.delete('sd');
      expect(fs.existsSync(scope)).toBe(false);
      // The slice create made for it goes too, in every hierarchy, once empty.
      expect(uniqueDirs(cgroupDirs(cgroupHost(), 'tsruntest.slice')).filter((d) => fs.existsSync(d))).toEqual([]);
    } finally {
      // cgroupfs dirs go with rmdir (their files cannot be unlinked); every hierarchy a container joins, name=systemd's included.
      for (const dir of uniqueDirs(cgroupDirs(cgroupHost(), 'tsruntest.slice'))) if (fs.existsSync(dir)) fs.rmdirSync(dir);
    }
  });

  it('a second container with the same id is refused, the first untouched', () => {
    ids.add('dup');
    const b = bundle('dup', (s) => (s.process.args = ['sleep', '1000']));
    ok(['create', '-b', b, 'dup']);
    expect(oci(['create', '-b', b, 'dup'])).toMatchObject({ code: 1, stderr: 'tsrun-oci: container dup already exists\n' });
    expect(state('dup').status).toBe('created');
  });

  it('a cwd through /proc/self/fd is refused (CVE-2024-21626)', () => {
    const b = bundle('cwd', (s) => (s.process.cwd = '/proc/self/fd/7'));
    expect(oci(['run', '-b', b, 'cwd'])).toMatchObject({ code: 1, stderr: expect.stringContaining('CVE-2024-21626') });
    expect(fs.existsSync(path.join(root, 'cwd'))).toBe(false);
  });
});

describe('tsrun-oci spec', () => {
  it('writes runc\'s example config.json, never over an existing one', () => {
    const b = path.join(dir, 'spec');
    fs.mkdirSync(b);
    ok(['spec', '-b', b]);
    const spec = JSON.parse(fs.readFileSync(path.join(b, 'config.json'), 'utf8')) as OciSpec;
    expect(spec).toMatchObject({ ociVersion: '1.2.0', root: { path: 'rootfs' }, process: { args: ['sh'], terminal: true } });
    expect(oci(['spec', '-b', b])).toMatchObject({ code: 1, stderr: expect.stringContaining('exists; remove it first') });
  });
});
