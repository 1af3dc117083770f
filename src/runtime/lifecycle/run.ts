import * as fs from 'node:fs';
import { UsageError } from '../../errors.js';
import type { Context } from '../context.js';
import { parseSecurityOpts } from '../plan/run-flags.js';
import { type RunOptions, expandEnvFlags, readEnvFiles } from '../plan/container-spec.js';
import { createContainer } from './create.js';
import { removeContainer } from './remove.js';
import { monitorSpawnOptions, startContainer } from './start.js';
import { PendingMonitor } from '../monitor.js';
import { writeStdout } from '../../util/stdio.js';
import { unlinkIfExists } from '../../util/remove-file.js';

export interface RunRequest {
  image: string;
  name?: string;
  /** --cidfile: the id is written there once the container exists. */
  cidFile?: string;
  autoRemove: boolean;
  detach: boolean;
  interactive: boolean;
  env: string[];
  /** --env-file: read before -e, so -e wins. */
  envFile?: string[];
  options: Omit<RunOptions, 'env'>;
  /** --security-opt values (a seccomp profile file is read here). */
  securityOpt?: string[];
}

function recordOptions(req: Omit<RunRequest, 'detach'>): RunOptions {
  // docker's rule: a container removed at its exit cannot also be restarted then.
  if (req.autoRemove && req.options.restart && req.options.restart.name !== 'no') throw new UsageError('conflicting options: --restart and --rm');
  return {
    ...req.options,
    ...parseSecurityOpts(req.securityOpt ?? [], (f) => fs.readFileSync(f, 'utf8')),
    env: expandEnvFlags([...readEnvFiles(req.envFile ?? [], (f) => fs.readFileSync(f, 'utf8')), ...req.env], process.env),
  };
}

/**
 * `run` = create + start. Detached, it prints the id and returns once the
 * process has started (the monitor owns its output; runc#1047). In the
 * foreground it returns the container's exit code, removing it with --rm.
 */
export async function runCommand(ctx: Context, req: RunRequest): Promise<number> {
  const options = recordOptions(req);
  const mode = req.detach ? 'detached' : 'foreground';
  const stdin = req.interactive && !req.detach;
  // Spawned now, the monitor starts up while the container is made (monitor.ts, PendingMonitor); before anything is made.
  const monitor = PendingMonitor.spawn(monitorSpawnOptions(mode, stdin));
  try {
    const cid = claimCidFile(req.cidFile);
    let rec: Awaited<ReturnType<typeof createContainer>> | undefined;
    try {
      rec = await createContainer(ctx, { image: req.image, name: req.name, options, autoRemove: req.autoRemove });
      cid?.write(rec.id);
    } catch (err) {
      // The id could not be written: nothing of the run is left, as for a create that failed.
      if (rec) await removeContainer(ctx, rec.id, { force: true, volumes: true });
      cid?.drop();
      throw err;
    }
    try {
      const started = await startContainer(ctx, rec.id, { mode, stdin, removedAtExit: req.autoRemove, monitor });
      if (req.detach) {
        writeStdout(`${rec.id}\n`);
        return 0;
      }
      const code = await started.exited!;
      // auto: a restart of it meanwhile keeps it (and its new run), as for run -d --rm.
      if (req.autoRemove) await removeContainer(ctx, rec.id, { force: true, auto: true });
      return code;
    } catch (err) {
      if (req.autoRemove) {
        await removeContainer(ctx, rec.id, { force: true });
        cid?.drop();
      }
      throw err;
    }
  } finally {
    await monitor.cancel();
  }
}

/** `create`: the container set up completely, its init waiting before execve until `start`. */
export async function createCommand(ctx: Context, req: Omit<RunRequest, 'detach'>): Promise<string> {
  const options = recordOptions(req);
  const cid = claimCidFile(req.cidFile);
  let id: string | undefined;
  try {
    id = (await createContainer(ctx, { image: req.image, name: req.name, options, autoRemove: req.autoRemove })).id;
    cid?.write(id);
    await startContainer(ctx, id, { mode: 'created' });
  } catch (err) {
    // Nothing of a create that failed is left: the container, its anonymous volumes, the id file.
    if (id !== undefined) await removeContainer(ctx, id, { force: true, volumes: true });
    cid?.drop();
    throw err;
  }
  return id;
}

/**
 * --cidfile, made before the container as docker makes it (O_EXCL: one
 * there already is another's, never overwritten), the id written once the
 * container exists; dropped when the container is not made or is removed.
 */
function claimCidFile(file: string | undefined): { write(id: string): void; drop(): void } | undefined {
  if (file === undefined) return undefined;
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UsageError(`container ID file found, make sure the other container isn't running or delete ${file}`);
    throw new UsageError(`cannot make the container ID file ${file}: ${code ?? (err as Error).message}`);
  }
  let open = true;
  const close = () => {
    if (open) fs.closeSync(fd);
    open = false;
  };
  return {
    write(id) {
      fs.writeSync(fd, id);
      close();
    },
    drop() {
      close();
      unlinkIfExists(file);
    },
  };
}
