import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadNative } from '../../src/native/binding.js';
import { REPORT_SIZE, ReportKind, decodeReport, type Report } from '../../src/native/report.js';
import { DEFAULT_DEV_SYMLINKS } from '../../src/oci/spec.js';
import { MS, encodeExecPlan, encodePlan, type ExecPlan, type LaunchPlan } from '../../src/runtime/plan/launch-plan.js';

/**
 * The monitor driven directly, without the CLI: a plan on fd 3, reports on
 * fd 4, the caller's stdio on 0-2. The rootfs is a plain directory with a
 * static busybox; every mount happens in the container's own mount
 * namespace, so the host keeps none (checked after the suite).
 */

const repo = path.resolve(import.meta.dirname, '../..');
const monitorBin = path.join(repo, 'build/native/Release/tsrun-monitor');
const initBin = path.join(repo, 'build/native/Release/tsrun-init');
const ENOENT = os.constants.errno.ENOENT;

let dir: string;
let rootfs: string;
/** Processes to SIGKILL after each test (container inits, orphans), and monitors to wait for. */
const pids = new Set<number>();
const monitors = new Set<Monitor>();

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-monitor-'));
  rootfs = path.join(dir, 'rootfs');
  for (const d of ['bin', 'sbin', 'proc', 'dev', 'sys', 'tmp', 'etc', 'root']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.chmodSync(path.join(rootfs, 'tmp'), 0o1777);
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  for (const applet of execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n')) {
    if (applet && applet !== 'busybox') fs.symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  }
  fs.copyFileSync(initBin, path.join(rootfs, 'sbin/tsrun-init'));
  fs.chmodSync(path.join(rootfs, 'sbin/tsrun-init'), 0o755);
});

afterEach(async () => {
  for (const pid of pids) kill(pid, 'SIGKILL');
  pids.clear();
  // With their container process gone every monitor exits by itself (after
  // at most the 2 s drain); one that does not is a bug, but must not linger.
  for (const m of monitors) {
    const gone = await Promise.race([m.exited.then(() => true), sleep(5000).then(() => false)]);
    if (!gone && m.child.pid) kill(m.child.pid, 'SIGKILL');
  }
  monitors.clear();
});

afterAll(() => {
  const native = loadNative();
  const left = hostMounts();
  for (const m of left.sort((a, b) => b.length - a.length)) {
    try {
      native.unmount({ target: m, flags: native.constants.MNT_DETACH });
    } catch {
      // already gone
    }
  }
  if (hostMounts().length === 0) fs.rmSync(dir, { recursive: true, force: true });
  expect(left).toEqual([]);
});

function hostMounts(): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined && m.startsWith(dir + '/'));
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function runPlan(over: Partial<LaunchPlan>): LaunchPlan {
  return {
    root: rootfs,
    namespaces: ['mnt', 'pid', 'uts', 'ipc'],
    nsPaths: [],
    propagation: MS.SLAVE | MS.REC,
    hostname: 'boxy',
    mounts: [
      { dest: '/proc', type: 'proc', source: 'proc', flags: MS.NOSUID | MS.NOEXEC | MS.NODEV, data: '', kind: 'dir' },
      { dest: '/dev', type: 'tmpfs', source: 'tmpfs', flags: MS.NOSUID | MS.STRICTATIME, data: 'mode=755,size=65536k', kind: 'dir' },
      { dest: '/dev/pts', type: 'devpts', source: 'devpts', flags: MS.NOSUID | MS.NOEXEC, data: 'newinstance,ptmxmode=0666,mode=0620,gid=5', kind: 'dir' },
    ],
    devices: [
      { path: '/dev/null', kind: 'c', major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0 },
      { path: '/dev/zero', kind: 'c', major: 1, minor: 5, mode: 0o666, uid: 0, gid: 0 },
      { path: '/dev/tty', kind: 'c', major: 5, minor: 0, mode: 0o666, uid: 0, gid: 0 },
    ],
    symlinks: DEFAULT_DEV_SYMLINKS,
    masked: [],
    readonly: [],
    env: ['PATH=/bin:/sbin', 'HOME=/root'],
    args: ['true'],
    cwd: '/',
    mkcwd: false,
    uid: 0,
    gid: 0,
    groups: [],
    rlimits: [],
    noNewPrivs: true,
    loopback: false,
    ...over,
  };
}

function execPlan(pid: number, over: Partial<ExecPlan>): ExecPlan {
  return {
    join: { pid, namespaces: ['mnt', 'pid', 'uts', 'ipc'] },
    env: ['PATH=/bin:/sbin'],
    args: ['true'],
    cwd: '/',
    uid: 0,
    gid: 0,
    groups: [],
    rlimits: [],
    noNewPrivs: true,
    ...over,
  };
}

interface Monitor {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** The first record on fd 4. */
  report: Promise<Report>;
  /** fd 4 reached EOF (the monitor closes it after its first record). */
  reportClosed: Promise<void>;
  /** The monitor's stdout reached EOF. */
  stdoutClosed: Promise<void>;
  /** The monitor's exit code (128+N for a signal). */
  exited: Promise<number>;
}

function startMonitor(plan: Buffer, opts: { stdin?: 'pipe' | 'ignore' } = {}): Monitor {
  const child = spawn(monitorBin, [], { stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe', 'pipe', 'pipe'], detached: true });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const planPipe = child.stdio[3] as Writable;
  planPipe.on('error', () => {});
  planPipe.end(plan);
  const reports = child.stdio[4] as Readable;
  const chunks: Buffer[] = [];
  const reportClosed = new Promise<void>((resolve) => reports.on('close', () => resolve()));
  const report = new Promise<Report>((resolve, reject) => {
    reports.on('data', (d: Buffer) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      if (all.length >= REPORT_SIZE) resolve(decodeReport(all.subarray(0, REPORT_SIZE)));
    });
    reports.on('close', () => reject(new Error(`fd 4 closed without a report; stderr: ${err}`)));
  });
  report.catch(() => {});
  const stdoutClosed = new Promise<void>((resolve) => child.stdout!.on('close', () => resolve()));
  const exited = new Promise<number>((resolve) =>
    child.on('exit', (code, sig) => resolve(code ?? 128 + (sig ? os.constants.signals[sig] : 0))),
  );
  const m: Monitor = { child, stdout: () => out, stderr: () => err, report, reportClosed, stdoutClosed, exited };
  monitors.add(m);
  return m;
}

/** Starts a run plan and waits for STARTED; the init is killed after the test. */
async function started(plan: LaunchPlan, opts: { stdin?: 'pipe' | 'ignore' } = {}): Promise<{ m: Monitor; pid: number }> {
  const m = startMonitor(encodePlan(plan), opts);
  const r = await m.report;
  expect(r, r.detail).toMatchObject({ kind: ReportKind.Started });
  pids.add(r.pid);
  return { m, pid: r.pid };
}

/** Runs a plan to the end: its output, exit code and first report. */
async function runToEnd(plan: Buffer, opts: { stdin?: 'pipe' | 'ignore'; input?: string } = {}) {
  const m = startMonitor(plan, opts);
  if (opts.input !== undefined) m.child.stdin!.end(opts.input);
  const report = await m.report;
  if (report.kind !== ReportKind.Failed) pids.add(report.pid);
  const code = await m.exited;
  await m.stdoutClosed;
  return { code, report, stdout: m.stdout(), stderr: m.stderr() };
}

function readJsonLines(file: string): { log: string; stream: string; time: string }[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** What `start` does: opens the FIFO to read (without blocking Node) and reads the byte. */
async function startFifo(fifo: string): Promise<string> {
  const fd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(1);
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        if (fs.readSync(fd, buf, 0, 1, null) === 1) return buf.toString();
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      }
      if (Date.now() > deadline) throw new Error('the container never wrote the start byte');
      await sleep(10);
    }
  } finally {
    fs.closeSync(fd);
  }
}

function mkfifo(name: string): string {
  const p = path.join(dir, name);
  fs.rmSync(p, { force: true });
  execFileSync('mkfifo', ['-m', '0600', p]);
  return p;
}

describe('monitor: who owns the output', () => {
  it('copies stdout and stderr to its own with attach, and to the log as json-file lines', async () => {
    const log = path.join(dir, 'attach.log');
    const exit = path.join(dir, 'attach.json');
    const r = await runToEnd(encodePlan(runPlan({ args: ['sh', '-c', 'echo out; echo err >&2; exit 3'], attach: true, logPath: log, exitFile: exit })));
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
    expect(readJsonLines(log).map((l) => [l.stream, l.log]).sort()).toEqual([
      ['stderr', 'err\n'],
      ['stdout', 'out\n'],
    ]);
    expect(JSON.parse(fs.readFileSync(exit, 'utf8'))).toMatchObject({ exitCode: 3, signal: 0 });
  });

  it('keeps the caller\'s stdio out of a detached container', async () => {
    const log = path.join(dir, 'detached.log');
    const r = await runToEnd(encodePlan(runPlan({ args: ['sh', '-c', 'echo only-in-log'], logPath: log })));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(readJsonLines(log).map((l) => l.log)).toContain('only-in-log\n');
  });

  it('exits, closing its stdout, while a grandchild holds the container-side pipe (containerd#2823)', async () => {
    // No PID namespace, so the orphaned sleep outlives the container's init.
    const plan = runPlan({ namespaces: ['mnt', 'uts', 'ipc'], args: ['sh', '-c', 'sleep 30 & echo $!; echo hi'], attach: true });
    const t0 = Date.now();
    const m = startMonitor(encodePlan(plan));
    const report = await m.report;
    pids.add(report.pid);
    expect(await m.exited).toBe(0);
    await m.stdoutClosed;
    const [orphan, hi] = m.stdout().trim().split('\n');
    pids.add(Number(orphan));
    expect(hi).toBe('hi');
    expect(fs.existsSync(`/proc/${orphan}`)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it('gives the container the caller\'s stdin only with stdin, /dev/null otherwise', async () => {
    const fed = await runToEnd(encodePlan(runPlan({ args: ['cat'], attach: true, stdin: true })), { stdin: 'pipe', input: 'hello\n' });
    expect(fed.stdout).toBe('hello\n');
    expect(fed.code).toBe(0);
    // The caller's stdin stays open, yet cat sees EOF at once.
    const m = startMonitor(encodePlan(runPlan({ args: ['sh', '-c', 'cat; readlink /proc/self/fd/0; echo done'], attach: true })), { stdin: 'pipe' });
    pids.add((await m.report).pid);
    expect(await m.exited).toBe(0);
    expect(m.stdout()).toBe('/dev/null\ndone\n');
    m.child.stdin!.end();
  });
});

describe('monitor: lifetime', () => {
  async function gone(pid: number): Promise<boolean> {
    for (let i = 0; i < 200; i++) {
      if (!fs.existsSync(`/proc/${pid}`) || /^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))) return true;
      await sleep(10);
    }
    return false;
  }

  it('exits 0 without a word on an empty plan (tsrun spawns it ahead of the plan, and may give up)', async () => {
    const m = startMonitor(Buffer.alloc(0));
    expect(await m.exited).toBe(0);
    await m.reportClosed;
    await m.stdoutClosed;
    expect(m.stdout() + m.stderr()).toBe('');
  });

  it('takes the container process with it when it is killed (PID 1, after setresuid)', async () => {
    const { m, pid } = await started(runPlan({ args: ['sleep', '60'], uid: 1000, gid: 1000, logPath: path.join(dir, 'pdeath.log') }));
    m.child.kill('SIGKILL');
    expect(await gone(pid)).toBe(true);
  });

  it('takes a created container with it too', async () => {
    const m = startMonitor(encodePlan(runPlan({ args: ['true'], startFifo: mkfifo('pdeath.fifo') })));
    const r = await m.report;
    pids.add(r.pid);
    m.child.kill('SIGKILL');
    expect(await gone(r.pid)).toBe(true);
  });
});

describe('monitor: terminal', () => {
  it('gives the process a pty of the container\'s devpts, sized from the plan, as /dev/console too', async () => {
    const log = path.join(dir, 'tty.log');
    const script = 'tty; stty size; [ -t 0 ] && [ -t 2 ] && echo all-tty; stat -c %t:%T /dev/console; stat -L -c %t:%T /proc/self/fd/1; echo ctty > /dev/tty';
    const r = await runToEnd(encodePlan(runPlan({ args: ['sh', '-c', script], tty: true, attach: true, winsize: { rows: 33, cols: 101 }, logPath: log })));
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\r\n');
    expect(lines.slice(0, 3)).toEqual(['/dev/pts/0', '33 101', 'all-tty']);
    expect(lines[3]).toMatch(/^88:0$/); // Unix98 pty slaves are major 136 (0x88)
    expect(lines[4]).toBe(lines[3]);
    expect(lines[5]).toBe('ctty'); // the pty is the controlling terminal
    expect(r.stderr).toBe('');
    const logged = readJsonLines(log);
    expect(logged.every((l) => l.stream === 'stdout')).toBe(true);
    expect(logged.map((l) => l.log).join('')).toBe(r.stdout);
  });

  it('copies stdin to the terminal and ends it with the EOF character', async () => {
    const r = await runToEnd(encodePlan(runPlan({ args: ['sh', '-c', 'read x; echo got:$x; cat; echo end'], tty: true, attach: true, stdin: true })), {
      stdin: 'pipe',
      input: 'abc\nmore\n',
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('got:abc\r\n');
    expect(r.stdout).toMatch(/more\r\n[^]*end\r\n$/);
  });
});

describe('monitor: created state (start FIFO)', () => {
  it('reports CREATED, waits before execve, and runs once the FIFO is read', async () => {
    const fifo = mkfifo('ok.fifo');
    const exit = path.join(dir, 'created.json');
    const m = startMonitor(encodePlan(runPlan({ args: ['sh', '-c', 'echo started; id -u'], attach: true, startFifo: fifo, exitFile: exit, uid: 1000, gid: 1000 })));
    const r = await m.report;
    expect(r, r.detail).toMatchObject({ kind: ReportKind.Created });
    pids.add(r.pid);
    await m.reportClosed; // `create` returns here
    await sleep(300);
    expect(fs.readFileSync(`/proc/${r.pid}/comm`, 'utf8')).toBe('tsrun:[init]\n');
    expect(m.child.exitCode).toBe(null);
    expect(m.stdout()).toBe('');
    expect(await startFifo(fifo)).toBe('0');
    expect(await m.exited).toBe(0);
    await m.stdoutClosed;
    expect(m.stdout()).toBe('started\n1000\n');
    const st = JSON.parse(fs.readFileSync(exit, 'utf8'));
    expect(st).toMatchObject({ exitCode: 0, signal: 0, pid: r.pid });
    expect(st.failure).toBeUndefined();
  });

  it('puts a failure after start (execve ENOENT) in the exit file', async () => {
    const fifo = mkfifo('enoent.fifo');
    const exit = path.join(dir, 'enoent.json');
    const m = startMonitor(encodePlan(runPlan({ args: ['/no/such/cmd'], startFifo: fifo, exitFile: exit })));
    const r = await m.report;
    expect(r.kind).toBe(ReportKind.Created);
    pids.add(r.pid);
    await startFifo(fifo);
    expect(await m.exited).toBe(127);
    expect(JSON.parse(fs.readFileSync(exit, 'utf8'))).toMatchObject({
      exitCode: 127,
      signal: 0,
      failure: { stage: 23, index: 0, errno: ENOENT, detail: '/no/such/cmd' },
    });
  });

  it('can be stopped while it waits', async () => {
    const fifo = mkfifo('stop.fifo');
    const exit = path.join(dir, 'stop.json');
    // Not PID 1 of a namespace, which ignores SIGTERM whether created or running.
    const m = startMonitor(encodePlan(runPlan({ namespaces: ['mnt', 'uts', 'ipc'], args: ['true'], startFifo: fifo, exitFile: exit })));
    const r = await m.report;
    pids.add(r.pid);
    m.child.kill('SIGTERM'); // forwarded to the init
    expect(await m.exited).toBe(143);
    expect(JSON.parse(fs.readFileSync(exit, 'utf8'))).toMatchObject({ exitCode: 143, signal: 15 });
  });

  it('as PID 1 of its namespace too, which gets only the signals it handles: it exits 128+N', async () => {
    const fifo = mkfifo('stop-pid1.fifo');
    const exit = path.join(dir, 'stop-pid1.json');
    const m = startMonitor(encodePlan(runPlan({ namespaces: ['mnt', 'uts', 'ipc', 'pid'], args: ['true'], startFifo: fifo, exitFile: exit })));
    const r = await m.report;
    pids.add(r.pid);
    m.child.kill('SIGTERM');
    expect(await m.exited).toBe(143);
    expect(JSON.parse(fs.readFileSync(exit, 'utf8'))).toMatchObject({ exitCode: 143, signal: 0 });
  });
});

describe('monitor: exec mode', () => {
  let init = 0;
  let box: Monitor | undefined;

  beforeAll(async () => {
    const { m, pid } = await started(runPlan({ args: ['sleep', '3600'], logPath: path.join(dir, 'box.log') }));
    box = m;
    init = pid;
    // Shared by the tests below: cleaned up after the last one, not after the first.
    pids.delete(pid);
    monitors.delete(m);
  });
  afterAll(async () => {
    if (init) kill(init, 'SIGKILL');
    if (box) expect(await box.exited).toBe(137);
  });

  it('joins the container: its hostname, its PID namespace, its exit code', async () => {
    const exit = path.join(dir, 'exec.json');
    const plan = execPlan(init, { args: ['sh', '-c', 'hostname; tr "\\0" " " < /proc/1/cmdline; echo; echo $$; exit 7'], attach: true, exitFile: exit });
    const r = await runToEnd(encodeExecPlan(plan));
    expect(r.report.kind).toBe(ReportKind.Started);
    expect(r.report.pid).toBeGreaterThan(0);
    expect(r.report.pid).not.toBe(init);
    expect(r.code).toBe(7);
    const [host, cmd, ownPid] = r.stdout.split('\n');
    expect(host).toBe('boxy');
    expect(cmd).toBe('sleep 3600 ');
    expect(Number(ownPid)).toBeLessThan(100); // a pid of the container's namespace
    expect(JSON.parse(fs.readFileSync(exit, 'utf8'))).toMatchObject({ exitCode: 7, pid: r.report.pid });
  });

  it('runs as the planned user in the planned cwd, with no fd of the monitor', async () => {
    const r = await runToEnd(
      encodeExecPlan(execPlan(init, { args: ['sh', '-c', 'id -u; id -g; pwd; cd /proc/self/fd && echo *'], uid: 1000, gid: 1000, cwd: '/tmp', attach: true })),
    );
    expect(r.code).toBe(0);
    // sh's own fds: 0-2 and the directory `echo *` reads.
    expect(r.stdout).toBe('1000\n1000\n/tmp\n0 1 2 3\n');
  });

  it('returns while a grandchild holds its stdout', async () => {
    const t0 = Date.now();
    const r = await runToEnd(encodeExecPlan(execPlan(init, { args: ['sh', '-c', 'sleep 30 & echo hi'], attach: true })));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('hi\n');
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it('gets a terminal from the container\'s devpts', async () => {
    const r = await runToEnd(encodeExecPlan(execPlan(init, { args: ['sh', '-c', 'tty; stty size'], tty: true, attach: true, winsize: { rows: 10, cols: 20 } })));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\/dev\/pts\/\d+\r\n10 20\r\n$/);
  });

  it('reports a command that is not found, and a container that is gone', async () => {
    const missing = await runToEnd(encodeExecPlan(execPlan(init, { args: ['no-such-cmd'] })));
    expect(missing.report).toMatchObject({ kind: ReportKind.Failed, stage: 23, errno: ENOENT, detail: 'no-such-cmd' });
    expect(missing.code).toBe(127);

    const gone = spawn('true');
    await new Promise((r) => gone.on('exit', r));
    const r = await runToEnd(encodeExecPlan(execPlan(gone.pid!, {})));
    expect(r.report).toMatchObject({ kind: ReportKind.Failed, stage: 28, detail: 'pidfd_open' });
    expect(r.code).toBe(125);
  });
});

describe('tsrun-init', () => {
  it('reaps the orphans reparented to it', async () => {
    const script = 'sh -c "sleep 0.2 & exit 0"; sleep 1; cat /proc/[0-9]*/stat';
    const r = await runToEnd(encodePlan(runPlan({ args: ['/sbin/tsrun-init', '--', 'sh', '-c', script], attach: true })));
    expect(r.code).toBe(0);
    const procs = r.stdout.trim().split('\n').map((l) => l.match(/^(\d+) \((.*)\) (\S)/)!.slice(1));
    expect(procs).toContainEqual(['1', 'tsrun-init', 'S']);
    expect(procs.filter(([, , state]) => state === 'Z')).toEqual([]);
  });

  it('forwards SIGTERM to its child and exits with its status (143)', async () => {
    const exit = path.join(dir, 'init-term.json');
    const { m } = await started(runPlan({ args: ['/sbin/tsrun-init', 'sleep', '30'], exitFile: exit }));
    await sleep(200);
    m.child.kill('SIGTERM');
    expect(await m.exited).toBe(143);
    expect(JSON.parse(fs.readFileSync(exit, 'utf8'))).toMatchObject({ exitCode: 143, signal: 0 });
  });

  it('says why a command cannot run, with 127 or 126', async () => {
    const missing = await runToEnd(encodePlan(runPlan({ args: ['/sbin/tsrun-init', 'no-such-cmd'], attach: true })));
    expect(missing.code).toBe(127);
    expect(missing.stderr).toBe('tsrun-init: no-such-cmd: No such file or directory\n');
    const notExec = await runToEnd(encodePlan(runPlan({ args: ['/sbin/tsrun-init', '/etc'], attach: true })));
    expect(notExec.code).toBe(126);
    expect(notExec.stderr).toBe('tsrun-init: /etc: Permission denied\n');
  });
});

describe('monitor: footprint', () => {
  it('stays under 1 MB resident while its container runs', async () => {
    const { m } = await started(runPlan({ args: ['sleep', '30'], logPath: path.join(dir, 'rss.log') }));
    const status = fs.readFileSync(`/proc/${m.child.pid}/status`, 'utf8');
    const rssKb = Number(status.match(/^VmRSS:\s+(\d+) kB$/m)![1]);
    expect(rssKb).toBeGreaterThan(0);
    expect(rssKb).toBeLessThan(1024);
  });
});
