import * as fs from 'node:fs';

/** How each of fd 1 and fd 2 is written: directly, through the Node stream (after EAGAIN), or not at all (reader gone). */
const mode: Record<1 | 2, 'direct' | 'stream' | 'closed'> = { 1: 'direct', 2: 'direct' };

/**
 * A command's output (writeStdout) and its messages (writeStderr), written
 * to fd 1 and fd 2 as they are. process.stdout and process.stderr would load
 * net, stream and tty first (~2 ms of every command that prints, or that
 * fails), and make a pipe non-blocking for every process that shares it
 * (libuv's uv_pipe_open).
 *
 * A reader that stops early (`tsrun ps | head -1`) gets nothing more, and
 * the command ends with status 141, as the SIGPIPE that ends docker's CLI
 * and coreutils there would, not with a stack trace. It is not cut short
 * where it stands: `rmi` prints between the steps of a removal, which must
 * all happen. A streaming command stops when this returns false. A
 * non-blocking fd handed down to us (EAGAIN) is left to the Node stream,
 * which waits for it to drain, for that write and every later one, so lines
 * stay in order.
 */
export function writeStdout(text: string): boolean {
  return write(1, text);
}

export function writeStderr(text: string): boolean {
  return write(2, text);
}

function write(fd: 1 | 2, text: string): boolean {
  if (mode[fd] === 'closed') return false;
  if (mode[fd] === 'stream') {
    stream(fd).write(text);
    return true;
  }
  let rest = Buffer.from(text);
  while (rest.length > 0) {
    try {
      rest = rest.subarray(fs.writeSync(fd, rest));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') return readerGone(fd);
      if (code !== 'EAGAIN') throw err;
      mode[fd] = 'stream';
      stream(fd).on('error', (e: NodeJS.ErrnoException) => {
        if (e.code !== 'EPIPE') throw e;
        readerGone(fd);
      });
      stream(fd).write(rest);
      return true;
    }
  }
  return true;
}

const stream = (fd: 1 | 2) => (fd === 1 ? process.stdout : process.stderr);

function readerGone(fd: 1 | 2): false {
  mode[fd] = 'closed';
  if (!process.exitCode) process.exitCode = 141;
  return false;
}
