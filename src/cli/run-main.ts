import { type Registrars, runCli } from './program.js';
import { registerRun } from './run.js';

/**
 * `tsrun run` alone, bundled on its own (build/tsrun-run.cjs; bin/load-cli.cjs
 * LEAN_BUNDLES): two thirds of the whole CLI's code, ~1.2 ms of every run.
 */
export const registrars: Registrars = [[registerRun, ['run']]];

export function main(argv: string[]): Promise<void> {
  return runCli(registrars, argv);
}
