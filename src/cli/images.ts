import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { ContextFactory } from './program.js';
import { repeatable } from './options.js';
import { writeStdout } from '../util/stdio.js';
import { labelMatches } from '../util/labels.js';

export function registerImages(program: Command, ctx: ContextFactory): void {
  program
    .command('images')
    .description('List images')
    .argument('[repository]', 'only this REPOSITORY[:TAG] (as --filter reference=)')
    .option('-a, --all', 'every image (tsrun makes no intermediate ones: the same list)')
    .option('-q, --quiet', 'only print image ids')
    .option('--no-trunc', 'print full image ids')
    .option('--digests', 'show digests (tsrun records none: <none>)')
    .addOption(repeatable('-f, --filter <key=value>', 'only images matching: dangling=true|false, reference=REPO[:TAG] (* matches any run of characters), label=KEY[=VALUE], before=/since= (an image: made before or after it)'))
    .option('--format <template>', 'Go-template fields, as docker: {{.Repository}} {{.Tag}} {{.ID}} {{.Digest}} {{.CreatedAt}} {{.CreatedSince}} {{.Size}} {{.VirtualSize}}, {{json .}}; "table ..." adds headers')
    .action(async (repository: string | undefined, o: { quiet?: boolean; trunc: boolean; digests?: boolean; filter?: string[]; format?: string }) => {
      const [{ listImageIds, readImage, resolveImageId }, { parseReference, familiarRepository }, { ago, goTime, humanSize, table, formatRows, parseFilters, matchesFilters }] = await Promise.all([
        import('../store/images.js'),
        import('../store/reference.js'),
        import('./format.js'),
      ]);
      const c = ctx();
      const filters = parseFilters([...(o.filter ?? []), ...(repository !== undefined ? [`reference=${repository}`] : [])], ['dangling', 'reference', 'label', 'before', 'since']);
      for (const v of filters.get('dangling') ?? []) if (v !== 'true' && v !== 'false') throw new UsageError(`invalid filter 'dangling=${v}': use true or false`);
      const created = (img: { config: { created?: string } }) => Date.parse(img.config.created ?? '') || 0;
      // before= and since= name an image: those made before or after it (docker's).
      const bounds = new Map([...(filters.get('before') ?? []), ...(filters.get('since') ?? [])].map((ref) => [ref, created(readImage(c.paths, resolveImageId(c.paths, ref)))]));
      // docker's reference patterns are path.Match's: * stops at a /.
      const glob = (pattern: string) => new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
      const matchesRef = (names: string[], pattern: string) =>
        names.some((n) => {
          const ref = parseReference(n);
          const repo = familiarRepository(ref.repository);
          return glob(pattern).test(repo) || glob(pattern).test(`${repo}:${ref.tag ?? ''}`);
        });
      const images = listImageIds(c.paths)
        .map((id) => readImage(c.paths, id))
        .filter((img) =>
          matchesFilters(filters, (key, v) => {
            switch (key) {
              case 'dangling':
                return (img.names.length === 0) === (v === 'true');
              case 'label':
                return labelMatches(img.config.config?.Labels ?? {}, v);
              case 'before':
                return created(img) < bounds.get(v)!;
              case 'since':
                return created(img) > bounds.get(v)!;
              default:
                return matchesRef(img.names, v);
            }
          }),
        )
        .sort((a, b) => Date.parse(b.config.created ?? '') - Date.parse(a.config.created ?? ''));
      const shownId = (id: string) => (o.trunc ? id.slice(7, 19) : id);
      if (o.quiet) {
        writeStdout([...new Set(images.map((i) => shownId(i.id)))].map((id) => `${id}\n`).join(''));
        return;
      }
      const rows: string[][] = [];
      const records: Record<string, string>[] = [];
      for (const img of images) {
        const created = img.config.created ? ago(img.config.created) : 'N/A';
        // A reference filter shows the names it matches, not the image's other names (docker's).
        const shown = filters.has('reference') ? img.names.filter((n) => filters.get('reference')!.some((v) => matchesRef([n], v))) : img.names;
        const names = shown.length > 0 ? shown : ['<none>:<none>'];
        for (const name of names) {
          let repo = '<none>';
          let tag = '<none>';
          if (name !== '<none>:<none>') {
            const ref = parseReference(name);
            repo = familiarRepository(ref.repository);
            tag = ref.tag ?? '<none>';
          }
          rows.push([repo, tag, ...(o.digests ? ['<none>'] : []), shownId(img.id), created, humanSize(img.size)]);
          // The counts docker computes only for system df are N/A here too.
          records.push({ Repository: repo, Tag: tag, ID: shownId(img.id), Digest: '<none>', CreatedAt: img.config.created ? goTime(img.config.created) : '', CreatedSince: created, Size: humanSize(img.size), VirtualSize: humanSize(img.size), SharedSize: 'N/A', UniqueSize: 'N/A', Containers: 'N/A' });
        }
      }
      // "table" alone is the default table (docker's).
      if (o.format !== undefined && o.format.trim() !== 'table') {
        const headers = { Repository: 'REPOSITORY', Tag: 'TAG', ID: 'IMAGE ID', Digest: 'DIGEST', CreatedAt: 'CREATED AT', CreatedSince: 'CREATED', Size: 'SIZE', VirtualSize: 'VIRTUAL SIZE', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', Containers: 'CONTAINERS' };
        writeStdout(formatRows(o.format, records, headers));
        return;
      }
      writeStdout(table(['REPOSITORY', 'TAG', ...(o.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'], rows));
    });
}
