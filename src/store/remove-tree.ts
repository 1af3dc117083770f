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
 * with any mount point inside, nothing is deleted. A bind mount from the
 * same filesystem keeps st_dev, which is why the device check the walk
 * makes (native removeTree) is not enough alone; it stays as a guard
 * against a mount appearing mid-walk. The walk never follows a symlink.
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
