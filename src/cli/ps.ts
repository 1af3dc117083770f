import type { Command } from 'commander';
import type { PortBinding } from '../runtime/plan/container-spec.js';
import type { ContainerRecord } from '../runtime/state/record.js';
import type { ContextFactory } from './program.js';
import { repeatable } from './options.js';
import { writeStdout } from '../util/stdio.js';
import { UsageError } from '../errors.js';
import { labelMatches } from '../util/labels.js';

export function registerPs(program: Command, ctx: ContextFactory): void {
  program
    .command('ps')
    .description('List containers (running ones, or all with -a)')
    .option('-a, --all', 'show all containers, not only running ones')
    .option('-n, --last <n>', 'the last N containers made, whatever their state')
    .option('-l, --latest', 'the last container made, whatever its state')
    .option('-q, --quiet', 'only print container ids')
    .option('--no-trunc', 'do not truncate ids and commands')
    .option('-s, --size', 'show what each container wrote (its rw layer) and, as virtual, that with its image')
    .addOption(repeatable('-f, --filter <key=value>', 'only containers matching: name= (a regular expression), id=, status= (created, running, paused, exited), exited= (an exit code), label=KEY[=VALUE] (run --label), ancestor= (image), before=/since= (a container: made before or after it), volume= (a volume name or mount destination), network= (none, bridge, host)'))
    .option('--format <template>', 'Go-template fields, as docker: {{.ID}} {{.Image}} {{.Command}} {{.CreatedAt}} {{.RunningFor}} {{.Status}} {{.State}} {{.Names}} {{.Ports}} {{.Size}} {{.Labels}} {{.Label "KEY"}} {{.Mounts}} {{.LocalVolumes}} {{.Networks}}, {{json .}}; "table ..." adds headers')
    .action(async (o: { all?: boolean; last?: string; latest?: boolean; quiet?: boolean; trunc: boolean; size?: boolean; filter?: string[]; format?: string }) => {
      const n = o.latest ? 1 : o.last !== undefined ? Number(o.last) : -1;
      if (!Number.isInteger(n) || n < -1) throw new UsageError(`invalid argument "${o.last}" for "-n, --last": a number of containers`);
      // docker's: -n 0 (or -1) is no -n at all.
      const last = n > 0 ? n : undefined;
      const [{ findContainer, listContainers }, { currentState, waitingToRestart }, { ago, goTime, humanDuration, humanSize, table, truncateCommand, formatRows, parseFilters, matchesFilters }, { familiarName, canonicalName, parseReference }, { unmountStale }, { readRuntime }, { listTags, readImageConfig, resolveImageId }, { networkName }] = await Promise.all([
        import('../runtime/containers.js'),
        import('../runtime/state/status.js'),
        import('./format.js'),
        import('../store/reference.js'),
        import('../runtime/reconcile.js'),
        import('../runtime/state/record.js'),
        import('../store/images.js'),
        import('../runtime/inspect-isolation.js'),
      ]);
      const c = ctx();
      const made = (rec: ContainerRecord) => (rec.options.ports?.length ? readRuntime(c.paths, rec.id)?.network?.ports : undefined);
      const now = Date.now();
      const all = listContainers(c.paths);
      await unmountStale(c, all);
      const filters = parseFilters(o.filter ?? [], ['name', 'id', 'status', 'exited', 'label', 'ancestor', 'before', 'since', 'volume', 'network']);
      // before= and since= name a container: those made before or after it (docker's creation order).
      const madeAt = (ref: string) => Date.parse(findContainer(c.paths, ref).created);
      const bounds = { before: (filters.get('before') ?? []).map(madeAt), since: (filters.get('since') ?? []).map(madeAt) };
      const ancestorId = (ref: string): string | undefined => {
        try {
          return resolveImageId(c.paths, ref);
        } catch {
          return undefined;
        }
      };
      // A container's labels are its image's under its own --label ones (docker's Config.Labels).
      const labelsOf = (rec: ContainerRecord): Record<string, string> => {
        let image: Record<string, string> | undefined;
        try {
          image = readImageConfig(c.paths, rec.imageId).config?.Labels;
        } catch {
          image = undefined;
        }
        return { ...image, ...rec.options.labels };
      };
      for (const v of filters.get('exited') ?? []) {
        if (!/^-?\d+$/.test(v)) throw new UsageError(`invalid filter 'exited=${v}'`);
      }
      // ancestor= names an image: the containers of that image (by id), whatever names they were made with.
      const ancestors = new Map((filters.get('ancestor') ?? []).map((v) => [v, ancestorId(v)]));
      for (const v of filters.get('status') ?? []) {
        if (!DOCKER_STATUSES.includes(v)) throw new UsageError(`invalid filter 'status=${v}'`);
      }
      const state = (st: ReturnType<typeof currentState>, rec: ContainerRecord) => (st.paused ? 'paused' : st.running ? 'running' : waitingToRestart(rec, st, now) ? 'restarting' : st.status);
      const rows = all
        .map((rec) => ({ rec, st: currentState(c.paths, rec) }))
        // A status or exited filter, or -n, looks at every container, as docker's does; otherwise -a decides.
        .filter(({ st }) => o.all || last !== undefined || filters.has('status') || filters.has('exited') || st.running)
        .filter(({ rec, st }) =>
          matchesFilters(filters, (key, v) => {
            const i = (filters.get(key) ?? []).indexOf(v);
            switch (key) {
              case 'name':
                return nameMatches(rec.name, v);
              case 'label':
                return labelMatches(labelsOf(rec), v);
              case 'exited':
                return st.status === 'exited' && String(st.exitCode) === v;
              case 'id':
                return rec.id.startsWith(v);
              case 'status':
                return state(st, rec) === v;
              case 'before':
                return Date.parse(rec.created) < bounds.before[i]!;
              case 'since':
                return Date.parse(rec.created) > bounds.since[i]!;
              // A volume by its name, or any mount by where it is in the container.
              case 'volume':
                return (rec.options.mounts ?? []).some((m) => m.target === v || (m.type === 'volume' && m.source === v));
              case 'network':
                return networkName(rec.options) === v;
              default:
                return ancestors.get(v) === rec.imageId;
            }
          }),
        )
        .sort((a, b) => Date.parse(b.rec.created) - Date.parse(a.rec.created))
        .slice(0, last);
      if (o.quiet) {
        writeStdout(rows.map(({ rec }) => `${o.trunc ? rec.id.slice(0, 12) : rec.id}\n`).join(''));
        return;
      }
      const status = (st: ReturnType<typeof currentState>, rec: ContainerRecord) => {
        if (st.running) return `Up ${humanDuration(now - Date.parse(st.startedAt))}${st.paused ? ' (Paused)' : ''}`;
        if (waitingToRestart(rec, st, now)) return `Restarting (${st.exitCode}) ${ago(st.finishedAt, now)}`;
        if (st.status === 'created') return 'Created';
        if (st.status === 'removing') return 'Removal In Progress';
        return `Exited (${st.exitCode}) ${ago(st.finishedAt, now)}`;
      };
      // The name the container was made from while it still names that image; else the image's short id, as docker's.
      const tags = listTags(c.paths);
      const imageName = (rec: ContainerRecord) => {
        if (/^sha256:/.test(rec.imageName) || /^[a-f0-9]{12,64}$/.test(rec.imageName)) return rec.imageName;
        try {
          if (tags.get(canonicalName(parseReference(rec.imageName))) === rec.imageId) return familiarName(rec.imageName);
        } catch {
          // not a reference: the id below
        }
        return rec.imageId.replace(/^sha256:/, '').slice(0, 12);
      };
      // docker's SIZE: asked for with -s, or by a format that shows it.
      const sizeOf = o.size || /\.Size\b/.test(o.format ?? '') ? (await import('../store/disk-usage.js')).containerSize : undefined;
      const size = (rec: ContainerRecord) => {
        const s = sizeOf!(c.paths, rec);
        return `${humanSize(s.rw)} (virtual ${humanSize(s.rootFs)})`;
      };
      // "table" alone is the default table (docker's).
      if (o.format !== undefined && o.format.trim() !== 'table') {
        const fields = rows.map(({ rec, st }) => ({
          ID: o.trunc ? rec.id.slice(0, 12) : rec.id,
          Image: imageName(rec),
          Command: `"${[rec.path, ...rec.args].join(' ')}"`,
          CreatedAt: goTime(rec.created),
          RunningFor: ago(rec.created, now),
          Status: status(st, rec),
          State: state(st, rec),
          Names: rec.name,
          Ports: ports(rec, st.running, made(rec)),
          ...(sizeOf ? { Size: size(rec) } : {}),
          ...psLabels(labelsOf(rec)),
          ...psMounts(rec, o.trunc),
          Networks: networkName(rec.options),
        }));
        const headers = {
          ID: 'CONTAINER ID',
          Image: 'IMAGE',
          Command: 'COMMAND',
          CreatedAt: 'CREATED AT',
          RunningFor: 'CREATED',
          Status: 'STATUS',
          State: 'STATE',
          Names: 'NAMES',
          Ports: 'PORTS',
          Size: 'SIZE',
          Labels: 'LABELS',
          // docker's header for a label: its name's last dotted part, - and _ as spaces, in capitals.
          Label: (name: string) => String(name).split('.').at(-1)!.replace(/[-_]/g, ' ').toUpperCase(),
          Mounts: 'MOUNTS',
          LocalVolumes: 'LOCAL VOLUMES',
          Networks: 'NETWORKS',
        };
        writeStdout(formatRows(o.format, fields, headers));
        return;
      }
      const body = rows.map(({ rec, st }) => {
        const cmd = [rec.path, ...rec.args].join(' ');
        return [
          o.trunc ? rec.id.slice(0, 12) : rec.id,
          imageName(rec),
          o.trunc ? truncateCommand(cmd) : `"${cmd}"`,
          ago(rec.created, now),
          status(st, rec),
          ports(rec, st.running, made(rec)),
          rec.name,
          ...(sizeOf ? [size(rec)] : []),
        ];
      });
      writeStdout(table(['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES', ...(sizeOf ? ['SIZE'] : [])], body));
    });
}

/** docker ps's .Labels (k=v,...) and .Label "k" (its value, "" if none). */
function psLabels(labels: Record<string, string>): { Labels: string; Label: (name: string) => string } {
  return {
    Labels: Object.keys(labels)
      .sort()
      .map((k) => `${k}=${labels[k]}`)
      .join(','),
    Label: (name) => (Object.hasOwn(labels, name) ? labels[name]! : ''),
  };
}

/** docker ps's .Mounts (each volume by name, each bind by its host path; 15 characters unless --no-trunc) and .LocalVolumes (how many volumes). */
function psMounts(rec: ContainerRecord, trunc: boolean): { Mounts: string; LocalVolumes: string } {
  const mounts = rec.options.mounts ?? [];
  const name = (m: (typeof mounts)[number]) => ((m.type === 'volume' ? m.source : m.hostPath) ?? '');
  return {
    Mounts: mounts.map((m) => (trunc && name(m).length > 15 ? `${name(m).slice(0, 14)}…` : name(m))).join(','),
    LocalVolumes: String(mounts.filter((m) => m.type === 'volume').length),
  };
}

/** docker's PORTS column: 0.0.0.0:8080->80/tcp, for a running container (its runtime record has the ports as made). */
function ports(rec: ContainerRecord, running: boolean, made: PortBinding[] | undefined): string {
  if (!running) return '';
  return (made ?? rec.options.ports ?? []).map((b) => `${b.hostIp ?? '0.0.0.0'}:${b.hostPort}->${b.containerPort}/${b.protocol}`).join(', ');
}

/** docker's container states, which a status filter may name (only some of them are ever tsrun's). */
const DOCKER_STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

/** docker's name filter: the name itself, or a regular expression found in it or in "/name"; one that does not compile matches nothing. */
function nameMatches(name: string, filter: string): boolean {
  // docker's names start with "/": `name=^/web$` is as common as `name=^web$`.
  if (name === filter || `/${name}` === filter) return true;
  try {
    const re = new RegExp(filter);
    return re.test(name) || re.test(`/${name}`);
  } catch {
    return false;
  }
}

