import { type Registrars, runCli } from './program.js';
import { registerRun } from './run.js';

/**
 * `tsrun run` alone, bundled on its own (build/tsrun-run.cjs; bin/load-cli.cjs
 * loads it for a run): V8 reads and deserializes a third less code than
 * the whole CLI's, ~1.2 ms of every run.
 */
export const registrars: Registrars = [[registerRun, ['run']]];

export function main(argv: string[]): Promise<void> {
  return runCli(registrars, argv);
}
