import { describe, expect, it } from 'vitest';
import { MS, buildLaunchPlan, checkWorkingDir, encodePlan, parseMountOptions } from '../../src/runtime/plan/launch-plan.js';
import { checkIdmappedRootKernel, freeIdRange, subordinateIds } from '../../src/runtime/plan/user-namespace.js';
import { buildContainerSpec, expandEnvFlags, mergeEnv, readEnvFiles, resolveArgs } from '../../src/runtime/plan/container-spec.js';
import type { OciImageConfig } from '../../src/image/oci-layout.js';

const image = {
  architecture: 'amd64',
  os: 'linux',
  config: { Env: ['PATH=/bin', 'A=1'], Cmd: ['sh'], WorkingDir: '/srv' },
  rootfs: { type: 'layers', diff_ids: [] },
} as unknown as OciImageConfig;

const spec = () =>
  buildContainerSpec({
    image,
    options: { env: ['A=2', 'B=3'], cmd: [] },
    user: { uid: 1000, gid: 1000, additionalGids: [10], home: '/home/app' },
    hostname: 'box',
    rootPath: '/store/overlay/x/merged',
    files: { hosts: '/c/hosts', hostname: '/c/hostname', resolvConf: '/c/resolv.conf' },
  });

describe('container spec (image level)', () => {
  it('combines Entrypoint and Cmd as docker does', () => {
    expect(resolveArgs({ Entrypoint: ['/e'], Cmd: ['a'] }, { cmd: [] })).toEqual(['/e', 'a']);
    expect(resolveArgs({ Entrypoint: ['/e'], Cmd: ['a'] }, { cmd: ['b'] })).toEqual(['/e', 'b']);
    expect(resolveArgs({ Entrypoint: ['/e'], Cmd: ['a'] }, { entrypoint: '/x', cmd: [] })).toEqual(['/x']);
    expect(resolveArgs({ Entrypoint: ['/e'], Cmd: ['a'] }, { entrypoint: '', cmd: ['ls'] })).toEqual(['ls']);
    expect(() => resolveArgs({}, { cmd: [] })).toThrow(/no command specified/);
  });

  it('merges env: image, then -e, later wins, HOSTNAME and HOME added', () => {
    expect(mergeEnv(['A=1', 'B=1'], ['A=2'])).toEqual(['A=2', 'B=1']);
    expect(expandEnvFlags(['X=1', 'HOMEISH', 'SET'], { SET: 'v' })).toEqual(['X=1', 'SET=v']);
    expect(() => expandEnvFlags(['=x'], {})).toThrow();
    const s = spec();
    expect(s.process.env).toEqual(['HOSTNAME=box', 'PATH=/bin', 'A=2', 'B=3', 'HOME=/home/app']);
    expect(s.process.cwd).toBe('/srv');
    expect(s.process.args).toEqual(['sh']);
    expect(s.process.user).toEqual({ uid: 1000, gid: 1000, umask: 0o022, additionalGids: [10] });
  });

  it('asks for new pid, net, ipc, uts and mount namespaces and binds the init placeholders', () => {
    const s = spec();
    expect(s.linux.namespaces.map((n) => n.type).sort()).toEqual(['ipc', 'mount', 'network', 'pid', 'uts']);
    expect(s.mounts.filter((m) => m.type === 'bind').map((m) => [m.destination, m.source])).toEqual([
      ['/etc/resolv.conf', '/c/resolv.conf'],
      ['/etc/hostname', '/c/hostname'],
      ['/etc/hosts', '/c/hosts'],
    ]);
    expect(s.linux.maskedPaths).toContain('/proc/kcore');
    expect(s.linux.readonlyPaths).toContain('/proc/sys');
  });
});

describe('launch plan', () => {
  it('turns mount options into MS_* flags and data', () => {
    expect(parseMountOptions(['nosuid', 'noexec', 'nodev', 'ro'])).toEqual({ flags: MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RDONLY, data: '' });
    expect(parseMountOptions(['nosuid', 'mode=755', 'size=65536k', 'strictatime'])).toEqual({ flags: MS.NOSUID | MS.STRICTATIME, data: 'mode=755,size=65536k' });
    expect(parseMountOptions(['rbind', 'rprivate', 'ro', 'rw'])).toEqual({ flags: MS.BIND | MS.REC | MS.PRIVATE, data: '' });
    // One propagation type, the last; a plain bind stays one (docker's bind-recursive=disabled sends bind,rprivate).
    expect(parseMountOptions(['bind', 'rshared', 'rslave'])).toEqual({ flags: MS.BIND | MS.SLAVE, data: '' });
    expect(parseMountOptions(['rbind', 'rro', 'rnosuid', 'rnodev', 'rnoexec'])).toEqual({ flags: MS.BIND | MS.REC | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, data: '' });
  });

  it('resolves namespaces, devices, /dev symlinks, binds as files, and monitor duties', () => {
    const plan = buildLaunchPlan(spec(), { mkcwd: true, exitFile: '/c/exit.json', unmountPath: '/m', isFileSource: () => true });
    expect(plan.namespaces.sort()).toEqual(['ipc', 'mnt', 'net', 'pid', 'uts']);
    expect(plan.loopback).toBe(true);
    expect(plan.propagation).toBe(MS.SLAVE | MS.REC);
    expect(plan.devices.map((d) => d.path)).toEqual(['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty']);
    expect(plan.symlinks).toContainEqual(['/dev/ptmx', 'pts/ptmx']);
    const hosts = plan.mounts.find((m) => m.dest === '/etc/hosts')!;
    expect(hosts).toMatchObject({ type: 'bind', kind: 'file', source: '/c/hosts' });
    expect(hosts.flags & MS.BIND).toBeTruthy();
    expect(plan.mounts.find((m) => m.dest === '/proc')).toMatchObject({ type: 'proc', kind: 'dir' });
    expect(plan.noNewPrivs).toBe(true);
  });

  it('refuses paths that leave the root and a cwd into /proc/self/fd (CVE-2024-21626)', () => {
    expect(() => checkWorkingDir('/proc/self/fd/7')).toThrow(/CVE-2024-21626/);
    expect(() => checkWorkingDir('/proc/1/fd')).toThrow();
    expect(() => checkWorkingDir('relative')).toThrow();
    expect(() => checkWorkingDir('/a/../b')).toThrow();
    expect(() => checkWorkingDir('/srv/app')).not.toThrow();
    const s = spec();
    s.mounts.push({ destination: '/x/../../etc', type: 'tmpfs', source: 'tmpfs' });
    expect(() => buildLaunchPlan(s, { mkcwd: false, isFileSource: () => false })).toThrow(/mount destination/);
  });

  it('encodes NUL-separated records ending in "end"', () => {
    const plan = buildLaunchPlan(spec(), { mkcwd: true, isFileSource: () => false });
    const fields = encodePlan(plan).toString().split('\0');
    expect(fields[0]).toBe('root');
    expect(fields[1]).toBe('/store/overlay/x/merged');
    expect(fields.at(-2)).toBe('end');
    expect(fields.at(-1)).toBe('');
    const argAt = fields.indexOf('arg');
    expect(fields[argAt + 1]).toBe('sh');
    const userAt = fields.indexOf('user');
    expect(fields.slice(userAt, userAt + 3)).toEqual(['user', '1000', '1000']);
    plan.args = ['a\0b'];
    expect(() => encodePlan(plan)).toThrow(/NUL/);
  });
});

describe('launch plan: what the OCI runtime needs', () => {
  const extras = { mkcwd: true, isFileSource: () => false };
  const base = () => {
    const s = spec();
    s.linux.seccomp = undefined;
    return s;
  };

  it('joins namespaces given by path (pid, net, ...), never a mount namespace', () => {
    const s = base();
    s.linux.namespaces = s.linux.namespaces.map((n) => (n.type === 'network' ? { type: 'network', path: '/run/netns/a' } : n));
    const plan = buildLaunchPlan(s, extras);
    expect(plan.nsPaths).toEqual([['net', '/run/netns/a']]);
    expect(plan.namespaces).not.toContain('net');
    expect(plan.loopback).toBe(false);
    expect(encodePlan(plan).toString().split('\0')).toEqual(expect.arrayContaining(['nspath', 'net', '/run/netns/a']));
    s.linux.namespaces = s.linux.namespaces.map((n) => (n.type === 'mount' ? { type: 'mount', path: '/proc/1/ns/mnt' } : n));
    expect(() => buildLaunchPlan(s, extras)).toThrow(/mount namespace/);
  });

  it('refuses a hostname without a uts namespace of its own', () => {
    const s = base();
    s.linux.namespaces = s.linux.namespaces.filter((n) => n.type !== 'uts');
    expect(() => buildLaunchPlan(s, extras)).toThrow(/hostname needs a new uts namespace/);
  });

  it('shows a cgroup mount as the container\'s own cgroup dirs, read-only unless it says rw', () => {
    const s = base();
    s.mounts.push({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro'] });
    const v1 = buildLaunchPlan(s, { ...extras, cgroupViews: [{ name: 'memory', dir: '/sys/fs/cgroup/memory/x' }, { name: 'pids', dir: '/sys/fs/cgroup/pids/x' }] });
    const cg = v1.mounts.filter((m) => m.dest.startsWith('/sys/fs/cgroup'));
    expect(cg.map((m) => [m.dest, m.type, m.source])).toEqual([
      ['/sys/fs/cgroup', 'tmpfs', 'tmpfs'],
      ['/sys/fs/cgroup/memory', 'bind', '/sys/fs/cgroup/memory/x'],
      ['/sys/fs/cgroup/pids', 'bind', '/sys/fs/cgroup/pids/x'],
    ]);
    expect(cg[1]!.flags & MS.RDONLY).toBe(MS.RDONLY);
    const v2 = buildLaunchPlan(s, { ...extras, cgroupViews: [{ name: '', dir: '/sys/fs/cgroup/x' }] });
    expect(v2.mounts.filter((m) => m.dest === '/sys/fs/cgroup').map((m) => [m.type, m.source])).toEqual([['bind', '/sys/fs/cgroup/x']]);
    // rw when the spec asks (podman's --systemd), still nosuid, nodev, noexec.
    s.mounts.at(-1)!.options = ['rw', 'nosuid'];
    const rw = buildLaunchPlan(s, { ...extras, cgroupViews: [{ name: '', dir: '/sys/fs/cgroup/x' }] }).mounts.find((m) => m.dest === '/sys/fs/cgroup')!;
    expect(rw.flags & (MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC)).toBe(MS.NOSUID | MS.NODEV | MS.NOEXEC);
  });

  it('tmpcopyup makes a copyup mount and never reaches mount data; device modes lose their type bits', () => {
    const s = base();
    s.mounts.push({ destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'tmpcopyup', 'mode=755'] });
    s.linux.devices = [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 0o20666 }];
    const plan = buildLaunchPlan(s, extras);
    expect(plan.mounts.find((m) => m.dest === '/run')).toMatchObject({ kind: 'copyup', data: 'mode=755' });
    expect(plan.devices.find((d) => d.path === '/dev/fuse')).toMatchObject({ kind: 'c', mode: 0o666 });
  });

  it('a user namespace of its own carries its uid and gid maps to the monitor, checked as the kernel would (overlap, size, 340 lines); the process\'s ids must be mapped', () => {
    const s = base();
    s.linux.namespaces.push({ type: 'user' });
    s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 1000 }, { containerID: 1000, hostID: 5000, size: 1 }];
    const plan = buildLaunchPlan(s, extras);
    expect(plan.namespaces).toContain('user');
    const fields = encodePlan(plan).toString().split('\0');
    const records = (kw: string) => fields.flatMap((f, i) => (f === kw ? [fields.slice(i + 1, i + 4)] : []));
    expect(records('uidmap')).toEqual([['0', '100000', '65536']]);
    expect(records('gidmap')).toEqual([['0', '100000', '1000'], ['1000', '5000', '1']]);
    // The image's user (1000) with additional group 10: both mapped. Group 2000 is not.
    s.process.user.additionalGids = [10, 2000];
    expect(() => buildLaunchPlan(s, extras)).toThrow(/gid 2000 is not mapped/);
    s.process.user.additionalGids = [];
    s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 5 }, { containerID: 4, hostID: 200000, size: 5 }];
    expect(() => buildLaunchPlan(s, extras)).toThrow(/overlap/);
    s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 0 }];
    expect(() => buildLaunchPlan(s, extras)).toThrow(/size above 0/);
    s.linux.uidMappings = Array.from({ length: 341 }, (_, i) => ({ containerID: i, hostID: 100000 + i, size: 1 }));
    expect(() => buildLaunchPlan(s, extras)).toThrow(/at most 340/);
  });

  it('--userns auto: the first free range of the user "containers" in /etc/subuid, apart from other containers\'', () => {
    const ranges = subordinateIds('root:100000:65536\ncontainers:200000:200000\n# comment\ncontainers:1000000:70000\nbad:line\n', 'containers');
    expect(ranges).toEqual([{ start: 200000, count: 200000 }, { start: 1000000, count: 70000 }]);
    expect(freeIdRange(ranges, [], 65536)).toBe(200000);
    const used = (hostID: number, size = 65536) => ({ containerID: 0, hostID, size });
    expect(freeIdRange(ranges, [used(200000)], 65536)).toBe(265536);
    // Out of order, and a gap too small between them: the next one that fits.
    expect(freeIdRange(ranges, [used(331000), used(200000)], 65536)).toBe(1000000);
    expect(freeIdRange(ranges, [used(331000), used(200000), used(1000000, 10000)], 65536)).toBe(undefined);
    expect(freeIdRange(ranges, [used(200000, 1000)], 1000)).toBe(201000);
  });

  it('--uidmap\'s idmapped root needs Linux 5.19 (overlayfs over idmapped layers)', () => {
    for (const ok of ['5.19.0', '6.1.0-28-amd64', '6.18.0-13-amd64', '7.0']) expect(() => checkIdmappedRootKernel(ok)).not.toThrow();
    for (const old of ['5.18.9', '5.15.0-91-generic', '4.19.0']) expect(() => checkIdmappedRootKernel(old)).toThrow(`--uidmap needs Linux 5.19 or later (overlayfs over idmapped layers), and this is ${old}`);
  });

  it('encodes the OCI runtime\'s monitor duties', () => {
    const plan = buildLaunchPlan(base(), { ...extras, passthrough: true, detach: true, cgroups: ['/sys/fs/cgroup/pids/x/tasks'], cgroupSelf: true, hookPause: true });
    const fields = encodePlan(plan).toString().split('\0');
    for (const [k, v] of [['passthrough', '1'], ['detach', '1'], ['cgroupself', '1'], ['hookpause', '1'], ['cgroup', '/sys/fs/cgroup/pids/x/tasks']]) {
      expect(fields[fields.indexOf(k!) + 1]).toBe(v);
    }
  });
});

describe('--env-file', () => {
  it('reads KEY=VALUE and KEY lines, skips comments and blanks, keeps the value verbatim', () => {
    const files: Record<string, string> = { a: '# settings\nA=1\n\nB= two words \nC\r\nD="quoted"\n', b: 'A=from b\n' };
    expect(readEnvFiles(['a', 'b'], (f) => files[f]!)).toEqual(['A=1', 'B= two words ', 'C', 'D="quoted"', 'A=from b']);
    expect(expandEnvFlags(readEnvFiles(['a'], (f) => files[f]!), { C: 'host' })).toEqual(['A=1', 'B= two words ', 'C=host', 'D="quoted"']);
  });
  it('refuses a bad name or an unreadable file with the place named', () => {
    expect(() => readEnvFiles(['x'], () => 'BAD NAME=1\n')).toThrow(/x:1: invalid variable name/);
    expect(() => readEnvFiles(['nope'], () => { throw Object.assign(new Error('gone'), { code: 'ENOENT' }); })).toThrow(/cannot read the env file nope: ENOENT/);
  });
});
