import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { storeForFile, tsrunBin } from '../helpers/store.js';

const s = storeForFile('busybox', 'hello-world-v1');

describe('ps and images: --filter and --format, as docker', () => {
  it('filters containers by name, status and image, and formats them', () => {
    const web = s.ok(['run', '-d', '--name', 'web', 'busybox', 'sleep', '1000']).trim();
    s.ok(['run', '--name', 'done', 'hello-world:v1', 'true']);
    expect(s.ok(['ps', '--format', '{{.Names}}'])).toBe('web\n');
    expect(s.ok(['ps', '-a', '--format', '{{.Names}} {{.State}}']).split('\n').filter(Boolean).sort()).toEqual(['done exited', 'web running']);
    expect(s.ok(['ps', '--filter', 'status=exited', '--format', '{{.Names}}'])).toBe('done\n');
    expect(s.ok(['ps', '-a', '--filter', 'ancestor=busybox', '-q', '--no-trunc'])).toBe(`${web}\n`);
    expect(s.ok(['ps', '-a', '-f', 'name=we', '-f', 'name=don', '--format', '{{.Names}}']).split('\n').filter(Boolean).sort()).toEqual(['done', 'web']);
    expect(s.ok(['ps', '--format', 'table {{.Names}}\\t{{.Image}}'])).toBe('NAMES   IMAGE\nweb     busybox:latest\n');
    expect(JSON.parse(s.ok(['ps', '--format', '{{json .}}']))).toMatchObject({ Names: 'web', Image: 'busybox:latest', State: 'running' });
    expect(s.ok(['inspect', '-f', '{{.Name}} {{.State.Status}} {{.State.Pid}}', 'web'])).toMatch(/^\/web running \d+\n$/);
    // Go templates as scripts write them; Config is the image's under the flags (its PATH, its Cmd when none is given).
    expect(s.ok(['inspect', '-f', '{{if .State.Running}}up{{else}}down{{end}} {{range .Config.Env}}{{.}};{{end}} {{join .Config.Cmd " "}}', 'web'])).toMatch(/^up PATH=[^;]+; sleep 1000\n$/);
    expect(s.ok(['inspect', '-f', '{{json .Config.Cmd}}', 'done'])).toBe('["true"]\n');
    expect(s.run(['inspect', '-f', '{{nosuch .Name}}', 'web'])).toMatchObject({ code: 1, stderr: expect.stringContaining('function "nosuch" not defined') });
    expect(s.ok(['ps', '--format', 'json']).trim().split('\n').map((l) => JSON.parse(l).Names)).toEqual(['web']);
    // A name that has moved to another image shows the container's image id instead, as docker's.
    s.ok(['tag', 'busybox', 'moving:1']);
    s.ok(['create', '--name', 'mover', 'moving:1', 'true']);
    expect(s.ok(['ps', '-a', '-f', 'name=^mover$', '--format', '{{.Image}}'])).toBe('moving:1\n');
    // ancestor= is an image, by any of its names: busybox's containers, whichever name they were made with.
    expect(s.ok(['ps', '-a', '-f', 'ancestor=moving:1', '--format', '{{.Names}}'])).toBe('mover\nweb\n');
    s.ok(['tag', 'hello-world:v1', 'moving:1']);
    const busyboxId = s.ok(['images', 'busybox', '-q']).trim();
    expect(s.ok(['ps', '-a', '-f', 'name=^mover$', '--format', '{{.Image}}'])).toBe(`${busyboxId}\n`);
    // ancestor= is the image a name names now: hello-world's container, not the one made from the old moving:1.
    expect(s.ok(['ps', '-a', '-f', 'ancestor=moving:1', '--format', '{{.Names}}'])).toBe('done\n');
    s.ok(['rm', 'mover']);
    s.ok(['rmi', 'moving:1']);
    // -n/-l: the last made, whatever their state; exited= an exit code.
    expect(s.ok(['ps', '-l', '--format', '{{.Names}}'])).toBe('done\n');
    expect(s.ok(['ps', '-n', '2', '--format', '{{.Names}}'])).toBe('done\nweb\n');
    expect(s.ok(['ps', '-f', 'exited=0', '--format', '{{.Names}}'])).toBe('done\n');
    expect(s.ok(['image', 'inspect', '--format', '{{json .RootFS.Type}}', 'busybox'])).toBe('"layers"\n');
    expect(s.run(['ps', '--filter', 'color=red'])).toMatchObject({ code: 1, stderr: expect.stringContaining("invalid filter 'color=red'") });
    // name= is docker's regular expression: `-f name=^web$` is how scripts ask whether one container exists.
    expect(s.ok(['ps', '-a', '-f', 'name=^web$', '-q', '--no-trunc'])).toBe(`${web}\n`);
    expect(s.ok(['ps', '-a', '-f', 'name=^/web$', '-q', '--no-trunc'])).toBe(`${web}\n`);
    expect(s.run(['ps', '-f', 'exited=abc'])).toMatchObject({ code: 1, stderr: "tsrun: invalid filter 'exited=abc'\n" });
    expect(s.ok(['ps', '-n', '0', '--format', '{{.Names}}'])).toBe('web\n');
    expect(s.ok(['ps', '-a', '-f', 'name=^we$', '-q'])).toBe('');
    expect(s.run(['ps', '-a', '-f', 'status=bogus'])).toMatchObject({ code: 1, stderr: "tsrun: invalid filter 'status=bogus'\n" });
    expect(s.run(['ps', '--format', '{{.Nope}}'])).toMatchObject({ code: 1, stderr: expect.stringContaining('no field .Nope') });
    s.ok(['rm', '-f', 'web', 'done']);
  });

  it('filters images by reference and danglingness, and formats them', () => {
    expect(s.ok(['images', '--format', '{{.Repository}}:{{.Tag}}']).split('\n').filter(Boolean).sort()).toEqual(['busybox:latest', 'hello-world:v1']);
    expect(s.ok(['images', '--filter', 'reference=hello*', '--format', '{{.Repository}}'])).toBe('hello-world\n');
    expect(s.ok(['images', 'hello-world', '--format', '{{.Repository}}:{{.Tag}}'])).toBe('hello-world:v1\n');
    expect(s.ok(['images', '-a', 'busybox:latest', '-q']).trim()).toMatch(/^[0-9a-f]{12}$/);
    expect(s.ok(['images', '--filter', 'dangling=true', '-q'])).toBe('');
    expect(s.ok(['images', '--filter', 'reference=busybox:latest', '--format', 'table {{.Repository}}\\t{{.Tag}}'])).toBe('REPOSITORY   TAG\nbusybox      latest\n');
    // An image's other names are not what a reference asked for.
    s.ok(['tag', 'busybox', 'mybb:1']);
    s.ok(['tag', 'busybox', 'mybb:2']);
    onTestFinished(() => void s.run(['rmi', 'mybb:1', 'mybb:2']));
    expect(s.ok(['images', 'busybox', '--format', '{{.Repository}}:{{.Tag}}'])).toBe('busybox:latest\n');
    expect(s.ok(['images', '-f', 'reference=*:1', '--format', '{{.Repository}}:{{.Tag}}'])).toBe('mybb:1\n');
    // * stops at a / (docker's path.Match).
    s.ok(['tag', 'busybox', 'my/busybox:x']);
    onTestFinished(() => void s.run(['rmi', 'my/busybox:x']));
    expect(s.ok(['images', '-f', 'reference=*box', '--format', '{{.Repository}}'])).toBe('busybox\n');
    expect(s.ok(['images', '-f', 'reference=*/*box', '--format', '{{.Repository}}'])).toBe('my/busybox\n');
    expect(s.ok(['images', 'mybb', '--format', '{{.Repository}}:{{.Tag}}']).split('\n').filter(Boolean).sort()).toEqual(['mybb:1', 'mybb:2']);
  });

  it('ps -s and inspect -s: what a container wrote, and that with its image as virtual', () => {
    s.ok(['run', '--name', 'writer', 'busybox', 'sh', '-c', 'head -c 1500 /dev/zero > /data; rm /bin/ls']);
    onTestFinished(() => void s.run(['rm', '-f', 'writer']));
    const image = s.inspect('busybox').Size as number;
    const info = JSON.parse(s.ok(['inspect', '-s', 'writer']))[0];
    expect(info.SizeRw).toBe(1500);
    expect(info.SizeRootFs).toBe(1500 + image);
    expect(s.inspect('writer').SizeRw).toBeUndefined();
    const human = (n: number) => `${Number((n / 1e6).toPrecision(3))}MB`;
    expect(s.ok(['ps', '-a', '-f', 'name=writer', '--format', '{{.Names}}: {{.Size}}'])).toBe(`writer: 1.5kB (virtual ${human(1500 + image)})\n`);
    const lines = s.ok(['ps', '-a', '-s', '-f', 'name=writer']).split('\n');
    expect(lines[0]).toMatch(/NAMES +SIZE$/);
    expect(lines[1]).toMatch(/writer +1\.5kB \(virtual [0-9.]+MB\)$/);
  });

  it('filters images by label and by before=/since= another image', () => {
    s.ok(['create', '--name', 'labelled', 'busybox', 'true']);
    s.ok(['commit', '-c', 'LABEL tier=web', '-c', 'LABEL owner=', 'labelled', 'mine:1']);
    s.ok(['rm', 'labelled']);
    onTestFinished(() => void s.run(['rmi', 'mine:1']));
    const repos = (...args: string[]) => s.ok(['images', ...args, '--format', '{{.Repository}}']).split('\n').filter(Boolean).sort();
    expect(repos('-f', 'label=tier')).toEqual(['mine']);
    expect(repos('-f', 'label=tier=web')).toEqual(['mine']);
    expect(repos('-f', 'label=tier=db')).toEqual([]);
    expect(repos('-f', 'label=owner=')).toEqual(['mine']);
    expect(repos('-f', 'since=busybox')).toEqual(['hello-world', 'mine']);
    expect(repos('-f', 'since=hello-world:v1')).toEqual(['mine']);
    expect(repos('-f', 'before=mine:1')).toEqual(['busybox', 'hello-world']);
    expect(repos('-f', 'before=mine:1', '-f', 'reference=busy*')).toEqual(['busybox']);
    expect(s.run(['images', '-f', 'since=nosuch'])).toMatchObject({ code: 1, stderr: 'tsrun: no such image: nosuch\n' });
    expect(s.run(['images', '-f', 'dangling=maybe'])).toMatchObject({ code: 1, stderr: "tsrun: invalid filter 'dangling=maybe': use true or false\n" });
  });
});

describe('output to a pipe', () => {
  const sh = (script: string) => spawnSync('bash', ['-c', `set -o pipefail; ${script}`, 'sh', tsrunBin, s.root, s.runroot], { encoding: 'utf8' });

  it('a reader that stops early ends the command with 141, as SIGPIPE would, and no stack trace', () => {
    const r = sh('"$1" --root "$2" --runroot "$3" images | true');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(141);
    // The streaming commands too: logs (and logs -f) stop reading, a tar to standard output stops writing.
    s.ok(['run', '--name', 'chatty', 'busybox', 'sh', '-c', 'seq 1 20000']);
    for (const cmd of ['logs chatty', 'logs -f chatty', 'export chatty', 'save busybox']) {
      const out = sh(`"$1" --root "$2" --runroot "$3" ${cmd} | head -c 10 >/dev/null`);
      expect([cmd, out.stderr, out.status]).toEqual([cmd, '', 141]);
    }
    s.ok(['rm', 'chatty']);
  });

  it('a stdout pipe another process made non-blocking still gets every byte, in order', () => {
    // A Node process sharing the pipe makes it O_NONBLOCK (libuv's uv_pipe_open) for everyone on it; tsrun
    // starts once it has. 2 images x 100 kB: past the 64 kB a pipe holds while its reader sleeps, so a write meets EAGAIN.
    const filler = 'x'.repeat(100_000);
    const ready = path.join(s.dir, 'nonblocking-ready');
    const sibling = `process.stdout; require('node:fs').writeFileSync('${ready}', ''); setTimeout(() => {}, 10_000)`;
    const r = sh(
      `{ node -e "${sibling}" & sibling=$!; until [ -e '${ready}' ]; do sleep 0.01; done; ` +
        `while read -r k v; do [ "$k" = flags: ] && flags=$v; done < /proc/$BASHPID/fdinfo/1; (( 8#$flags & 04000 )) || echo still blocking >&2; ` +
        `"$1" --root "$2" --runroot "$3" images --format '{{.Repository}}${filler}{{.Tag}}'; code=$?; kill $sibling; exit $code; } ` +
        `| (sleep 1; awk '{ print length($0), substr($0, 1, 12), substr($0, length($0) - 6) }')`,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(['100013 busyboxxxxxx xlatest', '100013 hello-worldx xxxxxv1']);
  });
});
