import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadNative } from '../../src/native/binding.js';
import { cgroupDirs, cgroupHost, uniqueDirs } from '../../src/runtime/cgroups/host.js';
import { repo } from '../helpers/store.js';

/**
 * podman driving tsrun-oci as its OCI runtime (`podman --runtime`), through
 * conmon: the proof that tsrun speaks runc's command line well enough for a
 * real caller. Everything podman keeps is under a private temp dir (its
 * --root, --runroot, --tmpdir); containers use --net none, so the host's
 * network is left alone.
 */

const ociBin = path.join(repo, 'bin/tsrun-oci');

let dir: string;
let base: string[];
// Podman raises RLIMIT_NOFILE/NPROC by default, which fails without CAP_SYS_RESOURCE in the bounding set (as on these machines).
const ulimits = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

beforeAll(() => {
  // A prerequisite .ci/setup installs, like busybox-static: its absence is a failure, not a skip.
  if (spawnSync('sh', ['-c', 'command -v podman']).status !== 0) throw new Error('podman is required (bash .ci/setup installs it)');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-podman-'));
  // Traversable: with --uidmap the container's root is an unprivileged host uid that must reach its rootfs.
  fs.chmodSync(dir, 0o711);
  fs.mkdirSync(path.join(dir, 'tmp'));
  // podman hands --runtime-flag to create and start but not to the `delete` its cleanup process runs after an
  // exit, which then looked in the default root and left the state and the cgroups behind: a wrapper gives
  // every call the test's root.
  const runtime = path.join(dir, 'tsrun-oci');
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  fs.writeFileSync(runtime, `#!/bin/sh\nexec ${q(ociBin)} --root ${q(`${dir}/oci`)} "$@"\n`, { mode: 0o755 });
  base = ['--root', `${dir}/root`, '--runroot', `${dir}/run`, '--tmpdir', `${dir}/tmp`, '--storage-driver', 'overlay', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', runtime];
  expect(podman(['load', '-q', '-i', path.join(inject('fixturesDir'), 'busybox.tar')]).code).toBe(0);
});

afterAll(() => {
  if (!dir) return;
  podman(['rm', '-a', '-f', '-t', '0']);
  const native = loadNative();
  const mounts = () => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m): m is string => m?.startsWith(dir) === true);
  const left = mounts().filter((m) => !m.endsWith('/overlay')); // containers/storage binds its own overlay home; only that may stay until here
  for (const m of mounts().sort((a, b) => b.length - a.length)) native.unmount({ target: m, flags: native.constants.MNT_DETACH });
  fs.rmSync(dir, { recursive: true, force: true });
  // podman (cgroupfs manager) parks conmon in libpod_parent/conmon of every hierarchy and leaves it there: gone once empty.
  for (const d of uniqueDirs(cgroupDirs(cgroupHost(), 'libpod_parent/conmon'))) {
    try {
      fs.rmdirSync(d);
    } catch {
      // not there, or in use
    }
  }
  expect(left).toEqual([]);
});

function podman(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('podman', [...base, ...args], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw r.error;
  return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}

describe('podman --runtime tsrun-oci', () => {
  it('runs a container and passes its output and exit status back', () => {
    const r = podman(['run', '--rm', '--net', 'none', ...ulimits, 'busybox', 'sh', '-c', 'echo hi; echo pid $$; exit 7']);
    expect(r).toMatchObject({ code: 7, stdout: 'hi\npid 1\n' });
    // podman's delete reached tsrun-oci's state: nothing of the container is left (its cgroups go with it).
    expect(fs.readdirSync(path.join(dir, 'oci')).filter((e) => !e.startsWith('.'))).toEqual([]);
  });

  it('runs detached; exec (with and without a terminal), logs, stop, start, rm', () => {
    expect(podman(['run', '-d', '--name', 'web', '--net', 'none', ...ulimits, 'busybox', 'sh', '-c', 'echo started; exec sleep 1000']).code).toBe(0);
    expect(podman(['ps', '--format', '{{.Names}} {{.Status}}']).stdout).toMatch(/^web Up/);
    expect(podman(['exec', 'web', 'sh', '-c', 'echo $((40 + 2)); exit 3'])).toMatchObject({ code: 3, stdout: '42\n' });
    // A terminal reaches conmon through --console-socket.
    expect(podman(['exec', '-t', 'web', 'tty'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\/dev\/pts\/\d+\r?\n$/) });
    expect(podman(['exec', 'web', 'nosuch']).code).toBe(127);
    expect(podman(['exec', 'web', 'touch', '/kept']).code).toBe(0);
    expect(podman(['logs', 'web']).stdout).toBe('started\n');
    expect(podman(['stop', '-t', '0', 'web']).code).toBe(0);
    expect(podman(['ps', '-a', '--format', '{{.Names}} {{.Status}}']).stdout).toMatch(/^web Exited \(137\)/);
    expect(podman(['start', 'web']).code).toBe(0);
    expect(podman(['exec', 'web', 'ls', '/kept'])).toMatchObject({ code: 0, stdout: '/kept\n' });
    expect(podman(['rm', '-f', '-t', '0', 'web']).code).toBe(0);
    expect(podman(['ps', '-a', '-q']).stdout).toBe('');
  });

  it('--uidmap: the container\'s root is host uid 100000 in a user namespace of its own; exec joins it', () => {
    const map = ['--uidmap', '0:100000:65536', '--gidmap', '0:100000:65536'];
    expect(podman(['run', '-d', '--name', 'mapped', '--net', 'none', ...ulimits, ...map, 'busybox', 'sleep', '1000']).code).toBe(0);
    const pid = Number(podman(['inspect', '--format', '{{.State.Pid}}', 'mapped']).stdout);
    expect(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^Uid:\t100000\t100000\t/m);
    expect(fs.readlinkSync(`/proc/${pid}/ns/user`)).not.toBe(fs.readlinkSync('/proc/self/ns/user'));
    expect(podman(['exec', 'mapped', 'sh', '-c', 'id -u; cat /proc/self/uid_map; touch /made && stat -c %u /made; readlink /proc/self/ns/user'])).toMatchObject({
      code: 0,
      stdout: `0\n         0     100000      65536\n0\n${fs.readlinkSync(`/proc/${pid}/ns/user`)}\n`,
    });
    // A terminal for an exec'd process: its pts is chowned as the namespace's root (runc's nsexec becomes it after setns).
    expect(podman(['exec', '-t', 'mapped', 'sh', '-c', 'tty; stat -c %u $(tty)'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\/dev\/pts\/\d+\r?\n0\r?\n$/) });
    expect(podman(['rm', '-f', '-t', '0', 'mapped']).code).toBe(0);
  });

  it('pauses and unpauses', () => {
    expect(podman(['run', '-d', '--name', 'pz', '--net', 'none', ...ulimits, 'busybox', 'sleep', '1000']).code).toBe(0);
    expect(podman(['pause', 'pz']).code).toBe(0);
    expect(podman(['inspect', '--format', '{{.State.Status}}', 'pz']).stdout).toBe('paused\n');
    expect(podman(['unpause', 'pz']).code).toBe(0);
    expect(podman(['inspect', '--format', '{{.State.Status}}', 'pz']).stdout).toBe('running\n');
    expect(podman(['rm', '-f', '-t', '0', 'pz']).code).toBe(0);
  });

  it('runs --read-only with a user and a read-only volume, and --privileged', () => {
    const vol = path.join(dir, 'vol');
    fs.mkdirSync(vol);
    fs.writeFileSync(path.join(vol, 'f'), 'from the host\n');
    const ro = podman(['run', '--rm', '--net', 'none', ...ulimits, '--read-only', '--user', '1000:1000', '-v', `${vol}:/data:ro`, 'busybox', 'sh', '-c', 'id -u; cat /data/f; touch /x || echo root ro; touch /data/g || echo volume ro; touch /tmp/y && echo tmp rw']);
    expect(ro).toMatchObject({ code: 0, stdout: '1000\nfrom the host\nroot ro\nvolume ro\ntmp rw\n' });
    // --privileged lists every host device (more than a hundred here), with their type bits in fileMode.
    const priv = podman(['run', '--rm', '--net', 'none', ...ulimits, '--privileged', 'busybox', 'sh', '-c', 'test -c /dev/null && grep CapEff /proc/self/status']);
    expect(priv.code).toBe(0);
    expect(priv.stdout).toMatch(/CapEff:\s+0000[0-9a-f]{2}ff/);
  });

  it('applies cgroup limits from podman\'s config.json', () => {
    const r = podman(['run', '--rm', '--net', 'none', ...ulimits, '-m', '64m', '--pids-limit', '50', 'busybox', 'sh', '-c', 'cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max']);
    expect(r).toMatchObject({ code: 0, stdout: '50\n' });
  });
});
