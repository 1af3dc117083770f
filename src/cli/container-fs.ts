import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { ContextFactory } from './program.js';
import { repeatable } from './options.js';
import { writeStdout } from '../util/stdio.js';

/** diff, commit and export: reading a container's filesystem back. */
/** docker's form CONTAINER:PATH: a colon before any slash (a host path with a colon is written ./a:b). */
function containerPath(arg: string): { ref: string; path: string } | undefined {
  const colon = arg.indexOf(':');
  if (colon <= 0 || arg.slice(0, colon).includes('/')) return undefined;
  return { ref: arg.slice(0, colon), path: arg.slice(colon + 1) || '/' };
}

export function registerContainerFs(program: Command, ctx: ContextFactory): void {
  program
    .command('cp')
    .description('Copy files between a container and the host (CONTAINER:PATH on one side), running or stopped')
    .argument('<src>', 'CONTAINER:SRC_PATH, a host path ("DIR/." copies the contents), or - for a tar on standard input')
    .argument('<dest>', 'a host path, CONTAINER:DEST_PATH, or - for a tar on standard output')
    .option('-a, --archive', 'keep uid/gid (default: root in the container, you on the host)')
    .option('-L, --follow-link', 'follow a symlink given as SRC')
    .action(async (src: string, dest: string, o: { archive?: boolean; followLink?: boolean }) => {
      const from = containerPath(src);
      const to = containerPath(dest);
      if ((from === undefined) === (to === undefined)) throw new UsageError('copying needs exactly one CONTAINER:PATH, as the source or the destination');
      const [{ findContainer }, { copyFromContainer, copyToContainer, untarToContainer }] = await Promise.all([import('../runtime/containers.js'), import('../runtime/copy.js')]);
      const c = ctx();
      const opts = { archive: o.archive === true, followLink: o.followLink === true };
      if (from) await copyFromContainer(c, findContainer(c.paths, from.ref).id, from.path, dest, opts);
      else if (src === '-') await untarToContainer(c, findContainer(c.paths, to!.ref).id, to!.path);
      else await copyToContainer(c, findContainer(c.paths, to!.ref).id, src, to!.path, opts);
    });

  program
    .command('diff')
    .description("Inspect changes to files or directories on a container's filesystem")
    .argument('<container>', 'container name or id')
    .action(async (ref: string) => {
      const [{ findContainer }, { containerChanges }] = await Promise.all([import('../runtime/containers.js'), import('../store/diff.js')]);
      const c = ctx();
      const rec = findContainer(c.paths, ref);
      writeStdout(containerChanges(c.native, c.paths, rec.rwLayerId).map((ch) => `${ch.kind} ${ch.path}\n`).join(''));
    });

  program
    .command('commit')
    .description("Create a new image from a container's changes")
    .argument('<container>', 'container name or id')
    .argument('[repository]', 'REPO[:TAG] for the new image')
    .option('-a, --author <author>', 'author (e.g. "Jane Doe <jane@example.com>")')
    .option('-m, --message <message>', 'commit message')
    .addOption(repeatable('-c, --change <instruction>', 'apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, WORKDIR, VOLUME)'))
    .option('-p, --pause', 'accepted for compatibility: tsrun does not pause the container', true)
    .action(async (ref: string, repo: string | undefined, o: { author?: string; message?: string; change?: string[] }) => {
      const [{ commitContainer }, { parseChange }] = await Promise.all([import('../store/commit.js'), import('../store/changes.js')]);
      const id = await commitContainer(ctx(), { container: ref, repoTag: repo, author: o.author, message: o.message, changes: (o.change ?? []).map(parseChange) });
      writeStdout(`${id}\n`);
    });

  program
    .command('export')
    .description("Export a container's filesystem as a tar archive")
    .argument('<container>', 'container name or id')
    .option('-o, --output <file>', 'write to a file instead of standard output')
    .action(async (ref: string, o: { output?: string }) => {
      const { exportContainer } = await import('../store/export.js');
      await exportContainer(ctx(), ref, o.output);
    });
}
