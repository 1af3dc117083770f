import * as fs from 'node:fs';
import * as path from 'node:path';
import { RuntimeError } from '../errors.js';

/**
 * Deletes a directory tree without ever crossing into another filesystem.
 * containerd#10704 deleted image layers and volumes through a mount that a
 * failed unmount left behind; so a directory on another device than the top
 * is a mount point, and meeting one stops the removal with nothing more
 * deleted beneath it. lstat/unlink/rmdir never follow symlinks.
 */
export function removeTree(top: string): void {
  let topStat: fs.Stats;
  try {
    topStat = fs.lstatSync(top);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!topStat.isDirectory()) {
    fs.unlinkSync(top);
    return;
  }
  removeDir(top, topStat.dev);
}

function removeDir(dir: string, dev: number): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const child = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (fs.lstatSync(child).dev !== dev) {
        throw new RuntimeError(`refusing to delete ${child}: it is a mount point`);
      }
      removeDir(child, dev);
    } else {
      fs.unlinkSync(child);
    }
  }
  fs.rmdirSync(dir);
}
