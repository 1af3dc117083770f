import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { storeForFile, tsrunBin } from '../helpers/store.js';

/**
 * Every millisecond of `run` and `exec` counts (issue 6): the commands that
 * start containers from a stored image must not load code they do not use.
 * The registry client (http, https, tls), the tar code (crypto, zlib),
 * child_process (and the net and stream it loads: the monitor is started
 * with posix_spawn) each cost milliseconds of Node's own module loading.
 */

const s = storeForFile('busybox');
const HEAVY = ['http', 'https', 'tls', 'crypto', 'zlib', 'child_process', 'net'];

/** The Node built-ins a tsrun command loaded, recorded by a preload at exit. */
function builtinsLoaded(args: string[]): string[] {
  const out = path.join(s.dir, `modules-${args[0]}.json`);
  const preload = path.join(s.dir, 'record-modules.cjs');
  fs.writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.moduleLoadList)));\n`);
  const r = spawnSync(tsrunBin, ['--root', s.root, '--runroot', s.runroot, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: `--require ${preload}` },
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return (JSON.parse(fs.readFileSync(out, 'utf8')) as string[]).filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length));
}

it('run --rm and exec load neither the registry client, the tar code nor child_process', () => {
  expect(builtinsLoaded(['run', '--rm', 'busybox', 'true']).filter((m) => HEAVY.includes(m))).toEqual([]);
  s.ok(['run', '-d', '--name', 'startup', 'busybox', 'sleep', '100']);
  try {
    expect(builtinsLoaded(['exec', 'startup', 'true']).filter((m) => HEAVY.includes(m))).toEqual([]);
  } finally {
    s.ok(['rm', '-f', 'startup']);
  }
});
