import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NativeBinding } from '../native/types.js';
import { lowerDiffDirs } from './layers.js';
import { type StorePaths, layerDiff } from './paths.js';
import { TreeReader } from './tree-reader.js';

/**
 * `docker diff`: what a container changed, read from its rw layer's upper
 * dir against everything below it (OVERLAY2.md §6). The init layer counts as
 * below, so its files never show up as changes of their own:
 *   A  an upper entry that exists in no lower
 *   C  an upper entry that exists below (a directory holding changes, a
 *      copied-up file, an opaque directory)
 *   D  a whiteout (0/0 character device), and, under an opaque directory,
 *      every lower entry the upper does not have
 * Paths are absolute in the container and sorted, as docker prints them.
 */
export type ChangeKind = 'A' | 'C' | 'D';
export interface Change {
  kind: ChangeKind;
  path: string;
}

const OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque'];

export function containerChanges(native: NativeBinding, p: StorePaths, rwLayerId: string): Change[] {
  const upper = new TreeReader(native, layerDiff(p, rwLayerId));
  const lowers = lowerDiffDirs(p, rwLayerId);
  const changes: Change[] = [];
  const c = native.constants;

  const visit = (rel: string) => {
    for (const entry of upper.readdir(rel)) {
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
      let st: fs.BigIntStats;
      try {
        st = upper.lstat(child);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // gone under us (a running container)
        throw err;
      }
      if (st.isCharacterDevice() && st.rdev === 0n) {
        changes.push({ kind: 'D', path: `/${child}` });
        continue;
      }
      const below = existsBelow(native, lowers, child);
      changes.push({ kind: below ? 'C' : 'A', path: `/${child}` });
      if (!st.isDirectory()) continue;
      if (below) {
        const fd = upper.open(child, c.O_RDONLY | c.O_DIRECTORY);
        let opaque: boolean;
        try {
          opaque = isOpaqueFd(native, fd);
        } finally {
          native.closeFd({ fd });
        }
        if (opaque) {
          const kept = new Set(upper.readdir(child).map((e) => e.name));
          for (const name of lowerNames(native, lowers, child)) {
            if (!kept.has(name)) changes.push({ kind: 'D', path: `/${child}/${name}` });
          }
        }
      }
      visit(child);
    }
  };
  try {
    visit('');
  } finally {
    upper.close();
  }
  return changes.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
}

function isOpaqueFd(native: NativeBinding, fd: number): boolean {
  return OPAQUE_XATTRS.some((name) => native.fgetxattr({ fd, name })?.toString() === 'y');
}

function isOpaque(native: NativeBinding, dir: string): boolean {
  const c = native.constants;
  const fd = fs.openSync(dir, c.O_RDONLY | c.O_DIRECTORY | c.O_NOFOLLOW);
  try {
    return isOpaqueFd(native, fd);
  } finally {
    fs.closeSync(fd);
  }
}

const isWhiteout = (st: fs.Stats) => st.isCharacterDevice() && st.rdev === 0;

interface Probe {
  /** found: rel is in this lower; absent: it is not; hidden: this lower hides it from all lowers below. */
  state: 'found' | 'absent' | 'hidden';
  st?: fs.Stats;
}

/**
 * Looks rel up in one lower dir the way overlayfs merges: component by
 * component with lstat (never following a symlink, so an image's links
 * cannot lead onto the host), where a whiteout or a non-directory on the way
 * hides the lowers below, and so does an opaque directory once this lower
 * lacks the rest of the path.
 */
function probe(native: NativeBinding, lower: string, rel: string): Probe {
  let cur = lower;
  let opaqueOnTheWay = false;
  const parts = rel.split('/');
  for (const [i, part] of parts.entries()) {
    cur = path.join(cur, part);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(cur);
    } catch {
      return { state: opaqueOnTheWay ? 'hidden' : 'absent' };
    }
    if (isWhiteout(st)) return { state: 'hidden' };
    if (i === parts.length - 1) return { state: 'found', st };
    if (!st.isDirectory()) return { state: 'hidden' };
    if (isOpaque(native, cur)) opaqueOnTheWay = true;
  }
  return { state: 'absent' };
}

/** Whether rel is visible in the union of the lower dirs (closest first). */
function existsBelow(native: NativeBinding, lowers: string[], rel: string): boolean {
  for (const lower of lowers) {
    const { state } = probe(native, lower, rel);
    if (state === 'found') return true;
    if (state === 'hidden') return false;
  }
  return false;
}

/** The names visible in directory rel of the union of the lowers (whiteouts and opaque dirs honoured). */
function lowerNames(native: NativeBinding, lowers: string[], rel: string): string[] {
  const seen = new Set<string>();
  const hidden = new Set<string>();
  for (const lower of lowers) {
    const { state, st } = probe(native, lower, rel);
    if (state === 'hidden') break;
    if (state === 'absent') continue;
    if (!st!.isDirectory()) break;
    const dir = path.join(lower, rel);
    for (const name of fs.readdirSync(dir)) {
      if (seen.has(name) || hidden.has(name)) continue;
      if (isWhiteout(fs.lstatSync(path.join(dir, name)))) hidden.add(name);
      else seen.add(name);
    }
    // An opaque lower directory hides everything further down.
    if (isOpaque(native, dir)) break;
  }
  return [...seen].sort();
}
