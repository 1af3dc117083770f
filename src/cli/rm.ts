import type { Command } from 'commander';
import type { ContextFactory } from './program.js';
import { writeStderr, writeStdout } from '../util/stdio.js';

export function registerRm(program: Command, ctx: ContextFactory): void {
  program
    .command('rm')
    .description('Remove one or more containers and their layers')
    .argument('<container...>', 'container names or ids (unique prefixes work)')
    .option('-f, --force', 'kill a running container first')
    .option('-v, --volumes', 'remove the anonymous volumes of the container')
    .action(async (refs: string[], o: { force?: boolean; volumes?: boolean }) => {
      const [{ findContainer }, { removeContainer }, { ContainerNotFoundError }] = await Promise.all([
        import('../runtime/containers.js'),
        import('../runtime/lifecycle/remove.js'),
        import('../errors.js'),
      ]);
      const c = ctx();
      let failed: unknown;
      for (const ref of refs) {
        try {
          const rec = findContainer(c.paths, ref);
          await removeContainer(c, rec.id, { force: o.force === true, volumes: o.volumes === true });
          writeStdout(`${ref}\n`);
        } catch (err) {
          // docker goes on with the rest and reports each failure; with -f, one that is not there is said but no failure.
          writeStderr(`tsrun: ${(err as Error).message}\n`);
          if (!(o.force && err instanceof ContainerNotFoundError)) failed = err;
        }
      }
      if (failed !== undefined) process.exit(1);
    });
}
