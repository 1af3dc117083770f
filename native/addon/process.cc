// Starting and reaping the monitor without Node's child_process: its spawn()
// forks the whole ~50 MB Node process (page tables copied) and sets up
// stream handles, ~3 ms of every run and exec; posix_spawn(3) is a vfork
// (CLONE_VM|CLONE_VFORK), ~0.2 ms. The report socket is read with a bounded
// blocking read (the CLI has nothing else to do meanwhile), and the exit is
// awaited on the libuv thread pool so the event loop keeps forwarding
// signals (src/runtime/monitor.ts drives these).
#include "glue.h"

#include <algorithm>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

extern char** environ;

namespace tsrun {
namespace {

// A memfd holding `data`, read from its start: handed to the monitor as its
// plan fd, the plan is complete the moment it runs (a pipe would make it
// wait until our event loop writes).
Napi::Value MemfdWith(const Napi::CallbackInfo& info) {
  Opts o(info, "memfdWith");
  std::string name = o.Str("name");
  Napi::Buffer<char> data = o.Buf("data");
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0) throw SyscallError(o.env(), errno, "memfd_create", &name);
  for (size_t done = 0; done < data.Length();) {
    ssize_t n = pwrite(fd, data.Data() + done, data.Length() - done, off_t(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      throw SyscallError(o.env(), err, "pwrite", &name);
    }
    done += size_t(n);
  }
  return Napi::Number::New(o.env(), fd);
}

// A connected AF_UNIX stream pair, both ends close-on-exec.
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Opts o(info, "socketPair");
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) throw SyscallError(o.env(), errno, "socketpair");
  Napi::Array pair = Napi::Array::New(o.env(), 2);
  pair.Set(0u, Napi::Number::New(o.env(), sv[0]));
  pair.Set(1u, Napi::Number::New(o.env(), sv[1]));
  return pair;
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

// waitExit({ pid }) -> Promise<{ code, signal }>: reaps a child of ours on
// the thread pool (waitid blocks), code for an exit, signal for a kill.
class WaitWorker : public Napi::AsyncWorker {
 public:
  WaitWorker(Napi::Env env, pid_t pid) : Napi::AsyncWorker(env), pid_(pid), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    int r;
    do r = waitid(P_PID, id_t(pid_), &info_, WEXITED);
    while (r < 0 && errno == EINTR);
    err_ = r < 0 ? errno : 0;
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_ != 0) {
      deferred_.Reject(SyscallError(env, err_, "waitid").Value());
      return;
    }
    Napi::Object result = Napi::Object::New(env);
    bool exited = info_.si_code == CLD_EXITED;
    result.Set("code", exited ? Napi::Number::New(env, info_.si_status) : env.Null());
    result.Set("signal", exited ? env.Null() : Napi::Number::New(env, info_.si_status));
    deferred_.Resolve(result);
  }

 private:
  pid_t pid_;
  siginfo_t info_{};
  int err_ = 0;
  Napi::Promise::Deferred deferred_;
};

Napi::Value WaitExit(const Napi::CallbackInfo& info) {
  Opts o(info, "waitExit");
  auto* worker = new WaitWorker(o.env(), pid_t(o.Int("pid")));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
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
// process is gone (a pidfd polls readable when its process exits, a zombie
// counts), false at the timeout. On the thread pool, so signals are still
// forwarded; no polling interval, so no added latency.
class PidfdWaitWorker : public Napi::AsyncWorker {
 public:
  PidfdWaitWorker(Napi::Env env, std::vector<int> fds, int timeoutMs)
      : Napi::AsyncWorker(env), timeoutMs_(timeoutMs), deferred_(Napi::Promise::Deferred::New(env)) {
    for (int fd : fds) fds_.push_back({fd, POLLIN, 0});
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t deadline = int64_t(now.tv_sec) * 1000 + now.tv_nsec / 1000000 + timeoutMs_;
    while (!fds_.empty()) {
      clock_gettime(CLOCK_MONOTONIC, &now);
      int64_t left = deadline - (int64_t(now.tv_sec) * 1000 + now.tv_nsec / 1000000);
      if (left <= 0) return;
      int r = poll(fds_.data(), nfds_t(fds_.size()), int(left));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        err_ = errno;
        return;
      }
      fds_.erase(std::remove_if(fds_.begin(), fds_.end(), [](const pollfd& p) { return p.revents != 0; }), fds_.end());
    }
  }
  void OnOK() override {
    if (err_ != 0) deferred_.Reject(SyscallError(Env(), err_, "poll").Value());
    else deferred_.Resolve(Napi::Boolean::New(Env(), fds_.empty()));
  }

 private:
  std::vector<pollfd> fds_;
  int timeoutMs_;
  int err_ = 0;
  Napi::Promise::Deferred deferred_;
};

Napi::Value WaitPidfds(const Napi::CallbackInfo& info) {
  Opts o(info, "waitPidfds");
  auto* worker = new PidfdWaitWorker(o.env(), o.IntArray("fds"), int(o.Integer("timeoutMs", 0, INT32_MAX)));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void InitProcess(Napi::Env env, Napi::Object exports) {
  auto fn = [&](const char* name, auto callback) { exports.Set(name, Napi::Function::New(env, callback, name)); };
  fn("memfdWith", MemfdWith);
  fn("socketPair", SocketPair);
  fn("spawnSession", SpawnSession);
  fn("readExact", ReadExact);
  fn("waitExit", WaitExit);
  fn("pidfdOpen", PidfdOpen);
  fn("waitPidfds", WaitPidfds);
}

}  // namespace tsrun
