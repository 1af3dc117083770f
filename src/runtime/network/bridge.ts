import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RuntimeError } from '../../errors.js';
import type { NativeBinding } from '../../native/types.js';
import type { StorePaths } from '../../store/paths.js';
import { withLock } from '../../util/lock.js';
import type { PortBinding } from '../plan/container-spec.js';
import { type BridgeNetwork, inUse, intToIp, networkLock } from './leases.js';

/**
 * `--network bridge`: docker's default network, made the way docker makes
 * it. One Linux bridge on the host (tsrun0, 10.89.0.1/16; TSRUN_BRIDGE and
 * TSRUN_BRIDGE_SUBNET choose others) with an nftables masquerade for what
 * leaves it, made at the first bridged start of a boot. Each container gets
 * a veth pair: one end on the bridge, the other put into its network
 * namespace as eth0 while its init waits (plan hookpause), where the init
 * itself sets the address and default route (plan netif). Addresses are
 * leased in <runroot>/networks/<bridge>/ (leases.ts); the veth pair goes
 * away with the namespace.
 */

/**
 * The bridge, its address and its nftables table, made if this boot has not
 * made them all yet: <runroot>/networks/<bridge>.ready (volatile, like the
 * bridge) is written last, so a setup that failed halfway (nft missing, say)
 * is done again at the next bridged start.
 */
export async function ensureBridge(native: NativeBinding, p: StorePaths, net: BridgeNetwork): Promise<void> {
  const ready = path.join(p.runroot, 'networks', `${net.bridge}.ready`);
  if (fs.existsSync(ready) && fs.existsSync(`/sys/class/net/${net.bridge}`)) return;
  fs.mkdirSync(path.join(p.runroot, 'networks'), { recursive: true, mode: 0o700 });
  await withLock(native, networkLock(p, net), () => {
    if (fs.existsSync(ready) && fs.existsSync(`/sys/class/net/${net.bridge}`)) return;
    const subnet = `${intToIp(net.subnet.base)}/${net.subnet.prefix}`;
    if (!fs.existsSync(`/sys/class/net/${net.bridge}`)) {
      run('ip', ['-batch', '-'], [`link add ${net.bridge} type bridge`, `addr add ${net.gateway}/${net.subnet.prefix} dev ${net.bridge}`, `link set ${net.bridge} up`].join('\n'));
    }
    run('nft', ['-f', '-'], natRules(net, subnet));
    allowForwarding(net);
    // Containers reach beyond the host only if it forwards (docker sets it too); the host's own
    // connections to 127.0.0.1:PORT may be sent to a container only with route_localnet on the bridge
    // (what that would open to containers, the table's raw chain closes).
    if (fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() !== '1') fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
    fs.writeFileSync(`/proc/sys/net/ipv4/conf/${net.bridge}/route_localnet`, '1');
    fs.writeFileSync(ready, '');
  });
}

/**
 * A host whose iptables FORWARD policy is DROP (what installing Docker
 * sets) would drop everything routed to or from the bridge, and an accept
 * in our own table cannot outvote it (every base chain of the hook must
 * let a packet through). There, the bridge gets docker's three accepts at
 * the head of FORWARD: out of the bridge, replies into it, and published
 * ports (DNATed) into it. Hosts that forward by default are left alone.
 */
function allowForwarding(net: BridgeNetwork): void {
  let rules: string;
  try {
    rules = execFileSync('iptables', ['-w', '-S', 'FORWARD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return; // no iptables (or no filter table): nothing of it can drop
  }
  if (!/^-P FORWARD DROP$/m.test(rules)) return;
  for (const rule of [
    ['-i', net.bridge, '-j', 'ACCEPT'],
    ['-o', net.bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
    ['-o', net.bridge, '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'ACCEPT'],
  ]) {
    if (!tryRun('iptables', ['-w', '-C', 'FORWARD', ...rule], '')) run('iptables', ['-w', '-I', 'FORWARD', ...rule], '');
  }
}

/**
 * The bridge's nftables table, made anew (a table left from an earlier boot's
 * bridge is replaced). postrouting: what leaves the bridge's subnet through
 * another interface takes that interface's address (replies come back through
 * conntrack), and the host's own 127.0.0.1 connections to a published port
 * reach the container from the gateway, as does a container's own connection
 * to a published port (hairpin). prerouting (from outside) and output
 * (from the host itself): a published port, looked up in a map by address and
 * port, then by port alone, is sent to its container's address and port.
 */
function natRules(net: BridgeNetwork, subnet: string): string {
  const t = `ip ${nftTable(net)}`;
  const lines = [
    `add table ${t}`,
    `delete table ${t}`,
    `add table ${t}`,
    `add chain ${t} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
    `add rule ${t} postrouting ip saddr ${subnet} oifname != "${net.bridge}" masquerade`,
    `add rule ${t} postrouting ip saddr 127.0.0.0/8 oifname "${net.bridge}" masquerade`,
    // Hairpin: a container reaching a published port through the host's address comes back into the bridge
    // DNATed; from the gateway's address, the reply goes back through the host (conntrack), not straight to it.
    `add rule ${t} postrouting ip saddr ${subnet} oifname "${net.bridge}" ct status dnat masquerade`,
    // 127.0.0.0/8 never comes in from a wire: not to reach a port published on 127.0.0.1 from the
    // LAN (CVE-2020-8558's kind), nor, from a container (route_localnet), the host's loopback services.
    `add chain ${t} raw { type filter hook prerouting priority raw; policy accept; }`,
    `add rule ${t} raw iifname != "lo" ip daddr 127.0.0.0/8 drop`,
    `add chain ${t} prerouting { type nat hook prerouting priority dstnat; policy accept; }`,
    `add chain ${t} output { type nat hook output priority -100; policy accept; }`,
  ];
  for (const proto of ['tcp', 'udp']) {
    lines.push(`add map ${t} ${proto}_ip { type ipv4_addr . inet_service : ipv4_addr . inet_service; }`);
    lines.push(`add map ${t} ${proto}_any { type inet_service : ipv4_addr . inet_service; }`);
    for (const chain of ['prerouting', 'output']) {
      lines.push(`add rule ${t} ${chain} dnat ip addr . port to ip daddr . ${proto} dport map @${proto}_ip`);
      lines.push(`add rule ${t} ${chain} fib daddr type local dnat ip addr . port to ${proto} dport map @${proto}_any`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * -p: each binding claimed under the network lock (a file per host address,
 * port and protocol naming its container and target), then put in the maps.
 * A binding held by a container that still runs is refused, as docker's
 * "port is already allocated"; one held by a stopped container is taken over.
 * Host port 0 gets a free one of its range (-p 8000-8010:80) or of the
 * kernel's ephemeral range (docker's choice too). Returns the bindings as made.
 */
export async function publishPorts(native: NativeBinding, p: StorePaths, net: BridgeNetwork, id: string, address: string, wanted: PortBinding[]): Promise<PortBinding[]> {
  const dir = portDir(p, net);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return withLock(native, networkLock(p, net), () => {
    // This container's bindings of an earlier start go first (a -P port chosen anew must not stay behind).
    dropBindings(net, dir, (h) => h.id === id);
    const ports = chooseHostPorts(p, dir, wanted);
    const holders = readHolders(dir);
    // A host service's port is not taken over (docker's proxy would fail to bind it): its traffic would go to the container.
    const hostBound = { tcp: hostListeners('tcp'), udp: hostListeners('udp') };
    for (const b of ports) {
      // An any-address binding and one on a given address of the same port overlap (docker's rule too).
      const clash = holders.find((h) => h.protocol === b.protocol && h.hostPort === b.hostPort && (!h.hostIp || !b.hostIp || h.hostIp === b.hostIp));
      if (clash && inUse(p, clash)) throw new RuntimeError(`Bind for ${b.hostIp ?? '0.0.0.0'}:${b.hostPort} failed: port is already allocated`);
      // On the same address, or either on every address (an IPv6 one takes IPv4 too, unless v6only); not another address's.
      const taken = hostBound[b.protocol].some((l) => l.port === b.hostPort && (l.address === 'any' || !b.hostIp || b.hostIp === '0.0.0.0' || l.address === b.hostIp));
      if (taken) throw new RuntimeError(`Bind for ${b.hostIp ?? '0.0.0.0'}:${b.hostPort} failed: a host process is listening on ${b.protocol} port ${b.hostPort}`);
    }
    dropBindings(net, dir, (h) => ports.some((b) => h.protocol === b.protocol && h.hostPort === b.hostPort && (!h.hostIp || !b.hostIp || h.hostIp === b.hostIp)));
    const at = Date.now();
    for (const b of ports) fs.writeFileSync(path.join(dir, portKey(b)), JSON.stringify({ id, address, at, ...b }), { mode: 0o600 });
    run('nft', ['-f', '-'], ports.map((b) => `add element ip ${nftTable(net)} ${mapOf(b)} { ${keyOf(b)} : ${address} . ${b.containerPort} }`).join('\n'));
    return ports;
  });
}

/** Host port 0 made a port that no running container's binding and no listening socket of the host has. */
function chooseHostPorts(p: StorePaths, dir: string, wanted: PortBinding[]): PortBinding[] {
  if (wanted.every((b) => b.hostPort !== 0)) return wanted;
  const [low, high] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number) as [number, number];
  const taken = new Set<string>();
  // Fixed ports asked for in the same start are taken too.
  for (const b of wanted) if (b.hostPort !== 0) taken.add(`${b.protocol}/${b.hostPort}`);
  for (const holder of readHolders(dir)) if (inUse(p, holder)) taken.add(`${holder.protocol}/${holder.hostPort}`);
  for (const proto of ['tcp', 'udp'] as const) for (const port of boundPorts(proto)) taken.add(`${proto}/${port}`);
  return wanted.map(({ hostRange, ...b }) => {
    if (b.hostPort !== 0) return b;
    const [from, to] = hostRange ? [hostRange.low, hostRange.high] : [low, high];
    for (let port = from; port <= to; port++) {
      if (taken.has(`${b.protocol}/${port}`)) continue;
      taken.add(`${b.protocol}/${port}`);
      return { ...b, hostPort: port };
    }
    throw new RuntimeError(`no free ${b.protocol} port left in ${from}-${to} to publish ${b.containerPort}`);
  });
}

/**
 * The host's listening sockets (/proc/net/{tcp,udp}{,6}; tcp: LISTEN ones),
 * each as its port and IPv4 address: "any" for 0.0.0.0 and ::, "v6" for
 * another IPv6 address, which an IPv4 DNAT never meets.
 */
function hostListeners(proto: 'tcp' | 'udp'): { port: number; address: string }[] {
  const out: { port: number; address: string }[] = [];
  for (const file of [`/proc/net/${proto}`, `/proc/net/${proto}6`]) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local || (proto === 'tcp' && state !== '0A')) continue;
      const [hex, port] = [local.slice(0, local.lastIndexOf(':')), parseInt(local.slice(local.lastIndexOf(':') + 1), 16)];
      let address = 'v6';
      if (/^0+$/.test(hex)) address = 'any';
      // The kernel prints an IPv4 address as one native-endian (little, here) word.
      else if (hex.length === 8) address = [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.');
      out.push({ port, address });
    }
  }
  return out;
}

/** Local ports the host's sockets are bound to (/proc/net/{tcp,udp}{,6}; tcp: listening ones). */
function boundPorts(proto: 'tcp' | 'udp'): number[] {
  return hostListeners(proto).map((l) => l.port);
}

/**
 * Takes bindings out of the maps: a container's (rm, its exit, a failed
 * start), or whoever's points at an address being leased to another
 * container (a stopped container's bindings must never reach the next
 * holder of its address).
 */
export async function unpublishPorts(native: NativeBinding, p: StorePaths, net: BridgeNetwork, match: { id?: string; address?: string; exceptId?: string }): Promise<void> {
  const dir = portDir(p, net);
  if (!fs.existsSync(dir)) return;
  await withLock(native, networkLock(p, net), () =>
    dropBindings(net, dir, (h) => h.id !== match.exceptId && ((match.id !== undefined && h.id === match.id) || (match.address !== undefined && h.address === match.address))),
  );
}

/** Deletes the matching bindings' map elements and files; the caller holds the network lock. */
function dropBindings(net: BridgeNetwork, dir: string, match: (h: Holder) => boolean): void {
  for (const h of readHolders(dir)) {
    if (!match(h)) continue;
    // An element may be gone already (a flushed ruleset): each deletion may fail on its own.
    tryRun('nft', ['-f', '-'], deleteElement(net, h));
    fs.rmSync(path.join(dir, portKey(h)), { force: true });
  }
}

function readHolders(dir: string): Holder[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) => readHolder(path.join(dir, name)) ?? []);
}

type Holder = PortBinding & { id: string; address: string; at: number };

function readHolder(file: string): Holder | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

const portDir = (p: StorePaths, net: BridgeNetwork) => path.join(p.runroot, 'networks', `${net.bridge}.ports`);
const portKey = (b: PortBinding) => `${b.protocol}-${b.hostIp ?? 'any'}-${b.hostPort}`;
const mapOf = (b: PortBinding) => `${b.protocol}_${b.hostIp ? 'ip' : 'any'}`;
const keyOf = (b: PortBinding) => (b.hostIp ? `${b.hostIp} . ${b.hostPort}` : `${b.hostPort}`);
const deleteElement = (net: BridgeNetwork, b: PortBinding) => `delete element ip ${nftTable(net)} ${mapOf(b)} { ${keyOf(b)} }`;

/** The nftables table of a bridge's masquerade (deleted with `nft delete table ip NAME`). */
export const nftTable = (net: BridgeNetwork) => `tsrun_${net.bridge.replace(/[^a-zA-Z0-9_]/g, '_')}`;

/** Puts a veth pair between the bridge and the init's network namespace (as eth0), while the init waits. */
export function plugVeth(net: BridgeNetwork, id: string, initPid: number): void {
  // The host end's name must be unique and at most 15 bytes; the id's first 11 hex digits are.
  const host = `veth${id.slice(0, 11)}`;
  // A pair of this container's previous start may outlive it a moment (its namespace is torn down asynchronously).
  if (fs.existsSync(`/sys/class/net/${host}`)) tryRun('ip', ['link', 'del', host], '');
  // hairpin: a container's connection to its own published port leaves and re-enters through this one bridge port.
  run('ip', ['-batch', '-'], [`link add ${host} type veth peer name eth0 netns ${initPid}`, `link set ${host} master ${net.bridge} up`, `link set ${host} type bridge_slave hairpin on`].join('\n'));
}

/** Whether the command succeeded; its failure is the caller's answer, not an error. */
function tryRun(cmd: string, args: string[], input: string): boolean {
  try {
    execFileSync(cmd, args, { input, stdio: ['pipe', 'ignore', 'ignore'] });
    return true;
  } catch {
    return false;
  }
}

function run(cmd: string, args: string[], input: string): void {
  try {
    execFileSync(cmd, args, { input, stdio: ['pipe', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    const pkg = cmd === 'nft' ? 'nftables' : cmd === 'ip' ? 'iproute2' : cmd;
    const why = e.code === 'ENOENT' ? `${cmd} is not installed (apt-get install ${pkg})` : (e.stderr?.toString().trim().split('\n')[0] ?? e.message);
    throw new RuntimeError(`setting up the bridge network: ${why}`, { cause: err });
  }
}
