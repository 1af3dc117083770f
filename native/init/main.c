/*
 * tsrun-init: a tiny init for `run --init` (tini's job, in the same way).
 *
 *   tsrun-init [--] CMD [ARG...]
 *
 * As PID 1 of a container it runs CMD as its child, passes on every signal
 * it gets (PID 1 has no default actions, so without it `stop` would wait
 * for the SIGKILL), and reaps every orphan the kernel reparents to it
 * (containerd#9979: zombies piled up under PID 1 programs that never wait).
 * It exits with CMD's status, 128+N when CMD was killed by signal N.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *s)
{
  if (write(STDERR_FILENO, s, strlen(s)) < 0)
    return;
}

/* sigfillset leaves out the signals the C library keeps for itself: 32
 * and 33 with glibc, 32 to 34 with musl. 34 is SIGRTMIN to a glibc program
 * in the container, so a `kill -s 34` to it must be forwarded, not taken
 * by the default action (which PID 1 ignores). musl's sigprocmask and
 * sigwaitinfo pass the set on as it is; the bits go in by hand (the set is
 * an array of unsigned long in both libraries). */
static void fill_realtime_low(sigset_t *set)
{
  unsigned long *words = (unsigned long *)(void *)set;
  const unsigned bits = 8 * sizeof *words;
  int sig;

  for (sig = 32; sig <= 34; sig++)
    words[(sig - 1) / bits] |= 1UL << ((sig - 1) % bits);
}

int main(int argc, char **argv)
{
  sigset_t all, orig;
  siginfo_t si;
  pid_t child, p;
  int status, err;

  argv++;
  argc--;
  if (argc > 0 && strcmp(argv[0], "--") == 0) {
    argv++;
    argc--;
  }
  if (argc == 0) {
    say("usage: tsrun-init [--] CMD [ARG...]\n");
    return 2;
  }
  /* Every signal waits for sigwaitinfo below, so none takes a default
   * action on us and none is lost between fork and the loop. */
  sigfillset(&all);
  fill_realtime_low(&all);
  sigprocmask(SIG_SETMASK, &all, &orig);
  /* Not PID 1 (no PID namespace): orphans still come to us. */
  if (getpid() != 1)
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  child = fork();
  if (child < 0) {
    say("tsrun-init: fork: ");
    say(strerror(errno));
    say("\n");
    return 125;
  }
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &orig, NULL);
    execvp(argv[0], argv);
    err = errno;
    say("tsrun-init: ");
    say(argv[0]);
    say(": ");
    say(strerror(err));
    say("\n");
    _exit(err == ENOENT ? 127 : 126);
  }

  for (;;) {
    if (sigwaitinfo(&all, &si) < 0)
      continue;
    if (si.si_signo != SIGCHLD) {
      kill(child, si.si_signo);
      continue;
    }
    while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
      if (p != child)
        continue;
      if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
      return WEXITSTATUS(status);
    }
  }
}
