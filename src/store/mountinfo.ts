import * as fs from 'node:fs';

/** Every mount point, from one read of mountinfo (LESSONS.md 10: runc read it 72-116 times a run). */
export function mountPoints(): string[] {
  const out: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
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
