import { describe, expect, it } from 'vitest';
import { canonicalName, familiarName, parseReference } from '../../src/store/reference.js';

describe('image references', () => {
  it('normalise as docker does', () => {
    expect(canonicalName(parseReference('busybox'))).toBe('docker.io/library/busybox:latest');
    expect(canonicalName(parseReference('hello-world:v1'))).toBe('docker.io/library/hello-world:v1');
    expect(canonicalName(parseReference('docker.io/library/hello-world:v1'))).toBe('docker.io/library/hello-world:v1');
    expect(canonicalName(parseReference('ravikanth/hello-world:v1'))).toBe('docker.io/ravikanth/hello-world:v1');
    expect(canonicalName(parseReference('localhost:5000/app'))).toBe('localhost:5000/app:latest');
    expect(canonicalName(parseReference('quay.io/a/b:1.0'))).toBe('quay.io/a/b:1.0');
  });
  it('print the familiar form', () => {
    expect(familiarName('docker.io/library/hello-world:v1')).toBe('hello-world:v1');
    expect(familiarName('docker.io/me/app:v1')).toBe('me/app:v1');
    expect(familiarName('quay.io/a/b:1.0')).toBe('quay.io/a/b:1.0');
  });
  it('refuse malformed names', () => {
    for (const bad of ['', 'UPPER', 'a//b', 'a:b:c/d', 'x@sha256:12', ' a']) expect(() => parseReference(bad)).toThrow(/invalid reference/);
  });
});
