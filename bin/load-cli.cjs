// Loads the CLI bundle (build/tsrun.cjs) for bin/tsrun and bin/tsrun-oci
// and runs one of its command lines.
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

const bundle = path.join(__dirname, '..', 'build', 'tsrun.cjs');

/** Runs the bundle's export `entry` ("main" for tsrun, "ociMain" for tsrun-oci) with process.argv. */
module.exports = function run(entry) {
  // `node --enable-source-maps bin/tsrun ...`: Node maps only modules it loads itself (build/tsrun.cjs.map), so no code cache then.
  if (process.sourceMapsEnabled) return require(bundle)[entry](process.argv);
  // The bundle is ASCII (bin/bundle.cjs checks): latin1 reads it as the same string without UTF-8 decoding.
  const source = fs.readFileSync(bundle, 'latin1');
  const cacheFile = codeCacheFile(fs.statSync(bundle), entry, process.argv.slice(2));
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
};

/**
 * One cache per command line and verb (what a command compiles is what its
 * cache holds), per set of Node flags, and per bundle file: V8 checks a
 * cache against the source's length only, so a rebuilt bundle of the same
 * length must never meet an old cache. The name carries the bundle's inode,
 * size and mtime; `npm run bundle` also empties the directory.
 */
function codeCacheFile(st, entry, args) {
  let verb = 'none';
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--root' || a === '--runroot' || a === '--log-level' || a === '--log' || a === '--log-format') i++;
    else if (!a.startsWith('-')) {
      verb = /^[a-z][a-z-]{0,31}$/.test(a) ? a : 'other';
      break;
    }
  }
  // V8 also rejects a cache made under other flags: keep one per set, so `node --inspect bin/tsrun` does not evict the usual one.
  const flags = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ').trim();
  let tag = '';
  if (flags !== '') {
    let h = 5381;
    for (let i = 0; i < flags.length; i++) h = (Math.imul(h, 33) + flags.charCodeAt(i)) >>> 0;
    tag = `-f${h.toString(16)}`;
  }
  return path.join(path.dirname(bundle), 'v8-cache', `${entry}-${verb}-${st.ino}-${st.size}-${Math.trunc(st.mtimeMs)}${tag}.bin`);
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
