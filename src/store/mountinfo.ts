import * as fs from 'node:fs';

let lastRead: string | undefined;

/** /proc/self/mountinfo, read now (LESSONS.md 10: runc read it 72-116 times a run). */
export function readMountinfo(): string {
  lastRead = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  return lastRead;
}

/**
 * The mountinfo this command read last, else read now: for what does not
 * change while a command runs (the host's cgroup mounts), never for a
 * check of what is mounted where.
 */
export function someMountinfo(): string {
  return lastRead ?? readMountinfo();
}

/** Every mount point, from one read of mountinfo. */
export function mountPoints(): string[] {
  const out: string[] = [];
  for (const line of readMountinfo().split('\n')) {
    const mp = line.split(' ')[4];
    if (mp !== undefined) out.push(unescapeMountPath(mp));
  }
  return out;
}

/** Mount points at or under `dir`: from `points` (one read shared by several checks), else read now. */
export function mountsUnder(dir: string, points: string[] = mountPoints()): string[] {
  return points.filter((target) => target === dir || target.startsWith(dir + '/'));
}

function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}
