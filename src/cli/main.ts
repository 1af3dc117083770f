import { registerCreate, registerExec, registerRun } from './run.js';
import { registerPs } from './ps.js';
import { registerRm } from './rm.js';
import { registerInspect } from './inspect.js';
import { registerImages } from './images.js';
import { registerLoad } from './load.js';
import { LIFECYCLE_COMMANDS, registerLifecycle } from './lifecycle.js';
import { registerImageManage } from './image-manage.js';
import { registerContainerFs } from './container-fs.js';
import { registerSystem } from './system.js';
import { registerResources } from './resources.js';
import { registerPrune } from './prune.js';
import { registerVolume } from './volume.js';
import { type Registrars, buildProgramOf, runCli } from './program.js';

/**
 * Each file's registrar and the top-level commands it adds
 * (test/unit/cli-registry.test.ts keeps the two in step). A command line
 * whose command word only one of them adds builds that one alone: building
 * all ~45 commands and their options took ~1.5 ms of every command. Help, a
 * group several add to (image, volume, system) and an unknown word build
 * them all, so help and "did you mean" see every command.
 */
export const REGISTRARS: Registrars = [
  [registerRun, ['run']],
  [registerCreate, ['create']],
  [registerExec, ['exec']],
  [registerVolume, ['volume']],
  [registerPs, ['ps']],
  [registerLifecycle, LIFECYCLE_COMMANDS],
  [registerRm, ['rm']],
  [registerInspect, ['inspect', 'port', 'image']],
  [registerImages, ['images']],
  [registerLoad, ['pull', 'login', 'logout', 'load', 'import']],
  [registerImageManage, ['tag', 'rmi', 'history', 'save']],
  [registerContainerFs, ['cp', 'diff', 'commit', 'export']],
  [registerSystem, ['system']],
  [registerResources, ['stats', 'top', 'update', 'info']],
  [registerPrune, ['container', 'image', 'volume', 'system']],
];

/** The program for this command line (argv as process.argv, management commands expanded); all of it without one. */
export function buildProgram(argv: string[] = []) {
  return buildProgramOf(REGISTRARS, argv);
}

/** tsrun's whole command line (build/tsrun.cjs). */
export function main(argv: string[]): Promise<void> {
  return runCli(REGISTRARS, argv);
}
