import { describe, expect, it } from 'vitest';
import { parseChallenge, registryHost } from '../../src/image/registry.js';

describe('registry client pieces', () => {
  it('reads a Bearer challenge as Docker Hub sends it', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"')).toEqual({
      realm: 'https://auth.docker.io/token',
      service: 'registry.docker.io',
      scope: 'repository:library/busybox:pull',
    });
    expect(parseChallenge('Basic realm="x"')).toBeUndefined();
    expect(parseChallenge('Bearer service="x"')).toBeUndefined();
    expect(parseChallenge(undefined)).toBeUndefined();
  });

  it('sends docker.io to registry-1.docker.io and others to their own host', () => {
    expect(registryHost('docker.io/library/busybox')).toEqual({ host: 'registry-1.docker.io', path: 'library/busybox' });
    expect(registryHost('quay.io/org/app')).toEqual({ host: 'quay.io', path: 'org/app' });
    expect(registryHost('localhost:5000/a/b')).toEqual({ host: 'localhost:5000', path: 'a/b' });
  });
});
