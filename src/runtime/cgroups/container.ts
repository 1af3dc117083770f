import * as fs from 'node:fs';
import * as os from 'node:os';
import { RuntimeError } from '../../errors.js';
import type { OciSpec } from '../../oci/spec.js';
import { containerFile, containerLockFile } from '../../store/paths.js';
import { readJsonIfExists, writeJsonAtomic } from '../../util/atomic-write.js';
import { withLock } from '../../util/lock.js';
import type { Context } from '../context.js';
import { readRecord, writeRecord, type ContainerRecord } from '../state/record.js';
import { currentState } from '../state/status.js';
import { type CgroupSample, type ContainerCgroup, applyLimits, cgroupHost, cgroupPids, cgroupsPathFor, existingCgroup, hostCpuNs, sampleCgroup } from './host.js';
import { type ResourceFlags, ociResources, parseResourceFlags } from './limits.js';

/** `stats`, `top` and `update`: what the cgroups of a running container say, and changing its limits. */

/** The running container's cgroups, or an error naming it. */
export function runningCgroup(ctx: Context, rec: ContainerRecord): ContainerCgroup {
  if (!currentState(ctx.paths, rec).running) throw new RuntimeError(`container ${rec.name} is not running`);
  return existingCgroup(cgroupHost(), cgroupsPathFor(rec.id));
}

export interface StatsSample extends CgroupSample {
  /** The host's CPU time at the same moment (docker's system_cpu_usage), ns. */
  systemNs: number;
}

export function sampleStats(cg: ContainerCgroup): StatsSample {
  return { ...sampleCgroup(cgroupHost(), cg), systemNs: hostCpuNs() };
}

/** Bytes received and sent on the interfaces of pid's network namespace but lo (docker's NET I/O); 0 when it is gone. */
export function networkBytes(pid: number): { rx: number; tx: number } {
  let text = '';
  try {
    text = fs.readFileSync(`/proc/${pid}/net/dev`, 'latin1');
  } catch {
    return { rx: 0, tx: 0 };
  }
  let rx = 0;
  let tx = 0;
  // Two header lines, then "  eth0: rxbytes packets errs drop fifo frame compressed multicast txbytes ...".
  for (const line of text.split('\n').slice(2)) {
    const [name, counters] = line.split(':');
    if (!counters || name!.trim() === 'lo') continue;
    const f = counters.trim().split(/\s+/).map(Number);
    rx += f[0] ?? 0;
    tx += f[8] ?? 0;
  }
  return { rx, tx };
}

export const onlineCpus = () => os.availableParallelism();
export const hostMemory = () => os.totalmem();

export interface ProcessRow {
  uid: string;
  pid: number;
  ppid: number;
  c: string;
  stime: string;
  tty: string;
  time: string;
  cmd: string;
}

/** The container's processes as `ps -ef` shows them (docker top's default). */
export function topProcesses(cg: ContainerCgroup): ProcessRow[] {
  const rows: ProcessRow[] = [];
  const clk = 100;
  const uptime = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  const bootMs = Date.now() - uptime * 1000;
  for (const pid of cgroupPids(cg).sort((a, b) => a - b)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const f = stat.slice(close + 2).split(' ');
      const ppid = Number(f[1]);
      const ttyNr = Number(f[4]);
      const cpuTicks = Number(f[11]) + Number(f[12]);
      const startTicks = Number(f[19]);
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1] ?? '?';
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      const started = new Date(bootMs + (startTicks / clk) * 1000);
      const elapsed = uptime - startTicks / clk;
      rows.push({
        uid: uid === '0' ? 'root' : uid,
        pid,
        ppid,
        c: String(elapsed > 0 ? Math.floor(((cpuTicks / clk) / elapsed) * 100) : 0),
        stime: Date.now() - started.getTime() < 86_400_000 ? started.toTimeString().slice(0, 5) : started.toDateString().slice(4, 10),
        tty: ttyNr === 0 ? '?' : `pts/${ttyNr & 0xff}`,
        time: cpuTime(Math.floor(cpuTicks / clk)),
        cmd: cmdline || `[${comm}]`,
      });
    } catch {
      // exited meanwhile
    }
  }
  return rows;
}

function cpuTime(sec: number): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(Math.floor(sec / 3600))}:${pad(Math.floor(sec / 60) % 60)}:${pad(sec % 60)}`;
}

/**
 * `update`: new limits into the record (and so into every later start's
 * config.json), and into the cgroups now if the container runs.
 */
export async function updateContainer(ctx: Context, id: string, flags: ResourceFlags): Promise<void> {
  const p = ctx.paths;
  await withLock(ctx.native, containerLockFile(p, id), async () => {
    const rec = readRecord(p, id);
    if (!rec) throw new RuntimeError(`container ${id} disappeared`);
    const resources = parseResourceFlags(flags, rec.options.resources ?? {});
    const oci = ociResources(resources);
    if (currentState(p, rec).running) {
      applyLimits(cgroupHost(), existingCgroup(cgroupHost(), cgroupsPathFor(id)).dirs, oci);
      const spec = readJsonIfExists<OciSpec>(containerFile(p, id, 'config.json'));
      if (spec) {
        spec.linux.resources = oci;
        writeJsonAtomic(containerFile(p, id, 'config.json'), spec, 0o600);
      }
    }
    rec.options = { ...rec.options, resources };
    writeRecord(p, rec);
  });
}

/**
 * ps(1) run with `psArgs` (default -ef), its header and the rows whose PID
 * column is one of `pids`: docker's top with ps options, and runc's ps
 * (go-runc's Top parses exactly this).
 */
export function psTable(pids: number[], psArgs: string[]): string {
  const ours = new Set(pids);
  const r = process.getBuiltinModule('node:child_process').spawnSync('ps', psArgs.length ? psArgs : ['-ef'], { encoding: 'utf8' });
  if (r.error) throw new RuntimeError(`cannot run ps: ${r.error.message}`);
  if (r.status !== 0) throw new RuntimeError(`ps ${psArgs.join(' ')} failed: ${r.stderr.trim() || `exit status ${r.status}`}`);
  const [header = '', ...rows] = r.stdout.split('\n');
  const column = header.trim().split(/\s+/).indexOf('PID');
  if (column < 0) throw new RuntimeError(`ps ${psArgs.join(' ')} printed no PID column`);
  return [header, ...rows.filter((row) => ours.has(Number(row.trim().split(/\s+/)[column])))].map((l) => `${l}\n`).join('');
}
