/**
 * docker's management commands (`docker container ls`, `docker image rm`)
 * as the top-level verbs they stand for, so either form works. The real
 * subcommands of the groups (image inspect, container prune, ...) are not
 * rewritten.
 */
const ALIASES: Record<string, Record<string, string>> = {
  container: {
    ls: 'ps', list: 'ps', ps: 'ps', rm: 'rm', remove: 'rm', run: 'run', create: 'create', start: 'start', stop: 'stop',
    restart: 'restart', kill: 'kill', pause: 'pause', unpause: 'unpause', wait: 'wait', rename: 'rename', exec: 'exec',
    logs: 'logs', inspect: 'inspect', diff: 'diff', cp: 'cp', commit: 'commit', export: 'export', stats: 'stats', top: 'top', update: 'update', port: 'port', attach: 'attach',
  },
  image: { ls: 'images', list: 'images', rm: 'rmi', remove: 'rmi', pull: 'pull', load: 'load', import: 'import', save: 'save', tag: 'tag', history: 'history' },
};

/** Global options that take a value, to find the command word after them. */
const VALUED = new Set(['--root', '--runroot', '--log-level']);

/** Where the command word is in argv (as process.argv: node, script, args...): the first argument that is not a global option or its value. */
function commandIndex(argv: string[]): number {
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i]!;
    if (VALUED.has(a)) i++;
    else if (!a.startsWith('-')) return i;
  }
  return -1;
}

/** The command word of argv, if it has one; none after -h/--help, as `tsrun --help ps` prints the whole program's help. */
export function commandWord(argv: string[]): string | undefined {
  const i = commandIndex(argv);
  if (i < 0 || argv.slice(2, i).some((a) => a === '-h' || a === '--help')) return undefined;
  return argv[i];
}

/** argv with `GROUP VERB` replaced by the top-level verb it names (argv as process.argv: node, script, args...). */
export function expandManagementCommand(argv: string[]): string[] {
  const i = commandIndex(argv);
  const verb = i < 0 ? undefined : ALIASES[argv[i]!]?.[argv[i + 1] ?? ''];
  return verb === undefined ? argv : [...argv.slice(0, i), verb, ...argv.slice(i + 2)];
}

/** For the groups' --help: what else each of them accepts. */
export function aliasesOf(group: 'container' | 'image'): string {
  return Object.keys(ALIASES[group]!).join(', ');
}
