import { type Registrars, runCli } from './program.js';
import { registerRm } from './rm.js';

/** `tsrun rm` alone, bundled on its own (build/tsrun-rm.cjs; bin/load-cli.cjs LEAN_BUNDLES). */
export const registrars: Registrars = [[registerRm, ['rm']]];

export function main(argv: string[]): Promise<void> {
  return runCli(registrars, argv);
}
