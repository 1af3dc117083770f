import { loadNative } from '../native/binding.js';
import type { NativeBinding } from '../native/types.js';
import { type StorePaths, DEFAULT_ROOT, DEFAULT_RUNROOT, storePaths } from '../store/paths.js';

/** What every operation needs: where the store is, and the addon (loaded on first use). */
export interface Context {
  paths: StorePaths;
  readonly native: NativeBinding;
  /** argv that re-runs this tsrun with the same --root/--runroot (the monitor's exit command for `run -d --rm`). */
  selfCommand: string[];
}

export function makeContext(opts: { root?: string; runroot?: string; selfCommand: string[] }): Context {
  const paths = storePaths(
    opts.root ?? process.env.TSRUN_ROOT ?? DEFAULT_ROOT,
    opts.runroot ?? process.env.TSRUN_RUNROOT ?? DEFAULT_RUNROOT,
  );
  return {
    paths,
    get native() {
      return loadNative();
    },
    selfCommand: [...opts.selfCommand, '--root', paths.root, '--runroot', paths.runroot],
  };
}
