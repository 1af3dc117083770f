// Bundles the compiled CLIs (build/js) into CommonJS files that
// bin/load-cli.cjs compiles with V8's code cache (npm run bundle):
//   build/tsrun.cjs       tsrun's whole command line (src/cli/main.ts)
//   build/tsrun-oci.cjs   tsrun-oci's (src/oci/cli.ts)
//   build/tsrun-NAME.cjs  the commands of one file of src/cli alone (NAME-main.ts,
//                         load-cli.cjs's LEAN_BUNDLES): less code to read
//                         and deserialize for the commands run most
//
// The bundles are minified (whitespace and syntax; names are kept, so stack
// traces still name tsrun's functions): every command reads and scans the
// whole file, and 30% less of it is ~0.5 ms of an exec and ~1 ms of a
// run --rm (interleaved A/B, 30-40 runs). Each .map beside it maps it back
// to src/ for `node --enable-source-maps bin/tsrun.cjs ...`.
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const { LEAN_BUNDLES } = require('./load-cli.cjs');

const root = path.join(__dirname, '..');
const js = path.join(root, 'build', 'js');
/** Each bundle's entry module and its file. */
const BUNDLES = [
  [path.join(js, 'cli', 'main.js'), 'tsrun.cjs'],
  [path.join(js, 'oci', 'cli.js'), 'tsrun-oci.cjs'],
  ...Object.keys(LEAN_BUNDLES).map((name) => [path.join(js, 'cli', `${name}-main.js`), `tsrun-${name}.cjs`]),
];

// Namespace imports of Node's modules (`import * as fs from 'node:fs'`) become
// `__toESM(require("node:fs"),1)` in every module that has one, and each call
// copies the whole module onto a new object through getters: 64 copies, ~3 ms
// of every command. One namespace per module is also what ESM itself gives.
// The calls are renamed to __oneNS below: a name of the same length keeps
// the source map's columns true.
const banner = `'use strict';
const __oneNSs = new Map();
const __oneNS = (mod) => {
  let ns = __oneNSs.get(mod);
  if (ns === undefined) __oneNSs.set(mod, (ns = __toESM(mod, 1)));
  return ns;
};`;
const NODE_NAMESPACE = /__toESM(\(require\("node:[a-z0-9_/]+"\),1\))/g;

// commander loads node:child_process (and with it net, stream, dgram: ~1.5 ms)
// when it is required, for executable subcommands, which tsrun has none of;
// tsrun itself starts its monitors with posix_spawn. Loaded when first used.
const COMMANDER_CHILD_PROCESS = "const childProcess = require('node:child_process');";
let commanderPatched = false;
const lazyCommanderChildProcess = {
  name: 'lazy-commander-child-process',
  setup(build) {
    build.onLoad({ filter: /[\\/]commander[\\/]lib[\\/]command\.js$/ }, (args) => {
      commanderPatched = true;
      const source = fs.readFileSync(args.path, 'utf8');
      if (!source.includes(COMMANDER_CHILD_PROCESS)) throw new Error(`bundle: commander's require of node:child_process not found in ${args.path}; its source changed`);
      return { contents: source.replace(COMMANDER_CHILD_PROCESS, 'const childProcess = { spawn: (...args) => require("node:child_process").spawn(...args) };'), loader: 'js' };
    });
  },
};

// What `--version` prints (src/version.ts); a build outside a git clone has no commit to name.
const { version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
let commit = '';
try {
  commit = require('node:child_process').execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch {
  // not a clone, or no git
}

async function bundle() {
  fs.rmSync(path.join(root, 'build', 'v8-cache'), { recursive: true, force: true });
  for (const [entry, name] of BUNDLES) await bundleOne(entry, path.join(root, 'build', name));
}

async function bundleOne(entry, outfile) {
  commanderPatched = false;
  // Async: esbuild runs plugins only there.
  const { warnings } = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile,
    external: ['pino'],
    minifyWhitespace: true,
    minifySyntax: true,
    // Non-ASCII characters escaped: bin/load-cli.cjs reads the bundle as latin1.
    charset: 'ascii',
    // tsc's maps (tsconfig.build.json) are followed through to src/.
    sourcemap: 'linked',
    // The bundle's own file: what the modules' import.meta.filename named (import.meta.url, which would need
    // node:url's pathToFileURL at every start, is not used).
    define: { 'import.meta.filename': '__filename', __TSRUN_VERSION__: JSON.stringify(version), __TSRUN_COMMIT__: JSON.stringify(commit) },
    banner: { js: banner },
    plugins: [lazyCommanderChildProcess],
    logLevel: 'warning',
  });
  // A warning is a bug here (an import.meta the CommonJS output drops, say): fail the build, not a command later.
  if (warnings.length > 0) throw new Error(`bundle: ${warnings.length} esbuild warning(s), above`);

  // commander moved its Command elsewhere: the filter above no longer meets it.
  if (!commanderPatched) throw new Error("bundle: commander's lib/command.js was not bundled; its layout changed");
  const text = fs.readFileSync(outfile, 'utf8');
  const shared = text.replace(NODE_NAMESPACE, '__oneNS$1');
  if (shared === text) throw new Error(`bundle: no __toESM(require("node:...")) in ${outfile}; esbuild's output changed`);
  if (shared.length !== text.length) throw new Error('bundle: the namespace rename changed the length: the source map would be off');
  if (/[^\x00-\x7f]/.test(shared)) throw new Error(`bundle: ${outfile} is not ASCII; bin/load-cli.cjs reads it as latin1`);
  // bin/load-cli.cjs runs the bundle as a vm.Script, which has no import() on Node 20
  // without --experimental-vm-modules: a module kept outside the bundle is
  // loaded with require (createRequire), never import().
  if (/[^\w$.]import\(/.test(shared)) throw new Error(`bundle: ${outfile} has an import() of a module outside the bundle; use createRequire`);
  fs.writeFileSync(outfile, shared);
}

bundle().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
