import * as fs from 'node:fs';
import * as net from 'node:net';
import { RuntimeError } from '../../errors.js';
import { attachSocket, containerFile } from '../../store/paths.js';
import type { Context } from '../context.js';
import { readLog } from '../logs/read-log.js';
import { assertLogReadable } from '../logs/log-config.js';
import { readRecord, readRuntime } from '../state/record.js';
import { currentState, isRunning } from '../state/status.js';
import { writeStderr, writeStdout } from '../../util/stdio.js';
import { sendSignal } from './kill.js';
import { waitContainer } from './stop.js';

/** docker's default detach keys, ctrl-p ctrl-q: with a terminal they leave the container running. */
const CTRL_P = 0x10;
const CTRL_Q = 0x11;

/**
 * `attach`: a running container's output from now on (its monitor writes
 * it to the log, which this follows), our stdin to its stdin when it was
 * made with -i (through its monitor's attach socket), signals passed on to
 * it (docker's sig-proxy), and its exit code once it stops. With a
 * terminal, ctrl-p ctrl-q detaches and leaves it running.
 */
export async function attachContainer(ctx: Context, id: string, opts: { sigProxy: boolean; stdin: boolean }): Promise<number> {
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
  let detached = false;
  if (opts.sigProxy) for (const s of signals) process.on(s, forward);
  let input: AttachedStdin | undefined;
  try {
    input = opts.stdin && rec.options.openStdin ? await connectStdin(ctx, id, rec.options.tty === true, () => (detached = true)) : undefined;
    await followOutput(ctx, id, since, () => detached);
  } finally {
    input?.close();
    if (opts.sigProxy) for (const s of signals) process.off(s, forward);
  }
  return detached ? 0 : waitContainer(ctx, id);
}

/** The container's output from `since` on, until it stops (or `stop` says so). */
export async function followOutput(ctx: Context, id: string, since: number | undefined, stop: () => boolean = () => false): Promise<void> {
  assertLogReadable(readRecord(ctx.paths, id)?.options.logConfig);
  return readLog(containerFile(ctx.paths, id, 'ctr.log'), {
    follow: true,
    timestamps: false,
    since,
    isRunning: () => !stop() && isRunning(ctx.paths, id),
    write: (stream, text) => (stream === 'stdout' ? writeStdout : writeStderr)(text),
  });
}

export interface AttachedStdin {
  close(): void;
}

/**
 * Our stdin to a -i container's stdin, through its monitor's socket (one
 * client at a time: a second attach waits for the first to leave). Our EOF
 * ends only this client: the container's stdin stays open, as docker's.
 * With a container terminal and ours, ours goes raw so keys reach it as
 * typed, and ctrl-p ctrl-q calls onDetach instead.
 */
export async function connectStdin(ctx: Context, id: string, tty: boolean, onDetach: () => void): Promise<AttachedStdin | undefined> {
  // None: the container was started in the foreground with -i, and takes its input from that terminal.
  if (!fs.existsSync(attachSocket(ctx.paths, id))) return undefined;
  const sock = await connectAttachSocket(attachSocket(ctx.paths, id));
  const stdin = process.stdin;
  const raw = tty && stdin.isTTY === true;
  if (raw) stdin.setRawMode(true);
  let heldCtrlP = false;
  const onData = (chunk: Buffer) => {
    if (!raw) {
      sock.write(chunk);
      return;
    }
    // The detach sequence may be split across reads: a ctrl-p is held until the next byte.
    const out: number[] = [];
    for (const byte of chunk) {
      if (heldCtrlP) {
        heldCtrlP = false;
        if (byte === CTRL_Q) {
          onDetach();
          return;
        }
        out.push(CTRL_P);
      }
      if (byte === CTRL_P) heldCtrlP = true;
      else out.push(byte);
    }
    if (out.length) sock.write(Buffer.from(out));
  };
  const onEnd = () => sock.end();
  stdin.on('data', onData);
  stdin.on('end', onEnd);
  sock.on('error', () => {
    // The monitor went away with the container: the output side ends the attach.
  });
  return {
    close() {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.pause();
      if (raw) stdin.setRawMode(false);
      sock.destroy();
    },
  };
}

/**
 * The attach socket's path can pass sun_path's 108 bytes (a deep
 * --runroot): it is reached through an fd of its directory, as the monitor
 * bound it.
 */
function connectAttachSocket(socketPath: string): Promise<net.Socket> {
  const slash = socketPath.lastIndexOf('/');
  const dir = fs.openSync(socketPath.slice(0, slash), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  return new Promise((resolve, reject) => {
    const sock = net.connect(`/proc/self/fd/${dir}/${socketPath.slice(slash + 1)}`);
    const done = () => fs.closeSync(dir);
    sock.once('connect', () => {
      done();
      resolve(sock);
    });
    sock.once('error', (err) => {
      done();
      reject(new RuntimeError(`cannot attach to the container's input: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err }));
    });
  });
}
