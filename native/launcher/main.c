/*
 * bin/tsrun and bin/tsrun-oci: start Node on the command line's script, the
 * file beside this executable with ".cjs" added (bin/tsrun.cjs,
 * bin/tsrun-oci.cjs).
 *
 *   node -- SCRIPT [ARG...]
 *
 * A static program instead of a `#!/bin/sh` line: the shell's own start
 * (dynamic loading of dash and libc, its parse) was ~0.5 ms of every
 * command, and the exec that follows is the same.
 *
 * NODE_EXTRA_CA_CERTS is moved to TSRUN_EXTRA_CA_CERTS first: Node 20
 * parses that bundle at start-up, before any code runs (~30 ms on these
 * machines), and only `pull` speaks TLS; it reads the bundle itself
 * (src/image/registry.ts). `--` ends Node's own options: Node 20 also takes
 * --env-file from after the script's name, so a container's `run --env-file
 * F` would be read by Node itself.
 *
 * Exit codes when Node cannot be run, as a shell's: 127 not found, 126
 * found but not executable; 125 when this program cannot find itself or
 * its script.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char SUFFIX[] = ".cjs";

int main(int argc, char **argv)
{
  /* The real file, whatever symlink or PATH entry the caller went through. */
  static char script[PATH_MAX];
  const char *name = argc > 0 && argv[0][0] ? argv[0] : "tsrun";
  if (strrchr(name, '/'))
    name = strrchr(name, '/') + 1;
  ssize_t len = readlink("/proc/self/exe", script, sizeof script - sizeof SUFFIX);
  if (len < 0 || (size_t)len >= sizeof script - sizeof SUFFIX) {
    fprintf(stderr, "%s: cannot find its own executable in /proc/self/exe: %s\n", name,
            len < 0 ? strerror(errno) : "path too long");
    return 125;
  }
  memcpy(script + len, SUFFIX, sizeof SUFFIX);
  /* A copy of the launcher away from its script, say: one line, not Node's stack trace. */
  if (access(script, R_OK) != 0) {
    fprintf(stderr, "%s: cannot read %s: %s\n", name, script, strerror(errno));
    return 125;
  }

  const char *ca = getenv("NODE_EXTRA_CA_CERTS");
  if (ca) {
    if (*ca && setenv("TSRUN_EXTRA_CA_CERTS", ca, 1) != 0) {
      fprintf(stderr, "%s: cannot set TSRUN_EXTRA_CA_CERTS: %s\n", name, strerror(errno));
      return 125;
    }
    unsetenv("NODE_EXTRA_CA_CERTS");
  }

  /* node, --, the script, the arguments and the NULL (argc may be 0 before Linux 5.18). */
  char **args = calloc((size_t)(argc > 0 ? argc : 1) + 3, sizeof *args);
  if (!args) {
    fprintf(stderr, "%s: out of memory\n", name);
    return 125;
  }
  args[0] = "node";
  args[1] = "--";
  args[2] = script;
  for (int i = 1; i < argc; i++)
    args[i + 2] = argv[i];
  execvp("node", args);
  int err = errno;
  fprintf(stderr, "%s: cannot run node (Node.js 20 or later, on PATH): %s\n", name, strerror(err));
  return err == ENOENT || err == ENOTDIR ? 127 : 126;
}
