import * as fs from 'node:fs';
import { UsageError } from '../../errors.js';
import type { Context } from '../context.js';
import { parseSecurityOpts } from '../plan/run-flags.js';
import { type RunOptions, expandEnvFlags, readEnvFiles } from '../plan/container-spec.js';
import { createContainer } from './create.js';
import { removeContainer } from './remove.js';
import { startContainer } from './start.js';
import { writeStdout } from '../../util/stdio.js';

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
  const rec = await createContainer(ctx, { image: req.image, name: req.name, options, autoRemove: req.autoRemove });
  try {
    writeCidFile(req.cidFile, rec.id);
    const started = await startContainer(ctx, rec.id, { mode: req.detach ? 'detached' : 'foreground', stdin: req.interactive && !req.detach, removedAtExit: req.autoRemove });
    if (req.detach) {
      writeStdout(`${rec.id}\n`);
      return 0;
    }
    const code = await started.exited!;
    // auto: a restart of it meanwhile keeps it (and its new run), as for run -d --rm.
    if (req.autoRemove) await removeContainer(ctx, rec.id, { force: true, auto: true });
    return code;
  } catch (err) {
    if (req.autoRemove) await removeContainer(ctx, rec.id, { force: true });
    throw err;
  }
}

/** `create`: the container set up completely, its init waiting before execve until `start`. */
export async function createCommand(ctx: Context, req: Omit<RunRequest, 'detach'>): Promise<string> {
  const options = recordOptions(req);
  const rec = await createContainer(ctx, { image: req.image, name: req.name, options, autoRemove: req.autoRemove });
  try {
    writeCidFile(req.cidFile, rec.id);
    await startContainer(ctx, rec.id, { mode: 'created' });
  } catch (err) {
    await removeContainer(ctx, rec.id, { force: true });
    throw err;
  }
  return rec.id;
}

/** --cidfile: made, never overwritten (a file there since the check is another's). */
function writeCidFile(file: string | undefined, id: string): void {
  if (file === undefined) return;
  try {
    fs.writeFileSync(file, id, { flag: 'wx', mode: 0o644 });
  } catch (err) {
    throw new UsageError(`writing the container ID file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
