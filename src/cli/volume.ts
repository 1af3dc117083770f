import type { Command } from 'commander';
import type { ContextFactory } from './main.js';
import { repeatable } from './options.js';
import { writeStderr, writeStdout } from '../util/stdio.js';


/** `tsrun volume create|ls|rm|inspect`, with docker's output. */
export function registerVolume(program: Command, ctx: ContextFactory): void {
  const volume = program.command('volume').description('Manage volumes');

  volume
    .command('create')
    .description('Create a volume (a generated name when none is given)')
    .argument('[name]')
    .addOption(repeatable('--label <key=value>', 'set metadata on the volume'))
    .action(async (name: string | undefined, o: { label?: string[] }) => {
      const { createNamedVolume } = await import('../runtime/volumes.js');
      const labels = Object.fromEntries((o.label ?? []).map((l) => (l.includes('=') ? [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] : [l, ''])));
      const v = await createNamedVolume(ctx(), name, labels);
      writeStdout(`${v.name}\n`);
    });

  volume
    .command('ls')
    .alias('list')
    .description('List volumes')
    .option('-q, --quiet', 'only print volume names')
    .action(async (o: { quiet?: boolean }) => {
      const [{ listVolumes }, { table }] = await Promise.all([import('../store/volumes.js'), import('./format.js')]);
      const vols = listVolumes(ctx().paths);
      if (o.quiet) writeStdout(vols.map((v) => `${v.name}\n`).join(''));
      else writeStdout(table(['DRIVER', 'VOLUME NAME'], vols.map((v) => ['local', v.name])));
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
    .action(async (names: string[]) => {
      const { readVolume, inspectVolume } = await import('../store/volumes.js');
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
      writeStdout(`${JSON.stringify(out, null, 4)}\n`);
      if (failed) process.exit(1);
    });
}
