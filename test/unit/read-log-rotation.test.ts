import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { readLog } from '../../src/runtime/logs/read-log.js';

/**
 * readLog against a writer that rotates as the monitor does (rotate_log in
 * native/monitor/main.c): a new file made as PATH.new, PATH.I renamed to
 * PATH.I+1, PATH linked as PATH.1 (with more than one file), PATH.new
 * renamed over PATH; records written whole. The
 * writer runs in a process of its own, so several rotations can come
 * between two reads of the follower.
 */
const WRITER = `
const fs = require('node:fs');
const [file, count, maxBytes, files, pauseEvery] = process.argv.slice(1).map((a, i) => (i === 0 ? a : Number(a)));
let fd = fs.openSync(file, 'a');
let bytes = 0;
for (let i = 0; i < count; i++) {
  const line = JSON.stringify({ log: 'line ' + i + ' ' + 'x'.repeat(40) + '\\n', stream: 'stdout', time: new Date().toISOString() }) + '\\n';
  fs.writeSync(fd, line);
  bytes += line.length;
  if (bytes >= maxBytes) {
    bytes = 0;
    const fresh = fs.openSync(file + '.new', 'w');
    for (let n = files - 1; n > 1; n--) try { fs.renameSync(file + '.' + (n - 1), file + '.' + n); } catch {}
    if (files > 1) {
      try { fs.unlinkSync(file + '.1'); } catch {}
      fs.linkSync(file, file + '.1');
    }
    fs.renameSync(file + '.new', file);
    fs.closeSync(fd);
    fd = fresh;
  }
  if (pauseEvery && i % pauseEvery === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
}
`;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function follow(count: number, maxBytes: number, files: number, pauseEvery: number): Promise<number[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-rotation-'));
  dirs.push(dir);
  const file = path.join(dir, 'ctr.log');
  fs.writeFileSync(file, '');
  const writer = spawn(process.execPath, ['-e', WRITER, file, String(count), String(maxBytes), String(files), String(pauseEvery)], { stdio: 'ignore' });
  let running = true;
  writer.on('exit', () => (running = false));
  const seen: number[] = [];
  await readLog(file, {
    follow: true,
    timestamps: false,
    isRunning: () => running,
    write: (_stream, text) => {
      seen.push(Number(/^line (\d+)/.exec(text)![1]));
      // A slow reader (a terminal, `| grep`): the writer rotates several times meanwhile.
      if (seen.length % 50 === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      return true;
    },
  });
  return seen;
}

it('a follower reads every line once, in order, however many rotations come between its reads', async () => {
  // 99 files: nothing is deleted, so nothing may be missing.
  const seen = await follow(3000, 2000, 99, 7);
  expect(seen).toEqual(Array.from({ length: 3000 }, (_, i) => i));
}, 30_000);

it('with one file (PATH replaced at each rotation) a follower never reads a line twice or out of order', async () => {
  const seen = await follow(2000, 4000, 1, 5);
  expect(seen.length).toBeGreaterThan(0);
  expect(seen.every((n, i) => i === 0 || n > seen[i - 1]!)).toBe(true);
  expect(seen.at(-1)).toBe(1999);
}, 30_000);
