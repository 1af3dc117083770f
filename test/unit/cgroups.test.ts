import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { binarySize } from '../../src/cli/format.js';
import { applyLimits, cgroupDirs, parseCgroupHost } from '../../src/runtime/cgroups/host.js';
import { RUNTIME_DEVICE_ALLOWS, cgroupResources, cgroupWrites, cpuPercent, ociResources, parseResourceFlags, sharesToWeight } from '../../src/runtime/cgroups/limits.js';
import { buildContainerSpec } from '../../src/runtime/plan/container-spec.js';
import { buildLaunchPlan, encodeExecPlan, encodePlan } from '../../src/runtime/plan/launch-plan.js';
import type { OciImageConfig } from '../../src/image/oci-layout.js';

const MiB = 1024 * 1024;

const fourCpus = () => ({ count: 4, online: '0-3' });

describe('resource flags', () => {
  it('parses docker\'s byte sizes, cpus, shares, cpusets and pids limits', () => {
    expect(parseResourceFlags({ memory: '64m', cpus: '0.5', cpuShares: '512', cpusetCpus: '0-1,3', pidsLimit: '20' }, {}, fourCpus)).toEqual({
      memory: 64 * MiB,
      nanoCpus: 500_000_000,
      cpuShares: 512,
      cpusetCpus: '0-1,3',
      pidsLimit: 20,
    });
    expect(parseResourceFlags({ memory: '1g', memorySwap: '-1' })).toEqual({ memory: 1024 * MiB, memorySwap: -1 });
    expect(parseResourceFlags({ memory: '32m', memorySwap: '32m' })).toEqual({ memory: 32 * MiB, memorySwap: 32 * MiB });
    expect(parseResourceFlags({ pidsLimit: '-1' })).toEqual({});
  });

  it('refuses what docker refuses', () => {
    expect(() => parseResourceFlags({ memory: '1m' })).toThrow('Minimum memory limit allowed is 6MB');
    expect(() => parseResourceFlags({ memory: 'lots' })).toThrow(/invalid size/);
    expect(() => parseResourceFlags({ memorySwap: '64m' })).toThrow(/always set the Memory limit/);
    expect(() => parseResourceFlags({ memory: '64m', memorySwap: '32m' })).toThrow(/larger than memory limit/);
    expect(() => parseResourceFlags({ cpus: 'two' })).toThrow(/--cpus/);
    expect(() => parseResourceFlags({ cpus: '0.001' })).toThrow(/Range of CPUs/);
    expect(() => parseResourceFlags({ cpusetCpus: '0-a' })).toThrow(/cpuset/);
    // Past the host's CPUs, docker's words, not the kernel's ERANGE at the start.
    expect(() => parseResourceFlags({ cpus: '4.5' }, {}, fourCpus)).toThrow('Range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available');
    expect(parseResourceFlags({ cpus: '4' }, {}, fourCpus)).toEqual({ nanoCpus: 4e9 });
    expect(() => parseResourceFlags({ cpusetCpus: '1,5' }, {}, fourCpus)).toThrow('Requested CPUs are not available - requested 1,5, available: 0-3');
    expect(() => parseResourceFlags({ cpusetCpus: '3-1' }, {}, fourCpus)).toThrow('invalid value 3-1 for cpuset cpus');
    expect(() => parseResourceFlags({ cpusetCpus: '0-100000000' }, {}, fourCpus)).toThrow('invalid value 0-100000000 for cpuset cpus');
    expect(() => parseResourceFlags({ pidsLimit: '1.5' })).toThrow(/--pids-limit/);
  });

  it('takes docker\'s less used limits with its checks: reservation, swappiness, CFS period and quota, cpuset mems, OOM killer, block I/O', () => {
    const r = parseResourceFlags({ memory: '64m', memoryReservation: '32m', memorySwappiness: '10', cpuPeriod: '50000', cpuQuota: '25000', cpusetMems: '0', oomKillDisable: true, blkioWeight: '300' });
    expect(r).toEqual({ memory: 64 * MiB, memoryReservation: 32 * MiB, memorySwappiness: 10, cpuPeriod: 50_000, cpuQuota: 25_000, cpusetMems: '0', oomKillDisable: true, blkioWeight: 300 });
    expect(ociResources(r)).toEqual({
      memory: { limit: 64 * MiB, swap: 128 * MiB, reservation: 32 * MiB, swappiness: 10, disableOOMKiller: true },
      cpu: { period: 50_000, quota: 25_000, mems: '0' },
      blockIO: { weight: 300 },
    });
    expect(() => parseResourceFlags({ memory: '16m', memoryReservation: '32m' })).toThrow('Minimum memory limit can not be less than memory reservation limit');
    expect(() => parseResourceFlags({ cpus: '1', cpuPeriod: '50000' }, {}, fourCpus)).toThrow('Conflicting options: Nano CPUs and CPU Period cannot both be set');
    expect(() => parseResourceFlags({ cpuQuota: '10' })).toThrow('CPU cfs quota can not be less than 1ms');
    expect(() => parseResourceFlags({ blkioWeight: '5' })).toThrow('Range of blkio weight is from 10 to 1000, got 5');
    expect(() => parseResourceFlags({ memorySwappiness: '101' })).toThrow('valid memory swappiness range is 0-100');
    expect(() => parseResourceFlags({ deviceReadBps: ['/dev/null:1mb'] })).toThrow('--device-read-bps /dev/null: not a block device');
    expect(() => parseResourceFlags({ deviceReadBps: ['1mb'] })).toThrow('use DEVICE:RATE');
    // An update of one kind of throttle keeps the others.
    const cur = { deviceThrottles: [{ path: '/dev/x', major: 8, minor: 0, rate: 1, kind: 'writeIops' as const }] };
    expect(parseResourceFlags({ blkioWeight: '0' }, cur)).toEqual(cur);
  });

  it('update starts from the current limits and can lift one', () => {
    const cur = { memory: 64 * MiB, pidsLimit: 10 };
    expect(parseResourceFlags({ memory: '128m' }, cur)).toEqual({ memory: 128 * MiB, pidsLimit: 10 });
    expect(parseResourceFlags({ pidsLimit: '0' }, cur)).toEqual({ memory: 64 * MiB });
  });
});

describe('OCI resources and cgroup files', () => {
  it('--cpus is a CFS quota over a 100 ms period; swap defaults to twice the memory', () => {
    expect(ociResources({ memory: 64 * MiB, nanoCpus: 1_500_000_000, cpuShares: 512, pidsLimit: 20 })).toEqual({
      memory: { limit: 64 * MiB, swap: 128 * MiB },
      cpu: { period: 100_000, quota: 150_000, shares: 512 },
      pids: { limit: 20 },
    });
    expect(ociResources({})).toEqual({});
  });

  it('v1 writes every limit where it belongs, unset ones as unlimited', () => {
    const w = cgroupWrites({ memory: { limit: 32 * MiB, swap: 32 * MiB }, cpu: { quota: 50_000, period: 100_000, cpus: '0' }, pids: { limit: 20 } }, 1);
    expect(w.map((x) => `${x.controller}:${x.file}=${x.value}`)).toEqual([
      `memory:memory.limit_in_bytes=${32 * MiB}`,
      `memory:memory.memsw.limit_in_bytes=${32 * MiB}`,
      'memory:memory.soft_limit_in_bytes=-1',
      'cpu:cpu.cfs_period_us=100000',
      'cpu:cpu.cfs_quota_us=50000',
      'cpu:cpu.shares=1024',
      'cpuset:cpuset.cpus=0',
      'pids:pids.max=20',
    ]);
    expect(cgroupWrites({}, 1).map((x) => x.value)).toEqual(['-1', '-1', '-1', '100000', '-1', '1024', 'max']);
  });

  it('memory.reservation is a soft limit (v1 soft_limit_in_bytes, v2 memory.low); swappiness is v1\'s only, written only when asked for', () => {
    const files = (v: 1 | 2, memory: NonNullable<Parameters<typeof cgroupWrites>[0]['memory']>) =>
      cgroupWrites({ memory }, v).filter((x) => x.controller === 'memory').map((x) => `${x.file}=${x.value}`);
    expect(files(1, { reservation: 16 * MiB, swappiness: 10 })).toEqual(['memory.limit_in_bytes=-1', 'memory.memsw.limit_in_bytes=-1', `memory.soft_limit_in_bytes=${16 * MiB}`, 'memory.swappiness=10']);
    expect(files(2, { reservation: 16 * MiB })).toEqual(['memory.max=max', 'memory.swap.max=max', `memory.low=${16 * MiB}`]);
    expect(() => files(2, { swappiness: 10 })).toThrow('linux.resources.memory.swappiness needs cgroup v1');
    expect(() => files(1, { swappiness: 101 })).toThrow('swappiness must be from 0 to 100');
    // 0 is "none set" for the limit and the swap alike (runc's), never a 0-byte memsw the kernel refuses.
    expect(files(1, { limit: 0, swap: 0 })).toEqual(['memory.limit_in_bytes=-1', 'memory.memsw.limit_in_bytes=-1', 'memory.soft_limit_in_bytes=-1']);
    expect(files(2, { limit: 32 * MiB, swap: 0 })).toEqual([`memory.max=${32 * MiB}`, 'memory.swap.max=max', 'memory.low=0']);
  });

  it('v2 uses memory.max, memory.swap.max (swap only), cpu.max and cpu.weight', () => {
    const w = cgroupWrites({ memory: { limit: 32 * MiB, swap: 64 * MiB }, cpu: { quota: 50_000, period: 100_000, shares: 2 } }, 2);
    expect(w.map((x) => `${x.file}=${x.value}`)).toEqual([`memory.max=${32 * MiB}`, `memory.swap.max=${32 * MiB}`, 'memory.low=0', 'cpu.max=50000 100000', 'cpu.weight=1', 'pids.max=max']);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(262144)).toBe(10000);
    expect(sharesToWeight(1_000_000)).toBe(10000);
  });

  it('linux.resources.unified: written as given on v2 (Kubernetes\' memory.oom.group), refused on v1 and for paths or cgroup.* files', () => {
    expect(cgroupWrites({ unified: { 'memory.oom.group': '1' } }, 2, true)).toEqual([{ controller: 'memory', file: 'memory.oom.group', value: '1' }]);
    expect(() => cgroupWrites({ unified: { 'memory.oom.group': '1' } }, 1)).toThrow('linux.resources.unified needs cgroup v2; this host has v1');
    for (const bad of ['../x', 'cgroup.procs', 'memory.max/x']) expect(() => cgroupWrites({ unified: { [bad]: '1' } }, 2)).toThrow(/is not a cgroup v2 controller file/);
  });

  it('v2 writes "max" for OCI\'s -1 or 0 (EINVAL as numbers), and the kernel\'s weight when no shares are asked for', () => {
    const v2 = (res: Parameters<typeof cgroupWrites>[0]) => cgroupWrites(res, 2).map((x) => `${x.file}=${x.value}`);
    expect(v2({ memory: { limit: -1, swap: -1 }, cpu: { quota: -1, shares: 0 } })).toEqual(['memory.max=max', 'memory.swap.max=max', 'memory.low=0', 'cpu.max=max 100000', 'cpu.weight=100', 'pids.max=max']);
    // --cpus alone (or any update) leaves the weight at the kernel's default, not at 1024's 39.
    expect(v2({ cpu: { quota: 50_000, cpus: '0', mems: '0' } })).toEqual(['memory.max=max', 'memory.swap.max=max', 'memory.low=0', 'cpu.max=50000 100000', 'cpu.weight=100', 'cpuset.cpus=0', 'cpuset.mems=0', 'pids.max=max']);
    expect(cgroupWrites({ memory: { limit: 0 }, cpu: { quota: 0, shares: 0 } }, 1).map((x) => x.value)).toEqual(['-1', '-1', '-1', '100000', '-1', '1024', 'max']);
  });

  it('blockIO and disableOOMKiller go where runc writes them: v1 blkio files, v2 io.weight and io.max; only what is asked for', () => {
    const io = { weight: 300, weightDevice: [{ major: 8, minor: 0, weight: 200 }], throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1024 }], throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 0 }] };
    const extra = (v: 1 | 2) => cgroupWrites({ blockIO: io, memory: { disableOOMKiller: true } }, v, true).filter((x) => x.controller === 'blkio' || x.file === 'memory.oom_control').map((x) => `${x.file}=${x.value}`);
    expect(extra(1)).toEqual(['memory.oom_control=1', 'blkio.bfq.weight=300', 'blkio.bfq.weight_device=8:0 200', 'blkio.throttle.read_bps_device=8:0 1024', 'blkio.throttle.write_iops_device=8:16 0']);
    expect(extra(2)).toEqual(['io.bfq.weight=300', 'io.bfq.weight=8:0 200', 'io.max=8:0 rbps=1024', 'io.max=8:16 wiops=max']);
    expect(() => cgroupWrites({ blockIO: { weightDevice: [{ major: 8, minor: 0, weight: 100, leafWeight: 100 }] } }, 1)).toThrow('leafWeight is not supported');
    expect(cgroupWrites({}, 1).some((x) => x.controller === 'blkio' || x.file === 'memory.oom_control')).toBe(false);
    expect(() => cgroupWrites({ blockIO: { weight: 5 } }, 1)).toThrow('linux.resources.blockIO.weight must be from 10 to 1000: 5');
    expect(() => cgroupWrites({ blockIO: { throttleReadBpsDevice: [{ major: 8, minor: 0, rate: -1 }] } }, 1)).toThrow(/rate must be a whole number of bytes a second/);
  });

  it('a BFQ weight goes to v2\'s io.weight on its own scale (runc\'s conversion) where BFQ is not there, or is refused with neither', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-io-'));
    try {
      fs.writeFileSync(path.join(dir, 'io.weight'), '');
      const v2 = { version: 2 as const, root: dir, controllers: ['io'] };
      applyLimits(v2, { blkio: dir }, { blockIO: { weight: 1000 } }, true);
      expect(fs.readFileSync(path.join(dir, 'io.weight'), 'utf8')).toBe('default 10000');
      applyLimits(v2, { blkio: dir }, { blockIO: { weightDevice: [{ major: 8, minor: 0, weight: 10 }] } }, true);
      expect(fs.readFileSync(path.join(dir, 'io.weight'), 'utf8')).toBe('8:0 1');
      fs.rmSync(path.join(dir, 'io.weight'));
      expect(() => applyLimits(v2, { blkio: dir }, { blockIO: { weight: 500 } }, true)).toThrow(/need an I\/O scheduler with weights/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('CPU % as docker computes it', () => {
    // Half a CPU's time over one second on a 2-CPU host: the host's CPU time grew by 2 s.
    expect(cpuPercent(0.5e9, 2e9, 2)).toBe(50);
    expect(cpuPercent(0, 2e9, 2)).toBe(0);
    expect(cpuPercent(1e9, 0, 2)).toBe(0);
    expect(binarySize(64 * MiB)).toBe('64MiB');
    expect(binarySize(241664)).toBe('236KiB');
    expect(binarySize(1536)).toBe('1.5KiB');
  });
});

describe('host detection', () => {
  const hybrid = [
    '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
    '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
    '34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset',
    '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
    '39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
    '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd',
    '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  ].join('\n');

  it('a hybrid host is v1, each controller where its hierarchy is mounted, with systemd\'s and the empty cgroup2 joined too', () => {
    const host = parseCgroupHost(hybrid, () => '');
    expect(host).toEqual({
      version: 1,
      mounts: {
        cpu: '/sys/fs/cgroup/cpu,cpuacct',
        cpuacct: '/sys/fs/cgroup/cpu,cpuacct',
        cpuset: '/sys/fs/cgroup/cpuset',
        memory: '/sys/fs/cgroup/memory',
        pids: '/sys/fs/cgroup/pids',
        'name=systemd': '/sys/fs/cgroup/systemd',
        unified: '/sys/fs/cgroup/unified',
      },
    });
    expect(cgroupDirs(host, 'tsrun/abc')).toMatchObject({ memory: '/sys/fs/cgroup/memory/tsrun/abc', 'name=systemd': '/sys/fs/cgroup/systemd/tsrun/abc', unified: '/sys/fs/cgroup/unified/tsrun/abc' });
  });

  it('a unified /sys/fs/cgroup is v2', () => {
    const host = parseCgroupHost('25 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate', () => 'cpuset cpu io memory pids\n');
    expect(host).toEqual({ version: 2, root: '/sys/fs/cgroup', controllers: ['cpuset', 'cpu', 'io', 'memory', 'pids'] });
    expect(cgroupDirs(host, 'tsrun/abc').pids).toBe('/sys/fs/cgroup/tsrun/abc');
  });
});

describe('plans', () => {
  const image = { architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [] } } as unknown as OciImageConfig;

  it('device rules: deny all, mknod any, read/write only the default devices (v1 lines in order); --privileged all; none on v2', () => {
    const devices = (res: Parameters<typeof cgroupWrites>[0], v: 1 | 2) => cgroupWrites(res, v).filter((w) => w.controller === 'devices');
    // podman's spec says only "deny all": the runtime adds its defaults, then the spec's devices.
    const res = cgroupResources({ devices: [{ allow: false, access: 'rwm' }] }, [{ type: 'c', major: 10, minor: 229 }, { type: 'p' }]);
    const writes = devices(res, 1).map((w) => `${w.file} ${w.value}`);
    expect(writes.slice(0, 4)).toEqual(['devices.deny a', 'devices.allow c *:* m', 'devices.allow b *:* m', 'devices.allow c 1:3 rwm']);
    expect(writes).toContain('devices.allow c 136:* rwm');
    expect(writes.at(-1)).toBe('devices.allow c 10:229 rwm');
    expect(writes).not.toContain('devices.allow b 254:0 rwm');
    expect(devices({ devices: [{ allow: true, access: 'rwm' }] }, 1).map((w) => `${w.file} ${w.value}`)).toEqual(['devices.allow a']);
    expect(devices(res, 2)).toEqual([]);
    // A spec without device rules gets the defaults behind a deny all (runc's), never the host's devices.
    expect(cgroupResources({ pids: { limit: 1 } })).toEqual({ pids: { limit: 1 }, devices: [{ allow: false, access: 'rwm' }, ...RUNTIME_DEVICE_ALLOWS] });
    // A new cgroup gets only what was asked for; one reused gets every default back.
    expect(cgroupWrites({ pids: { limit: 5 } }, 1, true).map((w) => w.file)).toEqual(['pids.max']);
    expect(cgroupWrites({}, 1).map((w) => w.file)).toContain('memory.limit_in_bytes');
  });

  it('config.json carries cgroupsPath and resources; the plan carries cgroup and oomfile records', () => {
    const spec = buildContainerSpec({
      image,
      options: { env: [], cmd: [], resources: { memory: 64 * MiB, pidsLimit: 5 } },
      user: { uid: 0, gid: 0, additionalGids: [], home: '/root' },
      hostname: 'box',
      rootPath: '/m',
      cgroupsPath: 'tsrun/abc',
      files: { hosts: '/c/hosts', hostname: '/c/hostname', resolvConf: '/c/resolv.conf' },
    });
    expect(spec.linux.cgroupsPath).toBe('tsrun/abc');
    expect(spec.linux.resources).toEqual({ memory: { limit: 64 * MiB, swap: 128 * MiB }, pids: { limit: 5 }, devices: [{ allow: false, access: 'rwm' }] });
    expect(RUNTIME_DEVICE_ALLOWS.length).toBeGreaterThan(5);
    const plan = buildLaunchPlan(spec, { mkcwd: true, isFileSource: () => false, cgroups: ['/cg/memory/tsrun/abc/cgroup.procs', '/cg/pids/tsrun/abc/cgroup.procs'], oomFile: '/cg/memory/tsrun/abc/memory.oom_control' });
    const wire = encodePlan(plan).toString().split('\0');
    expect(wire.slice(-8)).toEqual(['cgroup', '/cg/memory/tsrun/abc/cgroup.procs', 'cgroup', '/cg/pids/tsrun/abc/cgroup.procs', 'oomfile', '/cg/memory/tsrun/abc/memory.oom_control', 'end', '']);
    const exec = encodeExecPlan({ join: { pid: 7, namespaces: ['mnt'] }, cgroups: ['/cg/pids/tsrun/abc/cgroup.procs'], env: [], args: ['sh'], cwd: '/', uid: 0, gid: 0, groups: [], rlimits: [], noNewPrivs: false });
    expect(exec.toString().split('\0').slice(-4)).toEqual(['cgroup', '/cg/pids/tsrun/abc/cgroup.procs', 'end', '']);
  });
});
