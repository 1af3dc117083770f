import type { Logger } from 'pino';
import { writeStderr } from './util/stdio.js';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;
type Level = keyof typeof LEVELS;

let root: Logger | undefined;
let level: Level = parseLevel(process.env.TSRUN_LOG_LEVEL) ?? 'warn';
/** The command a record's line names: tsrun, or tsrun-oci (setLogName). */
let name = 'tsrun';

/** The command name log lines start with, as its error lines do. */
export function setLogName(next: string): void {
  name = next;
}

function parseLevel(value: string | undefined): Level | undefined {
  return value !== undefined && value in LEVELS ? (value as Level) : undefined;
}

/** Sets the level (the CLI's --log-level / --debug). */
export function setLogLevel(next: string): void {
  level = parseLevel(next) ?? level;
  if (root) root.level = level;
}

function rootLogger(): Logger {
  if (!root) {
    // Loaded on first use: a `tsrun run --rm` that logs nothing never pays for pino (nor node:module, ~0.3 ms).
    const { createRequire } = process.getBuiltinModule('node:module');
    const pino = createRequire(import.meta.filename)('pino') as typeof import('pino');
    // stderr, synchronously (stdout stays clean for command output, nothing is lost on exit), one human line a record.
    root = pino.default({ level, base: undefined, redact: ['env', '*.env', '*.password', '*.token'] }, { write: writeHuman });
  }
  return root;
}

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warning', 50: 'error', 60: 'fatal' };

/**
 * A pino record (one JSON line) as the rest of tsrun's messages look:
 * "tsrun: warning: rebuilt missing l/ links (component=store, cid=…)". A
 * user reading a terminal gets a sentence, not a JSON object.
 */
function writeHuman(line: string): void {
  const { level: n, time: _time, msg, component, ...fields } = JSON.parse(line) as Record<string, unknown>;
  const detail = Object.entries({ component, ...fields })
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
  writeStderr(`${name}: ${LEVEL_NAMES[n as number] ?? 'log'}: ${String(msg)}${detail ? ` (${detail})` : ''}\n`);
}

export interface Log {
  trace(fields: Record<string, unknown>, msg: string): void;
  debug(fields: Record<string, unknown>, msg: string): void;
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

/** A logger for one component (`store`, `plan`, `monitor`, `native`, ...). */
export function logger(component: string): Log {
  const emit = (at: Level) => (fields: Record<string, unknown>, msg: string) => {
    if (LEVELS[at] < LEVELS[level]) return;
    rootLogger()[at as 'info']({ component, ...fields }, msg);
  };
  return { trace: emit('trace'), debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}
