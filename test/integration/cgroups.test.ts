import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNative } from '../../src/native/binding.js';
import { deviceFilterProgram } from '../../src/runtime/cgroups/device-filter.js';
import { cgroupDirs, cgroupHost, uniqueDirs } from '../../src/runtime/cgroups/host.js';
import { devNumbers } from '../../src/util/devnum.js';
import { TestStore, tsrunBin, until } from '../helpers/store.js';

let s: TestStore;
const host = cgroupHost();
const v1 = host.version === 1;

beforeAll(() => {
  s = new TestStore();
  s.loadFixture('busybox');
});
afterAll(() => s.cleanup());

const idOf = (name: string) => s.inspect(name).Id as string;
const dirs = (id: string) => cgroupDirs(host, `tsrun/${id}`);
const leftover = (id: string) => uniqueDirs(dirs(id)).filter((d) => fs.existsSync(d));
const memLimitFile = (id: string) => path.join(dirs(id).memory!, v1 ? 'memory.limit_in_bytes' : 'memory.max');
const cpuNs = (id: string) =>
  v1 ? Number(fs.readFileSync(path.join(dirs(id).cpuacct!, 'cpuacct.usage'), 'utf8')) : 1000 * Number(/^usage_usec (\d+)$/m.exec(fs.readFileSync(path.join(dirs(id).cpu!, 'cpu.stat'), 'utf8'))![1]);

async function runDetached(args: string[]): Promise<string> {
  const name = args[args.indexOf('--name') + 1]!;
  s.ok(['run', '-d', ...args]);
  await until(() => s.inspect(name).State.Running === true);
  return idOf(name);
}

describe('cgroups', () => {
  it('what a container sharing the host\'s PID namespace leaves behind dies with its init, and its cgroups go', async () => {
    // Its own PID namespace would end with the init; a shared one does not (runc kills them at destroy).
    s.ok(['run', '-d', '--pid', 'host', '--name', 'leftover', 'busybox', 'sh', '-c', 'sleep 100 & echo $!']);
    const id = idOf('leftover');
    expect(s.ok(['wait', 'leftover'])).toBe('0\n');
    const pid = Number(s.ok(['logs', 'leftover']).trim());
    expect(pid).toBeGreaterThan(1);
    const alive = () => {
      try {
        return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z';
      } catch {
        return false;
      }
    };
    await until(() => !alive());
    await until(() => leftover(id).length === 0);
    s.ok(['rm', 'leftover']);
  });

  it('every container gets a cgroup per controller, joined before it runs; gone after the exit and after rm', async () => {
    const id = await runDetached(['--name', 'plain', 'busybox', 'sleep', '60']);
    const d = dirs(id);
    expect(leftover(id).length).toBeGreaterThanOrEqual(v1 ? 4 : 1);
    const pid = s.inspect('plain').State.Pid as number;
    for (const c of ['memory', 'cpu', 'pids', 'cpuset'] as const) {
      expect(fs.readFileSync(path.join(d[c]!, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(pid));
    }
    // On a v1 host also systemd's hierarchy and a hybrid's cgroup2, where they are mounted, so the container is not
    // counted in its caller's unit; the exec'd process joins them all too.
    const own = (p: number | 'self', text = fs.readFileSync(`/proc/${p}/cgroup`, 'utf8')) => text.split('\n').filter(Boolean).map((l) => l.replace(/^\d+:/, ''));
    const expected = (line: string) => line.endsWith(`:/tsrun/${id}`);
    if (v1 && host.mounts['name=systemd']) expect(own(pid)).toContain(`name=systemd:/tsrun/${id}`);
    if (v1 && host.mounts.unified) expect(own(pid)).toContain(`:/tsrun/${id}`);
    const execd = own('self', s.ok(['exec', 'plain', 'cat', '/proc/self/cgroup']));
    expect(execd.every(expected)).toBe(true);
    expect(execd.length).toBe(own(pid).length);
    s.ok(['stop', '-t', '1', 'plain']);
    expect(leftover(id)).toEqual([]);
    // A restart makes them again; rm -f of the running container leaves none.
    s.ok(['start', 'plain']);
    await until(() => s.inspect('plain').State.Running === true);
    expect(leftover(id).length).toBeGreaterThan(0);
    s.ok(['rm', '-f', 'plain']);
    expect(leftover(id)).toEqual([]);
  });

  it('a killed monitor leaves its cgroups: rm removes them, start makes them again', async () => {
    const id = await runDetached(['--name', 'orphan', 'busybox', 'sleep', '60']);
    const rt = JSON.parse(fs.readFileSync(path.join(s.runroot, 'containers', id, 'runtime.json'), 'utf8'));
    process.kill(rt.monitorPid, 'SIGKILL');
    await until(() => s.inspect('orphan').State.Running === false);
    expect(leftover(id).length).toBeGreaterThan(0);
    s.ok(['start', 'orphan']);
    await until(() => s.inspect('orphan').State.Running === true);
    s.ok(['rm', '-f', 'orphan']);
    expect(leftover(id)).toEqual([]);
  });

  it('--memory 32m: a hog is OOM-killed, exit 137 and State.OOMKilled', () => {
    const r = s.run(['run', '--name', 'hog', '--shm-size', '300m', '--memory', '32m', 'busybox', 'dd', 'if=/dev/zero', 'of=/dev/shm/f', 'bs=1M', 'count=200']);
    expect(r.code).toBe(137);
    const st = s.inspect('hog').State;
    expect(st).toMatchObject({ OOMKilled: true, ExitCode: 137, Status: 'exited' });
    expect(s.inspect('hog').HostConfig).toMatchObject({ Memory: 32 * 1024 * 1024 });
    expect(leftover(idOf('hog'))).toEqual([]);
    s.ok(['rm', 'hog']);
    // Within the limit, nothing is killed.
    s.ok(['run', '--name', 'fits', '--memory', '32m', 'busybox', 'true']);
    expect(s.inspect('fits').State).toMatchObject({ OOMKilled: false, ExitCode: 0 });
    s.ok(['rm', 'fits']);
  });

  it('--pids-limit 20 stops a fork bomb, and it is cleaned up', () => {
    const t0 = Date.now();
    const r = s.run(['run', '--name', 'forks', '--pids-limit', '20', 'busybox', 'sh', '-c', 'for i in $(seq 50); do sleep 5 & done; wait'], { timeoutMs: 30_000 });
    expect(r.stderr).toMatch(/can't fork/);
    expect(Date.now() - t0).toBeLessThan(20_000);
    const id = idOf('forks');
    s.ok(['rm', 'forks']);
    expect(leftover(id)).toEqual([]);
  });

  it('exec into a container at its --pids-limit is refused (126), not let past the limit', async () => {
    const id = await runDetached(['--name', 'full', '--pids-limit', '2', 'busybox', 'sh', '-c', 'sleep 1000 & exec sleep 1000']);
    await until(() => fs.readFileSync(`/sys/fs/cgroup/pids/tsrun/${id}/pids.current`, 'utf8').trim() === '2');
    expect(s.run(['exec', 'full', 'true'])).toMatchObject({ code: 126, stderr: 'tsrun: container full is at its process limit (pids.max 2): no process can be added\n' });
    s.ok(['update', '--pids-limit', '3', 'full']);
    expect(s.run(['exec', 'full', 'true']).code).toBe(0);
    s.ok(['rm', '-f', 'full']);
  });

  it('--cpus 0.5 caps a busy loop near half a CPU', async () => {
    const id = await runDetached(['--name', 'spin', '--cpus', '0.5', 'busybox', 'sh', '-c', 'while :; do :; done']);
    const a = cpuNs(id);
    const t = process.hrtime.bigint();
    await new Promise((r) => setTimeout(r, 1000));
    const share = (cpuNs(id) - a) / Number(process.hrtime.bigint() - t);
    expect(share).toBeGreaterThan(0.25);
    expect(share).toBeLessThan(0.75);
    s.ok(['rm', '-f', 'spin']);
    expect(leftover(id)).toEqual([]);
  });

  it('--memory-reservation, --cpu-period/--cpu-quota, --oom-kill-disable, --blkio-weight and --device-read-bps land in the cgroups, and inspect shows them', async () => {
    const root = execFileSync('findmnt', ['-no', 'SOURCE', '/'], { encoding: 'utf8' }).trim();
    const disk = fs.existsSync('/dev/vda') ? '/dev/vda' : root;
    const { major, minor } = devNumbers(fs.statSync(disk).rdev);
    const id = await runDetached(['--name', 'limited', '-m', '64m', '--memory-reservation', '32m', '--cpu-period', '50000', '--cpu-quota', '25000', '--oom-kill-disable', '--device-read-bps', `${disk}:1mb`, 'busybox', 'sleep', '60']);
    const file = (controller: string, name: string) => fs.readFileSync(`/sys/fs/cgroup/${controller}/tsrun/${id}/${name}`, 'utf8').trim();
    expect(file('memory', 'memory.soft_limit_in_bytes')).toBe(String(32 * 1024 * 1024));
    expect(file('cpu', 'cpu.cfs_period_us')).toBe('50000');
    expect(file('cpu', 'cpu.cfs_quota_us')).toBe('25000');
    expect(file('memory', 'memory.oom_control')).toMatch(/^oom_kill_disable 1$/m);
    expect(file('blkio', 'blkio.throttle.read_bps_device')).toBe(`${major}:${minor} ${1024 * 1024}`);
    expect(s.inspect('limited').HostConfig).toMatchObject({ MemoryReservation: 32 * 1024 * 1024, CpuPeriod: 50000, CpuQuota: 25000, OomKillDisable: true, BlkioDeviceReadBps: [{ Path: disk, Rate: 1024 * 1024 }], BlkioDeviceWriteBps: null });
    s.ok(['update', '--cpu-quota', '10000', '--memory-reservation', '16m', 'limited']);
    expect(file('cpu', 'cpu.cfs_quota_us')).toBe('10000');
    expect(file('memory', 'memory.soft_limit_in_bytes')).toBe(String(16 * 1024 * 1024));
    s.ok(['rm', '-f', 'limited']);
    expect(s.run(['run', '--rm', '--oom-kill-disable', 'busybox', 'true']).stderr).toBe("WARNING: Disabling the OOM killer on containers without setting a '-m/--memory' limit may be dangerous.\n");
  });

  it('stats --no-stream, top, update and info', async () => {
    const id = await runDetached(['--name', 'watched', '--memory', '64m', 'busybox', 'sleep', '60']);
    const stats = s.ok(['stats', '--no-stream', 'watched']);
    expect(stats).toMatch(/^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS\n/);
    expect(stats).toMatch(new RegExp(`^${id.slice(0, 12)}\\s+watched\\s+\\d+\\.\\d\\d%\\s+\\S+ / 64MiB\\s+\\d+\\.\\d\\d%\\s+0B / 0B\\s+\\S+ / \\S+\\s+1$`, 'm'));
    expect(s.ok(['stats', '--no-stream'])).toContain('watched');
    expect(s.ok(['stats', '--no-stream', '--format', '{{.Container}} {{.Name}} {{.PIDs}} {{.MemUsage}}', 'watched'])).toMatch(/^watched watched 1 \S+ \/ 64MiB\n$/);
    expect(s.ok(['stats', '--no-stream', '--format', 'table {{.ID}}\\t{{.MemPerc}}', id])).toMatch(new RegExp(`^CONTAINER ID +MEM %\n${id.slice(0, 12)} +\\d+\\.\\d\\d%\n$`));
    expect(JSON.parse(s.ok(['stats', '--no-stream', '--format', 'json', 'watched']))).toMatchObject({ Container: 'watched', Name: 'watched', PIDs: '1', NetIO: '0B / 0B', BlockIO: expect.stringMatching(/^\S+ \/ \S+$/) });

    // With ps options, ps(1)'s own columns for the container's processes only.
    const custom = s.ok(['top', 'watched', '-o', 'pid,comm']).trim().split('\n').map((l) => l.trim().split(/\s+/));
    expect(custom[0]).toEqual(['PID', 'COMMAND']);
    expect(custom.slice(1).map((r) => r[0])).toContain(String(s.inspect('watched').State.Pid));
    expect(custom.slice(1).every((r) => Number(r[0]) !== process.pid)).toBe(true);
    const top = s.ok(['top', 'watched']).split('\n');
    expect(top[0]).toMatch(/^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    expect(top[1]).toMatch(new RegExp(`^root\\s+${s.inspect('watched').State.Pid}\\s+\\d+\\s+\\d+\\s+\\S+\\s+\\?\\s+\\d\\d:\\d\\d:\\d\\d\\s+sleep 60$`));

    expect(s.ok(['update', '--memory', '128m', '--pids-limit', '50', 'watched'])).toBe('watched\n');
    expect(fs.readFileSync(memLimitFile(id), 'utf8').trim()).toBe(String(128 * 1024 * 1024));
    expect(fs.readFileSync(path.join(dirs(id).pids!, 'pids.max'), 'utf8').trim()).toBe('50');
    expect(s.inspect('watched').HostConfig).toMatchObject({ Memory: 128 * 1024 * 1024, PidsLimit: 50 });
    // The next start keeps the updated limits.
    s.ok(['stop', '-t', '0', 'watched']);
    s.ok(['start', 'watched']);
    await until(() => s.inspect('watched').State.Running === true);
    expect(fs.readFileSync(memLimitFile(id), 'utf8').trim()).toBe(String(128 * 1024 * 1024));
    expect(s.run(['update', '--memory', '1k', 'watched']).stderr).toBe('tsrun: Minimum memory limit allowed is 6MB\n');
    // Stopped: stats shows zeros (docker's row); top refuses with one line.
    s.ok(['stop', '-t', '0', 'watched']);
    expect(s.ok(['stats', '--no-stream', 'watched'])).toMatch(new RegExp(`^${id.slice(0, 12)}\\s+watched\\s+0\\.00%\\s+0B / 0B\\s+0\\.00%\\s+0B / 0B\\s+0B / 0B\\s+0$`, 'm'));
    expect(s.run(['top', 'watched'])).toMatchObject({ code: 1, stderr: 'tsrun: container watched is not running\n' });
    s.ok(['rm', '-f', 'watched']);

    const info = s.ok(['info']);
    expect(info).toContain(`Cgroup Version: ${host.version}\n`);
    expect(info).toMatch(/^Seccomp: supported; containers get docker's default profile/m);
    expect(info).toContain(`Root Dir: ${s.root}\n`);
    expect(info).toMatch(/^User Namespaces: yes: run --uidmap/m);
  });
});

describe('the cgroup v2 device program', () => {
  /** The cgroup2 mount: /sys/fs/cgroup on a v2 host, /sys/fs/cgroup/unified on a hybrid one like this. */
  const v2Root = () => {
    const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' - ')[1]?.startsWith('cgroup2 '));
    if (!line) throw new Error('no cgroup2 mount on this host');
    return line.split(' ')[4]!;
  };
  const native = loadNative();
  let dir = '';
  afterAll(() => {
    if (dir) fs.rmdirSync(dir);
  });

  it('replaces the program an earlier start or update attached: the newest rules alone decide', () => {
    dir = fs.mkdtempSync(path.join(v2Root(), 'tsrun-test-'));
    // A shell moved into the cgroup first, then the probe: an open of /dev/fuse (c 10:229; no capability needed).
    const probe = () => {
      const out = spawnSync('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && head -c 0 /dev/fuse 2>&1 && echo opened`], { encoding: 'utf8' }).stdout;
      return /Operation not permitted/.test(out) ? 'EPERM' : out.trim();
    };
    const denyFuse = deviceFilterProgram([{ allow: false, type: 'c', major: 10, minor: 229, access: 'rw' }]);
    expect(probe()).toBe('opened');
    native.attachDeviceFilter({ cgroup: dir, program: denyFuse });
    expect(probe()).toBe('EPERM');
    native.attachDeviceFilter({ cgroup: dir, program: deviceFilterProgram([{ allow: true, access: 'rwm' }]) });
    expect(probe()).toBe('opened');
    native.attachDeviceFilter({ cgroup: dir, program: denyFuse });
    expect(probe()).toBe('EPERM');
    // The verifier's word on a program it refuses (an exit without r0 set) comes with the error.
    const bad = Buffer.from([0x95, 0, 0, 0, 0, 0, 0, 0]);
    expect(() => native.attachDeviceFilter({ cgroup: dir, program: bad })).toThrow(/^EACCES: permission denied, bpf\(BPF_PROG_LOAD\) '.*' \(R0 !read_ok\)$/);
    expect(probe()).toBe('EPERM');
  });
});

it('a cgroupfs tsrun cannot write (tsrun inside a container) runs containers without limits, and refuses limits', () => {
  // A read-only cgroup2 over /sys/fs/cgroup in a private mount namespace: mkdir fails with EROFS.
  const tsrun = `${tsrunBin} --root ${s.root} --runroot ${s.runroot}`;
  const script = [
    'mount -t cgroup2 -o ro none /sys/fs/cgroup || exit 99',
    `${tsrun} run --rm busybox echo ran 2>/dev/null`,
    `${tsrun} run --rm --memory 64m busybox echo limited; echo "exit $?"`,
  ].join('\n');
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8', env: { ...process.env, TSRUN_LOG_LEVEL: 'warn' } });
  expect(r.stdout).toBe('ran\nexit 125\n');
  expect(r.stderr).toMatch(/^tsrun: cannot create cgroup \/sys\/fs\/cgroup\/tsrun\S*: EROFS: read-only file system/m);
});
