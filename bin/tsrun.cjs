// tsrun's command line. bin/tsrun, built from native/launcher/main.c and
// copied here by the native build (cmake-js), starts Node on this file (with
// NODE_EXTRA_CA_CERTS set aside); `node bin/tsrun.cjs ...` runs it too, for
// Node's own flags (--inspect, --cpu-prof, --enable-source-maps).
// load-cli.cjs loads the bundle with V8's code cache.
require('./load-cli.cjs')('main');
