import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { repo } from '../helpers/store.js';

/**
 * containerd driving tsrun-oci through its runc shim (containerd-shim-runc-v2
 * with --runc-binary), as Kubernetes would through CRI. A private containerd
 * runs for this file only, in a mount namespace of its own with a tmpfs on
 * /run (where the shim keeps its sockets and ctr its fifos), its
 * root, state and socket in a temp dir: the host's containerd paths are
 * never touched. Every process it starts is ended by pid at the end.
 */

const ociBin = path.join(repo, 'bin/tsrun-oci');
let dir: string;

beforeAll(() => {
  // A prerequisite .ci/setup installs: its absence is a failure, not a skip.
  for (const cmd of ['containerd', 'ctr', 'containerd-shim-runc-v2']) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) throw new Error(`${cmd} is required (bash .ci/setup installs containerd)`);
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-containerd-'));
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs `steps` (bash) with a private containerd up; CTR and RUNC name the client and the runtime flags. */
function withContainerd(steps: string): { code: number; out: string } {
  const script = `
set -u
D=${dir}
# A tmpfs over /run in this mount namespace: containerd's shim sockets and ctr's fifos go there, not into the host's /run.
mount -t tmpfs tmpfs /run
cat > $D/config.toml <<EOF
version = 2
root = "$D/root"
state = "$D/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$D/ctd.sock"
[ttrpc]
  address = "$D/ctd.sock.ttrpc"
EOF
containerd -c $D/config.toml > $D/containerd.log 2>&1 &
CTD=$!
for i in $(seq 100); do [ -S $D/ctd.sock ] && break; sleep 0.05; done
CTR="ctr --address $D/ctd.sock -n tsrun-test"
RUNC="--runc-binary ${ociBin} --runc-root $D/runc"
finish() {
  # Whatever a failed step left: the containers' processes (thawed, so SIGKILL lands), the shims, containerd, the cgroups.
  for c in /sys/fs/cgroup/freezer/tsrun-test/*/freezer.state; do [ -f "$c" ] && echo THAWED > "$c"; done
  for c in /sys/fs/cgroup/pids/tsrun-test/*/cgroup.procs; do for p in $(cat "$c" 2>/dev/null); do kill -9 $p 2>/dev/null; done; done
  for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $D/ctd.sock"); do kill -9 $p 2>/dev/null; done
  kill $CTD 2>/dev/null; wait $CTD 2>/dev/null
  sleep 0.2
  for c in /sys/fs/cgroup/*/tsrun-test/*/ /sys/fs/cgroup/*/tsrun-test; do rmdir $c 2>/dev/null; done
}
trap finish EXIT
$CTR images import ${path.join(inject('fixturesDir'), 'busybox.tar')} > /dev/null
${steps}
`;
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'bash', '-c', script], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

it('containerd runs, execs into, pauses, kills and deletes containers through tsrun-oci', () => {
  const r = withContainerd(`
$CTR run --rm $RUNC docker.io/library/busybox:latest once sh -c 'echo hello from containerd; echo pid $$'
echo "run-exit=$?"
$CTR run -d $RUNC docker.io/library/busybox:latest long sleep 1000
$CTR task exec --exec-id e1 long sh -c 'echo exec ok; exit 4'
echo "exec-exit=$?"
$CTR task ps long | grep -c "^$($CTR task ls | awk '/^long /{print $2}') "
$CTR task pause long && $CTR task ls | grep -q 'long .*PAUSED' && echo paused
$CTR task resume long && $CTR task ls | grep -q 'long .*RUNNING' && echo resumed
$CTR task kill -s SIGKILL long
for i in $(seq 50); do $CTR task ls | grep -q 'long .*STOPPED' && break; sleep 0.1; done
$CTR task ls | grep -q 'long .*STOPPED' && echo stopped
$CTR task delete long && $CTR container delete long && echo deleted
ls $D/runc/tsrun-test | wc -l
`);
  expect(r.out).toContain('hello from containerd\npid 1\nrun-exit=0\n');
  // task ps: the shim asks the runtime (`ps --format json`); the init is listed.
  expect(r.out).toContain('exec ok\nexec-exit=4\n1\n');
  expect(r.out).toContain('paused\nresumed\n');
  expect(r.out).toContain('stopped\ndeleted\n0\n');
  expect(r.code).toBe(0);
  // Nothing of it is left on the host: no containerd or shim for this dir, no mount.
  expect(spawnSync('pgrep', ['-f', dir]).stdout.toString()).toBe('');
  expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
});
