import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { storeForFile, until } from '../helpers/store.js';

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
  expect(execFileSync('nft', ['list', 'table', 'ip', `tsrun_${bridge}`], { encoding: 'utf8' })).toContain(`ip saddr ${subnet} oifname != "${bridge}" masquerade`);
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
