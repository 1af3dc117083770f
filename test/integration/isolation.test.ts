import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { TestStore, tsrunBin, until } from '../helpers/store.js';
import { bridgeNetwork } from '../../src/runtime/network/leases.js';

let s: TestStore;

beforeAll(() => {
  s = new TestStore();
  s.loadFixture('busybox');
});
afterAll(() => s.cleanup());

/** The Cap* lines of /proc/self/status inside a container run with these flags. */
function caps(flags: string[], field = 'CapEff'): string {
  const out = s.ok(['run', '--rm', ...flags, 'busybox', 'grep', `^${field}:`, '/proc/self/status']);
  return out.split(':')[1]!.trim();
}

const hostCapBnd = () => /^CapBnd:\s*(\S+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]!;

describe('capabilities', () => {
  it('gives docker\'s default 14 in the effective, permitted and bounding sets', () => {
    const out = s.ok(['run', '--rm', 'busybox', 'grep', '^Cap', '/proc/self/status']);
    expect(out).toBe(['CapInh:\t0000000000000000', 'CapPrm:\t00000000a80425fb', 'CapEff:\t00000000a80425fb', 'CapBnd:\t00000000a80425fb', 'CapAmb:\t0000000000000000', ''].join('\n'));
  });

  it('--cap-drop ALL leaves none; --cap-add SYS_ADMIN adds bit 21; names in any case', () => {
    expect(caps(['--cap-drop', 'ALL'])).toBe('0000000000000000');
    expect(caps(['--cap-drop', 'all'], 'CapBnd')).toBe('0000000000000000');
    expect(caps(['--cap-add', 'SYS_ADMIN'])).toBe('00000000a82425fb');
    expect(caps(['--cap-add', 'cap_sys_admin', '--cap-drop', 'net_raw'])).toBe('00000000a82405fb');
    const r = s.run(['run', '--rm', '--cap-drop', 'chown', 'busybox', 'chown', '1000', '/etc/passwd']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Operation not permitted/);
  });

  it('the device cgroup: a node outside docker\'s list can be made but not opened; --privileged opens it', () => {
    // /dev/fuse (c 10:229) needs no capability to open: EPERM can only be the device cgroup's.
    const open = 'mknod /dev/probe c 10 229 && head -c 0 /dev/probe 2>&1; echo done';
    expect(s.ok(['run', '--rm', 'busybox', 'sh', '-c', open])).toMatch(/Operation not permitted\ndone\n$/);
    expect(s.ok(['run', '--rm', '--privileged', 'busybox', 'sh', '-c', open])).not.toMatch(/Operation not permitted/);
    expect(s.ok(['run', '--rm', 'busybox', 'sh', '-c', 'echo ok > /dev/null && head -c 1 /dev/zero | wc -c'])).toBe('1\n');
  });

  it('the device rules on cgroup v2 are an eBPF program: same answers, for exec\'d processes too', () => {
    // This host's cgroup v2 (/sys/fs/cgroup/unified) has no controllers, but device programs attach to
    // any v2 cgroup: with it mounted over /sys/fs/cgroup in a private mount namespace, tsrun sees a v2 host.
    const tsrun = `${tsrunBin} --root ${s.root} --runroot ${s.runroot}`;
    const probe = 'mknod /dev/fuse0 c 10 229 && mknod /dev/loop00 b 7 0; for d in /dev/fuse0 /dev/loop00; do head -c 0 $d 2>&1 && echo "$d opened"; done; echo ok > /dev/null && head -c 1 /dev/zero | wc -c';
    const script = [
      'set -e',
      'mount -t cgroup2 none /sys/fs/cgroup',
      'trap "' + tsrun + ' rm -f v2dev >/dev/null 2>&1" EXIT',
      `${tsrun} info | grep "Cgroup Version"`,
      `${tsrun} run --rm busybox sh -c '${probe}'`,
      `${tsrun} run --rm --privileged busybox sh -c '${probe}'`,
      `${tsrun} run -d --name v2dev busybox sleep 60 >/dev/null`,
      `${tsrun} exec v2dev sh -c '${probe}'`,
      `cat /sys/fs/cgroup/tsrun/$(${tsrun} inspect -f '{{.Id}}' v2dev)/cgroup.procs | wc -l`,
    ].join('\n');
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8', env: { ...process.env, TSRUN_LOG_LEVEL: 'warn' } });
    expect(r.stderr).toBe('');
    const denied = 'head: /dev/fuse0: Operation not permitted\nhead: /dev/loop00: Operation not permitted\n1\n';
    const allowed = '/dev/fuse0 opened\n/dev/loop00 opened\n1\n';
    // The exec'd probe ran in the container's cgroup: sleep and nothing else is left in it.
    expect(r.stdout).toBe(`Cgroup Version: 2\n${denied}${allowed}${denied}1\n`);
    expect(r.status).toBe(0);
  });

  it('--device: the host\'s node in the container, with its permissions (a directory: every node under it); --device-cgroup-rule allows by rule', () => {
    // /dev/fuse (c 10:229) needs no capability to open: EPERM can only be the device cgroup's.
    expect(s.ok(['run', '--rm', '--device', '/dev/fuse', 'busybox', 'sh', '-c', 'stat -c "%t:%T %F" /dev/fuse; head -c 0 /dev/fuse && echo opened'])).toBe('a:e5 character special file\nopened\n');
    const ro = s.run(['run', '--rm', '--device', '/dev/fuse:/dev/myfuse:r', 'busybox', 'sh', '-c', 'head -c 0 /dev/myfuse && echo read; echo x > /dev/myfuse']);
    expect(ro.stdout).toBe('read\n');
    expect(ro.stderr).toMatch(/can't create \/dev\/myfuse: Operation not permitted/);
    if (fs.existsSync('/dev/net/tun')) expect(s.ok(['run', '--rm', '--device', '/dev/net:/dev/n', 'busybox', 'stat', '-c', '%n %t:%T', '/dev/n/tun'])).toBe('/dev/n/tun a:c8\n');
    expect(s.ok(['run', '--rm', '--device-cgroup-rule', 'c 10:229 rw', 'busybox', 'sh', '-c', 'mknod /dev/f c 10 229 && head -c 0 /dev/f && echo allowed'])).toBe('allowed\n');
    s.ok(['create', '--name', 'devs', '--device', '/dev/fuse:/dev/f2:rw', '--device-cgroup-rule', 'c 10:* r', 'busybox', 'true']);
    expect(s.inspect('devs').HostConfig).toMatchObject({ Devices: [{ PathOnHost: '/dev/fuse', PathInContainer: '/dev/f2', CgroupPermissions: 'rw' }], DeviceCgroupRules: ['c 10:* r'] });
    s.ok(['rm', 'devs']);
    expect(s.run(['run', '--rm', '--device', '/dev/nosuch', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: 'tsrun: error gathering device information while adding custom device "/dev/nosuch": no such file or directory\n' });
    expect(s.run(['run', '--rm', '--device', 'fuse', 'busybox', 'true']).stderr).toMatch(/^tsrun: invalid --device fuse: use HOST_PATH/);
    expect(s.ok(['ps', '-aq'])).toBe('');
  });

  it('--oom-score-adj: the process\'s and an exec\'d one\'s oom_score_adj, shown by inspect; a bad value is one line', async () => {
    expect(s.ok(['run', '--rm', '--oom-score-adj', '500', 'busybox', 'cat', '/proc/self/oom_score_adj'])).toBe('500\n');
    s.ok(['run', '-d', '--name', 'oomadj', '--oom-score-adj', '300', 'busybox', 'sleep', '60']);
    try {
      expect(s.ok(['exec', 'oomadj', 'cat', '/proc/self/oom_score_adj'])).toBe('300\n');
      expect(s.inspect('oomadj').HostConfig.OomScoreAdj).toBe(300);
    } finally {
      s.ok(['rm', '-f', 'oomadj']);
    }
    expect(s.run(['run', '--rm', '--oom-score-adj', '2000', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: 'tsrun: invalid --oom-score-adj 2000: must be an integer from -1000 to 1000\n' });
  });

  it('--privileged gets the host\'s whole bounding set', () => {
    expect(caps(['--privileged'])).toBe(hostCapBnd());
    expect(caps(['--privileged'], 'CapBnd')).toBe(hostCapBnd());
  });

  it('a non-root user gets no effective capabilities, but the bounding set', () => {
    expect(caps(['-u', '1000'])).toBe('0000000000000000');
    expect(caps(['-u', '1000'], 'CapPrm')).toBe('0000000000000000');
    expect(caps(['-u', '1000'], 'CapBnd')).toBe('00000000a80425fb');
  });

  it('refuses an unknown capability at create with one line', () => {
    const r = s.run(['run', '--rm', '--cap-add', 'BOGUS', 'busybox', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe('tsrun: unknown capability: "BOGUS"\n');
  });

  it('a capability the host does not have fails the start at capset, with its stage named', () => {
    const names = ['CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE'];
    const bnd = BigInt(`0x${hostCapBnd()}`);
    const missing = names.findIndex((_, bit) => ((bnd >> BigInt(bit)) & 1n) === 0n);
    if (missing < 0) {
      // A host with every one of them (this machine lacks CAP_SYS_RESOURCE): adding one works.
      expect(caps(['--cap-add', 'SYS_RESOURCE'])).toBe('00000000a90425fb');
      return;
    }
    const r = s.run(['run', '--rm', '--cap-add', names[missing]!, 'busybox', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe('tsrun: setting the capabilities: EPERM (operation not permitted)\n');
  });

  it('exec\'d processes get the container\'s capabilities', async () => {
    s.ok(['run', '-d', '--name', 'capexec', '--cap-drop', 'CHOWN', 'busybox', 'sleep', '60']);
    try {
      await until(() => s.inspect('capexec').State.Running === true);
      expect(s.ok(['exec', 'capexec', 'grep', '-E', '^(CapEff|CapBnd|NoNewPrivs)', '/proc/self/status'])).toBe('CapEff:\t00000000a80425fa\nCapBnd:\t00000000a80425fa\nNoNewPrivs:\t1\n');
      expect(s.ok(['exec', '-u', '1000', 'capexec', 'grep', '^CapEff', '/proc/self/status'])).toBe('CapEff:\t0000000000000000\n');
    } finally {
      s.run(['rm', '-f', 'capexec']);
    }
  });
});

describe('/proc and /sys', () => {
  it('sets no_new_privs, masks /proc paths and makes /proc/sys read-only by default', () => {
    const out = s.ok(['run', '--rm', 'busybox', 'sh', '-c', 'grep NoNewPrivs /proc/self/status; cat /proc/kcore >/dev/null 2>&1 || echo kcore-unreadable; wc -c < /proc/timer_list; echo 1 > /proc/sys/net/ipv4/ip_forward || echo sys-ro; touch /sys/x 2>/dev/null || echo sysfs-ro']);
    expect(out).toBe('NoNewPrivs:\t1\nkcore-unreadable\n0\nsys-ro\nsysfs-ro\n');
  });

  it('--privileged lifts the masks, /proc/sys and /sys become writable', () => {
    const out = s.ok(['run', '--rm', '--privileged', 'busybox', 'sh', '-c', 'test "$(wc -c < /proc/timer_list)" -gt 0 && echo timers; echo 1 > /proc/sys/net/ipv4/ip_forward && cat /proc/sys/net/ipv4/ip_forward; grep " /sys " /proc/mounts']);
    expect(out).toMatch(/^timers\n1\nsysfs \/sys sysfs rw,/);
  });
});

describe('volumes and bind mounts', () => {
  it('-v carries data in and out of a host directory', () => {
    const host = fs.mkdtempSync(path.join(s.dir, 'bind-'));
    fs.writeFileSync(path.join(host, 'in'), 'from host\n');
    expect(s.ok(['run', '--rm', '-v', `${host}:/data`, 'busybox', 'sh', '-c', 'cat /data/in; echo from container > /data/out'])).toBe('from host\n');
    expect(fs.readFileSync(path.join(host, 'out'), 'utf8')).toBe('from container\n');
  });

  it(':ro refuses writes with EROFS; --mount readonly too', () => {
    const host = fs.mkdtempSync(path.join(s.dir, 'ro-'));
    const r = s.run(['run', '--rm', '-v', `${host}:/data:ro`, 'busybox', 'sh', '-c', 'echo x > /data/f']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Read-only file system/);
    const m = s.run(['run', '--rm', '--mount', `type=bind,source=${host},target=/data,readonly`, 'busybox', 'touch', '/data/f']);
    expect(m.stderr).toMatch(/Read-only file system/);
    expect(fs.readdirSync(host)).toEqual([]);
  });

  it(':ro is read-only all the way down: a mount inside the bound dir is read-only too', () => {
    const host = fs.mkdtempSync(path.join(s.dir, 'rro-'));
    fs.mkdirSync(path.join(host, 'sub'));
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', path.join(host, 'sub')]);
    try {
      const r = s.run(['run', '--rm', '-v', `${host}:/data:ro`, 'busybox', 'sh', '-c', 'touch /data/sub/f || echo refused']);
      expect(r.stdout).toBe('refused\n');
      expect(r.stderr).toMatch(/Read-only file system/);
      expect(fs.readdirSync(path.join(host, 'sub'))).toEqual([]);
      // Without :ro the mount inside stays writable.
      s.ok(['run', '--rm', '-v', `${host}:/data`, 'busybox', 'touch', '/data/sub/f']);
      expect(fs.readdirSync(path.join(host, 'sub'))).toEqual(['f']);
    } finally {
      execFileSync('umount', [path.join(host, 'sub')]);
    }
  });

  it('a bind over a parent of the /etc binds does not hide them (mounts go parents first)', () => {
    const etc = fs.mkdtempSync(path.join(s.dir, 'etc-'));
    fs.writeFileSync(path.join(etc, 'mine'), 'mine\n');
    expect(s.ok(['run', '--rm', '-h', 'parent', '-v', `${etc}:/etc`, 'busybox', 'cat', '/etc/mine', '/etc/hostname'])).toBe('mine\nparent\n');
  });

  it('-v makes a missing host directory, as docker\'s; --mount refuses it', () => {
    expect(s.ok(['run', '--rm', '-v', `${s.dir}/made/deep:/data`, 'busybox', 'sh', '-c', 'echo in > /data/f'])).toBe('');
    expect(fs.readFileSync(`${s.dir}/made/deep/f`, 'utf8')).toBe('in\n');
    expect(fs.statSync(`${s.dir}/made/deep`).mode & 0o7777).toBe(0o755);
    const r = s.run(['run', '--rm', '--mount', `type=bind,source=${s.dir}/no-such-dir,target=/data`, 'busybox', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/bind source path does not exist/);
    expect(fs.existsSync(`${s.dir}/no-such-dir`)).toBe(false);
  });

  it('a named volume is created on first use, outlives rm, is listed, and cannot be removed while used', () => {
    s.ok(['run', '--name', 'vol-writer', '-v', 'keep:/v', '--cap-add', 'sys_admin', '--ulimit', 'core=-1', 'busybox', 'sh', '-c', 'echo kept > /v/f']);
    const c = s.inspect('vol-writer');
    expect(c.Mounts).toEqual([{ Type: 'volume', Name: 'keep', Source: path.join(s.root, 'volumes/keep/_data'), Destination: '/v', Driver: 'local', Mode: '', RW: true, Propagation: '' }]);
    expect(c.HostConfig).toMatchObject({ CapAdd: ['sys_admin'], Privileged: false, ReadonlyRootfs: false, ShmSize: 67108864, Ulimits: [{ Name: 'core', Soft: -1, Hard: -1 }] });
    expect(s.ok(['volume', 'ls'])).toMatch(/^DRIVER\s+VOLUME NAME\nlocal\s+keep$/m);
    const busy = s.run(['volume', 'rm', 'keep']);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/^tsrun: remove keep: volume is in use - \[[0-9a-f]{64}\]\n$/);
    s.ok(['rm', '-v', 'vol-writer']);
    expect(s.ok(['volume', 'ls', '-q'])).toBe('keep\n');
    expect(s.ok(['run', '--rm', '--mount', 'source=keep,target=/data', 'busybox', 'cat', '/data/f'])).toBe('kept\n');
    const [info] = JSON.parse(s.ok(['volume', 'inspect', 'keep']));
    expect(info).toEqual({ CreatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), Driver: 'local', Labels: null, Mountpoint: path.join(s.root, 'volumes/keep/_data'), Name: 'keep', Options: null, Scope: 'local' });
    expect(fs.readFileSync(path.join(info.Mountpoint, 'f'), 'utf8')).toBe('kept\n');
    expect(s.ok(['volume', 'rm', 'keep'])).toBe('keep\n');
    expect(fs.existsSync(path.join(s.root, 'volumes/keep'))).toBe(false);
    expect(s.run(['volume', 'rm', 'keep']).code).toBe(1);
    expect(s.run(['volume', 'rm', '-f', 'keep']).code).toBe(0);
  });

  it('a new volume over image content starts with a copy of it (docker\'s copy-up); nocopy and a used volume are left alone', () => {
    expect(s.ok(['run', '--rm', '-v', 'etcvol:/etc', 'busybox', 'sh', '-c', 'grep -c ^root: /etc/passwd; echo mine > /etc/added'])).toBe('1\n');
    const data = path.join(s.root, 'volumes/etcvol/_data');
    const imageEtc = fs.statSync(data);
    expect(imageEtc.mode & 0o7777).toBe(0o755);
    expect(fs.readFileSync(path.join(data, 'added'), 'utf8')).toBe('mine\n');
    // Not empty any more: a second container sees what the first left, not a fresh copy.
    fs.rmSync(path.join(data, 'passwd'));
    expect(s.run(['run', '--rm', '-v', 'etcvol:/etc', 'busybox', 'ls', '/etc/passwd']).code).not.toBe(0);
    // (hosts, hostname and resolv.conf are bound over /etc whatever is there, as docker does.)
    expect(s.ok(['run', '--rm', '-v', 'bare:/etc:nocopy', 'busybox', 'sh', '-c', 'test -e /etc/passwd || echo none'])).toBe('none\n');
    expect(s.ok(['run', '--rm', '--mount', 'source=bare2,target=/etc,volume-nocopy', 'busybox', 'sh', '-c', 'test -e /etc/passwd || echo none'])).toBe('none\n');
    for (const v of ['etcvol', 'bare', 'bare2']) s.ok(['volume', 'rm', v]);
  });

  it('--network/--pid/--ipc/--uts host share the host\'s namespaces; the rest stay the container\'s', () => {
    const ns = (kind: string) => fs.readlinkSync(`/proc/self/ns/${kind}`);
    const out = s.ok(['run', '-d', '--name', 'hostns', '--network', 'host', '--pid', 'host', '--ipc', 'host', '--uts', 'host', 'busybox', 'sleep', '1000']).trim();
    expect(out).toMatch(/^[0-9a-f]{64}$/);
    const inside = s.ok(['exec', 'hostns', 'sh', '-c', 'for n in net pid ipc uts mnt; do readlink /proc/self/ns/$n; done; hostname']).split('\n');
    expect(inside.slice(0, 4)).toEqual(['net', 'pid', 'ipc', 'uts'].map(ns));
    expect(inside[4]).not.toBe(ns('mnt'));
    expect(inside[5]).toBe(os.hostname());
    expect(s.inspect('hostns').HostConfig).toMatchObject({ NetworkMode: 'host', PidMode: 'host', IpcMode: 'host', UTSMode: 'host' });
    s.ok(['rm', '-f', 'hostns']);
    // --network host alone: its own uts namespace, named as the host (docker's), unless -h names it.
    expect(s.ok(['run', '--rm', '--network', 'host', 'busybox', 'hostname'])).toBe(`${os.hostname()}\n`);
    expect(s.ok(['run', '--rm', '--network', 'host', '-h', 'mine', 'busybox', 'hostname'])).toBe('mine\n');
    // The default: all of its own.
    const own = s.ok(['run', '--rm', 'busybox', 'sh', '-c', 'for n in net pid ipc uts; do readlink /proc/self/ns/$n; done']).trim().split('\n');
    for (const [i, kind] of ['net', 'pid', 'ipc', 'uts'].entries()) expect(own[i]).not.toBe(ns(kind));
  });

  it('--add-host adds /etc/hosts lines; --dns, --dns-search and --dns-option replace the host\'s resolv.conf lines of theirs', () => {
    s.ok(['create', '--name', 'named', '--add-host', 'db:10.0.0.5', '--add-host', 'v6=[::1]', '--add-host', 'host.docker.internal:host-gateway', '--dns', '9.9.9.9', '--dns-search', 'example.com', '--dns-option', 'ndots:2', 'busybox', 'sh', '-c', 'cat /etc/hosts; echo --; cat /etc/resolv.conf']);
    s.ok(['start', '-a', 'named']);
    const [hosts, resolv] = s.ok(['logs', 'named']).split('--\n');
    expect(hosts).toContain('10.0.0.5\tdb\n');
    expect(hosts).toContain('::1\tv6\n');
    // docker's host-gateway: the host on tsrun's bridge (its gateway, the subnet's first address).
    expect(hosts).toContain(`${bridgeNetwork().gateway}\thost.docker.internal\n`);
    expect(resolv!.split('\n').filter((l) => /^(nameserver|search|options)\s/.test(l))).toEqual(['nameserver 9.9.9.9', 'search example.com', 'options ndots:2']);
    expect(s.inspect('named').HostConfig).toMatchObject({ ExtraHosts: ['db:10.0.0.5', 'v6:::1', `host.docker.internal:${bridgeNetwork().gateway}`], Dns: ['9.9.9.9'], DnsSearch: ['example.com'], DnsOptions: ['ndots:2'] });
    s.ok(['rm', 'named']);
    expect(s.run(['run', '--rm', '--add-host', 'nocolon', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: 'tsrun: invalid --add-host "nocolon": use NAME:IP (or NAME:host-gateway), as db:10.0.0.5\n' });
    expect(s.run(['run', '--rm', '--dns', 'resolver', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: 'tsrun: invalid --dns "resolver": an IP address is needed\n' });
  });

  it('refuses an unknown network mode, a hostname with --uts host and a net sysctl with --network host, with one line', () => {
    expect(s.run(['run', '--rm', '--network', 'overlay', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: 'tsrun: invalid --network mode "overlay": use host, container:NAME or none, private, bridge, default\n' });
    expect(s.run(['run', '--rm', '--uts', 'host', '-h', 'x', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: 'tsrun: conflicting options: --hostname and --uts host\n' });
    expect(s.run(['run', '--rm', '--network', 'host', '--sysctl', 'net.ipv4.ip_forward=1', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: expect.stringMatching(/^tsrun: sysctl "net.ipv4.ip_forward" is not allowed in the host's network namespace\n$/) });
  });

  it('volume create, inspect and rm by hand', () => {
    expect(s.ok(['volume', 'create', '--label', 'a=b', 'made'])).toBe('made\n');
    expect(s.ok(['volume', 'create', 'made'])).toBe('made\n');
    expect(JSON.parse(s.ok(['volume', 'inspect', 'made']))[0].Labels).toEqual({ a: 'b' });
    const anon = s.ok(['volume', 'create']).trim();
    expect(anon).toMatch(/^[0-9a-f]{64}$/);
    expect(s.ok(['volume', 'inspect', '-f', '{{.Name}} {{.Driver}} {{json .Labels}}', 'made'])).toBe('made local {"a":"b"}\n');
    // ls filters and formats as docker's: dangling= is "used by no container".
    s.ok(['create', '--name', 'user', '-v', 'made:/m', 'busybox', 'true']);
    onTestFinished(() => {
      s.run(['rm', '-f', 'user']);
      s.run(['volume', 'rm', '-f', 'made', anon]);
    });
    const names = (...args: string[]) => s.ok(['volume', 'ls', '-q', ...args]).split('\n').filter(Boolean).sort();
    expect(names('-f', 'dangling=true')).toEqual([anon]);
    expect(names('-f', 'dangling=false')).toEqual(['made']);
    expect(names('-f', 'label=a=b')).toEqual(['made']);
    // A substring of the name (m is no hex digit: never part of an anonymous volume's).
    expect(names('-f', 'name=mad', '-f', 'driver=local')).toEqual(['made']);
    expect(s.ok(['volume', 'ls', '-f', 'name=made', '--format', '{{.Name}}:{{.Driver}}:{{.Label "a"}}:{{.Mountpoint}}'])).toBe(`made:local:b:${path.join(s.root, 'volumes/made/_data')}\n`);
    expect(s.ok(['volume', 'ls', '-f', 'name=made', '--format', 'table {{.Name}}\\t{{.Labels}}'])).toBe('VOLUME NAME   LABELS\nmade          a=b\n');
    s.ok(['rm', 'user']);
    expect(s.ok(['volume', 'rm', 'made', anon])).toBe(`made\n${anon}\n`);
    expect(s.run(['volume', 'create', 'bad/name']).code).toBe(1);
    expect(s.run(['volume', 'create', '-d', 'nfs', 'x'])).toMatchObject({ code: 1, stderr: 'tsrun: volume driver "nfs" is not available: tsrun\'s volumes are local directories\n' });
    expect(s.run(['volume', 'create', '-o', 'type=tmpfs', 'x'])).toMatchObject({ code: 1, stderr: "tsrun: volume options are not supported (type=tmpfs): tsrun's volumes are plain directories\n" });
    expect(s.ok(['volume', 'create', '-d', 'local', 'plain'])).toBe('plain\n');
    s.ok(['volume', 'rm', 'plain']);
  });

  it('rm -v removes the container\'s anonymous volume; plain rm keeps it', () => {
    s.ok(['run', '--name', 'anon1', '-v', '/scratch', 'busybox', 'sh', '-c', 'echo x > /scratch/f']);
    const [name] = s.ok(['volume', 'ls', '-q']).trim().split('\n');
    expect(name).toMatch(/^[0-9a-f]{64}$/);
    s.ok(['rm', '-v', 'anon1']);
    expect(s.ok(['volume', 'ls', '-q'])).toBe('');
    // --rm removes anonymous volumes too, as docker's does; a named one stays.
    s.ok(['run', '--rm', '-v', '/scratch', '-v', 'named:/n', 'busybox', 'true']);
    expect(s.ok(['volume', 'ls', '-q'])).toBe('named\n');
    s.ok(['volume', 'rm', 'named']);
    s.ok(['run', '--name', 'anon2', '-v', '/scratch', 'busybox', 'true']);
    s.ok(['rm', 'anon2']);
    const left = s.ok(['volume', 'ls', '-q']).trim();
    expect(left).toMatch(/^[0-9a-f]{64}$/);
    s.ok(['volume', 'rm', left]);
  });

  it('an image\'s VOLUME is an anonymous volume: filled from the image, out of diff and commit, writable under --read-only, gone with --rm', () => {
    s.ok(['create', '--name', 'voluming', 'busybox', 'true']);
    s.ok(['commit', '-c', 'VOLUME /data', '-c', 'VOLUME /etc/', 'voluming', 'withvol:1']);
    s.ok(['rm', 'voluming']);
    onTestFinished(() => void s.run(['rmi', 'withvol:1']));
    s.ok(['run', '--name', 'dbish', '--read-only', 'withvol:1', 'sh', '-c', 'echo row > /data/table; test -f /etc/passwd']);
    onTestFinished(() => void s.run(['rm', '-v', '-f', 'dbish']));
    const c = s.inspect('dbish');
    expect(c.Mounts.map((m: { Type: string; Destination: string }) => `${m.Type} ${m.Destination}`).sort()).toEqual(['volume /data', 'volume /etc']);
    expect(c.HostConfig.Binds).toBeNull();
    // Only the mount points are the rw layer's; what was written to them is the volumes'.
    expect(s.ok(['diff', 'dbish'])).not.toMatch(/table/);
    expect(s.ok(['volume', 'ls', '-q']).trim().split('\n')).toHaveLength(2);
    // -v at an image VOLUME's path takes its place.
    s.ok(['run', '--rm', '-v', `${s.dir}:/data`, 'withvol:1', 'true']);
    expect(s.ok(['volume', 'ls', '-q']).trim().split('\n')).toHaveLength(2);
    s.ok(['rm', '-v', 'dbish']);
    expect(s.ok(['volume', 'ls', '-q'])).toBe('');
  });

  it('--volumes-from mounts another container\'s volumes and binds at the same paths; :ro makes them read-only; they stay its own', () => {
    const host = fs.mkdtempSync(path.join(s.dir, 'from-'));
    s.ok(['run', '--name', 'holder', '-v', 'shared:/named', '-v', `${host}:/bound`, '-v', '/anon', '--tmpfs', '/scratch', 'busybox', 'sh', '-c', 'echo n > /named/f; echo a > /anon/f; echo b > /bound/f']);
    expect(s.ok(['run', '--rm', '--volumes-from', 'holder', 'busybox', 'sh', '-c', 'cat /named/f /anon/f /bound/f; echo more >> /anon/f; mountpoint -q /scratch || echo no tmpfs'])).toBe('n\na\nb\nno tmpfs\n');
    const ro = s.run(['run', '--rm', '--volumes-from', 'holder:ro', 'busybox', 'sh', '-c', 'cat /anon/f; touch /named/x']);
    expect(ro.stdout).toBe('a\nmore\n');
    expect(ro.stderr).toMatch(/Read-only file system/);
    // The user's own -v wins at the same path.
    expect(s.ok(['run', '--rm', '--volumes-from', 'holder', '-v', '/named', 'busybox', 'ls', '/named'])).toBe('');
    s.ok(['create', '--name', 'borrower', '--volumes-from', 'holder:rw', 'busybox', 'true']);
    const b = s.inspect('borrower');
    expect(b.HostConfig.VolumesFrom).toEqual(['holder:rw']);
    expect(b.HostConfig.Binds).toBeNull();
    expect(b.Mounts.map((m: { Destination: string; RW: boolean }) => `${m.Destination} ${m.RW}`).sort()).toEqual(['/anon true', '/bound true', '/named true']);
    // The holder's anonymous volume is the holder's: the borrower's rm -v leaves it, and the holder's waits for the borrower.
    s.ok(['rm', '-v', 'borrower']);
    expect(s.ok(['run', '--rm', '--volumes-from', 'holder', 'busybox', 'cat', '/anon/f'])).toBe('a\nmore\n');
    s.ok(['create', '--name', 'borrower2', '--volumes-from', 'holder', 'busybox', 'true']);
    s.ok(['rm', '-v', 'holder']);
    expect(s.ok(['volume', 'ls', '-q']).trim().split('\n')).toHaveLength(2);
    s.ok(['rm', 'borrower2']);
    for (const v of s.ok(['volume', 'ls', '-q']).trim().split('\n')) s.ok(['volume', 'rm', v]);
    expect(s.run(['run', '--rm', '--volumes-from', 'holder', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: 'tsrun: no such container: holder\n' });
    expect(s.run(['run', '--rm', '--volumes-from', 'x:rx', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: 'tsrun: invalid --volumes-from "x:rx": use CONTAINER, CONTAINER:ro or CONTAINER:rw\n' });
  });

  it('a symlinked mount destination lands inside the container (CVE-2021-30465)', () => {
    const src = fs.mkdtempSync(path.join(s.dir, 'src-'));
    const hostTarget = fs.mkdtempSync(path.join(s.dir, 'host-target-'));
    fs.writeFileSync(path.join(src, 'marker'), 'inside\n');
    s.ok(['run', '--name', 'evil', '-v', `${src}:/evil`, 'busybox', 'cat', '/evil/marker']);
    // Replace the mount point in the container layer with a symlink to a host directory.
    const upper = s.inspect('evil').GraphDriver.Data.UpperDir as string;
    fs.rmdirSync(path.join(upper, 'evil'));
    fs.symlinkSync(hostTarget, path.join(upper, 'evil'));
    expect(s.ok(['start', '-a', 'evil'])).toBe('inside\n');
    // The bind went to the container's own copy of that path, never to the host's.
    expect(fs.readdirSync(hostTarget)).toEqual([]);
    expect(fs.statSync(path.join(upper, hostTarget)).isDirectory()).toBe(true);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(hostTarget);
    s.ok(['rm', 'evil']);
  });
});

describe('read-only root, tmpfs and limits', () => {
  it('--read-only refuses writes to / but /tmp, /run and /var/tmp work', () => {
    const r = s.run(['run', '--rm', '--read-only', 'busybox', 'sh', '-c', 'touch /x; touch /tmp/a /run/b /var/tmp/c && echo tmp-ok; stat -c %a /tmp']);
    expect(r.stderr).toMatch(/touch: \/x: Read-only file system/);
    expect(r.stdout).toBe('tmp-ok\n1777\n');
  });

  it('--tmpfs mounts a tmpfs with the options given', () => {
    const out = s.ok(['run', '--rm', '--tmpfs', '/scratch:size=1m,mode=1770', 'busybox', 'sh', '-c', 'grep " /scratch " /proc/mounts; df -k /scratch | tail -1']);
    expect(out).toMatch(/^tmpfs \/scratch tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k,mode=1770/);
    expect(out.trim().split('\n')[1]!.split(/\s+/)[1]).toBe('1024');
  });

  it('a tmpfs over an image directory keeps its mode (not the kernel\'s 1777), unless mode= says otherwise', () => {
    // A world-writable /etc would let any user plant /etc/ld.so.preload (runc keeps the mode too).
    const modes = s.ok(['run', '--rm', '--tmpfs', '/root', '--tmpfs', '/etc', '--tmpfs', '/made', '--tmpfs', '/home:mode=1777', 'busybox', 'stat', '-c', '%n %a', '/root', '/etc', '/made', '/home']);
    expect(modes).toBe('/root 700\n/etc 755\n/made 1777\n/home 1777\n');
    expect(s.run(['run', '--rm', '--tmpfs', '/etc', '-u', 'nobody', 'busybox', 'touch', '/etc/ld.so.preload']).code).not.toBe(0);
  });

  it('--ulimit nofile=1024:2048 sets the soft and hard limits', () => {
    expect(s.ok(['run', '--rm', '--ulimit', 'nofile=1024:2048', 'busybox', 'sh', '-c', 'ulimit -n; ulimit -Hn'])).toBe('1024\n2048\n');
  });

  it('--sysctl net.ipv4.ip_forward=1 is visible inside and not on the host', () => {
    const before = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    expect(s.ok(['run', '--rm', '--sysctl', 'net.ipv4.ip_forward=1', 'busybox', 'cat', '/proc/sys/net/ipv4/ip_forward'])).toBe('1\n');
    expect(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe(before);
    const bad = s.run(['run', '--rm', '--sysctl', 'vm.swappiness=1', 'busybox', 'true']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toBe('tsrun: sysctl "vm.swappiness" is not in a separate kernel namespace\n');
  });

  it('--shm-size=1m sizes /dev/shm', () => {
    const out = s.ok(['run', '--rm', '--shm-size=1m', 'busybox', 'df', '-k', '/dev/shm']);
    expect(out.trim().split('\n')[1]!.split(/\s+/)[1]).toBe('1024');
  });

  it('a tmpfs over an image directory keeps its mode (not the kernel\'s 1777), unless mode= says otherwise', () => {
    // A world-writable /etc would let any user plant /etc/ld.so.preload (runc keeps the mode too).
    const modes = s.ok(['run', '--rm', '--tmpfs', '/root', '--tmpfs', '/etc', '--tmpfs', '/made', '--tmpfs', '/home:mode=1777', 'busybox', 'stat', '-c', '%n %a', '/root', '/etc', '/made', '/home']);
    expect(modes).toBe('/root 700\n/etc 755\n/made 1777\n/home 1777\n');
    expect(s.run(['run', '--rm', '--tmpfs', '/etc', '-u', 'nobody', 'busybox', 'touch', '/etc/ld.so.preload']).code).not.toBe(0);
  });

  it('--group-add adds groups by name and number', () => {
    expect(s.ok(['run', '--rm', '-u', '1000', '--group-add', 'nobody', '--group-add', '44', 'busybox', 'id', '-G'])).toBe('1000 44 65534\n');
  });
});

/**
 * --uidmap (podman's): a user namespace of the container's own. Its union is
 * mounted by the monitor inside it only, of idmapped layers, so the image's
 * files are its root's and what it writes lands on disk with its own ids,
 * as in any container; the store's dirs stay root's only (0700).
 */
describe('user namespaces (--uidmap)', () => {
  const MAP = ['--uidmap', '0:100000:65536'];

  it('the container\'s root is uid 100000 on the host, owns the image\'s files inside, and is no root outside', () => {
    const secret = path.join(s.dir, 'host-secret');
    fs.writeFileSync(secret, 'host only\n', { mode: 0o600 });
    const out = s.ok(['run', '--rm', ...MAP, '-v', `${secret}:/secret`, 'busybox', 'sh', '-c', [
      'id -u; cat /proc/self/uid_map /proc/self/gid_map',
      'stat -c "%u %g" /etc/passwd /bin',
      'echo more >> /etc/passwd && touch /etc/made && echo wrote',
      'cat /secret 2>/dev/null || echo secret-refused',
      'echo x > /dev/null && head -c 2 /dev/zero | wc -c',
      'mknod /tmp/disk b 8 0 2>/dev/null || echo mknod-refused',
    ].join('; ')]);
    expect(out).toBe(['0', '         0     100000      65536', '         0     100000      65536', '0 0', '0 0', 'wrote', 'secret-refused', '2', 'mknod-refused', ''].join('\n'));
  });

  it('detached: host uid, the same namespace for exec, container ids on disk, nothing mounted on the host; restart, cp and inspect', async () => {
    const id = s.ok(['run', '-d', '--name', 'mapped', ...MAP, 'busybox', 'sleep', '1000']).trim();
    const pid = Number(s.ok(['inspect', '-f', '{{.State.Pid}}', 'mapped']));
    expect(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^Uid:\t100000\t100000\t/m);
    const userns = fs.readlinkSync(`/proc/${pid}/ns/user`);
    expect(s.ok(['exec', 'mapped', 'sh', '-c', 'touch /by-root; readlink /proc/self/ns/user'])).toBe(`${userns}\n`);
    expect(s.ok(['exec', '-u', 'nobody', 'mapped', 'sh', '-c', 'id -u; touch /tmp/by-nobody'])).toBe('65534\n');
    const upper = s.ok(['inspect', '-f', '{{.GraphDriver.Data.UpperDir}}', 'mapped']).trim();
    // On disk as in any container: the container's own ids, not the host's mapped ones.
    expect([fs.statSync(path.join(upper, 'by-root')).uid, fs.statSync(path.join(upper, 'tmp/by-nobody')).uid]).toEqual([0, 65534]);
    expect(s.ok(['diff', 'mapped']).trim().split('\n').sort()).toEqual(['A /by-root', 'A /tmp/by-nobody', 'C /tmp']);
    // The union is the container's alone: none on the host, where a second one over the same upper dir would corrupt it.
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(id);
    // inspect's MergedDir is where the host sees it then: the container's root.
    const merged = s.ok(['inspect', '-f', '{{.GraphDriver.Data.MergedDir}}', 'mapped']).trim();
    expect(merged).toBe(`/proc/${pid}/root`);
    expect(fs.existsSync(path.join(merged, 'by-root'))).toBe(true);
    // Created and waiting to start, the union is already mounted inside it only.
    s.ok(['create', '--name', 'mapped-created', ...MAP, 'busybox', 'true']);
    const waiting = Number(s.ok(['inspect', '-f', '{{.State.Pid}}', 'mapped-created']));
    expect(s.ok(['inspect', '-f', '{{.GraphDriver.Data.MergedDir}}', 'mapped-created']).trim()).toBe(`/proc/${waiting}/root`);
    s.ok(['rm', '-f', 'mapped-created']);
    // Read while it runs, through a read-only union of its layers on the host: the files' own ids (-a keeps them).
    s.ok(['cp', '-a', 'mapped:/tmp/by-nobody', path.join(s.dir, 'out-running')]);
    expect(fs.statSync(path.join(s.dir, 'out-running')).uid).toBe(65534);
    const tar = spawnSync(tsrunBin, ['--root', s.root, '--runroot', s.runroot, 'export', 'mapped'], { maxBuffer: 64 << 20 });
    expect(tar.status).toBe(0);
    expect(execFileSync('tar', ['-tv'], { input: tar.stdout, encoding: 'utf8' })).toMatch(/^-rw-r--r-- 0\/0 +0 .* by-root$/m);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(id);
    // Written only once it is stopped: a second writable union over its upper dir would corrupt it.
    fs.writeFileSync(path.join(s.dir, 'in'), 'x');
    const cp = s.run(['cp', path.join(s.dir, 'in'), 'mapped:/in']);
    expect([cp.code, cp.stderr]).toEqual([1, 'tsrun: container mapped runs in a user namespace, whose files are mounted only inside it: stop it to copy files into it\n']);
    expect(JSON.parse(s.ok(['inspect', '-f', '{{json .HostConfig.IDMappings}}', 'mapped']))).toEqual({ UidMap: ['0:100000:65536'], GidMap: ['0:100000:65536'] });
    s.ok(['restart', '-t', '1', 'mapped']);
    expect(s.ok(['exec', 'mapped', 'stat', '-c', '%u', '/by-root', '/tmp/by-nobody'])).toBe('0\n65534\n');
    s.ok(['stop', '-t', '1', 'mapped']);
    s.ok(['cp', 'mapped:/tmp/by-nobody', path.join(s.dir, 'out')]);
    expect(fs.existsSync(path.join(s.dir, 'out'))).toBe(true);
    s.ok(['rm', 'mapped']);
  });

  it('its volumes and /etc files are idmapped too: the container\'s root writes them, on disk as its own ids; devpts and -u follow the map', () => {
    const out = s.ok(['run', '--rm', ...MAP, '-v', 'uns-data:/data', 'busybox', 'sh', '-c', 'touch /data/x && stat -c %u /data/x; echo "10.0.0.9 extra" >> /etc/hosts && echo hosts-ok']);
    expect(out).toBe('0\nhosts-ok\n');
    const data = (JSON.parse(s.ok(['volume', 'inspect', 'uns-data'])) as { Mountpoint: string }[])[0]!.Mountpoint;
    expect(fs.statSync(path.join(data, 'x')).uid).toBe(0);
    s.ok(['volume', 'rm', 'uns-data']);
    // Only root mapped: devpts goes without its tty group (gid 5), as podman does. A user outside the map is refused by its flag.
    expect(s.ok(['run', '--rm', '--uidmap', '0:100000:1', 'busybox', 'sh', '-c', 'id -u; grep -c "devpts.*gid=" /proc/self/mounts || true'])).toBe('0\n0\n');
    expect(s.ok(['run', '--rm', ...MAP, 'busybox', 'grep', '-o', 'devpts .*gid=[0-9]*', '/proc/self/mounts'])).toMatch(/gid=100005\n$/);
    const r = s.run(['run', '--rm', '--uidmap', '0:100000:1', '-u', '1000', 'busybox', 'true']);
    expect([r.code, r.stderr]).toEqual([125, "tsrun: uid 1000 is not mapped in the container's user namespace (--uidmap)\n"]);
  });

  it('-v HOST:DEST:idmap shows a host directory with the container\'s ids (podman\'s); without it, its owners are nobody', () => {
    const host = path.join(s.dir, 'idmap-host');
    fs.mkdirSync(host, { recursive: true });
    fs.writeFileSync(path.join(host, 'owned-by-0'), '');
    expect(s.ok(['run', '--rm', ...MAP, '-v', `${host}:/h:idmap`, 'busybox', 'sh', '-c', 'stat -c %u /h/owned-by-0; touch /h/new && echo wrote'])).toBe('0\nwrote\n');
    expect(fs.statSync(path.join(host, 'new')).uid).toBe(0);
    expect(s.ok(['run', '--rm', ...MAP, '-v', `${host}:/h`, 'busybox', 'stat', '-c', '%u', '/h/owned-by-0'])).toBe('65534\n');
    const r = s.run(['create', '-v', `${host}:/h:idmap`, 'busybox', 'true']);
    expect([r.code, r.stderr]).toEqual([125, `tsrun: the idmap option of ${host}:/h needs a user namespace (--uidmap or --userns auto)\n`]);
  });

  it('--userns auto takes ids of the user "containers" from /etc/subuid and /etc/subgid, apart from other containers\'', () => {
    // The host's files stay untouched: ours are bound over them in a mount namespace of this test's own.
    const sub = path.join(s.dir, 'subids');
    fs.writeFileSync(sub, 'containers:300000:200000\n');
    const tsrun = `${tsrunBin} --root ${s.root} --runroot ${s.runroot}`;
    const script = [
      'set -e',
      `mount --bind ${sub} /etc/subuid && mount --bind ${sub} /etc/subgid`,
      `${tsrun} create --name auto1 --userns auto busybox true >/dev/null`,
      `${tsrun} create --name auto2 --userns auto:size=1000 busybox true >/dev/null`,
      `${tsrun} run --rm --name auto3 --userns auto:size=1000 busybox sh -c 'id -u; cat /proc/self/uid_map'`,
    ].join('\n');
    const out = execFileSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8' });
    // auto3 runs while auto1 (300000..) and auto2 (365536..) hold theirs.
    expect(out).toBe('0\n         0     366536       1000\n');
    const maps = (n: string) => JSON.parse(s.ok(['inspect', '-f', '{{json .HostConfig.IDMappings}}', n]));
    expect(maps('auto1')).toEqual({ UidMap: ['0:300000:65536'], GidMap: ['0:300000:65536'] });
    expect(maps('auto2')).toEqual({ UidMap: ['0:365536:1000'], GidMap: ['0:365536:1000'] });
    s.ok(['rm', 'auto1', 'auto2']);
    // Without a "containers" line (this host's files are empty): one line.
    const r = s.run(['create', '--userns', 'auto', 'busybox', 'true']);
    expect([r.code, r.stderr]).toEqual([125, 'tsrun: --userns auto needs subordinate ids for the user "containers" in /etc/subuid (a line as containers:2147483647:2147483648, as podman\'s)\n']);
  });

  it.each([
    [['--userns', 'private'], 'invalid --userns private: use host, auto or auto:size=N'],
    [['--userns', 'auto', '--uidmap', '0:100000:10'], 'conflicting options: --userns and --uidmap/--gidmap'],
    [['--uidmap', '1:100000:10'], '--uidmap must map uid 0: the container is set up as its root'],
    [['--uidmap', '0:100000'], 'invalid --uidmap 0:100000: use CONTAINER_ID:HOST_ID:AMOUNT, as 0:100000:65536'],
    [['--gidmap', '0:100000:10'], '--gidmap needs --uidmap too'],
    [['--uidmap', '0:100000:10', '--pid', 'host'], "--uidmap needs a pid namespace of the container's own, not --pid host"],
    [['--uidmap', '0:100000:10', '--uidmap', '5:200000:10'], '--uidmap: 0:100000:10 and 5:200000:10 overlap'],
  ])('%j is refused with one line', (flags, message) => {
    const r = s.run(['create', ...flags, 'busybox', 'true']);
    expect([r.code, r.stderr]).toEqual([125, `tsrun: ${message}\n`]);
  });
});
