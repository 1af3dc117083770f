import { type Command, Option } from 'commander';
import * as os from 'node:os';
import { type MountSpec, parseDeviceCgroupRule, parseDeviceFlag, parseIdMap, parseMountFlag, parseNamespaceMode, parseOomScoreAdj, parsePublish, parseRestartPolicy, parseShmSize, parseSysctl, parseTmpfsFlag, parseUlimit, parseVolumeFlag } from '../runtime/plan/run-flags.js';
import { parseResourceFlags, type ResourceFlags } from '../runtime/cgroups/limits.js';
import { ID_MAP_FLAGS, checkIdmappedRootKernel, planIdMaps } from '../runtime/plan/user-namespace.js';
import { ImageNotFoundError, UsageError } from '../errors.js';
import type { ContextFactory } from './main.js';
import { repeatable } from './options.js';
import { writeStderr, writeStdout } from '../util/stdio.js';

interface RunFlags extends ResourceFlags {
  detach?: boolean;
  interactive?: boolean;
  tty?: boolean;
  rm?: boolean;
  envFile?: string[];
  init?: boolean;
  name?: string;
  env?: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  entrypoint?: string;
  volume?: string[];
  mount?: string[];
  tmpfs?: string[];
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  readOnly?: boolean;
  ulimit?: string[];
  sysctl?: string[];
  shmSize?: string;
  oomScoreAdj?: string;
  device?: string[];
  deviceCgroupRule?: string[];
  groupAdd?: string[];
  uidmap?: string[];
  gidmap?: string[];
  userns?: string;
  securityOpt?: string[];
  pull: 'missing' | 'always' | 'never';
  restart?: string;
  network?: string;
  publish?: string[];
  publishAll?: boolean;
  pid?: string;
  ipc?: string;
  uts?: string;
}

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
    .addOption(repeatable('-v, --volume <[src:]dst[:opts]>', 'bind a host path or a named volume (no src: an anonymous volume); opts ro, rw'))
    .addOption(repeatable('--mount <type=...,source=...,target=...>', 'bind, volume or tmpfs mount'))
    .addOption(repeatable('--tmpfs <path[:opts]>', 'mount a tmpfs'))
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
    .option('--net, --network <mode>', 'none (the default here without -p: only lo), bridge (eth0 on tsrun\'s bridge, NAT to the outside), host (the host\'s network) or container:NAME (another container\'s)')
    .addOption(repeatable('-p, --publish <[ip:][hostPort:]containerPort[/proto]>', 'forward a host port (free one if not given; ports may be ranges, 8000-8002:80-82) to the container (implies --network bridge)'))
    .option('-P, --publish-all', 'forward every port the image exposes, each from a free host port (implies --network bridge)')
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
    .passThroughOptions();
}

const request = (image: string, command: string[], o: RunFlags) => ({
  image,
  name: o.name,
  autoRemove: o.rm === true,
  interactive: o.interactive === true,
  env: o.env ?? [],
  envFile: o.envFile ?? [],
  securityOpt: o.securityOpt ?? [],
  options: {
    workdir: o.workdir,
    user: o.user,
    hostname: o.hostname,
    entrypoint: o.entrypoint,
    cmd: command,
    tty: o.tty === true,
    openStdin: o.interactive === true,
    init: o.init === true,
    ...isolation(o),
  },
});

/** The isolation flags as RunOptions fields; only those given, so a record stays small. */
function isolation(o: RunFlags) {
  const mounts = [...(o.volume ?? []).map(parseVolumeFlag), ...(o.mount ?? []).map(parseMountFlag), ...(o.tmpfs ?? []).map(parseTmpfsFlag)];
  checkIdmapBinds(mounts, o);
  return {
    ...(mounts.length ? { mounts } : {}),
    ...(o.capAdd ? { capAdd: o.capAdd } : {}),
    ...(o.capDrop ? { capDrop: o.capDrop } : {}),
    ...(o.privileged ? { privileged: true } : {}),
    ...(o.readOnly ? { readOnly: true } : {}),
    ...(o.ulimit ? { ulimits: o.ulimit.map(parseUlimit) } : {}),
    ...(o.sysctl ? { sysctls: Object.fromEntries(o.sysctl.map(parseSysctl)) } : {}),
    ...(o.shmSize !== undefined ? { shmSize: parseShmSize(o.shmSize) } : {}),
    ...(o.oomScoreAdj !== undefined ? { oomScoreAdj: parseOomScoreAdj(o.oomScoreAdj) } : {}),
    ...(o.device ? { devices: o.device.map(parseDeviceFlag) } : {}),
    ...(o.deviceCgroupRule ? { deviceCgroupRules: deviceCgroupRules(o.deviceCgroupRule) } : {}),
    ...(o.groupAdd ? { groupAdd: o.groupAdd } : {}),
    ...idMappings(o),
    ...(o.restart !== undefined ? { restart: parseRestartPolicy(o.restart) } : {}),
    ...hostNamespaces(o),
    ...joinedNamespaces(o),
    ...network(o),
    ...resources(o),
  };
}

/** --network bridge, which -p implies (docker's default network is the bridge); -p with another network is refused. */
function network(o: RunFlags) {
  const ports = (o.publish ?? []).flatMap(parsePublish);
  const publishing = ports.length > 0 || o.publishAll === true;
  const bridge = o.network === 'bridge' || o.network === 'default' || (o.network === undefined && publishing);
  if (publishing && !bridge) throw new UsageError(`-p needs the bridge network, not --network ${o.network}`);
  return { ...(bridge ? { network: 'bridge' as const } : {}), ...(ports.length ? { ports } : {}), ...(o.publishAll ? { publishAll: true } : {}) };
}

/** container:NAME modes, as names here; create resolves them to ids. */
function joinedNamespaces(o: RunFlags) {
  const joined = Object.fromEntries((['network', 'pid', 'ipc'] as const).flatMap((k) => (o[k]?.startsWith('container:') ? [[k, o[k]!.slice('container:'.length)]] : [])));
  return Object.keys(joined).length ? { joinNamespaces: joined } : {};
}

function hostNamespaces(o: RunFlags) {
  const shared = (['network', 'pid', 'ipc', 'uts'] as const).filter((k) => o[k] !== undefined && parseNamespaceMode(k, o[k]!));
  return shared.length ? { hostNamespaces: [...shared] } : {};
}

/** `-v HOST:DEST:idmap` is seen through the container's maps: it needs a user namespace. */
function checkIdmapBinds(mounts: MountSpec[], o: RunFlags): void {
  const idmapped = mounts.find((m) => m.idmap);
  if (idmapped && !o.uidmap && !o.userns?.startsWith('auto')) throw new UsageError(`the idmap option of ${idmapped.source}:${idmapped.target} needs a user namespace (--uidmap or --userns auto)`);
}

/** --uidmap and --gidmap; the gids map as the uids unless --gidmap is given (podman's rule). --userns auto picks them at create. */
function idMappings(o: RunFlags) {
  const auto = o.userns === undefined || o.userns === 'host' ? undefined : /^auto(?::size=(\d+))?$/.exec(o.userns);
  if (o.userns !== undefined && o.userns !== 'host' && !auto) throw new UsageError(`invalid --userns ${o.userns}: use host, auto or auto:size=N`);
  if (o.userns !== undefined && (o.uidmap || o.gidmap)) throw new UsageError('conflicting options: --userns and --uidmap/--gidmap');
  if (!auto && !o.uidmap && !o.gidmap) return {};
  checkIdmappedRootKernel(os.release());
  // proc can be mounted only for a pid namespace the user namespace owns (proc_fill_super).
  if (o.pid !== undefined) throw new UsageError(`${auto ? '--userns auto' : '--uidmap'} needs a pid namespace of the container's own, not --pid ${o.pid}`);
  if (auto) {
    const size = auto[1] === undefined ? 65536 : Number(auto[1]);
    if (size < 1 || size > 2 ** 32 - 2) throw new UsageError(`invalid --userns ${o.userns}: the size must be from 1 to 4294967294`);
    return { usernsAuto: { size } };
  }
  if (!o.uidmap) throw new UsageError('--gidmap needs --uidmap too');
  const uid = o.uidmap.map((m) => parseIdMap('--uidmap', m));
  const idMappings = { uid, gid: o.gidmap ? o.gidmap.map((m) => parseIdMap('--gidmap', m)) : uid };
  // The whole maps, checked now rather than at the first start.
  planIdMaps({ linux: { namespaces: [{ type: 'user' }], uidMappings: idMappings.uid, gidMappings: idMappings.gid } }, { ...ID_MAP_FLAGS, gid: o.gidmap ? '--gidmap' : '--uidmap' });
  return { idMappings };
}

function resources(o: RunFlags) {
  const r = parseResourceFlags(o);
  return Object.keys(r).length ? { resources: r } : {};
}

/** --pull: the registry's progress goes to stderr, so stdout stays the container's (or its id). */
async function pullFirst(ctx: ContextFactory, image: string, policy: 'missing' | 'always' | 'never'): Promise<void> {
  // The usual case, an image the store has, must not load the registry client (http, tls, crypto: ~5 ms of every run).
  if (policy === 'missing') {
    const { resolveImageId } = await import('../store/images.js');
    try {
      resolveImageId(ctx().paths, image);
      return;
    } catch (err) {
      if (!(err instanceof ImageNotFoundError)) throw err;
    }
  }
  const { ensureImage } = await import('../store/load-images.js');
  await ensureImage(ctx(), image, policy, (line) => writeStderr(`${line}\n`));
}

export function registerRun(program: Command, ctx: ContextFactory): void {
  containerFlags(program.command('run').description('Create and start a container from an image'))
    .option('-d, --detach', 'run in the background and print the container id')
    .action(async (image: string, command: string[], o: RunFlags) => {
      const { runCommand } = await import('../runtime/lifecycle/run.js');
      await pullFirst(ctx, image, o.pull);
      process.exit(await runCommand(ctx(), { ...request(image, command, o), detach: o.detach === true }));
    });

  containerFlags(program.command('create').description('Create a container, set up and waiting to be started'))
    .action(async (image: string, command: string[], o: RunFlags) => {
      const { createCommand } = await import('../runtime/lifecycle/run.js');
      await pullFirst(ctx, image, o.pull);
      writeStdout(`${await createCommand(ctx(), request(image, command, o))}\n`);
    });

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

/** --device-cgroup-rule: checked now (one line at create), kept as written for inspect. */
function deviceCgroupRules(rules: string[]): string[] {
  for (const r of rules) parseDeviceCgroupRule(r);
  return rules.map((r) => r.trim());
}
