import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadNative } from '../../src/native/binding.js';
import { makeStartFifo, releaseStartFifo } from '../../src/runtime/start-fifo.js';

/**
 * The created state's FIFO (src/runtime/start-fifo.ts): start takes the
 * init's byte the moment it comes, and a dead init fails it instead of
 * hanging it.
 */

const native = loadNative();
// Made before the first test that runs: a file whose tests are all filtered out (-t) runs no afterAll to remove it.
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-fifo-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('takes the byte of an init blocked opening the FIFO, and removes the FIFO', async () => {
  const fifo = makeStartFifo(native, path.join(dir, 'a', 'exec.fifo'));
  // As the init does: open for writing (blocks until start opens it for reading), write one byte.
  const init = spawn('sh', ['-c', `printf 0 > ${fifo}`], { stdio: 'ignore' });
  const exited = new Promise((resolve) => init.on('exit', resolve));
  const t0 = Date.now();
  await releaseStartFifo(native, fifo, 'a', () => true);
  expect(Date.now() - t0).toBeLessThan(5_000);
  expect(await exited).toBe(0);
  expect(fs.existsSync(fifo)).toBe(false);
});

it('fails for an init that died before it opened the FIFO, or closed it without writing', async () => {
  const never = makeStartFifo(native, path.join(dir, 'b', 'exec.fifo'));
  await expect(releaseStartFifo(native, never, 'b', () => false)).rejects.toThrow('container b died before it could start');
  const closed = makeStartFifo(native, path.join(dir, 'c', 'exec.fifo'));
  const init = spawn('sh', ['-c', `: > ${closed}`], { stdio: 'ignore' });
  let alive = true;
  init.on('exit', () => (alive = false));
  await expect(releaseStartFifo(native, closed, 'c', () => alive)).rejects.toThrow('container c died before it could start');
});
