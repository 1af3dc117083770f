/**
 * The typed face of the native addon (native/addon/addon.cc). Every function
 * takes one object argument; every fd it returns is O_CLOEXEC. Failures throw
 * an Error shaped like Node's own fs errors: { code: 'ENOENT', errno: -2,
 * syscall: 'openat2', path? }.
 */

/** Flags and constants Node's fs.constants does not carry. */
export interface NativeConstants {
  O_PATH: number;
  O_DIRECTORY: number;
  O_NOFOLLOW: number;
  O_CLOEXEC: number;
  O_CREAT: number;
  O_EXCL: number;
  O_WRONLY: number;
  O_RDONLY: number;
  O_RDWR: number;
  O_TRUNC: number;
  RESOLVE_IN_ROOT: number;
  RESOLVE_BENEATH: number;
  RESOLVE_NO_SYMLINKS: number;
  RESOLVE_NO_MAGICLINKS: number;
  RESOLVE_NO_XDEV: number;
  S_IFCHR: number;
  S_IFBLK: number;
  S_IFIFO: number;
  LOCK_SH: number;
  LOCK_EX: number;
  LOCK_NB: number;
  LOCK_UN: number;
  MNT_DETACH: number;
}

/**
 * A streaming zstd decompressor (libzstd ZSTD_DCtx). Not thread-safe, not
 * reusable after end() or free(); src/image/zstd.ts is its only user.
 */
export interface NativeZstdDecompressor {
  /**
   * Decompresses from the start of `input` until it is consumed with nothing
   * pending (flushed) or about 1 MiB was produced. When flushed is false,
   * call again with input.subarray(consumed), possibly empty. A corrupt frame
   * throws an Error with code ERR_ZSTD.
   */
  decompress(input: Buffer): { chunks: Buffer[]; consumed: number; flushed: boolean };
  /** Throws (ERR_ZSTD) unless the input ended on a frame boundary; frees the context. */
  end(): void;
  /** Frees the context early; idempotent. */
  free(): void;
}

/** An entry of listTree: its path below the top, its kind, size and owner, and a symlink's target. */
export interface TreeEntry {
  path: string;
  kind: 'dir' | 'file' | 'symlink' | 'other';
  size: number;
  uid: number;
  target?: string;
}

export interface NativeBinding {
  constants: NativeConstants;

  /** mount("overlay", target, "overlay", 0, data): data must fit one page. */
  mountOverlay(opts: { target: string; data: string }): void;
  /**
   * The new mount API, for lower chains whose option string would not fit a
   * page: fsopen("overlay"), fsconfig(lowerdir+) once per lower dir, upperdir,
   * workdir and each extra "key" or "key=value" option, fsmount, move_mount.
   */
  mountOverlayLayers(opts: {
    target: string;
    lowerDirs: string[];
    upperDir?: string;
    workDir?: string;
    options: string[];
  }): void;
  /** umount2(target, flags). */
  unmount(opts: { target: string; flags: number }): void;

  /** openat2(dirFd, path, {flags|O_CLOEXEC, mode, resolve}); dirFd -100 is AT_FDCWD. */
  openat2(opts: { dirFd: number; path: string; flags: number; mode?: number; resolve: number }): number;
  mkdirat(opts: { dirFd: number; name: string; mode: number }): void;
  symlinkat(opts: { target: string; dirFd: number; name: string }): void;
  /** linkat(oldDirFd, oldPath, newDirFd, newName, 0): never follows symlinks. */
  linkat(opts: { oldDirFd: number; oldPath: string; newDirFd: number; newName: string }): void;
  /** mknodat(dirFd, name, mode (type|perm), makedev(major, minor)). */
  mknodat(opts: { dirFd: number; name: string; mode: number; major: number; minor: number }): void;
  /** fchownat(dirFd, name, uid, gid, AT_SYMLINK_NOFOLLOW); name "" means the fd itself (AT_EMPTY_PATH). */
  fchownat(opts: { dirFd: number; name: string; uid: number; gid: number }): void;
  /** utimensat(dirFd, name, [atime, mtime], AT_SYMLINK_NOFOLLOW); name "" means the fd itself. */
  utimensat(opts: { dirFd: number; name: string; atimeSec: number; atimeNsec: number; mtimeSec: number; mtimeNsec: number }): void;
  /** unlinkat(dirFd, name, isDir ? AT_REMOVEDIR : 0). */
  unlinkat(opts: { dirFd: number; name: string; isDir: boolean }): void;
  fsetxattr(opts: { fd: number; name: string; value: Buffer }): void;
  /** Returns null when the attribute is absent (ENODATA). */
  fgetxattr(opts: { fd: number; name: string }): Buffer | null;
  flistxattr(opts: { fd: number }): string[];
  /** flock(fd, op): throws EAGAIN with LOCK_NB when held elsewhere. */
  flock(opts: { fd: number; op: number }): void;
  /** syncfs(fd): flushes the whole filesystem holding fd (one call after unpacking a layer). */
  syncfs(opts: { fd: number }): void;
  /** fstatfs(fd)'s f_type: which kind of filesystem holds fd (PROC_SUPER_MAGIC, ...). */
  fstatfsType(opts: { fd: number }): number;
  closeFd(opts: { fd: number }): void;
  /** A pipe, [read end, write end], both close-on-exec and blocking. */
  pipe(opts: Record<string, never>): [number, number];
  /** A connected AF_UNIX stream socket pair, both ends close-on-exec. */
  socketPair(opts: Record<string, never>): [number, number];
  /**
   * posix_spawn (a vfork) of path with argv [path, ...args] and our environment, in a new session,
   * signals at their defaults and unblocked; its fd i is our fds[i] (-1: /dev/null). Returns the pid.
   */
  spawnSession(opts: { path: string; args: string[]; fds: number[] }): number;
  /** Up to size bytes from a blocking fd, fewer only at EOF; throws ETIMEDOUT past timeoutMs. */
  readExact(opts: { fd: number; size: number; timeoutMs: number }): Buffer;
  /**
   * Reaps a child of ours once it exits (a pidfd in the event loop): its exit code, or the signal that killed it.
   * null: it exited but is not waitable yet (a tracer sees a ptraced zombie first); ask again.
   */
  waitExit(opts: { pid: number }): Promise<{ code: number | null; signal: number | null } | null>;
  /**
   * For a process about to exit: a holder process shares its memory (CLONE_VM, no fds) until the kernel
   * kills it at our death, so our parent sees the exit before the unmapping. Its pid, 0 if none (once only).
   * Absent from an addon built before it (binding.ts then exits as before).
   */
  deferTeardown?(opts: Record<string, never>): number;
  /** SHA-256 of text's UTF-8 bytes, in hex (OpenSSL's, exported by node): no node:crypto to load. Absent when node exports no SHA256. */
  sha256Hex?(opts: { text: string }): string;
  /**
   * Deletes the directory path and everything in it, each step relative to its parent's fd: no symlink
   * followed, no depth limit, and a mount, bind mounts included, refused ("... is a mount point").
   */
  removeTree(opts: { path: string }): void;
  /**
   * Everything below the directory path, each entry by its path relative to it; undefined past max entries
   * (which also bound the depth: keep it small). A symlink inside is listed, never followed; a top that is a
   * symlink, or a directory inside that is a mount point, throws (ELOOP, EXDEV). A file mounted over is listed as
   * what is mounted: check mountinfo where that matters.
   */
  listTree(opts: { path: string; max: number }): TreeEntry[] | undefined;
  /** A pidfd (close-on-exec) for pid, or -1 when no such process is left; check it is still the one meant after opening. */
  pidfdOpen(opts: { pid: number }): number;
  /** True once every pidfd's process has exited (a zombie counts), false after timeoutMs; in the event loop, no thread. */
  waitPidfds(opts: { fds: number[]; timeoutMs: number }): Promise<boolean>;
  createZstdDecompressor(): NativeZstdDecompressor;
  /**
   * cgroup v2 device rules: loads program (struct bpf_insn[], a BPF_PROG_TYPE_CGROUP_DEVICE
   * program) and attaches it to the cgroup directory, then detaches the device programs attached there before.
   */
  attachDeviceFilter(opts: { cgroup: string; program: Buffer }): void;
}
