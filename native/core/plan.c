/*
 * Parses and validates the plan (wire format in plan.h) in the monitor,
 * before clone, so the child only ever reads a checked struct.
 */
#define _GNU_SOURCE
#include "plan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include "libc_compat.h"

#include "safe.h"

#define MAX_ARGS_PER_RECORD 7

static const struct {
  const char *name;
  int flag;
} namespaces[] = {
  { "mnt", CLONE_NEWNS },   { "pid", CLONE_NEWPID }, { "uts", CLONE_NEWUTS },
  { "ipc", CLONE_NEWIPC },  { "net", CLONE_NEWNET }, { "cgroup", CLONE_NEWCGROUP },
  { "user", CLONE_NEWUSER },
};

static const struct {
  const char *name;
  unsigned long flag;
} mount_flags[] = {
  { "MS_RDONLY", MS_RDONLY },         { "MS_NOSUID", MS_NOSUID },
  { "MS_NODEV", MS_NODEV },           { "MS_NOEXEC", MS_NOEXEC },
  { "MS_SYNCHRONOUS", MS_SYNCHRONOUS }, { "MS_REMOUNT", MS_REMOUNT },
  { "MS_MANDLOCK", MS_MANDLOCK },     { "MS_DIRSYNC", MS_DIRSYNC },
  { "MS_NOSYMFOLLOW", MS_NOSYMFOLLOW }, { "MS_NOATIME", MS_NOATIME },
  { "MS_NODIRATIME", MS_NODIRATIME }, { "MS_BIND", MS_BIND },
  { "MS_MOVE", MS_MOVE },             { "MS_REC", MS_REC },
  { "MS_SILENT", MS_SILENT },         { "MS_UNBINDABLE", MS_UNBINDABLE },
  { "MS_PRIVATE", MS_PRIVATE },       { "MS_SLAVE", MS_SLAVE },
  { "MS_SHARED", MS_SHARED },         { "MS_RELATIME", MS_RELATIME },
  { "MS_STRICTATIME", MS_STRICTATIME }, { "MS_LAZYTIME", MS_LAZYTIME },
};

/* Decimal only; a leading zero is refused so an octal mode sent by mistake fails loudly. */
static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
  unsigned long v = 0;

  if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
    return -1;
  for (; *s; s++) {
    unsigned d = (unsigned)(*s - '0');

    if (d > 9 || v > (max - d) / 10)
      return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

static int parse_uint(const char *s, unsigned *out)
{
  unsigned long v;

  if (parse_ulong(s, 0xffffffffUL, &v) < 0)
    return -1;
  *out = (unsigned)v;
  return 0;
}

static int parse_mask(const char *s, unsigned long long *out)
{
  unsigned long v;

  if (parse_ulong(s, (unsigned long)-1, &v) < 0)
    return -1;
  *out = v;
  return 0;
}

static int parse_bool(const char *s, int *out)
{
  if (!ctr_streq(s, "0") && !ctr_streq(s, "1"))
    return -1;
  *out = s[0] == '1';
  return 0;
}

static int parse_rlim(const char *s, rlim_t *out)
{
  unsigned long v;

  if (ctr_streq(s, "-1")) {
    *out = RLIM_INFINITY;
    return 0;
  }
  if (parse_ulong(s, (unsigned long)-2, &v) < 0)
    return -1;
  *out = v;
  return 0;
}

/* A decimal number, or MS_* names joined by '|'. */
static int parse_mount_flags(const char *s, unsigned long *out)
{
  unsigned long v = 0;

  if (*s >= '0' && *s <= '9')
    return parse_ulong(s, (unsigned long)-1, out);
  while (*s) {
    size_t len = strcspn(s, "|"), i;

    for (i = 0; i < sizeof mount_flags / sizeof mount_flags[0]; i++)
      if (strlen(mount_flags[i].name) == len && memcmp(mount_flags[i].name, s, len) == 0)
        break;
    if (i == sizeof mount_flags / sizeof mount_flags[0])
      return -1;
    v |= mount_flags[i].flag;
    s += len;
    if (*s == '|' && *++s == '\0')
      return -1;
  }
  if (v == 0)
    return -1;
  *out = v;
  return 0;
}

static int hex_digit(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* Lowercase hex of whole 8-byte instructions, copied as they are: TypeScript compiled them. */
static int parse_seccomp(const char *s, struct ctr_plan *p)
{
  size_t len = strlen(s), i;
  unsigned char *out = (unsigned char *)p->seccomp;

  if (len == 0 || len % (2 * sizeof(struct sock_filter)) != 0 ||
      len / 2 > sizeof p->seccomp)
    return -1;
  for (i = 0; i < len; i += 2) {
    int h = hex_digit(s[i]), l = hex_digit(s[i + 1]);

    if (h < 0 || l < 0)
      return -1;
    out[i / 2] = (unsigned char)(h << 4 | l);
  }
  p->n_seccomp = len / (2 * sizeof(struct sock_filter));
  return 0;
}

static int parse_winsize(const char *s, unsigned short *out)
{
  unsigned long v;

  if (parse_ulong(s, CTR_MAX_WINSIZE, &v) < 0)
    return -1;
  *out = (unsigned short)v;
  return 0;
}

static int parse_ns(const char *s, int *flags)
{
  size_t i;

  for (i = 0; i < sizeof namespaces / sizeof namespaces[0]; i++) {
    if (ctr_streq(s, namespaces[i].name)) {
      *flags |= namespaces[i].flag;
      return 0;
    }
  }
  return -1;
}

/* Scalars only: the arrays are large and stay untouched (not resident) until used. */
static void reset(struct ctr_plan *p)
{
  p->root = NULL;
  p->clone_flags = 0;
  p->propagation = MS_REC | MS_SLAVE;
  p->hostname = NULL;
  p->keyring = NULL;
  p->n_mounts = p->n_devices = p->n_symlinks = p->n_masked = p->n_readonly = 0;
  p->n_env = p->n_args = p->n_groups = p->n_rlimits = p->n_exitcmd = 0;
  p->cwd = "/";
  p->mkcwd = 0;
  p->uid = p->gid = 0;
  p->umask = -1;
  p->has_oom_score_adj = 0;
  p->apparmor = NULL;
  p->no_new_privs = 0;
  p->n_seccomp = 0;
  p->has_caps = 0;
  p->cap_last = -1;
  p->n_sysctls = 0;
  p->root_readonly = 0;
  p->loopback = 0;
  p->attach = p->stdin_open = p->tty = 0;
  p->ws_rows = p->ws_cols = 0;
  p->start_fifo = NULL;
  p->join_pid = 0;
  p->join_flags = 0;
  p->has_propagation = 0;
  p->passthrough = p->detach = p->cgroup_self = 0;
  p->preserve_fds = 0;
  p->hook_pause = 0;
  p->n_start_hooks = p->n_hook_words = 0;
  p->hook_state = NULL;
  p->console_socket = NULL;
  p->attach_sock = NULL;
  p->has_netif = 0;
  p->n_nspaths = 0;
  p->n_uidmap = p->n_gidmap = 0;
  p->userns_path = NULL;
  p->n_root_lowers = p->n_root_opts = 0;
  p->root_layer = NULL;
  p->log_path = p->exit_file = p->unmount_path = p->exitcmd_if = NULL;
  p->log_max = 0;
  p->log_files = 0;
  p->n_cgroups = 0;
  p->n_cgroups_late = 0;
  p->oom_file = NULL;
}

/* A hook's argv or env: the words of one field, split at 0x1f in place,
 * into hook_words with a NULL after them. NULL when hook_words is full. */
static char **split_words(struct ctr_plan *p, char *s)
{
  char **start = &p->hook_words[p->n_hook_words];
  char *sep;

  /* An empty field is no words; otherwise every word counts, an empty last one too. */
  if (*s) {
    for (;;) {
      if (p->n_hook_words + 1 >= CTR_MAX_HOOK_WORDS)
        return NULL;
      p->hook_words[p->n_hook_words++] = s;
      if (!(sep = strchr(s, '\x1f')))
        break;
      *sep = '\0';
      s = sep + 1;
    }
  }
  if (p->n_hook_words >= CTR_MAX_HOOK_WORDS)
    return NULL;
  p->hook_words[p->n_hook_words++] = NULL;
  return start;
}

static int record(struct ctr_plan *p, const char *kw, char **a)
{
  unsigned long ul;

  if (ctr_streq(kw, "root")) {
    p->root = a[0];
  } else if (ctr_streq(kw, "ns")) {
    return parse_ns(a[0], &p->clone_flags);
  } else if (ctr_streq(kw, "propagation")) {
    p->has_propagation = 1;
    return parse_mount_flags(a[0], &p->propagation);
  } else if (ctr_streq(kw, "hostname")) {
    p->hostname = a[0];
  } else if (ctr_streq(kw, "keyring")) {
    p->keyring = a[0];
  } else if (ctr_streq(kw, "mount")) {
    struct ctr_mount *m = &p->mounts[p->n_mounts];

    if (p->n_mounts == CTR_MAX_MOUNTS)
      return -1;
    m->dest = a[0];
    m->type = a[1];
    m->source = a[2];
    m->data = a[4][0] ? a[4] : NULL;
    if (parse_mount_flags(a[3], &m->flags) < 0)
      return -1;
    {
      /* "dir", "file" or "copyup", the binds' with "+idmap" or "+ridmap". */
      const char *plus = strchr(a[5], '+');
      size_t len = plus ? (size_t)(plus - a[5]) : strlen(a[5]);

      m->idmap = !plus ? 0 : ctr_streq(plus, "+idmap") ? 1 : ctr_streq(plus, "+ridmap") ? 2 : -1;
      m->is_file = len == 4 && strncmp(a[5], "file", 4) == 0;
      m->copyup = !plus && ctr_streq(a[5], "copyup");
      if (m->idmap < 0 || (!m->is_file && !m->copyup && !(len == 3 && strncmp(a[5], "dir", 3) == 0)))
        return -1;
    }
    p->n_mounts++;
  } else if (ctr_streq(kw, "device")) {
    struct ctr_device *d = &p->devices[p->n_devices];

    if (p->n_devices == CTR_MAX_DEVICES)
      return -1;
    if ((!ctr_streq(a[1], "c") && !ctr_streq(a[1], "b") && !ctr_streq(a[1], "p")) ||
        parse_uint(a[2], &d->major) < 0 || parse_uint(a[3], &d->minor) < 0 ||
        parse_uint(a[4], &d->mode) < 0 || d->mode > 07777 || parse_uint(a[5], &d->uid) < 0 ||
        parse_uint(a[6], &d->gid) < 0)
      return -1;
    d->path = a[0];
    d->kind = a[1][0];
    p->n_devices++;
  } else if (ctr_streq(kw, "symlink")) {
    if (p->n_symlinks == CTR_MAX_SYMLINKS)
      return -1;
    p->symlinks[p->n_symlinks].path = a[0];
    p->symlinks[p->n_symlinks++].target = a[1];
  } else if (ctr_streq(kw, "masked")) {
    if (p->n_masked == CTR_MAX_PATHS)
      return -1;
    p->masked[p->n_masked++] = a[0];
  } else if (ctr_streq(kw, "readonly")) {
    if (p->n_readonly == CTR_MAX_PATHS)
      return -1;
    p->readonly[p->n_readonly++] = a[0];
  } else if (ctr_streq(kw, "env")) {
    if (p->n_env == CTR_MAX_ENV)
      return -1;
    p->env[p->n_env++] = a[0];
  } else if (ctr_streq(kw, "arg")) {
    if (p->n_args == CTR_MAX_ARGS)
      return -1;
    p->argv[p->n_args++] = a[0];
  } else if (ctr_streq(kw, "cwd")) {
    p->cwd = a[0];
  } else if (ctr_streq(kw, "mkcwd")) {
    return parse_bool(a[0], &p->mkcwd);
  } else if (ctr_streq(kw, "user")) {
    return parse_uint(a[0], &p->uid) < 0 || parse_uint(a[1], &p->gid) < 0 ? -1 : 0;
  } else if (ctr_streq(kw, "group")) {
    if (p->n_groups == CTR_MAX_GROUPS)
      return -1;
    return parse_uint(a[0], &p->groups[p->n_groups++]);
  } else if (ctr_streq(kw, "umask")) {
    if (parse_ulong(a[0], 0777, &ul) < 0)
      return -1;
    p->umask = (int)ul;
  } else if (ctr_streq(kw, "starthook")) {
    struct ctr_hook *h = &p->start_hooks[p->n_start_hooks];

    if (p->n_start_hooks == CTR_MAX_HOOKS || parse_uint(a[1], &h->timeout) < 0)
      return -1;
    h->path = a[0];
    if (!(h->argv = split_words(p, a[2])) || !h->argv[0] || !(h->env = split_words(p, a[3])))
      return -1;
    p->n_start_hooks++;
  } else if (ctr_streq(kw, "apparmor")) {
    if (!a[0][0])
      return -1;
    p->apparmor = a[0];
  } else if (ctr_streq(kw, "hookstate")) {
    p->hook_state = a[0];
  } else if (ctr_streq(kw, "oomscoreadj")) {
    int neg = a[0][0] == '-';

    if (parse_ulong(a[0] + neg, 1000, &ul) < 0)
      return -1;
    p->oom_score_adj = neg ? -(int)ul : (int)ul;
    p->has_oom_score_adj = 1;
  } else if (ctr_streq(kw, "rlimit")) {
    struct ctr_rlimit *r = &p->rlimits[p->n_rlimits];

    if (p->n_rlimits == CTR_MAX_RLIMITS || parse_ulong(a[0], RLIM_NLIMITS - 1, &ul) < 0 ||
        parse_rlim(a[1], &r->limit.rlim_cur) < 0 || parse_rlim(a[2], &r->limit.rlim_max) < 0)
      return -1;
    r->resource = (int)ul;
    p->n_rlimits++;
  } else if (ctr_streq(kw, "nonewprivs")) {
    return parse_bool(a[0], &p->no_new_privs);
  } else if (ctr_streq(kw, "seccomp")) {
    return p->n_seccomp ? -1 : parse_seccomp(a[0], p);
  } else if (ctr_streq(kw, "caps")) {
    if (parse_mask(a[0], &p->caps.bounding) < 0 || parse_mask(a[1], &p->caps.effective) < 0 ||
        parse_mask(a[2], &p->caps.permitted) < 0 || parse_mask(a[3], &p->caps.inheritable) < 0 ||
        parse_mask(a[4], &p->caps.ambient) < 0)
      return -1;
    p->has_caps = 1;
  } else if (ctr_streq(kw, "sysctl")) {
    if (p->n_sysctls == CTR_MAX_SYSCTLS)
      return -1;
    p->sysctls[p->n_sysctls].path = a[0];
    p->sysctls[p->n_sysctls++].value = a[1];
  } else if (ctr_streq(kw, "rootro")) {
    return parse_bool(a[0], &p->root_readonly);
  } else if (ctr_streq(kw, "loopback")) {
    return parse_bool(a[0], &p->loopback);
  } else if (ctr_streq(kw, "attach")) {
    return parse_bool(a[0], &p->attach);
  } else if (ctr_streq(kw, "stdin")) {
    return parse_bool(a[0], &p->stdin_open);
  } else if (ctr_streq(kw, "tty")) {
    return parse_bool(a[0], &p->tty);
  } else if (ctr_streq(kw, "winsize")) {
    return parse_winsize(a[0], &p->ws_rows) < 0 || parse_winsize(a[1], &p->ws_cols) < 0 ? -1 : 0;
  } else if (ctr_streq(kw, "startfifo")) {
    p->start_fifo = a[0];
  } else if (ctr_streq(kw, "join")) {
    if (parse_ulong(a[0], 0x7fffffffUL, &ul) < 0 || ul == 0)
      return -1;
    p->join_pid = (int)ul;
  } else if (ctr_streq(kw, "joinns")) {
    return parse_ns(a[0], &p->join_flags);
  } else if (ctr_streq(kw, "log")) {
    p->log_path = a[0];
  } else if (ctr_streq(kw, "logrotate")) {
    return parse_ulong(a[0], (unsigned long)-1, &p->log_max) < 0 || parse_uint(a[1], &p->log_files) < 0 ? -1 : 0;
  } else if (ctr_streq(kw, "exitfile")) {
    p->exit_file = a[0];
  } else if (ctr_streq(kw, "unmount")) {
    p->unmount_path = a[0];
  } else if (ctr_streq(kw, "exitcmd")) {
    if (p->n_exitcmd == CTR_MAX_EXITCMD)
      return -1;
    p->exitcmd[p->n_exitcmd++] = a[0];
  } else if (ctr_streq(kw, "exitcmdif")) {
    p->exitcmd_if = a[0];
  } else if (ctr_streq(kw, "cgroup")) {
    if (p->n_cgroups == CTR_MAX_CGROUPS)
      return -1;
    p->cgroups[p->n_cgroups++] = a[0];
  } else if (ctr_streq(kw, "cgrouplate")) {
    if (p->n_cgroups_late == CTR_MAX_CGROUPS_LATE)
      return -1;
    p->cgroups_late[p->n_cgroups_late++] = a[0];
  } else if (ctr_streq(kw, "oomfile")) {
    p->oom_file = a[0];
  } else if (ctr_streq(kw, "hookpause")) {
    return parse_bool(a[0], &p->hook_pause);
  } else if (ctr_streq(kw, "cgroupself")) {
    return parse_bool(a[0], &p->cgroup_self);
  } else if (ctr_streq(kw, "passthrough")) {
    return parse_bool(a[0], &p->passthrough);
  } else if (ctr_streq(kw, "detach")) {
    return parse_bool(a[0], &p->detach);
  } else if (ctr_streq(kw, "netif")) {
    struct in_addr addr, gw = { 0 };
    unsigned long prefix;

    if (p->has_netif || inet_pton(AF_INET, a[1], &addr) != 1 || parse_ulong(a[2], 32, &prefix) < 0 || prefix == 0 ||
        (a[3][0] && inet_pton(AF_INET, a[3], &gw) != 1))
      return -1;
    p->has_netif = 1;
    p->netif.name = a[0];
    p->netif.addr = addr.s_addr;
    p->netif.prefix = (unsigned)prefix;
    p->netif.gateway = gw.s_addr;
  } else if (ctr_streq(kw, "attachsock")) {
    p->attach_sock = a[0];
  } else if (ctr_streq(kw, "consolesocket")) {
    p->console_socket = a[0];
  } else if (ctr_streq(kw, "rootlower")) {
    if (p->n_root_lowers == CTR_MAX_LOWERS)
      return -1;
    p->root_lowers[p->n_root_lowers++] = a[0];
  } else if (ctr_streq(kw, "rootlayer")) {
    p->root_layer = a[0];
  } else if (ctr_streq(kw, "rootopt")) {
    if (p->n_root_opts == CTR_MAX_ROOT_OPTS || !a[0][0])
      return -1;
    p->root_opts[p->n_root_opts++] = a[0];
  } else if (ctr_streq(kw, "uidmap") || ctr_streq(kw, "gidmap")) {
    int uid = kw[0] == 'u';
    size_t *n = uid ? &p->n_uidmap : &p->n_gidmap;
    struct ctr_idmap *m = uid ? &p->uidmap[*n] : &p->gidmap[*n];

    if (*n == CTR_MAX_IDMAP || parse_uint(a[0], &m->inside) < 0 || parse_uint(a[1], &m->outside) < 0 ||
        parse_uint(a[2], &m->count) < 0 || m->count == 0 || m->inside > 0xfffffffeU - (m->count - 1) ||
        m->outside > 0xfffffffeU - (m->count - 1))
      return -1;
    (*n)++;
  } else if (ctr_streq(kw, "nspath")) {
    struct ctr_nspath *n = &p->nspaths[p->n_nspaths];

    if (ctr_streq(a[0], "user")) {
      if (p->userns_path)
        return -1;
      p->userns_path = a[1];
      return 0;
    }
    if (p->n_nspaths == CTR_MAX_NSPATHS)
      return -1;
    n->flag = 0;
    if (parse_ns(a[0], &n->flag) < 0 || n->flag == CLONE_NEWNS)
      return -1;
    n->path = a[1];
    p->n_nspaths++;
  } else {
    return -1;
  }
  return 0;
}

static int arg_count(const char *kw)
{
  static const struct {
    const char *kw;
    int n;
  } counts[] = {
    { "mount", 6 }, { "keyring", 1 }, { "device", 7 }, { "symlink", 2 }, { "user", 2 },
    { "rlimit", 3 }, { "winsize", 2 }, { "logrotate", 2 }, { "caps", 5 }, { "sysctl", 2 }, { "nspath", 2 }, { "netif", 4 }, { "uidmap", 3 }, { "gidmap", 3 }, { "starthook", 4 }, { "end", 0 },
  };
  size_t i;

  for (i = 0; i < sizeof counts / sizeof counts[0]; i++)
    if (ctr_streq(kw, counts[i].kw))
      return counts[i].n;
  return 1;
}

int ctr_plan_parse(char *buf, size_t len, struct ctr_plan *plan, const char **bad_record)
{
  char *p = buf, *end = buf + len;

  reset(plan);
  *bad_record = "end";
  if (len == 0 || buf[len - 1] != '\0')
    return -EINVAL;
  while (p < end) {
    char *kw = p, *a[MAX_ARGS_PER_RECORD];
    int n = arg_count(kw), i;

    p += strlen(p) + 1;
    *bad_record = kw;
    for (i = 0; i < n; i++) {
      if (p >= end)
        return -EINVAL;
      a[i] = p;
      p += strlen(p) + 1;
    }
    if (ctr_streq(kw, "end")) {
      plan->env[plan->n_env] = NULL;
      plan->argv[plan->n_args] = NULL;
      plan->exitcmd[plan->n_exitcmd] = NULL;
      *bad_record = NULL;
      return 0;
    }
    if (record(plan, kw, a) < 0)
      return -EINVAL;
  }
  *bad_record = "end";
  return -EINVAL;
}

/* Absolute, and no ".." component that could climb out of the root. */
static int clean_abs(const char *path)
{
  const char *s = path;

  if (!path || path[0] != '/')
    return 0;
  while (*s) {
    size_t n;

    while (*s == '/')
      s++;
    n = strcspn(s, "/");
    if (n == 2 && s[0] == '.' && s[1] == '.')
      return 0;
    s += n;
  }
  return 1;
}

int ctr_plan_validate(const struct ctr_plan *p, const char **what)
{
  size_t i;

#define CHECK(cond, w)                                                                             \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      *what = (w);                                                                                 \
      return -EINVAL;                                                                              \
    }                                                                                              \
  } while (0)

  if (p->join_pid) {
    /* The container exists: everything that builds one is the run plan's. */
    CHECK(!p->root, "root");
    CHECK(!p->clone_flags, "ns");
    CHECK(!p->has_propagation, "propagation");
    CHECK(!p->hostname, "hostname");
    CHECK(!p->n_mounts, "mount");
    CHECK(!p->n_devices, "device");
    CHECK(!p->n_symlinks, "symlink");
    CHECK(!p->n_masked, "masked");
    CHECK(!p->n_readonly, "readonly");
    CHECK(!p->start_fifo, "startfifo");
    CHECK(!p->unmount_path, "unmount");
    CHECK(!p->n_exitcmd, "exitcmd");
    CHECK(!p->exitcmd_if, "exitcmdif");
    CHECK(!p->mkcwd, "mkcwd");
    CHECK(!p->loopback, "loopback");
    CHECK(!p->n_sysctls, "sysctl");
    CHECK(!p->root_readonly, "rootro");
    CHECK(!p->oom_file, "oomfile");
    CHECK(!p->n_nspaths, "nspath");
    CHECK(!p->hook_pause, "hookpause");
    CHECK(!p->attach_sock, "attachsock");
    CHECK(!p->has_netif, "netif");
    CHECK(!p->n_start_hooks && !p->hook_state, "starthook");
    /* The container's user namespace is mapped already. */
    CHECK(!p->n_uidmap && !p->n_gidmap, "uidmap");
    CHECK(!p->n_root_lowers && !p->root_layer && !p->n_root_opts, "rootlower");
    CHECK(!p->userns_path, "nspath");
    /* Without it the process would run in the host's filesystem. */
    CHECK(p->join_flags & CLONE_NEWNS, "joinns mnt");
  } else {
    CHECK(!p->join_flags, "join");
    CHECK(p->root, "root");
    CHECK(clean_abs(p->root), p->root);
    /* Without these namespaces the ladder would change the host's mount table or hostname. */
    CHECK(p->clone_flags & CLONE_NEWNS, "ns mnt");
    CHECK(!p->hostname || (p->clone_flags & CLONE_NEWUTS), "ns uts");
    CHECK(!p->start_fifo || p->start_fifo[0] == '/', p->start_fifo);
    /* Only a net namespace of its own gets an interface put into it, and only while the ladder waits. */
    CHECK(!p->has_netif || ((p->clone_flags & CLONE_NEWNET) && p->hook_pause && p->netif.name[0] && strlen(p->netif.name) < IFNAMSIZ), "netif");
    /* A hook's path resolves in the container's root; its state needs the prefix. */
    CHECK(!p->n_start_hooks || p->hook_state, "hookstate");
    for (i = 0; i < p->n_start_hooks; i++)
      CHECK(p->start_hooks[i].path[0] == '/', p->start_hooks[i].path);
    /* A user namespace made or joined, never both; its maps exactly then, its root mapped (the ladder runs as it). */
    CHECK(!((p->clone_flags & CLONE_NEWUSER) && p->userns_path), "nspath");
    CHECK(!p->userns_path || p->userns_path[0] == '/', p->userns_path);
    CHECK(!ctr_plan_userns(p) == !p->n_uidmap, "uidmap");
    CHECK(!ctr_plan_userns(p) == !p->n_gidmap, "gidmap");
    CHECK(!p->n_uidmap || ctr_idmap_host(p->uidmap, p->n_uidmap, 0) != (unsigned)-1, "uidmap");
    CHECK(!p->n_gidmap || ctr_idmap_host(p->gidmap, p->n_gidmap, 0) != (unsigned)-1, "gidmap");
    /* An idmapped root needs the namespace to map it for, its writable layer, and the layers' paths as options. */
    CHECK(!p->n_root_lowers == !p->root_layer && (!p->n_root_lowers || ctr_plan_userns(p)), "rootlower");
    CHECK(p->n_root_lowers || !p->n_root_opts, "rootopt");
    CHECK(!p->root_layer || clean_abs(p->root_layer), p->root_layer);
    for (i = 0; i < p->n_root_lowers; i++)
      CHECK(clean_abs(p->root_lowers[i]), p->root_lowers[i]);
    for (i = 0; i < p->n_nspaths; i++) {
      /* Joined or new, never both (a hostname already needs "ns uts"). */
      CHECK(!(p->clone_flags & p->nspaths[i].flag), "nspath");
      CHECK(p->nspaths[i].path[0] == '/', p->nspaths[i].path);
    }
  }
  /* Pass-through stdio has no pipes to log from. */
  CHECK(!(p->passthrough && p->log_path), "passthrough");
  /* Nobody is left to copy output, write an exit file or clean up after a detached process. */
  CHECK(!(p->detach && (p->attach || p->log_path || p->exit_file || p->unmount_path || p->n_exitcmd)), "detach");
  CHECK(!p->console_socket || (p->tty && p->console_socket[0] == '/'), "consolesocket");
  CHECK(!p->detach || !p->tty || p->console_socket, "detach");
  /* One source of input: the socket's clients, or the monitor's own stdin; a terminal copied by the monitor. */
  CHECK(!p->attach_sock || (p->attach_sock[0] == '/' && !p->stdin_open && !p->passthrough && !p->console_socket && !p->detach), "attachsock");
  CHECK(p->n_args > 0, "arg");
  /* setresuid/setgroups would refuse an id the namespace does not map. */
  if (p->n_uidmap) {
    CHECK(ctr_idmap_host(p->uidmap, p->n_uidmap, p->uid) != (unsigned)-1, "user");
    CHECK(ctr_idmap_host(p->gidmap, p->n_gidmap, p->gid) != (unsigned)-1, "user");
    for (i = 0; i < p->n_groups; i++)
      CHECK(ctr_idmap_host(p->gidmap, p->n_gidmap, p->groups[i]) != (unsigned)-1, "group");
  }
  /* What execve and capset would refuse anyway, refused before clone with the record named. */
  CHECK(!p->has_caps || (p->caps.effective & ~p->caps.permitted) == 0, "caps");
  CHECK(!p->has_caps || (p->caps.ambient & ~(p->caps.permitted & p->caps.inheritable)) == 0, "caps");
  for (i = 0; i < p->n_sysctls; i++) {
    const char *s = p->sysctls[i].path;

    CHECK(clean_abs(s) && strncmp(s, "/proc/sys/", 10) == 0 && s[10] != '\0', s);
  }
  CHECK(clean_abs(p->cwd), p->cwd);
  for (i = 0; i < p->n_mounts; i++) {
    CHECK(clean_abs(p->mounts[i].dest), p->mounts[i].dest);
    /* A bind shows its source's files; there is nothing to copy up into it. */
    CHECK(!p->mounts[i].copyup || !(p->mounts[i].flags & MS_BIND), p->mounts[i].dest);
    /* Only a bind is idmapped, and with the container's own user namespace's maps. */
    CHECK(!p->mounts[i].idmap || ((p->mounts[i].flags & MS_BIND) && ctr_plan_userns(p)), p->mounts[i].dest);
  }
  for (i = 0; i < p->n_devices; i++)
    CHECK(clean_abs(p->devices[i].path), p->devices[i].path);
  for (i = 0; i < p->n_symlinks; i++)
    CHECK(clean_abs(p->symlinks[i].path), p->symlinks[i].path);
  for (i = 0; i < p->n_masked; i++)
    CHECK(clean_abs(p->masked[i]), p->masked[i]);
  for (i = 0; i < p->n_readonly; i++)
    CHECK(clean_abs(p->readonly[i]), p->readonly[i]);
  CHECK(!p->log_path || p->log_path[0] == '/', p->log_path);
  /* Rotation names PATH.N beside the log: a log to rotate, at most 99 files of it. */
  CHECK(!p->log_max || (p->log_path && p->log_files >= 1 && p->log_files <= 99), "logrotate");
  /* Rotation renames by path: a monitor that has joined a container's mount namespace would rename its files. */
  CHECK(!p->log_max || !p->join_pid, "logrotate");
  CHECK(!p->exit_file || p->exit_file[0] == '/', p->exit_file);
  CHECK(!p->unmount_path || p->unmount_path[0] == '/', p->unmount_path);
  CHECK(p->n_exitcmd == 0 || p->exitcmd[0][0] == '/', p->exitcmd[0]);
  /* A plain name, looked up in the exit file's directory: the command and that directory are needed. */
  CHECK(!p->exitcmd_if || (p->n_exitcmd && p->exit_file && p->exitcmd_if[0] && !strchr(p->exitcmd_if, '/') && !ctr_streq(p->exitcmd_if, ".") && !ctr_streq(p->exitcmd_if, "..")), p->exitcmd_if);
  for (i = 0; i < p->n_cgroups; i++)
    CHECK(clean_abs(p->cgroups[i]), p->cgroups[i]);
  for (i = 0; i < p->n_cgroups_late; i++)
    CHECK(clean_abs(p->cgroups_late[i]), p->cgroups_late[i]);
  CHECK(!p->oom_file || clean_abs(p->oom_file), p->oom_file);
#undef CHECK
  *what = NULL;
  return 0;
}

int ctr_plan_userns(const struct ctr_plan *p)
{
  /* child: async-signal-safe */
  return ((p->join_pid ? p->join_flags : p->clone_flags) & CLONE_NEWUSER) != 0 || p->userns_path != NULL;
}

unsigned ctr_idmap_host(const struct ctr_idmap *map, size_t n, unsigned inside)
{
  /* child: async-signal-safe */
  size_t i;

  for (i = 0; i < n; i++)
    if (inside >= map[i].inside && inside - map[i].inside < map[i].count)
      return map[i].outside + (inside - map[i].inside);
  return (unsigned)-1;
}
