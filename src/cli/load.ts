import type { Command } from 'commander';
import type { ContextFactory } from './main.js';

export function registerLoad(program: Command, ctx: ContextFactory): void {
  program
    .command('load')
    .description('Load images from an OCI image layout (directory or tar archive)')
    .option('-i, --input <path>', 'archive file or layout directory (default: standard input)')
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
}
