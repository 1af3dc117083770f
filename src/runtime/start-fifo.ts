import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RuntimeError } from '../errors.js';
import type { NativeBinding } from '../native/types.js';
import { unlinkIfExists } from '../util/remove-file.js';

/**
 * The created state (runc's exec.fifo): the init, fully set up, blocks
 * opening this FIFO for writing until `start` opens it for reading and
 * takes its byte; then it goes on to execve.
 */

/** A fresh FIFO (0600) at `fifo`, its directory made if needed. */
export function makeStartFifo(native: NativeBinding, fifo: string): string {
  fs.mkdirSync(path.dirname(fifo), { recursive: true, mode: 0o700 });
  unlinkIfExists(fifo);
  native.mknodat({ dirFd: -100, name: fifo, mode: native.constants.S_IFIFO | 0o600, major: 0, minor: 0 });
  return fifo;
}

/** How long `start` waits for a created init to take the start signal. */
const RELEASE_TIMEOUT_MS = 10_000;

/** How long one wait for the byte lasts before the init's liveness is looked at again. */
const ALIVE_CHECK_MS = 50;

/**
 * Lets a created container's init go on to execve: open its FIFO for
 * reading and take the byte it writes, then remove the FIFO. The byte is
 * waited for with poll(2) (native readExact), so `start` goes on the moment
 * it comes, and the init's liveness is checked between waits, so a dead
 * init never hangs `start`. `untilExec`: then also until the init's end of
 * the FIFO closes (O_CLOEXEC: at its execve, or its death), for up to the
 * same timeout (startContainer hooks run in between).
 */
export async function releaseStartFifo(native: NativeBinding, fifo: string, name: string, alive: () => boolean, opts: { untilExec?: boolean } = {}): Promise<void> {
  const fd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const deadline = Date.now() + RELEASE_TIMEOUT_MS;
    for (;;) {
      let n = 0;
      try {
        n = native.readExact({ fd, size: 1, timeoutMs: ALIVE_CHECK_MS }).length;
      } catch (err) {
        // EAGAIN: another reader took the byte between poll and read; the init is checked below as for a timeout.
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ETIMEDOUT' && code !== 'EAGAIN') throw err;
      }
      if (n === 1) break;
      if (!alive()) throw new RuntimeError(`container ${name} died before it could start`);
      if (Date.now() > deadline) throw new RuntimeError(`container ${name} did not take the start signal within ${RELEASE_TIMEOUT_MS / 1000}s`);
      // End of file: the init closed its end without writing (it is on its way out); not a busy loop meanwhile.
      await sleep(2);
    }
    while (opts.untilExec && Date.now() < deadline) {
      try {
        if (native.readExact({ fd, size: 1, timeoutMs: ALIVE_CHECK_MS }).length === 0) break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ETIMEDOUT') throw err;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  unlinkIfExists(fifo);
}
