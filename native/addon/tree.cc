// Deleting a directory tree in one call: src/store/remove-tree.ts walked it
// with readdirSync/lstatSync/unlinkSync, ~2.5 ms for a fresh container's
// three dozen entries in a short-lived (cold) Node, where rm -rf spends
// 0.4 ms in the kernel.
//
// What a container wrote is hostile input. So the walk:
// - opens every directory relative to its parent with openat2(2)'s
//   RESOLVE_NO_XDEV and RESOLVE_NO_SYMLINKS: no symlink is followed, and no
//   mount is entered, a bind mount of the same filesystem included (its
//   st_dev would not tell);
// - holds one directory open at a time, as fts(3) does, and climbs back with
//   "..", checked against the device and inode it left: a tree as deep as a
//   container can make with mkdirat (past PATH_MAX, past the fd limit) costs
//   a name a level, not an fd and a readdir buffer.
#include "glue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

namespace tsrun {
namespace {

class Walk {
 public:
  explicit Walk(Napi::Env env) : env_(env) {}
  ~Walk() {
    if (cur_ != nullptr) closedir(cur_);
  }

  void Run(const std::string& top) {
    top_ = top;
    // The top itself may sit below mounts (the store's own): it is opened as it is, never through a symlink.
    int fd = open(top.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) Fail(errno, "open", top);
    Enter(fd);
    for (;;) {
      errno = 0;
      struct dirent* e = readdir(cur_);
      if (e == nullptr) {
        if (errno != 0) Fail(errno, "readdir", Where());
        if (up_.empty()) break;
        Ascend();
        continue;
      }
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      bool isDir = e->d_type == DT_DIR;
      if (e->d_type == DT_UNKNOWN) {
        struct stat st;
        if (fstatat(dirfd(cur_), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) Fail(errno, "fstatat", Where(name));
        isDir = S_ISDIR(st.st_mode);
      }
      if (isDir) Descend(name);
      else if (unlinkat(dirfd(cur_), name.c_str(), 0) < 0) Fail(errno, "unlink", Where(name));
    }
    closedir(cur_);
    cur_ = nullptr;
    if (rmdir(top.c_str()) < 0) Fail(errno, "rmdir", top);
  }

 private:
  // Makes fd (a directory just opened) the one being emptied.
  void Enter(int fd) {
    struct stat st;
    if (fstat(fd, &st) < 0) {
      int err = errno;
      close(fd);
      Fail(err, "fstat", Where());
    }
    cur_ = fdopendir(fd);
    if (cur_ == nullptr) {
      int err = errno;
      close(fd);
      Fail(err, "fdopendir", Where());
    }
    here_ = {st.st_dev, st.st_ino};
  }

  int OpenBelow(int dir, const char* name, const std::string& where) {
    struct open_how how = {};
    how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    int fd = int(syscall(SYS_openat2, dir, name, &how, sizeof how));
    if (fd >= 0) return fd;
    int err = errno;
    if (err == EXDEV) throw Napi::Error::New(env_, "refusing to delete " + where + ": it is a mount point");
    Fail(err, "openat2", where);
  }

  void Descend(const std::string& name) {
    std::string where = Where(name);
    int fd = OpenBelow(dirfd(cur_), name.c_str(), where);
    up_.push_back({here_, name});
    closedir(cur_);
    cur_ = nullptr;
    Enter(fd);
  }

  // The directory being emptied is empty: back to its parent, which removes it and lists what it has left.
  void Ascend() {
    std::string where = Where();
    int parent = OpenBelow(dirfd(cur_), "..", where + "/..");
    struct stat st;
    if (fstat(parent, &st) < 0 || st.st_dev != up_.back().first.first || st.st_ino != up_.back().first.second) {
      close(parent);
      throw Napi::Error::New(env_, "refusing to go on deleting " + top_ + ": " + where + " was moved meanwhile");
    }
    std::string name = up_.back().second;
    up_.pop_back();
    closedir(cur_);
    cur_ = nullptr;
    if (unlinkat(parent, name.c_str(), AT_REMOVEDIR) < 0) {
      int err = errno;
      close(parent);
      Fail(err, "rmdir", where);
    }
    Enter(parent);
  }

  // For messages only: the kernel is never handed this path.
  std::string Where(const std::string& below = "") const {
    std::string p = top_;
    for (const auto& level : up_) p += "/" + level.second;
    return below.empty() ? p : p + "/" + below;
  }

  [[noreturn]] void Fail(int err, const char* syscall, const std::string& where) { throw SyscallError(env_, err, syscall, &where); }

  Napi::Env env_;
  std::string top_;
  DIR* cur_ = nullptr;
  std::pair<dev_t, ino_t> here_;
  // Each level above the current one: its device and inode, and the name it has the next level under.
  std::vector<std::pair<std::pair<dev_t, ino_t>, std::string>> up_;
};

// removeTree({ path }): deletes the directory path and everything in it,
// without following a symlink or entering a mount.
void RemoveTree(const Napi::CallbackInfo& info) {
  Opts o(info, "removeTree");
  Walk(o.env()).Run(o.Str("path"));
}

}  // namespace

void InitTree(Napi::Env env, Napi::Object exports) {
  exports.Set("removeTree", Napi::Function::New(env, RemoveTree, "removeTree"));
}

}  // namespace tsrun
