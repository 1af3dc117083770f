import * as fs from 'node:fs';
import { RuntimeError, ContainerStartError } from '../../errors.js';
import { logger } from '../../log.js';
import type { NativeBinding } from '../../native/types.js';
import { readImage } from '../../store/images.js';
import { mountLayer, unmountLayer } from '../../store/mounts.js';
import { containerFile, containerLockFile } from '../../store/paths.js';
import { writeJsonAtomic } from '../../util/atomic-write.js';
import { withLock } from '../../util/lock.js';
import type { Context } from '../context.js';
import { launchMonitor, proxySignals, waitForMonitor } from '../monitor.js';
import { buildContainerSpec } from '../plan/container-spec.js';
import { buildLaunchPlan, encodePlan } from '../plan/launch-plan.js';
import { resolveUser } from '../plan/user.js';
import { bootId, pidStartTime } from '../state/liveness.js';
import { type ContainerRecord, clearExit, readExit, readRecord, writeRecord, writeRuntime } from '../state/record.js';
import { assertCan, currentState } from '../state/status.js';

export interface StartResult {
  pid: number;
  /** Foreground only: resolves with the container's exit code. */
  exited?: Promise<number>;
}

/**
 * Starts a created or exited container on its existing rw layer: mount the
 * union, write config.json, hand the launch plan to a monitor. Detached, the
 * container's output goes to ctr.log; in the foreground it shares tsrun's
 * stdio and the returned promise gives its exit code.
 */
export async function startContainer(ctx: Context, id: string, opts: { foreground: boolean }): Promise<StartResult> {
  const p = ctx.paths;
  const log = logger('lifecycle');
  const started = await withLock(ctx.native, containerLockFile(p, id), async () => {
    const rec = readRecord(p, id);
    if (!rec) throw new RuntimeError(`container ${id} disappeared`);
    const st = currentState(p, rec);
    assertCan(st.status, 'start', rec.name);
    if (st.running) throw new RuntimeError(`container ${rec.name} is already running`);

    // A monitor killed earlier may have left the union mounted (podman#19913).
    unmountLayer(ctx.native, p, rec.rwLayerId);
    const merged = mountLayer(ctx.native, p, rec.rwLayerId);
    const t0 = process.hrtime.bigint();
    try {
      const image = readImage(p, rec.imageId);
      const user = resolveUser(rec.options.user, readInRoot(ctx.native, merged, '/etc/passwd'), readInRoot(ctx.native, merged, '/etc/group'));
      const spec = buildContainerSpec({
        image: image.config,
        options: rec.options,
        user,
        hostname: rec.hostname,
        rootPath: merged,
        files: {
          hosts: containerFile(p, id, 'hosts'),
          hostname: containerFile(p, id, 'hostname'),
          resolvConf: containerFile(p, id, 'resolv.conf'),
        },
      });
      writeJsonAtomic(containerFile(p, id, 'config.json'), spec, 0o600);
      const plan = buildLaunchPlan(spec, {
        mkcwd: true,
        logPath: opts.foreground ? undefined : containerFile(p, id, 'ctr.log'),
        exitFile: containerFile(p, id, 'exit.json'),
        unmountPath: merged,
        exitCmd: rec.autoRemove && !opts.foreground ? [...ctx.selfCommand, 'rm', '-f', id] : undefined,
        isFileSource: (src) => !fs.statSync(src).isDirectory(),
      });
      clearExit(p, id);
      const monitor = await launchMonitor(encodePlan(plan), { foreground: opts.foreground });
      const startedAt = new Date().toISOString();
      writeRuntime(p, id, {
        pid: monitor.pid,
        pidStartTime: pidStartTime(monitor.pid) ?? '',
        monitorPid: monitor.child.pid ?? 0,
        bootId: bootId(),
        startedAt,
      });
      rec.state = { ...rec.state, status: 'running', exitCode: 0, error: '', startedAt };
      writeRecord(p, rec);
      log.info({ cid: id, op: 'start', pid: monitor.pid, durMs: Number(process.hrtime.bigint() - t0) / 1e6 }, 'started');
      return monitor;
    } catch (err) {
      unmountLayer(ctx.native, p, rec.rwLayerId);
      if (err instanceof ContainerStartError) {
        rec.state = { ...rec.state, exitCode: err.exitCode, error: err.message };
        writeRecord(p, rec);
      }
      throw err;
    }
  });

  if (!opts.foreground) {
    started.child.unref();
    return { pid: started.pid };
  }
  const stopProxy = proxySignals(started.child);
  const exited = waitForMonitor(started.child).then(async (code) => {
    stopProxy();
    await recordExit(ctx, id);
    return readExit(p, id)?.exitCode ?? code;
  });
  return { pid: started.pid, exited };
}

/** Folds the monitor's exit.json into the durable record once the container is gone. */
export async function recordExit(ctx: Context, id: string): Promise<void> {
  const p = ctx.paths;
  await withLock(ctx.native, containerLockFile(p, id), () => {
    const rec: ContainerRecord | undefined = readRecord(p, id);
    if (!rec) return;
    const st = currentState(p, rec);
    if (st.running || rec.state.status !== 'running') return;
    rec.state = { ...rec.state, status: 'exited', exitCode: st.exitCode, finishedAt: st.finishedAt };
    writeRecord(p, rec);
    logger('lifecycle').info({ cid: id, op: 'exit', exitCode: st.exitCode }, 'exited');
  });
}

const MAX_ACCOUNT_FILE = 1 << 20;

/**
 * Reads a file of the container's root without following symlinks out of it
 * (RESOLVE_IN_ROOT: an image's /etc/passwd -> /etc/shadow stays inside), and never
 * blocks on a FIFO planted there (O_NONBLOCK).
 */
function readInRoot(native: NativeBinding, root: string, rel: string): string | undefined {
  const c = native.constants;
  let rootFd = -1;
  let fd = -1;
  try {
    rootFd = native.openat2({ dirFd: -100, path: root, flags: c.O_PATH | c.O_DIRECTORY, resolve: 0 });
    fd = native.openat2({ dirFd: rootFd, path: rel, flags: c.O_RDONLY | fs.constants.O_NONBLOCK, resolve: c.RESOLVE_IN_ROOT | c.RESOLVE_NO_MAGICLINKS });
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > MAX_ACCOUNT_FILE) return undefined;
    return fs.readFileSync(fd, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  } finally {
    if (fd >= 0) native.closeFd({ fd });
    if (rootFd >= 0) native.closeFd({ fd: rootFd });
  }
}
