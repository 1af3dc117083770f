import { UsageError } from '../errors.js';
import { Template, goDefaults, goJson, goMap, goNil, goOmitEmpty } from './template.js';

/** Output helpers shared by the listing commands, matching docker's wording. */

/** go-units HumanDuration, as docker prints "Up 3 seconds" and "2 minutes ago". */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const minutes = Math.floor(seconds / 60);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** Go's time.String() of a whole second, as docker's CreatedAt: "2026-11-27 05:18:00 +0000 UTC", in local time. */
export function goTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const two = (n: number) => String(n).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const zone = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName')?.value ?? '';
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${off < 0 ? '-' : '+'}${two(Math.floor(Math.abs(off) / 60))}${two(Math.abs(off) % 60)} ${zone}`;
}

export function ago(iso: string, now = Date.now()): string {
  return `${humanDuration(now - Date.parse(iso))} ago`;
}

/** go-units HumanSize: decimal units, three significant digits ("4.26MB"). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let n = bytes;
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${Number(n.toPrecision(3))}${units[i]}`;
}

/** Left-aligned columns separated by at least three spaces, as docker's tabwriter. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3)))
      .join('')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** docker ps's COMMAND column: quoted, cut to 20 characters with an ellipsis. */
export function truncateCommand(cmd: string, width = 20): string {
  const body = cmd.length > width ? `${cmd.slice(0, width - 1)}…` : cmd;
  return `"${body}"`;
}

/** go-units BytesSize: binary units, as docker stats prints memory ("1.5MiB"). */
export function binarySize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let n = bytes;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${Number(n.toFixed(2))}${units[i]}`;
}

/**
 * docker's --format over listing rows: a Go template (template.ts) per row,
 * `\t` and `\n` escapes in its text, a leading "table" for a header line
 * (each field replaced by its column's name) with the cells aligned on the
 * tabs, and "json" for one JSON object a line (docker 23's). A field the
 * rows do not carry is refused, naming those they do. ("table" alone is the
 * caller's default table.)
 */
export function formatRows(format: string, rows: Record<string, unknown>[], headers: Record<string, unknown>): string {
  // docker writes these from a map: keys sorted.
  if (format.trim() === 'json') return rows.map((r) => `${goJson(goMap(r))}\n`).join('');
  const isTable = /^table(\s|$)/.test(format);
  const template = new Template(isTable ? format.replace(/^table\s*/, '') : format, { escapes: true });
  let header: string;
  try {
    // Rendered even for no rows: a typo is an error, not an empty listing.
    header = template.render(headers, { header: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (there are: ${Object.keys(headers).map((f) => `.${f}`).join(' ')})`);
  }
  if (!isTable) return rows.map((r) => `${template.render(r)}\n`).join('');
  const lines = [header, ...rows.map((r) => template.render(r))].map((l) => l.split('\t'));
  const width = (i: number) => Math.max(...lines.map((cells) => (cells[i] ?? '').length));
  return lines.map((cells) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(width(i) + 3))).join('').trimEnd() + '\n').join('');
}

/** docker inspect's --format over one object: a Go template (template.ts), taken as written (no \t or \n escapes outside strings, as docker's). */
export function formatObject(format: string, obj: unknown): string {
  return new Template(format).render(markGoTypes(obj));
}

/** docker inspect's JSON (its default output): Go's, whose maps have their keys sorted. */
export function inspectJson(objs: unknown[]): string {
  return goJson(objs.map(markGoTypes), 4);
}

/** The fields that are Go maps in docker's inspect types: a key they lack reads as <no value>, not as an error. */
const GO_MAP_FIELDS = [
  ['Config', 'Labels'],
  ['Config', 'ExposedPorts'],
  ['Config', 'Volumes'],
  ['HostConfig', 'PortBindings'],
  ['HostConfig', 'Sysctls'],
  ['HostConfig', 'Tmpfs'],
  ['NetworkSettings', 'Ports'],
  ['NetworkSettings', 'Networks'],
  ['GraphDriver', 'Data'],
];

/** The fields that are Go slices ("" as the outer name: the object's own): null (or absent, in an image's config) is a nil one, printed [] as docker's. */
const GO_LIST_FIELDS = [
  ['Config', 'Cmd'],
  ['Config', 'Entrypoint'],
  ['Config', 'Env'],
  ['HostConfig', 'CapAdd'],
  ['HostConfig', 'CapDrop'],
  ['HostConfig', 'GroupAdd'],
  ['HostConfig', 'SecurityOpt'],
  ['HostConfig', 'DeviceCgroupRules'],
  ['HostConfig', 'Ulimits'],
  ['HostConfig', 'Binds'],
  ['HostConfig', 'ExtraHosts'],
  ['HostConfig', 'Links'],
  ['HostConfig', 'VolumesFrom'],
  ['', 'ExecIDs'],
];

/** Fields that are `json:",omitempty"` in docker's types: left out of the JSON when empty. */
const GO_OMIT_EMPTY_FIELDS = [
  ['Config', 'ExposedPorts'],
  ['HostConfig', 'Sysctls'],
  ['HostConfig', 'Tmpfs'],
];

/** Marks, in place (inspect's objects are made for the one output), what is a Go map, nil, or omitted when empty. */
function markGoTypes(obj: unknown): unknown {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(obj)) return obj;
  for (const [fields, kind] of [[GO_MAP_FIELDS, 'map'], [GO_LIST_FIELDS, 'list']] as const) {
    for (const [outer, inner] of fields) {
      // "": a field of the object itself.
      const parent = outer === '' ? obj : obj[outer!];
      if (!isObject(parent)) continue;
      const v = parent[inner!];
      // An image's config leaves out what it does not set; docker's struct has every field.
      if (v === null || (v === undefined && outer === 'Config')) parent[inner!] = goNil(kind);
      else if (kind === 'map' && isObject(v)) goMap(v);
    }
  }
  for (const [outer, inner] of GO_OMIT_EMPTY_FIELDS) {
    const parent = obj[outer!];
    if (isObject(parent) && isObject(parent[inner!])) goOmitEmpty(parent[inner!] as object);
  }
  // docker's structs have these fields even where its JSON leaves them out: templates read their zero values.
  // A container's (it has a State) and an image's (a RootFS) own fields.
  if (isObject(obj.State)) goDefaults(obj, { SizeRw: null, SizeRootFs: null });
  if (isObject(obj.RootFS)) goDefaults(obj, { Variant: '' });
  if (isObject(obj.State)) goDefaults(obj.State, { Health: null });
  if (isObject(obj.Config)) goDefaults(obj.Config, { Hostname: '', Domainname: '', User: '', WorkingDir: '', StopSignal: '', Image: '', OnBuild: null, Healthcheck: null, Shell: null });
  if (Array.isArray(obj.Mounts)) for (const m of obj.Mounts) if (isObject(m)) goDefaults(m, { Name: '', Driver: '' });
  return obj;
}

/**
 * docker's --filter KEY=VALUE list: the same key given twice matches either
 * value, different keys must all match. Returns key -> values; an unknown
 * key is refused.
 */
export function parseFilters(specs: string[], known: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const key = eq < 0 ? spec : spec.slice(0, eq);
    if (eq < 0 || !known.includes(key)) throw new UsageError(`invalid filter '${spec}': use ${known.map((k) => `${k}=...`).join(', ')}`);
    out.set(key, [...(out.get(key) ?? []), spec.slice(eq + 1)]);
  }
  return out;
}

/** Whether every filter key has a value `test` accepts. */
export function matchesFilters(filters: Map<string, string[]>, test: (key: string, value: string) => boolean): boolean {
  for (const [key, values] of filters) if (!values.some((v) => test(key, v))) return false;
  return true;
}
