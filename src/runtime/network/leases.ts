import * as fs from 'node:fs';
import * as path from 'node:path';
import { RuntimeError } from '../../errors.js';
import type { NativeBinding } from '../../native/types.js';
import type { StorePaths } from '../../store/paths.js';
import { withLock } from '../../util/lock.js';
import { readRuntime } from '../state/record.js';
import { isAlive } from '../state/liveness.js';
import { UsageError } from '../../errors.js';

/**
 * A bridge network's addresses (TSRUN_BRIDGE, TSRUN_BRIDGE_SUBNET; default
 * tsrun0 on 10.89.0.0/16, the gateway .1), leased in
 * <runroot>/networks/<bridge>/: one file per address, naming its container
 * and when it took it. Volatile like the rest of the runroot: after a
 * reboot every address is free. No child_process here: rm loads it.
 */

/** An address of a container on the bridge (runtime.json keeps it for inspect). */
export interface Lease {
  bridge: string;
  address: string;
  prefix: number;
  gateway: string;
}

export interface BridgeNetwork {
  bridge: string;
  /** Network address and prefix length. */
  subnet: { base: number; prefix: number };
  gateway: string;
}

/** The bridge network of TSRUN_BRIDGE/TSRUN_BRIDGE_SUBNET; `recorded` names the bridge a container was started on (runtime.json). */
export function bridgeNetwork(recorded?: string): BridgeNetwork {
  const bridge = recorded ?? process.env.TSRUN_BRIDGE ?? 'tsrun0';
  if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(bridge)) throw new UsageError(`invalid TSRUN_BRIDGE "${bridge}": an interface name of 1-15 letters, digits, _ . -`);
  const subnetText = process.env.TSRUN_BRIDGE_SUBNET ?? '10.89.0.0/16';
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(subnetText);
  const prefix = m ? Number(m[2]) : NaN;
  if (!m || !(prefix >= 8 && prefix <= 30)) throw new UsageError(`invalid TSRUN_BRIDGE_SUBNET "${subnetText}": an IPv4 network such as 10.89.0.0/16 (prefix 8-30)`);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const base = (ipToInt(m[1]!) & mask) >>> 0;
  return { bridge, subnet: { base, prefix }, gateway: intToIp(base + 1) };
}

/** Serializes the bridge's setup and its leases. */
export const networkLock = (p: StorePaths, net: BridgeNetwork) => path.join(p.runroot, 'networks', `${net.bridge}.lock`);

/** A lease (or port binding) younger than this is kept even before its container's init exists (its start is under way). */
export const STARTING_MS = 60_000;

/**
 * Whether what a container took at `at` is still its own: its init runs, or
 * its start is under way (taken lately, and no init has existed yet).
 */
export function inUse(p: StorePaths, holder: { id: string; at: number }): boolean {
  const rt = readRuntime(p, holder.id);
  if (rt && rt.pid > 0) return isAlive(rt.pid, rt.pidStartTime);
  return Date.now() - holder.at < STARTING_MS;
}

/**
 * The first free address for a container (its own again if it holds one):
 * free means no file, or a file whose container no longer runs and did not
 * take it in the last minute.
 */
export async function leaseAddress(native: NativeBinding, p: StorePaths, net: BridgeNetwork, id: string): Promise<Lease> {
  const dir = leaseDir(p, net);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return withLock(native, networkLock(p, net), () => {
    const size = 2 ** (32 - net.subnet.prefix);
    // Its own address again, if it holds one (a restart): never two leases for one container.
    for (const address of fs.readdirSync(dir)) {
      let holder: { id: string } | undefined;
      try {
        holder = JSON.parse(fs.readFileSync(path.join(dir, address), 'utf8')) as { id: string };
      } catch {
        holder = undefined;
      }
      if (holder?.id !== id) continue;
      fs.writeFileSync(path.join(dir, address), JSON.stringify({ id, at: Date.now() }), { mode: 0o600 });
      return { bridge: net.bridge, address, prefix: net.subnet.prefix, gateway: net.gateway };
    }
    for (let host = 2; host < size - 1; host++) {
      const address = intToIp(net.subnet.base + host);
      const file = path.join(dir, address);
      let holder: { id: string; at: number } | undefined;
      try {
        holder = JSON.parse(fs.readFileSync(file, 'utf8')) as { id: string; at: number };
      } catch {
        holder = undefined;
      }
      if (holder && holder.id !== id && inUse(p, holder)) continue;
      fs.writeFileSync(file, JSON.stringify({ id, at: Date.now() }), { mode: 0o600 });
      return { bridge: net.bridge, address, prefix: net.subnet.prefix, gateway: net.gateway };
    }
    throw new RuntimeError(`no free address left in ${intToIp(net.subnet.base)}/${net.subnet.prefix} (bridge ${net.bridge})`);
  });
}

/** Gives back every address a container holds (rm). */
export function releaseAddresses(p: StorePaths, id: string): void {
  const root = path.join(p.runroot, 'networks');
  let bridges: string[];
  try {
    // <bridge>.ports holds port bindings, which go with their nft elements (bridge.ts), not here.
    bridges = fs.readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory() && !d.name.endsWith('.ports')).map((d) => d.name);
  } catch {
    return;
  }
  for (const b of bridges) {
    for (const address of fs.readdirSync(path.join(root, b))) {
      const file = path.join(root, b, address);
      try {
        if ((JSON.parse(fs.readFileSync(file, 'utf8')) as { id: string }).id === id) fs.rmSync(file, { force: true });
      } catch {
        // a torn lease file is reclaimed by the next lease
      }
    }
  }
}

const leaseDir = (p: StorePaths, net: BridgeNetwork) => path.join(p.runroot, 'networks', net.bridge);

function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new UsageError(`invalid IPv4 address "${ip}"`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}
