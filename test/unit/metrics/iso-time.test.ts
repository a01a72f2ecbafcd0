import { describe, expect, it } from 'vitest';
import { isoTime } from '../../../src/metrics/iso-time.js';

describe('isoTime', () => {
  const base = Date.UTC(2026, 11, 6, 4, 20, 31);
  it.each([
    ['a whole second', base],
    ['1 ms into it', base + 1],
    ['9 ms', base + 9],
    ['10 ms', base + 10],
    ['99 ms', base + 99],
    ['100 ms', base + 100],
    ['999 ms', base + 999],
    ['the next second', base + 1000],
    ['back to the earlier second', base + 5],
    ['the epoch', 0],
    ['before the epoch', -1],
    ['before the epoch, within a second', -999],
    ['a year beyond 9999 (extended form)', Date.UTC(10000, 0, 1)],
    ['a fraction of a millisecond', base + 0.7],
  ])('%s is what toISOString says', (_name, ms) => {
    expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });

  it('stays right over a run of consecutive milliseconds across seconds', () => {
    for (let ms = base - 1500; ms < base + 2500; ms += 7) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });

  it('throws for an invalid time, as toISOString does', () => {
    expect(() => isoTime(Number.NaN)).toThrow(RangeError);
  });
});
