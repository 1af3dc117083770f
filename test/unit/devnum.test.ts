import { expect, it } from 'vitest';
import { devNumbers } from '../../src/util/devnum.js';

/** glibc's makedev(), the inverse. */
const makedev = (major: bigint, minor: bigint) => ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n);

it('splits st_rdev as glibc major()/minor() do, past 32 bits too', () => {
  expect(devNumbers(259)).toEqual({ major: 1, minor: 3 });
  expect(devNumbers(2789n)).toEqual({ major: 10, minor: 229 });
  expect(devNumbers(makedev(4100n, 1_048_000n))).toEqual({ major: 4100, minor: 1_048_000 });
});
