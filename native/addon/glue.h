// What every addon file shares: the one-options-object argument reader, the
// Node-shaped syscall error, and an fd that closes itself.
#pragma once

#include <napi.h>
#include <uv.h>

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace tsrun {

// Closes on scope exit, so a throw in the middle leaks no fd.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Hands the fd on (to a DIR*, say): no longer closed here.
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

inline Napi::Error SyscallError(Napi::Env env, int err, const char* syscall, const std::string* path = nullptr,
                         const std::string* dest = nullptr, const std::string& note = "") {
  std::string msg = std::string(uv_err_name(-err)) + ": " + uv_strerror(-err) + ", " + syscall;
  if (path) msg += " '" + *path + "'";
  if (dest) msg += " -> '" + *dest + "'";
  if (!note.empty()) msg += " (" + note + ")";
  Napi::Error error = Napi::Error::New(env, msg);
  Napi::Object obj = error.Value();
  obj.Set("errno", Napi::Number::New(env, -err));
  obj.Set("code", Napi::String::New(env, uv_err_name(-err)));
  obj.Set("syscall", Napi::String::New(env, syscall));
  if (path) obj.Set("path", Napi::String::New(env, *path));
  if (dest) obj.Set("dest", Napi::String::New(env, *dest));
  return error;
}

// Reads and type-checks the fields of the one options object.
class Opts {
 public:
  Opts(const Napi::CallbackInfo& info, const char* fn) : env_(info.Env()), fn_(fn) {
    if (info.Length() != 1 || !info[0].IsObject() || info[0].IsArray())
      throw Napi::TypeError::New(env_, std::string(fn) + ": expected one options object");
    obj_ = info[0].As<Napi::Object>();
  }

  Napi::Env env() const { return env_; }

  int64_t Integer(const char* key, double min, double max) {
    Napi::Value v = obj_.Get(key);
    if (!v.IsNumber()) Fail(key, "must be a number");
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::trunc(d) != d) Fail(key, "must be an integer");
    if (d < min || d > max) throw Napi::RangeError::New(env_, Message(key, "is out of range"));
    return static_cast<int64_t>(d);
  }
  int Int(const char* key) { return static_cast<int>(Integer(key, INT32_MIN, INT32_MAX)); }
  unsigned Uint(const char* key) { return static_cast<unsigned>(Integer(key, 0, UINT32_MAX)); }
  int64_t Int64(const char* key) { return Integer(key, -9007199254740991.0, 9007199254740991.0); }

  bool Has(const char* key) { return !obj_.Get(key).IsUndefined(); }

  std::string Str(const char* key) {
    Napi::Value v = obj_.Get(key);
    if (!v.IsString()) Fail(key, "must be a string");
    return Checked(key, v.As<Napi::String>().Utf8Value());
  }

  bool Bool(const char* key) {
    Napi::Value v = obj_.Get(key);
    if (!v.IsBoolean()) Fail(key, "must be a boolean");
    return v.As<Napi::Boolean>().Value();
  }

  std::vector<std::string> StrArray(const char* key) {
    Napi::Value v = obj_.Get(key);
    if (!v.IsArray()) Fail(key, "must be an array of strings");
    Napi::Array arr = v.As<Napi::Array>();
    std::vector<std::string> out;
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value e = arr.Get(i);
      if (!e.IsString()) Fail(key, "must be an array of strings");
      out.push_back(Checked(key, e.As<Napi::String>().Utf8Value()));
    }
    return out;
  }

  std::vector<int> IntArray(const char* key) {
    Napi::Value v = obj_.Get(key);
    if (!v.IsArray()) Fail(key, "must be an array of integers");
    Napi::Array arr = v.As<Napi::Array>();
    std::vector<int> out;
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value e = arr.Get(i);
      if (!e.IsNumber()) Fail(key, "must be an array of integers");
      double d = e.As<Napi::Number>().DoubleValue();
      if (std::trunc(d) != d || d < INT32_MIN || d > INT32_MAX) Fail(key, "must be an array of integers");
      out.push_back(static_cast<int>(d));
    }
    return out;
  }

  Napi::Buffer<char> Buf(const char* key) {
    Napi::Value v = obj_.Get(key);
    if (!v.IsBuffer()) Fail(key, "must be a Buffer");
    return v.As<Napi::Buffer<char>>();
  }

 private:
  std::string Message(const char* key, const char* what) const {
    return std::string(fn_) + ": opts." + key + " " + what;
  }
  [[noreturn]] void Fail(const char* key, const char* what) const {
    throw Napi::TypeError::New(env_, Message(key, what));
  }
  // A NUL would silently cut the path the kernel sees.
  std::string Checked(const char* key, std::string s) const {
    if (s.find('\0') != std::string::npos) Fail(key, "must not contain NUL bytes");
    return s;
  }

  Napi::Env env_;
  Napi::Object obj_;
  const char* fn_;
};

}  // namespace tsrun
