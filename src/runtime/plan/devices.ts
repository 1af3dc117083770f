import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import type { OciDevice } from '../../oci/spec.js';
import { devNumbers } from '../../util/devnum.js';
import type { DeviceFlag } from './run-flags.js';

/** A host device made in the container (linux.devices), with the access --device gave it. */
export interface HostDevice {
  device: OciDevice;
  perms: string;
}

/**
 * --device, read from the host at each start (numbers are the host's now,
 * as docker's): a node as it is (symlinks followed: /dev/disk/by-id/...), a
 * directory as every node under it, placed under the container path.
 */
export function resolveDeviceFlags(flags: DeviceFlag[]): HostDevice[] {
  const out: HostDevice[] = [];
  for (const flag of flags) {
    let st: fs.Stats;
    try {
      st = fs.statSync(flag.host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UsageError(`error gathering device information while adding custom device "${flag.host}": ${code === 'ENOENT' ? 'no such file or directory' : (code ?? (err as Error).message)}`);
    }
    if (st.isDirectory()) {
      for (const [hostPath, s] of nodesUnder(flag.host)) out.push({ device: deviceOf(path.join(flag.container, path.relative(flag.host, hostPath)), s), perms: flag.perms });
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      out.push({ device: deviceOf(flag.container, st), perms: flag.perms });
    } else {
      throw new UsageError(`error gathering device information while adding custom device "${flag.host}": not a device node or directory`);
    }
  }
  return out;
}

function nodesUnder(dir: string, depth = 0): [string, fs.Stats][] {
  if (depth > 16) return [];
  const found: [string, fs.Stats][] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    const st = fs.lstatSync(p);
    if (st.isDirectory()) found.push(...nodesUnder(p, depth + 1));
    else if (st.isCharacterDevice() || st.isBlockDevice()) found.push([p, st]);
  }
  return found;
}

function deviceOf(containerPath: string, st: fs.Stats): OciDevice {
  return {
    type: st.isBlockDevice() ? 'b' : 'c',
    path: containerPath,
    ...devNumbers(st.rdev),
    fileMode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
  };
}
