import { describe, expect, it } from 'vitest';
import { storeForFile } from '../helpers/store.js';

const s = storeForFile('busybox', 'hello-world-v1');
const ids = (args: string[]) => s.ok(args).split('\n').filter(Boolean);

describe('prune', () => {
  it('removes what nothing uses, asks first, and keeps what is in use', () => {
    const running = s.ok(['run', '-d', 'busybox', 'sleep', '1000']).trim();
    const exited = s.ok(['run', '-d', '-v', '/anon', '-v', 'named:/named', 'busybox', 'true']).trim();
    const created = s.ok(['create', 'hello-world:v1', 'true']).trim();
    s.ok(['wait', exited]);
    const dangling = s.ok(['commit', running]).trim();

    // No answer on stdin: nothing goes.
    const declined = s.run(['container', 'prune']);
    expect(declined.code).toBe(0);
    expect(declined.stdout).toContain('WARNING! This will remove all stopped containers.');
    expect(ids(['ps', '-aq', '--no-trunc'])).toHaveLength(3);

    const out = s.ok(['container', 'prune', '-f']);
    expect(out).toMatch(/^Deleted Containers:\n/);
    expect(out).toContain(exited);
    expect(out).toContain(created);
    expect(out).toMatch(/Total reclaimed space: \S+/);
    expect(ids(['ps', '-aq', '--no-trunc'])).toEqual([running]);
    // docker's management forms name the same commands.
    expect(ids(['container', 'ls', '-aq', '--no-trunc'])).toEqual([running]);
    expect(s.ok(['image', 'ls'])).toBe(s.ok(['images']));

    // Anonymous volumes by default, named ones with -a.
    expect(ids(['volume', 'ls', '-q'])).toHaveLength(2);
    s.ok(['volume', 'prune', '-f']);
    expect(ids(['volume', 'ls', '-q'])).toEqual(['named']);
    s.ok(['volume', 'prune', '-a', '-f']);
    expect(ids(['volume', 'ls', '-q'])).toEqual([]);

    // Dangling images by default; with -a every image no container uses (busybox's container still runs).
    expect(s.ok(['image', 'prune', '-f'])).toContain(`Deleted: ${dangling}`);
    const repos = () => s.ok(['images']).split('\n').slice(1).filter(Boolean).map((l) => l.split(/\s+/)[0]).sort();
    expect(repos()).toEqual(['busybox', 'hello-world']);
    expect(s.ok(['image', 'prune', '-a', '-f'])).toContain('Untagged: hello-world:v1');
    expect(repos()).toEqual(['busybox']);

    s.ok(['rm', '-f', running]);
    expect(s.ok(['system', 'prune', '-a', '-f'])).toContain('Untagged: busybox:latest');
    expect(s.ok(['images', '-q'])).toBe('');
  });

  it('--filter until= and label= / label!= choose what goes, as docker\'s', () => {
    s.loadFixture('busybox');
    const keep = s.ok(['create', '--label', 'keep=yes', 'busybox', 'true']).trim();
    const old = s.ok(['create', '--label', 'tier=web', 'busybox', 'true']).trim();
    const fresh = s.ok(['create', 'busybox', 'true']).trim();
    expect(s.ok(['container', 'prune', '-f', '--filter', 'label=tier=web'])).toContain(old);
    expect(ids(['ps', '-aq', '--no-trunc']).sort()).toEqual([keep, fresh].sort());
    // Made just now: not before an hour ago.
    expect(s.ok(['container', 'prune', '-f', '--filter', 'until=1h'])).toBe('Total reclaimed space: 0B\n');
    expect(s.ok(['container', 'prune', '-f', '--filter', 'label!=keep'])).toContain(fresh);
    expect(ids(['ps', '-aq', '--no-trunc'])).toEqual([keep]);
    expect(s.ok(['container', 'prune', '-f', '--filter', `until=${new Date(Date.now() + 60_000).toISOString()}`])).toContain(keep);
    s.ok(['volume', 'create', '--label', 'a=1', 'va']);
    s.ok(['volume', 'create', 'vb']);
    s.ok(['volume', 'prune', '-a', '-f', '--filter', 'label=a']);
    expect(ids(['volume', 'ls', '-q'])).toEqual(['vb']);
    s.ok(['volume', 'rm', 'vb']);
    // busybox was made years ago: before a day ago.
    expect(s.ok(['image', 'prune', '-a', '-f', '--filter', 'until=24h'])).toContain('Untagged: busybox:latest');
    expect(s.run(['container', 'prune', '-f', '--filter', 'until=soon'])).toMatchObject({ code: 1, stderr: expect.stringContaining("invalid filter 'until=soon'") });
    expect(s.run(['volume', 'prune', '-f', '--filter', 'until=1h']).code).toBe(1);
    // Volumes have no creation time to keep them by: docker refuses until= with --volumes.
    expect(s.run(['system', 'prune', '-f', '--volumes', '--filter', 'until=1h'])).toMatchObject({ code: 1, stderr: 'tsrun: The "until" filter is not supported with "--volumes"\n' });
  });
});
