import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { storeForFile, tsrunBin, until } from '../helpers/store.js';

const s = storeForFile('busybox', 'hello-world-v1');

const zombiesIn = (pidOfInit: number): number =>
  fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
        const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return after[0] === 'Z' && Number(after[1]) === pidOfInit;
      } catch {
        return false;
      }
    }).length;

describe('the article\'s walkthrough, whole', () => {
  it('run -d, exec touch, the file in UpperDir, stop/start keep it, rm deletes it', async () => {
    const id = s.ok(['run', '-d', '--name', 'helloworld', 'hello-world:v1', 'sleep', '1000000']).trim();
    s.ok(['exec', 'helloworld', 'touch', '/hello-world.txt']);
    const upper = s.inspect('helloworld').GraphDriver.Data.UpperDir;
    expect(fs.readdirSync(upper)).toEqual(['hello-world.txt']);
    s.ok(['stop', '-t', '1', 'helloworld']);
    s.ok(['start', 'helloworld']);
    expect(s.ok(['exec', 'helloworld', 'ls', '/hello-world.txt'])).toBe('/hello-world.txt\n');
    s.ok(['rm', '-f', 'helloworld']);
    expect(fs.existsSync(path.join(s.root, 'overlay', id))).toBe(false);
  });
});

describe('exec', () => {
  it('joins every namespace of the container and returns the exit code', () => {
    s.ok(['run', '-d', '--name', 'target', '--hostname', 'inside', 'busybox', 'sleep', '1000']);
    expect(s.ok(['exec', 'target', 'hostname'])).toBe('inside\n');
    expect(s.ok(['exec', 'target', 'cat', '/proc/1/cmdline'])).toBe('sleep\x001000\x00');
    const devs = s.ok(['exec', 'target', 'cat', '/proc/net/dev']).trim().split('\n').slice(2).map((l) => l.split(':')[0]!.trim());
    expect(devs).toEqual(['lo']);
    expect(s.run(['exec', 'target', 'sh', '-c', 'exit 9']).code).toBe(9);
    expect(s.ok(['exec', '-e', 'X=1', '-w', '/tmp', '-u', '1000', 'target', 'sh', '-c', 'echo $X $(pwd) $(id -u)'])).toBe('1 /tmp 1000\n');
    const envFile = path.join(s.dir, 'exec.env');
    fs.writeFileSync(envFile, '# exec\nX=from file\nY=2\n');
    expect(s.ok(['exec', '--env-file', envFile, '-e', 'Y=3', 'target', 'sh', '-c', 'echo $X $Y'])).toBe('from file 3\n');
  });

  it('gives 127 and 126 when the command cannot start', () => {
    const nf = s.run(['exec', 'target', 'no-such-command']);
    expect(nf.code).toBe(127);
    expect(nf.stderr).toMatch(/^tsrun: executing no-such-command: ENOENT/);
    expect(s.run(['exec', 'target', '/etc/passwd']).code).toBe(126);
    // A user or a working directory the container does not have: docker's "OCI runtime exec failed", 126.
    expect(s.run(['exec', '-u', 'nosuch', 'target', 'true'])).toMatchObject({ code: 126, stderr: expect.stringMatching(/^tsrun: .*nosuch/) });
    expect(s.run(['exec', '-w', '/nonexistent', 'target', 'true'])).toMatchObject({ code: 126, stderr: expect.stringMatching(/^tsrun: changing to the working directory \/nonexistent: ENOENT/) });
  });

  it('refuses -w /proc/self/fd/N (CVE-2024-21626) and a stopped container', () => {
    const r = s.run(['exec', '-w', '/proc/self/fd/3', 'target', 'true']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/CVE-2024-21626/);
    s.ok(['run', '--name', 'done', 'busybox', 'true']);
    const stopped = s.run(['exec', 'done', 'true']);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toBe('tsrun: container done is not running\n');
  });

  it('returns when its process exits even if a background grandchild holds stdout (containerd#2823)', async () => {
    const t0 = Date.now();
    const r = await s.runAsync(['exec', 'target', 'sh', '-c', 'sleep 30 & echo started'], 15_000);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('started\n');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('passes stdin with -i', () => {
    expect(s.run(['exec', '-i', 'target', 'cat'], { input: 'piped in\n' }).stdout).toBe('piped in\n');
    // Without -i the process reads /dev/null.
    expect(s.run(['exec', 'target', 'cat'], { input: 'ignored\n' }).stdout).toBe('');
  });

  it('exec -d returns at once and leaves the process running', async () => {
    s.ok(['exec', '-d', 'target', 'sh', '-c', 'sleep 0.3; touch /bg-done']);
    const upper = s.inspect('target').GraphDriver.Data.UpperDir;
    await until(() => fs.existsSync(path.join(upper, 'bg-done')));
    s.ok(['rm', '-f', 'target', 'done']);
  });
});

describe('create and start', () => {
  it('create sets the container up and waits; start runs it', async () => {
    const id = s.ok(['create', '--name', 'later', 'busybox', 'sh', '-c', 'echo ran; exit 4']).trim();
    expect(id).toMatch(/^[a-f0-9]{64}$/);
    const c = s.inspect('later');
    expect(c.State.Status).toBe('created');
    expect(c.State.Pid).toBeGreaterThan(0); // the init exists, waiting before execve
    expect(s.ok(['ps', '-a'])).toMatch(/Created\s+later/);
    expect(s.ok(['logs', 'later'])).toBe('');
    s.ok(['start', 'later']);
    expect(s.ok(['wait', 'later'])).toBe('4\n');
    expect(s.ok(['logs', 'later'])).toBe('ran\n');
    s.ok(['rm', 'later']);
  });

  it('start -a of a created container attaches to its output and exit code', () => {
    s.ok(['create', '--name', 'att', 'busybox', 'sh', '-c', 'echo hello; exit 3']);
    const r = s.run(['start', '-a', 'att']);
    expect(r.stdout).toBe('hello\n');
    expect(r.code).toBe(3);
    s.ok(['rm', 'att']);
  });

  it('a command that cannot be executed fails its start, as docker\'s, and is in State.Error with 127 or 126', async () => {
    s.ok(['create', '--name', 'broken', 'busybox', 'no-such-command']);
    expect(s.run(['start', 'broken'])).toMatchObject({ code: 1, stdout: '', stderr: 'tsrun: executing no-such-command: ENOENT (no such file or directory)\n' });
    expect(s.ok(['wait', 'broken'])).toBe('127\n');
    expect(s.inspect('broken').State.Error).toBe('executing no-such-command: ENOENT (no such file or directory)');
    s.ok(['rm', 'broken']);
    s.ok(['create', '--name', 'noexec', 'busybox', '/etc/passwd']);
    expect(s.run(['start', 'noexec'])).toMatchObject({ code: 1, stderr: 'tsrun: executing /etc/passwd: EACCES (permission denied)\n' });
    expect(s.inspect('noexec').State).toMatchObject({ Status: 'exited', ExitCode: 126 });
    s.ok(['rm', 'noexec']);
  });

  it('a created container can be removed without ever running', () => {
    s.ok(['create', '--name', 'never', 'busybox', 'sleep', '1000']);
    s.ok(['rm', '-f', 'never']);
    expect(s.mounts()).toEqual([]);
  });
});

describe('--init and stop exit codes', () => {
  it('stop gives 137 for a sleep PID 1 without --init and 143 with it', () => {
    s.ok(['run', '-d', '--name', 'noinit', 'busybox', 'sleep', '1000']);
    s.ok(['run', '-d', '--init', '--name', 'withinit', 'busybox', 'sleep', '1000']);
    s.ok(['stop', '-t', '1', 'noinit', 'withinit']);
    expect(s.inspect('noinit').State.ExitCode).toBe(137);
    expect(s.inspect('withinit').State.ExitCode).toBe(143);
    s.ok(['rm', 'noinit', 'withinit']);
  });

  it('--init reaps orphans: no zombies after exec sh -c "sleep 1 & exit"', async () => {
    s.ok(['run', '-d', '--init', '--name', 'reaper', 'busybox', 'sleep', '1000']);
    const initPid = s.inspect('reaper').State.Pid;
    s.ok(['exec', 'reaper', 'sh', '-c', 'sleep 0.2 & exit 0']);
    await new Promise((r) => setTimeout(r, 800));
    expect(zombiesIn(initPid)).toBe(0);
    s.ok(['rm', '-f', 'reaper']);
  });

  it('--init forwards signal 34 (SIGRTMIN to a glibc program), which musl\'s sigfillset leaves out', async () => {
    s.ok(['run', '-d', '--init', '--name', 'rt34', 'busybox', 'sh', '-c', 'trap "echo got 34; exit 3" 34; while :; do sleep 0.05; done']);
    try {
      await new Promise((r) => setTimeout(r, 300));
      process.kill(s.inspect('rt34').State.Pid, 34);
      await until(() => s.inspect('rt34').State.Status === 'exited', 5_000);
      expect(s.inspect('rt34').State.ExitCode).toBe(3);
      expect(s.ok(['logs', 'rt34'])).toBe('got 34\n');
    } finally {
      s.run(['rm', '-f', 'rt34']);
    }
  });
});

describe('the monitor', () => {
  it('stays under 1 MB resident while its container runs', () => {
    s.ok(['run', '-d', '--name', 'rss', 'busybox', 'sleep', '1000']);
    const rt = JSON.parse(fs.readFileSync(path.join(s.runroot, 'containers', s.inspect('rss').Id, 'runtime.json'), 'utf8'));
    const status = fs.readFileSync(`/proc/${rt.monitorPid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]);
    console.log(`monitor VmRSS: ${rssKb} kB`);
    expect(rssKb).toBeLessThan(1024);
    s.ok(['rm', '-f', 'rss']);
  });

  it('runs from a sealed copy: a #!/proc/self/exe entrypoint cannot reach the host binary (CVE-2019-5736)', async () => {
    const monitor = path.resolve(path.dirname(tsrunBin), '../build/native/Release/tsrun-monitor');
    const before = fs.readFileSync(monitor);
    s.ok(['create', '--name', 'evil', 'busybox', '/evil']);
    const upper = s.inspect('evil').GraphDriver.Data.UpperDir;
    fs.writeFileSync(path.join(upper, 'evil'), '#!/proc/self/exe\n', { mode: 0o755 });
    s.run(['start', '-a', 'evil']);
    expect(fs.readFileSync(monitor).equals(before)).toBe(true);
    s.ok(['rm', '-f', 'evil']);

    s.ok(['run', '-d', '--name', 'sealed', 'busybox', 'sleep', '1000']);
    const rt = JSON.parse(fs.readFileSync(path.join(s.runroot, 'containers', s.inspect('sealed').Id, 'runtime.json'), 'utf8'));
    expect(fs.readlinkSync(`/proc/${rt.monitorPid}/exe`)).toMatch(/^\/memfd:tsrun-monitor/);
    expect(() => fs.openSync(`/proc/${rt.monitorPid}/exe`, 'r+')).toThrow(/ETXTBSY|EPERM|EACCES/);
    s.ok(['rm', '-f', 'sealed']);
  });
});

describe('-it without a terminal', () => {
  it('is refused for run and exec, as docker\'s: the terminal would echo the input into the output', () => {
    expect(s.run(['run', '-it', '--rm', 'busybox', 'cat'], { input: 'hi\n' })).toMatchObject({ code: 1, stdout: '', stderr: 'tsrun: the input device is not a TTY\n' });
    expect(s.run(['ps', '-aq']).stdout).toBe('');
    s.ok(['run', '-d', '-it', '--name', 'ttyd', 'busybox', 'sleep', '100']);
    expect(s.run(['exec', '-it', 'ttyd', 'cat'], { input: 'hi\n' })).toMatchObject({ code: 1, stderr: 'tsrun: the input device is not a TTY\n' });
    // -t alone takes no input: allowed, as docker's.
    expect(s.run(['exec', '-t', 'ttyd', 'echo', 'out'], { input: '' })).toMatchObject({ code: 0, stdout: 'out\r\n' });
    s.ok(['rm', '-f', 'ttyd']);
  });
});

describe('-it under a terminal', () => {
  it('gives an interactive sh a usable terminal under tmux', async () => {
    const session = `tsrun-test-${process.pid}`;
    const cmd = [tsrunBin, '--root', s.root, '--runroot', s.runroot, 'run', '-it', '--rm', 'busybox', 'sh'].join(' ');
    execFileSync('tmux', ['new-session', '-d', '-s', session, '-x', '100', '-y', '30', cmd]);
    const screen = () => execFileSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' });
    try {
      await until(() => /#\s*$/m.test(screen()));
      execFileSync('tmux', ['send-keys', '-t', session, 'tty; stty size; echo sum-$((40+2))', 'Enter']);
      await until(() => screen().includes('sum-42'));
      const out = screen();
      expect(out).toContain('/dev/pts/0');
      expect(out).toContain('30 100');
      // Ctrl-C reaches the container's foreground job, not tsrun.
      execFileSync('tmux', ['send-keys', '-t', session, 'sleep 100', 'Enter']);
      await new Promise((r) => setTimeout(r, 300));
      execFileSync('tmux', ['send-keys', '-t', session, 'C-c']);
      execFileSync('tmux', ['send-keys', '-t', session, 'echo after-$((6*7))', 'Enter']);
      await until(() => screen().includes('after-42'), 5_000);
      // A resized terminal is passed on (SIGWINCH).
      execFileSync('tmux', ['resize-window', '-t', session, '-x', '80', '-y', '20']);
      await new Promise((r) => setTimeout(r, 300));
      execFileSync('tmux', ['send-keys', '-t', session, 'clear; stty size', 'Enter']);
      await until(() => /^20 80$/m.test(screen()), 5_000);
      execFileSync('tmux', ['send-keys', '-t', session, 'exit', 'Enter']);
      await until(() => {
        try {
          execFileSync('tmux', ['has-session', '-t', session], { stdio: 'ignore' });
          return false;
        } catch {
          return true;
        }
      });
    } finally {
      try {
        execFileSync('tmux', ['kill-session', '-t', session], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
    expect(s.ok(['ps', '-aq'])).toBe('');
  });
});
