import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

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
  /** Whether the container can still write (follow stops once it cannot and the file is drained). */
  isRunning: () => boolean;
  write: (stream: 'stdout' | 'stderr', text: string) => void;
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

export async function readLog(file: string, opts: LogOptions): Promise<void> {
  const emit = (e: LogEntry) => opts.write(e.stream, opts.timestamps ? `${e.time} ${e.log}` : e.log);
  let offset = 0;
  let pending = '';
  let first = true;
  for (;;) {
    // Check before reading, so the last lines written before the exit are not missed.
    const running = opts.isRunning();
    const chunk = readFrom(file, offset);
    offset += chunk.length;
    const { entries, rest } = parseLogChunk(pending + chunk.toString('utf8'));
    pending = rest;
    const shown = first && opts.tail !== undefined ? entries.slice(Math.max(0, entries.length - opts.tail)) : entries;
    first = false;
    for (const e of shown) emit(e);
    if (!opts.follow || (!running && chunk.length === 0)) return;
    if (chunk.length === 0) await sleep(100);
  }
}

function readFrom(file: string, offset: number): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
    throw err;
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size <= offset) return Buffer.alloc(0);
    const buf = Buffer.alloc(size - offset);
    const n = fs.readSync(fd, buf, 0, buf.length, offset);
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}
