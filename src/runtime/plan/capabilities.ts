import * as fs from 'node:fs';
import { UsageError } from '../../errors.js';
import { logger } from '../../log.js';
import { CAPABILITY_NAMES, DEFAULT_CAPABILITIES, type OciCapabilities } from '../../oci/spec.js';

/**
 * Capabilities as docker decides them (moby oci/caps): the default 14,
 * --cap-add/--cap-drop by name with or without CAP_ and in any case, ALL,
 * and --privileged = every capability the host can give (its own bounding set).
 */

const ALL = 'ALL';

/** "sys_admin", "CAP_SYS_ADMIN", "all" → "CAP_SYS_ADMIN" / "ALL"; unknown names are refused. */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === ALL) return ALL;
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!(CAPABILITY_NAMES as readonly string[]).includes(full)) throw new UsageError(`unknown capability: "${name}"`);
  return full;
}

export function capabilityBit(name: string): number {
  const bit = (CAPABILITY_NAMES as readonly string[]).indexOf(name);
  if (bit < 0) throw new UsageError(`unknown capability: "${name}"`);
  return bit;
}

export function capabilityMask(names: string[] = []): bigint {
  let mask = 0n;
  for (const n of names) mask |= 1n << BigInt(capabilityBit(n));
  return mask;
}

export function capabilityNames(mask: bigint): string[] {
  return CAPABILITY_NAMES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/** The highest capability number this kernel has (/proc/sys/kernel/cap_last_cap); every one tsrun knows if it cannot say. */
function kernelLastCap(): number {
  try {
    return Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  } catch {
    return CAPABILITY_NAMES.length - 1;
  }
}

/** The host's bounding set (CapBnd of /proc/self/status): what --privileged and --cap-add ALL mean here. */
export function hostBoundingCapabilities(status = fs.readFileSync('/proc/self/status', 'utf8')): string[] {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status);
  if (!m) throw new Error('no CapBnd in /proc/self/status');
  return capabilityNames(BigInt(`0x${m[1]}`));
}

/** moby's TweakCapabilities. */
export function tweakCapabilities(opts: { add?: string[]; drop?: string[]; privileged?: boolean; host: () => string[] }): string[] {
  if (opts.privileged) return opts.host();
  const add = (opts.add ?? []).map(normalizeCapability);
  const drop = (opts.drop ?? []).map(normalizeCapability);
  if (add.length === 0 && drop.length === 0) return [...DEFAULT_CAPABILITIES];
  let caps: string[];
  if (add.includes(ALL)) {
    caps = opts.host().filter((c) => !drop.includes(c));
  } else if (drop.includes(ALL)) {
    caps = add;
  } else {
    caps = [...DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c)), ...add];
  }
  return sortCapabilities(caps);
}

function sortCapabilities(caps: string[]): string[] {
  return [...new Set(caps)].sort((a, b) => capabilityBit(a) - capabilityBit(b));
}

/**
 * The OCI sets for a process running as uid: root gets the list in its
 * bounding, effective and permitted sets; any other user only in the
 * bounding set, as execve would leave it (moby oci.SetCapabilities).
 * Inheritable and ambient stay empty (CVE-2022-24769).
 */
export function processCapabilities(caps: string[], uid: number): OciCapabilities {
  return uid === 0 ? { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] } : { bounding: caps, effective: [], permitted: [], inheritable: [], ambient: [] };
}

/** The plan's masks, from an OCI config's names. */
export interface PlanCapabilities {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
}

/**
 * The plan's masks. A name this kernel or tsrun does not know (a config
 * written for a newer one) is skipped with a warning, as runc's
 * "ignoring unknown or unavailable capabilities": the process gets less,
 * never more.
 */
export function planCapabilities(c: OciCapabilities, lastCap = kernelLastCap()): PlanCapabilities {
  const skipped = new Set<string>();
  const mask = (names: string[] = []) =>
    capabilityMask(
      names.filter((n) => {
        const bit = (CAPABILITY_NAMES as readonly string[]).indexOf(n);
        if (bit >= 0 && bit <= lastCap) return true;
        skipped.add(n);
        return false;
      }),
    );
  const caps = {
    bounding: mask(c.bounding),
    effective: mask(c.effective),
    permitted: mask(c.permitted),
    inheritable: mask(c.inheritable),
    ambient: mask(c.ambient),
  };
  if (skipped.size > 0) logger('plan').warn({ capabilities: [...skipped].join(',') }, 'ignoring unknown or unavailable capabilities');
  if ((caps.effective & ~caps.permitted) !== 0n) throw new UsageError('effective capabilities must be a subset of the permitted ones');
  // The kernel raises an ambient capability only if it is permitted and inheritable
  // (PR_CAP_AMBIENT_RAISE); runc skips the others with a warning, and its own
  // `runc spec` lists ambient without inheritable, so they are skipped here too.
  caps.ambient &= caps.permitted & caps.inheritable;
  return caps;
}
