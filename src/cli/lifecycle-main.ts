import { LIFECYCLE_COMMANDS, registerLifecycle } from './lifecycle.js';
import { type Registrars, runCli } from './program.js';

/**
 * start, stop, restart, kill and the other commands of lifecycle.ts alone,
 * bundled on their own (build/tsrun-lifecycle.cjs; bin/load-cli.cjs
 * LEAN_BUNDLES); on-exit among them, run at every exit of a container with
 * a restart policy or published ports.
 */
export const registrars: Registrars = [[registerLifecycle, LIFECYCLE_COMMANDS]];

export function main(argv: string[]): Promise<void> {
  return runCli(registrars, argv);
}
