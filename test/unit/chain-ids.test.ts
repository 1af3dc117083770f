import * as crypto from 'node:crypto';
import { expect, it } from 'vitest';
import { loadNative } from '../../src/native/binding.js';
import { chainIds } from '../../src/store/images.js';

/** Chain ids (the layerdb's keys) and the addon's sha256Hex behind them, against node:crypto. */

const sha256 = (s: string) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');

it('gives the OCI chain ids: the first diff id itself, then sha256 of "parent child"', () => {
  const diffs = ['a', 'b', 'c'].map((c) => `sha256:${c.repeat(64)}`);
  const second = `sha256:${sha256(`${diffs[0]} ${diffs[1]}`)}`;
  expect(chainIds(diffs)).toEqual([diffs[0], second, `sha256:${sha256(`${second} ${diffs[2]}`)}`]);
  expect(chainIds([])).toEqual([]);
});

it('hashes UTF-8 text of any length as node:crypto does', () => {
  const native = loadNative();
  // This machine's node exports OpenSSL's SHA256; without it the addon leaves the function out.
  if (!native.sha256Hex) throw new Error('the addon has no sha256Hex: node exports no SHA256');
  expect(native.sha256Hex({ text: '' })).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  for (const text of ['abc', 'ü€𝄞', 'x'.repeat(55), 'x'.repeat(56), 'x'.repeat(64), 'y'.repeat(100_000)]) {
    expect(native.sha256Hex({ text })).toBe(sha256(text));
  }
});
