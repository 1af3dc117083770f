import { Command, CommanderError, Option } from 'commander';
import { ContainerStartError, RuntimeError } from '../errors.js';
import { setLogLevel } from '../log.js';
import { deferTeardownAtExit } from '../native/binding.js';
import { makeContext, type Context } from '../runtime/context.js';
import { aliasesOf, commandWord, expandManagementCommand } from './management.js';
import { writeStderr, writeStdout } from '../util/stdio.js';
import { COMMIT, VERSION } from '../version.js';

/**
 * tsrun's command line: commander wiring only. Each verb lives in its own
 * file and loads the runtime it needs when it runs, so `tsrun ps` never
 * pays for the image loader and nothing heavy happens at import time.
 * main.ts has every verb; each NAME-main.ts the verbs of one file, bundled
 * on their own (bin/load-cli.cjs LEAN_BUNDLES).
 */
export type ContextFactory = () => Context;

export type Registrar = (program: Command, ctx: ContextFactory) => void;

/** Registrars and the top-level commands each adds. */
export type Registrars = readonly (readonly [Registrar, readonly string[]])[];

/** The program for this command line (argv as process.argv, management commands expanded); all of it without one. */
export function buildProgramOf(registrars: Registrars, argv: string[] = []): Command {
  const program = new Command('tsrun');
  program
    .description('Run containers from layered images on overlayfs, like docker; and an OCI runtime, like runc.')
    .version(`tsrun version ${VERSION}, build ${COMMIT}`, '-v, --version')
    .addOption(new Option('--root <dir>', 'where images, layers and containers are stored').env('TSRUN_ROOT').default('/var/lib/tsrun'))
    .addOption(new Option('--runroot <dir>', 'where volatile state (pids, locks) is kept').env('TSRUN_RUNROOT').default('/run/tsrun'))
    .addOption(new Option('--log-level <level>', 'log level on stderr').choices(['trace', 'debug', 'info', 'warn', 'error']).default('warn'))
    .option('--debug', 'print error causes and debug logs')
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: writeStdout,
      writeErr: writeStderr,
      outputError: (text, write) => write(`tsrun: ${text.replace(/^error: /, '')}`),
    });

  // One context a command, made once the global options are parsed: what it caches (the images read) is shared by every step.
  let made: Context | undefined;
  const ctx: ContextFactory = () => {
    if (made === undefined) {
      const g = program.opts<{ root: string; runroot: string; logLevel: string; debug?: boolean }>();
      setLogLevel(g.debug ? 'debug' : g.logLevel);
      made = makeContext({ root: g.root, runroot: g.runroot, selfCommand: [process.execPath, process.argv[1]!] });
    }
    return made;
  };

  const word = commandWord(argv);
  const owners = registrars.filter(([, names]) => names.includes(word ?? ''));
  for (const [register] of owners.length === 1 ? owners : registrars) register(program, ctx);
  for (const group of ['container', 'image'] as const) {
    const cmd = program.commands.find((c) => c.name() === group);
    cmd?.description(`${cmd.description()}; also ${group} ${aliasesOf(group)}, as docker's (the top-level commands)`);
  }
  return program;
}

/** Parses and runs one command line; exits with docker's code on an error. */
export async function runCli(registrars: Registrars, argv: string[]): Promise<void> {
  deferTeardownAtExit();
  const expanded = expandManagementCommand(argv);
  const program = buildProgramOf(registrars, expanded);
  for (const cmd of program.commands) cmd.exitOverride().configureOutput(program.configureOutput());
  try {
    await program.parseAsync(expanded);
  } catch (err) {
    process.exit(exitCodeFor(err, commandWord(expanded), program.opts<{ debug?: boolean }>().debug === true));
  }
}

/**
 * Prints one line for an error and returns docker's exit code for it:
 * 125 for a command line commander refuses; run's and create's own codes
 * (125 tsrun failed, 126 cannot execute, 127 not found); exec's 126/127
 * when its command cannot run; 1 for every other command's error, as
 * docker's CLI returns for any error but a flag's.
 */
function exitCodeFor(err: unknown, word: string | undefined, debug: boolean): number {
  if (err instanceof CommanderError) {
    // commander already printed its message; help (also for a bare `tsrun`, as docker) and version are not errors.
    return err.exitCode === 0 || err.code === 'commander.help' ? 0 : 125;
  }
  // Our standard output's reader went away (`tsrun export c | head -c 10`): ended as SIGPIPE ends docker's CLI, quietly (stdio.ts).
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'EPIPE' && e.syscall === 'write') return 141;
  const message = err instanceof Error ? err.message : String(err);
  writeStderr(`tsrun: ${message}\n`);
  if (debug) {
    for (let cause: unknown = err; cause instanceof Error; cause = cause.cause) {
      writeStderr(`${cause.stack ?? cause.message}\n`);
    }
  }
  if (word === 'run' || word === 'create') return err instanceof RuntimeError ? err.exitCode : 125;
  // exec: a process that cannot be started in the container is 126 (docker's "OCI runtime exec failed"), a command not found 127.
  return word === 'exec' && err instanceof ContainerStartError ? (err.exitCode === 127 ? 127 : 126) : 1;
}
