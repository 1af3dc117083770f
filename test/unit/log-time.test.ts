import { describe, expect, it } from 'vitest';
import { parseLogTime } from '../../src/runtime/logs/read-log.js';

describe('logs --since/--until values', () => {
  const now = Date.parse('2026-11-26T20:00:00Z');
  it('reads RFC 3339, Unix seconds and durations before now, as docker', () => {
    expect(parseLogTime('2026-11-26T19:00:00Z', now)).toBe(Date.parse('2026-11-26T19:00:00Z'));
    expect(parseLogTime('2026-11-26', now)).toBe(Date.parse('2026-11-26'));
    expect(parseLogTime('1795723200.5', now)).toBe(1795723200500);
    expect(parseLogTime('10m', now)).toBe(now - 600_000);
    expect(parseLogTime('1h30m', now)).toBe(now - 5_400_000);
    expect(parseLogTime('90s', now)).toBe(now - 90_000);
    expect(parseLogTime('500ms', now)).toBe(now - 500);
  });
  it('refuses anything else with one line', () => {
    for (const bad of ['', 'yesterday', '10x', 'm']) expect(() => parseLogTime(bad, now)).toThrow(/invalid time/);
  });
});
