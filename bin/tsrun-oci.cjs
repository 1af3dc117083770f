// tsrun's OCI runtime, runc's command line; bin/tsrun-oci starts Node on
// this file (see bin/tsrun.cjs).
require('./load-cli.cjs')('ociMain');
