import { describe, expect, it } from 'vitest';
import { humanDuration, humanSize, table, truncateCommand } from '../../src/cli/format.js';

describe('docker-style output', () => {
  it('prints durations like go-units', () => {
    expect(humanDuration(500)).toBe('Less than a second');
    expect(humanDuration(1000)).toBe('1 second');
    expect(humanDuration(3000)).toBe('3 seconds');
    expect(humanDuration(61_000)).toBe('About a minute');
    expect(humanDuration(120_000)).toBe('2 minutes');
    expect(humanDuration(3_600_000)).toBe('About an hour');
    expect(humanDuration(5 * 3_600_000)).toBe('5 hours');
    expect(humanDuration(3 * 86_400_000)).toBe('3 days');
  });
  it('prints sizes in decimal units with three digits', () => {
    expect(humanSize(0)).toBe('0B');
    expect(humanSize(1_240_000)).toBe('1.24MB');
    expect(humanSize(12_345)).toBe('12.3kB');
  });
  it('aligns columns and quotes commands', () => {
    expect(table(['A', 'BB'], [['xxxx', 'y']])).toBe('A      BB\nxxxx   y\n');
    expect(truncateCommand('sleep 1000')).toBe('"sleep 1000"');
    expect(truncateCommand('a'.repeat(30))).toBe(`"${'a'.repeat(19)}…"`);
  });
});
