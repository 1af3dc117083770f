/*
 * The launch plan: what TypeScript decided, in a form the monitor can parse
 * without a JSON library. It is the OCI runtime config (config.json) with
 * every choice already made: mount options turned into MS_* flags, default
 * devices listed, the user resolved to numbers, PATH known.
 *
 * Wire format (written by src/runtime/plan/launch-plan.ts): a sequence of
 * NUL-terminated strings. Each record is a keyword followed by a fixed number
 * of arguments. Numbers are decimal text (a leading zero is refused, so an
 * octal mode sent by mistake fails); MS_* flags may also be written as names
 * joined by '|'. The plan ends with the record "end". Absent records default
 * to: propagation MS_REC|MS_SLAVE, cwd "/", user 0 0, umask unchanged.
 * "ns mnt" is required, and "ns uts" with a hostname: without them the ladder
 * would change the host's mounts or hostname.
 *
 * Two modes. A run plan (root + ns) creates a container. An exec plan (join
 * + joinns) starts one more process in a running container: it has no root,
 * ns, nspath, propagation, hostname, mount, device, symlink, masked,
 * readonly, startfifo, unmount, exitcmd, exitcmdif, sysctl, rootro, uidmap, gidmap or
 * rootlower/rootlayer/rootopt records, no "mkcwd 1" or "loopback 1", and
 * must join the mount namespace.
 *
 *   root       <host path of the rootfs (the overlay merged dir)>
 *   ns         <mnt|pid|uts|ipc|net|cgroup|user>     new namespace to create; with "user"
 *                                                      every other new one is owned by it, and
 *                                                      the uidmap and gidmap records are required
 *   rootlower  <host path>                             with ns user, instead of binding root: the
 *                                                      root is an overlay the monitor mounts in the
 *                                                      child's mount namespace on the root path,
 *                                                      from these lower dirs (closest first, at most
 *                                                      500) and rootlayer, each an idmapped mount
 *                                                      (the namespace's ids seen as the files' own,
 *                                                      so the container's root owns what the host's
 *                                                      root owns on disk, and what it writes lands
 *                                                      with its own ids inside). Linux 5.19
 *   rootlayer  <host dir>                              the writable layer: <dir>/diff is the upper
 *                                                      dir, <dir>/work the work dir
 *   rootopt    <key[=value]>                           one more overlay option (index=off)
 *   uidmap     <inside> <outside> <count>              a line of the user namespace's uid_map
 *   gidmap     <inside> <outside> <count>              ... and of its gid_map (repeatable, at most
 *                                                      340 each, the kernel's limit). A new one's
 *                                                      are written by the monitor from the host
 *                                                      while the child waits, a joined one's
 *                                                      compared; uid 0 and gid 0 must be mapped,
 *                                                      as must the process's user and groups
 *   propagation <MS_* flags for "/" in the new mount namespace, e.g. MS_REC|MS_SLAVE>
 *   hostname   <name>
 *   keyring    <name>                                  a session keyring of its own, so named (runc's
 *                                                      _ses.<id>), not the caller's (run and exec)
 *   mount      <dest> <type> <source> <flags> <data> <kind>
 *              dest is absolute inside the container; kind is "dir" or "file"
 *              (what to create when dest is missing), or "copyup": a dir whose
 *              files are copied into the new mount (runc's tmpcopyup, for a
 *              tmpfs over image content); MS_BIND|MS_RDONLY is applied as a
 *              bind followed by a read-only remount. "dir+idmap" and
 *              "file+idmap" (ns user, binds only): the source is mounted
 *              idmapped with the container's maps (OCI's idmap mount
 *              option), so its files' owners are the container's ids;
 *              "+ridmap": every mount of an rbind's tree, not only its top.
 *   device     <path> <c|b|p> <major> <minor> <mode> <uid> <gid>
 *   symlink    <link path in container> <target>
 *   masked     <path>                                 (bind /dev/null, or ro tmpfs on a dir)
 *   readonly   <path>                                 (bind onto itself, remount ro)
 *   env        <KEY=VALUE>
 *   arg        <argv element>                         (at least one)
 *   cwd        <absolute path in the container>
 *   mkcwd      <0|1>                                   create cwd (0755) when missing
 *   user       <uid> <gid>
 *   group      <gid>                                   supplementary group (repeatable)
 *   umask      <mask>
 *   rlimit     <RLIMIT_* number> <soft> <hard>          ("-1" means infinity)
 *   nonewprivs <0|1>
 *   caps       <bounding> <effective> <permitted> <inheritable> <ambient>
 *                                                      capability sets as 64-bit masks (bit N =
 *                                                      capability N), decimal. Absent: the
 *                                                      process keeps the monitor's (all of them)
 *   seccomp    <hex of a struct sock_filter[]>          the filter installed as the last rung before
 *                                                      execve (after no_new_privs and close_range;
 *                                                      without nonewprivs, before the capabilities
 *                                                      are dropped, as installing it then needs
 *                                                      CAP_SYS_ADMIN). 8 bytes an instruction in
 *                                                      the kernel's layout, 1..4096 of them. Absent:
 *                                                      no filter
 *   sysctl     <path under /proc/sys/> <value>         written after pivot_root, before the
 *                                                      read-only paths (run mode only)
 *   rootro     <0|1>                                   remount the root read-only after pivot_root
 *   loopback   <0|1>                                   bring up lo in the new net namespace
 *   log        <host path>                             container stdout/stderr go to this
 *                                                      file as docker json-file lines
 *   logrotate  <max bytes> <files>                     once the log reaches max bytes, it
 *                                                      becomes PATH.1 (PATH.1 PATH.2, ...,
 *                                                      keeping files in all) and a new one
 *                                                      starts; files 1: it starts over
 *   attach     <0|1>                                   copy container stdout/stderr to the
 *                                                      monitor's fds 1 and 2
 *   stdin      <0|1>                                   the container's stdin is the monitor's
 *                                                      fd 0 (or, with a tty, copied to the
 *                                                      terminal); otherwise /dev/null
 *   tty        <0|1>                                   give the process a terminal from the
 *                                                      container's devpts (/dev/ptmx)
 *   winsize    <rows> <cols>                           the terminal's size when the monitor's
 *                                                      fd 0 is not a terminal
 *   startfifo  <host path>                             created state: wait before execve until
 *                                                      a reader opens this FIFO (runc's exec.fifo);
 *                                                      opened and chowned by the monitor to the
 *                                                      host uid the process runs as
 *   join       <host pid>                              exec mode: a process of the container
 *   joinns     <mnt|pid|uts|ipc|net|cgroup|user>       exec mode: namespace of it to join (the
 *                                                      monitor joins all but user; the child
 *                                                      joins the user namespace itself, so the
 *                                                      monitor keeps the host's privileges)
 *   exitfile   <host path>                             monitor writes the exit status here
 *                                                      (JSON; write_exit_file in monitor/main.c)
 *   unmount    <host path>                             monitor unmounts this after the exit
 *   exitcmd    <argv element>                          monitor execs this argv last (repeatable)
 *   exitcmdif  <file name>                             ... only if this file exists beside the
 *                                                      exitfile (a flag its caller may set or
 *                                                      clear while the container runs)
 *   cgroup     <host path of a cgroup.procs file>      the monitor writes the new process's pid
 *                                                      into each (opened before clone/setns)
 *                                                      while the child waits on a sync pipe,
 *                                                      before any rung of its ladder (repeatable).
 *                                                      run mode: the monitor also removes each
 *                                                      file's directory after the exit
 *   passthrough <0|1>                                  without a tty: the process gets the monitor's
 *                                                      own fds 0-2 (no pipes, no log); the OCI
 *                                                      runtime's default, as runc's
 *   detach     <0|1>                                   the monitor exits once it has reported
 *                                                      CREATED or STARTED, so the process is
 *                                                      reparented to the caller's subreaper
 *                                                      (conmon, containerd's shim), which then
 *                                                      owns it; no parent-death signal is set
 *   netif      <name> <ipv4> <prefix len> <gateway|"">   an interface the caller put into the new net
 *                                                      namespace (a veth end, while the ladder waited
 *                                                      at hookpause): given this address, brought up
 *                                                      and, with a gateway, the default route
 *   attachsock <host path>                             the container's stdin comes from clients of
 *                                                      this AF_UNIX socket, one at a time (docker
 *                                                      attach; created, the monitor listens there
 *                                                      until the exit): with a tty copied to the
 *                                                      terminal, otherwise through a pipe that stays
 *                                                      open while no client is connected
 *   consolesocket <host path>                          with a tty: the pty master is sent to this
 *                                                      AF_UNIX socket (SCM_RIGHTS, runc's
 *                                                      --console-socket) instead of being copied
 *   nspath     user <host path>                        join this user namespace (a pod's) instead of
 *                                                      making one: the monitor forks a helper that
 *                                                      enters it and clones the process with
 *                                                      CLONE_PARENT, so every new namespace is
 *                                                      owned by it; uidmap and gidmap must be its
 *                                                      maps (checked, never written)
 *   nspath     <pid|uts|ipc|net|cgroup> <host path>    join this existing namespace instead of
 *                                                      creating one (run mode): the monitor
 *                                                      joins it before clone (a cgroup namespace
 *                                                      without a user namespace: the child, so
 *                                                      CLONE_INTO_CGROUP keeps working), so the child is
 *                                                      born in it (before a new user namespace,
 *                                                      from inside which a host-owned one could
 *                                                      not be joined: runc's order), and goes
 *                                                      back to its own after
 *   cgroupself <0|1>                                   the cgroup files are v1 `tasks` files and the
 *                                                      new process moves itself, writing "0" into
 *                                                      each as its first rung: one thread moving
 *                                                      itself skips the global threadgroup lock and
 *                                                      its RCU grace period (~10-20 ms a write of a
 *                                                      pid into cgroup.procs costs on v1)
 *   hookpause  <0|1>                                   the child stops after its mounts, before
 *                                                      pivot_root: the monitor reports PAUSED
 *                                                      and waits for a byte on the report socket
 *                                                      (the OCI createRuntime/prestart hooks run
 *                                                      meanwhile, in the runtime's namespaces)
 *   oomfile    <host path>                             memory.oom_control (v1) or memory.events
 *                                                      (v2): a nonzero "oom_kill N" line read at
 *                                                      the exit adds "oomKilled":true to the
 *                                                      exit file (run mode only)
 *   end
 */
#ifndef CTR_PLAN_H
#define CTR_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include "libc_compat.h"
#include <sys/resource.h>
#include <linux/filter.h>

#define CTR_PLAN_MAX_BYTES (1u << 20)
#define CTR_MAX_NS 8
#define CTR_MAX_MOUNTS 256
#define CTR_MAX_DEVICES 1024 /* --privileged lists every host device */
#define CTR_MAX_SYMLINKS 64
#define CTR_MAX_PATHS 64
#define CTR_MAX_ENV 4096
#define CTR_MAX_ARGS 4096
#define CTR_MAX_GROUPS 64
#define CTR_MAX_RLIMITS 16
#define CTR_MAX_EXITCMD 64
#define CTR_MAX_WINSIZE 65535
#define CTR_MAX_SYSCTLS 64
#define CTR_MAX_CGROUPS 16
#define CTR_MAX_CGROUPS_LATE 4
#define CTR_MAX_NSPATHS 5
#define CTR_MAX_HOOKS 16
#define CTR_MAX_HOOK_WORDS 1024
#define CTR_MAX_SECCOMP BPF_MAXINSNS
#define CTR_MAX_IDMAP 340 /* lines of a uid_map or gid_map (Linux 4.15+) */
#define CTR_MAX_LOWERS 500 /* overlayfs's own limit on lower layers */
#define CTR_MAX_ROOT_OPTS 8

struct ctr_mount {
  const char *dest, *type, *source, *data;
  unsigned long flags;
  int is_file;
  int copyup; /* kind "copyup": the directory's files are copied into the new mount */
  int idmap;  /* kinds "dir+idmap", "file+idmap": a bind seen through the user namespace's maps
               * (2: "+ridmap", every mount of an rbind's tree, not only its top one) */
};

struct ctr_device {
  const char *path;
  char kind; /* 'c', 'b' or 'p' */
  unsigned major, minor, mode, uid, gid;
};

struct ctr_symlink {
  const char *path, *target;
};

struct ctr_sysctl {
  const char *path, *value;
};

struct ctr_caps {
  unsigned long long bounding, effective, permitted, inheritable, ambient;
};

struct ctr_nspath {
  int flag; /* CLONE_NEW* */
  const char *path;
};

/* An OCI startContainer hook: argv and env point into ctr_plan.hook_words, each NULL-terminated. */
struct ctr_hook {
  const char *path;
  unsigned timeout; /* seconds; 0: none */
  char **argv, **env;
};

/* One line of a uid_map or gid_map: inside..inside+count-1 are outside.. on the host. */
struct ctr_idmap {
  unsigned inside, outside, count;
};

struct ctr_rlimit {
  int resource;
  struct rlimit limit;
};

struct ctr_plan {
  const char *root;
  int clone_flags; /* CLONE_NEW* */
  unsigned long propagation;
  const char *hostname;
  const char *keyring; /* NULL: the caller's session keyring is kept (runc's --no-new-keyring) */
  struct ctr_mount mounts[CTR_MAX_MOUNTS];
  size_t n_mounts;
  struct ctr_device devices[CTR_MAX_DEVICES];
  size_t n_devices;
  struct ctr_symlink symlinks[CTR_MAX_SYMLINKS];
  size_t n_symlinks;
  const char *masked[CTR_MAX_PATHS];
  size_t n_masked;
  const char *readonly[CTR_MAX_PATHS];
  size_t n_readonly;
  char *env[CTR_MAX_ENV + 1];  /* NULL-terminated, for execve */
  size_t n_env;
  char *argv[CTR_MAX_ARGS + 1]; /* NULL-terminated */
  size_t n_args;
  const char *cwd;
  int mkcwd;
  unsigned uid, gid;
  unsigned groups[CTR_MAX_GROUPS];
  size_t n_groups;
  int umask; /* -1: leave as is */
  const char *apparmor; /* process.apparmorProfile: the profile execve enters; NULL: none */
  int has_oom_score_adj;
  int oom_score_adj; /* -1000..1000 */
  struct ctr_rlimit rlimits[CTR_MAX_RLIMITS];
  size_t n_rlimits;
  int no_new_privs;
  struct sock_filter seccomp[CTR_MAX_SECCOMP];
  size_t n_seccomp; /* 0: no filter */
  int has_caps;
  struct ctr_caps caps;
  /* /proc/sys/kernel/cap_last_cap, read by the monitor before clone (not from the wire). */
  int cap_last;
  struct ctr_sysctl sysctls[CTR_MAX_SYSCTLS];
  size_t n_sysctls;
  int root_readonly;
  int loopback;
  int attach;
  int stdin_open;
  int tty;
  unsigned short ws_rows, ws_cols; /* 0 0: no initial size from the plan */
  const char *start_fifo;
  int join_pid;   /* exec mode when > 0 */
  int join_flags; /* CLONE_NEW* of the namespaces to join */
  int has_propagation;
  const char *log_path;
  unsigned long log_max; /* logrotate: 0 none */
  unsigned log_files;
  const char *exit_file;
  const char *unmount_path;
  char *exitcmd[CTR_MAX_EXITCMD + 1];
  size_t n_exitcmd;
  const char *exitcmd_if; /* a name in exit_file's directory, or NULL: always */
  const char *cgroups[CTR_MAX_CGROUPS]; /* cgroup.procs files, or tasks files with cgroup_self */
  size_t n_cgroups;
  /* cgroup.procs files the monitor writes the process's pid into once it
   * has reported it started: membership only (a v1 host's cgroup2), where
   * a cgroup.procs write waits out an RCU grace period (~10-20 ms). */
  const char *cgroups_late[CTR_MAX_CGROUPS_LATE];
  size_t n_cgroups_late;
  int cgroup_self;
  const char *oom_file;
  int passthrough;
  int detach;
  const char *console_socket;
  const char *attach_sock;
  /* netif: one interface; addresses in network byte order, gateway 0 for none. */
  int has_netif;
  struct {
    const char *name;
    uint32_t addr, gateway;
    unsigned prefix;
  } netif;
  struct ctr_nspath nspaths[CTR_MAX_NSPATHS];
  size_t n_nspaths;
  struct ctr_idmap uidmap[CTR_MAX_IDMAP], gidmap[CTR_MAX_IDMAP];
  size_t n_uidmap, n_gidmap;
  const char *userns_path; /* nspath user: the user namespace joined (run mode) */
  const char *root_lowers[CTR_MAX_LOWERS]; /* rootlower: the idmapped overlay root */
  size_t n_root_lowers;
  const char *root_layer;
  const char *root_opts[CTR_MAX_ROOT_OPTS];
  size_t n_root_opts;
  /* Not on the wire: the monitor's argv (--preserve-fds=N, runc's flag).
   * Its fds 5..5+N-1 become the process's 3..3+N-1. */
  unsigned preserve_fds;
  int hook_pause;
  struct ctr_hook start_hooks[CTR_MAX_HOOKS];
  size_t n_start_hooks;
  char *hook_words[CTR_MAX_HOOK_WORDS];
  size_t n_hook_words;
  const char *hook_state; /* the state JSON up to its pid: the init writes its pid and "}" */
};

/* Parses buf[0..len) (which must end in NUL) into plan; pointers point into
 * buf. Returns 0, or -EINVAL with *bad_record set to the offending keyword. */
int ctr_plan_parse(char *buf, size_t len, struct ctr_plan *plan, const char **bad_record);

/* Checks what the parser cannot: absolute paths, no "..", argv present, a
 * mount namespace, and that an exec plan has only exec records. Returns 0, or
 * -EINVAL with *what set to the offending path, the keyword of a record that
 * does not belong, or, for something missing, its keyword ("root", "arg",
 * "ns mnt", "ns uts", "joinns mnt", "join"). */
int ctr_plan_validate(const struct ctr_plan *plan, const char **what);

/* Whether the monitor sends the child an fd for mount record m in a user
 * namespace (send_child_mounts, receive_child_mounts): every bind, in mount
 * order. One test on both ends of that exchange. */
static inline int ctr_mount_from_monitor(const struct ctr_mount *m)
{
  /* child: async-signal-safe */
  return (m->flags & MS_BIND) != 0;
}

/* Whether the process runs in a user namespace: its own (run: "ns user"),
 * one joined by path (run: "nspath user"), or the container's (exec:
 * "joinns user"). */
int ctr_plan_userns(const struct ctr_plan *plan);

/* The host id an id inside the user namespace maps to, through `map`;
 * (unsigned)-1 when it is not mapped. */
unsigned ctr_idmap_host(const struct ctr_idmap *map, size_t n, unsigned inside);

#endif
