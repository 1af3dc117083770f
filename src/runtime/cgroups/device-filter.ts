import { RuntimeError } from '../../errors.js';
import type { OciDeviceRule } from './limits.js';

/**
 * The device rules as an eBPF program, for cgroup v2, which has no
 * devices.allow/devices.deny files: the kernel runs a program of type
 * BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup at every mknod and
 * every open of a device node, and refuses with EPERM when it returns 0
 * (security/device_cgroup.c, devcgroup_check_permission). Without one, root
 * in a container may mknod the host's disk and open it.
 *
 * The rules mean what the v1 lines limits.ts writes mean: a rule of type
 * 'a' resets everything (the kernel reads "a" alone, whatever follows it),
 * and a later rule wins over an earlier one. So the program tries the rules
 * after the last reset from last to first, the first match decides, and
 * nothing matching means the reset's answer (allow when there is none: a
 * new v1 cgroup allows everything, as its parent does).
 */
export function deviceFilterProgram(rules: OciDeviceRule[]): Buffer {
  let reset = -1;
  rules.forEach((r, i) => {
    if ((r.type ?? 'a') === 'a') reset = i;
  });
  const fallback = reset < 0 ? true : rules[reset]!.allow;
  const tail = rules.slice(reset + 1);

  const p = new Program();
  if (tail.length > 0) {
    // struct bpf_cgroup_dev_ctx { u32 access_type (access << 16 | type); u32 major; u32 minor; }
    p.emit(LDX_W, R2, R1, 0, 0);
    p.emit(ALU32_AND_K, R2, 0, 0, 0xffff);
    p.emit(LDX_W, R3, R1, 0, 0);
    p.emit(ALU32_RSH_K, R3, 0, 0, 16);
    p.emit(LDX_W, R4, R1, 4, 0);
    p.emit(LDX_W, R5, R1, 8, 0);
  }
  for (const rule of [...tail].reverse()) {
    const skips: number[] = [];
    // Each test jumps past the rule when it does not hold.
    const type = rule.type === 'b' ? DEV_BLOCK : rule.type === 'c' ? DEV_CHAR : undefined;
    if (type === undefined) throw new RuntimeError(`device rule type "${rule.type}": only a, b and c are allowed`);
    skips.push(p.emit(JNE_K, R2, 0, 0, type));
    const access = accessBits(rule.access);
    if (access !== ALL_ACCESS) {
      // Matches when the rule grants every access asked for: (asked & granted) == asked.
      p.emit(ALU32_MOV_X, R1, R3, 0, 0);
      p.emit(ALU32_AND_K, R1, 0, 0, access);
      skips.push(p.emit(JNE_X, R1, R3, 0, 0));
    }
    if (isNumber(rule.major)) skips.push(p.emit(JNE_K, R4, 0, 0, checkedNumber(rule.major, 'major')));
    if (isNumber(rule.minor)) skips.push(p.emit(JNE_K, R5, 0, 0, checkedNumber(rule.minor, 'minor')));
    p.emit(ALU64_MOV_K, R0, 0, 0, rule.allow ? 1 : 0);
    p.emit(EXIT, 0, 0, 0, 0);
    for (const at of skips) p.jumpToEnd(at);
  }
  p.emit(ALU64_MOV_K, R0, 0, 0, fallback ? 1 : 0);
  p.emit(EXIT, 0, 0, 0, 0);
  return p.bytes();
}

// struct bpf_insn: u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm (linux/bpf.h).
const INSN = 8;
class Program {
  private insns: Buffer[] = [];

  /** Appends one instruction; returns its index. */
  emit(code: number, dst: number, src: number, off: number, imm: number): number {
    const b = Buffer.alloc(INSN);
    b.writeUInt8(code, 0);
    b.writeUInt8((src << 4) | dst, 1);
    b.writeInt16LE(off, 2);
    b.writeInt32LE(imm, 4);
    return this.insns.push(b) - 1;
  }

  /** Points the jump at `at` past the last instruction emitted so far (offsets count from the next one). */
  jumpToEnd(at: number): void {
    this.insns[at]!.writeInt16LE(this.insns.length - at - 1, 2);
  }

  bytes(): Buffer {
    return Buffer.concat(this.insns);
  }
}

const [R0, R1, R2, R3, R4, R5] = [0, 1, 2, 3, 4, 5];
const LDX_W = 0x61; // BPF_LDX | BPF_W | BPF_MEM
const ALU32_AND_K = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_X = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const ALU64_MOV_K = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JNE_K = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JNE_X = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const EXIT = 0x95; // BPF_JMP | BPF_EXIT

// BPF_DEVCG_DEV_* and BPF_DEVCG_ACC_* (linux/bpf.h).
const DEV_BLOCK = 1;
const DEV_CHAR = 2;
const ACCESS: Record<string, number> = { m: 1, r: 2, w: 4 };
const ALL_ACCESS = 7;

function accessBits(access: string | undefined): number {
  if (access === undefined || access === '') return ALL_ACCESS;
  let bits = 0;
  for (const ch of access) {
    const bit = ACCESS[ch];
    if (bit === undefined) throw new RuntimeError(`device rule access "${access}": only r, w and m are allowed`);
    bits |= bit;
  }
  return bits;
}

// -1 (or absent) is the OCI wildcard.
const isNumber = (n: number | undefined): n is number => n !== undefined && n !== -1;

function checkedNumber(n: number, what: string): number {
  // The compare takes a sign-extended 32-bit immediate; device numbers are 12 (major) and 20 (minor) bits.
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new RuntimeError(`device rule ${what} ${n} is not a device number`);
  return n;
}
