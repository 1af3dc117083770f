import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestStore } from '../helpers/store.js';

let s: TestStore;

beforeAll(() => {
  s = new TestStore();
  s.loadFixture('busybox');
});
afterAll(() => s.cleanup());

/** The Seccomp and NoNewPrivs lines of /proc/self/status inside a container run with these flags. */
function status(flags: string[]): Record<string, string> {
  const out = s.ok(['run', '--rm', ...flags, 'busybox', 'grep', '-E', '^(Seccomp|Seccomp_filters|NoNewPrivs):', '/proc/self/status']);
  return Object.fromEntries(out.trim().split('\n').map((l) => l.split(/:\s*/) as [string, string]));
}

describe('seccomp', () => {
  it('runs every container under the default filter, with no_new_privs', () => {
    expect(status([])).toEqual({ NoNewPrivs: '1', Seccomp: '2', Seccomp_filters: '1' });
  });

  it('refuses unshare and mount with EPERM; ordinary programs work', () => {
    const u = s.run(['run', '--rm', 'busybox', 'unshare', '-U', 'true']);
    expect(u.code).not.toBe(0);
    expect(u.stderr).toMatch(/Operation not permitted/);
    const m = s.run(['run', '--rm', 'busybox', 'mount', '-t', 'tmpfs', 'none', '/mnt']);
    expect(m.code).not.toBe(0);
    expect(m.stderr).toMatch(/Operation not permitted|permission denied/i);
    expect(s.ok(['run', '--rm', 'busybox', 'sh', '-c', 'mkdir /x && echo hi > /x/f && cat /x/f && ls /x | wc -l'])).toBe('hi\n1\n');
  });

  it('an unprivileged user namespace is refused by the filter alone', () => {
    // unshare -U needs no capability: only seccomp stands in the way.
    expect(s.run(['run', '--rm', '--security-opt', 'seccomp=unconfined', 'busybox', 'unshare', '-U', 'true']).code).toBe(0);
    expect(s.run(['run', '--rm', 'busybox', 'unshare', '-U', 'true']).code).not.toBe(0);
  });

  it('--security-opt seccomp=unconfined and --privileged run without a filter', () => {
    expect(status(['--security-opt', 'seccomp=unconfined']).Seccomp).toBe('0');
    expect(status(['--privileged']).Seccomp).toBe('0');
  });

  it('--security-opt seccomp=FILE uses that profile', () => {
    const file = path.join(s.dir, 'no-mkdir.json');
    fs.writeFileSync(file, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat', 'no_such_call'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] }));
    const r = s.run(['run', '--rm', '--security-opt', `seccomp=${file}`, 'busybox', 'mkdir', '/x']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Operation not permitted/);
    expect(s.run(['run', '--rm', '--security-opt', 'seccomp=unconfined', 'busybox', 'mkdir', '/x']).code).toBe(0);
    const bad = s.run(['run', '--rm', '--security-opt', `seccomp=${path.join(s.dir, 'missing.json')}`, 'busybox', 'true']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/seccomp profile/);
  });

  it('--security-opt no-new-privileges=false leaves no_new_privs off, the filter on', () => {
    expect(status(['--security-opt', 'no-new-privileges=false'])).toEqual({ NoNewPrivs: '0', Seccomp: '2', Seccomp_filters: '1' });
    expect(status(['--security-opt', 'no-new-privileges=false', '-u', '1000'])).toEqual({ NoNewPrivs: '0', Seccomp: '2', Seccomp_filters: '1' });
    expect(status(['--security-opt', 'no-new-privileges'])).toMatchObject({ NoNewPrivs: '1' });
  });

  it('writes linux.seccomp and process.noNewPrivileges into config.json', () => {
    const id = s.ok(['create', '--security-opt', 'no-new-privileges=false', 'busybox', 'true']).trim();
    const spec = JSON.parse(fs.readFileSync(path.join(s.root, 'containers', id, 'config.json'), 'utf8'));
    expect(spec.process.noNewPrivileges).toBe(false);
    expect(spec.linux.seccomp.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(spec.linux.seccomp.syscalls.length).toBeGreaterThan(10);
    expect(s.inspect(id).HostConfig.SecurityOpt).toEqual(['no-new-privileges=false']);
    s.ok(['rm', '-f', id]);
  });

  it('an exec\'d process gets the container\'s filter', () => {
    s.ok(['run', '-d', '--name', 'sc', 'busybox', 'sleep', '1000']);
    try {
      expect(s.ok(['exec', 'sc', 'grep', '^Seccomp:', '/proc/self/status'])).toBe('Seccomp:\t2\n');
      expect(s.run(['exec', 'sc', 'unshare', '-U', 'true']).code).not.toBe(0);
    } finally {
      s.run(['rm', '-f', 'sc']);
    }
    s.ok(['run', '-d', '--name', 'sc2', '--security-opt', 'seccomp=unconfined', 'busybox', 'sleep', '1000']);
    try {
      expect(s.ok(['exec', 'sc2', 'grep', '^Seccomp:', '/proc/self/status'])).toBe('Seccomp:\t0\n');
    } finally {
      s.run(['rm', '-f', 'sc2']);
    }
  });
});
