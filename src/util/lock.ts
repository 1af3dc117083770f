import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NativeBinding } from '../native/types.js';

/**
 * An flock(2) held for the length of `fn`. The kernel drops it if the
 * process dies, so a crashed tsrun never leaves a lock behind.
 */
export async function withLock<T>(native: NativeBinding, file: string, fn: () => Promise<T> | T): Promise<T> {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  try {
    native.flock({ fd, op: native.constants.LOCK_EX });
    return await fn();
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Like withLock, but gives up at once (returning undefined) when another
 * process holds the lock: for housekeeping that must never wait on, or
 * interfere with, a lifecycle operation in progress.
 */
export async function tryWithLock<T>(native: NativeBinding, file: string, fn: () => Promise<T> | T): Promise<T | undefined> {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  try {
    try {
      native.flock({ fd, op: native.constants.LOCK_EX | native.constants.LOCK_NB });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return undefined;
      throw err;
    }
    return await fn();
  } finally {
    fs.closeSync(fd);
  }
}
