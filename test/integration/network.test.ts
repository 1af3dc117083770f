import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { storeForFile, tsrunBin, until } from '../helpers/store.js';

/**
 * --network bridge: a bridge of this test's own (TSRUN_BRIDGE, a subnet
 * unlikely to be in use), so the host's tsrun0 is never touched; afterAll
 * deletes the bridge and its nftables table. Inside: eth0 with a leased
 * address and the default route; containers reach each other, the host
 * reaches them, and what leaves the bridge is masqueraded.
 */

const s = storeForFile('busybox');
const bridge = `tst${process.pid % 100000}`;
const third = process.pid % 250;
const subnet = `10.214.${third}.0/24`;
const gateway = `10.214.${third}.1`;
const saved = { bridge: process.env.TSRUN_BRIDGE, subnet: process.env.TSRUN_BRIDGE_SUBNET };

beforeAll(() => {
  process.env.TSRUN_BRIDGE = bridge;
  process.env.TSRUN_BRIDGE_SUBNET = subnet;
});

afterAll(() => {
  for (const [k, v] of [['TSRUN_BRIDGE', saved.bridge], ['TSRUN_BRIDGE_SUBNET', saved.subnet]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  spawnSync('ip', ['link', 'del', bridge]);
  spawnSync('nft', ['delete', 'table', 'ip', `tsrun_${bridge}`]);
  expect(fs.existsSync(`/sys/class/net/${bridge}`)).toBe(false);
});

const address = (name: string) => s.inspect(name).NetworkSettings.IPAddress as string;
const leases = () => fs.readdirSync(path.join(s.runroot, 'networks', bridge)).sort();

it('gives eth0 a leased address, the default route through the bridge, and /etc/hosts naming it', () => {
  const out = s.ok(['run', '--rm', '--network', 'bridge', '--hostname', 'box', 'busybox', 'sh', '-c', 'ip -4 -o addr show eth0; ip route; grep box /etc/hosts; ping -c1 -W2 ' + gateway + ' >/dev/null && echo gateway ok']);
  expect(out).toMatch(new RegExp(`eth0\\s+inet 10\\.214\\.${third}\\.\\d+/24`));
  expect(out).toContain(`default via ${gateway} dev eth0`);
  expect(out).toMatch(new RegExp(`^10\\.214\\.${third}\\.\\d+\\tbox$`, 'm'));
  expect(out).toContain('gateway ok');
  expect(fs.readFileSync(`/sys/class/net/${bridge}/bridge/bridge_id`, 'utf8')).toBeTruthy();
  const table = execFileSync('nft', ['list', 'table', 'ip', `tsrun_${bridge}`], { encoding: 'utf8' });
  expect(table).toContain(`ip saddr ${subnet} oifname != "${bridge}" masquerade`);
  // route_localnet is on for the host's 127.0.0.1 -> published port; nothing from a wire may reach 127.0.0.0/8 (CVE-2020-8558).
  expect(table).toContain('iifname != "lo" ip daddr 127.0.0.0/8 drop');
});

it('with a user namespace (--uidmap) too: eth0 set up by the namespace\'s root, the gateway reached, /etc/hosts its own', () => {
  const out = s.ok(['run', '--rm', '--network', 'bridge', '--uidmap', '0:100000:65536', 'busybox', 'sh', '-c', `ip -4 -o addr show eth0; ping -c1 -W2 ${gateway} >/dev/null && echo gateway ok; echo "10.0.0.9 extra" >> /etc/hosts && echo hosts ok; cat /proc/self/uid_map`]);
  expect(out).toMatch(new RegExp(`eth0\\s+inet 10\\.214\\.${third}\\.\\d+/24`));
  expect(out).toContain('gateway ok\nhosts ok\n         0     100000      65536\n');
});

it('containers reach each other and the host reaches them; each has its own address, given back at rm', async () => {
  s.ok(['run', '-d', '--network', 'bridge', '--name', 'srv', 'busybox', 'sh', '-c', 'while :; do echo hello | nc -l -p 7000; done']);
  s.ok(['run', '-d', '--network', 'default', '--name', 'other', 'busybox', 'sleep', '100']);
  try {
    const srv = address('srv');
    expect(srv).toMatch(new RegExp(`^10\\.214\\.${third}\\.\\d+$`));
    expect(address('other')).not.toBe(srv);
    expect(s.inspect('other').HostConfig.NetworkMode).toBe('bridge');
    expect(leases()).toEqual([srv, address('other')].sort());
    // nc -l may not be listening the very first moment.
    let reply = '';
    await until(() => {
      reply = s.run(['exec', 'other', 'nc', '-w', '2', srv, '7000']).stdout;
      return reply === 'hello\n';
    });
    const fromHost = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(7000, srv);
      let text = '';
      sock.on('data', (d) => (text += d));
      sock.on('end', () => resolve(text));
      sock.on('error', reject);
    });
    expect(fromHost).toBe('hello\n');
    // stats counts eth0's bytes, both ways (lo is not counted).
    const [rx, tx] = s.ok(['stats', '--no-stream', '--format', '{{.NetIO}}', 'srv']).trim().split(' / ');
    for (const bytes of [rx, tx]) expect(bytes).toMatch(/^[1-9][0-9.]*k?B$/);
  } finally {
    s.ok(['rm', '-f', 'srv', 'other']);
  }
  expect(leases()).toEqual([]);
});

it('a bridged container started again gets an address again; no address is left after rm', () => {
  const eth0 = new RegExp(`eth0\\s+inet 10\\.214\\.${third}\\.\\d+/24`);
  expect(s.ok(['run', '--network', 'bridge', '--name', 'again', 'busybox', 'ip', '-4', '-o', 'addr', 'show', 'eth0'])).toMatch(eth0);
  expect(s.ok(['start', '-a', 'again'])).toMatch(eth0);
  expect(s.inspect('again').HostConfig.NetworkMode).toBe('bridge');
  s.ok(['rm', 'again']);
  expect(leases()).toEqual([]);
});

/** What a TCP server at host:port says before it closes, or the error code. */
function fetchText(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect(port, host);
    let text = '';
    sock.on('data', (d) => (text += d));
    sock.on('end', () => resolve(text));
    sock.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

it('-p forwards a host port to the container (implying the bridge), from localhost, the host\'s own address and the container itself; rm takes it away', async () => {
  const port = 20000 + (process.pid % 10000);
  const hostAddress = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  expect(hostAddress).toBeDefined();
  s.ok(['run', '-d', '-p', `${port}:7000`, '--name', 'web', 'busybox', 'sh', '-c', 'while :; do echo hi | nc -l -p 7000; done']);
  try {
    expect(s.inspect('web').HostConfig.NetworkMode).toBe('bridge');
    expect(s.inspect('web').NetworkSettings.Ports).toEqual({ '7000/tcp': [{ HostIp: '0.0.0.0', HostPort: String(port) }] });
    expect(s.ok(['ps', '--format', '{{.Names}} {{.Ports}}'])).toContain(`web 0.0.0.0:${port}->7000/tcp`);
    expect(s.ok(['port', 'web'])).toBe(`7000/tcp -> 0.0.0.0:${port}\n`);
    expect(s.ok(['container', 'port', 'web', '7000'])).toBe(`0.0.0.0:${port}\n`);
    expect(s.run(['port', 'web', '80/udp'])).toMatchObject({ code: 1, stderr: "tsrun: no public port '80/udp' published for web\n" });
    // One connection at a time: nc serves one, then listens again (and may not listen yet).
    let reply = '';
    for (let i = 0; i < 50 && reply !== 'hi\n'; i++) {
      reply = await fetchText('127.0.0.1', port);
      if (reply !== 'hi\n') await new Promise((r) => setTimeout(r, 100));
    }
    expect(reply).toBe('hi\n');
    await new Promise((r) => setTimeout(r, 200));
    expect(await fetchText(hostAddress!, port)).toBe('hi\n');
    // Hairpin: the container itself through the host's address and published port.
    await new Promise((r) => setTimeout(r, 200));
    expect(s.ok(['exec', 'web', 'nc', '-w', '2', hostAddress!, String(port)])).toBe('hi\n');
    expect(s.run(['run', '-d', '-p', `${port}:7000`, '--name', 'clash', 'busybox', 'sleep', '10'])).toMatchObject({ code: 125, stderr: `tsrun: Bind for 0.0.0.0:${port} failed: port is already allocated\n` });
    s.ok(['rm', 'clash']);
  } finally {
    s.ok(['rm', '-f', 'web']);
  }
  expect(await fetchText('127.0.0.1', port)).toBe('ECONNREFUSED');
  expect(execFileSync('nft', ['list', 'map', 'ip', `tsrun_${bridge}`, 'tcp_any'], { encoding: 'utf8' })).not.toContain(`${port} :`);
});

it('a host process\'s port is not taken over: -p on it is refused with one line (the container stays created, as docker\'s)', async () => {
  const server = net.createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    for (const spec of [`${port}:80`, `127.0.0.1:${port}:80`]) {
      expect(s.run(['run', '-d', '-p', spec, '--name', 'thief', 'busybox', 'sleep', '10'])).toMatchObject({
        code: 125,
        stderr: `tsrun: Bind for ${spec.startsWith('127') ? '127.0.0.1' : '0.0.0.0'}:${port} failed: a host process is listening on tcp port ${port}\n`,
      });
      expect(s.inspect('thief').State.Status).toBe('created');
      s.ok(['rm', 'thief']);
    }
    // Another address's listener leaves this one free, as docker's proxy would bind it.
    s.ok(['run', '-d', '-p', `127.0.0.2:${port}:80`, '--name', 'beside', 'busybox', 'sleep', '10']);
    s.ok(['rm', '-f', 'beside']);
  } finally {
    server.close();
  }
});

it('a stopped container\'s port can be taken by another; -p with --network host is dropped with a warning, with another network or a bad spec it is one line', () => {
  const port = 30000 + (process.pid % 10000);
  s.ok(['run', '-d', '-p', `127.0.0.1:${port}:80/udp`, '--name', 'first', 'busybox', 'sleep', '100']);
  expect(s.inspect('first').NetworkSettings.Ports).toEqual({ '80/udp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] });
  s.ok(['stop', '-t', '0', 'first']);
  s.ok(['run', '-d', '-p', `127.0.0.1:${port}:80/udp`, '--name', 'second', 'busybox', 'sleep', '100']);
  expect(execFileSync('nft', ['list', 'map', 'ip', `tsrun_${bridge}`, 'udp_ip'], { encoding: 'utf8' })).toContain(`127.0.0.1 . ${port} : ${address('second')} . 80`);
  s.ok(['rm', '-f', 'first', 'second']);
  // docker's: the ports are dropped with a warning; the container still runs, with no bindings.
  s.ok(['run', '-d', '--name', 'hosted', '-p', '8080:80', '--network', 'host', 'busybox', 'sleep', '100']);
  expect(s.inspect('hosted').HostConfig.PortBindings).toEqual({});
  s.ok(['rm', '-f', 'hosted']);
  expect(s.run(['run', '--rm', '-p', '8080:80', '--network', 'host', 'busybox', 'true'])).toMatchObject({ code: 0, stderr: 'WARNING: Published ports are discarded when using host network mode\n' });
  expect(s.run(['run', '--rm', '-p', '8080:80', '--network', 'none', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: 'tsrun: -p needs the bridge network, not --network none\n' });
  expect(s.run(['run', '--rm', '-p', '8080:80', '--network', 'container:second', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: 'tsrun: conflicting options: port publishing and the container type network mode\n' });
  expect(s.run(['run', '--rm', '-p', '80-90:80-82', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: 'tsrun: invalid -p "80-90:80-82": the host and container port ranges must be the same size\n' });
  expect(s.run(['run', '--rm', '-p', '80:80:80', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: expect.stringMatching(/^tsrun: invalid -p "80:80:80": use \[HOST_IP:\]\[HOST_PORT\[-END\]:\]CONTAINER_PORT/) });
});

it('-p with port ranges: paired off, and one port chosen from a host range past the ports already taken', async () => {
  const base = 40000 + (process.pid % 10000);
  s.ok(['run', '-d', '-p', `127.0.0.1:${base}-${base + 1}:7000-7001`, '-p', `127.0.0.1:${base}-${base + 5}:7002`, '--name', 'ranged', 'busybox', 'sh', '-c',
    'for p in 7000 7001 7002; do (while :; do echo $p | nc -l -p $p; done) & done; wait']);
  try {
    const hostPorts = (ports: Record<string, { HostPort: string }[]>) => Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, v[0]!.HostPort]));
    // The third takes the first port of its range not already taken by the first two.
    expect(hostPorts(s.inspect('ranged').NetworkSettings.Ports)).toEqual({ '7000/tcp': String(base), '7001/tcp': String(base + 1), '7002/tcp': String(base + 2) });
    expect(hostPorts(s.inspect('ranged').HostConfig.PortBindings)).toEqual({ '7000/tcp': String(base), '7001/tcp': String(base + 1), '7002/tcp': `${base}-${base + 5}` });
    for (const [hostPort, expected] of [[base, '7000\n'], [base + 2, '7002\n']] as const) {
      let reply = '';
      for (let i = 0; i < 50 && reply !== expected; i++) {
        reply = await fetchText('127.0.0.1', hostPort);
        if (reply !== expected) await new Promise((r) => setTimeout(r, 100));
      }
      expect(reply).toBe(expected);
    }
  } finally {
    s.ok(['rm', '-f', 'ranged']);
  }
});

it('--network, --pid and --ipc container:NAME join a running container\'s namespaces, its /etc/hosts with its network', () => {
  s.ok(['run', '-d', '--name', 'target', '-h', 'tgt', 'busybox', 'sh', '-c', 'sleep 100 & while :; do echo hi | nc -l -p 9000; done']);
  try {
    const ns = (args: string[]) => s.ok(args).trim().split('\n');
    const theirs = ns(['exec', 'target', 'sh', '-c', 'for n in net ipc pid; do readlink /proc/self/ns/$n; done']);
    let out = '';
    // nc -l may not listen yet.
    for (let i = 0; i < 50 && !out.startsWith('hi\n'); i++) {
      out = s.ok(['run', '--rm', '--network', 'container:target', '--pid', 'container:target', '--ipc', 'container:target', 'busybox', 'sh', '-c',
        'nc 127.0.0.1 9000; for n in net ipc pid; do readlink /proc/self/ns/$n; done; grep tgt /etc/hosts; ps -o comm | grep -c sleep']);
    }
    expect(out.split('\n')).toEqual(['hi', ...theirs, expect.stringMatching(/\ttgt$/), '1', '']);
    const id = s.inspect('target').Id;
    s.ok(['create', '--name', 'joiner', '--network', 'container:target', 'busybox', 'true']);
    expect(s.inspect('joiner').HostConfig.NetworkMode).toBe(`container:${id}`);
    // On another container's network it has none of its own (docker's empty Networks; ps's .Networks is "").
    expect(s.inspect('joiner').NetworkSettings.Networks).toEqual({});
    expect(s.ok(['ps', '-a', '--filter', 'name=joiner', '--format', '[{{.Networks}}]'])).toBe('[]\n');
    s.ok(['rm', 'joiner']);
    s.ok(['stop', '-t', '0', 'target']);
    expect(s.run(['run', '--rm', '--network', 'container:target', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: 'tsrun: cannot join the network namespace of container target: it is not running\n' });
  } finally {
    s.ok(['rm', '-f', 'target']);
  }
  expect(s.run(['run', '--rm', '--pid', 'container:nosuch', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: 'tsrun: no such container: nosuch\n' });
  expect(s.run(['run', '--rm', '--uts', 'container:x', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: expect.stringMatching(/^tsrun: invalid --uts mode "container:x"/) });
});

it('-p PORT and -P (the image\'s EXPOSE) forward from free host ports chosen at start', async () => {
  s.ok(['create', '--name', 'base', 'busybox', 'true']);
  s.ok(['commit', '-c', 'EXPOSE 7000', '-c', 'EXPOSE 5353/udp', 'base', 'exposing:1']);
  s.ok(['rm', 'base']);
  s.ok(['run', '-d', '-P', '-p', '127.0.0.1::8000', '--expose', '9000-9001/udp', '--name', 'auto', 'exposing:1', 'sh', '-c', 'while :; do echo auto | nc -l -p 7000; done']);
  try {
    const [low, high] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    const ports = s.inspect('auto').NetworkSettings.Ports as Record<string, { HostIp: string; HostPort: string }[]>;
    // --expose adds to the image's EXPOSE: -P publishes those too.
    expect(Object.keys(ports).sort()).toEqual(['5353/udp', '7000/tcp', '8000/tcp', '9000/udp', '9001/udp']);
    expect(Object.keys(s.inspect('auto').Config.ExposedPorts).sort()).toEqual(['5353/udp', '7000/tcp', '8000/tcp', '9000/udp', '9001/udp']);
    const chosen = Number(ports['7000/tcp']![0]!.HostPort);
    expect(chosen).toBeGreaterThanOrEqual(low!);
    expect(chosen).toBeLessThanOrEqual(high!);
    expect(ports['8000/tcp']![0]!.HostIp).toBe('127.0.0.1');
    expect(s.inspect('auto').HostConfig.PortBindings['7000/tcp']).toEqual([{ HostIp: '0.0.0.0', HostPort: '' }]);
    expect(s.ok(['port', 'auto', '7000'])).toBe(`0.0.0.0:${chosen}\n`);
    let reply = '';
    for (let i = 0; i < 50 && reply !== 'auto\n'; i++) {
      reply = await fetchText('127.0.0.1', chosen);
      if (reply !== 'auto\n') await new Promise((r) => setTimeout(r, 100));
    }
    expect(reply).toBe('auto\n');
  } finally {
    s.ok(['rm', '-f', 'auto']);
  }
  s.ok(['rmi', 'exposing:1']);
});

it('a published port goes when its container exits (no daemon: the monitor\'s exit command takes it away)', async () => {
  const port = 40000 + (process.pid % 10000);
  const mapped = () => execFileSync('nft', ['list', 'map', 'ip', `tsrun_${bridge}`, 'tcp_any'], { encoding: 'utf8' }).includes(`${port} :`);
  s.ok(['run', '-d', '-p', `${port}:80`, '--name', 'brief', 'busybox', 'sleep', '1']);
  expect(mapped()).toBe(true);
  expect(s.ok(['wait', 'brief'])).toBe('0\n');
  // The element goes first, then its file.
  await until(() => !mapped() && fs.readdirSync(path.join(s.runroot, 'networks', `${bridge}.ports`)).length === 0);
  s.ok(['rm', 'brief']);
});

it('on a host whose iptables FORWARD policy drops (as Docker sets it), the bridge still reaches out and published ports still come in', () => {
  // All in a network namespace of the test's own (with its own sysfs): the policy, the bridge, its
  // table and iptables rules, and an "outside" namespace on a veth, go with it.
  const tsrun = `${tsrunBin} --root ${s.root} --runroot ${s.runroot}-fw`;
  const script = `
    set -e
    mkdir -p ${s.dir}/fw-cg && mount --rbind /sys/fs/cgroup ${s.dir}/fw-cg
    mount -t sysfs sysfs /sys && mount --move ${s.dir}/fw-cg /sys/fs/cgroup
    ip link set lo up
    unshare -n sleep 30 & OUT=$!
    sleep 0.2
    ip link add fwout type veth peer name fwpeer && ip link set fwpeer netns $OUT
    ip addr add 198.51.100.1/24 dev fwout && ip link set fwout up
    nsenter -t $OUT -n sh -c 'ip link set lo up; ip addr add 198.51.100.2/24 dev fwpeer; ip link set fwpeer up'
    nsenter -t $OUT -n sh -c '(while :; do echo outside | busybox nc -l -p 9000; done) >/dev/null 2>&1 &'
    iptables -w -P FORWARD DROP
    ${tsrun} run --rm --network bridge busybox nc -w 2 198.51.100.2 9000 || echo "container to outside: failed"
    ${tsrun} run -d --name fwweb -p 8080:7000 busybox sh -c 'while :; do echo published | nc -l -p 7000; done' >/dev/null
    for i in 1 2 3 4 5 6 7 8 9 10; do r=$(nsenter -t $OUT -n busybox nc -w 1 198.51.100.1 8080 || true); [ -n "$r" ] && break; sleep 0.2; done
    echo "$r"
    ${tsrun} rm -f fwweb >/dev/null
    iptables -w -S FORWARD | grep -c fwtst || true
    kill $OUT
  `;
  const r = spawnSync('unshare', ['-n', '-m', '--propagation', 'private', 'sh', '-c', script], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, TSRUN_BRIDGE: 'fwtst0', TSRUN_BRIDGE_SUBNET: '10.215.1.0/24', TSRUN_LOG_LEVEL: 'warn' },
  });
  expect(r.stderr).toBe('');
  // docker's three accepts: out of the bridge, replies into it, published ports into it.
  expect(r.stdout).toBe('outside\npublished\n3\n');
});
