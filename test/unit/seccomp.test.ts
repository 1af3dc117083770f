import { describe, expect, it } from 'vitest';
import {
  type BpfInsn,
  DEFAULT_SECCOMP_PROFILE,
  SECCOMP_MAX_INSNS,
  X86_64_SYSCALLS,
  compileSeccomp,
  encodeBpf,
  parseSeccompProfile,
  resolveSeccompProfile,
} from '../../src/runtime/plan/seccomp.js';
import { DEFAULT_CAPABILITIES, type OciSeccomp, type OciSeccompArg } from '../../src/oci/spec.js';
import { parseSecurityOpts } from '../../src/runtime/plan/run-flags.js';
import { containerSeccomp } from '../../src/runtime/plan/container-spec.js';
import { buildLaunchPlan, encodePlan } from '../../src/runtime/plan/launch-plan.js';

const ALLOW = 0x7fff0000;
const ERRNO = (e: number) => 0x00050000 | e;
const X86_64 = 0xc000003e;
const I386 = 0x40000003;

/** A classic BPF interpreter for what the compiler emits (ld abs, and, jeq/jgt/jge/ja, ret). */
function run(prog: BpfInsn[], nr: number, args: bigint[] = [], arch = X86_64): number {
  return trace(prog, nr, args, arch).ret;
}

/** run(), and how many instructions it took: what the kernel does on every syscall. */
function trace(prog: BpfInsn[], nr: number, args: bigint[] = [], arch = X86_64): { ret: number; steps: number } {
  const data = Buffer.alloc(64);
  data.writeInt32LE(nr | 0, 0);
  data.writeUInt32LE(arch, 4);
  args.forEach((a, i) => data.writeBigUInt64LE(BigInt.asUintN(64, a), 16 + 8 * i));
  let A = 0;
  let steps = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const { code, jt, jf, k } = prog[pc]!;
    steps++;
    switch (code) {
      case 0x20:
        A = data.readUInt32LE(k);
        break;
      case 0x54:
        A = (A & k) >>> 0;
        break;
      case 0x05:
        pc += k;
        break;
      case 0x15:
        pc += A === k ? jt : jf;
        break;
      case 0x25:
        pc += A > k ? jt : jf;
        break;
      case 0x35:
        pc += A >= k ? jt : jf;
        break;
      case 0x06:
        return { ret: k, steps };
      default:
        throw new Error(`unknown opcode ${code}`);
    }
  }
  throw new Error('fell off the end');
}

const nr = (name: string) => X86_64_SYSCALLS[name]!;

/** What OCI seccomp means for a syscall, read off the profile: the first rule of its that holds, conditional ones first. */
function decide(profile: OciSeccomp, n: number, args: bigint[]): number {
  const value = (action: string, errno?: number) => {
    const e = (errno ?? 1) & 0xffff;
    return { SCMP_ACT_ALLOW: ALLOW, SCMP_ACT_ERRNO: ERRNO(e), SCMP_ACT_KILL_PROCESS: 0x80000000, SCMP_ACT_LOG: 0x7ffc0000 }[action]!;
  };
  const mine = (profile.syscalls ?? []).filter((s) => s.names.some((name) => X86_64_SYSCALLS[name] === n));
  const holds = (a: OciSeccompArg) => {
    const x = args[a.index] ?? 0n;
    const v = BigInt(a.value);
    switch (a.op) {
      case 'SCMP_CMP_EQ':
        return x === v;
      case 'SCMP_CMP_NE':
        return x !== v;
      case 'SCMP_CMP_LT':
        return x < v;
      case 'SCMP_CMP_LE':
        return x <= v;
      case 'SCMP_CMP_GT':
        return x > v;
      case 'SCMP_CMP_GE':
        return x >= v;
      case 'SCMP_CMP_MASKED_EQ':
        return (x & v) === BigInt(a.valueTwo ?? 0);
    }
  };
  const hit = mine.find((s) => (s.args ?? []).length > 0 && s.args!.every(holds)) ?? mine.find((s) => (s.args ?? []).length === 0);
  return hit ? value(hit.action, hit.errnoRet) : value(profile.defaultAction, profile.defaultErrnoRet);
}

/** Whether a syscall has rules with conditions (its block compares arguments: longer than a lookup). */
function conditional(profile: OciSeccomp, n: number): boolean {
  return (profile.syscalls ?? []).some((s) => (s.args ?? []).length > 0 && s.names.some((name) => X86_64_SYSCALLS[name] === n));
}
const defaultProg = () => compileSeccomp(resolveSeccompProfile(DEFAULT_SECCOMP_PROFILE, DEFAULT_CAPABILITIES));

describe('seccomp compiler', () => {
  it('allows the usual syscalls and refuses the dangerous ones with EPERM', () => {
    const prog = defaultProg();
    expect(prog.length).toBeLessThan(SECCOMP_MAX_INSNS);
    for (const s of ['read', 'write', 'openat', 'close', 'mmap', 'execve', 'execveat', 'exit_group', 'newfstatat', 'chroot', 'ptrace', 'pipe', 'pipe2', 'wait4', 'fork', 'rt_sigaction', 'getdents64', 'ioctl', 'futex']) {
      expect(run(prog, nr(s)), s).toBe(ALLOW);
    }
    for (const s of ['unshare', 'mount', 'umount2', 'keyctl', 'add_key', 'request_key', 'bpf', 'kexec_load', 'init_module', 'finit_module', 'pivot_root', 'setns', 'swapon', 'reboot', 'open_by_handle_at', 'perf_event_open']) {
      expect(run(prog, nr(s)), s).toBe(ERRNO(1));
    }
  });

  it('checks the architecture and refuses x32 numbers', () => {
    const prog = defaultProg();
    expect(run(prog, nr('read'), [], I386)).toBe(ERRNO(1));
    expect(run(prog, 0x40000000 + nr('read'))).toBe(ERRNO(1));
    expect(run(prog, 9999)).toBe(ERRNO(1));
  });

  it('allows clone without namespace flags only, and makes clone3 ENOSYS', () => {
    const prog = defaultProg();
    expect(run(prog, nr('clone'), [0x1200011n])).toBe(ALLOW); // fork's flags
    expect(run(prog, nr('clone'), [0x10000000n])).toBe(ERRNO(1)); // CLONE_NEWUSER
    expect(run(prog, nr('clone'), [0x40000000n | 0x11n])).toBe(ERRNO(1)); // CLONE_NEWNET
    expect(run(prog, nr('clone'), [0x1_0000_0000n])).toBe(ALLOW); // high bits are not namespace flags
    expect(run(prog, nr('clone3'))).toBe(ERRNO(38));
  });

  it('allows only the listed personalities', () => {
    const prog = defaultProg();
    for (const v of [0n, 8n, 0x20000n, 0x20008n, 0xffffffffn]) expect(run(prog, nr('personality'), [v])).toBe(ALLOW);
    for (const v of [1n, 0x0400000n, 0x1_0000_0000n]) expect(run(prog, nr('personality'), [v])).toBe(ERRNO(1));
  });

  it('refuses AF_VSOCK sockets', () => {
    const prog = defaultProg();
    expect(run(prog, nr('socket'), [2n])).toBe(ALLOW);
    expect(run(prog, nr('socket'), [40n])).toBe(ERRNO(1));
  });

  it('gates syscalls on capabilities', () => {
    const without = compileSeccomp(resolveSeccompProfile(DEFAULT_SECCOMP_PROFILE, DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_SYS_CHROOT')));
    expect(run(without, nr('chroot'))).toBe(ERRNO(1));
    const withTime = compileSeccomp(resolveSeccompProfile(DEFAULT_SECCOMP_PROFILE, [...DEFAULT_CAPABILITIES, 'CAP_SYS_TIME']));
    expect(run(withTime, nr('settimeofday'))).toBe(ALLOW);
    expect(run(defaultProg(), nr('settimeofday'))).toBe(ERRNO(1));
  });

  it('compiles every comparison operator on 64-bit values', () => {
    const big = 0x1_0000_0005;
    const prog = compileSeccomp({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        { names: ['read'], action: 'SCMP_ACT_ERRNO', errnoRet: 11, args: [{ index: 1, value: big, op: 'SCMP_CMP_GT' }] },
        { names: ['write'], action: 'SCMP_ACT_ERRNO', errnoRet: 12, args: [{ index: 2, value: big, op: 'SCMP_CMP_LE' }] },
        { names: ['close'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: [{ index: 0, value: big, op: 'SCMP_CMP_NE' }] },
        { names: ['dup'], action: 'SCMP_ACT_ERRNO', errnoRet: 14, args: [{ index: 0, value: 5, op: 'SCMP_CMP_GE' }, { index: 0, value: 9, op: 'SCMP_CMP_LT' }] },
        { names: ['no_such_syscall', 'mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 15 },
      ],
    });
    expect(run(prog, nr('read'), [0n, 0x1_0000_0006n])).toBe(ERRNO(11));
    expect(run(prog, nr('read'), [0n, 0x1_0000_0005n])).toBe(ALLOW);
    expect(run(prog, nr('read'), [0n, 0x2_0000_0000n])).toBe(ERRNO(11));
    expect(run(prog, nr('read'), [0n, 0xffffffffn])).toBe(ALLOW);
    expect(run(prog, nr('write'), [0n, 0n, 0x1_0000_0005n])).toBe(ERRNO(12));
    expect(run(prog, nr('write'), [0n, 0n, 0x1_0000_0006n])).toBe(ALLOW);
    expect(run(prog, nr('write'), [0n, 0n, 7n])).toBe(ERRNO(12));
    expect(run(prog, nr('close'), [5n])).toBe(ERRNO(13));
    expect(run(prog, nr('close'), [0x1_0000_0005n])).toBe(ALLOW);
    expect(run(prog, nr('dup'), [4n])).toBe(ALLOW);
    expect(run(prog, nr('dup'), [5n])).toBe(ERRNO(14));
    expect(run(prog, nr('dup'), [8n])).toBe(ERRNO(14));
    expect(run(prog, nr('dup'), [9n])).toBe(ALLOW);
    expect(run(prog, nr('mkdir'))).toBe(ERRNO(15));
  });

  it('decides every syscall number as the profile says, by a binary search a few comparisons deep', () => {
    const resolved = resolveSeccompProfile(DEFAULT_SECCOMP_PROFILE, DEFAULT_CAPABILITIES);
    const prog = compileSeccomp(resolved);
    // The linear form (a JEQ and a RET per allowed syscall) took ~650 instructions.
    expect(prog.length).toBeLessThan(300);
    // No dead test: every JGE splits at a number above 0 (read, 0, has a leaf of its own, not a second one).
    expect(prog.filter((i) => i.code === 0x35 && i.k === 0)).toEqual([]);
    const argSets = [[], [0n, 0n, 0n], [0x10000000n], [40n], [8n], [0x1_0000_0000n, 0xffffffffn]];
    let deepest = 0;
    for (let n = 0; n < 520; n++) {
      for (const args of argSets) {
        const { ret, steps } = trace(prog, n, args);
        expect(ret, `syscall ${n} (${args.join(',')})`).toBe(decide(resolved, n, args));
        if (!conditional(resolved, n)) deepest = Math.max(deepest, steps);
      }
    }
    // Arch and x32 checks (5), ~log2(runs of allowed numbers) JGEs, the RET.
    expect(deepest).toBeLessThanOrEqual(16);
  });

  it('decides as the profile says for random profiles, long conditional blocks too (jumped over with JA)', () => {
    let seed = 42;
    const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    const actions = ['SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_LOG'] as const;
    const ops = ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'] as const;
    const names = Object.keys(X86_64_SYSCALLS);
    let longJumps = 0;
    for (let round = 0; round < 20; round++) {
      const syscalls = Array.from({ length: 5 + rand(60) }, () => {
        const args = rand(3) === 0 ? Array.from({ length: 1 + rand(3) }, () => ({ index: rand(6), value: rand(50), valueTwo: rand(50), op: ops[rand(ops.length)]! })) : [];
        return {
          names: Array.from({ length: 1 + rand(args.length > 0 ? 6 : 40) }, () => names[rand(names.length)]!),
          action: actions[rand(actions.length)]!,
          errnoRet: rand(100),
          args,
        };
      });
      const profile = { defaultAction: actions[rand(actions.length)]!, defaultErrnoRet: 1 + rand(50), syscalls };
      const prog = compileSeccomp(profile);
      longJumps += prog.filter((i) => i.code === 0x05).length;
      // What the kernel would refuse: a jump past the end or out of a u8, no RET at the end, too long.
      expect(() => encodeBpf(prog)).not.toThrow();
      expect(prog.length).toBeLessThanOrEqual(SECCOMP_MAX_INSNS);
      expect(prog.at(-1)!.code).toBe(0x06);
      prog.forEach((insn, at) => {
        const targets = insn.code === 0x05 ? [insn.k] : insn.code === 0x06 || insn.code === 0x20 || insn.code === 0x54 ? [] : [insn.jt, insn.jf];
        for (const t of targets) expect(at + 1 + t, `instruction ${at}`).toBeLessThan(prog.length);
      });
      for (let n = 0; n < 470; n++) {
        for (const args of [[], [3n, 7n, 20n, 49n, 0n, 5n], [49n, 0n, 0n, 3n, 20n, 1n], [0x1_0000_0000n, 25n, 25n, 25n, 25n, 25n]]) {
          expect(run(prog, n, args), `round ${round}, syscall ${n} (${args.join(',')})`).toBe(decide(profile, n, args));
        }
      }
    }
    expect(longJumps).toBeGreaterThan(0);
  });

  it('encodes struct sock_filter little-endian, 8 bytes each', () => {
    const buf = encodeBpf([{ code: 0x15, jt: 1, jf: 2, k: 0xc000003e }]);
    expect(buf.toString('hex')).toBe('150001023e0000c0');
  });

  it('reads docker profile files and refuses what it cannot compile', () => {
    const p = parseSeccompProfile(JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] }));
    expect(run(compileSeccomp(resolveSeccompProfile(p, [])), nr('mkdir'))).toBe(ERRNO(1));
    expect(() => parseSeccompProfile('{')).toThrow(/seccomp profile/);
    expect(() => parseSeccompProfile(JSON.stringify({ defaultAction: 'SCMP_ACT_NOTIFY' }))).toThrow(/defaultAction/);
    expect(() => parseSeccompProfile(JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'SCMP_ACT_ALLOW', args: [{ index: 7, value: 0, op: 'SCMP_CMP_EQ' }] }] }))).toThrow(/index/);
  });
});

describe('--security-opt', () => {
  const files: Record<string, string> = { '/p.json': JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [] }) };
  const read = (f: string) => {
    if (!(f in files)) throw new Error('ENOENT: no such file');
    return files[f]!;
  };

  it('parses docker\'s forms', () => {
    expect(parseSecurityOpts([], read)).toEqual({});
    expect(parseSecurityOpts(['seccomp=unconfined'], read)).toEqual({ seccomp: 'unconfined' });
    expect(parseSecurityOpts(['seccomp:unconfined', 'no-new-privileges'], read)).toEqual({ seccomp: 'unconfined', noNewPrivileges: true });
    expect(parseSecurityOpts(['no-new-privileges=false'], read)).toEqual({ noNewPrivileges: false });
    expect(parseSecurityOpts(['no-new-privileges:true'], read)).toEqual({ noNewPrivileges: true });
    expect(parseSecurityOpts(['seccomp=/p.json'], read)).toEqual({ seccomp: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [] } });
    expect(parseSecurityOpts(['apparmor=unconfined', 'label=disable'], read)).toEqual({});
    expect(() => parseSecurityOpts(['seccomp=/missing.json'], read)).toThrow(/opening seccomp profile \(\/missing.json\)/);
    expect(() => parseSecurityOpts(['no-new-privileges=maybe'], read)).toThrow(/invalid value/);
    expect(() => parseSecurityOpts(['bogus=1'], read)).toThrow(/invalid --security-opt/);
    expect(() => parseSecurityOpts(['seccomp'], read)).toThrow(/invalid --security-opt/);
  });

  it('chooses the filter as docker does', () => {
    expect(containerSeccomp({}, DEFAULT_CAPABILITIES)?.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(containerSeccomp({ seccomp: 'unconfined' }, DEFAULT_CAPABILITIES)).toBeUndefined();
    expect(containerSeccomp({ privileged: true }, DEFAULT_CAPABILITIES)).toBeUndefined();
    expect(containerSeccomp({}, [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'])).toBeUndefined();
    expect(containerSeccomp({ seccomp: { defaultAction: 'SCMP_ACT_ALLOW' } }, [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'])).toEqual({ defaultAction: 'SCMP_ACT_ALLOW', architectures: [], syscalls: [] });
  });

  it('puts the compiled filter into the plan as one hex record', () => {
    const seccomp = containerSeccomp({}, DEFAULT_CAPABILITIES)!;
    const plan = buildLaunchPlan(
      {
        ociVersion: '1.2.0',
        process: { user: { uid: 0, gid: 0 }, args: ['sh'], env: [], cwd: '/', noNewPrivileges: true },
        root: { path: '/r' },
        mounts: [],
        linux: { namespaces: [{ type: 'mount' }], seccomp },
      },
      { mkcwd: false, isFileSource: () => false },
    );
    const fields = encodePlan(plan).toString().split('\0');
    const hex = fields[fields.indexOf('seccomp') + 1]!;
    expect(hex).toBe(encodeBpf(compileSeccomp(seccomp)).toString('hex'));
    expect(hex.length % 16).toBe(0);
  });
});
