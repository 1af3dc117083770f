import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { ContextFactory } from './program.js';
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
    .option('-H, --human <bool>', 'sizes and dates in human terms; false: bytes and RFC 3339 times (--human=false, -H=false)', 'true')
    .option('--format <template>', 'Go-template fields, as docker: {{.ID}} {{.CreatedSince}} {{.CreatedAt}} {{.CreatedBy}} {{.Size}} {{.Comment}}, {{json .}}; "table ..." adds headers')
    .action(async (ref: string, o: { quiet?: boolean; trunc: boolean; human: string; format?: string }) => {
      const [{ resolveImage }, { imageHistory }, { ago, humanSize, table, formatRows }] = await Promise.all([
        import('../store/images.js'),
        import('../store/history.js'),
        import('./format.js'),
      ]);
      // -H=false reaches us as "=false".
      const asked = o.human.replace(/^=/, '');
      if (asked !== 'true' && asked !== 'false') throw new UsageError(`invalid argument "${o.human}" for "-H, --human": use true or false`);
      const human = asked === 'true';
      const c = ctx();
      const rows = imageHistory(resolveImage(c.paths, ref));
      const shownId = (id: string) => (id.startsWith('sha256:') && o.trunc ? id.slice(7, 19) : id);
      if (o.quiet) {
        writeStdout(rows.map((r) => `${shownId(r.id)}\n`).join(''));
        return;
      }
      const ellipsis = (s: string, n: number) => (o.trunc && s.length > n ? `${s.slice(0, n - 1)}…` : s);
      const records = rows.map((r) => ({
        ID: shownId(r.id),
        CreatedSince: r.created ? (human ? ago(r.created) : r.created) : 'N/A',
        CreatedAt: r.created ?? '',
        CreatedBy: ellipsis(r.createdBy.replace(/\t/g, ' '), 45),
        Size: human ? humanSize(r.size) : String(r.size),
        Comment: r.comment,
      }));
      if (o.format !== undefined && o.format.trim() !== 'table') {
        const headers = { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT' };
        writeStdout(formatRows(o.format, records, headers));
        return;
      }
      writeStdout(table(['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'], records.map((r) => [r.ID, r.CreatedSince, r.CreatedBy, r.Size, r.Comment])));
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
