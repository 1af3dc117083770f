import { describe, expect, it } from 'vitest';
import { deviceFilterProgram, emulateV1 } from '../../src/runtime/cgroups/device-filter.js';
import { RUNTIME_DEVICE_ALLOWS, cgroupResources } from '../../src/runtime/cgroups/limits.js';

/**
 * Runs a device program as the kernel would for one access: the handful of
 * eBPF instructions device-filter.ts emits, interpreted here (the kernel
 * cannot test-run this program type; test/integration/isolation.test.ts
 * runs it in a real cgroup).
 */
function allows(program: Buffer, type: 'b' | 'c', major: number, minor: number, access: string): boolean {
  const bits = [...access].reduce((a, ch) => a | ({ m: 1, r: 2, w: 4 }[ch] ?? 0), 0);
  const ctx = [((bits << 16) | (type === 'b' ? 1 : 2)) >>> 0, major, minor];
  const reg = new Array<number>(11).fill(0);
  const n = program.length / 8;
  for (let pc = 0, steps = 0; steps < 4096; steps++, pc++) {
    expect(pc).toBeGreaterThanOrEqual(0);
    expect(pc).toBeLessThan(n);
    const code = program.readUInt8(pc * 8);
    const dst = program.readUInt8(pc * 8 + 1) & 0xf;
    const src = program.readUInt8(pc * 8 + 1) >> 4;
    const off = program.readInt16LE(pc * 8 + 2);
    const imm = program.readInt32LE(pc * 8 + 4);
    switch (code) {
      case 0x61: // ldxw dst, [src + off]
        expect(src).toBe(1);
        reg[dst] = ctx[off / 4]!;
        break;
      case 0x54: // and32 dst, imm
        reg[dst] = (reg[dst]! & imm) >>> 0;
        break;
      case 0x74: // rsh32 dst, imm
        reg[dst] = reg[dst]! >>> imm;
        break;
      case 0xbc: // mov32 dst, src
        reg[dst] = reg[src]! >>> 0;
        break;
      case 0xb7: // mov dst, imm
        reg[dst] = imm;
        break;
      case 0x15: // jeq dst, imm, +off
        if (reg[dst] === imm) pc += off;
        break;
      case 0x55: // jne dst, imm, +off
        if (reg[dst] !== imm) pc += off;
        break;
      case 0x5d: // jne dst, src, +off
        if (reg[dst] !== reg[src]) pc += off;
        break;
      case 0x95: // exit
        return reg[0] === 1;
      default:
        throw new Error(`unexpected opcode 0x${code.toString(16)} at ${pc}`);
    }
  }
  throw new Error('the program did not exit');
}

describe('the cgroup v2 device program', () => {
  // What `tsrun run` and podman's specs come to: deny all, the runtime's defaults, then --device's own.
  const dockerRules = cgroupResources({ devices: [{ allow: false, access: 'rwm' }] }, [{ type: 'c', major: 10, minor: 229 }]).devices!;
  const docker = deviceFilterProgram(dockerRules);

  it('allows the default devices and mknod of anything, and nothing else', () => {
    expect(dockerRules.slice(1, 1 + RUNTIME_DEVICE_ALLOWS.length)).toEqual(RUNTIME_DEVICE_ALLOWS);
    for (const [major, minor] of [[1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 1], [5, 2], [10, 200], [136, 0], [136, 7]]) {
      expect(allows(docker, 'c', major!, minor!, 'rw')).toBe(true);
    }
    expect(allows(docker, 'b', 254, 0, 'm')).toBe(true);
    expect(allows(docker, 'c', 1, 1, 'm')).toBe(true);
    // The host's disk, /dev/mem, /dev/kmsg: not to be opened.
    expect(allows(docker, 'b', 254, 0, 'r')).toBe(false);
    expect(allows(docker, 'b', 8, 0, 'rw')).toBe(false);
    expect(allows(docker, 'c', 1, 1, 'r')).toBe(false);
    expect(allows(docker, 'c', 1, 11, 'w')).toBe(false);
    // Block 1:3 is not char 1:3.
    expect(allows(docker, 'b', 1, 3, 'r')).toBe(false);
    // The spec's own device (10:229, /dev/fuse) is allowed; its neighbour is not.
    expect(allows(docker, 'c', 10, 229, 'rw')).toBe(true);
    expect(allows(docker, 'c', 10, 228, 'rw')).toBe(false);
  });

  it('--privileged (allow all) is a program that allows everything', () => {
    const all = deviceFilterProgram([{ allow: true, access: 'rwm' }]);
    expect(all.length).toBe(2 * 8);
    expect(allows(all, 'b', 254, 0, 'rwm')).toBe(true);
  });

  it('means what the same lines mean to a v1 cgroup: an allow must grant every access asked for, a deny names any', () => {
    const p = deviceFilterProgram([
      { allow: false, access: 'rwm' },
      { allow: true, type: 'b', major: 8, minor: 0, access: 'rwm' },
      { allow: false, type: 'b', major: 8, minor: 0, access: 'w' },
      { allow: true, type: 'c', major: 4, access: 'r' },
    ]);
    // The deny of w took w out of the allow: the disk is read-only, O_RDWR included.
    expect(allows(p, 'b', 8, 0, 'r')).toBe(true);
    expect(allows(p, 'b', 8, 0, 'w')).toBe(false);
    expect(allows(p, 'b', 8, 0, 'rw')).toBe(false);
    expect(allows(p, 'c', 4, 64, 'r')).toBe(true);
    expect(allows(p, 'c', 4, 64, 'rw')).toBe(false);
    // Allowing everything but writes to c 1:3: a deny naming any part of an access refuses it.
    const q = deviceFilterProgram([{ allow: true, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }]);
    expect(allows(q, 'c', 1, 3, 'r')).toBe(true);
    expect(allows(q, 'c', 1, 3, 'rw')).toBe(false);
    expect(allows(q, 'b', 8, 0, 'rw')).toBe(true);
  });

  it('an allow takes away only the exception it names exactly (v1\'s dev_exception_rm): no hole in a wildcard deny', () => {
    const p = deviceFilterProgram([{ allow: true, access: 'rwm' }, { allow: false, type: 'c', access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }]);
    expect(allows(p, 'c', 1, 3, 'r')).toBe(false);
    expect(allows(p, 'b', 8, 0, 'r')).toBe(true);
    expect(emulateV1([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'r' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'w' }])).toEqual({
      defaultAllow: false,
      exceptions: [{ type: 2, major: 1, minor: 3, access: 6 }],
    });
  });

  it('rules without an "a" start from deny (runc\'s emulator); a spec without device rules gets only the defaults', () => {
    const p = deviceFilterProgram([{ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }]);
    expect(allows(p, 'c', 1, 3, 'r')).toBe(true);
    expect(allows(p, 'c', 1, 5, 'r')).toBe(false);
    const none = deviceFilterProgram(cgroupResources(undefined).devices!);
    expect(allows(none, 'c', 1, 3, 'rw')).toBe(true);
    expect(allows(none, 'b', 8, 0, 'r')).toBe(false);
  });

  it('refuses a rule it cannot express, with the rule named', () => {
    expect(() => deviceFilterProgram([{ allow: true, type: 'p' as 'c' }])).toThrow('device rule type "p": only a, b and c are allowed');
    expect(() => deviceFilterProgram([{ allow: true, type: 'c', access: 'rx' }])).toThrow('device rule access "rx": only r, w and m are allowed');
    expect(() => deviceFilterProgram([{ allow: true, type: 'c', major: 2 ** 32 }])).toThrow('device rule major 4294967296 is not a device number');
  });
});
