import { UsageError } from '../errors.js';
import type { Platform } from './oci-types.js';

/**
 * Platforms as docker names them (OS/ARCH[/VARIANT]: linux/amd64,
 * linux/arm64/v8), for --platform and for the image a pull picks from an
 * index. The kernel's and Node's names for an architecture are taken as
 * docker's (containerd's platforms.Normalize does the same).
 */

const ARCH_ALIASES: Record<string, string> = { x86_64: 'amd64', 'x86-64': 'amd64', x64: 'amd64', aarch64: 'arm64', i386: '386', i686: '386', ia32: '386', armhf: 'arm', armel: 'arm' };

/** This machine's platform (Node's process.arch, in docker's words). */
export function hostPlatform(): Platform {
  return { os: 'linux', architecture: ARCH_ALIASES[process.arch] ?? process.arch };
}

/** A --platform value; only linux images run here. One word is an OS (this machine's architecture) or an architecture (linux), as containerd's platforms.Parse reads it. */
export function parsePlatform(value: string): Platform {
  let parts = value.toLowerCase().split('/');
  if (parts.length === 1 && parts[0] !== '') parts = parts[0] === 'linux' || parts[0] === 'windows' || parts[0] === 'darwin' ? [parts[0], hostPlatform().architecture] : ['linux', parts[0]!];
  const [os, arch, variant] = parts;
  if (parts.length < 2 || parts.length > 3 || !os || !arch || parts.some((p) => !/^[a-z0-9_.-]+$/.test(p))) {
    throw new UsageError(`invalid --platform "${value}": use OS/ARCH[/VARIANT], as linux/amd64`);
  }
  if (os !== 'linux') throw new UsageError(`invalid --platform "${value}": tsrun runs linux images only`);
  return { os, architecture: ARCH_ALIASES[arch] ?? arch, ...(variant ? { variant } : {}) };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** Whether an image made for `have` is what `want` asks for (a variant asked for must be the image's, if it names one). */
export function platformSatisfies(have: Platform, want: Platform): boolean {
  return have.os === want.os && (ARCH_ALIASES[have.architecture] ?? have.architecture) === want.architecture && (want.variant === undefined || have.variant === undefined || have.variant === want.variant);
}
