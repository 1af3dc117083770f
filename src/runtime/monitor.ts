import * as os from 'node:os';
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { RuntimeError } from '../errors.js';
import { loadNative, monitorPath } from '../native/binding.js';
import { REPORT_SIZE, ReportKind, decodeReport, reportToError, type Report } from '../native/report.js';

/**
 * Starting a container through its monitor (native/monitor/main.c):
 *
 *   tsrun (node)                          tsrun-monitor (own session)
 *     | spawn, fd 3 = plan, fd 4 = reports ->|
 *     |   (the plan: a memfd, read at once)  | parse, clone, child ladder
 *     |<----------------- PAUSED{pid} ------| (plan hookpause) mounts made, before
 *     | createRuntime hooks, one byte ----->|   pivot_root; EOF instead ends it
 *     |<----------------- STARTED{pid} -----| execve succeeded (error pipe EOF)
 *     |       or FAILED{stage,errno,detail} |
 *     | foreground: wait for its exit       | waits on the pidfd, writes exit.json,
 *     |   (its exit code is the container's)| unmounts the merged dir, exits
 *
 * The monitor runs in its own session even for a foreground run, so a
 * terminal's Ctrl-C reaches the container once, through tsrun's forwarding,
 * and a killed CLI does not take the container down with it.
 */

export interface StartedMonitor {
  child: ChildProcess;
  /** The container's init (or exec'd process) in the host's PID namespace. */
  pid: number;
}

/** How long a container may take from spawn to execve before we give up (runc#1697: never wait unbounded). */
const START_TIMEOUT_MS = 60_000;

export interface LaunchOptions {
  foreground: boolean;
  /** Give the monitor (and so the container) tsrun's stdin. */
  stdin?: boolean;
  /** The plan has a start FIFO: the monitor reports CREATED (init waiting) instead of STARTED. */
  expectCreated?: boolean;
  /** Called with the monitor's pid as soon as it exists, before the container does. */
  onSpawn?: (monitorPid: number) => void;
  /** runc's --preserve-fds: tsrun's fds 3..3+N-1 go to the process as the same numbers (through the monitor's 5..). */
  preserveFds?: number;
  /** Plan hookpause: the init has stopped before pivot_root; it goes on when this resolves, and is killed if it rejects. */
  onPaused?: (pid: number) => Promise<void>;
}

export async function launchMonitor(plan: Buffer, opts: LaunchOptions): Promise<StartedMonitor> {
  // A memfd, not a pipe: the monitor has the whole plan the moment it runs, instead of waiting for this event loop to write it (~2 ms).
  const native = loadNative();
  const planFd = native.memfdWith({ name: 'tsrun-plan', data: plan });
  const stdio: StdioOptions = opts.foreground
    ? [opts.stdin ? 'inherit' : 'ignore', 'inherit', 'inherit', planFd, 'pipe']
    : ['ignore', 'ignore', 'ignore', planFd, 'pipe'];
  const extra = Array.from({ length: opts.preserveFds ?? 0 }, (_, i) => 3 + i);
  let child: ChildProcess;
  try {
    child = spawn(monitorPath(), extra.length ? [`--preserve-fds=${extra.length}`] : [], { stdio: [...stdio, ...extra], detached: true });
  } finally {
    native.closeFd({ fd: planFd });
  }
  // A socketpair (Node's stdio 'pipe'): the monitor reads the hooks' answer from it too.
  const reportPipe = child.stdio[4] as Duplex;
  reportPipe.on('error', () => {
    // The monitor went away; its exit is what gets reported.
  });
  if (child.pid !== undefined) opts.onSpawn?.(child.pid);

  let report = await readReport(child, reportPipe);
  if (report.kind === ReportKind.Paused && opts.onPaused) {
    try {
      await opts.onPaused(report.pid);
    } catch (err) {
      reportPipe.destroy(); // EOF: the monitor kills the init, cleans up and exits
      await exited(child);
      throw err;
    }
    reportPipe.write(Buffer.of(1));
    report = await readReport(child, reportPipe);
  }
  if (report.kind === ReportKind.Failed) {
    reportPipe.destroy();
    await exited(child);
    throw reportToError(report);
  }
  const want = opts.expectCreated ? ReportKind.Created : ReportKind.Started;
  if (report.kind !== want || report.pid <= 0) {
    reportPipe.destroy();
    throw new RuntimeError(`the monitor sent an unexpected report (kind ${report.kind})`);
  }
  reportPipe.destroy();
  return { child, pid: report.pid };
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
}

/**
 * Reads one report; a monitor that dies first closes the pipe, so EOF
 * without a whole record is the failure (its exit status is given if known).
 * The monitor writes nothing more until it is answered, so no bytes beyond
 * the record can be lost between two reads.
 */
function readReport(child: ChildProcess, pipe: Duplex): Promise<Report> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    let settled = false;
    const done = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      pipe.off('data', onData);
      pipe.off('close', onClose);
      child.off('error', onError);
      fn();
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      have += chunk.length;
      if (have < REPORT_SIZE) return;
      const buf = Buffer.concat(chunks).subarray(0, REPORT_SIZE);
      done(() => {
        try {
          resolve(decodeReport(buf));
        } catch (err) {
          reject(err);
        }
      });
    };
    const onClose = () => {
      const why = child.signalCode ?? (child.exitCode !== null ? `code ${child.exitCode}` : 'no report');
      done(() => reject(new RuntimeError(`the container monitor exited (${why}) before the container started`)));
    };
    const onError = (err: Error) => done(() => reject(new RuntimeError(`cannot start the container monitor: ${err.message}`, { cause: err })));
    const timer = setTimeout(
      () => done(() => reject(new RuntimeError(`the container did not start within ${START_TIMEOUT_MS / 1000}s`))),
      START_TIMEOUT_MS,
    );
    pipe.on('data', onData);
    pipe.on('close', onClose);
    child.on('error', onError);
  });
}

/**
 * Forwards the signals a user sends to `tsrun run`/`exec` to the monitor,
 * which passes them to the container (docker's sig-proxy). With a terminal,
 * SIGWINCH goes too, so the monitor copies the new window size.
 */
export function proxySignals(child: ChildProcess, opts: { tty?: boolean } = {}): () => void {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  if (opts.tty) signals.push('SIGWINCH');
  const handler = (sig: NodeJS.Signals) => {
    if (child.pid !== undefined && child.exitCode === null) child.kill(sig);
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}

/** Waits for a foreground monitor; its exit code is the container's. */
export function waitForMonitor(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    const finish = () => resolve(child.exitCode ?? 128 + signalNumber(child.signalCode));
    if (child.exitCode !== null || child.signalCode !== null) finish();
    else child.once('exit', finish);
  });
}

function signalNumber(sig: NodeJS.Signals | null): number {
  return sig ? (os.constants.signals[sig] ?? 0) : 0;
}
