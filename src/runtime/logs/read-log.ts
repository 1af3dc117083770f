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
 * down to PATH.1, logrotate), then PATH; with `follow`, what comes next.
 * When the monitor rotates PATH away, the file open is read to its end
 * (the monitor writes nothing to it after the rename), then every file
 * rotated out since (however many rotations came meanwhile), then the new
 * PATH: no line is lost or read twice, but those the monitor deleted past
 * max-file before they could be read.
 */
export async function readLog(file: string, opts: LogOptions): Promise<void> {
  const emit = (e: LogEntry) => opts.write(e.stream, opts.timestamps ? `${e.time} ${e.log}` : e.log);
  const shown = (entries: LogEntry[]) => entries.filter((e) => inWindow(Date.parse(e.time), opts));
  const first = nextLog(file, undefined);
  let live = first.next;
  // The newest file read so far (live, or while there is no PATH the last rotated one read): where the next switch goes on from.
  let newest = live?.ino ?? first.newest;
  let offset = 0;
  let pending = '';
  let backlog = shown(first.between);
  let tail = opts.tail;
  let changes = opts.follow ? new ChangeWaiter(file) : undefined;
  try {
    for (;;) {
      // Check before reading, so the last lines written before the exit are not missed.
      const running = opts.isRunning();
      const chunk = live ? readFrom(live.fd, offset) : Buffer.alloc(0);
      offset += chunk.length;
      const parsed = parseLogChunk(pending + chunk.toString('utf8'));
      pending = parsed.rest;
      let entries = [...backlog, ...shown(parsed.entries)];
      backlog = [];
      if (tail !== undefined) [entries, tail] = [entries.slice(Math.max(0, entries.length - tail)), undefined];
      for (const e of entries) if (!emit(e)) return;
      if (chunk.length === 0 && opts.follow && replaced(file, live)) {
        // Rotated away (or made at last): this file to its end, what was rotated out since, then the new PATH.
        const rest = live ? readFrom(live.fd, offset) : Buffer.alloc(0);
        const switched = nextLog(file, newest);
        if (live) fs.closeSync(live.fd);
        backlog = shown([...parseLogChunk(`${pending}${rest.toString('utf8')}\n`).entries, ...switched.between]);
        [live, offset, pending] = [switched.next, 0, ''];
        newest = live?.ino ?? switched.newest ?? newest;
        // inotify watches the file it was given, which is rotated out now.
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

/**
 * PATH opened as the file to read on with, and the entries of the files
 * rotated out after the one of inode `after` (all of them, without it),
 * oldest first: those newer than `after` and older than PATH as opened (a
 * rotation right after the open makes it PATH.1; what is newer than it is
 * read after it). `newest`: the inode of the newest of them.
 */
function nextLog(file: string, after: number | undefined): { next: OpenLog | undefined; between: LogEntry[]; newest?: number } {
  const next = openLog(file);
  let rotated: OpenLog[] = [];
  try {
    rotated = rotatedSnapshot(file);
    const at = (ino: number | undefined) => (ino === undefined ? -1 : rotated.findIndex((r) => r.ino === ino));
    const end = at(after) < 0 ? rotated.length : at(after);
    const between = rotated.slice(at(next?.ino) + 1, end).reverse();
    return { next, between: between.flatMap((r) => parseLogChunk(`${readFrom(r.fd, 0).toString('utf8')}\n`).entries), newest: between.at(-1)?.ino };
  } catch (err) {
    if (next) fs.closeSync(next.fd);
    throw err;
  } finally {
    for (const r of rotated) fs.closeSync(r.fd);
  }
}

/**
 * PATH.1, PATH.2, ... open, newest first, as one moment saw them: the
 * monitor renames them on while they are listed and opened, so the names
 * and inodes are read again after the opens, and all of it once more if
 * a rotation came in between (never more than a few times: a rotation is
 * a record's worth of writes apart from the next). A number missing (a
 * file deleted by hand) is passed over.
 */
function rotatedSnapshot(file: string): OpenLog[] {
  const base = path.basename(file);
  const listed = () => {
    let names: string[];
    try {
      names = fs.readdirSync(path.dirname(file));
    } catch {
      names = [];
    }
    return names
      .map((n) => (n.startsWith(`${base}.`) && /^[1-9]\d?$/.test(n.slice(base.length + 1)) ? Number(n.slice(base.length + 1)) : 0))
      .filter((n) => n > 0)
      .sort((a, b) => a - b)
      .flatMap((n) => {
        try {
          return [{ n, ino: fs.statSync(`${file}.${n}`).ino }];
        } catch {
          return [];
        }
      });
  };
  for (let attempt = 0; ; attempt++) {
    const before = listed();
    const opened: OpenLog[] = [];
    try {
      for (const { n } of before) {
        const log = openLog(`${file}.${n}`);
        if (log) opened.push(log);
      }
    } catch (err) {
      for (const o of opened) fs.closeSync(o.fd);
      throw err;
    }
    const after = listed();
    const same = before.length === after.length && before.every((b, i) => after[i]!.n === b.n && after[i]!.ino === b.ino) && opened.length === before.length && opened.every((o, i) => o.ino === before[i]!.ino);
    if (same || attempt === 20) return opened;
    for (const o of opened) fs.closeSync(o.fd);
  }
}

/**
 * Waits for the next change to a file (inotify, through fs.watch) or for a
 * timeout, whichever comes first; a file that cannot be watched (not there
 * yet) leaves the timeout alone.
 */
class ChangeWaiter {
  private readonly watcher: fs.FSWatcher | undefined;
  private wake: (() => void) | undefined;
  /** A change that came while nobody waited (the reader was busy writing out): the next wait returns at once. */
  private changed = false;

  constructor(file: string) {
    try {
      this.watcher = fs.watch(file, { persistent: false }, () => (this.wake ? this.wake() : (this.changed = true)));
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      this.watcher = undefined;
    }
  }

  wait(ms: number): Promise<void> {
    if (this.changed) {
      this.changed = false;
      return Promise.resolve();
    }
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
