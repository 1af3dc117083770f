import * as fs from 'node:fs';
import * as os from 'node:os';
import type { Context } from './context.js';
import { listContainers } from './containers.js';
import { currentState } from './state/status.js';
import { listImageIds } from '../store/images.js';
import { cgroupHost } from './cgroups/host.js';

/** `info`: what this host gives tsrun (cgroups, overlay, seccomp) and what the store holds. */
export function hostInfo(ctx: Context): [string, string][] {
  const host = cgroupHost();
  const containers = listContainers(ctx.paths);
  const running = containers.filter((c) => currentState(ctx.paths, c).running).length;
  const param = (name: string) => {
    try {
      return fs.readFileSync(`/sys/module/overlay/parameters/${name}`, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const [major = 0, minor = 0] = os.release().split('.').map((n) => parseInt(n, 10));
  const seccomp = /^Seccomp:/m.test(fs.readFileSync('/proc/self/status', 'utf8'));
  const controllers = host.version === 1 ? Object.keys(host.mounts).join(' ') : host.controllers.join(' ');
  let images = 0;
  try {
    images = listImageIds(ctx.paths).length;
  } catch {
    images = 0;
  }
  const yn = (v: string | undefined) => (v === undefined ? 'not supported' : v === 'Y' ? 'yes (default on)' : 'yes (default off)');
  return [
    ['Containers', String(containers.length)],
    [' Running', String(running)],
    [' Stopped', String(containers.length - running)],
    ['Images', String(images)],
    ['Storage Driver', 'overlay2'],
    [' lowerdir+ (fsconfig)', major > 6 || (major === 6 && minor >= 8) ? 'yes' : 'no (kernel < 6.8)'],
    [' index', yn(param('index'))],
    [' metacopy', yn(param('metacopy'))],
    ['Cgroup Driver', 'cgroupfs'],
    ['Cgroup Version', String(host.version)],
    [' Controllers', controllers],
    // --uidmap: overlayfs over idmapped layers (5.19); the store's filesystem must take idmapped mounts too.
    ['User Namespaces', major > 5 || (major === 5 && minor >= 19) ? 'yes: run --uidmap, and tsrun-oci\'s linux.uidMappings' : 'tsrun-oci\'s linux.uidMappings only (run --uidmap needs Linux 5.19)'],
    ['Seccomp', seccomp ? 'supported; containers get docker\'s default profile (x86_64) unless --privileged or --security-opt seccomp=unconfined' : 'not supported by the kernel'],
    ['Kernel Version', os.release()],
    ['Operating System', os.type()],
    ['CPUs', String(os.availableParallelism())],
    ['Total Memory', String(os.totalmem())],
    ['Root Dir', ctx.paths.root],
    ['Run Root', ctx.paths.runroot],
  ];
}
