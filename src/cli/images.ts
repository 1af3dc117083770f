import type { Command } from 'commander';
import type { ContextFactory } from './main.js';

export function registerImages(program: Command, ctx: ContextFactory): void {
  program
    .command('images')
    .description('List images')
    .option('-q, --quiet', 'only print image ids')
    .option('--no-trunc', 'print full image ids')
    .option('--digests', 'show digests (tsrun records none: <none>)')
    .action(async (o: { quiet?: boolean; trunc: boolean; digests?: boolean }) => {
      const [{ listImageIds, readImage }, { parseReference, familiarRepository }, { ago, humanSize, table }] = await Promise.all([
        import('../store/images.js'),
        import('../store/reference.js'),
        import('./format.js'),
      ]);
      const c = ctx();
      const images = listImageIds(c.paths)
        .map((id) => readImage(c.paths, id))
        .sort((a, b) => Date.parse(b.config.created ?? '') - Date.parse(a.config.created ?? ''));
      const shownId = (id: string) => (o.trunc ? id.slice(7, 19) : id);
      if (o.quiet) {
        process.stdout.write([...new Set(images.map((i) => shownId(i.id)))].map((id) => `${id}\n`).join(''));
        return;
      }
      const rows: string[][] = [];
      for (const img of images) {
        const created = img.config.created ? ago(img.config.created) : 'N/A';
        const names = img.names.length > 0 ? img.names : ['<none>:<none>'];
        for (const name of names) {
          let repo = '<none>';
          let tag = '<none>';
          if (name !== '<none>:<none>') {
            const ref = parseReference(name);
            repo = familiarRepository(ref.repository);
            tag = ref.tag ?? '<none>';
          }
          rows.push([repo, tag, ...(o.digests ? ['<none>'] : []), shownId(img.id), created, humanSize(img.size)]);
        }
      }
      process.stdout.write(table(['REPOSITORY', 'TAG', ...(o.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'], rows));
    });
}
