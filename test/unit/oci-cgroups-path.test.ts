import { describe, expect, it } from 'vitest';
import { cgroupsPathOf } from '../../src/oci/cgroups-path.js';
import type { OciSpec } from '../../src/oci/spec.js';

const spec = (cgroupsPath?: string) => ({ linux: { cgroupsPath } }) as unknown as OciSpec;

describe('linux.cgroupsPath', () => {
  it('defaults to tsrun-oci/ID; a cgroupfs path is taken relative to each hierarchy', () => {
    expect(cgroupsPathOf(spec(), 'c1')).toBe('tsrun-oci/c1');
    expect(cgroupsPathOf(spec('/machine/c1'), 'c1')).toBe('machine/c1');
    expect(() => cgroupsPathOf(spec('a/../../b'), 'c1')).toThrow(/invalid linux.cgroupsPath/);
  });

  it('puts systemd\'s slice:prefix:name where systemd would (runc\'s ExpandSlice and unit names)', () => {
    // containerd's CRI with SystemdCgroup=true, and podman's default on systemd hosts.
    expect(cgroupsPathOf(spec('kubepods-besteffort-pod12ab.slice:cri-containerd:c1'), 'c1')).toBe(
      'kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12ab.slice/cri-containerd-c1.scope',
    );
    expect(cgroupsPathOf(spec('machine.slice:libpod:c1'), 'c1')).toBe('machine.slice/libpod-c1.scope');
    expect(cgroupsPathOf(spec(':libpod:c1'), 'c1')).toBe('system.slice/libpod-c1.scope');
    expect(cgroupsPathOf(spec('-.slice::c1'), 'c1')).toBe('c1.scope');
    expect(cgroupsPathOf(spec('user.slice:x:sub.slice'), 'c1')).toBe('user.slice/sub.slice');
    for (const bad of ['a:b:c', 'a--b.slice:x:c1', 'x.slice:p:..', 'a:b']) expect(() => cgroupsPathOf(spec(bad), 'c1')).toThrow(/invalid linux.cgroupsPath/);
  });
});
