import { RuntimeError, UsageError } from '../../errors.js';
import type { LogConfig } from '../plan/container-spec.js';

/**
 * --log-driver and --log-opt as docker takes them for its json-file driver
 * (the monitor writes the same lines): max-size and max-file rotate the
 * log (the monitor's logrotate), local is json-file rotated by default
 * (docker's local driver keeps 5 files of 20 MiB), none keeps no log. The
 * options that only add attributes to each line (labels, env, env-regex,
 * tag) are taken and have no effect: `logs --details` is not supported.
 */
const DRIVERS = ['json-file', 'local', 'none'] as const;
// mode and max-buffer-size (docker's delivery of log lines, for every driver) are taken: the monitor never blocks on its log.
const OPTIONS: Record<LogConfig['type'], string[] | 'any'> = {
  'json-file': ['max-size', 'max-file', 'compress', 'labels', 'labels-regex', 'env', 'env-regex', 'tag', 'mode', 'max-buffer-size'],
  local: ['max-size', 'max-file', 'compress', 'mode', 'max-buffer-size'],
  // docker takes any option for none, which writes nothing.
  none: 'any',
};

export function parseLogFlags(driver: string | undefined, opts: string[]): LogConfig | undefined {
  if (driver === undefined && opts.length === 0) return undefined;
  const type = (driver ?? 'json-file') as LogConfig['type'];
  if (!DRIVERS.includes(type)) throw new UsageError(`logging driver "${driver}" is not available: use json-file, local or none`);
  const config: Record<string, string> = {};
  for (const opt of opts) {
    const eq = opt.indexOf('=');
    const key = eq < 0 ? opt : opt.slice(0, eq);
    if (eq < 0) throw new UsageError(`invalid --log-opt "${opt}": use KEY=VALUE`);
    const known = OPTIONS[type];
    if (known !== 'any' && !known.includes(key)) throw new UsageError(`unknown log opt '${key}' for ${type} log driver`);
    config[key] = opt.slice(eq + 1);
  }
  const c = { type, config };
  logRotation(c);
  return c;
}

/** The monitor's logrotate from a log config: bytes and files; undefined when the log grows without bound. */
export function logRotation(c: LogConfig | undefined): { maxBytes: number; files: number } | undefined {
  if (!c || c.type === 'none') return undefined;
  const { 'max-size': size, 'max-file': file, compress } = c.config;
  if (compress === 'true') throw new UsageError('log opt compress=true is not supported: rotated logs are kept as they are');
  if (compress !== undefined && compress !== 'false') throw new UsageError(`invalid log opt compress=${compress}: use true or false`);
  const local = c.type === 'local';
  // docker's local driver keeps 5 files of 20 MiB.
  const maxBytes = size !== undefined ? humanSize(size) : local ? 20 * 1024 * 1024 : -1;
  if (file !== undefined && !/^[1-9]\d*$/.test(file)) throw new UsageError(`invalid log opt max-file=${file}: a number of files, at least 1`);
  if (file !== undefined && maxBytes <= 0) throw new UsageError('max-file is only of use with max-size');
  if (maxBytes <= 0) return undefined;
  const files = file !== undefined ? Number(file) : local ? 5 : 1;
  if (files > 99) throw new UsageError(`invalid log opt max-file=${file}: at most 99`);
  return { maxBytes, files };
}

/** Whether `logs` (and attach, which follows the log) can read what the container writes. */
export function logReadable(c: LogConfig | undefined): boolean {
  return c?.type !== 'none';
}

/** `logs` and `attach` of a container that keeps no log: docker's refusal. */
export function assertLogReadable(c: LogConfig | undefined): void {
  if (!logReadable(c)) throw new RuntimeError('configured logging driver does not support reading');
}

/** go-units FromHumanSize, as docker reads max-size: "10m", "10MB" and "10MiB" are 10 MB (decimal), "-1" unlimited. */
function humanSize(s: string): number {
  if (s === '-1') return -1;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp])?i?b?$/i.exec(s.trim());
  if (!m) throw new UsageError(`invalid log opt max-size=${s}: a size such as 10m`);
  const n = Math.floor(Number(m[1]) * 1000 ** ' kmgtp'.indexOf((m[2] ?? ' ').toLowerCase()));
  if (n < 1) throw new UsageError(`invalid log opt max-size=${s}: a size such as 10m`);
  return n;
}
