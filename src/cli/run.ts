import type { Command } from 'commander';
import type { ContextFactory } from './main.js';

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerRun(program: Command, ctx: ContextFactory): void {
  program
    .command('run')
    .description('Create and start a container from an image')
    .helpOption('--help', 'display help for command') // -h is --hostname, as in docker
    .argument('<image>', 'image name or id')
    .argument('[command...]', 'command and arguments (default: the image\'s Entrypoint and Cmd)')
    .option('-d, --detach', 'run in the background and print the container id')
    .option('--rm', 'remove the container when it exits')
    .option('--name <name>', 'name the container')
    .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container (created if missing)')
    .option('-u, --user <user[:group]>', 'user name or uid, and optionally group name or gid')
    .option('-h, --hostname <name>', 'container hostname (default: the short id)')
    .option('--entrypoint <cmd>', 'override the image\'s Entrypoint ("" clears it)')
    .passThroughOptions()
    .action(async (image: string, command: string[], o: RunFlags) => {
      const { runCommand } = await import('../runtime/lifecycle/run.js');
      const code = await runCommand(ctx(), {
        image,
        name: o.name,
        autoRemove: o.rm === true,
        detach: o.detach === true,
        env: o.env,
        options: { workdir: o.workdir, user: o.user, hostname: o.hostname, entrypoint: o.entrypoint, cmd: command },
      });
      process.exit(code);
    });
}

interface RunFlags {
  detach?: boolean;
  rm?: boolean;
  name?: string;
  env: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  entrypoint?: string;
}
