import { describe, expect, it } from 'vitest';
import type { OciImageConfig } from '../../src/image/oci-layout.js';
import { DEFAULT_CAPABILITIES, RLIM_INFINITY_JSON } from '../../src/oci/spec.js';
import { capabilityMask, hostBoundingCapabilities, planCapabilities } from '../../src/runtime/plan/capabilities.js';
import { type RunOptions, buildContainerSpec } from '../../src/runtime/plan/container-spec.js';
import { buildLaunchPlan, checkSysctl, encodeExecPlan, encodePlan } from '../../src/runtime/plan/launch-plan.js';
import { resolveUser } from '../../src/runtime/plan/user.js';

const image = { architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [] } } as unknown as OciImageConfig;
const HOST = ['CAP_CHOWN', 'CAP_SYS_ADMIN', 'CAP_KILL', 'CAP_NET_ADMIN'];

const spec = (options: Partial<RunOptions> = {}, uid = 0) =>
  buildContainerSpec({
    image,
    options: { env: [], cmd: [], ...options },
    user: { uid, gid: uid, additionalGids: [], home: '/' },
    hostname: 'box',
    rootPath: '/store/merged',
    files: { hosts: '/c/hosts', hostname: '/c/hostname', resolvConf: '/c/resolv.conf' },
    hostCapabilities: () => HOST,
  });

const plan = (s = spec()) => buildLaunchPlan(s, { mkcwd: true, isFileSource: () => false });
const fields = (buf: Buffer) => buf.toString('utf8').split('\0');

describe('capabilities in config.json and the plan', () => {
  it('gives root docker\'s 14 (0xa80425fb) and nothing inheritable or ambient', () => {
    const c = spec().process.capabilities!;
    expect(c.bounding).toEqual(c.effective);
    expect(c.permitted).toEqual(c.effective);
    expect(c.inheritable).toEqual([]);
    expect(c.ambient).toEqual([]);
    expect(capabilityMask(c.bounding)).toBe(0xa80425fbn);
    expect(capabilityMask(DEFAULT_CAPABILITIES)).toBe(0xa80425fbn);
  });

  it('gives another user the bounding set only (moby SetCapabilities)', () => {
    const c = spec({}, 1000).process.capabilities!;
    expect(capabilityMask(c.bounding)).toBe(0xa80425fbn);
    expect(c.effective).toEqual([]);
    expect(c.permitted).toEqual([]);
  });

  it('--privileged takes the host\'s bounding set and lifts the masks', () => {
    const s = spec({ privileged: true });
    expect(s.process.capabilities!.bounding).toEqual(HOST);
    expect(s.linux.maskedPaths).toEqual([]);
    expect(s.linux.readonlyPaths).toEqual([]);
    expect(s.mounts.find((m) => m.destination === '/sys')!.options).toContain('rw');
  });

  it('encodes the masks as one caps record, in run and exec plans', () => {
    const f = fields(encodePlan(plan(spec({ capAdd: ['SYS_ADMIN'] }))));
    const i = f.indexOf('caps');
    const mask = (0xa80425fbn | (1n << 21n)).toString();
    expect(f.slice(i + 1, i + 6)).toEqual([mask, mask, mask, '0', '0']);
    const exec = fields(encodeExecPlan({ join: { pid: 9, namespaces: ['mnt'] }, env: [], args: ['x'], cwd: '/', uid: 0, gid: 0, groups: [], rlimits: [], noNewPrivs: true, capabilities: planCapabilities({ bounding: ['CAP_KILL'] }) }));
    expect(exec.slice(exec.indexOf('caps') + 1, exec.indexOf('caps') + 6)).toEqual(['32', '0', '0', '0', '0']);
  });

  it('refuses sets the kernel would refuse', () => {
    expect(() => planCapabilities({ effective: ['CAP_KILL'] })).toThrow(/subset of the permitted/);
  });

  it('skips, with a warning, capabilities it or the kernel does not know (runc\'s "ignoring unknown or unavailable capabilities")', () => {
    expect(planCapabilities({ bounding: ['CAP_KILL', 'CAP_BOGUS'] }).bounding).toBe(1n << 5n);
    // CAP_CHECKPOINT_RESTORE is 40: a kernel whose last is 39 does not have it.
    expect(planCapabilities({ bounding: ['CAP_KILL', 'CAP_CHECKPOINT_RESTORE'] }, 39).bounding).toBe(1n << 5n);
    expect(planCapabilities({ bounding: ['CAP_CHECKPOINT_RESTORE'] }, 40).bounding).toBe(1n << 40n);
  });

  it('skips ambient capabilities the kernel cannot raise, as runc does', () => {
    expect(planCapabilities({ permitted: ['CAP_KILL'], ambient: ['CAP_KILL'] }).ambient).toBe(0n);
    expect(planCapabilities({ permitted: ['CAP_KILL'], inheritable: ['CAP_KILL'], ambient: ['CAP_KILL'] }).ambient).toBe(1n << 5n);
  });

  it('reads the host bounding set from /proc/self/status', () => {
    expect(hostBoundingCapabilities('Name:\tx\nCapBnd:\t000001fffeffffff\n')).toHaveLength(40);
    expect(hostBoundingCapabilities('CapBnd:\t000001fffeffffff\n')).not.toContain('CAP_SYS_RESOURCE');
  });
});

describe('mounts, read-only root, limits and sysctls', () => {
  it('sorts user mounts in with the defaults, parents first, replacing a default on the same path', () => {
    const s = spec({
      mounts: [
        { type: 'bind', source: '/h/a', hostPath: '/h/a', target: '/a/b', readonly: true },
        { type: 'volume', source: 'v', hostPath: '/store/volumes/v/_data', target: '/a', readonly: false },
        { type: 'tmpfs', target: '/dev/shm', readonly: false, options: ['size=1m'] },
      ],
    });
    // By depth, then in the order given, defaults and the user's together.
    expect(s.mounts.map((m) => m.destination)).toEqual(['/proc', '/dev', '/sys', '/a', '/dev/pts', '/dev/mqueue', '/etc/resolv.conf', '/etc/hostname', '/etc/hosts', '/a/b', '/dev/shm']);
    const at = (d: string) => s.mounts.find((m) => m.destination === d)!;
    expect(at('/a')).toEqual({ destination: '/a', type: 'bind', source: '/store/volumes/v/_data', options: ['rbind', 'rprivate'] });
    expect(at('/a/b').options).toEqual(['rbind', 'rprivate', 'ro']);
    expect(at('/dev/shm').options).toEqual(['nosuid', 'nodev', 'noexec', 'size=1m']);
    expect(s.mounts.filter((m) => m.destination === '/dev/shm')).toHaveLength(1);
    const p = plan(s);
    expect(plan(spec()).mounts.map((m) => m.dest)).toEqual(spec().mounts.map((m) => m.destination));
    expect(p.mounts.find((m) => m.dest === '/a/b')).toMatchObject({ type: 'bind', source: '/h/a', flags: 4096 | 16384 | 1 | (1 << 18) });
  });

  it('--read-only sets root.readonly, adds tmpfs on /run, /tmp, /var/tmp and a rootro record', () => {
    const s = spec({ readOnly: true });
    expect(s.root.readonly).toBe(true);
    expect(s.mounts.filter((m) => m.type === 'tmpfs').map((m) => m.destination)).toEqual(expect.arrayContaining(['/run', '/tmp', '/var/tmp']));
    expect(s.mounts.find((m) => m.destination === '/tmp')!.options).toContain('mode=1777');
    const f = fields(encodePlan(plan(s)));
    expect(f[f.indexOf('rootro') + 1]).toBe('1');
    expect(fields(encodePlan(plan()))).not.toContain('rootro');
  });

  it('--shm-size sizes /dev/shm', () => {
    expect(spec({ shmSize: 1 << 20 }).mounts.find((m) => m.destination === '/dev/shm')!.options).toContain('size=1048576');
  });

  it('--ulimit becomes process.rlimits; unlimited is -1 on the wire', () => {
    const s = spec({ ulimits: [{ name: 'nofile', soft: 1024, hard: 2048 }, { name: 'core', soft: RLIM_INFINITY_JSON, hard: RLIM_INFINITY_JSON }] });
    expect(s.process.rlimits).toEqual([
      { type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 },
      { type: 'RLIMIT_CORE', soft: RLIM_INFINITY_JSON, hard: RLIM_INFINITY_JSON },
    ]);
    // A round trip through config.json keeps infinity infinite.
    const p = plan(JSON.parse(JSON.stringify(s)));
    expect(p.rlimits).toEqual([{ resource: 7, soft: 1024, hard: 2048 }, { resource: 4, soft: -1, hard: -1 }]);
  });

  it('--sysctl becomes linux.sysctl and a /proc/sys path in the plan', () => {
    const s = spec({ sysctls: { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '65536' } });
    expect(s.linux.sysctl).toEqual({ 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '65536' });
    expect(plan(s).sysctls).toEqual([['/proc/sys/net/ipv4/ip_forward', '1'], ['/proc/sys/kernel/shmmax', '65536']]);
  });

  it('allows only sysctls of the container\'s own namespaces (runc\'s rule)', () => {
    const all = ['ipc', 'net', 'uts'] as const;
    for (const ok of ['kernel.msgmax', 'kernel.sem', 'kernel.shm_rmid_forced', 'fs.mqueue.msg_max', 'net.core.somaxconn', 'kernel.domainname']) {
      expect(() => checkSysctl(ok, [...all])).not.toThrow();
    }
    expect(() => checkSysctl('vm.swappiness', [...all])).toThrow(/not in a separate kernel namespace/);
    expect(() => checkSysctl('kernel.hostname', [...all])).toThrow(/--hostname/);
    expect(() => checkSysctl('net.ipv4.ip_forward', ['ipc'])).toThrow(/host's network namespace/);
    expect(() => checkSysctl('kernel.sem', ['net'])).toThrow(/host's ipc namespace/);
    expect(() => checkSysctl('net..x', [...all])).toThrow(/invalid sysctl name/);
    expect(() => checkSysctl('net/../../x', [...all])).toThrow(/invalid sysctl name/);
  });

  it('--group-add resolves names from the image\'s /etc/group, and numbers', () => {
    const group = 'root:x:0:\nwheel:x:10:\napp:x:1000:\n';
    expect(resolveUser('0', 'root:x:0:0:root:/root:/bin/sh\n', group, ['wheel', '44']).additionalGids).toEqual([10, 44]);
    expect(() => resolveUser('0', undefined, group, ['nope'])).toThrow(/unable to find group nope/);
  });
});
