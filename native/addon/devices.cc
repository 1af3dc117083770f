// Device rules on cgroup v2: loads the eBPF program that
// src/runtime/cgroups/device-filter.ts builds from the rules and attaches
// it to the container's cgroup, replacing whatever an earlier start or an
// update attached there. The new program is attached before the old ones
// are detached, so the cgroup is never without a filter (runc's order).
#include "glue.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/syscall.h>

#include <cstring>

namespace tsrun {
namespace {

long Bpf(int cmd, union bpf_attr* attr) { return syscall(__NR_bpf, cmd, attr, sizeof(*attr)); }

template <typename T>
__u64 Ptr(T* p) {
  return static_cast<__u64>(reinterpret_cast<uintptr_t>(p));
}

// BPF_PROG_ATTACH or BPF_PROG_DETACH of a device program on a cgroup.
long DeviceProgramOp(int cmd, int cgroupFd, int progFd, __u32 flags) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.target_fd = __u32(cgroupFd);
  attr.attach_bpf_fd = __u32(progFd);
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = flags;
  return Bpf(cmd, &attr);
}

// The ids of the device programs attached to this cgroup itself (not its parents').
std::vector<__u32> AttachedPrograms(Napi::Env env, int cgroupFd, const std::string& cgroup) {
  std::vector<__u32> ids(64);
  union bpf_attr q;
  memset(&q, 0, sizeof q);
  q.query.target_fd = __u32(cgroupFd);
  q.query.attach_type = BPF_CGROUP_DEVICE;
  q.query.prog_ids = Ptr(ids.data());
  q.query.prog_cnt = __u32(ids.size());
  if (Bpf(BPF_PROG_QUERY, &q) < 0) throw SyscallError(env, errno, "bpf(BPF_PROG_QUERY)", &cgroup);
  ids.resize(q.query.prog_cnt);
  return ids;
}

int LoadProgram(const Napi::Buffer<char>& insns, char* log, size_t logSize) {
  union bpf_attr load;
  memset(&load, 0, sizeof load);
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = Ptr(insns.Data());
  load.insn_cnt = __u32(insns.Length() / sizeof(struct bpf_insn));
  load.license = Ptr("Apache-2.0");
  strncpy(load.prog_name, "tsrun_devices", sizeof load.prog_name - 1);
  if (log) {
    load.log_buf = Ptr(log);
    load.log_size = __u32(logSize);
    load.log_level = 1;
  }
  return int(Bpf(BPF_PROG_LOAD, &load));
}

// attachDeviceFilter({ cgroup, program }): program is struct bpf_insn[].
void AttachDeviceFilter(const Napi::CallbackInfo& info) {
  Opts o(info, "attachDeviceFilter");
  Napi::Env env = o.env();
  std::string cgroup = o.Str("cgroup");
  Napi::Buffer<char> program = o.Buf("program");
  if (program.Length() == 0 || program.Length() % sizeof(struct bpf_insn) != 0)
    throw Napi::RangeError::New(env, "attachDeviceFilter: opts.program must hold whole eBPF instructions");

  Fd dir(open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) throw SyscallError(env, errno, "open", &cgroup);
  std::vector<__u32> old = AttachedPrograms(env, dir.get(), cgroup);

  int progFd = LoadProgram(program, nullptr, 0);
  if (progFd < 0) {
    // Load again with the verifier's log, only to say why (a log too small for it fails with ENOSPC).
    int err = errno;
    std::vector<char> log(16384, '\0');
    int again = LoadProgram(program, log.data(), log.size());
    if (again >= 0) close(again);
    // The verifier's complaint is its last line before the "processed N insns" summary.
    std::string why;
    std::string all(log.data());
    for (size_t start = 0; start < all.size();) {
      size_t end = all.find('\n', start);
      if (end == std::string::npos) end = all.size();
      std::string line = all.substr(start, end - start);
      if (!line.empty() && line.rfind("processed ", 0) != 0) why = line;
      start = end + 1;
    }
    throw SyscallError(env, err, "bpf(BPF_PROG_LOAD)", &cgroup, nullptr, why);
  }
  Fd prog(progFd);

  // ALLOW_MULTI: a nested runtime may still filter a sub-cgroup of its own; every program must allow.
  if (DeviceProgramOp(BPF_PROG_ATTACH, dir.get(), prog.get(), BPF_F_ALLOW_MULTI) < 0)
    throw SyscallError(env, errno, "bpf(BPF_PROG_ATTACH)", &cgroup);

  for (__u32 id : old) {
    union bpf_attr get;
    memset(&get, 0, sizeof get);
    get.prog_id = id;
    int fd = int(Bpf(BPF_PROG_GET_FD_BY_ID, &get));
    if (fd < 0 && errno == ENOENT) continue;  // detached meanwhile
    if (fd < 0) throw SyscallError(env, errno, "bpf(BPF_PROG_GET_FD_BY_ID)", &cgroup);
    Fd oldProg(fd);
    if (DeviceProgramOp(BPF_PROG_DETACH, dir.get(), oldProg.get(), 0) < 0 && errno != ENOENT)
      throw SyscallError(env, errno, "bpf(BPF_PROG_DETACH)", &cgroup);
  }
}

}  // namespace

void InitDevices(Napi::Env env, Napi::Object exports) {
  exports.Set("attachDeviceFilter", Napi::Function::New(env, AttachDeviceFilter, "attachDeviceFilter"));
}

}  // namespace tsrun
