import * as fs from 'node:fs';
import { RuntimeError } from '../errors.js';
import { loadNative, monitorPath } from '../native/binding.js';
import { REPORT_SIZE, ReportKind, decodeReport, reportToError, type Report } from '../native/report.js';

/**
 * Starting a container through its monitor (native/monitor/main.c):
 *
 *   tsrun (node)                          tsrun-monitor (own session)
 *     | posix_spawn, fd 3 pipe, fd 4 socket>| sealed re-exec, then waits on fd 3
 *     | ... (makes the layers, the spec)     |
 *     | the plan, then EOF --------------->| parse, clone, child ladder
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

/** A running monitor, once its container process exists. */
export class Monitor {
  private exit?: Promise<number>;
  private reaped = false;

  constructor(
    /** The monitor process (our child, in a session of its own). */
    readonly monitorPid: number,
    /** The container's init (or exec'd process) in the host's PID namespace. */
    readonly pid: number,
  ) {}

  /** The monitor's exit code, the container's for a foreground one (128+N if killed by signal N); reaps it. */
  wait(): Promise<number> {
    this.exit ??= reap(this.monitorPid).then((code) => {
      this.reaped = true;
      return code;
    });
    return this.exit;
  }

  /** Passes a signal on, unless the monitor has been reaped (its pid may belong to another process by then). */
  kill(sig: NodeJS.Signals): void {
    if (this.reaped) return;
    try {
      process.kill(this.monitorPid, sig);
    } catch {
      // exited, not yet reaped: nothing to signal
    }
  }
}

/** How long a container may take from spawn to execve before we give up (runc#1697: never wait unbounded). */
const START_TIMEOUT_MS = 60_000;

/** How the monitor process is started: what it is handed besides its plan. */
export interface SpawnOptions {
  foreground: boolean;
  /** Give the monitor (and so the container) tsrun's stdin. */
  stdin?: boolean;
  /** runc's --preserve-fds: tsrun's fds 3..3+N-1 go to the process as the same numbers (through the monitor's 5..). */
  preserveFds?: number;
}

export interface LaunchOptions {
  /** The plan has a start FIFO: the monitor reports CREATED (init waiting) instead of STARTED. */
  expectCreated?: boolean;
  /** Called with the monitor's pid before it has its plan, so before the container exists. */
  onSpawn?: (monitorPid: number) => void;
  /** Plan hookpause: the init has stopped before pivot_root; it goes on when this resolves, and is killed if it rejects. */
  onPaused?: (pid: number) => Promise<void>;
  /** How long the process may take to start (default START_TIMEOUT_MS): an exec into a paused container starts only once it is resumed. */
  startTimeoutMs?: number;
}

/**
 * A monitor spawned ahead of its plan. Its plan fd is a pipe it blocks on,
 * so its exec and sealed re-exec (~1.5 ms) run on the other core while the
 * CLI makes the container's layers or reads its config. launch() hands it
 * the plan; cancel() closes the pipe empty, and the monitor exits without a
 * word (as it does when the CLI dies first).
 *
 * Spawned with posix_spawn from the addon (native/addon/process.cc: a
 * vfork, not child_process's fork of all of Node, ~3 ms less a start); the
 * reports come on a socket (the hooks' answer goes back on it).
 */
export class PendingMonitor {
  private done = false;

  private constructor(
    readonly pid: number,
    private readonly planFd: number,
    private readonly reportFd: number,
  ) {}

  static spawn(opts: SpawnOptions): PendingMonitor {
    const native = loadNative();
    const [planRead, planWrite] = native.pipe({});
    let ours = -1;
    let theirs = -1;
    try {
      [ours, theirs] = native.socketPair({});
      const stdio = opts.foreground ? [opts.stdin ? 0 : -1, 1, 2] : [-1, -1, -1];
      const extra = Array.from({ length: opts.preserveFds ?? 0 }, (_, i) => 3 + i);
      const pid = native.spawnSession({
        path: monitorPath(),
        args: extra.length ? [`--preserve-fds=${extra.length}`] : [],
        fds: [...stdio, planRead, theirs, ...extra],
      });
      return new PendingMonitor(pid, planWrite, ours);
    } catch (err) {
      native.closeFd({ fd: planWrite });
      if (ours >= 0) native.closeFd({ fd: ours });
      throw new RuntimeError(`cannot start the container monitor: ${(err as Error).message}`, { cause: err });
    } finally {
      native.closeFd({ fd: planRead });
      if (theirs >= 0) native.closeFd({ fd: theirs });
    }
  }

  /** Hands the monitor its plan and reads its report: the process has started (or is created, waiting). */
  async launch(plan: Buffer, opts: LaunchOptions = {}): Promise<Monitor> {
    if (this.done) throw new RuntimeError('the container monitor was already used');
    this.done = true;
    const native = loadNative();
    const monitorPid = this.pid;
    let ours = this.reportFd;
    let planFd = this.planFd;
    let reaped = false;
    /** The next report; a monitor gone before sending it is the failure, with its exit status. */
    const next = async (): Promise<Report> => {
      const report = readReport(ours, opts.startTimeoutMs ?? START_TIMEOUT_MS);
      if (report) return report;
      const code = await reap(monitorPid);
      reaped = true;
      throw new RuntimeError(`the container monitor exited (${code > 128 ? `signal ${code - 128}` : `code ${code}`}) before the container started`);
    };
    try {
      opts.onSpawn?.(monitorPid);
      sendPlan(planFd, plan);
      // Its EOF ends the plan.
      native.closeFd({ fd: planFd });
      planFd = -1;
      let report = await next();
      if (report.kind === ReportKind.Paused && opts.onPaused) {
        try {
          await opts.onPaused(report.pid);
        } catch (err) {
          native.closeFd({ fd: ours }); // EOF: the monitor kills the init, cleans up and exits
          ours = -1;
          await reap(monitorPid);
          reaped = true;
          throw err;
        }
        fs.writeSync(ours, Buffer.of(1));
        report = await next();
      }
      if (report.kind === ReportKind.Failed) {
        await reap(monitorPid);
        reaped = true;
        throw reportToError(report);
      }
      const want = opts.expectCreated ? ReportKind.Created : ReportKind.Started;
      if (report.kind !== want || report.pid <= 0) throw new RuntimeError(`the monitor sent an unexpected report (kind ${report.kind})`);
      return new Monitor(monitorPid, report.pid);
    } catch (err) {
      // Whatever went wrong, no monitor (nor, through its parent-death signal, container) may run on untracked.
      if (!reaped) {
        try {
          process.kill(monitorPid, 'SIGKILL');
        } catch {
          // gone already
        }
        await reap(monitorPid).catch(() => undefined);
      }
      throw err;
    } finally {
      if (planFd >= 0) native.closeFd({ fd: planFd });
      if (ours >= 0) native.closeFd({ fd: ours });
    }
  }

  /** Unless launched: the monitor gets an empty plan and exits, and is reaped. */
  async cancel(): Promise<void> {
    if (this.done) return;
    this.done = true;
    const native = loadNative();
    native.closeFd({ fd: this.planFd });
    native.closeFd({ fd: this.reportFd });
    await reap(this.pid);
  }
}

/**
 * Writes the plan into the pipe. A monitor already gone (EPIPE) is left for
 * the next report read to find: EOF, then its exit status.
 */
function sendPlan(fd: number, plan: Buffer): void {
  try {
    for (let off = 0; off < plan.length; ) off += fs.writeSync(fd, plan, off);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
  }
}

/**
 * Reads one report. The monitor writes nothing more until it is answered,
 * and a monitor that dies first closes the socket: undefined, EOF without a
 * whole record.
 */
function readReport(fd: number, timeoutMs: number): Report | undefined {
  let buf: Buffer;
  try {
    buf = loadNative().readExact({ fd, size: REPORT_SIZE, timeoutMs });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ETIMEDOUT') throw new RuntimeError(`the container did not start within ${timeoutMs / 1000}s`);
    throw err;
  }
  return buf.length < REPORT_SIZE ? undefined : decodeReport(buf);
}

/** Waits for a monitor to exit: its exit code, 128+N if killed by signal N. */
async function reap(monitorPid: number): Promise<number> {
  for (;;) {
    const exit = await loadNative().waitExit({ pid: monitorPid });
    if (exit) return exit.code ?? 128 + (exit.signal ?? 0);
    // Exited under a tracer (strace -p, gdb): ours to reap once it has let go.
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Forwards the signals a user sends to `tsrun run`/`exec` to the monitor,
 * which passes them to the container (docker's sig-proxy). With a terminal,
 * SIGWINCH goes too, so the monitor copies the new window size.
 */
export function proxySignals(monitor: Monitor, opts: { tty?: boolean } = {}): () => void {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  if (opts.tty) signals.push('SIGWINCH');
  const handler = (sig: NodeJS.Signals) => monitor.kill(sig);
  for (const sig of signals) process.on(sig, handler);
  return () => {
    for (const sig of signals) process.off(sig, handler);
  };
}
