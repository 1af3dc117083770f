import { describe, expect, it } from 'vitest';
import { storeForFile } from '../helpers/store.js';

const s = storeForFile('busybox', 'hello-world-v1');

describe('ps and images: --filter and --format, as docker', () => {
  it('filters containers by name, status and image, and formats them', () => {
    const web = s.ok(['run', '-d', '--name', 'web', 'busybox', 'sleep', '1000']).trim();
    s.ok(['run', '--name', 'done', 'hello-world:v1', 'true']);
    expect(s.ok(['ps', '--format', '{{.Names}}'])).toBe('web\n');
    expect(s.ok(['ps', '-a', '--format', '{{.Names}} {{.State}}']).split('\n').filter(Boolean).sort()).toEqual(['done exited', 'web running']);
    expect(s.ok(['ps', '--filter', 'status=exited', '--format', '{{.Names}}'])).toBe('done\n');
    expect(s.ok(['ps', '-a', '--filter', 'ancestor=busybox', '-q', '--no-trunc'])).toBe(`${web}\n`);
    expect(s.ok(['ps', '-a', '-f', 'name=we', '-f', 'name=don', '--format', '{{.Names}}']).split('\n').filter(Boolean).sort()).toEqual(['done', 'web']);
    expect(s.ok(['ps', '--format', 'table {{.Names}}\\t{{.Image}}'])).toBe('NAMES   IMAGE\nweb     busybox:latest\n');
    expect(JSON.parse(s.ok(['ps', '--format', '{{json .}}']))).toMatchObject({ Names: 'web', Image: 'busybox:latest', State: 'running' });
    expect(s.ok(['inspect', '-f', '{{.Name}} {{.State.Status}} {{.State.Pid}}', 'web'])).toMatch(/^\/web running \d+\n$/);
    expect(s.ok(['image', 'inspect', '--format', '{{json .RootFS.Type}}', 'busybox'])).toBe('"layers"\n');
    expect(s.run(['ps', '--filter', 'color=red'])).toMatchObject({ code: 125, stderr: expect.stringContaining("invalid filter 'color=red'") });
    expect(s.run(['ps', '--format', '{{.Nope}}'])).toMatchObject({ code: 125, stderr: expect.stringContaining('no field .Nope') });
    s.ok(['rm', '-f', 'web', 'done']);
  });

  it('filters images by reference and danglingness, and formats them', () => {
    expect(s.ok(['images', '--format', '{{.Repository}}:{{.Tag}}']).split('\n').filter(Boolean).sort()).toEqual(['busybox:latest', 'hello-world:v1']);
    expect(s.ok(['images', '--filter', 'reference=hello*', '--format', '{{.Repository}}'])).toBe('hello-world\n');
    expect(s.ok(['images', '--filter', 'dangling=true', '-q'])).toBe('');
    expect(s.ok(['images', '--filter', 'reference=busybox:latest', '--format', 'table {{.Repository}}\\t{{.Tag}}'])).toBe('REPOSITORY   TAG\nbusybox      latest\n');
  });
});
