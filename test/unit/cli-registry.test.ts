import { createRequire } from 'node:module';
import * as path from 'node:path';
import { Command } from 'commander';
import { expect, it } from 'vitest';
import { buildProgram, REGISTRARS } from '../../src/cli/main.js';
import { commandWord } from '../../src/cli/management.js';

/**
 * main.ts builds only the commands a command line names (REGISTRARS): the
 * table must list exactly what each registrar adds, or a command would be
 * missing from the program built for it.
 */

const argv = (...args: string[]) => ['node', 'tsrun', ...args];
const names = (p: Command) => p.commands.map((c) => c.name()).sort();

it('lists exactly the top-level commands each registrar adds', () => {
  for (const [register, listed] of REGISTRARS) {
    const program = new Command('tsrun').enablePositionalOptions();
    register(program, () => {
      throw new Error('not run');
    });
    expect(names(program), register.name).toEqual([...listed].sort());
  }
});

it('builds only the file a command word names, and everything for help, groups and unknown words', () => {
  const all = names(buildProgram());
  expect(all).toEqual([...new Set(REGISTRARS.flatMap(([, listed]) => listed))].sort());
  expect(names(buildProgram(argv('--root', '/r', 'ps', '-a')))).toEqual(['ps']);
  expect(names(buildProgram(argv('--debug', 'exec', 'web', 'true')))).toEqual(['exec']);
  expect(names(buildProgram(argv('stop', 'web')))).toContain('restart');
  for (const line of [argv(), argv('--help'), argv('help', 'run'), argv('--help', 'ps'), argv('image', 'inspect', 'x'), argv('volume', 'ls'), argv('rnu', 'busybox')]) {
    expect(names(buildProgram(line)), line.join(' ')).toEqual(all);
  }
});

it('bundles each lean file with the registrar the whole CLI has for its commands (bin/load-cli.cjs LEAN_BUNDLES)', async () => {
  const { LEAN_BUNDLES } = createRequire(import.meta.url)('../../bin/load-cli.cjs') as { LEAN_BUNDLES: Record<string, string[]> };
  expect(Object.keys(LEAN_BUNDLES).length).toBeGreaterThan(0);
  for (const [name, words] of Object.entries(LEAN_BUNDLES)) {
    const lean = (await import(/* @vite-ignore */ path.resolve(import.meta.dirname, `../../src/cli/${name}-main.ts`))) as { registrars: typeof REGISTRARS };
    const owners = REGISTRARS.filter(([, listed]) => listed.some((w) => words.includes(w)));
    expect(lean.registrars, name).toEqual(owners);
    // Every command word the bundle holds goes to it, and none it lacks.
    expect([...words].sort(), name).toEqual(owners.flatMap(([, listed]) => listed).sort());
  }
});

it('finds the command word after the global options and their values', () => {
  expect(commandWord(argv('--root', '/r', '--runroot', '/rr', '--log-level', 'info', 'ps'))).toBe('ps');
  expect(commandWord(argv('--root=/r', '--debug', 'rm', 'x'))).toBe('rm');
  expect(commandWord(argv('--version'))).toBeUndefined();
  expect(commandWord(argv('--help', 'ps'))).toBeUndefined();
  expect(commandWord(argv('ps', '--help'))).toBe('ps');
});
