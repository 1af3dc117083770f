import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../../errors.js';

/**
 * Reading a container's ctr.log, which the monitor writes as docker's
 * json-file driver does: one JSON object a line, {"log","stream","time"}.
 */
export interface LogEntry {
  log: string;
  stream: 'stdout' | 'stderr';
  time: string;
}

export interface LogOptions {
  follow: boolean;
  /** Only the last N lines; undefined for all. */
  tail?: number;
  timestamps: boolean;
  /** Only lines written at or after this time (ms since the epoch). */
  since?: number;
  /** Only lines written before this time; following stops once it has passed. */
  until?: number;
  /** Whether the container can still write (follow stops once it cannot and the file is drained). */
  isRunning: () => boolean;
  /** Writes one entry's text; false: the reader went away (`logs | head`), and reading stops. */
  write: (stream: 'stdout' | 'stderr', text: string) => boolean;
}

function inWindow(t: number, opts: Pick<LogOptions, 'since' | 'until'>): boolean {
  return (opts.since === undefined || t >= opts.since) && (opts.until === undefined || t < opts.until);
}

/**
 * docker's --since/--until values: an RFC 3339 date or time ("2026-11-26",
 * "2026-11-26T20:00:00Z"), Unix seconds ("1795723200.5"), or a duration
 * before now ("90s", "10m", "1h30m"). Returns ms since the epoch.
 */
export function parseLogTime(value: string, now = Date.now()): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Math.floor(Number(value) * 1000);
  const d = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$/.exec(value);
  if (d && value !== '') {
    const [, h = '0', m = '0', s = '0', ms = '0'] = d;
    return now - Math.round(Number(h) * 3_600_000 + Number(m) * 60_000 + Number(s) * 1000 + Number(ms));
  }
  const t = Date.parse(value);
  if (Number.isNaN(t) || !/^\d{4}-\d\d-\d\d/.test(value)) throw new UsageError(`invalid time ${JSON.stringify(value)}: use an RFC 3339 time, Unix seconds, or a duration such as 10m`);
  return t;
}

/** Parses complete lines; a torn last line (the monitor mid-write) is left for the next read. */
export function parseLogChunk(text: string): { entries: LogEntry[]; rest: string } {
  const lines = text.split('\n');
  const rest = lines.pop() ?? '';
  const entries: LogEntry[] = [];
  for (const line of lines) {
    if (line === '') continue;
    try {
      const e = JSON.parse(line) as LogEntry;
      if (typeof e.log === 'string' && (e.stream === 'stdout' || e.stream === 'stderr')) entries.push(e);
    } catch {
      // A line the monitor did not finish (killed mid-write) is skipped, as docker does.
    }
  }
  return { entries, rest };
}

/**
 * The log's entries in order: the files the monitor rotated out (PATH.N
 * down to PATH.1, logrotate), then PATH; with `follow`, what comes next,
 * into the PATH that replaces this one when the monitor rotates it (the
 * open file is drained first, so no line is lost or read twice).
 */
export async function readLog(file: string, opts: LogOptions): Promise<void> {
  const emit = (e: LogEntry) => opts.write(e.stream, opts.timestamps ? `${e.time} ${e.log}` : e.log);
  let live = openLog(file);
  // Opened first: a rotation meanwhile makes it PATH.1, which is then not read twice.
  const earlier = rotatedEntries(file, live).filter((e) => inWindow(Date.parse(e.time), opts));
  let offset = 0;
  let pending = '';
  let first = true;
  let changes = opts.follow ? new ChangeWaiter(file) : undefined;
  try {
    for (;;) {
      // Check before reading, so the last lines written before the exit are not missed.
      const running = opts.isRunning();
      // max-file 1: the monitor starts the one file over.
      if (live && fs.fstatSync(live.fd).size < offset) [offset, pending] = [0, ''];
      const chunk = live ? readFrom(live.fd, offset) : Buffer.alloc(0);
      offset += chunk.length;
      const parsed = parseLogChunk(pending + chunk.toString('utf8'));
      pending = parsed.rest;
      const entries = [...(first ? earlier : []), ...parsed.entries.filter((e) => inWindow(Date.parse(e.time), opts))];
      const shown = first && opts.tail !== undefined ? entries.slice(Math.max(0, entries.length - opts.tail)) : entries;
      first = false;
      for (const e of shown) if (!emit(e)) return;
      if (chunk.length === 0 && opts.follow && replaced(file, live)) {
        // Rotated (this file is PATH.1 now) or made at last: on to the new PATH once this one is drained.
        if (live) fs.closeSync(live.fd);
        live = openLog(file);
        offset = 0;
        pending = '';
        // inotify watches the file it was given, which is PATH.1 now.
        changes?.close();
        changes = new ChangeWaiter(file);
        continue;
      }
      if (!opts.follow || (!running && chunk.length === 0) || (opts.until !== undefined && Date.now() >= opts.until)) return;
      // Woken by the next write at once (an attached terminal echoes what is typed); the timeout notices the exit.
      if (chunk.length === 0) await changes!.wait(100);
    }
  } finally {
    if (live) fs.closeSync(live.fd);
    changes?.close();
  }
}

interface OpenLog {
  fd: number;
  ino: number;
}

function openLog(file: string): OpenLog | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return { fd, ino: fs.fstatSync(fd).ino };
}

/** Whether PATH is no longer the file open (rotated away), or is there now when it was not. */
function replaced(file: string, live: OpenLog | undefined): boolean {
  try {
    return fs.statSync(file).ino !== live?.ino;
  } catch {
    return false;
  }
}

/** The entries of PATH.N ... PATH.1 (oldest first), but a file that is the one open as PATH. */
function rotatedEntries(file: string, live: OpenLog | undefined): LogEntry[] {
  const dir = path.dirname(file);
  const base = path.basename(file);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const numbered = names
    .map((n) => (n.startsWith(`${base}.`) && /^[1-9]\d?$/.test(n.slice(base.length + 1)) ? Number(n.slice(base.length + 1)) : 0))
    .filter((n) => n > 0)
    .sort((a, b) => b - a);
  const entries: LogEntry[] = [];
  for (const n of numbered) {
    const rotated = openLog(`${file}.${n}`);
    if (!rotated) continue;
    try {
      if (rotated.ino !== live?.ino) entries.push(...parseLogChunk(`${readFrom(rotated.fd, 0).toString('utf8')}\n`).entries);
    } finally {
      fs.closeSync(rotated.fd);
    }
  }
  return entries;
}

/**
 * Waits for the next change to a file (inotify, through fs.watch) or for a
 * timeout, whichever comes first; a file that cannot be watched (not there
 * yet) leaves the timeout alone.
 */
class ChangeWaiter {
  private readonly watcher: fs.FSWatcher | undefined;
  private wake: (() => void) | undefined;

  constructor(file: string) {
    try {
      this.watcher = fs.watch(file, { persistent: false }, () => this.wake?.());
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      this.watcher = undefined;
    }
  }

  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  close(): void {
    this.watcher?.close();
  }
}

function readFrom(fd: number, offset: number): Buffer {
  const size = fs.fstatSync(fd).size;
  if (size <= offset) return Buffer.alloc(0);
  const buf = Buffer.alloc(size - offset);
  const n = fs.readSync(fd, buf, 0, buf.length, offset);
  return buf.subarray(0, n);
}
