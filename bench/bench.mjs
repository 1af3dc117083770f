#!/usr/bin/env node
// tsrun side by side with runc, crun and podman (npm run bench).
//
// Installs nothing: it checks that runc, crun and podman are there (apt
// packages) and stops with one line if not. Every runtime gets the same
// busybox rootfs: an OCI bundle for runc and crun, the OCI archive loaded
// into a private podman store and a private tsrun store. Runs interleave
// (tsrun, runc, crun, podman, tsrun, ...) so drift on a noisy machine hits
// all alike, with a pause before each sample (BENCH_GAP_MS, see measure());
// the table gives median and min-max, and tsrun's ratio to each.
//
// Host quirks handled here, without touching the host:
// - Debian's crun 1.8.1 refuses this host's hybrid cgroup layout, so crun runs
//   in a private mount namespace with /sys/fs/cgroup/unified unmounted;
// - the machine's bounding set lacks CAP_SYS_RESOURCE and podman raises
//   RLIMIT_NOFILE/NPROC by default, so podman gets lower --ulimit values.
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const repo = path.resolve(import.meta.dirname, '..');
const tsrunBin = path.join(repo, 'bin/tsrun');
const ociBin = path.join(repo, 'bin/tsrun-oci');
const RUNS = Number(process.env.BENCH_RUNS ?? 15);
// Where results.json and results.png go (the smoke test writes them elsewhere than the committed ones).
const OUT = path.resolve(process.env.BENCH_OUT ?? path.join(repo, 'bench'));
// BENCH_ONLY=run,exec (of run, exec, cycle, density, depth, load): those tables alone, printed and not written
// (results.json and the chart always hold a whole run).
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : undefined;
const wanted = (table) => ONLY === undefined || ONLY.has(table);

function need(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`bench: ${cmd} is not installed (apt-get install runc crun podman)\n`);
    process.exit(2);
  }
}
if (process.getuid() !== 0) {
  process.stderr.write('bench: must run as root\n');
  process.exit(2);
}
for (const c of ['runc', 'crun', 'podman', 'unshare', 'python3']) need(c);
if (!fs.existsSync(path.join(repo, 'build/js/cli/main.js'))) {
  process.stderr.write('bench: build tsrun first (npm ci)\n');
  process.exit(2);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-bench-'));
const ulimits = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];
const podmanBase = ['--root', `${work}/podman/root`, '--runroot', `${work}/podman/run`, '--storage-driver', 'overlay', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--tmpdir', `${work}/podman/tmp`];
const tsrunBase = ['--root', `${work}/tsrun/root`, '--runroot', `${work}/tsrun/run`];
const ociBase = ['--root', `${work}/tsrun-oci`];
const bundle = `${work}/bundle`;
// podman hands --runtime-flag to create and start but not to the delete its cleanup process runs after the
// exit, which then missed the bench's root and left every container's cgroups on the host: this wrapper
// (one sh exec, ~1 ms of the ~200) gives every call the root.
const ociForPodman = `${work}/tsrun-oci-for-podman`;
const shQuote = (s) => `'${s.replaceAll("'", "'\\''")}'`;

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts });
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
const crunArgs = (args) => ['-m', 'sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun "$@"', 'crun', ...args];

/** Wall time of one command, in ms. */
function timed(cmd, args) {
  const t0 = process.hrtime.bigint();
  sh(cmd, args);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function prepare() {
  fs.mkdirSync(`${work}/podman/tmp`, { recursive: true });
  fs.writeFileSync(ociForPodman, `#!/bin/sh\nexec ${[ociBin, ...ociBase].map(shQuote).join(' ')} "$@"\n`, { mode: 0o755 });
  sh('bash', [path.join(repo, 'rootfs-fixtures/build.sh'), `${work}/img`]);
  fs.mkdirSync(`${bundle}/rootfs`, { recursive: true });
  sh('tar', ['-xf', `${work}/img/busybox-rootfs.tar`, '-C', `${bundle}/rootfs`]);
  sh('runc', ['spec', '-b', bundle]);
  const spec = JSON.parse(fs.readFileSync(`${bundle}/config.json`, 'utf8'));
  spec.process.terminal = false;
  spec.process.args = ['true'];
  spec.root.readonly = false;
  fs.writeFileSync(`${bundle}/config.json`, JSON.stringify(spec));
  sh('podman', [...podmanBase, 'load', '-q', '-i', `${work}/img/busybox.tar`]);
  sh(tsrunBin, [...tsrunBase, 'load', '-q', '-i', `${work}/img/busybox.tar`]);
}

/** The bundle's config with another command, for the detached runs. */
function setBundleArgs(args) {
  const spec = JSON.parse(fs.readFileSync(`${bundle}/config.json`, 'utf8'));
  spec.process.args = args;
  fs.writeFileSync(`${bundle}/config.json`, JSON.stringify(spec));
}

const runtimes = {
  runRm: {
    tsrun: () => timed(tsrunBin, [...tsrunBase, 'run', '--rm', 'busybox', 'true']),
    'tsrun-oci': (i) => timed(ociBin, [...ociBase, 'run', '-b', bundle, `b-oci-${i}`]),
    runc: (i) => timed('runc', ['run', '-b', bundle, `b-runc-${i}`]),
    crun: (i) => timed('unshare', crunArgs(['run', '-b', bundle, `b-crun-${i}`])),
    'podman+tsrun-oci': () => timed('podman', [...podmanBase, '--runtime', ociForPodman, 'run', '--rm', '--net', 'none', ...ulimits, 'busybox', 'true']),
    'podman+runc': () => timed('podman', [...podmanBase, '--runtime', 'runc', 'run', '--rm', '--net', 'none', ...ulimits, 'busybox', 'true']),
    'podman+crun': () => timed('unshare', ['-m', 'sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec podman "$@"', 'podman', ...podmanBase, '--runtime', 'crun', 'run', '--rm', '--net', 'none', ...ulimits, 'busybox', 'true']),
  },
};

function startSleepers() {
  sh(tsrunBin, [...tsrunBase, 'run', '-d', '--name', 'bench', 'busybox', 'sleep', '100000']);
  setBundleArgs(['sleep', '100000']);
  spawnSync(ociBin, [...ociBase, 'run', '-d', '-b', bundle, 'bench-oci'], { stdio: 'ignore' });
  spawnSync('runc', ['run', '-d', '-b', bundle, 'bench-runc'], { stdio: 'ignore' });
  spawnSync('unshare', crunArgs(['run', '-d', '-b', bundle, 'bench-crun']), { stdio: 'ignore' });
  setBundleArgs(['true']);
  sh('podman', [...podmanBase, '--runtime', 'runc', 'run', '-d', '--name', 'bench', '--net', 'none', ...ulimits, 'busybox', 'sleep', '100000']);
}

function stopSleepers() {
  sh(tsrunBin, [...tsrunBase, 'rm', '-f', 'bench'], { allowFail: true });
  sh(ociBin, [...ociBase, 'delete', '-f', 'bench-oci'], { allowFail: true });
  sh('runc', ['delete', '-f', 'bench-runc'], { allowFail: true });
  sh('unshare', crunArgs(['delete', '-f', 'bench-crun']), { allowFail: true });
  sh('podman', [...podmanBase, 'rm', '-f', '-t', '0', 'bench'], { allowFail: true });
}

const execs = {
  tsrun: () => timed(tsrunBin, [...tsrunBase, 'exec', 'bench', 'true']),
  'tsrun-oci': () => timed(ociBin, [...ociBase, 'exec', 'bench-oci', 'true']),
  runc: () => timed('runc', ['exec', 'bench-runc', 'true']),
  crun: () => timed('unshare', crunArgs(['exec', 'bench-crun', 'true'])),
  podman: () => timed('podman', [...podmanBase, 'exec', 'bench', 'true']),
};

/** The bench's podman container's conmon: by /proc, as `pgrep -f` also matches the shell that runs it, gone by the time it is read. */
function conmonPid() {
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'conmon' && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(work)) return Number(p);
    } catch {
      // gone meanwhile
    }
  }
  return NaN;
}

function rssKb(pid) {
  if (!Number.isInteger(pid)) return NaN;
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

function memory() {
  const id = JSON.parse(sh(tsrunBin, [...tsrunBase, 'inspect', 'bench']))[0].Id;
  const rt = JSON.parse(fs.readFileSync(`${work}/tsrun/run/containers/${id}/runtime.json`, 'utf8'));
  return { 'tsrun monitor': rssKb(rt.monitorPid), conmon: rssKb(conmonPid()) };
}

/** Peak resident memory (kB) of a command and everything it waited for (getrusage RUSAGE_CHILDREN via python3: Node has no such call). */
function peakRssKb(cmd, args) {
  const py = 'import resource,subprocess,sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)';
  return Number(sh('python3', ['-c', py, cmd, ...args]).trim());
}

/** Peak memory of the command line itself during `run --rm true` (the container's own process is tiny). */
function cliMemory() {
  const table = {
    tsrun: () => peakRssKb(tsrunBin, [...tsrunBase, 'run', '--rm', 'busybox', 'true']),
    'tsrun-oci': (i) => peakRssKb(ociBin, [...ociBase, 'run', '-b', bundle, `m-oci-${i}`]),
    runc: (i) => peakRssKb('runc', ['run', '-b', bundle, `m-runc-${i}`]),
    podman: () => peakRssKb('podman', [...podmanBase, '--runtime', 'runc', 'run', '--rm', '--net', 'none', ...ulimits, 'busybox', 'true']),
  };
  return measure('peak resident memory of the command line during run --rm true (kB, the largest process it waited for)', table, Math.max(3, Math.floor(RUNS / 3)));
}

/**
 * A ~100 MB image of one uncompressed layer: many small files and a few
 * large ones, in an OCI layout directory; and the same layer as a plain tar.
 */
function makeBigImage() {
  const src = `${work}/big/src`;
  for (let d = 0; d < 80; d++) {
    fs.mkdirSync(`${src}/d${d}`, { recursive: true });
    for (let f = 0; f < 100; f++) fs.writeFileSync(`${src}/d${d}/f${f}`, crypto.randomBytes(1024 + ((d * 100 + f) % 8) * 1024));
  }
  for (let i = 0; i < 4; i++) fs.writeFileSync(`${src}/large${i}`, crypto.randomBytes(10 * 1024 * 1024));
  const layout = `${work}/big/layout`;
  fs.mkdirSync(`${layout}/blobs/sha256`, { recursive: true });
  const layerTar = `${work}/big/layer.tar`;
  sh('tar', ['--sort=name', '--numeric-owner', '-cf', layerTar, '-C', src, '.']);
  const blob = (bytes) => {
    const hex = crypto.createHash('sha256').update(bytes).digest('hex');
    fs.writeFileSync(`${layout}/blobs/sha256/${hex}`, bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  const layerBytes = fs.readFileSync(layerTar);
  const layer = blob(layerBytes);
  const config = blob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] }, config: {} })));
  const manifest = blob(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }] })));
  fs.writeFileSync(`${layout}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(`${layout}/index.json`, JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'io.containerd.image.name': 'docker.io/library/big:latest' } }] }));
  fs.rmSync(src, { recursive: true });
  return { layout, layerTar, mb: layerBytes.length / 1e6 };
}

function loadBench(big) {
  let n = 0;
  const fresh = () => `${work}/big/run-${n++}`;
  const table = {
    'tsrun load': () => {
      const dir = fresh();
      const ms = timed(tsrunBin, ['--root', `${dir}/root`, '--runroot', `${dir}/run`, 'load', '-q', '-i', big.layout]);
      fs.rmSync(dir, { recursive: true, force: true });
      return ms;
    },
    'tar -x': () => {
      const dir = fresh();
      fs.mkdirSync(dir, { recursive: true });
      const ms = timed('tar', ['-xf', big.layerTar, '-C', dir]);
      fs.rmSync(dir, { recursive: true, force: true });
      return ms;
    },
  };
  const m = measure(`load a ${big.mb.toFixed(0)} MB image (8000 small files, 4 x 10 MB) vs tar -x of its layer`, table, Math.max(3, Math.floor(RUNS / 3)));
  return m;
}

/** run -d sleep → exec true → stop → rm, one whole cycle a sample. */
function cycleBench() {
  let n = 0;
  const table = {
    tsrun: () => {
      const name = `cyc${n++}`;
      const t0 = process.hrtime.bigint();
      sh(tsrunBin, [...tsrunBase, 'run', '-d', '--name', name, 'busybox', 'sleep', '100000']);
      sh(tsrunBin, [...tsrunBase, 'exec', name, 'true']);
      sh(tsrunBin, [...tsrunBase, 'stop', '-t', '0', name]);
      sh(tsrunBin, [...tsrunBase, 'rm', name]);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    },
    'podman+runc': () => {
      const name = `cyc${n++}`;
      const t0 = process.hrtime.bigint();
      sh('podman', [...podmanBase, '--runtime', 'runc', 'run', '-d', '--name', name, '--net', 'none', ...ulimits, 'busybox', 'sleep', '100000']);
      sh('podman', [...podmanBase, 'exec', name, 'true']);
      sh('podman', [...podmanBase, 'stop', '-t', '0', name]);
      sh('podman', [...podmanBase, 'rm', name]);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    },
    runc: () => {
      const id = `cyc${n++}`;
      setBundleArgs(['sleep', '100000']);
      const t0 = process.hrtime.bigint();
      spawnSync('runc', ['run', '-d', '-b', bundle, id], { stdio: 'ignore' });
      sh('runc', ['exec', id, 'true']);
      sh('runc', ['kill', id, 'KILL']);
      sh('runc', ['delete', '-f', id]);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      setBundleArgs(['true']);
      return ms;
    },
  };
  return measure('detached cycle: run -d sleep, exec true, stop, rm', table, Math.max(3, Math.floor(RUNS / 2)));
}

/** Sum of VmRSS (MB) of the processes whose comm is one of `comms`: what supervising the containers costs. */
function supervisorRssMb(comms) {
  let kb = 0;
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (comms.includes(fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim())) kb += rssKb(Number(p)) || 0;
    } catch {
      // gone meanwhile
    }
  }
  return kb / 1024;
}

/** 100 sleeping containers started one after another, then removed: time per start, host memory while all run. */
function densityBench(count = Number(process.env.BENCH_DENSITY ?? 100)) {
  const results = {};
  const starters = {
    tsrun: (i) => sh(tsrunBin, [...tsrunBase, 'run', '-d', '--name', `d${i}`, 'busybox', 'sleep', '100000']),
    'podman+runc': (i) => sh('podman', [...podmanBase, '--runtime', 'runc', 'run', '-d', '--name', `d${i}`, '--net', 'none', ...ulimits, 'busybox', 'sleep', '100000']),
  };
  const supervisors = { tsrun: ['tsrun:[monitor]'], 'podman+runc': ['conmon'] };
  const removers = {
    tsrun: (names) => sh(tsrunBin, [...tsrunBase, 'rm', '-f', ...names]),
    'podman+runc': (names) => sh('podman', [...podmanBase, 'rm', '-f', '-t', '0', ...names]),
  };
  for (const [k, start] of Object.entries(starters)) {
    const before = supervisorRssMb(supervisors[k]);
    const times = [];
    for (let i = 0; i < count; i++) {
      const t0 = process.hrtime.bigint();
      start(i);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const usedMb = supervisorRssMb(supervisors[k]) - before;
    removers[k](Array.from({ length: count }, (_, i) => `d${i}`));
    const first = stats(times.slice(0, 10));
    const last = stats(times.slice(-10));
    results[`${k} start`] = stats(times);
    results[`${k} first 10`] = first;
    results[`${k} last 10`] = last;
    results[`${k} supervisors' RSS for all, MB`] = stats([usedMb]);
  }
  return { name: `density: ${count} sleeping containers started one after another (ms per start; the monitors' or conmons' total RSS while all run)`, results };
}

/** run --rm true from images of 1, 10, 100, 128 and 499 layers (the init layer makes 500 lower dirs). */
function depthBench() {
  const results = {};
  for (const depth of [1, 10, 100, 128, 499]) {
    const dir = `${work}/deep-${depth}`;
    fs.mkdirSync(`${dir}/blobs/sha256`, { recursive: true });
    const blob = (bytes) => {
      const hex = crypto.createHash('sha256').update(bytes).digest('hex');
      fs.writeFileSync(`${dir}/blobs/sha256/${hex}`, bytes);
      return { digest: `sha256:${hex}`, size: bytes.length };
    };
    const layers = [blob(fs.readFileSync(`${work}/img/busybox-rootfs.tar`))];
    fs.mkdirSync(`${work}/deep-src`, { recursive: true });
    for (let i = 1; i < depth; i++) {
      fs.writeFileSync(`${work}/deep-src/layer`, `${i}\n`);
      sh('tar', ['--mtime=@0', '--owner=0', '--group=0', '-cf', `${work}/deep-layer.tar`, '-C', `${work}/deep-src`, 'layer']);
      layers.push(blob(fs.readFileSync(`${work}/deep-layer.tar`)));
    }
    const descs = layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l }));
    const config = blob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: descs.map((d) => d.digest) } })));
    const manifest = blob(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: descs })));
    fs.writeFileSync(`${dir}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
    fs.writeFileSync(`${dir}/index.json`, JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'io.containerd.image.name': `docker.io/library/deep:${depth}` } }] }));
    sh(tsrunBin, [...tsrunBase, 'load', '-q', '-i', dir]);
    settle();
    const xs = [];
    for (let i = 0; i < Math.max(3, Math.floor(RUNS / 3)); i++) xs.push(timed(tsrunBin, [...tsrunBase, 'run', '--rm', `deep:${depth}`, '/bin/true']));
    results[`tsrun ${depth} layers`] = stats(xs);
  }
  return { name: 'run --rm true by image depth (Docker stops at 128; past a page of options tsrun uses fsconfig lowerdir+)', results };
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1], runs: s.length };
};

/**
 * A pause before every sample. On cgroup v1 the first write to a
 * cgroup.procs after a quiet spell waits for an RCU grace period (~10-25 ms
 * here: percpu_down_write on cgroup_threadgroup_rwsem), and a write within
 * one grace period of another runtime's is fast: back to back, whoever runs
 * second rides on the first one's wait. Spacing the samples makes every
 * runtime pay its own, as a user's single command does.
 */
const GAP_MS = Number(process.env.BENCH_GAP_MS ?? 250);
const sleepMs = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const pause = () => sleepMs(GAP_MS);

/** Busy time of all CPUs, from /proc/stat: user through steal, in ticks. */
function busyTicks() {
  const [, ...f] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return { busy: f[0] + f[1] + f[2] + f[5] + f[6] + f[7], total: f.slice(0, 8).reduce((a, b) => a + b, 0) };
}

/**
 * Waits (up to 20 s) until the machine is idle again: under 10% busy over
 * half a second. Removing many containers leaves the kernel tearing down
 * their network namespaces for seconds afterwards (cleanup_net), which made
 * the next table's first samples slow: the density table's first ten
 * starts, and a one-layer image slower than a ten-layer one.
 */
function settle() {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const a = busyTicks();
    sleepMs(500);
    const b = busyTicks();
    if ((b.busy - a.busy) / Math.max(1, b.total - a.total) < 0.1 || Date.now() > deadline) return;
  }
}

/**
 * Each runtime of `table` `runs` times, interleaved, and the paired ratios:
 * the median over rounds of ours/theirs within the same round. A slow spell
 * of the machine (seen here: every runtime 30% slower for minutes) cancels
 * out of those, where a ratio of the two medians moved by as much as 0.15
 * between runs of this bench; but the noise of single samples does not (a
 * runc exec here takes 22 to 48 ms), so both are printed, the ratio of the
 * medians first, as quoted before.
 */
function measure(name, table, runs = RUNS) {
  const samples = Object.fromEntries(Object.keys(table).map((k) => [k, []]));
  const entries = Object.entries(table);
  for (let i = 0; i < runs; i++) {
    // Each round starts one runtime further on, so that none always follows the same one: what a runtime
    // leaves the kernel to finish (a network namespace's cleanup_net, say) lands on whoever comes next.
    for (let j = 0; j < entries.length; j++) {
      const [k, fn] = entries[(i + j) % entries.length];
      pause();
      samples[k].push(fn(i));
    }
  }
  const ratios = {};
  for (const ours of Object.keys(samples).filter((k) => k.startsWith('tsrun'))) {
    for (const theirs of Object.keys(samples).filter((k) => !k.startsWith('tsrun'))) {
      ratios[`${ours}/${theirs}`] = stats(samples[ours].map((x, i) => x / samples[theirs][i]));
    }
  }
  return { name, results: Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, stats(xs)])), ratios };
}

function print(m, unit = 'ms') {
  const oursKey = ['tsrun', 'tsrun monitor', 'tsrun load'].find((k) => m.results[k]);
  const t = m.results[oursKey];
  const oci = m.results['tsrun-oci'];
  process.stdout.write(`\n${m.name}\n`);
  for (const [k, r] of Object.entries(m.results)) {
    // The ratio of the medians, and beside it the paired one where the samples allow it (measure()).
    const ratio = (x, name) => {
      const paired = m.ratios?.[`${name}/${k}`]?.median;
      return `${(x.median / r.median).toFixed(2)}x${paired === undefined ? '' : ` (paired ${paired.toFixed(2)}x)`}`;
    };
    const ratios = k.startsWith('tsrun') ? [] : [[t, oursKey], [oci, 'tsrun-oci']].filter(([x]) => x).map(([x, name]) => `${name}/${k} = ${ratio(x, name)}`);
    const u = k.endsWith(', MB') ? 'MB' : unit;
    process.stdout.write(`  ${k.padEnd(16)} median ${r.median.toFixed(1).padStart(7)} ${u}  (min ${r.min.toFixed(1)}, max ${r.max.toFixed(1)}, n=${r.runs})  ${ratios.join('  ')}\n`);
  }
}

let exitCode = 0;
try {
  prepare();
  const out = { date: new Date().toISOString(), kernel: os.release(), node: process.version, runs: RUNS, measurements: [] };
  if (wanted('run')) {
    settle();
    const runRm = measure('run --rm busybox true (end to end; runc/crun on the same rootfs as a bundle)', runtimes.runRm);
    print(runRm);
    out.measurements.push(runRm);
  }
  if (wanted('exec')) {
    startSleepers();
    try {
      settle();
      const ex = measure('exec CONTAINER true', execs);
      print(ex);
      out.measurements.push(ex);
      const mem = memory();
      const memM = { name: 'resident memory per running container (kB)', results: Object.fromEntries(Object.entries(mem).map(([k, v]) => [k, stats([v])])) };
      print(memM, 'kB');
      out.measurements.push(memM);
      const cli = cliMemory();
      print(cli, 'kB');
      out.measurements.push(cli);
    } finally {
      stopSleepers();
    }
  }
  for (const [table, bench, unit] of [['cycle', cycleBench], ['density', densityBench], ['depth', depthBench], ['load', () => loadBench(makeBigImage())]]) {
    if (!wanted(table)) continue;
    settle();
    const m = bench();
    print(m, unit);
    out.measurements.push(m);
  }
  if (ONLY === undefined) {
    const file = path.join(OUT, 'results.json');
    fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
    process.stdout.write(`\nwrote ${path.relative(process.cwd(), file)}\n`);
    await import('./chart.mjs');
  }
} catch (err) {
  process.stderr.write(`bench: ${err.message}\n`);
  exitCode = 1;
} finally {
  const native = (await import('../build/js/native/binding.js')).loadNative();
  for (const m of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m?.startsWith(work)).sort().reverse()) {
    try {
      native.unmount({ target: m, flags: native.constants.MNT_DETACH });
    } catch {
      // already gone
    }
  }
  if (!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(work)) fs.rmSync(work, { recursive: true, force: true });
  // podman (cgroupfs manager) parks conmon in libpod_parent/conmon of every hierarchy and leaves it there: gone once empty.
  const { cgroupDirs, cgroupHost, uniqueDirs } = await import('../build/js/runtime/cgroups/host.js');
  for (const d of uniqueDirs(cgroupDirs(cgroupHost(), 'libpod_parent/conmon'))) {
    try {
      fs.rmdirSync(d);
    } catch {
      // not there, or in use
    }
  }
}
process.exit(exitCode);
