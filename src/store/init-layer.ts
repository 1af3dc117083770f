import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The entries of a container's `<id>-init` layer: exactly Docker's
 * initlayer.Setup table (OVERLAY2.md §4). The placeholders are what the
 * hosts/hostname/resolv.conf binds land on; being a layer of its own, it
 * also masks an image's /dev or /etc symlink games (the 2026 runc /dev
 * advisory is "not exploitable under Docker" for this reason).
 *
 * The diff dir is new and empty, created by tsrun itself, so plain path
 * operations cannot be redirected by anything an image put there.
 */
const INIT_ENTRIES: [path: string, kind: 'dir' | 'file' | 'symlink', target?: string][] = [
  ['/dev/pts', 'dir'],
  ['/dev/shm', 'dir'],
  ['/proc', 'dir'],
  ['/sys', 'dir'],
  ['/.dockerenv', 'file'],
  ['/etc/resolv.conf', 'file'],
  ['/etc/hosts', 'file'],
  ['/etc/hostname', 'file'],
  ['/dev/console', 'file'],
  ['/etc/mtab', 'symlink', '/proc/mounts'],
];

export function populateInitLayer(diffDir: string): void {
  for (const [rel, kind, target] of INIT_ENTRIES) {
    const full = path.join(diffDir, rel);
    fs.mkdirSync(path.dirname(full), { recursive: true, mode: 0o755 });
    if (kind === 'dir') fs.mkdirSync(full, { mode: 0o755 });
    // Docker opens every file entry with mode 0755 (sic).
    else if (kind === 'file') fs.closeSync(fs.openSync(full, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o755));
    else fs.symlinkSync(target!, full);
  }
}
