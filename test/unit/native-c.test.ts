import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { expect, it } from 'vitest';

/** The C unit tests (native/tests: plan wire format, in-root mounts, json-file log), built by npm ci beside the addon. */
it('the native C tests pass (ctest)', () => {
  const buildDir = path.resolve(import.meta.dirname, '../../build/native');
  const r = spawnSync('ctest', ['--test-dir', buildDir, '--output-on-failure'], { encoding: 'utf8' });
  expect(r.error).toBeUndefined();
  expect(r.stdout + r.stderr).toContain('100% tests passed');
  expect(r.status).toBe(0);
});
