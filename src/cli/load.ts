import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { ContextFactory } from './program.js';
import { repeatable } from './options.js';
import { writeStdout } from '../util/stdio.js';

export function registerLoad(program: Command, ctx: ContextFactory): void {
  program
    .command('pull')
    .description('Download an image from a registry (Docker Hub by default; with the credentials of `tsrun login`, else anonymously), for this machine\'s platform unless --platform')
    .argument('<name>', 'NAME[:TAG|@DIGEST], as docker: busybox, quay.io/org/app:v1, localhost:5000/x@sha256:...')
    .option('-q, --quiet', 'print only the image\'s full name')
    .option('--platform <os/arch>', 'the image of this platform (as linux/arm64) from a multi-platform tag, instead of this machine\'s')
    .action(async (name: string, o: { quiet?: boolean; platform?: string }) => {
      const [{ pullImage }, { parseReference, canonicalName }, { parsePlatform }] = await Promise.all([import('../store/load-images.js'), import('../store/reference.js'), import('../image/platform.js')]);
      const platform = o.platform === undefined ? undefined : parsePlatform(o.platform);
      const ref = parseReference(name);
      const say = (line: string) => o.quiet || writeStdout(`${line}\n`);
      say(`${ref.digest ?? ref.tag}: Pulling from ${ref.repository.replace(/^docker\.io\//, '')}`);
      const pulled = await pullImage(ctx(), { ref: name, progress: say, platform });
      say(`Digest: ${pulled.digest}`);
      say(`Status: Downloaded image for ${pulled.names[0] ?? name}`);
      writeStdout(`${canonicalName(ref)}\n`);
    });

  program
    .command('login')
    .description('Check a user name and password with a registry (Docker Hub by default) and save them where docker keeps its own: $DOCKER_CONFIG/config.json, or the credential helper it names')
    .argument('[server]', 'host[:port] of the registry')
    .option('-u, --username <name>', 'user name (asked for on a terminal)')
    .option('-p, --password <password>', 'password (visible to other users: prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (server: string | undefined, o: { username?: string; password?: string; passwordStdin?: boolean }) => {
      const [{ login }, { readSecretInput }] = await Promise.all([import('../image/login.js'), import('./prompt.js')]);
      const username = o.username ?? (await readSecretInput('Username: ', { echo: true }));
      const password = o.passwordStdin ? (await readStdin()).replace(/\r?\n$/, '') : (o.password ?? (await readSecretInput('Password: ', { echo: false })));
      if (!username || !password) throw new UsageError('login needs a user name and a password');
      await login(server, { username, password });
      writeStdout('Login Succeeded\n');
    });

  program
    .command('logout')
    .description('Forget the saved credentials of a registry (Docker Hub by default)')
    .argument('[server]', 'host[:port] of the registry')
    .action(async (server: string | undefined) => {
      const { logout } = await import('../image/login.js');
      const { key, removed } = logout(server);
      writeStdout(removed ? `Removing login credentials for ${key}\n` : `Not logged in to ${key}\n`);
    });

  program
    .command('load')
    .description('Load images from an OCI image layout or a docker-archive (`docker save`), as a directory or tar archive')
    .option('-i, --input <path>', 'archive file or directory (default: standard input)')
    .option('-t, --tag <name>', 'store the image under this name instead of the archive\'s')
    .option('-q, --quiet', 'no progress: only the "Loaded image" lines (which scripts read, as docker\'s)')
    .action(async (o: { input?: string; tag?: string; quiet?: boolean }) => {
      const { loadImages } = await import('../store/load-images.js');
      const loaded = await loadImages(ctx(), { input: o.input, tag: o.tag, progress: (line) => o.quiet || writeStdout(`${line}\n`) });
      for (const img of loaded) {
        writeStdout(img.names.length > 0 ? img.names.map((n) => `Loaded image: ${n}\n`).join('') : `Loaded image ID: ${img.id}\n`);
      }
    });

  program
    .command('import')
    .description('Create a one-layer image from a root filesystem tarball (plain, gzip or zstd), like docker import')
    .argument('<file>', 'the tarball, or - for standard input')
    .argument('[reference]', 'name for the new image')
    .addOption(repeatable('-c, --change <instruction>', 'apply a Dockerfile instruction to the config (CMD, ENTRYPOINT, ENV, LABEL, USER, WORKDIR, STOPSIGNAL)'))
    .option('-m, --message <text>', 'history comment (default "Imported from FILE")')
    .action(async (file: string, reference: string | undefined, o: { change?: string[]; message?: string }) => {
      const { importImage } = await import('../store/load-images.js');
      const id = await importImage(ctx(), {
        input: file,
        ref: reference,
        message: o.message,
        changes: o.change ?? [],
        progress: () => undefined,
      });
      writeStdout(`${id}\n`);
    });
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}
