import { UsageError } from '../errors.js';

/**
 * One line typed at the terminal, after a prompt on stderr; without echo
 * for a password (the terminal in raw mode, so the keys are not shown).
 * Not a terminal: a usage error, since nobody can answer.
 */
export function readSecretInput(prompt: string, opts: { echo: boolean }): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return Promise.reject(new UsageError(`${prompt.replace(/: $/, '').toLowerCase()} needed: give it as an option (standard input is not a terminal)`));
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  return new Promise((resolve) => {
    let line = '';
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          finish();
          resolve(line);
          return;
        }
        if (ch === '\u0003') {
          // ctrl-c: the terminal is raw, so no SIGINT came; leave as it would have.
          finish();
          process.exit(130);
        }
        if (ch === '\u007f') {
          line = line.slice(0, -1);
          if (opts.echo) process.stderr.write('\b \b');
        } else {
          line += ch;
          if (opts.echo) process.stderr.write(ch);
        }
      }
    };
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    stdin.on('data', onData);
  });
}
