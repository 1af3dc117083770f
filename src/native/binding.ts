/**
 * Loads the native addon and locates the monitor, both built by CMakeLists.txt
 * into build/native/Release/ at `npm ci`. The only module that touches the
 * .node file; everything else goes through NativeBinding.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { NativeBinding } from './types.js';

const ADDON = join('build', 'native', 'Release', 'tsrun_native.node');
const MONITOR = join('build', 'native', 'Release', 'tsrun-monitor');
const INIT = join('build', 'native', 'Release', 'tsrun-init');

let root: string | undefined;
let binding: NativeBinding | undefined;

/** The package root: the nearest directory above this file holding package.json
 * (src/native/ when run from source, build/js/native/ when compiled). */
function packageRoot(): string {
  if (root === undefined) {
    let dir = dirname(fileURLToPath(import.meta.url));
    while (!existsSync(join(dir, 'package.json'))) {
      const parent = dirname(dir);
      if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
      dir = parent;
    }
    root = dir;
  }
  return root;
}

function built(relative: string): string {
  const path = join(packageRoot(), relative);
  if (!existsSync(path)) {
    throw new Error(`the native build is missing (${path}); run \`npm ci\` or \`npm run build\``);
  }
  return path;
}

/** The addon, loaded on first use. */
export function loadNative(): NativeBinding {
  if (binding === undefined) {
    const require = createRequire(import.meta.url);
    binding = require(built(ADDON)) as NativeBinding;
  }
  return binding;
}

/** Absolute path of the static monitor executable. */
export function monitorPath(): string {
  return built(MONITOR);
}

/** Absolute path of the static reaper bind-mounted as the container's PID 1 with `run --init`. */
export function initPath(): string {
  return built(INIT);
}
