// Loads a CLI bundle (bin/bundle.cjs) for bin/tsrun.cjs and bin/tsrun-oci.cjs and
// runs one of its command lines.
//
// The bundle is compiled with V8's code cache: its bytecode, saved by the
// first command of each verb, instead of parsing and compiling ~450 kB of
// JavaScript again (~10-15 ms per command). CommonJS on purpose: an ES
// module entry makes Node set up its ESM loader, ~4 ms of every command.
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
// module.constructor is Module: require('node:module') would also load the public wrapper and its ESM loader.
const Module = module.constructor;

const build = path.join(__dirname, '..', 'build');

/**
 * tsrun's commands with bundles of their own, build/tsrun-NAME.cjs of
 * src/cli/NAME-main.ts, by the file of src/cli that adds them: the commands
 * run most (and on-exit, which every exit of a container with a restart
 * policy runs) then read and deserialize only their own code, a quarter
 * to two thirds of the whole CLI's (exec ~2 ms less, run ~1.2 ms). The
 * whole CLI, build/tsrun.cjs, serves the rest, help and unknown words.
 */
const LEAN_BUNDLES = {
  run: ['run'],
  exec: ['exec'],
  rm: ['rm'],
  lifecycle: ['start', 'stop', 'restart', 'kill', 'pause', 'unpause', 'on-exit', 'rename', 'wait', 'attach', 'logs'],
};

/** Runs the command line in process.argv: `entry` is "main" for tsrun, "ociMain" for tsrun-oci (each bundle's export). */
function run(entry) {
  const verb = verbOf(process.argv.slice(2));
  const lean = Object.keys(LEAN_BUNDLES).find((name) => LEAN_BUNDLES[name].includes(verb));
  const bundle = path.join(build, entry === 'ociMain' ? 'tsrun-oci.cjs' : lean ? `tsrun-${lean}.cjs` : 'tsrun.cjs');
  // `node --enable-source-maps bin/tsrun.cjs ...`: Node maps only modules it loads itself (the bundle's .map), so no code cache then.
  if (process.sourceMapsEnabled) return require(bundle)[entry](process.argv);
  // The bundle is ASCII (bin/bundle.cjs checks): latin1 reads it as the same string without UTF-8 decoding.
  const source = fs.readFileSync(bundle, 'latin1');
  const cacheFile = codeCacheFile(fs.statSync(bundle), entry, verb);
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData });
  const mod = new Module(bundle, module);
  mod.filename = bundle;
  mod.paths = Module._nodeModulePaths(path.dirname(bundle));
  script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(bundle), mod, bundle, path.dirname(bundle));
  if (cachedData === undefined || script.cachedDataRejected) process.once('exit', () => saveCodeCache(script, cacheFile));
  mod.exports[entry](process.argv);
}

module.exports = run;
module.exports.LEAN_BUNDLES = LEAN_BUNDLES;

/**
 * The command word, past the global options and their values; "none" without
 * one, or after -h/--help (`tsrun --help run` lists every command: the whole
 * CLI), "other" for one no verb could be.
 */
function verbOf(args) {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-h' || a === '--help') return 'none';
    if (a === '--root' || a === '--runroot' || a === '--log-level' || a === '--log' || a === '--log-format') i++;
    else if (!a.startsWith('-')) return /^[a-z][a-z-]{0,31}$/.test(a) ? a : 'other';
  }
  return 'none';
}

/**
 * One cache per command line and verb (what a command compiles is what its
 * cache holds), per set of Node flags, and per bundle file: V8 checks a
 * cache against the source's length only, so a rebuilt bundle of the same
 * length must never meet an old cache. The name carries the bundle's inode,
 * size and mtime; `npm run bundle` also empties the directory.
 */
function codeCacheFile(st, entry, verb) {
  // V8 also rejects a cache made under other flags: keep one per set, so `node --inspect bin/tsrun.cjs` does not evict the usual one.
  const flags = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ').trim();
  let tag = '';
  if (flags !== '') {
    let h = 5381;
    for (let i = 0; i < flags.length; i++) h = (Math.imul(h, 33) + flags.charCodeAt(i)) >>> 0;
    tag = `-f${h.toString(16)}`;
  }
  return path.join(build, 'v8-cache', `${entry}-${verb}-${st.ino}-${st.size}-${Math.trunc(st.mtimeMs)}${tag}.bin`);
}

/** Best effort (a read-only install just goes without): complete or absent, never torn. */
function saveCodeCache(s, file) {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o644);
    try {
      fs.writeSync(fd, s.createCachedData());
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch {
    // No cache this time; the next command tries again.
  }
}
