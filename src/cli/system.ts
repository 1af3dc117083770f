import type { Command } from 'commander';
import type { ContextFactory } from './program.js';
import { writeStdout } from '../util/stdio.js';

export function registerSystem(program: Command, ctx: ContextFactory): void {
  const system = program.command('system').description('Manage tsrun');
  system
    .command('df')
    .description('Show disk usage')
    .action(async () => {
      const [{ diskUsage }, { humanSize, table }] = await Promise.all([import('../store/disk-usage.js'), import('./format.js')]);
      const rows = diskUsage(ctx());
      const reclaimable = (r: { size: number; reclaimable: number }) =>
        r.size > 0 ? `${humanSize(r.reclaimable)} (${Math.floor((100 * r.reclaimable) / r.size)}%)` : humanSize(r.reclaimable);
      writeStdout(
        table(
          ['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'],
          rows.map((r) => [r.type, String(r.total), String(r.active), humanSize(r.size), reclaimable(r)]),
        ),
      );
    });
}
