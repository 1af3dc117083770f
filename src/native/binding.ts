/**
 * Loads the native addon and locates the monitor, both built by CMakeLists.txt
 * into build/native/Release/ at `npm ci`. The only module that touches the
 * .node file; everything else goes through NativeBinding.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

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
    let dir = dirname(import.meta.filename);
    while (!existsSync(join(dir, 'package.json'))) {
      const parent = dirname(dir);
      if (parent === dir) throw new Error(`no package.json above ${import.meta.filename}`);
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

/** The addon, loaded on first use: process.dlopen, as require() would, without node:module's resolution (~0.3 ms). */
export function loadNative(): NativeBinding {
  if (binding === undefined) {
    const addon = { exports: {} };
    process.dlopen(addon, built(ADDON));
    binding = addon.exports as NativeBinding;
  }
  return binding;
}

/**
 * For the command-line entry points: once the addon is loaded (loading it
 * only for this would cost more than it saves), the process's exit does not
 * wait for Node's memory to be unmapped (~1.5 ms; native/addon/exit.cc).
 */
export function deferTeardownAtExit(): void {
  process.once('exit', () => {
    // An addon built before the holder existed has no deferTeardown: exit as before.
    if (!binding?.deferTeardown) return;
    // The holder shares our memory, so also our command line (/proc/PID/cmdline): named so, a `pgrep -f` for
    // what we ran does not find it while it unmaps (libuv rewrites argv in place).
    process.title = 'tsrun-exit';
    binding.deferTeardown({});
  });
}

/** Absolute path of the static monitor executable. */
export function monitorPath(): string {
  return built(MONITOR);
}

/** Absolute path of the static reaper bind-mounted as the container's PID 1 with `run --init`. */
export function initPath(): string {
  return built(INIT);
}
