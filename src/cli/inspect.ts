import { Option, type Command } from 'commander';
import type { ContextFactory } from './program.js';
import { writeStderr, writeStdout } from '../util/stdio.js';

export function registerInspect(program: Command, ctx: ContextFactory): void {
  const action = (forced?: 'container' | 'image') => async (refs: string[], o: { type?: 'container' | 'image'; format?: string; size?: boolean }) => {
    const [{ findContainer }, { resolveImage }, { inspectContainer, inspectImage }, { ContainerNotFoundError, RuntimeError }, { formatObject, inspectJson }] = await Promise.all([
      import('../runtime/containers.js'),
      import('../store/images.js'),
      import('../runtime/inspect.js'),
      import('../errors.js'),
      import('./format.js'),
    ]);
    const c = ctx();
    const type = forced ?? o.type;
    const out: unknown[] = [];
    let missing: string | undefined;
    for (const ref of refs) {
      try {
        if (type !== 'image') {
          try {
            const rec = findContainer(c.paths, ref);
            const sizes = o.size ? (await import('../store/disk-usage.js')).containerSize(c.paths, rec) : undefined;
            out.push({ ...inspectContainer(c.paths, rec), ...(sizes ? { SizeRw: sizes.rw, SizeRootFs: sizes.rootFs } : {}) });
            continue;
          } catch (err) {
            if (type === 'container' || !(err instanceof ContainerNotFoundError)) throw err;
          }
        }
        out.push(inspectImage(c.paths, resolveImage(c.paths, ref)));
      } catch (err) {
        if (!(err instanceof RuntimeError)) throw err;
        missing = ref;
        writeStderr(`tsrun: no such object: ${ref}\n`);
      }
    }
    // --format json is the default output, as docker's.
    if (o.format !== undefined && o.format.trim() !== 'json') {
      for (const obj of out) writeStdout(`${formatObject(o.format, obj)}\n`);
    } else {
      writeStdout(inspectJson(out) + '\n');
    }
    if (missing !== undefined) process.exit(1);
  };

  program
    .command('inspect')
    .description('Show low-level information on containers and images, as JSON')
    .argument('<name...>', 'container or image names or ids')
    .addOption(new Option('--type <type>', 'only look for this kind of object').choices(['container', 'image']))
    .option('-f, --format <template>', 'print fields instead of JSON, as docker: {{.State.Status}}, {{json .Config}}')
    .option('-s, --size', 'add a container\'s SizeRw (what it wrote) and SizeRootFs (that and its image)')
    .action(action());

  program
    .command('port')
    .description('List a container\'s published ports (-p), or where one of its ports is published')
    .argument('<container>')
    .argument('[port]', 'PORT[/tcp|udp] of the container')
    .action(async (ref: string, port: string | undefined) => {
      const [{ findContainer }, { portMap, publishedPorts }, { UsageError }, { isRunning }] = await Promise.all([
        import('../runtime/containers.js'),
        import('../runtime/inspect.js'),
        import('../errors.js'),
        import('../runtime/state/status.js'),
      ]);
      const c = ctx();
      const rec = findContainer(c.paths, ref);
      const map = portMap(publishedPorts(c.paths, rec, isRunning(c.paths, rec.id)));
      if (port === undefined) {
        for (const [key, hosts] of Object.entries(map)) for (const h of hosts) writeStdout(`${key} -> ${h.HostIp}:${h.HostPort}\n`);
        return;
      }
      const key = port.includes('/') ? port : `${port}/tcp`;
      const hosts = map[key];
      if (!hosts) throw new UsageError(`no public port '${key}' published for ${ref}`);
      for (const h of hosts) writeStdout(`${h.HostIp}:${h.HostPort}\n`);
    });

  const image = program.commands.find((cmd) => cmd.name() === 'image') ?? program.command('image').description('Manage images');
  image
    .command('inspect')
    .description('Show images as JSON')
    .argument('<image...>')
    .option('-f, --format <template>', 'print fields instead of JSON, as docker: {{.Id}}, {{json .RootFS}}')
    .action(action('image'));
}

