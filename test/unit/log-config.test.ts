import { expect, it } from 'vitest';
import { logRotation, parseLogFlags } from '../../src/runtime/logs/log-config.js';

it('reads docker\'s json-file options: max-size in decimal units, max-file with it; local rotates by default; none keeps nothing', () => {
  expect(parseLogFlags(undefined, [])).toBeUndefined();
  expect(logRotation(parseLogFlags(undefined, ['max-size=10m', 'max-file=3']))).toEqual({ maxBytes: 10_000_000, files: 3 });
  expect(logRotation(parseLogFlags('json-file', ['max-size=512k']))).toEqual({ maxBytes: 512_000, files: 1 });
  expect(logRotation(parseLogFlags('json-file', ['max-size=-1']))).toBeUndefined();
  expect(logRotation(parseLogFlags('local', []))).toEqual({ maxBytes: 20 * 1024 * 1024, files: 5 });
  expect(logRotation(parseLogFlags(undefined, ['max-size=10MiB', 'mode=non-blocking', 'max-buffer-size=4m']))).toEqual({ maxBytes: 10_000_000, files: 1 });
  expect(parseLogFlags('none', ['max-size=1m'])).toEqual({ type: 'none', config: { 'max-size': '1m' } });
  expect(logRotation(parseLogFlags('none', []))).toBeUndefined();
  expect(parseLogFlags('json-file', ['tag={{.Name}}', 'labels=a'])).toEqual({ type: 'json-file', config: { tag: '{{.Name}}', labels: 'a' } });
});

it('refuses what it would not do, with docker\'s words where it has them', () => {
  expect(() => parseLogFlags('journald', [])).toThrow('logging driver "journald" is not available');
  expect(() => parseLogFlags('local', ['tag=x'])).toThrow("unknown log opt 'tag' for local log driver");
  expect(() => parseLogFlags(undefined, ['max-size'])).toThrow('invalid --log-opt "max-size": use KEY=VALUE');
  expect(() => parseLogFlags(undefined, ['max-size=big'])).toThrow('invalid log opt max-size=big');
  expect(() => parseLogFlags(undefined, ['max-size=1m', 'max-file=0'])).toThrow('invalid log opt max-file=0');
  expect(() => parseLogFlags(undefined, ['max-size=1m', 'max-file=100'])).toThrow('at most 99');
  expect(() => parseLogFlags(undefined, ['max-size=1m', 'compress=true'])).toThrow('compress=true is not supported');
});
