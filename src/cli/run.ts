import { type Command, Option } from 'commander';
import { ImageNotFoundError } from '../errors.js';
import type { ContextFactory } from './program.js';
import { repeatable } from './options.js';
import { writeStderr, writeStdout } from '../util/stdio.js';
import type { RunFlags } from './run-request.js';

/** The flags `run` and `create` share, as docker's. */
function containerFlags(cmd: Command): Command {
  return cmd
    .argument('<image>', 'image name or id')
    .argument('[command...]', "command and arguments (default: the image's Entrypoint and Cmd)")
    .helpOption('--help', 'display help for command') // -h is --hostname, as in docker
    .option('-i, --interactive', 'keep stdin attached')
    .option('-t, --tty', 'allocate a pseudo-terminal')
    .option('--rm', 'remove the container when it exits')
    .option('--init', 'run a tiny init as PID 1 that forwards signals and reaps orphans')
    .option('--name <name>', 'name the container')
    .addOption(repeatable('-e, --env <KEY=VALUE>', 'set an environment variable'))
    .addOption(repeatable('--env-file <file>', 'read environment variables from a file (KEY=VALUE lines, # comments)'))
    .option('-w, --workdir <dir>', 'working directory inside the container (created if missing)')
    .option('-u, --user <user[:group]>', 'user name or uid, and optionally group name or gid')
    .option('-h, --hostname <name>', 'container hostname (default: the short id)')
    .option('--entrypoint <cmd>', 'override the image\'s Entrypoint ("" clears it)')
    .addOption(repeatable('-l, --label <key=value>', 'set a label on the container (inspect, ps --filter label=)'))
    .addOption(repeatable('--label-file <file>', 'read labels from a file (KEY=VALUE lines, # comments); --label wins'))
    .addOption(repeatable('--expose <port[/proto]>', 'expose a port or a range (8000-8010/udp) without publishing it: -P publishes it'))
    .option('--cidfile <file>', 'write the container id to this file (which must not exist)')
    .option('--stop-signal <signal>', 'the signal `stop` sends first (default: the image\'s, else SIGTERM)')
    .option('--stop-timeout <seconds>', 'seconds `stop` waits before SIGKILL unless -t says (default 10; -1: for ever)')
    .addOption(repeatable('-v, --volume <[src:]dst[:opts]>', 'bind a host path or a named volume (no src: an anonymous volume); opts ro, rw'))
    .addOption(repeatable('--mount <type=...,source=...,target=...>', 'bind, volume or tmpfs mount'))
    .addOption(repeatable('--tmpfs <path[:opts]>', 'mount a tmpfs'))
    .option('--log-driver <driver>', 'json-file (the default), local (json-file kept to 5 files of 20 MiB) or none (no log: logs and attach cannot read it)')
    .addOption(repeatable('--log-opt <key=value>', 'json-file\'s max-size (as 10m) and max-file: rotate the log, keeping that many files'))
    .addOption(repeatable('--volumes-from <container[:ro|:rw]>', 'mount the volumes and binds of another container at the same paths (read-only or read-write with :ro/:rw; as they are otherwise)'))
    .addOption(repeatable('--cap-add <cap>', 'add a Linux capability, or ALL'))
    .addOption(repeatable('--cap-drop <cap>', 'drop a Linux capability, or ALL'))
    .option('--privileged', 'every capability, no masked /proc paths, /sys writable')
    .option('--read-only', 'mount the root filesystem read-only (tmpfs on /run, /tmp, /var/tmp)')
    .addOption(repeatable('--ulimit <name=soft[:hard]>', 'set a resource limit'))
    .addOption(repeatable('--sysctl <key=value>', 'set a namespaced kernel parameter'))
    .option('--shm-size <size>', 'size of /dev/shm (default 64m)')
    .option('--oom-score-adj <n>', "the container's OOM score adjustment, -1000 to 1000 (higher: killed first)")
    .addOption(repeatable('--device <host[:container][:rwm]>', 'a host device (or every one under a directory) in the container, with these permissions'))
    .addOption(repeatable('--device-cgroup-rule <rule>', 'also allow devices by a devices.allow line, as "c 10:229 rwm"'))
    .addOption(repeatable('--group-add <group>', 'add a supplementary group, by name or number'))
    .addOption(repeatable('--uidmap <container:host:amount>', "run in a user namespace of its own: these container uids are these host uids (podman's), so the container's root is no root on the host"))
    .addOption(repeatable('--gidmap <container:host:amount>', 'the same for gids (default: as --uidmap)'))
    .option('--userns <mode>', 'host (the default: no user namespace), or auto[:size=N]: a user namespace of its own whose N ids (default 65536) come from the subordinate ranges of the user "containers" in /etc/subuid and /etc/subgid, apart from every other container\'s (podman\'s)')
    .addOption(new Option('--pull <policy>', 'pull the image from its registry first').choices(['missing', 'always', 'never']).default('missing'))
    .option('--platform <os/arch>', 'the image\'s platform, as linux/amd64: pulled for it, and refused if the image is another\'s')
    .option('--net, --network <mode>', 'none (the default here without -p: only lo), bridge (eth0 on tsrun\'s bridge, NAT to the outside), host (the host\'s network) or container:NAME (another container\'s)')
    .addOption(repeatable('-p, --publish <[ip:][hostPort:]containerPort[/proto]>', 'forward a host port (free one if not given; ports may be ranges, 8000-8002:80-82) to the container (implies --network bridge)'))
    .option('-P, --publish-all', 'forward every port the image exposes, each from a free host port (implies --network bridge)')
    .addOption(repeatable('--add-host <name:ip>', 'add a line to the container\'s /etc/hosts'))
    .addOption(repeatable('--dns <ip>', 'a nameserver for the container\'s resolv.conf (instead of the host\'s)'))
    .addOption(repeatable('--dns-search <domain>', 'a search domain for its resolv.conf'))
    .addOption(repeatable('--dns-option <option>', 'a resolv.conf option (ndots:2, ...)'))
    .option('--pid <mode>', 'host: see and signal the host\'s processes; container:NAME: those of another container')
    .option('--ipc <mode>', 'private (default), host or container:NAME')
    .option('--uts <mode>', 'host: the host\'s hostname (no -h then)')
    .option('--restart <policy>', 'restart when the process exits: no, always, unless-stopped, on-failure[:max-retries] (default no)')
    .addOption(repeatable('--security-opt <opt>', 'seccomp=unconfined, seccomp=PROFILE.json, no-new-privileges[=false]'))
    .option('-m, --memory <bytes>', 'memory limit (e.g. 64m)')
    .option('--memory-swap <bytes>', 'memory plus swap limit (-1: unlimited swap; default twice --memory)')
    .option('--cpus <number>', 'number of CPUs (CFS quota over a 100 ms period)')
    .option('--cpu-shares <weight>', 'relative CPU weight (default 1024)')
    .option('--cpuset-cpus <list>', 'CPUs the container may run on (0-3, 0,1)')
    .option('--pids-limit <n>', 'maximum number of processes (-1: unlimited)')
    .option('--memory-reservation <bytes>', 'soft memory limit, kept to under memory pressure')
    .option('--memory-swappiness <n>', '0-100: how readily its memory is swapped (cgroup v1)')
    .option('--oom-kill-disable', 'the OOM killer leaves its processes alone (cgroup v1; set -m too)')
    .option('--cpu-period <us>', 'CFS period, with --cpu-quota (instead of --cpus)')
    .option('--cpu-quota <us>', 'CPU time per CFS period')
    .option('--cpuset-mems <list>', 'memory nodes the container may use (0-1)')
    .option('--blkio-weight <n>', 'relative block I/O weight, 10-1000 (the BFQ scheduler\'s)')
    .addOption(repeatable('--device-read-bps <device:rate>', 'read rate limit of a block device, as /dev/sda:1mb'))
    .addOption(repeatable('--device-write-bps <device:rate>', 'write rate limit of a block device'))
    .addOption(repeatable('--device-read-iops <device:rate>', 'read operations a second from a block device'))
    .addOption(repeatable('--device-write-iops <device:rate>', 'write operations a second to a block device'))
    .passThroughOptions();
}

/** --pull: the registry's progress goes to stderr, so stdout stays the container's (or its id). */
async function pullFirst(ctx: ContextFactory, image: string, policy: 'missing' | 'always' | 'never', platformFlag?: string): Promise<void> {
  const platform = platformFlag === undefined ? undefined : (await import('../image/platform.js')).parsePlatform(platformFlag);
  // The usual case, an image the store has, must not load the registry client (http, tls, crypto: ~5 ms of every run).
  if (policy === 'missing' && !platform) {
    const { resolveImageId } = await import('../store/images.js');
    try {
      resolveImageId(ctx().paths, image);
      return;
    } catch (err) {
      if (!(err instanceof ImageNotFoundError)) throw err;
    }
  }
  const { ensureImage } = await import('../store/load-images.js');
  await ensureImage(ctx(), image, policy, (line) => writeStderr(`${line}\n`), platform);
}

/**
 * docker's check: -i with -t gives the container our input through its
 * terminal, which needs ours to be one (else the terminal's echo and \r\n
 * go into a pipe's output). Exits 1, as docker's CLI.
 */
function requireTerminal(o: { tty?: boolean; interactive?: boolean; detach?: boolean }): void {
  if (!o.tty || !o.interactive || o.detach || process.stdin.isTTY) return;
  writeStderr('tsrun: the input device is not a TTY\n');
  process.exit(1);
}

export function registerRun(program: Command, ctx: ContextFactory): void {
  containerFlags(program.command('run').description('Create and start a container from an image'))
    .option('-d, --detach', 'run in the background and print the container id')
    .action(async (image: string, command: string[], o: RunFlags) => {
      requireTerminal(o);
      const [{ runCommand }, { request }] = await Promise.all([import('../runtime/lifecycle/run.js'), import('./run-request.js')]);
      await pullFirst(ctx, image, o.pull, o.platform);
      process.exit(await runCommand(ctx(), { ...request(image, command, o), detach: o.detach === true }));
    });
}

export function registerCreate(program: Command, ctx: ContextFactory): void {
  containerFlags(program.command('create').description('Create a container, set up and waiting to be started'))
    .action(async (image: string, command: string[], o: RunFlags) => {
      const [{ createCommand }, { request }] = await Promise.all([import('../runtime/lifecycle/run.js'), import('./run-request.js')]);
      await pullFirst(ctx, image, o.pull, o.platform);
      writeStdout(`${await createCommand(ctx(), request(image, command, o))}\n`);
    });
}

export function registerExec(program: Command, ctx: ContextFactory): void {
  program
    .command('exec')
    .description('Run a command in a running container')
    .argument('<container>')
    .argument('<command...>')
    .option('-d, --detach', 'run in the background')
    .option('-i, --interactive', 'keep stdin attached')
    .option('-t, --tty', 'allocate a pseudo-terminal')
    .addOption(repeatable('-e, --env <KEY=VALUE>', 'set an environment variable'))
    .addOption(repeatable('--env-file <file>', 'read environment variables from a file (KEY=VALUE lines, # comments)'))
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user[:group]>', 'user name or uid, and optionally group name or gid')
    .passThroughOptions()
    .action(async (ref: string, command: string[], o: { detach?: boolean; interactive?: boolean; tty?: boolean; env?: string[]; envFile?: string[]; workdir?: string; user?: string }) => {
      requireTerminal(o);
      const [{ findContainer }, { execInContainer }] = await Promise.all([import('../runtime/containers.js'), import('../runtime/lifecycle/exec.js')]);
      const c = ctx();
      const code = await execInContainer(c, findContainer(c.paths, ref).id, {
        cmd: command,
        detach: o.detach === true,
        interactive: o.interactive === true,
        tty: o.tty === true,
        env: o.env ?? [],
        envFile: o.envFile ?? [],
        workdir: o.workdir,
        user: o.user,
      });
      process.exit(code);
    });
}
