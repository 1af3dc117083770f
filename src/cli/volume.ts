import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { ContextFactory } from './program.js';
import { repeatable } from './options.js';
import { writeStderr, writeStdout } from '../util/stdio.js';
import { labelMatches } from '../util/labels.js';

/** `tsrun volume create|ls|rm|inspect`, with docker's output. */
export function registerVolume(program: Command, ctx: ContextFactory): void {
  const volume = program.command('volume').description('Manage volumes');

  volume
    .command('create')
    .description('Create a volume (a generated name when none is given)')
    .argument('[name]')
    .addOption(repeatable('--label <key=value>', 'set metadata on the volume'))
    .option('-d, --driver <name>', 'the volume driver: local, the only one', 'local')
    .addOption(repeatable('-o, --opt <key=value>', 'driver options (the local driver\'s mounts of a device, tmpfs or nfs are not supported)'))
    .action(async (name: string | undefined, o: { label?: string[]; driver: string; opt?: string[] }) => {
      const { createNamedVolume } = await import('../runtime/volumes.js');
      if (o.driver !== 'local') throw new UsageError(`volume driver "${o.driver}" is not available: tsrun's volumes are local directories`);
      if (o.opt?.length) throw new UsageError(`volume options are not supported (${o.opt.join(', ')}): tsrun's volumes are plain directories`);
      const labels = Object.fromEntries((o.label ?? []).map((l) => (l.includes('=') ? [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] : [l, ''])));
      const v = await createNamedVolume(ctx(), name, labels);
      writeStdout(`${v.name}\n`);
    });

  volume
    .command('ls')
    .alias('list')
    .description('List volumes')
    .option('-q, --quiet', 'only print volume names')
    .addOption(repeatable('-f, --filter <key=value>', 'only volumes matching: dangling=true|false (used by no container), name= (a substring), label=KEY[=VALUE], driver=local'))
    .option('--format <template>', 'Go-template fields, as docker: {{.Name}} {{.Driver}} {{.Scope}} {{.Mountpoint}} {{.Labels}} {{.Label "KEY"}} {{.CreatedAt}}, {{json .}}; "table ..." adds headers')
    .action(async (o: { quiet?: boolean; filter?: string[]; format?: string }) => {
      const [{ listVolumes, volumeDataDir }, { listContainers }, { volumeUsers }, { table, formatRows, parseFilters, matchesFilters }] = await Promise.all([
        import('../store/volumes.js'),
        import('../runtime/containers.js'),
        import('../runtime/volumes.js'),
        import('./format.js'),
      ]);
      const c = ctx();
      const filters = parseFilters(o.filter ?? [], ['dangling', 'name', 'label', 'driver']);
      for (const v of filters.get('dangling') ?? []) if (v !== 'true' && v !== 'false') throw new UsageError(`invalid filter 'dangling=${v}': use true or false`);
      const containers = filters.has('dangling') ? listContainers(c.paths) : [];
      const vols = listVolumes(c.paths).filter((v) =>
        matchesFilters(filters, (key, value) => {
          switch (key) {
            case 'dangling':
              return (volumeUsers(containers, v.name).length === 0) === (value === 'true');
            case 'name':
              return v.name.includes(value);
            case 'label':
              return labelMatches(v.labels, value);
            default:
              return value === 'local';
          }
        }),
      );
      if (o.quiet) writeStdout(vols.map((v) => `${v.name}\n`).join(''));
      else if (o.format !== undefined && o.format.trim() !== 'table') {
        const rows = vols.map((v) => ({
          Name: v.name,
          Driver: 'local',
          Scope: 'local',
          Mountpoint: volumeDataDir(c.paths, v.name),
          CreatedAt: v.createdAt,
          Labels: Object.entries(v.labels).map(([k, val]) => `${k}=${val}`).join(','),
          Label: (key: string) => (Object.hasOwn(v.labels, key) ? v.labels[key]! : ''),
        }));
        const headers = { Name: 'VOLUME NAME', Driver: 'DRIVER', Scope: 'SCOPE', Mountpoint: 'MOUNTPOINT', CreatedAt: 'CREATED', Labels: 'LABELS', Label: (key: string) => String(key).toUpperCase() };
        writeStdout(formatRows(o.format, rows, headers));
      } else writeStdout(table(['DRIVER', 'VOLUME NAME'], vols.map((v) => ['local', v.name])));
    });

  volume
    .command('rm')
    .alias('remove')
    .description('Remove volumes; a volume in use by a container is refused')
    .argument('<name...>')
    .option('-f, --force', 'do not fail on a volume that does not exist')
    .action(async (names: string[], o: { force?: boolean }) => {
      const { removeVolume } = await import('../runtime/volumes.js');
      const c = ctx();
      let failed = false;
      for (const name of names) {
        try {
          await removeVolume(c, name, { force: o.force === true });
          writeStdout(`${name}\n`);
        } catch (err) {
          writeStderr(`tsrun: ${(err as Error).message}\n`);
          failed = true;
        }
      }
      if (failed) process.exit(1);
    });

  volume
    .command('inspect')
    .description('Show volumes as JSON')
    .argument('<name...>')
    .option('-f, --format <template>', 'print fields instead of JSON, as docker: {{.Mountpoint}}, {{json .Labels}}')
    .action(async (names: string[], o: { format?: string }) => {
      const [{ readVolume, inspectVolume }, { formatObject, inspectJson }] = await Promise.all([import('../store/volumes.js'), import('./format.js')]);
      const c = ctx();
      const out = [];
      let failed = false;
      for (const name of names) {
        const v = readVolume(c.paths, name);
        if (v) out.push(inspectVolume(c.paths, v));
        else {
          writeStderr(`tsrun: get ${name}: no such volume\n`);
          failed = true;
        }
      }
      if (o.format !== undefined && o.format.trim() !== 'json') for (const v of out) writeStdout(`${formatObject(o.format, v)}\n`);
      else writeStdout(`${inspectJson(out)}\n`);
      if (failed) process.exit(1);
    });
}
