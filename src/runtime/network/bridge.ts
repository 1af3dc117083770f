import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RuntimeError } from '../../errors.js';
import type { NativeBinding } from '../../native/types.js';
import type { StorePaths } from '../../store/paths.js';
import { withLock } from '../../util/lock.js';
import { type BridgeNetwork, intToIp, networkLock } from './leases.js';

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

/** The bridge, its address and the masquerade, made if this boot has not made them yet. */
export async function ensureBridge(native: NativeBinding, p: StorePaths, net: BridgeNetwork): Promise<void> {
  if (fs.existsSync(`/sys/class/net/${net.bridge}`)) return;
  fs.mkdirSync(path.join(p.runroot, 'networks'), { recursive: true, mode: 0o700 });
  await withLock(native, networkLock(p, net), () => {
    if (fs.existsSync(`/sys/class/net/${net.bridge}`)) return;
    const subnet = `${intToIp(net.subnet.base)}/${net.subnet.prefix}`;
    run('ip', ['-batch', '-'], [`link add ${net.bridge} type bridge`, `addr add ${net.gateway}/${net.subnet.prefix} dev ${net.bridge}`, `link set ${net.bridge} up`].join('\n'));
    // Replies come back through conntrack; what leaves the host through another interface takes its address.
    run('nft', ['-f', '-'], `table ip ${nftTable(net)} {\n chain postrouting {\n  type nat hook postrouting priority srcnat; policy accept;\n  ip saddr ${subnet} oifname != "${net.bridge}" masquerade\n }\n}\n`);
    // Containers reach beyond the host only if it forwards (docker sets it too).
    if (fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() !== '1') fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
  });
}

/** The nftables table of a bridge's masquerade (deleted with `nft delete table ip NAME`). */
export const nftTable = (net: BridgeNetwork) => `tsrun_${net.bridge.replace(/[^a-zA-Z0-9_]/g, '_')}`;

/** Puts a veth pair between the bridge and the init's network namespace (as eth0), while the init waits. */
export function plugVeth(net: BridgeNetwork, id: string, initPid: number): void {
  // The host end's name must be unique and at most 15 bytes; the id's first 11 hex digits are.
  const host = `veth${id.slice(0, 11)}`;
  run('ip', ['-batch', '-'], [`link add ${host} type veth peer name eth0 netns ${initPid}`, `link set ${host} master ${net.bridge} up`].join('\n'));
}

function run(cmd: string, args: string[], input: string): void {
  try {
    execFileSync(cmd, args, { input, stdio: ['pipe', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    const why = e.code === 'ENOENT' ? `${cmd} is not installed (apt-get install ${cmd === 'nft' ? 'nftables' : 'iproute2'})` : (e.stderr?.toString().trim().split('\n')[0] ?? e.message);
    throw new RuntimeError(`setting up the bridge network: ${why}`, { cause: err });
  }
}
