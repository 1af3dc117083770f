import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { recordTeardownPreload, storeForFile, tsrunBin } from '../helpers/store.js';

/**
 * Every millisecond of `run` and `exec` counts (issue 6): the commands that
 * start containers from a stored image must not load code they do not use.
 * The registry client (http, https, tls), the tar code (crypto, zlib),
 * child_process (and the net and stream it loads: the monitor is started
 * with posix_spawn) each cost milliseconds of Node's own module loading.
 */

const s = storeForFile('busybox');
const HEAVY = ['http', 'https', 'tls', 'crypto', 'zlib', 'child_process', 'net'];

/** The Node built-ins a tsrun command loaded, the bundles it compiled and its reads of mountinfo, recorded by a preload at exit. */
function loaded(args: string[]): { builtins: string[]; bundles: string[]; mountinfoReads: number } {
  const out = path.join(s.dir, `modules-${args[0]}.json`);
  const preload = path.join(s.dir, 'record-modules.cjs');
  fs.writeFileSync(
    preload,
    `const vm = require('vm'); const Script = vm.Script; const bundles = [];
vm.Script = function (source, opts) { bundles.push(require('path').basename(opts.filename)); return new Script(source, opts); };
const fs = require('fs'); const readFileSync = fs.readFileSync; let mountinfoReads = 0;
fs.readFileSync = function (file, ...rest) { if (file === '/proc/self/mountinfo') mountinfoReads++; return readFileSync.call(this, file, ...rest); };
process.on('exit', () => fs.writeFileSync(${JSON.stringify(out)}, JSON.stringify({ modules: process.moduleLoadList, bundles, mountinfoReads })));\n`,
  );
  const r = spawnSync(tsrunBin, ['--root', s.root, '--runroot', s.runroot, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: `--require ${preload}` },
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const { modules, bundles, mountinfoReads } = JSON.parse(fs.readFileSync(out, 'utf8')) as { modules: string[]; bundles: string[]; mountinfoReads: number };
  return { builtins: modules.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length)), bundles, mountinfoReads };
}

it('run --rm and exec load neither the registry client, the tar code nor child_process', () => {
  expect(loaded(['run', '--rm', 'busybox', 'true']).builtins.filter((m) => HEAVY.includes(m))).toEqual([]);
  s.ok(['run', '-d', '--name', 'startup', 'busybox', 'sleep', '100']);
  try {
    expect(loaded(['exec', 'startup', 'true']).builtins.filter((m) => HEAVY.includes(m))).toEqual([]);
  } finally {
    s.ok(['rm', '-f', 'startup']);
  }
});

it('run, exec, the lifecycle commands and rm load bundles of their own, other commands the whole CLI', () => {
  expect(loaded(['run', '--rm', 'busybox', 'true']).bundles).toEqual(['tsrun-run.cjs']);
  s.ok(['run', '-d', '--name', 'lean', 'busybox', 'sleep', '100']);
  try {
    expect(loaded(['--log-level', 'warn', 'exec', 'lean', 'true']).bundles).toEqual(['tsrun-exec.cjs']);
    expect(loaded(['ps']).bundles).toEqual(['tsrun.cjs']);
    // Help before the verb lists every command: the whole CLI.
    expect(loaded(['--help', 'run']).bundles).toEqual(['tsrun.cjs']);
    expect(loaded(['stop', '-t', '0', 'lean']).bundles).toEqual(['tsrun-lifecycle.cjs']);
    expect(loaded(['rm', 'lean']).bundles).toEqual(['tsrun-rm.cjs']);
  } finally {
    s.run(['rm', '-f', 'lean']);
  }
});

it('reads mountinfo once a command; run --rm twice, before its mount and before deleting (LESSONS.md 10)', () => {
  expect(loaded(['run', '--rm', 'busybox', 'true']).mountinfoReads).toBe(2);
  expect(loaded(['run', '-d', '--name', 'once', 'busybox', 'sleep', '100']).mountinfoReads).toBe(1);
  try {
    expect(loaded(['exec', 'once', 'true']).mountinfoReads).toBe(1);
    expect(loaded(['ps']).mountinfoReads).toBe(1);
    expect(loaded(['stop', '-t', '0', 'once']).mountinfoReads).toBe(1);
    expect(loaded(['rm', 'once']).mountinfoReads).toBe(1);
  } finally {
    s.run(['rm', '-f', 'once']);
  }
});

it('links the monitor, tsrun-init and the launcher with musl where it builds (CI installs it): every start copies the monitor into a memfd', () => {
  const build = path.resolve(import.meta.dirname, '../../build/native');
  // What CMakeLists.txt chose: musl found and our sources built against it.
  const musl = /^TSRUN_MUSL_BUILDS:INTERNAL=(TRUE|1|ON|YES)$/m.test(fs.readFileSync(path.join(build, 'CMakeCache.txt'), 'utf8'));
  // CI must have it (.ci/setup); a developer without musl-tools builds with a static glibc.
  if (process.env.CI === 'true') expect(musl, 'the monitor links musl').toBe(true);
  for (const exe of ['tsrun-monitor', 'tsrun-init', 'tsrun-launcher']) {
    const bytes = fs.readFileSync(path.join(build, 'Release', exe));
    // A static glibc alone is ~650 kB.
    if (musl) expect(bytes.length, exe).toBeLessThan(256 * 1024);
    expect(bytes.includes('GLIBC'), `${exe} has glibc in it`).toBe(!musl);
  }
});

it('hands the teardown of its memory to a holder at exit (native/addon/exit.cc)', () => {
  const out = path.join(s.dir, 'teardown-holder');
  const r = spawnSync(tsrunBin, ['--root', s.root, '--runroot', s.runroot, 'run', '--rm', 'busybox', 'true'], {
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: `--require ${recordTeardownPreload(s.dir, out)}` },
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const holder = JSON.parse(fs.readFileSync(out, 'utf8')) as { pid: number; cmdline: string };
  expect(holder.pid).toBeGreaterThan(0);
  // Not the command's own line: a `pgrep -f` for what ran does not find the holder while it unmaps.
  expect(holder.cmdline).toBe('tsrun-exit');
});

describe('bin/tsrun and bin/tsrun-oci (native/launcher/main.c)', () => {
  const bin = path.dirname(tsrunBin);
  /** What Node saw: its script, arguments and the CA variables, recorded by a preload. */
  function started(exe: string, args: string[], env: NodeJS.ProcessEnv): { argv: string[]; node?: string; tsrun?: string } {
    const out = path.join(s.dir, 'launched.json');
    const preload = path.join(s.dir, 'record-launch.cjs');
    fs.writeFileSync(
      preload,
      `require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({ argv: process.argv.slice(1), node: process.env.NODE_EXTRA_CA_CERTS, tsrun: process.env.TSRUN_EXTRA_CA_CERTS }));\n`,
    );
    const r = spawnSync(exe, args, { encoding: 'utf8', env: { ...process.env, ...env, NODE_OPTIONS: `--require ${preload}` } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return JSON.parse(fs.readFileSync(out, 'utf8'));
  }

  it('are static programs: no dynamic loader runs before Node', () => {
    // The check itself: a dynamic executable has a PT_INTERP header.
    expect(programHeaderTypes(fs.readFileSync('/bin/sh'))).toContain(PT_INTERP);
    for (const exe of ['tsrun', 'tsrun-oci']) {
      expect(programHeaderTypes(fs.readFileSync(path.join(bin, exe))), exe).not.toContain(PT_INTERP);
    }
  });

  it('say so in one line when their script is not beside them', () => {
    const copy = path.join(s.dir, 'tsrun-copy');
    fs.copyFileSync(tsrunBin, copy);
    fs.chmodSync(copy, 0o755);
    const r = spawnSync(copy, ['--version'], { encoding: 'utf8' });
    expect(r.status).toBe(125);
    expect(r.stderr).toBe(`tsrun-copy: cannot read ${copy}.cjs: No such file or directory\n`);
  });

  it('start Node on the .cjs beside them, with every argument as given after --', () => {
    const args = ['--version', 'a b', '--env-file', '-', ''];
    expect(started(tsrunBin, args, {}).argv).toEqual([path.join(bin, 'tsrun.cjs'), ...args]);
    expect(started(path.join(bin, 'tsrun-oci'), ['--version'], {}).argv).toEqual([path.join(bin, 'tsrun-oci.cjs'), '--version']);
    // Through a symlink (an install in PATH): the script beside the real file.
    const link = path.join(s.dir, 'tsrun-link');
    fs.rmSync(link, { force: true });
    fs.symlinkSync(tsrunBin, link);
    expect(started(link, ['--version'], {}).argv[0]).toBe(path.join(bin, 'tsrun.cjs'));
  });

  it('set NODE_EXTRA_CA_CERTS aside as TSRUN_EXTRA_CA_CERTS, so Node does not parse the bundle at start-up', () => {
    const set = started(tsrunBin, ['--version'], { NODE_EXTRA_CA_CERTS: '/etc/ssl/extra.pem' });
    expect([set.node, set.tsrun]).toEqual([undefined, '/etc/ssl/extra.pem']);
    const empty = started(tsrunBin, ['--version'], { NODE_EXTRA_CA_CERTS: '' });
    expect([empty.node, empty.tsrun]).toEqual([undefined, undefined]);
  });

  it('say so in one line, with 127, when there is no node on PATH', () => {
    const r = spawnSync(tsrunBin, ['--version'], { encoding: 'utf8', env: { ...process.env, PATH: path.join(s.dir, 'no-such-dir') } });
    expect(r.status).toBe(127);
    expect(r.stderr).toBe('tsrun: cannot run node (Node.js 20 or later, on PATH): No such file or directory\n');
  });
});

const PT_INTERP = 3;

/** The types of an ELF64 little-endian executable's program headers. */
function programHeaderTypes(elf: Buffer): number[] {
  expect(elf.subarray(0, 6)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1]));
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const size = elf.readUInt16LE(0x36);
  return Array.from({ length: elf.readUInt16LE(0x38) }, (_, i) => elf.readUInt32LE(phoff + i * size));
}
