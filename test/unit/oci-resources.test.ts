import { expect, it } from 'vitest';
import { checkResources } from '../../src/oci/bundle.js';

const check = (res: unknown) => checkResources(res, 'linux.resources', (what) => new Error(what));

it('takes what tsrun-oci applies, and what asks for nothing (CRI\'s unset fields, the kubelet\'s zero hugepage limits)', () => {
  expect(() => check({ memory: { limit: 1 << 26, swap: 0, reservation: 0 }, cpu: { shares: 2, quota: 0 }, pids: { limit: 10 }, devices: [{ allow: false }] })).not.toThrow();
  expect(() => check({ hugepageLimits: [{ pageSize: '2MB', limit: 0 }, { pageSize: '1GB', limit: 0 }], unified: { 'memory.oom.group': '1' }, blockIO: {} })).not.toThrow();
  // Go callers that leave a field at its zero value send it anyway: a blockIO weight of 0 asks for nothing.
  expect(() => check({ blockIO: { weight: 0, leafWeight: 0 }, memory: { reservation: 1 << 24, swappiness: 60, kernel: 0 } })).not.toThrow();
});

it('refuses by name a limit it would not apply', () => {
  expect(() => check({ rdma: { mlx5_0: { hcaHandles: 3 } } })).toThrow('linux.resources.rdma is not supported');
  expect(() => check({ hugepageLimits: [{ pageSize: '2MB', limit: 1 << 21 }] })).toThrow('linux.resources.hugepageLimits is not supported');
  expect(() => check({ memory: { limit: 1, useHierarchy: true } })).toThrow('linux.resources.memory.useHierarchy is not supported');
  expect(() => check({ blockIO: { weight: 500, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1 }] }, memory: { disableOOMKiller: true } })).not.toThrow();
  expect(() => check({ blockIO: { ioPriority: 3 } })).toThrow('linux.resources.blockIO.ioPriority is not supported');
  expect(() => check({ blockIO: { leafWeight: 300 } })).toThrow('linux.resources.blockIO.leafWeight is not supported');
  expect(() => check([])).toThrow('linux.resources must be an object');
});

it('takes kernel memory limits and ignores them, as runc does (the kernel no longer has them)', () => {
  expect(() => check({ memory: { limit: 1 << 26, kernel: 1 << 20, kernelTCP: 1 << 20 } })).not.toThrow();
});
