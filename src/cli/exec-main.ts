import { type Registrars, runCli } from './program.js';
import { registerExec } from './run.js';

/**
 * `tsrun exec` alone, bundled on its own (build/tsrun-exec.cjs; bin/load-cli.cjs
 * LEAN_BUNDLES): a quarter of the whole CLI's code, ~2 ms of every exec
 * (health checks and probes run many).
 */
export const registrars: Registrars = [[registerExec, ['exec']]];

export function main(argv: string[]): Promise<void> {
  return runCli(registrars, argv);
}
