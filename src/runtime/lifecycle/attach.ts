import { RuntimeError } from '../../errors.js';
import { containerFile } from '../../store/paths.js';
import type { Context } from '../context.js';
import { readLog } from '../logs/read-log.js';
import { readRecord, readRuntime } from '../state/record.js';
import { currentState, isRunning } from '../state/status.js';
import { sendSignal } from './kill.js';
import { waitContainer } from './stop.js';

/**
 * `attach`: a running container's output from now on (its monitor writes
 * it to the log, which this follows), signals passed on to it (docker's
 * sig-proxy), and its exit code once it stops. Its standard input is not
 * attached: a detached container's monitor keeps none.
 */
export async function attachContainer(ctx: Context, id: string, opts: { sigProxy: boolean }): Promise<number> {
  const p = ctx.paths;
  const rec = readRecord(p, id);
  if (!rec) throw new RuntimeError(`container ${id} disappeared`);
  if (!currentState(p, rec).running) throw new RuntimeError(`cannot attach to the stopped container ${rec.name}: start it first`);
  const since = Date.now();
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  const forward = (sig: NodeJS.Signals) => {
    const rt = readRuntime(p, id);
    if (rt) void sendSignal(rt, sig);
  };
  if (opts.sigProxy) for (const s of signals) process.on(s, forward);
  try {
    await readLog(containerFile(p, id, 'ctr.log'), {
      follow: true,
      timestamps: false,
      since,
      isRunning: () => isRunning(p, id),
      write: (stream, text) => (stream === 'stdout' ? process.stdout : process.stderr).write(text),
    });
  } finally {
    if (opts.sigProxy) for (const s of signals) process.off(s, forward);
  }
  return waitContainer(ctx, id);
}
