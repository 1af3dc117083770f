import { describe, expect, it } from 'vitest';
import { assertCan, can } from '../../src/runtime/state/status.js';
import { REPORT_SIZE, decodeReport, reportToError } from '../../src/native/report.js';

describe('container state transitions', () => {
  it('follows the table', () => {
    expect(can('created', 'start')).toBe(true);
    expect(can('running', 'start')).toBe(false);
    expect(can('running', 'rm')).toBe(false);
    expect(can('running', 'rm -f')).toBe(true);
    expect(can('exited', 'exec')).toBe(false);
    expect(can('removing', 'rm')).toBe(true);
    expect(() => assertCan('running', 'rm', 'web')).toThrow(/web is running/);
    expect(() => assertCan('exited', 'exec', 'web')).toThrow(/not running/);
  });
});

function record(stage: number, errno: number, detail: string): Buffer {
  const b = Buffer.alloc(REPORT_SIZE);
  b.writeUInt32LE(1, 0);
  b.writeUInt32LE(2, 4);
  b.writeInt32LE(0, 8);
  b.writeInt32LE(stage, 12);
  b.writeInt32LE(0, 16);
  b.writeInt32LE(errno, 20);
  b.write(detail, 24);
  return b;
}

describe('child failure records', () => {
  it('become one line with docker\'s exit codes', () => {
    const mount = reportToError(decodeReport(record(6, 1, 'proc on /proc')));
    expect(mount.message).toBe('mounting proc on /proc: EPERM (operation not permitted)');
    expect(mount.exitCode).toBe(125);
    expect(reportToError(decodeReport(record(23, 2, 'nosuch'))).exitCode).toBe(127);
    expect(reportToError(decodeReport(record(23, 13, '/etc'))).exitCode).toBe(126);
    expect(reportToError(decodeReport(record(23, 8, '/x'))).exitCode).toBe(126);
    const chdir = reportToError(decodeReport(record(19, 20, '/etc/passwd')));
    expect(chdir.message).toBe('changing to the working directory /etc/passwd: ENOTDIR (not a directory)');
  });
  it('reject a record of the wrong size or version', () => {
    expect(() => decodeReport(Buffer.alloc(10))).toThrow();
    const b = record(1, 1, '');
    b.writeUInt32LE(9, 0);
    expect(() => decodeReport(b)).toThrow(/version/);
  });
});
