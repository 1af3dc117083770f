import * as os from 'node:os';
import { UsageError } from '../../errors.js';
import type { OciSeccomp, OciSeccompAction, OciSeccompArg } from '../../oci/spec.js';

/**
 * Seccomp, as docker does it: a profile (docker's JSON format: syscalls
 * gated on capabilities and architectures) is resolved against the
 * container into OCI `linux.seccomp`, and that is compiled here into a
 * classic BPF program the child installs as the last rung before execve
 * (native/core/child.c). Only x86_64 is supported: any other audit arch,
 * and x32 syscall numbers, get the default action.
 */

/** docker's profile format (moby profiles/seccomp): OCI's plus per-syscall includes/excludes. */
export interface SeccompProfile {
  defaultAction: OciSeccompAction;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures?: string[] }[];
  syscalls?: ProfileSyscall[];
}

export interface ProfileSyscall {
  names?: string[];
  /** docker's old single-name form. */
  name?: string;
  action: OciSeccompAction;
  errnoRet?: number;
  args?: OciSeccompArg[] | null;
  includes?: SyscallFilter;
  excludes?: SyscallFilter;
  comment?: string;
}

interface SyscallFilter {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

const EPERM = 1;
const ENOSYS = 38;

/** The clone flags that make namespaces: docker's default refuses them in clone's arg 0. */
const CLONE_NAMESPACE_FLAGS = 0x00020000 /* NEWNS */ | 0x04000000 /* NEWUTS */ | 0x08000000 /* NEWIPC */ | 0x10000000 /* NEWUSER */ | 0x20000000 /* NEWPID */ | 0x40000000 /* NEWNET */ | 0x02000000; /* NEWCGROUP */

const allow = (names: string[], includes?: SyscallFilter): ProfileSyscall => ({ names, action: 'SCMP_ACT_ALLOW', ...(includes ? { includes } : {}) });
const caps = (cap: string, names: string[]) => allow(names, { caps: [cap] });

/**
 * The default profile, after moby's profiles/seccomp/default.json: refuse
 * with EPERM whatever is not listed. Listed: what ordinary programs use
 * (files, memory, signals, sockets, timers, IPC, identity changes within the
 * container's capabilities), and a few more behind the capability that
 * makes them safe. Not listed, among others: mount, umount2, unshare, setns,
 * pivot_root, keyctl, add_key, request_key, kexec_load, swapon, bpf,
 * perf_event_open, open_by_handle_at (CAP_DAC_READ_SEARCH), and the module
 * and reboot calls. A container with CAP_SYS_ADMIN gets no filter at all
 * (docker's --privileged is unconfined), so the profile need not list what
 * that capability would allow.
 */
export const DEFAULT_SECCOMP_PROFILE: SeccompProfile = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: EPERM,
  architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  syscalls: [
    allow([
      // files and directories
      'access', 'chdir', 'chmod', 'chown', 'close', 'close_range', 'copy_file_range', 'creat', 'dup', 'dup2', 'dup3',
      'faccessat', 'faccessat2', 'fadvise64', 'fallocate', 'fchdir', 'fchmod', 'fchmodat', 'fchmodat2', 'fchown', 'fchownat',
      'fcntl', 'fdatasync', 'flock', 'pipe', 'pipe2', 'fstat', 'fstatfs', 'fsync', 'ftruncate', 'futimesat', 'getcwd', 'getdents', 'getdents64',
      'lchown', 'link', 'linkat', 'lseek', 'lstat', 'mkdir', 'mkdirat', 'mknod', 'mknodat', 'name_to_handle_at', 'newfstatat',
      'open', 'openat', 'openat2', 'pread64', 'preadv', 'preadv2', 'pwrite64', 'pwritev', 'pwritev2', 'read', 'readahead',
      'readlink', 'readlinkat', 'readv', 'rename', 'renameat', 'renameat2', 'rmdir', 'sendfile', 'splice', 'stat', 'statfs',
      'statx', 'symlink', 'symlinkat', 'sync', 'sync_file_range', 'syncfs', 'tee', 'truncate', 'umask', 'unlink', 'unlinkat',
      'utime', 'utimensat', 'utimes', 'vmsplice', 'write', 'writev',
      // extended attributes
      'fgetxattr', 'flistxattr', 'fremovexattr', 'fsetxattr', 'getxattr', 'getxattrat', 'lgetxattr', 'listxattr', 'listxattrat',
      'llistxattr', 'lremovexattr', 'lsetxattr', 'removexattr', 'removexattrat', 'setxattr', 'setxattrat',
      // waiting for files and events
      'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_pwait', 'epoll_pwait2', 'epoll_wait', 'epoll_wait_old',
      'eventfd', 'eventfd2', 'fanotify_mark', 'inotify_add_watch', 'inotify_init', 'inotify_init1', 'inotify_rm_watch',
      'poll', 'ppoll', 'pselect6', 'select', 'signalfd', 'signalfd4', 'timerfd_create', 'timerfd_gettime', 'timerfd_settime',
      'io_cancel', 'io_destroy', 'io_getevents', 'io_pgetevents', 'io_setup', 'io_submit', 'ioctl',
      // memory
      'brk', 'cachestat', 'madvise', 'map_shadow_stack', 'membarrier', 'memfd_create', 'memfd_secret', 'mincore', 'mlock', 'mlock2',
      'mlockall', 'mmap', 'mprotect', 'mremap', 'msync', 'munlock', 'munlockall', 'munmap', 'pkey_alloc', 'pkey_free',
      'pkey_mprotect', 'remap_file_pages',
      // processes, threads and signals (clone and clone3 below)
      'arch_prctl', 'execve', 'execveat', 'exit', 'exit_group', 'fork', 'futex', 'futex_requeue', 'futex_wait', 'futex_waitv',
      'futex_wake', 'get_robust_list', 'get_thread_area', 'getcpu', 'getpgid', 'getpgrp', 'getpid', 'getppid', 'getpriority',
      'getrlimit', 'getrusage', 'getsid', 'gettid', 'ioprio_get', 'ioprio_set', 'kill', 'modify_ldt', 'pause', 'pidfd_open',
      'pidfd_send_signal', 'prctl', 'prlimit64', 'process_mrelease', 'restart_syscall', 'rseq', 'rt_sigaction', 'rt_sigpending',
      'rt_sigprocmask', 'rt_sigqueueinfo', 'rt_sigreturn', 'rt_sigsuspend', 'rt_sigtimedwait', 'rt_tgsigqueueinfo',
      'sched_get_priority_max', 'sched_get_priority_min', 'sched_getaffinity', 'sched_getattr', 'sched_getparam',
      'sched_getscheduler', 'sched_rr_get_interval', 'sched_setaffinity', 'sched_setattr', 'sched_setparam',
      'sched_setscheduler', 'sched_yield', 'seccomp', 'set_robust_list', 'set_thread_area', 'set_tid_address', 'setpgid',
      'setpriority', 'setrlimit', 'setsid', 'sigaltstack', 'tgkill', 'tkill', 'vfork', 'wait4', 'waitid',
      'landlock_add_rule', 'landlock_create_ruleset', 'landlock_restrict_self',
      // identity (bounded by the capabilities)
      'capget', 'capset', 'getegid', 'geteuid', 'getgid', 'getgroups', 'getresgid', 'getresuid', 'getuid', 'setfsgid',
      'setfsuid', 'setgid', 'setgroups', 'setregid', 'setresgid', 'setresuid', 'setreuid', 'setuid',
      // time
      'adjtimex', 'alarm', 'clock_adjtime', 'clock_getres', 'clock_gettime', 'clock_nanosleep', 'getitimer', 'gettimeofday',
      'nanosleep', 'setitimer', 'time', 'timer_create', 'timer_delete', 'timer_getoverrun', 'timer_gettime', 'timer_settime',
      'times',
      // sockets (socket itself below)
      'accept', 'accept4', 'bind', 'connect', 'getpeername', 'getsockname', 'getsockopt', 'listen', 'recvfrom', 'recvmmsg',
      'recvmsg', 'sendmmsg', 'sendmsg', 'sendto', 'setsockopt', 'shutdown', 'socketpair',
      // System V and POSIX IPC (the container's own namespace)
      'mq_getsetattr', 'mq_notify', 'mq_open', 'mq_timedreceive', 'mq_timedsend', 'mq_unlink', 'msgctl', 'msgget', 'msgrcv',
      'msgsnd', 'semctl', 'semget', 'semop', 'semtimedop', 'shmat', 'shmctl', 'shmdt', 'shmget',
      // the rest
      'getrandom', 'sysinfo', 'uname',
    ]),
    // No AF_VSOCK (40): it reaches the host past the network namespace.
    { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] },
    // The execution domains a program may ask for: PER_LINUX, with UNAME26, with ADDR_NO_RANDOMIZE, both, and the query.
    ...[0x0, 0x8, 0x20000, 0x20008, 0xffffffff].map((value): ProfileSyscall => ({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] })),
    // ptrace is safe since Linux 4.8 (the seccomp bypass was fixed); tsrun needs newer kernels anyway.
    allow(['ptrace']),
    // A thread or a process, but no new namespaces.
    { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
    // clone3 passes its flags in memory, out of the filter's reach: ENOSYS makes libc fall back to clone.
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
    caps('CAP_DAC_READ_SEARCH', ['open_by_handle_at']),
    caps('CAP_SYS_BOOT', ['reboot']),
    caps('CAP_SYS_CHROOT', ['chroot']),
    caps('CAP_SYS_MODULE', ['delete_module', 'init_module', 'finit_module']),
    caps('CAP_SYS_PACCT', ['acct']),
    caps('CAP_SYS_PTRACE', ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev']),
    caps('CAP_SYS_RAWIO', ['iopl', 'ioperm']),
    caps('CAP_SYS_TIME', ['settimeofday', 'clock_settime']),
    caps('CAP_SYS_TTY_CONFIG', ['vhangup']),
    caps('CAP_SYS_NICE', ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node']),
    caps('CAP_SYSLOG', ['syslog']),
    caps('CAP_BPF', ['bpf']),
    caps('CAP_PERFMON', ['perf_event_open']),
  ],
};

const ACTIONS = new Set<OciSeccompAction>(['SCMP_ACT_KILL', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG']);
const OPS = new Set<OciSeccompArg['op']>(['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ']);

/** A profile file's JSON (`--security-opt seccomp=FILE`), checked for shape. */
export function parseSeccompProfile(json: string, what = 'seccomp profile'): SeccompProfile {
  let p: unknown;
  try {
    p = JSON.parse(json);
  } catch (e) {
    throw new UsageError(`${what}: ${(e as Error).message}`);
  }
  const bad = (m: string) => new UsageError(`${what}: ${m}`);
  if (typeof p !== 'object' || p === null || Array.isArray(p)) throw bad('not a JSON object');
  const prof = p as SeccompProfile;
  if (!ACTIONS.has(prof.defaultAction)) throw bad(`unsupported defaultAction ${JSON.stringify(prof.defaultAction)}`);
  if (prof.syscalls !== undefined && prof.syscalls !== null && !Array.isArray(prof.syscalls)) throw bad('syscalls must be a list');
  for (const s of prof.syscalls ?? []) {
    if (typeof s !== 'object' || s === null) throw bad('a syscall entry is not an object');
    if (!ACTIONS.has(s.action)) throw bad(`unsupported action ${JSON.stringify(s.action)}`);
    if (s.names !== undefined && (!Array.isArray(s.names) || s.names.some((n) => typeof n !== 'string'))) throw bad('names must be a list of strings');
    for (const a of s.args ?? []) {
      if (!Number.isInteger(a.index) || a.index < 0 || a.index > 5) throw bad(`argument index ${a.index} out of range`);
      if (!OPS.has(a.op)) throw bad(`unsupported operator ${JSON.stringify(a.op)}`);
      for (const v of [a.value, a.valueTwo ?? 0]) if (!Number.isInteger(v) || v < 0) throw bad(`invalid argument value ${v}`);
    }
  }
  return prof;
}

function kernelAtLeast(min: string, release = os.release()): boolean {
  const want = min.split('.').map(Number);
  const have = release.split(/[.-]/).map(Number);
  for (let i = 0; i < want.length; i++) {
    const h = have[i] ?? 0;
    const w = want[i] ?? 0;
    if (h !== w) return h > w;
  }
  return true;
}

/** The arch names docker's includes/excludes use (Go's GOARCH) for this host. */
const HOST_ARCHES = ['amd64', 'x86_64'];

/** includes: every capability, one of the arches, the kernel; all that are given. */
function included(f: SyscallFilter, capSet: Set<string>): boolean {
  const capOk = (f.caps ?? []).every((c) => capSet.has(c));
  const archOk = (f.arches ?? []).length === 0 || f.arches!.some((a) => HOST_ARCHES.includes(a));
  return capOk && archOk && (f.minKernel === undefined || kernelAtLeast(f.minKernel));
}

/** excludes: any of the capabilities, or of the arches. */
function excluded(f: SyscallFilter, capSet: Set<string>): boolean {
  return (f.caps ?? []).some((c) => capSet.has(c)) || (f.arches ?? []).some((a) => HOST_ARCHES.includes(a));
}

/**
 * moby's setupSeccomp: the profile for a container with these (bounding)
 * capabilities, as OCI linux.seccomp. An entry is kept when every include
 * holds and no exclude does.
 */
export function resolveSeccompProfile(profile: SeccompProfile, capabilities: string[]): OciSeccomp {
  const capSet = new Set(capabilities);
  const syscalls = (profile.syscalls ?? [])
    .filter((s) => (!s.includes || included(s.includes, capSet)) && (!s.excludes || !excluded(s.excludes, capSet)))
    .map((s) => ({
      names: s.names ?? (s.name ? [s.name] : []),
      action: s.action,
      ...(s.errnoRet !== undefined ? { errnoRet: s.errnoRet } : {}),
      ...(s.args && s.args.length ? { args: s.args.map((a) => ({ ...a })) } : {}),
    }));
  const architectures = profile.architectures ?? (profile.archMap ?? []).flatMap((a) => [a.architecture, ...(a.subArchitectures ?? [])]);
  return {
    defaultAction: profile.defaultAction,
    ...(profile.defaultErrnoRet !== undefined ? { defaultErrnoRet: profile.defaultErrnoRet } : {}),
    architectures,
    syscalls,
  };
}

// Classic BPF (linux/filter.h, linux/seccomp.h).
const BPF_LD_W_ABS = 0x20;
const BPF_ALU_AND_K = 0x54;
const BPF_JMP_JA = 0x05;
const BPF_JEQ_K = 0x15;
const BPF_JGT_K = 0x25;
const BPF_JGE_K = 0x35;
const BPF_RET_K = 0x06;

const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const SECCOMP_RET_KILL_THREAD = 0x00000000;
const SECCOMP_RET_TRAP = 0x00030000;
const SECCOMP_RET_ERRNO = 0x00050000;
const SECCOMP_RET_TRACE = 0x7ff00000;
const SECCOMP_RET_LOG = 0x7ffc0000;
const SECCOMP_RET_ALLOW = 0x7fff0000;

const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;

/** struct seccomp_data: nr at 0, arch at 4, args[i] at 16 + 8i (little-endian: the low word first). */
const OFF_NR = 0;
const OFF_ARCH = 4;
const argLo = (i: number) => 16 + 8 * i;
const argHi = (i: number) => 16 + 8 * i + 4;

/** The kernel's BPF_MAXINSNS; plan.h has the same bound. */
export const SECCOMP_MAX_INSNS = 4096;

export interface BpfInsn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** A jump target inside a rule: where its action is, or the next rule. */
type Target = number | 'pass' | 'fail';
interface Pending {
  code: number;
  jt: Target;
  jf: Target;
  k: number;
}

const stmt = (code: number, k: number): Pending => ({ code, jt: 0, jf: 0, k });
const jump = (code: number, k: number, jt: Target, jf: Target): Pending => ({ code, jt, jf, k: k >>> 0 });

function actionValue(action: OciSeccompAction, errnoRet: number | undefined): number {
  const ret = (errnoRet ?? EPERM) & 0xffff;
  switch (action) {
    case 'SCMP_ACT_ALLOW':
      return SECCOMP_RET_ALLOW;
    case 'SCMP_ACT_ERRNO':
      return SECCOMP_RET_ERRNO | ret;
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD':
      return SECCOMP_RET_KILL_THREAD;
    case 'SCMP_ACT_KILL_PROCESS':
      return SECCOMP_RET_KILL_PROCESS;
    case 'SCMP_ACT_TRAP':
      return SECCOMP_RET_TRAP;
    case 'SCMP_ACT_TRACE':
      return SECCOMP_RET_TRACE | ret;
    case 'SCMP_ACT_LOG':
      return SECCOMP_RET_LOG;
    default:
      throw new UsageError(`unsupported seccomp action ${String(action)}`);
  }
}

const hi32 = (v: number) => Math.floor(v / 2 ** 32) >>> 0;
const lo32 = (v: number) => v >>> 0;

/** One 64-bit comparison of an argument, as libseccomp does it: the high word decides unless equal. */
function condition(a: OciSeccompArg): Pending[] {
  const { index: i, value: v } = a;
  if (!Number.isSafeInteger(v) || v < 0 || !Number.isSafeInteger(a.valueTwo ?? 0) || (a.valueTwo ?? 0) < 0) {
    throw new UsageError(`seccomp argument value out of range: ${v}`);
  }
  const ldHi = stmt(BPF_LD_W_ABS, argHi(i));
  const ldLo = stmt(BPF_LD_W_ABS, argLo(i));
  switch (a.op) {
    case 'SCMP_CMP_EQ':
      return [ldHi, jump(BPF_JEQ_K, hi32(v), 0, 'fail'), ldLo, jump(BPF_JEQ_K, lo32(v), 0, 'fail')];
    case 'SCMP_CMP_NE':
      // Differs in the high word: holds (skip the low word's test).
      return [ldHi, jump(BPF_JEQ_K, hi32(v), 0, 2), ldLo, jump(BPF_JEQ_K, lo32(v), 'fail', 0)];
    case 'SCMP_CMP_MASKED_EQ': {
      const two = a.valueTwo ?? 0;
      return [ldHi, stmt(BPF_ALU_AND_K, hi32(v)), jump(BPF_JEQ_K, hi32(two), 0, 'fail'), ldLo, stmt(BPF_ALU_AND_K, lo32(v)), jump(BPF_JEQ_K, lo32(two), 0, 'fail')];
    }
    case 'SCMP_CMP_GT':
      return [ldHi, jump(BPF_JGT_K, hi32(v), 3, 0), jump(BPF_JEQ_K, hi32(v), 0, 'fail'), ldLo, jump(BPF_JGT_K, lo32(v), 0, 'fail')];
    case 'SCMP_CMP_GE':
      return [ldHi, jump(BPF_JGT_K, hi32(v), 3, 0), jump(BPF_JEQ_K, hi32(v), 0, 'fail'), ldLo, jump(BPF_JGE_K, lo32(v), 0, 'fail')];
    case 'SCMP_CMP_LT':
      return [ldHi, jump(BPF_JGT_K, hi32(v), 'fail', 0), jump(BPF_JEQ_K, hi32(v), 0, 2), ldLo, jump(BPF_JGE_K, lo32(v), 'fail', 0)];
    case 'SCMP_CMP_LE':
      return [ldHi, jump(BPF_JGT_K, hi32(v), 'fail', 0), jump(BPF_JEQ_K, hi32(v), 0, 2), ldLo, jump(BPF_JGT_K, lo32(v), 'fail', 0)];
    default:
      throw new UsageError(`unsupported seccomp operator ${String(a.op)}`);
  }
}

/**
 * A rule: its conditions (all must hold), then RET its action. 'pass' is
 * that RET; 'fail' is the first instruction after the rule.
 */
function rule(args: OciSeccompArg[], ret: number): BpfInsn[] {
  const body = args.flatMap(condition);
  const pending = [...body, stmt(BPF_RET_K, ret)];
  const passAt = pending.length - 1;
  const failAt = pending.length;
  return pending.map((p, i) => {
    const off = (t: Target) => {
      const o = t === 'pass' ? passAt - i - 1 : t === 'fail' ? failAt - i - 1 : t;
      if (o < 0 || o > 255) throw new UsageError('seccomp rule too long');
      return o;
    };
    return { code: p.code, jt: off(p.jt), jf: off(p.jf), k: p.k >>> 0 };
  });
}

/**
 * Compiles OCI linux.seccomp for x86_64: check the arch, refuse x32
 * numbers, then find the syscall number's rules by a binary search and run
 * them (conditional ones first, in profile order; the first that holds
 * decides); anything else gets the default action. Names this table does
 * not know are skipped, as libseccomp skips names unknown on the arch.
 *
 * A binary search, not a JEQ per syscall: docker's profile allows ~330
 * syscalls, which a linear filter (libseccomp's default, what runc loads)
 * compares one by one on every syscall the container makes, futex and
 * epoll_pwait after ~200 others. Runs of numbers with the same plain
 * action share one leaf, so the search is ~7 comparisons deep and the
 * program a third of the linear one's length, which also makes it quicker
 * for the kernel to check and JIT at each start.
 */
export function compileSeccomp(profile: OciSeccomp, table: Record<string, number> = X86_64_SYSCALLS): BpfInsn[] {
  const defaultRet = actionValue(profile.defaultAction, profile.defaultErrnoRet);
  const rules = new Map<number, { args: OciSeccompArg[]; ret: number }[]>();
  for (const s of profile.syscalls ?? []) {
    const ret = actionValue(s.action, s.errnoRet);
    for (const name of s.names ?? []) {
      const nr = table[name];
      // Past X32_SYSCALL_BIT the prologue has already decided.
      if (nr === undefined || nr < 0 || nr >= X32_SYSCALL_BIT) continue;
      let list = rules.get(nr);
      if (!list) rules.set(nr, (list = []));
      list.push({ args: s.args ?? [], ret });
    }
  }
  const out: BpfInsn[] = [
    { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: OFF_ARCH },
    { code: BPF_JEQ_K, jt: 1, jf: 0, k: AUDIT_ARCH_X86_64 },
    { code: BPF_RET_K, jt: 0, jf: 0, k: defaultRet },
    { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: OFF_NR },
    { code: BPF_JGE_K, jt: 0, jf: 1, k: X32_SYSCALL_BIT },
    { code: BPF_RET_K, jt: 0, jf: 0, k: defaultRet },
    ...search(leaves(rules, defaultRet)),
  ];
  if (out.length > SECCOMP_MAX_INSNS) throw new UsageError(`the seccomp filter has ${out.length} instructions, more than ${SECCOMP_MAX_INSNS}`);
  return out;
}

/** Syscall numbers from `lo` up to the next leaf's, and what they get: A holds the number throughout. */
interface Leaf {
  lo: number;
  code: BpfInsn[];
}

/**
 * The numbers below X32_SYSCALL_BIT cut into runs, each with its code: a
 * RET for a run of one plain action (the default's between rules), a
 * syscall's rules for one with conditions.
 */
function leaves(rules: Map<number, { args: OciSeccompArg[]; ret: number }[]>, defaultRet: number): Leaf[] {
  const ret = (k: number): BpfInsn[] => [{ code: BPF_RET_K, jt: 0, jf: 0, k }];
  const out: Leaf[] = [];
  let plain: number | undefined;
  const add = (lo: number, code: BpfInsn[], k?: number) => {
    if (k !== undefined && k === plain) return;
    // A syscall at the start of the last run (read, 0, at the first) takes it over.
    if (out.at(-1)?.lo === lo) out.pop();
    out.push({ lo, code });
    plain = k;
  };
  add(0, ret(defaultRet), defaultRet);
  for (const nr of [...rules.keys()].sort((a, b) => a - b)) {
    const list = rules.get(nr)!;
    // Conditional rules first: an unconditional one ends the syscall's block.
    const ordered = [...list.filter((r) => r.args.length > 0), ...list.filter((r) => r.args.length === 0).slice(0, 1)];
    const last = ordered[ordered.length - 1]!;
    if (last.args.length === 0 && ordered.length === 1) add(nr, ret(last.ret), last.ret);
    else {
      const block = ordered.flatMap((r) => rule(r.args, r.ret));
      if (last.args.length > 0) block.push(...ret(defaultRet));
      add(nr, block);
    }
    if (!rules.has(nr + 1)) add(nr + 1, ret(defaultRet), defaultRet);
  }
  return out;
}

/**
 * A binary search over the leaves: JGE on the middle leaf's first number,
 * the lower half's code after it, the upper half's after that. BPF jumps
 * only forward, and at most 255 with jt/jf: a longer lower half is jumped
 * over with a JA, whose offset is 32 bits.
 */
function search(all: Leaf[]): BpfInsn[] {
  if (all.length === 1) return all[0]!.code;
  const mid = all.length >> 1;
  const lower = search(all.slice(0, mid));
  const upper = search(all.slice(mid));
  const k = all[mid]!.lo;
  if (lower.length <= 255) return [{ code: BPF_JGE_K, jt: lower.length, jf: 0, k }, ...lower, ...upper];
  return [{ code: BPF_JGE_K, jt: 0, jf: 1, k }, { code: BPF_JMP_JA, jt: 0, jf: 0, k: lower.length }, ...lower, ...upper];
}

/** struct sock_filter[] as the kernel reads it on x86_64: u16 code, u8 jt, u8 jf, u32 k, little-endian. */
export function encodeBpf(prog: BpfInsn[]): Buffer {
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((p, i) => {
    buf.writeUInt16LE(p.code, i * 8);
    buf.writeUInt8(p.jt, i * 8 + 2);
    buf.writeUInt8(p.jf, i * 8 + 3);
    buf.writeUInt32LE(p.k >>> 0, i * 8 + 4);
  });
  return buf;
}

/** x86_64 syscall numbers (asm/unistd_64.h), by name. */
export const X86_64_SYSCALLS: Record<string, number> = {
  read: 0, write: 1, open: 2, close: 3, stat: 4, fstat: 5,
  lstat: 6, poll: 7, lseek: 8, mmap: 9, mprotect: 10, munmap: 11,
  brk: 12, rt_sigaction: 13, rt_sigprocmask: 14, rt_sigreturn: 15, ioctl: 16, pread64: 17,
  pwrite64: 18, readv: 19, writev: 20, access: 21, pipe: 22, select: 23,
  sched_yield: 24, mremap: 25, msync: 26, mincore: 27, madvise: 28, shmget: 29,
  shmat: 30, shmctl: 31, dup: 32, dup2: 33, pause: 34, nanosleep: 35,
  getitimer: 36, alarm: 37, setitimer: 38, getpid: 39, sendfile: 40, socket: 41,
  connect: 42, accept: 43, sendto: 44, recvfrom: 45, sendmsg: 46, recvmsg: 47,
  shutdown: 48, bind: 49, listen: 50, getsockname: 51, getpeername: 52, socketpair: 53,
  setsockopt: 54, getsockopt: 55, clone: 56, fork: 57, vfork: 58, execve: 59,
  exit: 60, wait4: 61, kill: 62, uname: 63, semget: 64, semop: 65,
  semctl: 66, shmdt: 67, msgget: 68, msgsnd: 69, msgrcv: 70, msgctl: 71,
  fcntl: 72, flock: 73, fsync: 74, fdatasync: 75, truncate: 76, ftruncate: 77,
  getdents: 78, getcwd: 79, chdir: 80, fchdir: 81, rename: 82, mkdir: 83,
  rmdir: 84, creat: 85, link: 86, unlink: 87, symlink: 88, readlink: 89,
  chmod: 90, fchmod: 91, chown: 92, fchown: 93, lchown: 94, umask: 95,
  gettimeofday: 96, getrlimit: 97, getrusage: 98, sysinfo: 99, times: 100, ptrace: 101,
  getuid: 102, syslog: 103, getgid: 104, setuid: 105, setgid: 106, geteuid: 107,
  getegid: 108, setpgid: 109, getppid: 110, getpgrp: 111, setsid: 112, setreuid: 113,
  setregid: 114, getgroups: 115, setgroups: 116, setresuid: 117, getresuid: 118, setresgid: 119,
  getresgid: 120, getpgid: 121, setfsuid: 122, setfsgid: 123, getsid: 124, capget: 125,
  capset: 126, rt_sigpending: 127, rt_sigtimedwait: 128, rt_sigqueueinfo: 129, rt_sigsuspend: 130, sigaltstack: 131,
  utime: 132, mknod: 133, uselib: 134, personality: 135, ustat: 136, statfs: 137,
  fstatfs: 138, sysfs: 139, getpriority: 140, setpriority: 141, sched_setparam: 142, sched_getparam: 143,
  sched_setscheduler: 144, sched_getscheduler: 145, sched_get_priority_max: 146, sched_get_priority_min: 147, sched_rr_get_interval: 148, mlock: 149,
  munlock: 150, mlockall: 151, munlockall: 152, vhangup: 153, modify_ldt: 154, pivot_root: 155,
  _sysctl: 156, prctl: 157, arch_prctl: 158, adjtimex: 159, setrlimit: 160, chroot: 161,
  sync: 162, acct: 163, settimeofday: 164, mount: 165, umount2: 166, swapon: 167,
  swapoff: 168, reboot: 169, sethostname: 170, setdomainname: 171, iopl: 172, ioperm: 173,
  create_module: 174, init_module: 175, delete_module: 176, get_kernel_syms: 177, query_module: 178, quotactl: 179,
  nfsservctl: 180, getpmsg: 181, putpmsg: 182, afs_syscall: 183, tuxcall: 184, security: 185,
  gettid: 186, readahead: 187, setxattr: 188, lsetxattr: 189, fsetxattr: 190, getxattr: 191,
  lgetxattr: 192, fgetxattr: 193, listxattr: 194, llistxattr: 195, flistxattr: 196, removexattr: 197,
  lremovexattr: 198, fremovexattr: 199, tkill: 200, time: 201, futex: 202, sched_setaffinity: 203,
  sched_getaffinity: 204, set_thread_area: 205, io_setup: 206, io_destroy: 207, io_getevents: 208, io_submit: 209,
  io_cancel: 210, get_thread_area: 211, lookup_dcookie: 212, epoll_create: 213, epoll_ctl_old: 214, epoll_wait_old: 215,
  remap_file_pages: 216, getdents64: 217, set_tid_address: 218, restart_syscall: 219, semtimedop: 220, fadvise64: 221,
  timer_create: 222, timer_settime: 223, timer_gettime: 224, timer_getoverrun: 225, timer_delete: 226, clock_settime: 227,
  clock_gettime: 228, clock_getres: 229, clock_nanosleep: 230, exit_group: 231, epoll_wait: 232, epoll_ctl: 233,
  tgkill: 234, utimes: 235, vserver: 236, mbind: 237, set_mempolicy: 238, get_mempolicy: 239,
  mq_open: 240, mq_unlink: 241, mq_timedsend: 242, mq_timedreceive: 243, mq_notify: 244, mq_getsetattr: 245,
  kexec_load: 246, waitid: 247, add_key: 248, request_key: 249, keyctl: 250, ioprio_set: 251,
  ioprio_get: 252, inotify_init: 253, inotify_add_watch: 254, inotify_rm_watch: 255, migrate_pages: 256, openat: 257,
  mkdirat: 258, mknodat: 259, fchownat: 260, futimesat: 261, newfstatat: 262, unlinkat: 263,
  renameat: 264, linkat: 265, symlinkat: 266, readlinkat: 267, fchmodat: 268, faccessat: 269,
  pselect6: 270, ppoll: 271, unshare: 272, set_robust_list: 273, get_robust_list: 274, splice: 275,
  tee: 276, sync_file_range: 277, vmsplice: 278, move_pages: 279, utimensat: 280, epoll_pwait: 281,
  signalfd: 282, timerfd_create: 283, eventfd: 284, fallocate: 285, timerfd_settime: 286, timerfd_gettime: 287,
  accept4: 288, signalfd4: 289, eventfd2: 290, epoll_create1: 291, dup3: 292, pipe2: 293,
  inotify_init1: 294, preadv: 295, pwritev: 296, rt_tgsigqueueinfo: 297, perf_event_open: 298, recvmmsg: 299,
  fanotify_init: 300, fanotify_mark: 301, prlimit64: 302, name_to_handle_at: 303, open_by_handle_at: 304, clock_adjtime: 305,
  syncfs: 306, sendmmsg: 307, setns: 308, getcpu: 309, process_vm_readv: 310, process_vm_writev: 311,
  kcmp: 312, finit_module: 313, sched_setattr: 314, sched_getattr: 315, renameat2: 316, seccomp: 317,
  getrandom: 318, memfd_create: 319, kexec_file_load: 320, bpf: 321, execveat: 322, userfaultfd: 323,
  membarrier: 324, mlock2: 325, copy_file_range: 326, preadv2: 327, pwritev2: 328, pkey_mprotect: 329,
  pkey_alloc: 330, pkey_free: 331, statx: 332, io_pgetevents: 333, rseq: 334, pidfd_send_signal: 424,
  io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427, open_tree: 428, move_mount: 429, fsopen: 430,
  fsconfig: 431, fsmount: 432, fspick: 433, pidfd_open: 434, clone3: 435, close_range: 436,
  openat2: 437, pidfd_getfd: 438, faccessat2: 439, process_madvise: 440, epoll_pwait2: 441, mount_setattr: 442,
  quotactl_fd: 443, landlock_create_ruleset: 444, landlock_add_rule: 445, landlock_restrict_self: 446, memfd_secret: 447, process_mrelease: 448,
  futex_waitv: 449, set_mempolicy_home_node: 450,
  // newer than these headers
  cachestat: 451, fchmodat2: 452, map_shadow_stack: 453, futex_wake: 454, futex_wait: 455, futex_requeue: 456,
  statmount: 457, listmount: 458, lsm_get_self_attr: 459, lsm_set_self_attr: 460, lsm_list_modules: 461, mseal: 462,
  setxattrat: 463, getxattrat: 464, listxattrat: 465, removexattrat: 466, open_tree_attr: 467,
};
