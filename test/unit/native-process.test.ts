import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadNative } from '../../src/native/binding.js';
import { repo } from '../helpers/store.js';
import { pidStartTime, waitAllExited } from '../../src/runtime/state/liveness.js';

/**
 * The addon's process functions (native/addon/process.cc), which start and
 * reap every monitor: fds land where asked even when sources and targets
 * overlap, the child has a session of its own and default signals, and the
 * exit comes back as code or signal; and the pidfd wait `stop` and `rm -f`
 * use for processes that are not our children.
 */

const native = loadNative();
// Made before the first test that runs: a file whose tests are all filtered out (-t) runs no afterAll to remove it.
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-process-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** sh -c script with the given fds; its stdout (fd 1) goes to a file, which is returned with the exit. */
async function sh(script: string, fds: (out: number) => number[]): Promise<{ out: string; code: number | null; signal: number | null; pid: number }> {
  const file = path.join(dir, `out-${Math.random().toString(16).slice(2)}`);
  const out = fs.openSync(file, 'w');
  try {
    const pid = native.spawnSession({ path: '/bin/sh', args: ['-c', script], fds: fds(out) });
    const exit = await native.waitExit({ pid });
    if (!exit) throw new Error('not waitable: untraced, it should be');
    return { out: fs.readFileSync(file, 'utf8'), ...exit, pid };
  } finally {
    fs.closeSync(out);
  }
}

it('maps fds as asked, overlapping ones too, and gives /dev/null for -1', async () => {
  const [ar, aw] = native.pipe({});
  const [br, bw] = native.pipe({});
  try {
    fs.writeSync(aw, 'from a');
    fs.writeSync(bw, 'from b');
    native.closeFd({ fd: aw });
    native.closeFd({ fd: bw });
    // Child fd 3 is our b and child fd 4 our a: each source moves out of the way first.
    const r = await sh('cat <&3; echo; cat <&4; echo; cat <&0 | wc -c', (out) => [-1, out, 2, br, ar]);
    expect(r.out).toBe('from b\nfrom a\n0\n');
    expect(r.code).toBe(0);
  } finally {
    native.closeFd({ fd: ar });
    native.closeFd({ fd: br });
  }
});

it('makes pipes whose ends a child does not inherit unless given', async () => {
  const [r, w] = native.pipe({});
  const file = path.join(dir, 'pipe-out');
  const out = fs.openSync(file, 'w');
  let pid: number;
  try {
    pid = native.spawnSession({ path: '/bin/sh', args: ['-c', 'cat <&3'], fds: [-1, out, 2, r] });
    fs.writeSync(w, 'plan');
  } finally {
    fs.closeSync(out);
    native.closeFd({ fd: r });
    // Had the child inherited the write end too, its cat would never see EOF.
    native.closeFd({ fd: w });
  }
  expect(await native.waitExit({ pid })).toMatchObject({ code: 0 });
  expect(fs.readFileSync(file, 'utf8')).toBe('plan');
}, 5000);

it('runs the child in a session of its own with no signal ignored or blocked', async () => {
  process.on('SIGUSR2', () => undefined); // a handler of ours must not leak into the child as anything but the default
  // Field 6 of stat is the session id; cut's is its shell's.
  const r = await sh('grep -E "^(SigIgn|SigBlk)" /proc/self/status; echo sid $(cut -d" " -f6 /proc/self/stat) pid $$', (out) => [-1, out, 2]);
  expect(r.out).toMatch(/SigIgn:\s+0+\n/);
  expect(r.out).toMatch(/SigBlk:\s+0+\n/);
  const [, sid, pid] = /sid (\d+) pid (\d+)/.exec(r.out)!;
  expect(sid).toBe(pid);
});

it('reports an exit code, or the signal that killed the child', async () => {
  expect(await sh('exit 7', (out) => [-1, out, 2])).toMatchObject({ code: 7, signal: null });
  expect(await sh('kill -KILL $$', (out) => [-1, out, 2])).toMatchObject({ code: null, signal: 9 });
});

it('reads whole records from a socket, less only at EOF, and times out', () => {
  const [x, y] = native.socketPair({});
  try {
    fs.writeSync(y, Buffer.from('abcdef'));
    expect(native.readExact({ fd: x, size: 4, timeoutMs: 1000 }).toString()).toBe('abcd');
    expect(native.readExact({ fd: x, size: 2, timeoutMs: 1000 }).toString()).toBe('ef');
    expect(() => native.readExact({ fd: x, size: 4, timeoutMs: 50 })).toThrow(/ETIMEDOUT/);
    fs.writeSync(y, Buffer.from('gh'));
  } finally {
    native.closeFd({ fd: y });
  }
  try {
    expect(native.readExact({ fd: x, size: 4, timeoutMs: 1000 }).toString()).toBe('gh');
  } finally {
    native.closeFd({ fd: x });
  }
});

it('a missing program is an ENOENT error naming it', () => {
  expect(() => native.spawnSession({ path: '/nonexistent/monitor', args: [], fds: [-1, 1, 2] })).toThrow(/ENOENT.*\/nonexistent\/monitor/);
});

it('waits on pidfds until every process has exited, a zombie counting, and not past the timeout', async () => {
  const started = (seconds: number) => {
    const pid = native.spawnSession({ path: '/bin/sleep', args: [String(seconds)], fds: [-1, -1, -1] });
    return { pid, startTime: pidStartTime(pid) };
  };
  const a = started(30);
  const b = started(30);
  const reaped = [native.waitExit({ pid: a.pid }), native.waitExit({ pid: b.pid })];
  try {
    expect(await waitAllExited(native, [a, b], 100)).toBe(false);
    // Only a gone: still waiting on b, which then goes too, well before the timeout.
    process.kill(a.pid, 'SIGKILL');
    expect(await waitAllExited(native, [a, b], 100)).toBe(false);
    const t0 = Date.now();
    setTimeout(() => process.kill(b.pid, 'SIGKILL'), 50);
    expect(await waitAllExited(native, [a, b], 10_000)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(5_000);
  } finally {
    for (const { pid } of [a, b]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await Promise.all(reaped);
  }
});

it('counts a pid now held by another process (start time differs) as gone, and a pid that no longer exists', async () => {
  const pid = native.spawnSession({ path: '/bin/sleep', args: ['30'], fds: [-1, -1, -1] });
  const reaped = native.waitExit({ pid });
  try {
    expect(await waitAllExited(native, [{ pid, startTime: 'not-its-start-time' }], 10_000)).toBe(true);
  } finally {
    process.kill(pid, 'SIGKILL');
    await reaped;
  }
  expect(native.pidfdOpen({ pid })).toBe(-1);
  expect(await waitAllExited(native, [{ pid, startTime: '1' }], 10_000)).toBe(true);
});

it('waits in the event loop: no thread is started, the await resumes at once, and signal handlers run meanwhile', () => {
  // A fresh node: in this test process the thread pool may be running already, and pending work would hide a wait
  // whose promise reactions never ran.
  const script = `
    const addon = { exports: {} };
    process.dlopen(addon, ${JSON.stringify(path.join(repo, 'build/native/Release/tsrun_native.node'))});
    const native = addon.exports;
    const threads = () => require('node:fs').readdirSync('/proc/self/task').length;
    const before = threads();
    let signals = 0;
    process.on('SIGUSR2', () => signals++);
    (async () => {
      const sleeper = native.spawnSession({ path: '/bin/sleep', args: ['30'], fds: [-1, -1, -1] });
      const fd = native.pidfdOpen({ pid: sleeper });
      const timedOut = await native.waitPidfds({ fds: [fd], timeoutMs: 50 });
      process.kill(sleeper, 'SIGKILL');
      const gone = await native.waitPidfds({ fds: [fd], timeoutMs: 10000 });
      native.closeFd({ fd });
      await native.waitExit({ pid: sleeper });
      const pid = native.spawnSession({ path: '/bin/sh', args: ['-c', 'kill -USR2 $PPID; sleep 0.2; exit 3'], fds: [-1, -1, 2] });
      const exit = await native.waitExit({ pid });
      console.log(JSON.stringify({ timedOut, gone, exit, signals, grew: threads() - before }));
    })();
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
  expect(r.stderr).toBe('');
  expect(JSON.parse(r.stdout)).toEqual({ timedOut: false, gone: true, exit: { code: 3, signal: null }, signals: 1, grew: 0 });
});

it('does not block on a child that exited under a tracer: null until the tracer has reaped it, then its exit', { timeout: 20_000 }, async (ctx) => {
  // ptrace is syscall 101 on x86-64 only; root passes Yama's ptrace_scope.
  if (process.arch !== 'x64' || process.getuid?.() !== 0) return ctx.skip();
  // The child waits on its stdin for the tracer to be on, then exits with no child of its own (a traced process
  // stops at each signal, a SIGCHLD too, and would not exit while the tracer holds it).
  const [ours, theirs] = native.socketPair({});
  const pid = native.spawnSession({ path: '/bin/sh', args: ['-c', 'read x; exit 3'], fds: [theirs, -1, 2] });
  native.closeFd({ fd: theirs });
  // perl (Debian's perl-base is always there): PTRACE_SEIZE (0x4206), then a second before it reaps the exit, as a
  // debugger slow to look would.
  const tracer = spawn('perl', ['-e', 'syscall(101, 0x4206, 0+$ARGV[0], 0, 0) == 0 or die "seize: $!"; $| = 1; print "on\\n"; sleep 1; waitpid($ARGV[0], 0);', String(pid)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const tracerExit = once(tracer, 'exit');
  tracer.on('error', () => undefined);
  let open = true;
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 20);
  try {
    await Promise.race([once(tracer.stdout!, 'data'), tracerExit.then(() => Promise.reject(new Error('the tracer did not attach')))]);
    native.closeFd({ fd: ours });
    open = false;
    const before = ticks;
    expect(await native.waitExit({ pid })).toBeNull();
    // The loop ran meanwhile; with a blocking waitid it would not have until the tracer let go.
    await tracerExit;
    expect(ticks - before).toBeGreaterThan(10);
    expect(await native.waitExit({ pid })).toEqual({ code: 3, signal: null });
  } finally {
    clearInterval(ticker);
    tracer.kill('SIGKILL');
    if (open) native.closeFd({ fd: ours });
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // reaped
    }
  }
});

it('hands the teardown of an exiting process to a holder that shares its memory, holds no fd nor directory and dies with it', async () => {
  // A fresh node, as the CLI: the holder is made in its exit listener, its exit code set. A worker thread gets
  // none (a parent-death signal follows the thread that cloned, so its holder would die with the worker).
  const addonPath = path.join(repo, 'build/native/Release/tsrun_native.node');
  const script = `
    const fs = require('node:fs');
    const { Worker } = require('node:worker_threads');
    const addon = { exports: {} };
    process.dlopen(addon, ${JSON.stringify(addonPath)});
    const native = addon.exports;
    process.exitCode = 7;
    let fromWorker;
    new Worker('const a = { exports: {} }; process.dlopen(a, ' + JSON.stringify(${JSON.stringify(addonPath)}) + '); require("node:worker_threads").parentPort.postMessage(a.exports.deferTeardown({}))', { eval: true })
      .on('message', (m) => (fromWorker = m));
    process.on('exit', () => {
      const pid = native.deferTeardown({});
      const again = native.deferTeardown({});
      const proc = (f) => fs.readFileSync('/proc/' + pid + '/' + f, 'utf8');
      const blocked = BigInt('0x' + /SigBlk:\\s*(\\w+)/.exec(proc('status'))[1]);
      fs.writeSync(1, JSON.stringify({
        pid, again, fromWorker, comm: proc('comm').trim(), fds: fs.readdirSync('/proc/' + pid + '/fd'), cwd: fs.readlinkSync('/proc/' + pid + '/cwd'),
        // kcmp(KCMP_VM) (syscall 312 on x86-64) is 0 for two processes on one address space, as CLONE_VM makes.
        sharedMemory: require('node:child_process').spawnSync('perl', ['-e', 'print syscall(312, 0+$ARGV[0], 0+$ARGV[1], 1, 0, 0)', String(process.pid), String(pid)], { encoding: 'utf8' }).stdout,
        intTermBlocked: ((blocked >> 1n) & 1n) === 1n && ((blocked >> 14n) & 1n) === 1n,
      }));
    });
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000, cwd: dir });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(7);
  const seen = JSON.parse(r.stdout) as { pid: number };
  expect(seen).toEqual({ pid: expect.any(Number), again: 0, fromWorker: 0, comm: 'tsrun-exit', fds: [], cwd: '/', sharedMemory: process.arch === 'x64' ? '0' : expect.any(String), intTermBlocked: true });
  expect(seen.pid).toBeGreaterThan(0);
  // Killed at its parent's death: gone, or a zombie its new parent has yet to reap.
  const state = () => {
    try {
      return fs.readFileSync(`/proc/${seen.pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
    } catch {
      return 'gone';
    }
  };
  for (let i = 0; i < 500 && state() !== 'gone' && state() !== 'Z'; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(['gone', 'Z']).toContain(state());
});
