// A CLI's exit without the wait for its address space's teardown.
//
// The kernel tells a parent that its child exited only after the child's
// memory is unmapped (do_exit: exit_mm before exit_notify), and unmapping
// Node's ~30 MB of mapped executable takes ~1.5 ms on this class of
// machine: a tenth of what tsrun adds to a command on top of Node's start.
// When another process still shares the memory (CLONE_VM), exit_mm only
// drops a reference, and the teardown happens when that process dies.
// So at exit the CLI starts a holder that shares its memory and nothing
// else, and that the kernel kills as soon as the CLI is gone (its
// parent-death signal): the caller (a shell, a test, a health check) sees
// the exit first, and the holder unmaps after. For that millisecond or two
// the holder is still in the CLI's cgroups and maps its executable and
// libraries: an rmdir of the CLI's own cgroup right after its exit may
// see it busy, as with any process that has just been killed.
#include "glue.h"

#include <errno.h>
#include <stdint.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace tsrun {
namespace {

enum HolderState : int { kStarting = 0, kHolding = 1, kGaveUp = 2 };

// Written by the holder, read by us: one holder per process, at its exit.
int holder_state = kStarting;
pid_t holder_parent = 0;
alignas(16) char holder_stack[16384];

// The holder shares our memory (one mm: private futex ops reach it) and runs on our
// main thread's TLS (no CLONE_SETTLS), so it calls syscall(2) and nothing
// else: glibc's wrappers would write that thread's errno and, for pause(),
// its cancellation state. DeferTeardown calls syscall() itself before the
// clone, so the holder never runs the dynamic linker's lazy binding either
// (-z now would bind all of the addon's symbols at every load: ~0.15 ms).
void SetState(int state) {
  __atomic_store_n(&holder_state, state, __ATOMIC_RELEASE);
  syscall(SYS_futex, &holder_state, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

int Hold(void*) {
  syscall(SYS_prctl, PR_SET_NAME, "tsrun-exit", 0, 0, 0);
  // Its copy of our fd table, closed: our pipes' EOF and our flock()s must
  // not wait for the holder (exit_files runs after exit_mm); nor an unmount
  // of our working directory.
  if (syscall(SYS_close_range, 0U, ~0U, 0U) < 0 || syscall(SYS_chdir, "/") < 0 || syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 ||
      syscall(SYS_getppid) != holder_parent) {
    SetState(kGaveUp);
    syscall(SYS_exit, 0);
  }
  SetState(kHolding);
  // Every signal is blocked (inherited): only the SIGKILL of our death ends it.
  uint64_t all = ~0ULL;
  for (;;) syscall(SYS_rt_sigsuspend, &all, sizeof all);
}

// deferTeardown({}) -> the holder's pid, or 0 when none was started (the
// exit then waits for the teardown as usual). For a process about to exit:
// its memory stays mapped until its death plus the holder's. Only from the
// main thread (a parent-death signal follows the thread that cloned), and
// not as a PID 1, whose exit waits for every process of its namespace.
Napi::Value DeferTeardown(const Napi::CallbackInfo& info) {
  Opts o(info, "deferTeardown");
  pid_t self = getpid();
  // Also binds syscall() (the PLT entry the holder goes through) before the clone.
  if (holder_parent != 0 || self == 1 || pid_t(syscall(SYS_gettid)) != self) return Napi::Number::New(o.env(), 0);
  holder_parent = self;
  // Blocked before the clone, so the holder never runs one of Node's
  // handlers (a terminal's Ctrl-C reaches our whole process group).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = clone(Hold, holder_stack + sizeof holder_stack, CLONE_VM | SIGCHLD, nullptr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) return Napi::Number::New(o.env(), 0);
  // Until it holds or gives up (a second at most: then something is badly
  // wrong, and there is no holder): one still holding our fds when we exit
  // would delay our pipes' EOF.
  struct timespec now, deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += 1;
  while (__atomic_load_n(&holder_state, __ATOMIC_ACQUIRE) == kStarting) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    long left = (deadline.tv_sec - now.tv_sec) * 1000000000L + (deadline.tv_nsec - now.tv_nsec);
    if (left <= 0) {
      kill(pid, SIGKILL);
      break;
    }
    struct timespec step = {left / 1000000000L, left % 1000000000L};
    syscall(SYS_futex, &holder_state, FUTEX_WAIT_PRIVATE, kStarting, &step, nullptr, 0);
  }
  if (__atomic_load_n(&holder_state, __ATOMIC_ACQUIRE) == kHolding) return Napi::Number::New(o.env(), pid);
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  return Napi::Number::New(o.env(), 0);
}

}  // namespace

void InitExit(Napi::Env env, Napi::Object exports) {
  exports.Set("deferTeardown", Napi::Function::New(env, DeferTeardown, "deferTeardown"));
}

}  // namespace tsrun
