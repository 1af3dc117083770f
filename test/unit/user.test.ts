import { describe, expect, it } from 'vitest';
import { resolveUser } from '../../src/runtime/plan/user.js';

const passwd = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n# comment\nbroken line\n';
const group = 'root:x:0:\nwheel:x:10:app,other\napp:x:1000:\naudio:x:29:app\n';

describe('user resolution (docker -u)', () => {
  it('defaults to root with its home', () => {
    expect(resolveUser(undefined, passwd, group)).toEqual({ uid: 0, gid: 0, additionalGids: [], home: '/root' });
  });
  it('resolves names, primary and supplementary groups', () => {
    expect(resolveUser('app', passwd, group)).toEqual({ uid: 1000, gid: 1000, additionalGids: [10, 29], home: '/home/app' });
    expect(resolveUser('app:wheel', passwd, group)).toMatchObject({ uid: 1000, gid: 10, additionalGids: [29] });
  });
  it('takes numeric ids without a passwd entry, with gid 0 and home /', () => {
    expect(resolveUser('4242', passwd, group)).toEqual({ uid: 4242, gid: 0, additionalGids: [], home: '/' });
    expect(resolveUser('4242:77', undefined, undefined)).toEqual({ uid: 4242, gid: 77, additionalGids: [], home: '/' });
  });
  it('refuses unknown names', () => {
    expect(() => resolveUser('nobody', passwd, group)).toThrow(/unable to find user nobody/);
    expect(() => resolveUser('app:nogroup', passwd, group)).toThrow(/unable to find group nogroup/);
    expect(() => resolveUser('99999999999', passwd, group)).toThrow(/out of range/);
  });
});
