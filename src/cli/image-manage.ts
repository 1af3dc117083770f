import type { Command } from 'commander';
import type { ContextFactory } from './main.js';
import { writeStderr, writeStdout } from '../util/stdio.js';

/** tag, rmi, history and save: managing stored images. */
export function registerImageManage(program: Command, ctx: ContextFactory): void {
  program
    .command('tag')
    .description('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE')
    .argument('<source>', 'image name or id')
    .argument('<target>', 'new name, REPO[:TAG]')
    .action(async (source: string, target: string) => {
      const [{ resolveImage, setTag }, { canonicalName, parseReference }, { withLock }, { storeLockFile }] = await Promise.all([
        import('../store/images.js'),
        import('../store/reference.js'),
        import('../util/lock.js'),
        import('../store/paths.js'),
      ]);
      const c = ctx();
      const ref = parseReference(target);
      if (ref.digest !== undefined) throw new (await import('../errors.js')).UsageError(`refusing to create a tag with a digest reference: ${target}`);
      await withLock(c.native, storeLockFile(c.paths), () => {
        const image = resolveImage(c.paths, source);
        setTag(c.paths, canonicalName(ref), image.id);
      });
    });

  program
    .command('rmi')
    .description('Remove one or more images')
    .argument('<image...>', 'image names or ids')
    .option('-f, --force', 'force removal of the image')
    .action(async (refs: string[], o: { force?: boolean }) => {
      const [{ removeImages }, { ImageNotFoundError }] = await Promise.all([import('../store/remove-image.js'), import('../errors.js')]);
      const errors = await removeImages(ctx(), refs, { force: o.force === true }, (line) => writeStdout(`${line}\n`));
      for (const err of errors) writeStderr(`tsrun: ${err.message}\n`);
      // docker's -f: an image that is not there is said, not a failure (cleanup scripts run under set -e).
      if (errors.some((err) => !(o.force && err instanceof ImageNotFoundError))) process.exit(1);
    });

  program
    .command('history')
    .description('Show the history of an image')
    .argument('<image>', 'image name or id')
    .option('-q, --quiet', 'only show image ids')
    .option('--no-trunc', "don't truncate output")
    .action(async (ref: string, o: { quiet?: boolean; trunc: boolean }) => {
      const [{ resolveImage }, { imageHistory }, { ago, humanSize, table }] = await Promise.all([
        import('../store/images.js'),
        import('../store/history.js'),
        import('./format.js'),
      ]);
      const c = ctx();
      const rows = imageHistory(resolveImage(c.paths, ref));
      const shownId = (id: string) => (id.startsWith('sha256:') && o.trunc ? id.slice(7, 19) : id);
      if (o.quiet) {
        writeStdout(rows.map((r) => `${shownId(r.id)}\n`).join(''));
        return;
      }
      const ellipsis = (s: string, n: number) => (o.trunc && s.length > n ? `${s.slice(0, n - 1)}…` : s);
      writeStdout(
        table(
          ['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'],
          rows.map((r) => [shownId(r.id), r.created ? ago(r.created) : 'N/A', ellipsis(r.createdBy.replace(/\t/g, ' '), 45), humanSize(r.size), r.comment]),
        ),
      );
    });

  program
    .command('save')
    .description('Save one or more images to a tar archive (OCI image layout; --format docker adds docker-archive)')
    .argument('<image...>', 'image names or ids')
    .option('-o, --output <file>', 'write to a file instead of standard output')
    .option('--format <format>', 'oci or docker', 'docker')
    .action(async (refs: string[], o: { output?: string; format: string }) => {
      const [{ saveImages }, { UsageError }] = await Promise.all([import('../store/save.js'), import('../errors.js')]);
      if (o.format !== 'oci' && o.format !== 'docker') throw new UsageError(`unknown --format ${o.format}: oci or docker`);
      await saveImages(ctx(), { refs, output: o.output, format: o.format, warn: (line) => writeStderr(`tsrun: warning: ${line}\n`) });
    });
}
