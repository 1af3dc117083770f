import * as fs from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { ContainerStartError, UsageError } from '../errors.js';
import { repeatable } from '../cli/options.js';
import { DEFAULT_OCI_ROOT, type OciPaths } from './state.js';
import { checkResources } from './bundle.js';
import { OCI_VERSION, type OciProcess } from './spec.js';
import type { OciResources } from '../runtime/cgroups/limits.js';
import { setLogName } from '../log.js';
import { deferTeardownAtExit } from '../native/binding.js';
import { parseBytes } from '../util/bytes.js';
import { writeStderr, writeStdout } from '../util/stdio.js';
import { COMMIT, VERSION } from '../version.js';

/**
 * tsrun-oci: the OCI runtime command line, runc's verbs and flags, so that
 * podman (`--runtime`), containerd and anything else that drives runc can
 * drive tsrun. Errors: one line on stderr (and in --log), exit status 1,
 * as runc; `run` and `exec` in the foreground exit with the process's status.
 */
interface Globals {
  root: string;
  log?: string;
  logFormat: 'text' | 'json';
  debug?: boolean;
  rootless: string;
}

export function buildOciProgram(): Command {
  const program = new Command('tsrun-oci');
  program
    .description("tsrun's OCI runtime: runs OCI bundles with runc's command line (create, start, state, kill, delete, run, exec).")
    .version(versionText(), '-v, --version')
    .addOption(new Option('--root <dir>', 'where container state is kept').default(DEFAULT_OCI_ROOT))
    .option('--log <file>', 'also write errors to this file (podman and containerd read it)')
    .addOption(new Option('--log-format <format>', 'format of --log lines').choices(['text', 'json']).default('text'))
    .option('--debug', 'print error causes')
    .option('--systemd-cgroup', "cgroupsPath is systemd's slice:prefix:name (made in cgroupfs where systemd would put it; systemd is not asked)")
    .option('--criu <path>', 'accepted for runc compatibility (containerd passes it when configured); checkpoint and restore are not supported')
    .addOption(new Option('--rootless <value>', 'accepted for runc compatibility: only false (or auto as root) is supported').default('auto'))
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: writeStdout, writeErr: writeStderr, outputError: (text, write) => write(`tsrun-oci: ${text.replace(/^error: /, '')}`) });

  const paths = (): OciPaths => {
    const g = program.opts<Globals>();
    if (g.rootless === 'true' || (g.rootless === 'auto' && process.getuid?.() !== 0)) throw new UsageError('rootless containers are not supported: run tsrun-oci as root');
    return { root: g.root };
  };
  const rt = () => import('./runtime.js');

  program
    .command('version')
    .description("print the version, as runc's (its first line names the runtime)")
    .action(() => {
      writeStdout(`${versionText()}\n`);
    });

  program
    .command('create')
    .description('create a container from a bundle; its process waits until `start`')
    .argument('<id>', 'a name for the container, unique under --root')
    .option('-b, --bundle <dir>', 'the bundle directory (config.json and the root filesystem)', '.')
    .option('--console-socket <path>', 'AF_UNIX socket that receives the terminal master (process.terminal)')
    .option('--pid-file <file>', "write the container process's pid here")
    .option('--no-pivot', 'accepted for runc compatibility; tsrun always uses pivot_root')
    .option('--no-new-keyring', "keep the caller's session keyring instead of one of the container's own (_ses.ID)")
    .option('--preserve-fds <n>', 'pass the caller\'s fds 3..3+N-1 on to the process, as the same numbers', '0')
    .action(async (id: string, o: { bundle: string; consoleSocket?: string; pidFile?: string; preserveFds: string }) => {
      await (await rt()).ociCreate(paths(), id, { ...o, ...passedFds(o.preserveFds) });
    });

  program
    .command('start')
    .description('start the process of a created container')
    .argument('<id>')
    .action(async (id: string) => (await rt()).ociStart(paths(), id));

  program
    .command('state')
    .description("print a container's state as JSON (runtime spec \"State\")")
    .argument('<id>')
    .action(async (id: string) => {
      writeStdout(`${JSON.stringify((await rt()).ociState(paths(), id), null, 2)}\n`);
    });

  program
    .command('kill')
    .description('send a signal (default SIGTERM) to the container process')
    .argument('<id>')
    .argument('[signal]', 'a name (TERM, SIGKILL) or a number', 'SIGTERM')
    .option('-a, --all', 'signal every process in the container\'s cgroups')
    .action(async (id: string, signal: string, o: { all?: boolean }) => (await rt()).ociKill(paths(), id, signal, o.all === true));

  program
    .command('pause')
    .description('freeze every process of a running container')
    .argument('<id>')
    .action(async (id: string) => (await rt()).ociPause(paths(), id, true));

  program
    .command('resume')
    .description('thaw a paused container')
    .argument('<id>')
    .action(async (id: string) => (await rt()).ociPause(paths(), id, false));

  program
    .command('update')
    .description("change a container's cgroup limits (what is not given stays)")
    .argument('<id>')
    .option('-r, --resources <file>', 'linux.resources as OCI JSON (config-linux.md), - for standard input')
    .option('--memory <bytes>', 'memory limit (128m, 1g, or bytes)')
    .option('--memory-swap <bytes>', 'memory plus swap limit (-1: unlimited)')
    .option('--cpu-period <us>', 'CFS period')
    .option('--cpu-quota <us>', 'CFS quota (-1: none)')
    .option('--cpu-share <shares>', 'CPU weight (cpu.shares)')
    .option('--cpuset-cpus <list>', 'CPUs to run on (0-3)')
    .option('--cpuset-mems <list>', 'memory nodes to use')
    .option('--pids-limit <n>', 'maximum number of processes (-1 or 0: none)')
    .option('--blkio-weight <n>', 'relative block I/O weight, 10 to 1000 (needs the CFQ or BFQ scheduler)')
    .action(async (id: string, o: UpdateFlags) => (await rt()).ociUpdate(paths(), id, updateResources(o)));

  program
    .command('delete')
    .description("remove a stopped container's state and cgroups")
    .argument('<id>')
    .option('-f, --force', 'kill the container first if it still runs; no error if it does not exist')
    .action(async (id: string, o: { force?: boolean }) => (await rt()).ociDelete(paths(), id, o.force === true));

  program
    .command('run')
    .description('create and start a container; in the foreground, wait for it, exit with its status and delete it')
    .argument('<id>')
    .option('-b, --bundle <dir>', 'the bundle directory', '.')
    .option('-d, --detach', 'return once the process runs')
    .option('--console-socket <path>', 'AF_UNIX socket that receives the terminal master')
    .option('--pid-file <file>', "write the container process's pid here")
    .option('--no-pivot', 'accepted for runc compatibility')
    .option('--no-new-keyring', "keep the caller's session keyring instead of one of the container's own (_ses.ID)")
    .option('--preserve-fds <n>', 'pass the caller\'s fds 3..3+N-1 on to the process, as the same numbers', '0')
    .option('--keep', 'in the foreground, keep the container (stopped) after it exits instead of deleting it')
    .option('--no-subreaper', 'accepted for runc compatibility; tsrun-oci is not a subreaper')
    .action(async (id: string, o: { bundle: string; detach?: boolean; consoleSocket?: string; pidFile?: string; preserveFds: string; keep?: boolean }) => {
      process.exitCode = await (await rt()).ociRun(paths(), id, { ...o, detach: o.detach === true, keep: o.keep === true, ...passedFds(o.preserveFds) });
    });

  program
    .command('exec')
    .description('run one more process in a container')
    .argument('<id>')
    .argument('[command...]', 'the command and its arguments (or --process)')
    .option('-p, --process <file>', 'the process as OCI JSON (config.md "process")')
    .option('-d, --detach', 'return once the process runs')
    .option('--pid-file <file>', "write the process's pid here")
    .option('--console-socket <path>', 'AF_UNIX socket that receives the terminal master')
    .option('-t, --tty', 'give the process a terminal')
    .option('--cwd <dir>', 'working directory in the container')
    .addOption(repeatable('-e, --env <KEY=VALUE>', 'set an environment variable'))
    .option('-u, --user <uid[:gid]>', 'run as this user (numbers)')
    .addOption(repeatable('-g, --additional-gids <gid>', 'add a supplementary group (a number)'))
    .addOption(repeatable('-c, --cap <cap>', 'add a capability'))
    .option('--no-new-privs', 'set no_new_privs for the process')
    .option('--apparmor <profile>', 'the AppArmor profile for the process')
    .option('--process-label <label>', 'the SELinux label for the process (refused where SELinux is enabled: tsrun does not support it)')
    .option('--ignore-paused', 'exec even if the container is paused: the process starts frozen, and exec waits until the container is resumed')
    .option('--preserve-fds <n>', 'pass the caller\'s fds 3..3+N-1 on to the process, as the same numbers', '0')
    .passThroughOptions()
    .action(async (id: string, command: string[], o: ExecFlags) => {
      process.exitCode = await (await rt()).ociExec(paths(), id, {
        preserveFds: preserveFds(o.preserveFds),
        process: o.process !== undefined ? readProcess(o.process) : undefined,
        args: command,
        env: o.env ?? [],
        cwd: o.cwd,
        user: o.user,
        tty: o.tty === true,
        detach: o.detach === true,
        pidFile: o.pidFile,
        consoleSocket: o.consoleSocket,
        noNewPrivs: o.newPrivs === false ? true : undefined,
        capAdd: o.cap ?? [],
        additionalGids: (o.additionalGids ?? []).map(gidNumber),
        apparmorProfile: o.apparmor,
        selinuxLabel: o.processLabel,
        ignorePaused: o.ignorePaused === true,
      });
    });

  program
    .command('list')
    .description('list containers')
    .addOption(new Option('-f, --format <format>', 'table or json').choices(['table', 'json']).default('table'))
    .option('-q, --quiet', 'ids only')
    .action(async (o: { format: string; quiet?: boolean }) => {
      const all = (await rt()).ociList(paths());
      if (o.quiet) writeStdout(all.map((c) => `${c.id}\n`).join(''));
      else if (o.format === 'json') writeStdout(`${JSON.stringify(all)}\n`);
      else writeStdout(table([['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'], ...all.map((c) => [c.id, String(c.pid), c.status, c.bundle, c.created, 'root'])]));
    });

  program
    .command('ps')
    .description("list a container's processes (its cgroups): ps(1)'s rows for them (ps -ef unless options follow the id), or their pids as JSON")
    .argument('<id>')
    .argument('[ps-options...]', 'options for ps(1)')
    .addOption(new Option('-f, --format <format>', 'table or json').choices(['table', 'json']).default('table'))
    .passThroughOptions()
    .action(async (id: string, psArgs: string[], o: { format: string }) => {
      const pids = (await rt()).ociPids(paths(), id);
      writeStdout(o.format === 'json' ? `${JSON.stringify(pids)}\n` : (await import('../runtime/cgroups/container.js')).psTable(pids, psArgs));
    });

  program
    .command('spec')
    .description("write a default config.json (runc's example: sh on a terminal, rootfs in ./rootfs)")
    .option('-b, --bundle <dir>', 'where to write it', '.')
    .action(async (o: { bundle: string }) => (await import('./default-spec.js')).writeDefaultSpec(o.bundle));

  // runc's checkpoint and restore need CRIU; a caller (podman container checkpoint) gets the reason, not "unknown command".
  for (const [name, what] of [['checkpoint', 'checkpoint a running container'], ['restore', 'restore a container from a checkpoint']] as const) {
    program
      .command(name)
      .description(`${what} (not supported: tsrun-oci has no CRIU support)`)
      .allowUnknownOption()
      .argument('[args...]')
      .action(() => {
        throw new UsageError(`${name} is not supported: tsrun-oci cannot checkpoint or restore containers (it has no CRIU support)`);
      });
  }

  program
    .command('features')
    .description('print what this runtime supports as JSON (runc features)')
    .action(async () => {
      writeStdout(`${JSON.stringify((await import('./default-spec.js')).features(), null, 2)}\n`);
    });

  return program;
}

interface UpdateFlags {
  resources?: string;
  blkioWeight?: string;
  memory?: string;
  memorySwap?: string;
  cpuPeriod?: string;
  cpuQuota?: string;
  cpuShare?: string;
  cpusetCpus?: string;
  cpusetMems?: string;
  pidsLimit?: string;
}

/** runc update's flags (numbers in bytes or units of the kernel's files), over --resources JSON if both are given. */
function updateResources(o: UpdateFlags): OciResources {
  let res: OciResources = {};
  if (o.resources !== undefined) {
    try {
      res = JSON.parse(fs.readFileSync(o.resources === '-' ? 0 : o.resources, 'utf8')) as OciResources;
    } catch (err) {
      throw new UsageError(`cannot read the resources from ${o.resources === '-' ? 'standard input' : o.resources}: ${(err as Error).message}`);
    }
    checkResources(res, 'resources', (what) => new UsageError(`update: ${what}`));
  }
  const num = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n)) throw new UsageError(`${flag} needs a whole number: ${JSON.stringify(v)}`);
    return n;
  };
  const bytes = (v: string | undefined) => (v === undefined ? undefined : v === '-1' ? -1 : parseBytes(v));
  const memory = { ...res.memory, ...defined({ limit: bytes(o.memory), swap: bytes(o.memorySwap) }) };
  const cpu = { ...res.cpu, ...defined({ period: num('--cpu-period', o.cpuPeriod), quota: num('--cpu-quota', o.cpuQuota), shares: num('--cpu-share', o.cpuShare), cpus: o.cpusetCpus, mems: o.cpusetMems }) };
  const pids = num('--pids-limit', o.pidsLimit);
  const blockIO = { ...res.blockIO, ...defined({ weight: num('--blkio-weight', o.blkioWeight) }) };
  return {
    ...(Object.keys(memory).length ? { memory } : {}),
    ...(Object.keys(cpu).length ? { cpu } : {}),
    ...(pids !== undefined ? { pids: { limit: pids } } : res.pids ? { pids: res.pids } : {}),
    ...(Object.keys(blockIO).length ? { blockIO } : {}),
  };
}

const defined = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

interface ExecFlags {
  process?: string;
  detach?: boolean;
  pidFile?: string;
  consoleSocket?: string;
  tty?: boolean;
  cwd?: string;
  env?: string[];
  user?: string;
  cap?: string[];
  newPrivs?: boolean;
  preserveFds: string;
  additionalGids?: string[];
  apparmor?: string;
  processLabel?: string;
  ignorePaused?: boolean;
}

function gidNumber(s: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || n > 0xffffffff) throw new UsageError(`--additional-gids needs a group number: ${JSON.stringify(s)}`);
  return n;
}

/** runc's three lines (go-runc and docker read the first as "<name> version X"), the runtime spec's version last. */
function versionText(): string {
  return `tsrun-oci version ${VERSION}\ncommit: ${COMMIT}\nspec: ${OCI_VERSION}`;
}

/** --preserve-fds N: the caller's fds from `first` (3, or past the listening ones) to first+N-1. */
function preserveFds(n: string, first = 3): number {
  const count = Number(n);
  if (!Number.isInteger(count) || count < 0 || count > 1000) throw new UsageError(`--preserve-fds needs a count from 0 to 1000: ${JSON.stringify(n)}`);
  return mustBeOpen(first, count, `--preserve-fds ${count}`);
}

/** Each of fds first..first+count-1 must be open (a number past them is a mistake, said now); the count. */
function mustBeOpen(first: number, count: number, what: string): number {
  for (let fd = first; fd < first + count; fd++) {
    try {
      fs.fstatSync(fd);
    } catch {
      throw new UsageError(`${what}: fd ${fd} is not open`);
    }
  }
  return count;
}

/**
 * create's and run's fds for the process, as runc passes them: systemd's
 * socket activation first (when LISTEN_PID names this process, its
 * LISTEN_FDS sockets from fd 3 on: podman's socket-activated containers),
 * then --preserve-fds, all at their own numbers.
 */
function passedFds(preserve: string): { listenFds: number; preserveFds: number } {
  const listening = process.env.LISTEN_FDS !== undefined && Number(process.env.LISTEN_PID) === process.pid;
  // A LISTEN_FDS that is not a count is ignored, as runc's go-systemd does.
  const count = listening ? Number(process.env.LISTEN_FDS) : 0;
  const listenFds = mustBeOpen(3, Number.isInteger(count) && count > 0 && count <= 1000 ? count : 0, `LISTEN_FDS=${count}`);
  return { listenFds, preserveFds: preserveFds(preserve, 3 + listenFds) };
}

function readProcess(file: string): OciProcess {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as OciProcess;
  } catch (err) {
    throw new UsageError(`cannot read the process from ${file}: ${(err as Error).message}`);
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('') + '\n').join('');
}

export async function ociMain(argv: string[]): Promise<void> {
  setLogName('tsrun-oci');
  deferTeardownAtExit();
  const program = buildOciProgram();
  let verb = '';
  program.hook('preAction', (_, action) => {
    verb = action.name();
  });
  for (const cmd of program.commands) cmd.exitOverride().configureOutput(program.configureOutput());
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const g = program.opts<Globals>();
    if (err instanceof CommanderError) {
      const help = err.exitCode === 0 || err.code === 'commander.help' || err.code === 'commander.version';
      // A usage error reaches --log too: containerd and podman show what is there, not only "exit status 1".
      if (!help && g.log) logError(g.log, g.logFormat, err.message.replace(/^error: /, ''));
      process.exit(help ? 0 : 1);
    }
    const message = err instanceof Error ? err.message : String(err);
    writeStderr(`tsrun-oci: ${message}\n`);
    if (g.debug) for (let c: unknown = err; c instanceof Error; c = c.cause) writeStderr(`${c.stack ?? c.message}\n`);
    if (g.log) logError(g.log, g.logFormat, message);
    process.exit(exitStatus(verb, err));
  }
}

/** 1, as runc; but `run` and `exec` exit with the process's status, so one that cannot start is 127 (not found) or 126 (not executable). */
function exitStatus(verb: string, err: unknown): number {
  if ((verb === 'run' || verb === 'exec') && err instanceof ContainerStartError && (err.exitCode === 126 || err.exitCode === 127)) return err.exitCode;
  return 1;
}

/** runc's --log: podman and containerd read the runtime's errors from this file (JSON with --log-format json). */
function logError(file: string, format: 'text' | 'json', msg: string): void {
  const time = new Date().toISOString();
  const line = format === 'json' ? JSON.stringify({ level: 'error', msg, time }) : `time="${time}" level=error msg=${JSON.stringify(msg)}`;
  try {
    fs.appendFileSync(file, `${line}\n`);
  } catch {
    // the error is on stderr already
  }
}
