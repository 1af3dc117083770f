import { UsageError } from '../errors.js';

/**
 * go-units RAMInBytes: "64m", "1g", "512k", "1048576" (1024-based), as
 * docker reads --memory and --shm-size. A module of its own: the cgroup
 * limits that every command's status check loads need it, and run-flags,
 * where it was, pulls the launch plan and seccomp in (~0.5 ms at start).
 */
export function parseBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i.exec(s.trim());
  if (!m) throw new UsageError(`invalid size: '${s}'`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[(m[2] ?? '').toLowerCase()]!;
  const n = Math.floor(Number(m[1]) * mult);
  if (!Number.isSafeInteger(n)) throw new UsageError(`invalid size: '${s}'`);
  return n;
}
