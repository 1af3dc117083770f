import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RLIM_INFINITY_JSON } from '../../src/oci/spec.js';
import { parseBytes } from '../../src/util/bytes.js';
import {
  parseDeviceCgroupRule,
  parseDeviceFlag,
  parsePublish,
  parseMountFlag,
  parseShmSize,
  parseSysctl,
  parseTmpfsFlag,
  parseUlimit,
  parseVolumeFlag,
} from '../../src/runtime/plan/run-flags.js';
import { normalizeCapability, tweakCapabilities } from '../../src/runtime/plan/capabilities.js';

describe('-v', () => {
  it('parses binds, named and anonymous volumes with modes', () => {
    expect(parseVolumeFlag('/host/dir:/data')).toEqual({ type: 'bind', makeSource: true, source: '/host/dir', target: '/data', readonly: false });
    // Docker Desktop's consistency hints: taken and ignored, as docker on Linux does.
    expect(parseVolumeFlag('/host/dir:/data:cached')).toEqual(parseVolumeFlag('/host/dir:/data'));
    expect(parseVolumeFlag('/host/dir:/data:ro,delegated')).toEqual(parseVolumeFlag('/host/dir:/data:ro'));
    expect(() => parseVolumeFlag('/host/dir:/data:cached,delegated')).toThrow('invalid mode: cached,delegated');
    expect(parseMountFlag('type=bind,source=/h,target=/d,consistency=cached')).toEqual(parseMountFlag('type=bind,source=/h,target=/d'));
    expect(() => parseMountFlag('type=bind,source=/h,target=/d,consistency=fast')).toThrow('invalid consistency: fast');
    expect(parseVolumeFlag('/host/dir/:/data/:ro')).toEqual({ type: 'bind', makeSource: true, source: '/host/dir', target: '/data', readonly: true });
    expect(parseVolumeFlag('/h:/d:ro,z')).toMatchObject({ readonly: true });
    expect(parseVolumeFlag('data:/d:nocopy')).toEqual({ type: 'volume', source: 'data', target: '/d', readonly: false, noCopy: true });
    expect(parseMountFlag('source=data,target=/d,volume-nocopy')).toMatchObject({ type: 'volume', noCopy: true });
    expect(() => parseVolumeFlag('/h:/d:nocopy')).toThrow(/nocopy is for volumes only/);
    expect(parseVolumeFlag('/h:/d:ro,idmap')).toEqual({ type: 'bind', makeSource: true, source: '/h', target: '/d', readonly: true, idmap: true });
    expect(() => parseVolumeFlag('data:/d:idmap')).toThrow(/idmap is for host directories/);
    expect(() => parseVolumeFlag('/h:/d:idmap,idmap')).toThrow(/invalid mode/);
    expect(() => parseMountFlag('type=bind,source=/h,target=/d,volume-nocopy')).toThrow(/volumes only/);
    expect(parseVolumeFlag('/h:/d:rw,rslave')).toEqual({ type: 'bind', makeSource: true, source: '/h', target: '/d', readonly: false, options: ['rslave'] });
    expect(parseVolumeFlag('cache:/var/cache')).toEqual({ type: 'volume', source: 'cache', target: '/var/cache', readonly: false });
    expect(parseVolumeFlag('/var/lib/data')).toEqual({ type: 'volume', target: '/var/lib/data', readonly: false, anonymous: true });
  });

  it('refuses what docker refuses', () => {
    expect(() => parseVolumeFlag('/data:ro')).toThrow(/invalid volume specification/);
    expect(() => parseVolumeFlag('a:b:c:d')).toThrow(/invalid volume specification/);
    expect(() => parseVolumeFlag('/h:/d:ro,rw')).toThrow(/invalid mode/);
    expect(() => parseVolumeFlag('/h:/d:bogus')).toThrow(/invalid mode/);
    expect(() => parseVolumeFlag('/h:relative')).toThrow(/absolute/);
    expect(() => parseVolumeFlag('/h:/a/../b')).toThrow(/absolute path without/);
    expect(() => parseVolumeFlag('/h:/')).toThrow(/cannot be "\/"/);
    expect(() => parseVolumeFlag('bad name:/d')).toThrow(/invalid characters/);
  });

  it('takes a relative host path from the current directory, and makes a missing -v source (docker 23\'s -v)', () => {
    expect(parseVolumeFlag('./rel:/d')).toEqual({ type: 'bind', makeSource: true, source: path.resolve('rel'), target: '/d', readonly: false });
    expect(parseVolumeFlag('..:/d:ro')).toMatchObject({ type: 'bind', source: path.resolve('..'), readonly: true });
    // --mount names only what exists: no makeSource.
    expect(parseMountFlag('type=bind,source=/h,target=/d')).not.toHaveProperty('makeSource');
  });
});

describe('--mount and --tmpfs', () => {
  it('parses the three types', () => {
    expect(parseMountFlag('type=bind,source=/h,target=/d,readonly')).toEqual({ type: 'bind', source: '/h', target: '/d', readonly: true });
    expect(parseMountFlag('type=bind,src=/h,dst=/d,ro=false,bind-propagation=rshared')).toEqual({ type: 'bind', source: '/h', target: '/d', readonly: false, options: ['rshared'] });
    expect(parseMountFlag('source=v1,target=/v')).toEqual({ type: 'volume', source: 'v1', target: '/v', readonly: false });
    expect(parseMountFlag('type=volume,destination=/v')).toEqual({ type: 'volume', target: '/v', readonly: false, anonymous: true });
    expect(parseMountFlag('type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770')).toEqual({ type: 'tmpfs', target: '/t', readonly: false, options: ['size=1048576', 'mode=1770'] });
  });

  it('refuses incomplete or contradictory mounts', () => {
    expect(() => parseMountFlag('type=bind,target=/d')).toThrow(/source must not be empty/);
    expect(() => parseMountFlag('type=bind,source=rel,target=/d')).toThrow(/absolute/);
    expect(() => parseMountFlag('type=tmpfs,source=x,target=/d')).toThrow(/source is not allowed/);
    expect(() => parseMountFlag('type=nfs,target=/d')).toThrow(/invalid mount type/);
    expect(() => parseMountFlag('type=bind,source=/h')).toThrow(/target is required/);
    expect(() => parseMountFlag('type=tmpfs,target=/t,tmpfs-mode=999')).toThrow(/octal/);
    expect(() => parseMountFlag('type=volume,target=/t,tmpfs-size=1m')).toThrow(/not allowed/);
    expect(() => parseMountFlag('type=bind,source=/h,target=/d,colour=red')).toThrow(/unexpected key/);
  });

  it('--tmpfs takes mount(8) options', () => {
    expect(parseTmpfsFlag('/run')).toEqual({ type: 'tmpfs', target: '/run', readonly: false });
    expect(parseTmpfsFlag('/run:rw,size=64m,exec')).toEqual({ type: 'tmpfs', target: '/run', readonly: false, options: ['size=64m', 'exec'] });
    expect(parseTmpfsFlag('/ro:ro')).toEqual({ type: 'tmpfs', target: '/ro', readonly: true });
    expect(() => parseTmpfsFlag('run')).toThrow(/absolute/);
  });
});

describe('--ulimit, --sysctl, --shm-size', () => {
  it('parses limits with docker names, unlimited and a default hard limit', () => {
    expect(parseUlimit('nofile=1024:2048')).toEqual({ name: 'nofile', soft: 1024, hard: 2048 });
    expect(parseUlimit('nproc=512')).toEqual({ name: 'nproc', soft: 512, hard: 512 });
    expect(parseUlimit('core=unlimited')).toEqual({ name: 'core', soft: RLIM_INFINITY_JSON, hard: RLIM_INFINITY_JSON });
    expect(parseUlimit('memlock=-1:-1')).toEqual({ name: 'memlock', soft: RLIM_INFINITY_JSON, hard: RLIM_INFINITY_JSON });
    expect(() => parseUlimit('nofile=2048:1024')).toThrow(/soft limit must be less/);
    expect(() => parseUlimit('files=1')).toThrow(/invalid ulimit type/);
    expect(() => parseUlimit('nofile')).toThrow(/NAME=SOFT/);
    expect(() => parseUlimit('nofile=1:2:3')).toThrow(/up to two/);
    expect(() => parseUlimit('nofile=x')).toThrow(/invalid ulimit value/);
  });

  it('parses sysctls and sizes', () => {
    expect(parseSysctl('net.ipv4.ip_forward=1')).toEqual(['net.ipv4.ip_forward', '1']);
    expect(parseSysctl('kernel.sem=250 32000 32 128')).toEqual(['kernel.sem', '250 32000 32 128']);
    expect(() => parseSysctl('=1')).toThrow(/KEY=VALUE/);
    expect(parseBytes('1m')).toBe(1 << 20);
    expect(parseBytes('64MB')).toBe(64 << 20);
    expect(parseBytes('512k')).toBe(512 << 10);
    expect(parseBytes('1.5g')).toBe(1.5 * 2 ** 30);
    expect(parseBytes('4096')).toBe(4096);
    expect(() => parseBytes('lots')).toThrow(/invalid size/);
    expect(() => parseShmSize('0')).toThrow(/greater than 0/);
  });
});

describe('-p', () => {
  it('reads docker\'s forms; no host port means one chosen at start (0)', () => {
    expect(parsePublish('8080:80')).toEqual([{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
    expect(parsePublish('127.0.0.1:53:53/udp')).toEqual([{ hostIp: '127.0.0.1', hostPort: 53, containerPort: 53, protocol: 'udp' }]);
    expect(parsePublish('0.0.0.0:8080:80')).toEqual([{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
    expect(parsePublish('80')).toEqual([{ hostPort: 0, containerPort: 80, protocol: 'tcp' }]);
    expect(parsePublish('127.0.0.1::80')).toEqual([{ hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' }]);
  });
  it('reads ranges as docker does: paired off, each chosen, or one chosen from a host range', () => {
    expect(parsePublish('8000-8002:80-82/udp')).toEqual([80, 81, 82].map((c) => ({ hostPort: c + 7920, containerPort: c, protocol: 'udp' })));
    expect(parsePublish('127.0.0.1::80-81')).toEqual([80, 81].map((c) => ({ hostIp: '127.0.0.1', hostPort: 0, containerPort: c, protocol: 'tcp' })));
    expect(parsePublish('8000-8010:80')).toEqual([{ hostPort: 0, hostRange: { low: 8000, high: 8010 }, containerPort: 80, protocol: 'tcp' }]);
    expect(parsePublish('8000-8000:80-80')).toEqual([{ hostPort: 8000, containerPort: 80, protocol: 'tcp' }]);
    expect(() => parsePublish('8000-8001:80-82')).toThrow('invalid -p "8000-8001:80-82": the host and container port ranges must be the same size');
    expect(() => parsePublish('8000:80-82')).toThrow(/must be the same size/);
    expect(() => parsePublish('90-80')).toThrow('invalid -p "90-80": ports are 1-65535, and a range goes from low to high');
  });
  it.each(['70000:80', '0:80', '8080:80/sctp', '300.1.1.1:80:80', 'x:80', '', '80-', '1-2-3:80'])('refuses %j', (spec) => {
    expect(() => parsePublish(spec)).toThrow(/invalid -p/);
  });
});

describe('--device and --device-cgroup-rule', () => {
  it('reads docker\'s forms', () => {
    expect(parseDeviceFlag('/dev/fuse')).toEqual({ host: '/dev/fuse', container: '/dev/fuse', perms: 'rwm' });
    expect(parseDeviceFlag('/dev/sdc:/dev/xvdc:r')).toEqual({ host: '/dev/sdc', container: '/dev/xvdc', perms: 'r' });
    expect(parseDeviceFlag('/dev/fuse:rw')).toEqual({ host: '/dev/fuse', container: '/dev/fuse', perms: 'rw' });
    for (const bad of ['fuse', '/dev/a:rel', '/dev/a:/dev/b:x', '/dev/a:/dev/b:rr', '/a:/b:r:x']) expect(() => parseDeviceFlag(bad)).toThrow(/invalid --device/);
    expect(parseDeviceCgroupRule('c 10:* rwm')).toEqual({ type: 'c', major: 10, minor: undefined, access: 'rwm' });
    expect(parseDeviceCgroupRule('b *:* m')).toEqual({ type: 'b', major: undefined, minor: undefined, access: 'm' });
    expect(() => parseDeviceCgroupRule('c 10 rwm')).toThrow(/invalid --device-cgroup-rule/);
  });
});

describe('capabilities (moby TweakCapabilities)', () => {
  const host = () => ['CAP_CHOWN', 'CAP_SYS_ADMIN', 'CAP_KILL'];

  it('normalises names', () => {
    expect(normalizeCapability('sys_admin')).toBe('CAP_SYS_ADMIN');
    expect(normalizeCapability('CAP_NET_ADMIN')).toBe('CAP_NET_ADMIN');
    expect(normalizeCapability('all')).toBe('ALL');
    expect(() => normalizeCapability('bogus')).toThrow(/unknown capability/);
  });

  it('adds, drops, ALL and privileged', () => {
    expect(tweakCapabilities({ host })).toHaveLength(14);
    expect(tweakCapabilities({ drop: ['all'], host })).toEqual([]);
    expect(tweakCapabilities({ drop: ['ALL'], add: ['kill', 'CAP_CHOWN'], host })).toEqual(['CAP_CHOWN', 'CAP_KILL']);
    const added = tweakCapabilities({ add: ['sys_admin'], drop: ['net_raw'], host });
    expect(added).toContain('CAP_SYS_ADMIN');
    expect(added).not.toContain('CAP_NET_RAW');
    expect(added).toHaveLength(14);
    expect(tweakCapabilities({ add: ['ALL'], drop: ['kill'], host })).toEqual(['CAP_CHOWN', 'CAP_SYS_ADMIN']);
    expect(tweakCapabilities({ privileged: true, drop: ['ALL'], host })).toEqual(host());
  });
});
