import * as path from 'node:path';

/**
 * Every on-disk path tsrun uses is computed here and nowhere else.
 *
 * <root>     durable: layers (overlay2 layout), images, containers
 * <runroot>  volatile: pids and locks, tagged with the boot id
 */
export interface StorePaths {
  readonly root: string;
  readonly runroot: string;
}

export const DEFAULT_ROOT = '/var/lib/tsrun';
export const DEFAULT_RUNROOT = '/run/tsrun';

export function storePaths(root: string, runroot: string): StorePaths {
  return { root: path.resolve(root), runroot: path.resolve(runroot) };
}

/** overlay/: the layer home, as Docker's /var/lib/docker/overlay2. */
export const overlayHome = (p: StorePaths) => path.join(p.root, 'overlay');
export const linkDir = (p: StorePaths) => path.join(overlayHome(p), 'l');
export const linkPath = (p: StorePaths, linkId: string) => path.join(linkDir(p), linkId);
export const layerDir = (p: StorePaths, cacheId: string) => path.join(overlayHome(p), cacheId);
export const layerDiff = (p: StorePaths, cacheId: string) => path.join(layerDir(p, cacheId), 'diff');
export const layerWork = (p: StorePaths, cacheId: string) => path.join(layerDir(p, cacheId), 'work');
export const layerMerged = (p: StorePaths, cacheId: string) => path.join(layerDir(p, cacheId), 'merged');
export const layerLinkFile = (p: StorePaths, cacheId: string) => path.join(layerDir(p, cacheId), 'link');
export const layerLowerFile = (p: StorePaths, cacheId: string) => path.join(layerDir(p, cacheId), 'lower');
export const layerCommittedFile = (p: StorePaths, cacheId: string) => path.join(layerDir(p, cacheId), 'committed');
/** What an l/ entry points at: relative, so the store can be moved. */
export const linkTarget = (cacheId: string) => `../${cacheId}/diff`;
/** Spare init diffs of removed containers (init-layer.ts); the dot keeps it apart from the layer dirs. */
export const initSparesDir = (p: StorePaths) => path.join(overlayHome(p), '.init-spares');
export const initLayerId = (containerId: string) => `${containerId}-init`;

/** image/: configs by image id and layer records by chain id, as Docker's image/overlay2/. */
export const imageDir = (p: StorePaths) => path.join(p.root, 'image');
export const imageConfigDir = (p: StorePaths) => path.join(imageDir(p), 'imagedb', 'content', 'sha256');
export const imageConfigFile = (p: StorePaths, imageIdHex: string) => path.join(imageConfigDir(p), imageIdHex);
export const layerDbDir = (p: StorePaths) => path.join(imageDir(p), 'layerdb', 'sha256');
export const layerDbEntry = (p: StorePaths, chainIdHex: string) => path.join(layerDbDir(p), chainIdHex);
export const repositoriesFile = (p: StorePaths) => path.join(imageDir(p), 'repositories.json');

export const containersDir = (p: StorePaths) => path.join(p.root, 'containers');
export const containerDir = (p: StorePaths, id: string) => path.join(containersDir(p), id);
export const containerFile = (p: StorePaths, id: string, name: ContainerFileName) => path.join(containerDir(p, id), name);
export type ContainerFileName = 'container.json' | 'config.json' | 'hosts' | 'hostname' | 'resolv.conf' | 'ctr.log' | 'exit.json' | typeof ON_EXIT_FLAG;
/** Beside exit.json: while it exists, the monitor runs `on-exit` when the container exits (plan.h exitcmdif). */
export const ON_EXIT_FLAG = 'on-exit';

/** Compiled seccomp filters, by profile (runtime/plan/seccomp-cache.ts): derived data, safe to delete. */
export const seccompCacheDir = (p: StorePaths) => path.join(p.root, 'cache', 'seccomp');

/** Scratch space on the store's filesystem, so finished work can be renamed into place. */
export const tmpDir = (p: StorePaths) => path.join(p.root, 'tmp');
export const storeLockFile = (p: StorePaths) => path.join(p.root, 'store.lock');

export const runtimeDir = (p: StorePaths, id: string) => path.join(p.runroot, 'containers', id);
/** runc's exec.fifo: a created container's init waits on it until `start`. */
export const startFifoPath = (p: StorePaths, id: string) => path.join(runtimeDir(p, id), 'start.fifo');
export const runtimeFile = (p: StorePaths, id: string) => path.join(runtimeDir(p, id), 'runtime.json');
/** Where a container made with -i takes its stdin from `attach` (the monitor listens while it runs). */
export const attachSocket = (p: StorePaths, id: string) => path.join(runtimeDir(p, id), 'attach.sock');
export const containerLockFile = (p: StorePaths, id: string) => path.join(p.runroot, 'locks', `${id}.lock`);
