/**
 * The bundle's entry (build/tsrun.cjs): both command lines, so each of
 * bin/tsrun and bin/tsrun-oci loads one file.
 */
export { main } from './cli/main.js';
export { ociMain } from './oci/cli.js';
