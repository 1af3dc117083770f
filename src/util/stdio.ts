import * as fs from 'node:fs';

const viaStream = { 1: false, 2: false };

/**
 * A command's output (writeStdout) and its messages (writeStderr), written
 * to fd 1 and fd 2 as they are. process.stdout and process.stderr would load
 * net, stream and tty first (~2 ms of every command that prints, or that
 * fails), and make a pipe non-blocking for every process that shares it
 * (libuv's uv_pipe_open).
 *
 * A reader that stops early (`tsrun ps | head -1`) ends the command with
 * status 141, as the SIGPIPE that kills docker's CLI and coreutils there
 * would, instead of a stack trace. A non-blocking fd handed down to us
 * (EAGAIN) is left to the stream, which waits for it to drain, for that
 * write and every later one, so lines stay in order.
 */
export function writeStdout(text: string): void {
  write(1, text);
}

export function writeStderr(text: string): void {
  write(2, text);
}

function write(fd: 1 | 2, text: string): void {
  const stream = () => (fd === 1 ? process.stdout : process.stderr);
  if (viaStream[fd]) {
    stream().write(text);
    return;
  }
  let rest = Buffer.from(text);
  while (rest.length > 0) {
    try {
      rest = rest.subarray(fs.writeSync(fd, rest));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') process.exit(141);
      if (code !== 'EAGAIN') throw err;
      viaStream[fd] = true;
      stream().write(rest);
      return;
    }
  }
}
