import * as fs from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { ContextFactory } from './program.js';
import { repeatable } from './options.js';
import { writeStdout } from '../util/stdio.js';

/** The group command (container, image, volume, system), made if no other file has made it yet. */
function group(program: Command, name: string, description: string): Command {
  return program.commands.find((c) => c.name() === name) ?? program.command(name).description(description);
}

/**
 * docker's question before a prune; anything but y or yes (or no answer:
 * standard input closed or not a terminal with nothing to read) keeps
 * everything. -f skips it.
 */
function confirmed(warning: string, force: boolean | undefined): boolean {
  if (force) return true;
  writeStdout(`WARNING! This will remove ${warning}.\nAre you sure you want to continue? [y/N] `);
  const buf = Buffer.alloc(64);
  let answer = '';
  try {
    answer = buf.subarray(0, fs.readSync(0, buf, 0, buf.length, null)).toString();
  } catch {
    answer = '';
  }
  if (!/^\s*y(es)?\s*$/i.test(answer)) {
    writeStdout('\n');
    return false;
  }
  return true;
}

/** --filter until=, label=, label!= (docker's prune filters; volume prune takes no until=). */
async function pruneFilters(specs: string[] | undefined, withUntil = true) {
  const [{ parseFilters }, { parseUntil }] = await Promise.all([import('./format.js'), import('../runtime/prune.js')]);
  const f = parseFilters(specs ?? [], withUntil ? ['until', 'label', 'label!'] : ['label', 'label!']);
  const until = f.get('until') ?? [];
  if (until.length > 1) throw new UsageError('more than one until= filter is not supported');
  return { ...(until.length ? { until: parseUntil(until[0]!) } : {}), label: f.get('label') ?? [], notLabel: f.get('label!') ?? [] };
}

const FILTER_HELP = 'only what matches: until= (made before a time, or a duration ago as 24h), label=KEY[=VALUE], label!=KEY[=VALUE]';

export function registerPrune(program: Command, ctx: ContextFactory): void {
  /** docker's output: each non-empty list under its title, then the total. */
  const report = async (...sections: [title: string, pruned: { removed: string[]; bytes: number }][]) => {
    const { humanSize } = await import('./format.js');
    for (const [title, r] of sections) {
      if (r.removed.length > 0) writeStdout(`${title}:\n${r.removed.map((x) => `${x}\n`).join('')}\n`);
    }
    writeStdout(`Total reclaimed space: ${humanSize(sections.reduce((a, [, r]) => a + r.bytes, 0))}\n`);
  };

  group(program, 'container', 'Manage containers')
    .command('prune')
    .description('Remove all stopped containers')
    .option('-f, --force', 'do not ask for confirmation')
    .addOption(repeatable('--filter <key=value>', FILTER_HELP))
    .action(async (o: { force?: boolean; filter?: string[] }) => {
      const filters = await pruneFilters(o.filter);
      if (!confirmed('all stopped containers', o.force)) return;
      await report(['Deleted Containers', await (await import('../runtime/prune.js')).pruneContainers(ctx(), filters)]);
    });

  group(program, 'image', 'Manage images')
    .command('prune')
    .description('Remove dangling images (untagged and unused), or with -a every image no container uses')
    .option('-a, --all', 'every unused image, not only dangling ones')
    .option('-f, --force', 'do not ask for confirmation')
    .addOption(repeatable('--filter <key=value>', FILTER_HELP))
    .action(async (o: { all?: boolean; force?: boolean; filter?: string[] }) => {
      const filters = await pruneFilters(o.filter);
      if (!confirmed(o.all ? 'all images without at least one container associated to them' : 'all dangling images', o.force)) return;
      await report(['Deleted Images', await (await import('../runtime/prune.js')).pruneImages(ctx(), o.all === true, filters)]);
    });

  group(program, 'volume', 'Manage volumes')
    .command('prune')
    .description('Remove unused anonymous volumes, or with -a every unused volume')
    .option('-a, --all', 'named volumes too')
    .option('-f, --force', 'do not ask for confirmation')
    .addOption(repeatable('--filter <key=value>', 'only volumes matching: label=KEY[=VALUE], label!=KEY[=VALUE]'))
    .action(async (o: { all?: boolean; force?: boolean; filter?: string[] }) => {
      const filters = await pruneFilters(o.filter, false);
      if (!confirmed(o.all ? 'all local volumes not used by at least one container' : 'all anonymous local volumes not used by at least one container', o.force)) return;
      await report(['Deleted Volumes', await (await import('../runtime/prune.js')).pruneVolumes(ctx(), o.all === true, filters)]);
    });

  group(program, 'system', 'Manage tsrun')
    .command('prune')
    .description('Remove stopped containers and dangling images (-a: all unused images; --volumes: unused anonymous volumes)')
    .option('-a, --all', 'every unused image, not only dangling ones')
    .option('--volumes', 'unused anonymous volumes too')
    .option('-f, --force', 'do not ask for confirmation')
    .addOption(repeatable('--filter <key=value>', FILTER_HELP))
    .action(async (o: { all?: boolean; volumes?: boolean; force?: boolean; filter?: string[] }) => {
      const filters = await pruneFilters(o.filter);
      // docker's rule: volumes have no creation time to filter by.
      if (o.volumes && filters.until !== undefined) throw new UsageError('The "until" filter is not supported with "--volumes"');
      const what = ['all stopped containers', ...(o.volumes ? ['all anonymous volumes not used by at least one container'] : []), o.all ? 'all images without at least one container associated to them' : 'all dangling images'];
      if (!confirmed(what.join(', '), o.force)) return;
      const prune = await import('../runtime/prune.js');
      const c = ctx();
      const containers = await prune.pruneContainers(c, filters);
      const volumes = o.volumes ? await prune.pruneVolumes(c, false, filters) : { removed: [], bytes: 0 };
      const images = await prune.pruneImages(c, o.all === true, filters);
      await report(['Deleted Containers', containers], ['Deleted Volumes', volumes], ['Deleted Images', images]);
    });
}
