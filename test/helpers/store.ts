import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, inject } from 'vitest';
import { loadNative } from '../../src/native/binding.js';
import { initSparesDir, storePaths } from '../../src/store/paths.js';

export const repo = path.resolve(import.meta.dirname, '../..');
export const tsrunBin = path.join(repo, 'bin/tsrun');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A private store (--root) and state dir (--runroot) under a temp dir, and a
 * way to run the real CLI against them. `cleanup()` removes every container
 * with `rm -f`, then detaches anything still mounted under the temp dir and
 * deletes it, so a failing test leaves nothing behind.
 */
export class TestStore {
  #dir: string | undefined;

  /** Made on first use: a file whose tests are all filtered out (-t) runs no afterAll to remove it. */
  get dir(): string {
    this.#dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-test-'));
    return this.#dir;
  }

  get root(): string {
    return path.join(this.dir, 'root');
  }

  get runroot(): string {
    return path.join(this.dir, 'run');
  }

  get fixtures(): string {
    return inject('fixturesDir');
  }

  /** Runs `tsrun --root R --runroot RR ...args` to completion. */
  run(args: string[], opts: { input?: string; timeoutMs?: number } = {}): RunResult {
    const r: SpawnSyncReturns<string> = spawnSync(tsrunBin, ['--root', this.root, '--runroot', this.runroot, ...args], {
      encoding: 'utf8',
      input: opts.input,
      timeout: opts.timeoutMs ?? 30_000,
      env: { ...process.env, TSRUN_LOG_LEVEL: 'warn' },
    });
    if (r.error) throw r.error;
    return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
  }

  /** Like run, but fails the test unless the exit code is 0. */
  ok(args: string[]): string {
    const r = this.run(args);
    if (r.code !== 0) throw new Error(`tsrun ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /** Runs with piped stdio the way Node's exec would, resolving when the CLI exits (runc#1047); `input`, if given, is its whole stdin. */
  runAsync(args: string[], timeoutMs = 30_000, input?: string): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(tsrunBin, ['--root', this.root, '--runroot', this.runroot, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      if (input !== undefined) child.stdin.end(input);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`tsrun ${args.join(' ')} did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? 128, stdout, stderr });
      });
    });
  }

  loadFixture(name: 'busybox' | 'hello-world-v1'): void {
    this.ok(['load', '-q', '-i', path.join(this.fixtures, `${name}.tar`)]);
  }

  inspect<T = any>(ref: string): T {
    return JSON.parse(this.ok(['inspect', ref]))[0] as T;
  }

  /** The layer dirs under overlay/, sorted: not l/, nor the spare init diffs removals keep (store/init-layer.ts). */
  layerDirs(): string[] {
    const spares = path.basename(initSparesDir(storePaths(this.root, this.runroot)));
    return fs.readdirSync(path.join(this.root, 'overlay')).filter((n) => n !== 'l' && n !== spares).sort();
  }

  /** Mount points under this store's temp dir, from the kernel. */
  mounts(): string[] {
    return fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m): m is string => m !== undefined && (m === this.dir || m.startsWith(this.dir + '/')));
  }

  cleanup(): void {
    if (this.#dir === undefined) return;
    if (fs.existsSync(this.root)) {
      const ids = this.run(['ps', '-aq', '--no-trunc']).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) this.run(['rm', '-f', ...ids]);
    }
    const native = loadNative();
    for (const m of this.mounts().sort((a, b) => b.length - a.length)) {
      try {
        native.unmount({ target: m, flags: native.constants.MNT_DETACH });
      } catch {
        // already gone
      }
    }
    if (this.mounts().length === 0) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls until fn returns true (for detached containers), failing after timeoutMs. */
export async function until(fn: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A TestStore for a whole test file, with the given fixture images loaded
 * before its tests and everything cleaned up after them.
 */
export function storeForFile(...images: ('busybox' | 'hello-world-v1')[]): TestStore {
  const store = new TestStore();
  beforeAll(() => {
    for (const image of images) store.loadFixture(image);
  });
  afterAll(() => store.cleanup());
  return store;
}

/**
 * A --require preload (written into dir) that records in `out` the pid that
 * the addon's deferTeardown returns at the CLI's exit (the holder of its
 * memory's teardown, native/addon/exit.cc; 0 for none) and the command line
 * the holder shows in /proc (it shares the CLI's): { pid, cmdline }.
 */
export function recordTeardownPreload(dir: string, out: string): string {
  const preload = path.join(dir, 'record-teardown.cjs');
  fs.writeFileSync(
    preload,
    `const dlopen = process.dlopen;
process.dlopen = function (m, file, ...rest) {
  dlopen.call(this, m, file, ...rest);
  const defer = m.exports.deferTeardown;
  if (defer) m.exports.deferTeardown = (o) => {
    const cmdline = require('fs').readFileSync('/proc/self/cmdline', 'latin1').replace(/\\0+$/, '');
    const pid = defer(o);
    require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({ pid, cmdline }));
    return pid;
  };
};\n`,
  );
  return preload;
}
