import { ContainerStartError } from '../errors.js';

/**
 * Decoding of the monitor's fixed-size records (native/core/report.h; the
 * layout and stage numbers must stay in step with it).
 */
export const REPORT_SIZE = 6 * 4 + 240;
export const REPORT_VERSION = 1;

export const enum ReportKind {
  Started = 1,
  Failed = 2,
  /** Set up and waiting on its start FIFO (plan `startfifo`); pid as for Started. */
  Created = 3,
  /** Mounts made, before pivot_root (plan `hookpause`): the caller runs its hooks, then answers with one byte. */
  Paused = 4,
}

export interface Report {
  kind: ReportKind;
  pid: number;
  stage: number;
  index: number;
  errno: number;
  detail: string;
}

export function decodeReport(buf: Buffer): Report {
  if (buf.length !== REPORT_SIZE) throw new Error(`monitor report has ${buf.length} bytes, want ${REPORT_SIZE}`);
  const version = buf.readUInt32LE(0);
  if (version !== REPORT_VERSION) throw new Error(`monitor report version ${version}, want ${REPORT_VERSION}`);
  const detail = buf.subarray(24);
  const nul = detail.indexOf(0);
  return {
    kind: buf.readUInt32LE(4) as ReportKind,
    pid: buf.readInt32LE(8),
    stage: buf.readInt32LE(12),
    index: buf.readInt32LE(16),
    errno: buf.readInt32LE(20),
    detail: detail.subarray(0, nul < 0 ? detail.length : nul).toString('utf8'),
  };
}

/** What each rung of the child ladder was doing, as a phrase; `%s` is the record's detail. */
const STAGES: Record<number, string> = {
  1: 'reading the launch plan (%s)',
  2: 'creating the container process',
  3: 'opening the log file %s',
  4: 'setting mount propagation of /',
  5: 'binding the root filesystem %s',
  6: 'mounting %s',
  7: 'creating device %s',
  8: 'creating symlink %s',
  9: 'pivoting into the root filesystem',
  10: 'masking %s',
  11: 'making %s read-only',
  12: 'setting the hostname',
  13: 'bringing up the loopback interface',
  14: 'setting resource limits',
  15: 'setting supplementary groups',
  16: 'setting the group id',
  17: 'setting the user id',
  18: 'creating the working directory %s',
  19: 'changing to the working directory %s',
  20: 'checking the working directory %s is inside the container',
  21: 'setting no_new_privs',
  22: 'closing inherited file descriptors',
  23: 'executing %s',
  24: 'creating a session',
  25: 'connecting stdio',
  26: 'running the monitor from a sealed copy (%s)',
  27: 'setting up the terminal (%s)',
  28: 'joining the container\'s namespaces (%s)',
  29: 'waiting to be started on %s',
  30: 'opening the directory of the exit file %s',
  31: 'dropping capabilities from the bounding set (%s)',
  32: 'keeping capabilities across the user change',
  33: 'setting the capabilities',
  34: 'raising ambient capabilities',
  35: 'writing sysctl %s',
  36: 'remounting the root filesystem read-only',
  37: 'moving the process into its cgroup %s',
  38: 'installing the seccomp filter',
  39: 'joining the namespace %s',
  40: 'handing the terminal to the console socket %s',
  41: 'waiting for the createRuntime hooks',
  42: 'configuring the network interface %s',
  43: 'making the cgroup namespace',
  44: 'setting the OOM score adjustment',
  45: 'running the startContainer hook %s',
  46: 'setting the AppArmor profile %s',
  47: 'setting up the user namespace (%s)',
  48: 'mounting the idmapped root (%s)',
  49: 'joining a session keyring of its own (%s)',
  50: 'starting the process: it was killed %s',
};

export const STAGE_EXEC = 23;
export const STAGE_CREATE = 2;
export const STAGE_SETUID = 17;

// node:os and node:util are loaded only when a failure is described: most commands never decode one.
const errnoEntry = (errno: number) => process.getBuiltinModule('node:util').getSystemErrorMap().get(-errno);

/** "EPERM (operation not permitted)", from libuv's own table (negative errno keys). */
export function describeErrno(errno: number): string {
  const entry = errnoEntry(errno);
  return entry ? `${entry[0]} (${entry[1]})` : `errno ${errno}`;
}

export function errnoName(errno: number): string {
  return errnoEntry(errno)?.[0] ?? `errno ${errno}`;
}

/**
 * Turns a failure record into the error the CLI prints, with docker's exit
 * codes: a command that is not found is 127, one that cannot be executed
 * 126, any other failed step 125.
 */
export function reportToError(r: Report): ContainerStartError {
  const phrase = (STAGES[r.stage] ?? `step ${r.stage}`).replace('%s', r.detail);
  let exitCode = 125;
  if (r.stage === STAGE_EXEC) {
    const { ENOENT, EACCES, ENOEXEC } = process.getBuiltinModule('node:os').constants.errno;
    if (r.errno === ENOENT) exitCode = 127;
    else if (r.errno === EACCES || r.errno === ENOEXEC) exitCode = 126;
  }
  // errno 0: the detail says it all (a hook's exit status).
  return new ContainerStartError(r.errno ? `${phrase}: ${describeErrno(r.errno)}` : phrase, r.stage, errnoName(r.errno), exitCode);
}

/**
 * The exit file's optional `failure` (native/monitor/main.c): the process
 * failed after CREATED (execve ENOENT after `start`, say), when nobody read
 * the report pipe any more. The exit code beside it is already mapped.
 */
export interface ExitFailure {
  stage: number;
  index: number;
  errno: number;
  detail: string;
}

export function exitFailureToError(f: ExitFailure): ContainerStartError {
  return reportToError({ kind: ReportKind.Failed, pid: 0, ...f });
}
