import { describe, expect, it } from 'vitest';
import {
  PAGE_SIZE,
  fitsOnePage,
  overlayData,
  planOverlayMount,
  relativeLowerFitsBudget,
} from '../../src/store/mount-options.js';

const link = (i: number) => `/var/lib/tsrun/overlay/l/${String(i).padStart(26, 'A').slice(-26)}`;

describe('overlay mount options', () => {
  it('builds Docker\'s option string: index=off, lowers closest first, upper, work', () => {
    expect(
      overlayData({ lowerDirs: ['/s/l/A', '/s/l/B'], upperDir: '/s/x/diff', workDir: '/s/x/work', indexOff: true }),
    ).toBe('index=off,lowerdir=/s/l/A:/s/l/B,upperdir=/s/x/diff,workdir=/s/x/work');
    expect(overlayData({ lowerDirs: ['/s/l/A'], indexOff: false })).toBe('lowerdir=/s/l/A');
  });

  it('adds volatile when asked, in the data string and as an fsconfig flag', () => {
    expect(overlayData({ lowerDirs: ['/s/l/A'], upperDir: '/u', workDir: '/w', indexOff: true, volatile: true })).toBe('index=off,volatile,lowerdir=/s/l/A,upperdir=/u,workdir=/w');
    const lowerDirs = Array.from({ length: 128 }, (_, i) => link(i));
    expect(planOverlayMount({ lowerDirs, upperDir: '/u', workDir: '/w', indexOff: false, volatile: true })).toMatchObject({ kind: 'layers', options: ['volatile'] });
  });

  it('keeps Docker\'s budget: 128 relative l/ names fit a page less 512 bytes, 129 do not', () => {
    expect(relativeLowerFitsBudget(128)).toBe(true);
    expect(relativeLowerFitsBudget(129)).toBe(false);
    const relative = Array.from({ length: 128 }, (_, i) => `l/${'A'.repeat(25)}${i % 10}`).join(':');
    // Docker's formula counts 28 bytes an entry; the real string is 29, which still fits the page.
    expect(fitsOnePage(`lowerdir=${relative}`)).toBe(true);
    expect(Buffer.byteLength(relative)).toBeLessThan(PAGE_SIZE);
  });

  it('uses one mount(2) data string while it fits a page', () => {
    const plan = planOverlayMount({ lowerDirs: Array.from({ length: 40 }, (_, i) => link(i)), upperDir: '/u', workDir: '/w', indexOff: true });
    expect(plan.kind).toBe('data');
    if (plan.kind === 'data') expect(fitsOnePage(plan.data)).toBe(true);
  });

  it('switches to fsconfig lowerdir+ when the string would pass a page', () => {
    const lowerDirs = Array.from({ length: 128 }, (_, i) => link(i));
    const plan = planOverlayMount({ lowerDirs, upperDir: '/u', workDir: '/w', indexOff: true });
    expect(plan).toEqual({ kind: 'layers', lowerDirs, upperDir: '/u', workDir: '/w', options: ['index=off'] });
  });

  it('refuses paths that would split the option string', () => {
    expect(() => planOverlayMount({ lowerDirs: ['/a:b'], indexOff: false })).toThrow(/':'/);
    expect(() => planOverlayMount({ lowerDirs: ['/a,b'], indexOff: false })).toThrow();
    expect(() => planOverlayMount({ lowerDirs: [], indexOff: false })).toThrow();
  });
});
