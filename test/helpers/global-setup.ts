import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestProject } from 'vitest/node';

const repo = path.resolve(import.meta.dirname, '../..');

/**
 * Prerequisites of the integration tests, checked once: root, overlayfs, the
 * built CLI and native code. Then the fixture images are built into a temp
 * dir shared by every test file (each test still uses its own store).
 */
export default function setup(project: TestProject): () => void {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root');
  if (!fs.readFileSync('/proc/filesystems', 'utf8').includes('overlay')) missing.push('overlayfs');
  const { LEAN_BUNDLES } = createRequire(import.meta.url)('../../bin/load-cli.cjs') as { LEAN_BUNDLES: Record<string, string[]> };
  const bundles = ['tsrun.cjs', 'tsrun-oci.cjs', ...Object.keys(LEAN_BUNDLES).map((name) => `tsrun-${name}.cjs`)].map((f) => `build/${f}`);
  for (const f of [...bundles, 'build/native/Release/tsrun_native.node', 'build/native/Release/tsrun-monitor', 'bin/tsrun', 'bin/tsrun-oci']) {
    if (!fs.existsSync(path.join(repo, f))) missing.push(`${f} (run npm ci or npm run build)`);
  }
  if (!fs.existsSync('/bin/busybox')) missing.push('busybox-static (/bin/busybox)');
  if (missing.length > 0) {
    // Root, overlayfs and the build are always there in CI; their absence is a failure, never a skip.
    throw new Error(`integration tests need: ${missing.join(', ')}`);
  }
  const fixtures = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-fixtures-'));
  execFileSync('bash', [path.join(repo, 'rootfs-fixtures/build.sh'), fixtures], { stdio: ['ignore', 'ignore', 'inherit'] });
  project.provide('fixturesDir', fixtures);
  return () => fs.rmSync(fixtures, { recursive: true, force: true });
}

declare module 'vitest' {
  export interface ProvidedContext {
    fixturesDir: string;
  }
}
