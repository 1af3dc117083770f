import type { Command } from 'commander';
import type { ContextFactory } from './main.js';
import { repeatable } from './options.js';


export function registerLoad(program: Command, ctx: ContextFactory): void {
  program
    .command('load')
    .description('Load images from an OCI image layout or a docker-archive (`docker save`), as a directory or tar archive')
    .option('-i, --input <path>', 'archive file or directory (default: standard input)')
    .option('-t, --tag <name>', 'store the image under this name instead of the archive\'s')
    .option('-q, --quiet', 'print nothing but errors')
    .action(async (o: { input?: string; tag?: string; quiet?: boolean }) => {
      const { loadImages } = await import('../store/load-images.js');
      const loaded = await loadImages(ctx(), { input: o.input, tag: o.tag, progress: (line) => o.quiet || process.stdout.write(`${line}\n`) });
      if (!o.quiet) {
        for (const img of loaded) {
          process.stdout.write(img.names.length > 0 ? img.names.map((n) => `Loaded image: ${n}\n`).join('') : `Loaded image ID: ${img.id}\n`);
        }
      }
    });

  program
    .command('import')
    .description('Create a one-layer image from a root filesystem tarball (plain, gzip or zstd), like docker import')
    .argument('<file>', 'the tarball, or - for standard input')
    .argument('[reference]', 'name for the new image')
    .addOption(repeatable('-c, --change <instruction>', 'apply a Dockerfile instruction to the config (CMD, ENTRYPOINT, ENV, LABEL, USER, WORKDIR, STOPSIGNAL)'))
    .option('-m, --message <text>', 'history comment (default "Imported from FILE")')
    .action(async (file: string, reference: string | undefined, o: { change?: string[]; message?: string }) => {
      const { importImage } = await import('../store/load-images.js');
      const id = await importImage(ctx(), {
        input: file,
        ref: reference,
        message: o.message,
        changes: o.change ?? [],
        progress: () => undefined,
      });
      process.stdout.write(`${id}\n`);
    });
}
