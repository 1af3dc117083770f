import * as path from 'node:path';
import { UsageError } from '../errors.js';
import type { OciSpec } from './spec.js';

/**
 * The container's cgroup, relative to each hierarchy's root: the spec's
 * linux.cgroupsPath, or tsrun-oci/<id>. systemd's form ("slice:prefix:name",
 * what podman's and containerd's systemd cgroup drivers send with
 * --systemd-cgroup) becomes the directory systemd would give that unit, as
 * runc's systemd driver names it: the slice expanded ("a-b.slice" lives in
 * "a.slice/a-b.slice"), then "prefix-name.scope". tsrun-oci makes it in
 * cgroupfs itself; it does not ask systemd for a transient unit (no D-Bus).
 */
export function cgroupsPathOf(spec: OciSpec, id: string): string {
  const given = spec.linux.cgroupsPath;
  if (given === undefined || given === '') return `tsrun-oci/${id}`;
  const systemd = /^([^/:]*):([^/:]*):([^/:]+)$/.exec(given);
  if (systemd) return systemdPath(given, systemd[1] || 'system.slice', systemd[2]!, systemd[3]!);
  if (given.includes(':')) throw new UsageError(`invalid linux.cgroupsPath ${JSON.stringify(given)}: systemd's form is slice:prefix:name`);
  const rel = path.posix.normalize(given).replace(/^\/+/, '');
  if (rel === '' || rel === '.' || rel.split('/').includes('..')) throw new UsageError(`invalid linux.cgroupsPath ${JSON.stringify(given)}`);
  return rel;
}

function systemdPath(given: string, slice: string, prefix: string, name: string): string {
  const bad = () => new UsageError(`invalid linux.cgroupsPath ${JSON.stringify(given)}: systemd's form is slice:prefix:name`);
  if (!slice.endsWith('.slice') || name === '.' || name === '..') throw bad();
  // runc's ExpandSlice: "-.slice" is the root; every dash starts a level down.
  const parts: string[] = [];
  if (slice !== '-.slice') {
    const stem = slice.slice(0, -'.slice'.length);
    if (stem === '' || stem.startsWith('-') || stem.endsWith('-') || stem.includes('--')) throw bad();
    let prefixSoFar = '';
    for (const word of stem.split('-')) {
      prefixSoFar = prefixSoFar ? `${prefixSoFar}-${word}` : word;
      parts.push(`${prefixSoFar}.slice`);
    }
  }
  // A name that is itself a slice is the unit; otherwise the scope prefix-name (runc's getUnitName).
  parts.push(name.endsWith('.slice') ? name : prefix ? `${prefix}-${name}.scope` : `${name}.scope`);
  return parts.join('/');
}
