import * as fs from 'node:fs';
import { RuntimeError } from '../errors.js';
import { loadNative } from '../native/binding.js';
import { mountsUnder } from './mountinfo.js';

/**
 * Deletes a directory tree without ever crossing into a mount. `points`:
 * a mountinfo snapshot the caller took for several removals in a row.
 *
 * containerd#10704 deleted image layers and volumes through a mount that a
 * failed unmount left behind. So the kernel is asked first (mountinfo):
 * with any mount point inside, nothing is deleted. The walk (native
 * removeTree) also refuses to enter a mount, a bind mount of the same
 * filesystem included (openat2's RESOLVE_NO_XDEV): a guard against one
 * that appears mid-walk. It never follows a symlink.
 */
export function removeTree(top: string, points?: string[]): void {
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
  const mounted = mountsUnder(top, points);
  if (mounted.length > 0) throw new RuntimeError(`refusing to delete ${top}: ${mounted[0]} is a mount point`);
  try {
    loadNative().removeTree({ path: top });
  } catch (err) {
    if (!(err as NodeJS.ErrnoException).code) throw new RuntimeError((err as Error).message);
    throw err;
  }
}
