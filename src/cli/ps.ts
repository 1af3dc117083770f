import type { Command } from 'commander';
import type { ContextFactory } from './main.js';

export function registerPs(program: Command, ctx: ContextFactory): void {
  program
    .command('ps')
    .description('List containers (running ones, or all with -a)')
    .option('-a, --all', 'show all containers, not only running ones')
    .option('-q, --quiet', 'only print container ids')
    .option('--no-trunc', 'do not truncate ids and commands')
    .action(async (o: { all?: boolean; quiet?: boolean; trunc: boolean }) => {
      const [{ listContainers }, { currentState }, { ago, humanDuration, table, truncateCommand }, { familiarName }, { unmountStale }] = await Promise.all([
        import('../runtime/containers.js'),
        import('../runtime/state/status.js'),
        import('./format.js'),
        import('../store/reference.js'),
        import('../runtime/reconcile.js'),
      ]);
      const c = ctx();
      const now = Date.now();
      const all = listContainers(c.paths);
      await unmountStale(c, all);
      const rows = all
        .map((rec) => ({ rec, st: currentState(c.paths, rec) }))
        .filter(({ st }) => o.all || st.running)
        .sort((a, b) => Date.parse(b.rec.created) - Date.parse(a.rec.created));
      if (o.quiet) {
        process.stdout.write(rows.map(({ rec }) => `${o.trunc ? rec.id.slice(0, 12) : rec.id}\n`).join(''));
        return;
      }
      const status = (st: ReturnType<typeof currentState>) => {
        if (st.running) return `Up ${humanDuration(now - Date.parse(st.startedAt))}${st.paused ? ' (Paused)' : ''}`;
        if (st.status === 'created') return 'Created';
        if (st.status === 'removing') return 'Removal In Progress';
        return `Exited (${st.exitCode}) ${ago(st.finishedAt, now)}`;
      };
      const imageName = (name: string) => {
        try {
          return familiarName(name);
        } catch {
          return name;
        }
      };
      const body = rows.map(({ rec, st }) => {
        const cmd = [rec.path, ...rec.args].join(' ');
        return [
          o.trunc ? rec.id.slice(0, 12) : rec.id,
          /^sha256:/.test(rec.imageName) || /^[a-f0-9]{12,64}$/.test(rec.imageName) ? rec.imageName : imageName(rec.imageName),
          o.trunc ? truncateCommand(cmd) : `"${cmd}"`,
          ago(rec.created, now),
          status(st),
          '',
          rec.name,
        ];
      });
      process.stdout.write(table(['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'], body));
    });
}
