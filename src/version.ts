/**
 * tsrun's version and the commit it was built from, as `--version` prints
 * them. bin/bundle.cjs writes both into the bundle (package.json's version,
 * `git rev-parse`) as the constants below; unbundled (the tests) there are
 * none. Not npm_package_version: npm sets that to whichever package's script
 * is running, which need not be tsrun.
 */
declare const __TSRUN_VERSION__: string | undefined;
declare const __TSRUN_COMMIT__: string | undefined;

export const VERSION = typeof __TSRUN_VERSION__ === 'string' ? __TSRUN_VERSION__ : 'dev';
export const COMMIT = typeof __TSRUN_COMMIT__ === 'string' && __TSRUN_COMMIT__ !== '' ? __TSRUN_COMMIT__ : 'unknown';
