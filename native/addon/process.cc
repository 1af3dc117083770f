// Starting and reaping the monitor without Node's child_process: its spawn()
// forks the whole ~50 MB Node process (page tables copied) and sets up
// stream handles, ~3 ms of every run and exec; posix_spawn(3) is a vfork
// (CLONE_VM|CLONE_VFORK), ~0.2 ms. The report socket is read with a bounded
// blocking read (the CLI has nothing else to do meanwhile), and the exit is
// awaited on a pidfd in the event loop, which keeps forwarding signals
// (src/runtime/monitor.ts drives these).
#include "glue.h"

#include <algorithm>
#include <functional>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

extern char** environ;

namespace tsrun {
namespace {

// Two fds as a JS [a, b].
Napi::Array FdPair(Napi::Env env, const int fds[2]) {
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(0u, Napi::Number::New(env, fds[0]));
  pair.Set(1u, Napi::Number::New(env, fds[1]));
  return pair;
}

// A pipe, both ends close-on-exec and blocking: the monitor's plan fd. It
// is spawned ahead of its plan and waits on it (src/runtime/monitor.ts), so
// its exec and sealed re-exec overlap the caller's own work.
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Opts o(info, "pipe");
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) throw SyscallError(o.env(), errno, "pipe2");
  return FdPair(o.env(), fds);
}

// A connected AF_UNIX stream pair, both ends close-on-exec.
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Opts o(info, "socketPair");
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) throw SyscallError(o.env(), errno, "socketpair");
  return FdPair(o.env(), sv);
}

// spawnSession({ path, args, fds }): runs path with argv [path, ...args] and
// our environment in a new session, every signal at its default and none
// blocked (as child_process does), its fd i being our fds[i] (-1:
// /dev/null); every other fd of ours is close-on-exec. Returns the pid.
Napi::Value SpawnSession(const Napi::CallbackInfo& info) {
  Opts o(info, "spawnSession");
  std::string path = o.Str("path");
  std::vector<std::string> args = o.StrArray("args");
  std::vector<int> fds = o.IntArray("fds");
  const int n = int(fds.size());

  // Each source first goes above every target, so one dup2 cannot overwrite
  // another's source (our fd 3 may have to become the child's fd 5 while
  // the plan takes fd 3).
  std::vector<int> high;
  auto release = [&] {
    for (int fd : high) close(fd);
  };
  for (int src : fds) {
    int fd = src < 0 ? open("/dev/null", O_RDWR | O_CLOEXEC) : fcntl(src, F_DUPFD_CLOEXEC, n);
    if (fd >= 0 && fd < n) {  // /dev/null opened low: move it up too
      int up = fcntl(fd, F_DUPFD_CLOEXEC, n);
      close(fd);
      fd = up;
    }
    if (fd < 0) {
      int err = errno;
      release();
      throw SyscallError(o.env(), err, src < 0 ? "open" : "fcntl");
    }
    high.push_back(fd);
  }

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  for (int i = 0; i < n; i++) posix_spawn_file_actions_adddup2(&actions, high[size_t(i)], i);  // dup2 clears CLOEXEC
  sigset_t all, none;
  sigfillset(&all);
  // glibc's sigfillset leaves out its internal signals 32 and 33, and its
  // posix_spawn then sets those to SIG_IGN in the child, which survives
  // exec: the container would inherit them ignored. Set their bits by hand.
  for (unsigned sig = 32; sig <= 33; sig++)
    all.__val[(sig - 1) / (8 * sizeof all.__val[0])] |= 1UL << ((sig - 1) % (8 * sizeof all.__val[0]));
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(path.c_str()));
  for (std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, path.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  release();
  if (rc != 0) throw SyscallError(o.env(), rc, "posix_spawn", &path);
  return Napi::Number::New(o.env(), pid);
}

// readExact({ fd, size, timeoutMs }): up to size bytes from a blocking fd,
// fewer only at EOF; ETIMEDOUT if they do not all come within timeoutMs.
Napi::Value ReadExact(const Napi::CallbackInfo& info) {
  Opts o(info, "readExact");
  int fd = o.Int("fd");
  size_t size = o.Uint("size");
  int64_t timeoutMs = o.Int64("timeoutMs");
  std::vector<char> buf(size);
  size_t have = 0;
  timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (have < size) {
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t left = timeoutMs - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
    if (left <= 0) throw SyscallError(o.env(), ETIMEDOUT, "read");
    pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, int(left));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw SyscallError(o.env(), errno, "poll");
    if (r == 0) continue;  // the deadline check above ends it
    ssize_t got = read(fd, buf.data() + have, size - have);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw SyscallError(o.env(), errno, "read");
    if (got == 0) break;
    have += size_t(got);
  }
  return Napi::Buffer<char>::Copy(o.env(), buf.data(), have);
}

// Waits on pidfds in the event loop itself: each is a uv_poll that turns
// readable when its process exits (a zombie counts), plus a timer for the
// deadline. No thread: the thread pool's first use starts four threads and
// joins them at exit, ~1 ms of every run and exec, for one wait. The loop
// stays free, so signals are still forwarded meanwhile.
class PidfdWatch {
 public:
  // Settles the promise, once: err is 0 when every process is gone,
  // ETIMEDOUT at the deadline, or the errno of a watch that failed to start.
  using Done = std::function<void(Napi::Env, Napi::Promise::Deferred&, int err)>;

  // timeoutMs < 0: no deadline. The fds stay the caller's.
  static Napi::Promise Start(Napi::Env env, const std::vector<int>& fds, int64_t timeoutMs, Done done) {
    auto* w = new PidfdWatch(env, std::move(done));
    Napi::Promise promise = w->deferred_.Promise();
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
      w->Settle(EINVAL);
      return promise;
    }
    for (int fd : fds) {
      auto* h = new uv_poll_t;
      h->data = w;
      int rc = uv_poll_init(loop, h, fd);
      if (rc != 0) {
        delete h;
        w->Settle(-rc);
        return promise;
      }
      w->polls_.push_back(h);
      rc = uv_poll_start(h, UV_READABLE, OnReadable);
      if (rc != 0) {
        w->Settle(-rc);
        return promise;
      }
    }
    if (timeoutMs >= 0) {
      w->timer_ = new uv_timer_t;
      w->timer_->data = w;
      uv_timer_init(loop, w->timer_);
      // From now: libuv's cached clock stands still through synchronous work (a flock waited for, Node's start).
      uv_update_time(loop);
      uv_timer_start(w->timer_, OnTimeout, uint64_t(timeoutMs), 0);
    }
    if (fds.empty()) w->Settle(0);
    return promise;
  }

 private:
  PidfdWatch(Napi::Env env, Done done)
      : env_(env), deferred_(Napi::Promise::Deferred::New(env)), async_(env, "tsrun.pidfdWatch"), done_(std::move(done)) {}

  // Any event ends that fd's wait, an error as much as readable (as poll(2)'s revents did): nothing is left to watch.
  static void OnReadable(uv_poll_t* h, int, int) {
    auto* w = static_cast<PidfdWatch*>(h->data);
    w->polls_.erase(std::remove(w->polls_.begin(), w->polls_.end(), h), w->polls_.end());
    w->Close(reinterpret_cast<uv_handle_t*>(h));
    if (w->polls_.empty()) w->Settle(0);
  }

  static void OnTimeout(uv_timer_t* t) { static_cast<PidfdWatch*>(t->data)->Settle(ETIMEDOUT); }

  // Every handle is closed first: the promise's reactions run as the callback
  // scope closes, and may close these fds, reuse their numbers, or watch them
  // again, which libuv refuses (EEXIST) while a watcher still holds the fd.
  void Settle(int err) {
    if (settled_) return;
    settled_ = true;
    for (uv_poll_t* h : polls_) Close(reinterpret_cast<uv_handle_t*>(h));
    polls_.clear();
    if (timer_ != nullptr) Close(reinterpret_cast<uv_handle_t*>(timer_));
    timer_ = nullptr;
    {
      Napi::HandleScope handles(env_);
      Napi::CallbackScope scope(env_, async_);
      // Called from libuv, not from JavaScript: no C++ exception may unwind through its C frames.
      try {
        done_(env_, deferred_, err);
      } catch (const Napi::Error& e) {
        deferred_.Reject(e.Value());
      } catch (...) {
        deferred_.Reject(Napi::Error::New(env_, "waiting for a process failed").Value());
      }
    }
    FreeWhenDone();
  }

  void Close(uv_handle_t* h) {
    closing_++;
    uv_close(h, [](uv_handle_t* handle) {
      auto* w = static_cast<PidfdWatch*>(handle->data);
      if (handle->type == UV_TIMER) delete reinterpret_cast<uv_timer_t*>(handle);
      else delete reinterpret_cast<uv_poll_t*>(handle);
      w->closing_--;
      w->FreeWhenDone();
    });
  }

  void FreeWhenDone() {
    if (settled_ && closing_ == 0) delete this;
  }

  Napi::Env env_;
  Napi::Promise::Deferred deferred_;
  Napi::AsyncContext async_;
  Done done_;
  std::vector<uv_poll_t*> polls_;
  uv_timer_t* timer_ = nullptr;
  int closing_ = 0;  // handles whose close callbacks have yet to run
  bool settled_ = false;
};

// waitExit({ pid }) -> Promise<{ code, signal } | null>: reaps a child of
// ours once its pidfd turns readable, code for an exit, signal for a kill.
// Ours and not yet reaped, the pid cannot have been reused. null: it has
// exited but is not waitable yet: a ptraced zombie is seen by its tracer
// only until the tracer reaps it (wait_consider_task), while its pidfd is
// readable from the exit on, so a blocking waitid would stall the event
// loop for as long as a debugger looks; the caller asks again.
Napi::Value WaitExit(const Napi::CallbackInfo& info) {
  Opts o(info, "waitExit");
  pid_t pid = pid_t(o.Int("pid"));
  int fd = int(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) throw SyscallError(o.env(), errno, "pidfd_open");
  return PidfdWatch::Start(o.env(), {fd}, -1, [pid, fd](Napi::Env env, Napi::Promise::Deferred& d, int err) {
    close(fd);
    siginfo_t si{};
    int r = err == 0 ? waitid(P_PID, id_t(pid), &si, WEXITED | WNOHANG) : -1;
    while (r < 0 && err == 0 && errno == EINTR) r = waitid(P_PID, id_t(pid), &si, WEXITED | WNOHANG);
    if (r < 0) {
      d.Reject(SyscallError(env, err != 0 ? err : errno, err != 0 ? "uv_poll" : "waitid").Value());
      return;
    }
    if (si.si_pid == 0) {
      d.Resolve(env.Null());
      return;
    }
    Napi::Object result = Napi::Object::New(env);
    bool exited = si.si_code == CLD_EXITED;
    result.Set("code", exited ? Napi::Number::New(env, si.si_status) : env.Null());
    result.Set("signal", exited ? env.Null() : Napi::Number::New(env, si.si_status));
    d.Resolve(result);
  });
}

// pidfdOpen({ pid }) -> fd, or -1 when no such process is left (ESRCH).
// The caller checks that the pid is still the process it means (its start
// time) after opening: from then on the fd cannot refer to another one.
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Opts o(info, "pidfdOpen");
  int fd = int(syscall(SYS_pidfd_open, pid_t(o.Int("pid")), 0));
  if (fd < 0 && errno == ESRCH) return Napi::Number::New(o.env(), -1);
  if (fd < 0) throw SyscallError(o.env(), errno, "pidfd_open");
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
    int err = errno;
    close(fd);
    throw SyscallError(o.env(), err, "fcntl");
  }
  return Napi::Number::New(o.env(), fd);
}

// waitPidfds({ fds, timeoutMs }) -> Promise<boolean>: true once every
// process is gone (a zombie counts), false at the timeout. In the event
// loop (PidfdWatch), so signals are still forwarded; no polling interval,
// so no added latency.
Napi::Value WaitPidfds(const Napi::CallbackInfo& info) {
  Opts o(info, "waitPidfds");
  return PidfdWatch::Start(o.env(), o.IntArray("fds"), o.Integer("timeoutMs", 0, INT32_MAX), [](Napi::Env env, Napi::Promise::Deferred& d, int err) {
    if (err == 0 || err == ETIMEDOUT) d.Resolve(Napi::Boolean::New(env, err == 0));
    else d.Reject(SyscallError(env, err, "uv_poll").Value());
  });
}

}  // namespace

void InitProcess(Napi::Env env, Napi::Object exports) {
  auto fn = [&](const char* name, auto callback) { exports.Set(name, Napi::Function::New(env, callback, name)); };
  fn("pipe", Pipe);
  fn("socketPair", SocketPair);
  fn("spawnSession", SpawnSession);
  fn("readExact", ReadExact);
  fn("waitExit", WaitExit);
  fn("pidfdOpen", PidfdOpen);
  fn("waitPidfds", WaitPidfds);
}

}  // namespace tsrun
