import type { Logger } from 'pino';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;
type Level = keyof typeof LEVELS;

let root: Logger | undefined;
let level: Level = parseLevel(process.env.TSRUN_LOG_LEVEL) ?? 'warn';

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
    root = pino.default(
      { level, base: undefined, redact: ['env', '*.env', '*.password', '*.token'] },
      // stderr, synchronously: stdout stays clean for command output, nothing is lost on exit.
      pino.default.destination({ dest: 2, sync: true }),
    );
  }
  return root;
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
