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
 * The rules mean exactly what the same lines written to a v1 cgroup's
 * devices.allow/devices.deny mean (limits.ts writes those): they are played
 * through v1's state machine (emulateV1), and the program checks an access
 * against the resulting default and exceptions as v1 would.
 */
export function deviceFilterProgram(rules: OciDeviceRule[]): Buffer {
  const { defaultAllow, exceptions } = emulateV1(rules);
  const p = new Program();
  if (exceptions.length > 0) {
    // struct bpf_cgroup_dev_ctx { u32 access_type (access << 16 | type); u32 major; u32 minor; }
    p.emit(LDX_W, R2, R1, 0, 0);
    p.emit(ALU32_AND_K, R2, 0, 0, 0xffff);
    p.emit(LDX_W, R3, R1, 0, 0);
    p.emit(ALU32_RSH_K, R3, 0, 0, 16);
    p.emit(LDX_W, R4, R1, 4, 0);
    p.emit(LDX_W, R5, R1, 8, 0);
  }
  for (const ex of exceptions) {
    // Each test jumps past the exception when it does not hold.
    const skips = [p.emit(JNE_K, R2, 0, 0, ex.type)];
    if (ex.access !== ALL_ACCESS) {
      p.emit(ALU32_MOV_X, R1, R3, 0, 0);
      p.emit(ALU32_AND_K, R1, 0, 0, ex.access);
      // v1's match_exception (allow list): the exception grants every access asked for, (asked & ex) == asked;
      // match_exception_partial (deny list): it names any of them, (asked & ex) != 0.
      skips.push(defaultAllow ? p.emit(JEQ_K, R1, 0, 0, 0) : p.emit(JNE_X, R1, R3, 0, 0));
    }
    if (ex.major !== ANY) skips.push(p.emit(JNE_K, R4, 0, 0, ex.major));
    if (ex.minor !== ANY) skips.push(p.emit(JNE_K, R5, 0, 0, ex.minor));
    p.emit(ALU64_MOV_K, R0, 0, 0, defaultAllow ? 0 : 1);
    p.emit(EXIT, 0, 0, 0, 0);
    for (const at of skips) p.jumpToEnd(at);
  }
  p.emit(ALU64_MOV_K, R0, 0, 0, defaultAllow ? 1 : 0);
  p.emit(EXIT, 0, 0, 0, 0);
  return p.bytes();
}

interface DeviceException {
  type: number;
  major: number;
  minor: number;
  access: number;
}

/**
 * A v1 device cgroup after the rules are written, one a write
 * (security/device_cgroup.c, devcgroup_update_access): "a" sets the default
 * and clears the exceptions; a rule against the default becomes an
 * exception (merged into one for the same type and numbers); a rule for the
 * default takes its access away from the exception for the same type and
 * numbers (dev_exception_rm: an exact match, so allowing c 1:3 does not
 * punch a hole in a deny of c *:*). Starts from deny, as runc's emulator.
 */
export function emulateV1(rules: OciDeviceRule[]): { defaultAllow: boolean; exceptions: DeviceException[] } {
  let defaultAllow = false;
  let exceptions: DeviceException[] = [];
  for (const rule of rules) {
    if ((rule.type ?? 'a') === 'a') {
      defaultAllow = rule.allow;
      exceptions = [];
      continue;
    }
    const type = rule.type === 'b' ? DEV_BLOCK : rule.type === 'c' ? DEV_CHAR : undefined;
    if (type === undefined) throw new RuntimeError(`device rule type "${rule.type}": only a, b and c are allowed`);
    const ex = { type, major: deviceNumber(rule.major, 'major'), minor: deviceNumber(rule.minor, 'minor'), access: accessBits(rule.access) };
    const same = exceptions.find((e) => e.type === ex.type && e.major === ex.major && e.minor === ex.minor);
    if (rule.allow !== defaultAllow) {
      if (same) same.access |= ex.access;
      else exceptions.push(ex);
    } else if (same) {
      same.access &= ~ex.access;
      if (same.access === 0) exceptions = exceptions.filter((e) => e !== same);
    }
  }
  return { defaultAllow, exceptions };
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
const JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
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
const ANY = -1;

function deviceNumber(n: number | undefined, what: string): number {
  if (n === undefined || n === ANY) return ANY;
  // The compare takes a sign-extended 32-bit immediate; device numbers are 12 (major) and 20 (minor) bits.
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new RuntimeError(`device rule ${what} ${n} is not a device number`);
  return n;
}
