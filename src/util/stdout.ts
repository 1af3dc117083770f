import * as fs from 'node:fs';

let viaStream = false;

/**
 * A command's output, written to fd 1 as it is. process.stdout would load
 * net, stream and tty first (~2 ms of every command that prints), and make
 * a pipe non-blocking for every process that shares it (libuv's
 * uv_pipe_open).
 *
 * A reader that stops early (`tsrun ps | head -1`) ends the command with
 * status 141, as the SIGPIPE that kills docker's CLI and coreutils there
 * would, instead of a stack trace. A non-blocking fd 1 handed down to us
 * (EAGAIN) is left to process.stdout, which waits for it to drain, for
 * that write and every later one, so lines stay in order.
 */
export function writeStdout(text: string): void {
  if (viaStream) {
    process.stdout.write(text);
    return;
  }
  let rest = Buffer.from(text);
  while (rest.length > 0) {
    try {
      rest = rest.subarray(fs.writeSync(1, rest));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') process.exit(141);
      if (code !== 'EAGAIN') throw err;
      viaStream = true;
      process.stdout.write(rest);
      return;
    }
  }
}
