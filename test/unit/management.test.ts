import { expect, it } from 'vitest';
import { expandManagementCommand } from '../../src/cli/management.js';

it('turns docker\'s management commands into the top-level verbs, after global options', () => {
  const x = (...args: string[]) => expandManagementCommand(['node', 'tsrun', ...args]).slice(2);
  expect(x('container', 'ls', '-a')).toEqual(['ps', '-a']);
  expect(x('--root', '/r', 'image', 'rm', 'busybox')).toEqual(['--root', '/r', 'rmi', 'busybox']);
  expect(x('--debug', 'container', 'run', '--rm', 'busybox', 'ls')).toEqual(['--debug', 'run', '--rm', 'busybox', 'ls']);
  // The groups' own subcommands and everything else pass untouched.
  expect(x('image', 'inspect', 'busybox')).toEqual(['image', 'inspect', 'busybox']);
  expect(x('container', 'prune', '-f')).toEqual(['container', 'prune', '-f']);
  expect(x('run', 'image', 'ls')).toEqual(['run', 'image', 'ls']);
});
