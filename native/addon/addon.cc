// The addon: thin N-API glue for the host-side syscalls Node's fs lacks
// (src/native/types.ts is the contract). Every function takes one object
// argument, every fd it opens is O_CLOEXEC, and a failure throws an Error
// shaped like Node's own: { code, errno (negative), syscall, path? }.
// The one process it starts is the monitor (process.cc); it never unshares,
// setns()es or pivots: that is the monitor's job.
#include "glue.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace tsrun {
// native/addon/zstd.cc
void InitZstd(Napi::Env env, Napi::Object exports);
// native/addon/process.cc
void InitProcess(Napi::Env env, Napi::Object exports);
// native/addon/tree.cc
void InitTree(Napi::Env env, Napi::Object exports);
// native/addon/digest.cc
void InitDigest(Napi::Env env, Napi::Object exports);
// native/addon/devices.cc
void InitDevices(Napi::Env env, Napi::Object exports);
// native/addon/exit.cc
void InitExit(Napi::Env env, Napi::Object exports);
}  // namespace tsrun

namespace {

using tsrun::Fd;
using tsrun::Opts;
using tsrun::SyscallError;

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  auto set = [&](const char* name, int64_t value) { c.Set(name, Napi::Number::New(env, double(value))); };
  set("O_PATH", O_PATH);
  set("O_DIRECTORY", O_DIRECTORY);
  set("O_NOFOLLOW", O_NOFOLLOW);
  set("O_CLOEXEC", O_CLOEXEC);
  set("O_CREAT", O_CREAT);
  set("O_EXCL", O_EXCL);
  set("O_WRONLY", O_WRONLY);
  set("O_RDONLY", O_RDONLY);
  set("O_RDWR", O_RDWR);
  set("O_TRUNC", O_TRUNC);
  set("RESOLVE_IN_ROOT", RESOLVE_IN_ROOT);
  set("RESOLVE_BENEATH", RESOLVE_BENEATH);
  set("RESOLVE_NO_SYMLINKS", RESOLVE_NO_SYMLINKS);
  set("RESOLVE_NO_MAGICLINKS", RESOLVE_NO_MAGICLINKS);
  set("RESOLVE_NO_XDEV", RESOLVE_NO_XDEV);
  set("S_IFCHR", S_IFCHR);
  set("S_IFBLK", S_IFBLK);
  set("S_IFIFO", S_IFIFO);
  set("LOCK_SH", LOCK_SH);
  set("LOCK_EX", LOCK_EX);
  set("LOCK_NB", LOCK_NB);
  set("LOCK_UN", LOCK_UN);
  set("MNT_DETACH", MNT_DETACH);
  Napi::Object frozen = env.Global().Get("Object").As<Napi::Object>();
  frozen.Get("freeze").As<Napi::Function>().Call(frozen, {c});
  return c;
}

void MountOverlay(const Napi::CallbackInfo& info) {
  Opts o(info, "mountOverlay");
  std::string target = o.Str("target"), data = o.Str("data");
  if (mount("overlay", target.c_str(), "overlay", 0, data.c_str()) < 0)
    throw SyscallError(o.env(), errno, "mount", &target);
}

// The kernel explains a rejected fsconfig in the context's message log.
std::string FsContextLog(int fs) {
  char buf[512];
  ssize_t n = read(fs, buf, sizeof buf - 1);
  if (n <= 2) return "";
  if (buf[n - 1] == '\n') n--;
  return std::string(buf + 2, size_t(n - 2));  // drop the "e " severity prefix
}

void MountOverlayLayers(const Napi::CallbackInfo& info) {
  Opts o(info, "mountOverlayLayers");
  std::string target = o.Str("target");
  std::vector<std::string> lowers = o.StrArray("lowerDirs"), options = o.StrArray("options");
  std::string upper = o.Has("upperDir") ? o.Str("upperDir") : "";
  std::string work = o.Has("workDir") ? o.Str("workDir") : "";

  Fd fs(int(syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC)));
  if (fs.get() < 0) throw SyscallError(o.env(), errno, "fsopen", &target);
  auto config = [&](unsigned cmd, const char* key, const std::string* value) {
    if (syscall(SYS_fsconfig, fs.get(), cmd, key, value ? value->c_str() : nullptr, 0) < 0) {
      int err = errno;
      std::string what = value ? std::string(key) + "=" + *value : std::string(key ? key : "create");
      throw SyscallError(o.env(), err, "fsconfig", &what, nullptr, FsContextLog(fs.get()));
    }
  };
  // "lowerdir+" (Linux 6.8) appends one layer per call, top layer first, with
  // no page-size limit on the whole chain (DESIGN.md: past 128 layers).
  for (const std::string& dir : lowers) config(FSCONFIG_SET_STRING, "lowerdir+", &dir);
  if (!upper.empty()) config(FSCONFIG_SET_STRING, "upperdir", &upper);
  if (!work.empty()) config(FSCONFIG_SET_STRING, "workdir", &work);
  for (const std::string& opt : options) {
    size_t eq = opt.find('=');
    if (eq == std::string::npos) {
      config(FSCONFIG_SET_FLAG, opt.c_str(), nullptr);
    } else {
      std::string value = opt.substr(eq + 1);
      config(FSCONFIG_SET_STRING, opt.substr(0, eq).c_str(), &value);
    }
  }
  config(FSCONFIG_CMD_CREATE, nullptr, nullptr);
  Fd mnt(int(syscall(SYS_fsmount, fs.get(), FSMOUNT_CLOEXEC, 0)));
  if (mnt.get() < 0) throw SyscallError(o.env(), errno, "fsmount", &target, nullptr, FsContextLog(fs.get()));
  if (syscall(SYS_move_mount, mnt.get(), "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) < 0)
    throw SyscallError(o.env(), errno, "move_mount", &target);
}

void Unmount(const Napi::CallbackInfo& info) {
  Opts o(info, "unmount");
  std::string target = o.Str("target");
  if (umount2(target.c_str(), o.Int("flags")) < 0) throw SyscallError(o.env(), errno, "umount2", &target);
}

Napi::Value Openat2(const Napi::CallbackInfo& info) {
  Opts o(info, "openat2");
  int dirfd = o.Int("dirFd");
  std::string path = o.Str("path");
  struct open_how how = {};
  how.flags = uint64_t(unsigned(o.Int("flags"))) | O_CLOEXEC;
  how.resolve = o.Uint("resolve");
  // The kernel rejects a mode without O_CREAT or O_TMPFILE.
  if (how.flags & (O_CREAT | O_TMPFILE)) how.mode = o.Has("mode") ? o.Uint("mode") : 0;
  int fd = int(syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how));
  if (fd < 0) throw SyscallError(o.env(), errno, "openat2", &path);
  return Napi::Number::New(o.env(), fd);
}

void Mkdirat(const Napi::CallbackInfo& info) {
  Opts o(info, "mkdirat");
  std::string name = o.Str("name");
  if (mkdirat(o.Int("dirFd"), name.c_str(), o.Uint("mode")) < 0) throw SyscallError(o.env(), errno, "mkdirat", &name);
}

void Symlinkat(const Napi::CallbackInfo& info) {
  Opts o(info, "symlinkat");
  std::string target = o.Str("target"), name = o.Str("name");
  if (symlinkat(target.c_str(), o.Int("dirFd"), name.c_str()) < 0)
    throw SyscallError(o.env(), errno, "symlinkat", &target, &name);
}

void Linkat(const Napi::CallbackInfo& info) {
  Opts o(info, "linkat");
  std::string old_path = o.Str("oldPath"), new_name = o.Str("newName");
  if (linkat(o.Int("oldDirFd"), old_path.c_str(), o.Int("newDirFd"), new_name.c_str(), 0) < 0)
    throw SyscallError(o.env(), errno, "linkat", &old_path, &new_name);
}

void Mknodat(const Napi::CallbackInfo& info) {
  Opts o(info, "mknodat");
  std::string name = o.Str("name");
  dev_t dev = makedev(o.Uint("major"), o.Uint("minor"));
  if (mknodat(o.Int("dirFd"), name.c_str(), o.Uint("mode"), dev) < 0) throw SyscallError(o.env(), errno, "mknodat", &name);
}

// An empty name acts on the fd itself, which may be O_PATH.
int AtFlags(const std::string& name) { return AT_SYMLINK_NOFOLLOW | (name.empty() ? AT_EMPTY_PATH : 0); }

void Fchownat(const Napi::CallbackInfo& info) {
  Opts o(info, "fchownat");
  std::string name = o.Str("name");
  if (fchownat(o.Int("dirFd"), name.c_str(), o.Uint("uid"), o.Uint("gid"), AtFlags(name)) < 0)
    throw SyscallError(o.env(), errno, "fchownat", &name);
}

void Utimensat(const Napi::CallbackInfo& info) {
  Opts o(info, "utimensat");
  std::string name = o.Str("name");
  struct timespec times[2];
  times[0].tv_sec = o.Int64("atimeSec");
  times[0].tv_nsec = long(o.Integer("atimeNsec", 0, 999999999));
  times[1].tv_sec = o.Int64("mtimeSec");
  times[1].tv_nsec = long(o.Integer("mtimeNsec", 0, 999999999));
  // AT_EMPTY_PATH (Linux 5.8) rather than a NULL path: futimens-style calls
  // refuse O_PATH fds, and glibc refuses a NULL path with flags.
  if (utimensat(o.Int("dirFd"), name.c_str(), times, AtFlags(name)) < 0)
    throw SyscallError(o.env(), errno, "utimensat", &name);
}

void Unlinkat(const Napi::CallbackInfo& info) {
  Opts o(info, "unlinkat");
  std::string name = o.Str("name");
  if (unlinkat(o.Int("dirFd"), name.c_str(), o.Bool("isDir") ? AT_REMOVEDIR : 0) < 0)
    throw SyscallError(o.env(), errno, "unlinkat", &name);
}

void Fsetxattr(const Napi::CallbackInfo& info) {
  Opts o(info, "fsetxattr");
  std::string name = o.Str("name");
  Napi::Buffer<char> value = o.Buf("value");
  if (fsetxattr(o.Int("fd"), name.c_str(), value.Data(), value.Length(), 0) < 0)
    throw SyscallError(o.env(), errno, "fsetxattr", &name);
}

Napi::Value Fgetxattr(const Napi::CallbackInfo& info) {
  Opts o(info, "fgetxattr");
  int fd = o.Int("fd");
  std::string name = o.Str("name");
  for (;;) {
    ssize_t size = fgetxattr(fd, name.c_str(), nullptr, 0);
    if (size < 0 && errno == ENODATA) return o.env().Null();
    if (size < 0) throw SyscallError(o.env(), errno, "fgetxattr", &name);
    std::vector<char> buf(size_t(size) + 1);
    ssize_t n = fgetxattr(fd, name.c_str(), buf.data(), buf.size());
    if (n < 0 && errno == ERANGE) continue;  // grew between the two calls
    if (n < 0 && errno == ENODATA) return o.env().Null();
    if (n < 0) throw SyscallError(o.env(), errno, "fgetxattr", &name);
    return Napi::Buffer<char>::Copy(o.env(), buf.data(), size_t(n));
  }
}

Napi::Value Flistxattr(const Napi::CallbackInfo& info) {
  Opts o(info, "flistxattr");
  int fd = o.Int("fd");
  for (;;) {
    ssize_t size = flistxattr(fd, nullptr, 0);
    if (size < 0) throw SyscallError(o.env(), errno, "flistxattr");
    std::vector<char> buf(size_t(size) + 1);
    ssize_t n = flistxattr(fd, buf.data(), buf.size());
    if (n < 0 && errno == ERANGE) continue;
    if (n < 0) throw SyscallError(o.env(), errno, "flistxattr");
    Napi::Array names = Napi::Array::New(o.env());
    uint32_t count = 0;
    for (ssize_t i = 0; i < n;) {
      std::string entry(buf.data() + i);
      i += ssize_t(entry.size()) + 1;
      if (!entry.empty()) names.Set(count++, Napi::String::New(o.env(), entry));
    }
    return names;
  }
}

void Flock(const Napi::CallbackInfo& info) {
  Opts o(info, "flock");
  if (flock(o.Int("fd"), o.Int("op")) < 0) throw SyscallError(o.env(), errno, "flock");
}

void Syncfs(const Napi::CallbackInfo& info) {
  Opts o(info, "syncfs");
  if (syncfs(o.Int("fd")) < 0) throw SyscallError(o.env(), errno, "syncfs");
}

// fstatfsType({ fd }) -> the f_type of the filesystem holding fd (statfs(2)'s magic numbers).
Napi::Value FstatfsType(const Napi::CallbackInfo& info) {
  Opts o(info, "fstatfsType");
  struct statfs st;
  if (fstatfs(o.Int("fd"), &st) < 0) throw SyscallError(o.env(), errno, "fstatfs");
  return Napi::Number::New(o.env(), double(static_cast<unsigned long>(st.f_type)));
}

void CloseFd(const Napi::CallbackInfo& info) {
  Opts o(info, "closeFd");
  if (close(o.Int("fd")) < 0) throw SyscallError(o.env(), errno, "close");
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("constants", Constants(env));
  auto fn = [&](const char* name, auto callback) { exports.Set(name, Napi::Function::New(env, callback, name)); };
  fn("mountOverlay", MountOverlay);
  fn("mountOverlayLayers", MountOverlayLayers);
  fn("unmount", Unmount);
  fn("openat2", Openat2);
  fn("mkdirat", Mkdirat);
  fn("symlinkat", Symlinkat);
  fn("linkat", Linkat);
  fn("mknodat", Mknodat);
  fn("fchownat", Fchownat);
  fn("utimensat", Utimensat);
  fn("unlinkat", Unlinkat);
  fn("fsetxattr", Fsetxattr);
  fn("fgetxattr", Fgetxattr);
  fn("flistxattr", Flistxattr);
  fn("flock", Flock);
  fn("syncfs", Syncfs);
  fn("fstatfsType", FstatfsType);
  fn("closeFd", CloseFd);
  tsrun::InitZstd(env, exports);
  tsrun::InitProcess(env, exports);
  tsrun::InitDevices(env, exports);
  tsrun::InitTree(env, exports);
  tsrun::InitDigest(env, exports);
  tsrun::InitExit(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(tsrun_native, Init)
