import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { initSparesDir, storePaths } from '../../src/store/paths.js';
import { storeForFile, tsrunBin, until } from '../helpers/store.js';

const s = storeForFile('busybox', 'hello-world-v1');

const upper = (name: string) => s.inspect(name).GraphDriver.Data.UpperDir as string;
const runtimeOf = (name: string) => JSON.parse(fs.readFileSync(path.join(s.runroot, 'containers', s.inspect(name).Id, 'runtime.json'), 'utf8'));
/** An attach that would go on (its container still runs), ended after `ms` by SIGTERM: what it printed by then. */
const attachFor = (args: string[], input: string, ms: number) =>
  spawnSync(tsrunBin, ['--root', s.root, '--runroot', s.runroot, 'attach', '--no-sig-proxy', ...args], { input, timeout: ms, encoding: 'utf8' }).stdout;
const alive = (pid: number) => fs.existsSync(`/proc/${pid}`) && !/^\S+ \(.*\) [ZX]/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));

describe('stop, start, restart: the rw layer is kept until rm', () => {
  it('keeps what the container wrote across stop and start, and rm deletes it', async () => {
    s.ok(['run', '-d', '--name', 'keep', 'hello-world:v1', 'sh', '-c', 'echo run >> /runs; exec sleep 1000']);
    const up = upper('keep');
    await until(() => fs.existsSync(path.join(up, 'runs')));
    s.ok(['stop', '-t', '1', 'keep']);
    const st = s.inspect('keep').State;
    expect(st.Status).toBe('exited');
    expect(st.ExitCode).toBe(137); // a sleep as PID 1 ignores SIGTERM: killed after the timeout
    expect(s.mounts()).toEqual([]);
    expect(fs.readFileSync(path.join(up, 'runs'), 'utf8')).toBe('run\n');

    s.ok(['start', 'keep']);
    expect(s.inspect('keep').State.Running).toBe(true);
    await until(() => fs.readFileSync(path.join(up, 'runs'), 'utf8') === 'run\nrun\n');
    s.ok(['restart', '-t', '0', 'keep']);
    await until(() => fs.readFileSync(path.join(up, 'runs'), 'utf8') === 'run\nrun\nrun\n');

    s.ok(['rm', '-f', 'keep']);
    expect(fs.existsSync(path.dirname(up))).toBe(false);
    expect(s.mounts()).toEqual([]);
  });

  it('kill sends a signal and wait prints the exit code', async () => {
    s.ok(['run', '-d', '--name', 'trap', 'busybox', 'sh', '-c', 'trap "exit 42" TERM; while true; do sleep 0.05; done']);
    await new Promise((r) => setTimeout(r, 200));
    s.ok(['kill', '-s', 'TERM', 'trap']);
    expect(s.ok(['wait', 'trap'])).toBe('42\n');
    expect(s.ok(['ps', '-a'])).toMatch(/Exited \(42\)/);
    expect(s.run(['kill', 'trap']).stderr).toMatch(/not running/);
    expect(s.run(['kill', '-s', 'NOPE', 'trap']).code).toBe(1);
    s.ok(['rm', 'trap']);
  });

  it('start of a running container is a no-op, and rm -f / rmi -f of what is not there is said but no failure (docker\'s, for scripts)', () => {
    s.ok(['run', '-d', '--name', 'up', 'busybox', 'sleep', '1000']);
    const pid = runtimeOf('up').pid;
    expect(s.run(['start', 'up'])).toMatchObject({ code: 0, stdout: 'up\n', stderr: '' });
    expect(runtimeOf('up').pid).toBe(pid);
    s.ok(['rm', '-f', 'up']);
    expect(s.run(['rm', '-f', 'nosuch'])).toMatchObject({ code: 0, stderr: 'tsrun: no such container: nosuch\n' });
    expect(s.run(['rm', 'nosuch']).code).toBe(1);
    expect(s.run(['rmi', '-f', 'nosuch:1'])).toMatchObject({ code: 0, stderr: 'tsrun: no such image: nosuch:1\n' });
    expect(s.run(['rmi', 'nosuch:1']).code).toBe(1);
  });

  it('--label-file (with --label winning), --cidfile (never overwritten) and a bad --expose, as docker\'s run takes them', () => {
    const labels = path.join(s.dir, 'labels');
    fs.writeFileSync(labels, '# team labels\ntier=web\nowner=alice\n\n');
    const cid = path.join(s.dir, 'cid');
    s.ok(['create', '--name', 'labelled-file', '--label-file', labels, '--label', 'owner=bob', '--cidfile', cid, 'busybox', 'true']);
    expect(s.inspect('labelled-file').Config.Labels).toEqual({ tier: 'web', owner: 'bob' });
    expect(fs.readFileSync(cid, 'utf8')).toBe(s.inspect('labelled-file').Id);
    expect(s.run(['run', '--rm', '--cidfile', cid, 'busybox', 'true'])).toMatchObject({ code: 125, stderr: `tsrun: container ID file found, make sure the other container isn't running or delete ${cid}\n` });
    expect(s.run(['run', '--rm', '--expose', '70000', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: 'tsrun: invalid --expose "70000": use PORT[/PROTO] or a range, as 80 or 8000-8010/udp\n' });
    s.ok(['rm', 'labelled-file']);
    fs.rmSync(cid);
    // A create that fails at its start leaves nothing: no container, no anonymous volume, no id file.
    const volumes = s.ok(['volume', 'ls', '-q']);
    expect(s.run(['create', '--name', 'doomed', '--cidfile', cid, '-v', '/anon', '-u', 'nosuchuser', 'busybox', 'true']).code).toBe(125);
    expect(s.run(['inspect', 'doomed']).code).toBe(1);
    expect(s.ok(['volume', 'ls', '-q'])).toBe(volumes);
    expect(fs.existsSync(cid)).toBe(false);
    expect(s.run(['create', '--cpuset-mems', '63', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: expect.stringMatching(/^tsrun: Requested memory nodes are not available - requested 63, available: /) });
    expect(s.run(['update', 'doomed'])).toMatchObject({ code: 1, stderr: 'tsrun: You must provide one or more flags when using this command.\n' });
    fs.writeFileSync(labels, 'key = value\n');
    expect(s.run(['create', '--label-file', labels, 'busybox', 'true'])).toMatchObject({ code: 125, stderr: 'tsrun: invalid label "key = value": KEY=VALUE, with no blanks in KEY\n' });
  });

  it('--stop-signal, --stop-timeout and --label, as docker\'s run takes them', async () => {
    s.ok(['run', '-d', '--name', 'sig', '--stop-signal', 'USR1', '-l', 'tier=front', '--label', 'solo', '-v', 'sigvol:/data', 'busybox', 'sh', '-c', 'trap "exit 7" USR1; while :; do sleep 0.05; done']);
    s.ok(['run', '-d', '--name', 'deaf', '--stop-timeout', '1', 'busybox', 'sh', '-c', 'trap "" TERM; while :; do sleep 0.05; done']);
    await new Promise((r) => setTimeout(r, 200));
    expect(s.ok(['ps', '--filter', 'label=tier=front', '--format', '{{.Names}}'])).toBe('sig\n');
    expect(s.ok(['ps', '--filter', 'label=solo', '--format', '{{.Names}}'])).toBe('sig\n');
    expect(s.ok(['ps', '--filter', 'label=tier=back', '-q'])).toBe('');
    expect(s.ok(['inspect', '-f', '{{index .Config.Labels "tier"}}', 'sig'])).toBe('front\n');
    // docker ps's fields for them, and Go's printing: a map's json sorted, a nil slice as [].
    expect(s.ok(['ps', '--filter', 'name=sig', '--format', '{{.Label "tier"}}|{{.Labels}}|{{.Mounts}}|{{.LocalVolumes}}|{{.Networks}}'])).toBe('front|solo=,tier=front|sigvol|1|none\n');
    expect(s.ok(['ps', '--filter', 'name=sig', '--format', 'table {{.Label "com.example.tier"}}\t{{.Mounts}}'])).toBe('TIER   MOUNTS\n       sigvol\n');
    // docker's before=, since= (creation order), volume= (by name or destination) and network=.
    expect(s.ok(['ps', '--filter', 'since=sig', '--format', '{{.Names}}'])).toBe('deaf\n');
    expect(s.ok(['ps', '--filter', 'before=deaf', '--format', '{{.Names}}'])).toBe('sig\n');
    expect(s.ok(['ps', '--filter', 'volume=sigvol', '--format', '{{.Names}}'])).toBe('sig\n');
    expect(s.ok(['ps', '--filter', 'volume=/data', '--format', '{{.Names}}'])).toBe('sig\n');
    expect(s.ok(['ps', '--filter', 'network=none', '--format', '{{.Names}}']).split('\n').sort()).toEqual(['', 'deaf', 'sig']);
    expect(s.ok(['ps', '--filter', 'network=host', '-q'])).toBe('');
    expect(s.run(['ps', '--filter', 'before=nosuch'])).toMatchObject({ code: 1, stderr: 'tsrun: no such container: nosuch\n' });
    expect(s.ok(['inspect', '-f', '{{json .Config.Labels}} {{.Config.Entrypoint}} {{json .Config.Entrypoint}} {{.HostConfig.CapAdd}}', 'sig'])).toBe('{"solo":"","tier":"front"} [] null []\n');
    // Fields docker always has, so that one template reads every container.
    const fields = '{{.Name}} {{.Config.StopSignal}}|{{.HostConfig.Binds}}|{{.HostConfig.LogConfig.Type}}|{{.HostConfig.Init}}|{{.HostConfig.Tmpfs}}|{{.NetworkSettings.MacAddress}}|{{.ExecIDs}}';
    expect(s.ok(['inspect', '-f', fields, 'sig', 'deaf'])).toBe('/sig USR1|[sigvol:/data]|json-file|<nil>|map[]||[]\n/deaf |[]|json-file|<nil>|map[]||[]\n');
    s.ok(['stop', 'sig']);
    expect(s.ok(['inspect', '-f', '{{.State.ExitCode}}', 'sig'])).toBe('7\n');
    // No -t: the container's own timeout (1 s), not docker's 10.
    const t0 = Date.now();
    s.ok(['stop', 'deaf']);
    expect(Date.now() - t0).toBeLessThan(6_000);
    expect(s.ok(['inspect', '-f', '{{.State.ExitCode}}', 'deaf'])).toBe('137\n');
    expect(s.run(['stop', '-t', '-1', 'deaf']).code).toBe(0);
    // A stop that waits for ever holds no lock meanwhile: kill (and rm -f) still get through, as docker's.
    s.ok(['start', 'deaf']);
    await until(() => s.inspect('deaf').State.Running === true);
    const waiting = spawn(tsrunBin, ['--root', s.root, '--runroot', s.runroot, 'stop', '-t', '-1', 'deaf'], { stdio: 'ignore' });
    const stopped = new Promise<number | null>((resolve) => waiting.on('exit', resolve));
    await new Promise((r) => setTimeout(r, 500));
    expect(s.run(['kill', 'deaf'], { timeoutMs: 5_000 }).code).toBe(0);
    expect(await stopped).toBe(0);
    expect(s.ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'deaf'])).toBe('exited 137\n');
    expect(s.run(['run', '--rm', '--stop-signal', 'NOPE', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: 'tsrun: invalid signal: NOPE\n' });
    s.ok(['rm', 'sig', 'deaf']);
  });

  it('kill -s and --stop-signal take the real-time signals by docker\'s names (RTMIN+3 is systemd\'s stop signal) and numbers', async () => {
    const trapper = (name: string, ...flags: string[]) =>
      s.ok(['run', '-d', ...flags, '--name', name, 'busybox', 'sh', '-c', 'trap "exit 4" 37; trap "exit 5" 64; while :; do sleep 0.05; done']);
    const exitOf = async (name: string) => {
      await until(() => s.inspect(name).State.Status === 'exited', 5_000);
      return s.inspect(name).State.ExitCode;
    };
    try {
      trapper('rt1', '--stop-signal', 'RTMIN+3');
      trapper('rt2');
      trapper('rt3');
      await new Promise((r) => setTimeout(r, 300));
      s.ok(['stop', 'rt1']);
      expect(await exitOf('rt1')).toBe(4);
      s.ok(['kill', '-s', 'SIGRTMAX', 'rt2']);
      expect(await exitOf('rt2')).toBe(5);
      s.ok(['kill', '-s', '37', 'rt3']);
      expect(await exitOf('rt3')).toBe(4);
      expect(s.run(['kill', '-s', 'RTMIN+16', 'rt3'])).toMatchObject({ code: 1, stderr: 'tsrun: invalid signal: RTMIN+16\n' });
      expect(s.run(['kill', '-s', '65', 'rt3'])).toMatchObject({ code: 1, stderr: 'tsrun: invalid signal: 65\n' });
    } finally {
      s.run(['rm', '-f', 'rt1', 'rt2', 'rt3']);
    }
  });

  it('run -d --rm: stop past its timeout and rm -f end and remove it at once; restart keeps it, as docker\'s', async () => {
    // sleep ignores nothing but dies only of SIGKILL as PID 1: stop must get past its timeout while the monitor's
    // last act (the removal) waits for the container's lock.
    s.ok(['run', '-d', '--rm', '--name', 'gone', 'busybox', 'sleep', '300']);
    let t0 = Date.now();
    expect(s.run(['stop', '-t', '1', 'gone'])).toMatchObject({ code: 0, stdout: 'gone\n' });
    expect(Date.now() - t0).toBeLessThan(5_000);
    await until(() => s.run(['inspect', 'gone']).code === 1);
    s.ok(['run', '-d', '--rm', '--name', 'forced', 'busybox', 'sleep', '300']);
    t0 = Date.now();
    s.ok(['rm', '-f', 'forced']);
    expect(Date.now() - t0).toBeLessThan(1_500);
    s.ok(['run', '-d', '--rm', '--name', 'again', 'busybox', 'sleep', '300']);
    const first = s.inspect('again').State.Pid;
    expect(s.run(['restart', '-t', '1', 'again'])).toMatchObject({ code: 0, stdout: 'again\n' });
    // The old run's removal comes after the new start: it must leave the new run alone.
    await new Promise((r) => setTimeout(r, 500));
    expect(s.inspect('again').State).toMatchObject({ Running: true });
    expect(s.inspect('again').State.Pid).not.toBe(first);
    s.ok(['stop', '-t', '1', 'again']);
    await until(() => s.run(['inspect', 'again']).code === 1);
    // The monitor's removal deletes the lock file last, after the record inspect reads.
    await until(() => fs.readdirSync(path.join(s.runroot, 'locks')).length === 0);
  });

  it('run --rm in the foreground returns the exit code and leaves nothing of the container', () => {
    const before = s.layerDirs();
    expect(s.run(['run', '--rm', '--name', 'brief', 'busybox', 'sh', '-c', 'echo out; exit 3'])).toMatchObject({ code: 3, stdout: 'out\n' });
    expect(s.run(['run', '--rm', 'busybox', 'nosuchcommand'])).toMatchObject({ code: 127 });
    expect(s.run(['inspect', 'brief']).code).toBe(1);
    expect(s.ok(['ps', '-a', '-q', '--filter', 'name=brief'])).toBe('');
    expect(s.layerDirs()).toEqual(before);
    expect(fs.readdirSync(path.join(s.root, 'containers')).filter((n) => !s.ok(['ps', '-a', '-q', '--no-trunc']).includes(n))).toEqual([]);
  });

  it("gives a removed container's init diff to the next container (overlay/.init-spares), which sees the same init files", () => {
    s.ok(['run', '--rm', 'busybox', 'true']);
    const spares = initSparesDir(storePaths(s.root, s.runroot));
    const spareInodes = fs.readdirSync(spares).map((n) => fs.statSync(path.join(spares, n)).ino);
    expect(spareInodes.length).toBeGreaterThan(0);
    const id = s.ok(['create', '--name', 'reuse', 'busybox', 'sh', '-c', 'test -f /.dockerenv && readlink /etc/mtab && cat /etc/hostname']).trim();
    expect(spareInodes).toContain(fs.statSync(path.join(s.root, 'overlay', `${id}-init`, 'diff')).ino);
    expect(fs.readdirSync(spares)).toHaveLength(spareInodes.length - 1);
    expect(s.run(['start', '-a', 'reuse'])).toMatchObject({ code: 0, stdout: `/proc/mounts\n${id.slice(0, 12)}\n` });
    expect(s.ok(['diff', 'reuse'])).toBe('');
    s.ok(['rm', 'reuse']);
    expect(fs.readdirSync(spares)).toHaveLength(spareInodes.length);
  });

  it('start -a attaches and returns the exit code', () => {
    expect(s.run(['run', '--name', 'again', 'busybox', 'sh', '-c', 'echo hi; exit 5']).code).toBe(5);
    const r = s.run(['start', '-a', 'again']);
    expect(r.stdout).toBe('hi\n');
    expect(r.code).toBe(5);
    s.ok(['rm', 'again']);
    // Already running: start -a attaches to it (docker's), its later output and its exit code.
    s.ok(['run', '-d', '--name', 'busy', 'busybox', 'sh', '-c', 'sleep 1; echo late; exit 3']);
    const attached = s.run(['start', '-a', 'busy']);
    expect([attached.stdout, attached.code]).toEqual(['late\n', 3]);
    s.ok(['rm', 'busy']);
  });
});

describe('restart policies', () => {
  it('on-failure:2 restarts a failing process twice, keeping its rw layer, then leaves it exited', async () => {
    s.ok(['run', '-d', '--name', 'flaky', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'echo run >> /runs; exit 3']);
    await until(() => s.inspect('flaky').RestartCount === 2 && s.inspect('flaky').State.Status === 'exited', 15_000);
    await new Promise((r) => setTimeout(r, 500));
    const c = s.inspect('flaky');
    expect(c).toMatchObject({ RestartCount: 2, State: { Status: 'exited', ExitCode: 3 }, HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } } });
    expect(fs.readFileSync(path.join(upper('flaky'), 'runs'), 'utf8')).toBe('run\nrun\nrun\n');
    s.ok(['rm', 'flaky']);
  });

  it('shows a container waiting out its restart backoff as restarting, as docker\'s; stop ends the wait', async () => {
    // Fast exits in a row: the backoff doubles from 100 ms, so the wait soon lasts long enough to be seen.
    s.ok(['run', '-d', '--name', 'bouncy', '--restart', 'always', 'busybox', 'sh', '-c', 'exit 3']);
    await until(() => s.inspect('bouncy').State.Status === 'restarting', 15_000);
    expect(s.inspect('bouncy').State).toMatchObject({ Restarting: true, Running: false, ExitCode: 3 });
    expect(s.ok(['ps', '-a', '--filter', 'status=restarting', '--format', '{{.Names}} {{.Status}}'])).toMatch(/^bouncy Restarting \(3\) (Less than a second|\d+ seconds?) ago\n$/);
    s.ok(['stop', 'bouncy']);
    await new Promise((r) => setTimeout(r, 1000));
    expect(s.inspect('bouncy').State).toMatchObject({ Status: 'exited', Restarting: false });
    s.ok(['rm', 'bouncy']);
  });

  it('on-failure leaves a clean exit alone; always restarts until the user stops it', async () => {
    s.ok(['run', '-d', '--name', 'clean', '--restart', 'on-failure', 'busybox', 'true']);
    await until(() => s.inspect('clean').State.Status === 'exited');
    await new Promise((r) => setTimeout(r, 500));
    expect(s.inspect('clean').RestartCount).toBe(0);

    s.ok(['run', '-d', '--name', 'forever', '--restart', 'always', 'busybox', 'sh', '-c', 'echo run >> /runs; sleep 0.1']);
    await until(() => s.inspect('forever').RestartCount >= 2, 15_000);
    s.ok(['stop', '-t', '1', 'forever']);
    const count = s.inspect('forever').RestartCount;
    await new Promise((r) => setTimeout(r, 1500));
    expect(s.inspect('forever')).toMatchObject({ RestartCount: count, State: { Status: 'exited' } });
    s.ok(['rm', 'clean', 'forever']);
  });

  it('update --restart gives a running container a policy for its next exit, and takes it away; not to a --rm one', async () => {
    // It exits once /go exists: a policy given meanwhile restarts it (and the restart exits too).
    s.ok(['run', '-d', '--name', 'later', 'busybox', 'sh', '-c', 'echo run >> /runs; while [ ! -e /go ]; do sleep 0.05; done; exit 4']);
    expect(s.ok(['update', '--restart', 'on-failure:1', 'later'])).toBe('later\n');
    expect(s.inspect('later').HostConfig.RestartPolicy).toEqual({ Name: 'on-failure', MaximumRetryCount: 1 });
    s.ok(['exec', 'later', 'touch', '/go']);
    await until(() => s.inspect('later').RestartCount === 1 && s.inspect('later').State.Status === 'exited', 15_000);
    expect(fs.readFileSync(path.join(upper('later'), 'runs'), 'utf8')).toBe('run\nrun\n');

    // Taken away while it runs: its exit is the last.
    s.ok(['run', '-d', '--name', 'once', '--restart', 'always', 'busybox', 'sh', '-c', 'while [ ! -e /go ]; do sleep 0.05; done']);
    s.ok(['update', '--restart', 'no', 'once']);
    s.ok(['exec', 'once', 'touch', '/go']);
    await until(() => s.inspect('once').State.Status === 'exited');
    await new Promise((r) => setTimeout(r, 500));
    expect(s.inspect('once')).toMatchObject({ RestartCount: 0, State: { Status: 'exited' } });

    s.ok(['run', '-d', '--rm', '--name', 'ephemeral', 'busybox', 'sleep', '100']);
    expect(s.run(['update', '--restart', 'always', 'ephemeral'])).toMatchObject({ code: 1, stderr: 'tsrun: Restart policy cannot be updated because AutoRemove is enabled for the container\n' });
    s.ok(['rm', '-f', 'later', 'once', 'ephemeral']);
    // An explicit "no" is no policy: a --rm container still goes at its exit (also after update --restart no).
    s.ok(['run', '-d', '--rm', '--restart', 'no', '--name', 'gone-no', 'busybox', 'true']);
    s.ok(['run', '-d', '--rm', '--name', 'gone-updated', 'busybox', 'sleep', '0.5']);
    s.ok(['update', '--restart', 'no', 'gone-updated']);
    s.ok(['restart', '-t', '0', 'gone-updated']);
    await until(() => s.run(['inspect', 'gone-no']).code === 1 && s.run(['inspect', 'gone-updated']).code === 1, 10_000);
  });

  it('refuses --restart with --rm, and a bad policy, with one line', () => {
    expect(s.run(['run', '--rm', '--restart', 'always', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: 'tsrun: conflicting options: --restart and --rm\n' });
    expect(s.run(['run', '--restart', 'always:3', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: 'tsrun: invalid restart policy "always:3": a maximum retry count goes only with on-failure\n' });
  });
});

describe('rename', () => {
  it('renames a running container; a taken or invalid name is refused with one line', () => {
    s.ok(['run', '-d', '--name', 'old-name', 'busybox', 'sleep', '1000']);
    s.ok(['run', '-d', '--name', 'taken', 'busybox', 'true']);
    s.ok(['rename', 'old-name', 'new-name']);
    expect(s.inspect('new-name').Name).toBe('/new-name');
    expect(s.run(['inspect', 'old-name']).code).not.toBe(0);
    expect(s.run(['rename', 'new-name', 'taken'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/^tsrun: the container name "taken" is already in use by container [0-9a-f]{12}; remove it or pick another name\n$/) });
    expect(s.run(['rename', 'new-name', 'bad/name'])).toMatchObject({ code: 1, stderr: 'tsrun: invalid container name "bad/name": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed\n' });
    expect(s.ok(['exec', 'new-name', 'echo', 'still running'])).toBe('still running\n');
    s.ok(['rm', '-f', 'new-name', 'taken']);
  });
});

describe('pause and unpause', () => {
  it('freezes every process; exec is refused while paused; stop and rm -f still end it', async () => {
    s.ok(['run', '-d', '--name', 'pz', 'busybox', 'sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.02; done']);
    const n = path.join(upper('pz'), 'tmp/n');
    const count = () => Number(fs.existsSync(n) ? fs.readFileSync(n, 'utf8') : 0);
    await until(() => count() > 0);
    expect(s.ok(['pause', 'pz'])).toBe('pz\n');
    expect(s.inspect('pz').State).toMatchObject({ Status: 'paused', Running: true, Paused: true });
    expect(s.ok(['ps'])).toMatch(/Up .* \(Paused\)/);
    const frozen = count();
    await new Promise((r) => setTimeout(r, 150));
    expect(count()).toBe(frozen);
    expect(s.run(['exec', 'pz', 'true'])).toMatchObject({ code: 1, stderr: 'tsrun: container pz is paused, unpause the container before exec\n' });
    expect(s.run(['start', 'pz'])).toMatchObject({ code: 1, stderr: 'tsrun: cannot start a paused container pz, try unpause instead\n' });
    // One of several containers failing makes a multi-container command exit 1, as docker's.
    expect(s.run(['pause', 'pz'])).toMatchObject({ code: 1, stderr: 'tsrun: container pz is already paused\n' });
    s.ok(['unpause', 'pz']);
    expect(s.inspect('pz').State).toMatchObject({ Status: 'running', Paused: false });
    await until(() => count() > frozen);
    s.ok(['pause', 'pz']);
    s.ok(['stop', '-t', '1', 'pz']);
    expect(s.inspect('pz').State).toMatchObject({ Status: 'exited', Paused: false });
    expect(s.run(['unpause', 'pz'])).toMatchObject({ code: 1, stderr: 'tsrun: container pz is not running\n' });
    s.ok(['start', 'pz']);
    s.ok(['pause', 'pz']);
    const pid = s.inspect('pz').State.Pid as number;
    s.ok(['rm', '-f', 'pz']);
    expect(alive(pid)).toBe(false);
  });
});

describe('logs', () => {
  it('keeps both streams in order, with --tail and -t', async () => {
    s.ok(['run', '-d', '--name', 'talk', 'busybox', 'sh', '-c', 'echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2']);
    expect(s.ok(['wait', 'talk'])).toBe('0\n');
    const lines = fs.readFileSync(s.inspect('talk').LogPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.stream, l.log])).toEqual([
      ['stdout', 'out1\n'],
      ['stderr', 'err1\n'],
      ['stdout', 'out2\n'],
    ]);
    for (const l of lines) expect(l.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    const all = s.run(['logs', 'talk']);
    expect(all.stdout).toBe('out1\nout2\n');
    expect(all.stderr).toBe('err1\n');
    expect(s.ok(['logs', '--tail', '1', 'talk'])).toBe('out2\n');
    // A negative count is every line, as docker's.
    expect(s.ok(['logs', '--tail', '-1', 'talk'])).toBe(s.ok(['logs', 'talk']));
    expect(s.ok(['logs', '-t', '--tail', '1', 'talk'])).toMatch(/^\d{4}-\d\d-\d\dT\S+Z out2\n$/);
    // --since/--until by the lines' own times: err1's time splits the output.
    const errTime = lines[1].time as string;
    expect(s.run(['logs', '--since', errTime, 'talk'])).toMatchObject({ stdout: 'out2\n', stderr: 'err1\n' });
    expect(s.run(['logs', '--until', errTime, 'talk'])).toMatchObject({ stdout: 'out1\n', stderr: '' });
    expect(s.ok(['logs', '--since', '1h', 'talk'])).toBe('out1\nout2\n');
    expect(s.run(['logs', '--since', 'soon', 'talk'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/^tsrun: invalid time "soon"/) });
    s.ok(['rm', 'talk']);
  });

  it('attach follows the new output, passes SIGTERM on and exits with the container\'s code', async () => {
    s.ok(['run', '-d', '--name', 'att', 'busybox', 'sh', '-c', 'echo before; trap "echo got term; exit 9" TERM; while :; do sleep 0.1; done']);
    await until(() => s.ok(['logs', 'att']) === 'before\n');
    const child = spawn(tsrunBin, ['--root', s.root, '--runroot', s.runroot, 'attach', 'att'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    await new Promise((r) => setTimeout(r, 700));
    child.kill('SIGTERM');
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
    expect(code).toBe(9);
    expect(out).toBe('got term\n');
    expect(s.run(['attach', 'att'])).toMatchObject({ code: 1, stderr: 'tsrun: cannot attach to the stopped container att: start it first\n' });
    s.ok(['rm', 'att']);
  });

  it('attach brings stdin to a -d -i container, one client after another, and its exit code', () => {
    s.ok(['run', '-d', '-i', '--name', 'inp', 'busybox', 'sh', '-c', 'read x; echo got $x; read y; echo and $y; exit 4']);
    // Our EOF ends this attach's input, not the container's: it waits for the next line, so this attach is ended by kill.
    expect(attachFor(['inp'], 'one\n', 3000)).toBe('got one\n');
    expect(s.inspect('inp').State.Running).toBe(true);
    const second = s.run(['attach', 'inp'], { input: 'two\n' });
    expect(second).toMatchObject({ code: 4, stdout: 'and two\n' });
    expect(s.ok(['logs', 'inp'])).toBe('got one\nand two\n');
    expect(s.inspect('inp').Config.OpenStdin).toBe(true);
    s.ok(['rm', 'inp']);
  });

  it('attach types into a -d -t -i container\'s terminal; --no-stdin attaches output only', () => {
    s.ok(['run', '-dit', '--name', 'term', 'busybox', 'sh']);
    expect(attachFor(['--no-stdin', 'term'], 'exit 1\n', 2000)).not.toContain('exit 1');
    expect(s.inspect('term').State.Running).toBe(true);
    const r = s.run(['attach', 'term'], { input: 'echo $((6*7))\nexit 3\n' });
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/\r\n42\r\n/);
    s.ok(['rm', 'term']);
  });

  it('start -a -i gives a created -i container our input', () => {
    s.ok(['create', '-i', '--name', 'cin', 'busybox', 'sh', '-c', 'read x; echo got $x; exit 2']);
    expect(s.run(['start', '-a', '-i', 'cin'], { input: 'hi\n' })).toMatchObject({ code: 2, stdout: 'got hi\n' });
    s.ok(['rm', 'cin']);
  });

  it('wait gives the exit code while the monitor still drains the output, never 255 in between', () => {
    // --pid host: a background child outlives the init holding its stdout, so the monitor drains 200 ms before it writes the exit.
    s.ok(['run', '-d', '--pid', 'host', '--name', 'drain', 'busybox', 'sh', '-c', 'sleep 1 & exit 3']);
    expect(s.ok(['wait', 'drain'])).toBe('3\n');
    expect(s.inspect('drain').State.ExitCode).toBe(3);
    s.ok(['rm', 'drain']);
  });

  it('logs -f follows until the container exits', async () => {
    s.ok(['run', '-d', '--name', 'follow', 'busybox', 'sh', '-c', 'for i in 1 2 3; do echo $i; sleep 0.2; done']);
    const r = await s.runAsync(['logs', '-f', 'follow'], 10_000);
    expect(r.stdout).toBe('1\n2\n3\n');
    s.ok(['rm', 'follow']);
  });

  it('--log-opt max-size and max-file rotate the log; logs reads the files kept, and -f follows across a rotation', async () => {
    const lines = (n: number) => Array.from({ length: n }, (_, i) => `line ${i} ${'x'.repeat(40)}\n`).join('');
    s.ok(['run', '-d', '--name', 'rotated', '--log-opt', 'max-size=2k', '--log-opt', 'max-file=3', 'busybox', 'sh', '-c', 'i=0; while [ $i -lt 60 ]; do echo "line $i $(printf %40s | tr " " x)"; i=$((i+1)); if [ $i = 20 ]; then sleep 1; fi; done']);
    // Started while it writes: every line once, in order, across its rotations.
    const followed = s.runAsync(['logs', '-f', 'rotated'], 15_000);
    expect(s.ok(['wait', 'rotated'])).toBe('0\n');
    expect((await followed).stdout).toBe(lines(60));
    const dir = path.join(s.root, 'containers', s.inspect('rotated').Id);
    const files = fs.readdirSync(dir).filter((f) => f.startsWith('ctr.log')).sort();
    expect(files).toEqual(['ctr.log', 'ctr.log.1', 'ctr.log.2']);
    for (const f of files) expect(fs.statSync(path.join(dir, f)).size).toBeLessThan(2048 + 200);
    // What is kept is the newest: the last lines, the oldest gone with the files past max-file.
    const kept = s.ok(['logs', 'rotated']);
    expect(lines(60).endsWith(kept)).toBe(true);
    expect(kept.split('\n').length).toBeLessThan(60);
    expect(s.ok(['logs', '--tail', '2', 'rotated'])).toBe(lines(60).split('\n').slice(58, 60).map((l) => `${l}\n`).join(''));
    expect(s.inspect('rotated').HostConfig.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': '2k', 'max-file': '3' } });
    s.ok(['rm', 'rotated']);

    // none: nothing kept, nothing to read; a foreground run still shows the output.
    s.ok(['run', '-d', '--name', 'unlogged', '--log-driver', 'none', 'busybox', 'echo', 'gone']);
    expect(s.ok(['wait', 'unlogged'])).toBe('0\n');
    expect(s.run(['logs', 'unlogged'])).toMatchObject({ code: 1, stderr: 'tsrun: configured logging driver does not support reading\n' });
    expect(fs.existsSync(path.join(s.root, 'containers', s.inspect('unlogged').Id, 'ctr.log'))).toBe(false);
    s.ok(['rm', 'unlogged']);
    expect(s.ok(['run', '--rm', '--log-driver', 'none', 'busybox', 'echo', 'shown'])).toBe('shown\n');
    expect(s.run(['run', '--rm', '--log-driver', 'syslog', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: 'tsrun: logging driver "syslog" is not available: use json-file, local or none\n' });
    expect(s.run(['run', '--rm', '--log-opt', 'max-file=2', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: 'tsrun: max-file is only of use with max-size\n' });
  });
});

describe('state survives a reboot', () => {
  for (const how of ['wiped runroot', 'changed boot id'] as const) {
    it(`after a ${how}, ps shows it exited and start brings it back with its data`, async () => {
      const name = how === 'wiped runroot' ? 'boot1' : 'boot2';
      s.ok(['run', '-d', '--name', name, 'busybox', 'sh', '-c', 'echo run >> /runs; exec sleep 1000']);
      const up = upper(name);
      await until(() => fs.existsSync(path.join(up, 'runs')));
      // The machine goes down: every process and mount of the container is gone.
      const rt = runtimeOf(name);
      process.kill(rt.monitorPid, 'SIGKILL');
      process.kill(rt.pid, 'SIGKILL');
      await until(() => !alive(rt.pid) && !alive(rt.monitorPid));
      if (how === 'wiped runroot') {
        fs.rmSync(s.runroot, { recursive: true, force: true });
      } else {
        const file = path.join(s.runroot, 'containers', s.inspect(name).Id, 'runtime.json');
        fs.writeFileSync(file, JSON.stringify({ ...rt, bootId: '00000000-0000-0000-0000-000000000000' }));
      }
      // The next command that meets the stale union unmounts it, and says so in one line (not a JSON record).
      const ps = s.run(['ps', '-a']);
      expect(ps.stdout).toMatch(new RegExp(`Exited \\(\\d+\\) .*${name}`));
      expect(ps.stderr).toMatch(/^tsrun: warning: unmounted the stale union of a stopped container \(component=lifecycle, cid=[0-9a-f]{64}, op=reconcile\)\n$/);
      expect(s.mounts()).toEqual([]);
      s.ok(['start', name]);
      await until(() => fs.readFileSync(path.join(up, 'runs'), 'utf8') === 'run\nrun\n');
      s.ok(['rm', '-f', name]);
      expect(s.mounts()).toEqual([]);
    });
  }
});

describe('concurrency and crashes', () => {
  it('concurrent starts of one container run it once', async () => {
    s.ok(['run', '-d', '--name', 'once', 'busybox', 'sh', '-c', 'echo run >> /runs; exec sleep 1000']);
    const up = upper('once');
    await until(() => fs.existsSync(path.join(up, 'runs')));
    s.ok(['stop', '-t', '0', 'once']);
    const results = await Promise.all(Array.from({ length: 5 }, () => s.runAsync(['start', 'once'])));
    expect(results.filter((r) => r.code === 0).length).toBeGreaterThanOrEqual(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(fs.readFileSync(path.join(up, 'runs'), 'utf8')).toBe('run\nrun\n');
    s.ok(['rm', '-f', 'once']);
  }, 60_000);

  it('concurrent start, stop and rm never leave two inits or a broken store', async () => {
    s.ok(['run', '-d', '--name', 'race', 'busybox', 'sh', '-c', 'echo run >> /runs; exec sleep 1000']);
    const up = upper('race');
    const ops = [['stop', '-t', '0', 'race'], ['start', 'race'], ['start', 'race'], ['stop', '-t', '0', 'race'], ['start', 'race'], ['restart', '-t', '0', 'race']];
    await Promise.all(ops.map((op) => s.runAsync(op)));
    // Whatever order they ran in, at most one init runs and the record agrees with the kernel.
    const c = s.inspect('race');
    const merged = fs.statSync(c.GraphDriver.Data.MergedDir);
    const sleeps = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p) && readCmdline(p) === 'sleep\x001000\x00' && readRoot(p) === `${merged.dev}:${merged.ino}`);
    expect(sleeps.length).toBe(c.State.Running ? 1 : 0);
    const runs = fs.readFileSync(path.join(up, 'runs'), 'utf8').trim().split('\n').length;
    expect(runs).toBeGreaterThanOrEqual(1);
    await Promise.all([s.runAsync(['rm', '-f', 'race']), s.runAsync(['rm', '-f', 'race']), s.runAsync(['start', 'race'])]);
    expect(s.run(['inspect', 'race']).code).toBe(1);
    expect(s.mounts()).toEqual([]);
  }, 60_000);

  it('a CLI killed at random points of run/rm leaves nothing after rm -f', async () => {
    const monitorsBefore = countMonitors();
    for (let i = 0; i < 50; i++) {
      // The CLI takes ~100 ms; kill it anywhere from its start-up to (sometimes) after it finished.
      await killAfter(['run', '-d', '--name', `crash${i}`, 'busybox', 'sleep', '1000'], 60 + Math.random() * 120);
      if (i % 5 === 4) await killAfter(['rm', '-f', `crash${i - 1}`], 60 + Math.random() * 100);
    }
    const ids = s.ok(['ps', '-aq', '--no-trunc']).split('\n').filter(Boolean);
    if (ids.length > 0) s.ok(['rm', '-f', ...ids]);
    expect(s.ok(['ps', '-aq'])).toBe('');
    expect(s.mounts()).toEqual([]);
    await until(() => countMonitors() <= monitorsBefore);
    const overlay = s.layerDirs();
    // Only the image layers are left: busybox's, shared, and hello-world's two on it.
    expect(overlay.length).toBe(fs.readdirSync(path.join(s.root, 'image', 'layerdb', 'sha256')).length);
    expect(overlay.length).toBe(3);
  }, 180_000);
});

/** Runs the CLI and SIGKILLs it after `ms` (if it is still running). */
async function killAfter(args: string[], ms: number): Promise<void> {
  const child = spawn(tsrunBin, ['--root', s.root, '--runroot', s.runroot, ...args], { stdio: 'ignore' });
  const closed = new Promise((r) => child.once('close', r));
  await new Promise((r) => setTimeout(r, ms));
  child.kill('SIGKILL');
  await closed;
}

function readCmdline(pid: string): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

function readRoot(pid: string): string {
  try {
    // The container's root is its overlay: the same device and inode as MergedDir seen from the host.
    const a = fs.statSync(`/proc/${pid}/root`);
    return `${a.dev}:${a.ino}`;
  } catch {
    return '';
  }
}

function countMonitors(): number {
  return fs.readdirSync('/proc').filter((p) => {
    if (!/^\d+$/.test(p)) return false;
    try {
      return fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'tsrun:[monitor]' && alive(Number(p));
    } catch {
      return false;
    }
  }).length;
}
