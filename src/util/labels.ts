/** docker's label filter (ps, images, volume ls, prune): KEY (set, whatever its value) or KEY=VALUE; own keys only. */
export function labelMatches(labels: Record<string, string>, filter: string): boolean {
  const eq = filter.indexOf('=');
  return eq < 0 ? Object.hasOwn(labels, filter) : Object.hasOwn(labels, filter.slice(0, eq)) && labels[filter.slice(0, eq)] === filter.slice(eq + 1);
}
