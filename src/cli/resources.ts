import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { ResourceFlags } from '../runtime/cgroups/limits.js';
import type { ContextFactory } from './program.js';
import { writeStderr, writeStdout } from '../util/stdio.js';

/** The cgroup commands: stats, top, update, and info (which reports the host's cgroups among the rest). */

type UpdateFlags = ResourceFlags & { restart?: string };

const STATS_HEADERS = { Container: 'CONTAINER', ID: 'CONTAINER ID', Name: 'NAME', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT', MemPerc: 'MEM %', NetIO: 'NET I/O', BlockIO: 'BLOCK I/O', PIDs: 'PIDS' };
const DEFAULT_STATS_FORMAT = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';

export function registerResources(program: Command, ctx: ContextFactory): void {
  program
    .command('stats')
    .description('Show live resource usage of containers (all running ones by default)')
    .argument('[container...]')
    .option('-a, --all', 'every container, stopped ones too (all running ones by default)')
    .option('--no-stream', 'print one sample and exit')
    .option('--no-trunc', 'do not truncate ids')
    .option('--format <template>', 'Go-template fields, as docker: {{.Container}} {{.Name}} {{.ID}} {{.CPUPerc}} {{.MemUsage}} {{.MemPerc}} {{.NetIO}} {{.BlockIO}} {{.PIDs}}, {{json .}}; "table ..." adds headers')
    .action(async (refs: string[], o: { all?: boolean; stream: boolean; trunc: boolean; format?: string }) => {
      const [{ findContainer, listContainers }, { currentState }, cg, { binarySize, humanSize, formatRows }, { cpuPercent }] = await Promise.all([
        import('../runtime/containers.js'),
        import('../runtime/state/status.js'),
        import('../runtime/cgroups/container.js'),
        import('./format.js'),
        import('../runtime/cgroups/limits.js'),
      ]);
      const c = ctx();
      const recs = refs.length ? refs.map((r) => findContainer(c.paths, r)) : listContainers(c.paths).filter((r) => o.all || currentState(c.paths, r).running);
      // A stopped container shows a row of zeros, as docker's does.
      const targets = recs.map((rec) => {
        const st = currentState(c.paths, rec);
        // The host's network is not the container's to count (docker shows none for it).
        const netPid = st.running && !rec.options.hostNamespaces?.includes('network') ? st.pid : undefined;
        return { rec, cgroup: st.running ? cg.runningCgroup(c, rec) : undefined, netPid };
      });
      const pair = (a: number, b: number) => `${humanSize(a)} / ${humanSize(b)}`;
      const sample = (t: (typeof targets)[number]) => (t.cgroup ? cg.sampleStats(t.cgroup) : undefined);
      let prev = targets.map(sample);
      const cpus = cg.onlineCpus();
      const hostMem = cg.hostMemory();
      let stopped = false;
      process.once('SIGINT', () => (stopped = true));
      for (;;) {
        await new Promise((r) => setTimeout(r, 1000));
        const now = targets.map(sample);
        const rows = targets.map((t, i) => {
          const a = prev[i];
          const b = now[i];
          const id = o.trunc ? t.rec.id.slice(0, 12) : t.rec.id;
          // .Container is the container as named on the command line (its id when none was), as docker's.
          const named = { Container: refs[i] ?? id, ID: id, Name: t.rec.name };
          if (!a || !b) return { ...named, CPUPerc: '0.00%', MemUsage: '0B / 0B', MemPerc: '0.00%', NetIO: '0B / 0B', BlockIO: '0B / 0B', PIDs: '0' };
          const limit = b.memLimit ?? hostMem;
          const net = t.netPid === undefined ? { rx: 0, tx: 0 } : cg.networkBytes(t.netPid);
          return {
            ...named,
            NetIO: pair(net.rx, net.tx),
            BlockIO: pair(b.blockRead, b.blockWrite),
            CPUPerc: `${cpuPercent(b.cpuNs - a.cpuNs, b.systemNs - a.systemNs, cpus).toFixed(2)}%`,
            MemUsage: `${binarySize(b.memUsage)} / ${binarySize(limit)}`,
            MemPerc: `${((100 * b.memUsage) / limit).toFixed(2)}%`,
            PIDs: String(b.pids),
          };
        });
        const out = formatRows(o.format === undefined || o.format.trim() === 'table' ? DEFAULT_STATS_FORMAT : o.format, rows, STATS_HEADERS);
        if (!o.stream) {
          writeStdout(out);
          return;
        }
        // false: the reader is gone (`tsrun stats | head`), so is the point of going on.
        if (!writeStdout(`\x1b[2J\x1b[H${out}`) || stopped) return;
        prev = now;
      }
    });

  program
    .command('top')
    .description('Show the processes of a running container')
    .argument('<container>')
    .argument('[ps-options...]', 'ps(1) options (default -ef): its header, and the rows of the container\'s processes')
    .passThroughOptions()
    .action(async (ref: string, psOptions: string[]) => {
      const [{ findContainer }, cg, { table }, { cgroupPids }] = await Promise.all([
        import('../runtime/containers.js'),
        import('../runtime/cgroups/container.js'),
        import('./format.js'),
        import('../runtime/cgroups/host.js'),
      ]);
      const c = ctx();
      const running = cg.runningCgroup(c, findContainer(c.paths, ref));
      if (psOptions.length > 0) {
        writeStdout(cg.psTable(cgroupPids(running), psOptions));
        return;
      }
      const rows = cg.topProcesses(running);
      writeStdout(table(['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'], rows.map((r) => [r.uid, String(r.pid), String(r.ppid), r.c, r.stime, r.tty, r.time, r.cmd])));
    });

  program
    .command('update')
    .description('Change the resource limits (kept for their next start) or the restart policy of containers')
    .argument('<container...>')
    .option('-m, --memory <bytes>', 'memory limit')
    .option('--memory-swap <bytes>', 'memory plus swap limit (-1: unlimited)')
    .option('--cpus <number>', 'number of CPUs')
    .option('--cpu-shares <weight>', 'relative CPU weight')
    .option('--cpuset-cpus <list>', 'CPUs the container may run on')
    .option('--pids-limit <n>', 'maximum number of processes (-1: unlimited)')
    .option('--memory-reservation <bytes>', 'soft memory limit')
    .option('--cpu-period <us>', 'CFS period, with --cpu-quota')
    .option('--cpu-quota <us>', 'CPU time per CFS period')
    .option('--cpuset-mems <list>', 'memory nodes the container may use')
    .option('--blkio-weight <n>', 'relative block I/O weight, 10-1000')
    .option('--restart <policy>', 'no, always, unless-stopped or on-failure[:N], from the next exit on')
    .action(async (refs: string[], o: UpdateFlags) => {
      const [{ findContainer }, { updateContainer }, { parseRestartPolicy }, { updateRestartPolicy }] = await Promise.all([
        import('../runtime/containers.js'),
        import('../runtime/cgroups/container.js'),
        import('../runtime/plan/run-flags.js'),
        import('../runtime/lifecycle/restart-policy.js'),
      ]);
      const { restart, ...limits } = o;
      if (restart === undefined && Object.keys(limits).length === 0) throw new UsageError('You must provide one or more flags when using this command.');
      const policy = restart === undefined ? undefined : parseRestartPolicy(restart);
      const c = ctx();
      let failed = false;
      for (const ref of refs) {
        try {
          const id = findContainer(c.paths, ref).id;
          if (policy) await updateRestartPolicy(c, id, policy);
          if (Object.keys(limits).length > 0) await updateContainer(c, id, limits);
          writeStdout(`${ref}\n`);
        } catch (err) {
          writeStderr(`tsrun: ${(err as Error).message}\n`);
          failed = true;
        }
      }
      if (failed) process.exit(1);
    });

  program
    .command('info')
    .description('Show how this host runs containers: cgroups, overlay, seccomp, the store')
    .action(async () => {
      const { hostInfo } = await import('../runtime/info.js');
      writeStdout(hostInfo(ctx()).map(([k, v]) => `${k}: ${v}\n`).join(''));
    });
}
