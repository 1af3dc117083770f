import type { Command } from 'commander';
import type { ContextFactory } from './program.js';
import { writeStderr, writeStdout } from '../util/stdio.js';

/** Runs `fn` for each container ref, docker-style: go on after a failure, report each, exit 1 if any failed. */
async function eachContainer(refs: string[], fn: (ref: string) => Promise<void>): Promise<void> {
  let failed = false;
  for (const ref of refs) {
    try {
      await fn(ref);
    } catch (err) {
      writeStderr(`tsrun: ${(err as Error).message}\n`);
      failed = true;
    }
  }
  if (failed) process.exit(1);
}

/** -t: whole seconds, or -1 to wait for ever (docker's). */
const seconds = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < -1) throw new Error(`invalid timeout: ${value}`);
  return n;
};

/** The top-level commands registerLifecycle adds (main.ts and lifecycle-main.ts list them so). */
export const LIFECYCLE_COMMANDS = ['start', 'stop', 'restart', 'kill', 'pause', 'unpause', 'on-exit', 'rename', 'wait', 'attach', 'logs'];

export function registerLifecycle(program: Command, ctx: ContextFactory): void {
  program
    .command('start')
    .description('Start one or more created or stopped containers, on the data they already have')
    .argument('<container...>')
    .option('-a, --attach', 'attach stdout/stderr and exit with the container\'s exit code')
    .option('-i, --interactive', 'attach stdin (with -a)')
    .action(async (refs: string[], o: { attach?: boolean; interactive?: boolean }) => {
      const [{ findContainer }, { startContainer }] = await Promise.all([import('../runtime/containers.js'), import('../runtime/lifecycle/start.js')]);
      const c = ctx();
      if (o.attach || o.interactive) {
        if (refs.length > 1) throw new Error('you cannot start and attach multiple containers at once');
        const rec = findContainer(c.paths, refs[0]!);
        // Attaching follows the log: with none there is nothing to follow, so it is not started for nothing.
        (await import('../runtime/logs/log-config.js')).assertLogReadable(rec.options.logConfig);
        // Already running (not paused): start -a attaches to it, as docker's.
        const [{ currentState }, { attachContainer }] = await Promise.all([import('../runtime/state/status.js'), import('../runtime/lifecycle/attach.js')]);
        const st = currentState(c.paths, rec);
        if (st.running && !st.paused) process.exit(await attachContainer(c, rec.id, { sigProxy: true, stdin: o.interactive === true }));
        const started = await startContainer(c, rec.id, { mode: 'foreground', stdin: o.interactive === true });
        if (started.exited) process.exit(await started.exited);
        // A created container was waiting with its output going to the log and, made with -i, its input on its attach socket.
        const [{ connectStdin, followOutput }, { waitContainer }] = await Promise.all([import('../runtime/lifecycle/attach.js'), import('../runtime/lifecycle/stop.js')]);
        let detached = false;
        const input = o.interactive && rec.options.openStdin ? await connectStdin(c, rec.id, rec.options.tty === true, () => (detached = true)) : undefined;
        try {
          await followOutput(c, rec.id, undefined, () => detached);
        } finally {
          input?.close();
        }
        process.exit(detached ? 0 : await waitContainer(c, rec.id));
      }
      await eachContainer(refs, async (ref) => {
        await startContainer(c, findContainer(c.paths, ref).id, { mode: 'detached' });
        writeStdout(`${ref}\n`);
      });
    });

  program
    .command('stop')
    .description('Stop running containers: the stop signal (SIGTERM), then SIGKILL after a timeout')
    .argument('<container...>')
    .option('-t, --time <seconds>', 'seconds to wait before SIGKILL (default: the container\'s --stop-timeout, else 10; -1: for ever)', seconds)
    .action(async (refs: string[], o: { time?: number }) => {
      const [{ findContainer }, { stopContainer }] = await Promise.all([import('../runtime/containers.js'), import('../runtime/lifecycle/stop.js')]);
      const c = ctx();
      await eachContainer(refs, async (ref) => {
        await stopContainer(c, findContainer(c.paths, ref).id, o.time);
        writeStdout(`${ref}\n`);
      });
    });

  program
    .command('restart')
    .description('Stop and start containers again')
    .argument('<container...>')
    .option('-t, --time <seconds>', 'seconds to wait before SIGKILL (default: the container\'s --stop-timeout, else 10; -1: for ever)', seconds)
    .action(async (refs: string[], o: { time?: number }) => {
      const [{ findContainer }, { stopContainer }, { startContainer }] = await Promise.all([
        import('../runtime/containers.js'),
        import('../runtime/lifecycle/stop.js'),
        import('../runtime/lifecycle/start.js'),
      ]);
      const c = ctx();
      await eachContainer(refs, async (ref) => {
        const id = findContainer(c.paths, ref).id;
        await stopContainer(c, id, o.time, { restarting: true });
        try {
          await startContainer(c, id, { mode: 'detached' });
        } catch (err) {
          // Not started again after all: a --rm container is removed at its next exit as before.
          const { endRestart } = await import('../runtime/lifecycle/stop.js');
          await endRestart(c, id);
          throw err;
        }
        writeStdout(`${ref}\n`);
      });
    });

  program
    .command('kill')
    .description('Send a signal (default SIGKILL) to running containers')
    .argument('<container...>')
    .option('-s, --signal <signal>', 'signal name or number (RTMIN+N and RTMAX-N too)', 'KILL')
    .action(async (refs: string[], o: { signal: string }) => {
      const [{ findContainer }, { killContainer, parseSignal }] = await Promise.all([import('../runtime/containers.js'), import('../runtime/lifecycle/stop.js')]);
      const c = ctx();
      const signal = parseSignal(o.signal);
      await eachContainer(refs, async (ref) => {
        await killContainer(c, findContainer(c.paths, ref).id, signal);
        writeStdout(`${ref}\n`);
      });
    });

  for (const [verb, pause] of [['pause', true], ['unpause', false]] as const) {
    program
      .command(verb)
      .description(pause ? 'Freeze every process of running containers' : 'Thaw paused containers')
      .argument('<container...>')
      .action(async (refs: string[]) => {
        const [{ findContainer }, { setPaused }] = await Promise.all([import('../runtime/containers.js'), import('../runtime/lifecycle/pause.js')]);
        const c = ctx();
        await eachContainer(refs, async (ref) => {
          await setPaused(c, findContainer(c.paths, ref).id, pause);
          writeStdout(`${ref}\n`);
        });
      });
  }

  // Run by a monitor as its exit command (start.ts), not by users: a --rm container's removal, or its restart policy (restart-policy.ts).
  program
    .command('on-exit', { hidden: true })
    .argument('<id>')
    .option('--apply', 'the detached step that applies the policy')
    .option('--remove', 'remove a --rm container, unless a restart stopped it')
    .action(async (id: string, o: { apply?: boolean; remove?: boolean }) => {
      const c = ctx();
      if (o.remove) {
        const { removeContainer } = await import('../runtime/lifecycle/remove.js');
        await removeContainer(c, id, { force: true, auto: true });
        return;
      }
      const { applyRestartPolicy, handOver } = await import('../runtime/lifecycle/restart-policy.js');
      if (o.apply) await applyRestartPolicy(c, id);
      else handOver(c.selfCommand, id);
    });

  program
    .command('rename')
    .description('Rename a container')
    .argument('<container>')
    .argument('<new-name>')
    .action(async (ref: string, name: string) => {
      const [{ findContainer }, { renameContainer }] = await Promise.all([import('../runtime/containers.js'), import('../runtime/lifecycle/rename.js')]);
      const c = ctx();
      await renameContainer(c, findContainer(c.paths, ref).id, name);
    });

  program
    .command('wait')
    .description('Block until containers stop, then print their exit codes')
    .argument('<container...>')
    .action(async (refs: string[]) => {
      const [{ findContainer }, { waitContainer }] = await Promise.all([import('../runtime/containers.js'), import('../runtime/lifecycle/stop.js')]);
      const c = ctx();
      await eachContainer(refs, async (ref) => {
        writeStdout(`${await waitContainer(c, findContainer(c.paths, ref).id)}\n`);
      });
    });

  program
    .command('attach')
    .description('Attach to a running container: its output, your input when it was made with -i, signals passed on; exits with its exit code (ctrl-p ctrl-q detaches from a terminal)')
    .argument('<container>')
    .option('--no-stdin', 'do not attach your input')
    .option('--no-sig-proxy', 'do not pass signals on to the container')
    .action(async (ref: string, o: { sigProxy: boolean; stdin: boolean }) => {
      const [{ findContainer }, { attachContainer }] = await Promise.all([import('../runtime/containers.js'), import('../runtime/lifecycle/attach.js')]);
      const c = ctx();
      process.exit(await attachContainer(c, findContainer(c.paths, ref).id, { sigProxy: o.sigProxy, stdin: o.stdin }));
    });

  program
    .command('logs')
    .description('Show a container\'s output (stdout and stderr, in order)')
    .argument('<container>')
    .option('-f, --follow', 'keep printing new output until the container stops')
    .option('-n, --tail <lines>', 'only the last N lines ("all" for everything)', 'all')
    .option('-t, --timestamps', 'prefix each line with its RFC 3339 time')
    .option('--since <time>', 'only lines since this time (RFC 3339, Unix seconds, or a duration before now: 10m)')
    .option('--until <time>', 'only lines before this time (same forms)')
    .action(async (ref: string, o: { follow?: boolean; tail: string; timestamps?: boolean; since?: string; until?: string }) => {
      const [{ findContainer }, { isRunning }, { readLog, parseLogTime }, { containerFile }] = await Promise.all([
        import('../runtime/containers.js'),
        import('../runtime/state/status.js'),
        import('../runtime/logs/read-log.js'),
        import('../store/paths.js'),
      ]);
      const c = ctx();
      const rec = findContainer(c.paths, ref);
      const id = rec.id;
      (await import('../runtime/logs/log-config.js')).assertLogReadable(rec.options.logConfig);
      let tail: number | undefined;
      if (o.tail !== 'all') {
        tail = Number(o.tail);
        if (!Number.isInteger(tail)) throw new Error(`invalid --tail value: ${o.tail}`);
        // A negative count is every line, as docker's.
        if (tail < 0) tail = undefined;
      }
      await readLog(containerFile(c.paths, id, 'ctr.log'), {
        follow: o.follow === true,
        tail,
        timestamps: o.timestamps === true,
        since: o.since !== undefined ? parseLogTime(o.since) : undefined,
        until: o.until !== undefined ? parseLogTime(o.until) : undefined,
        isRunning: () => isRunning(c.paths, id),
        write: (stream, text) => (stream === 'stdout' ? writeStdout : writeStderr)(text),
      });
    });
}
