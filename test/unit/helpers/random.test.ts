import { describe, expect, it } from 'vitest';
import { createRandom } from '../../helpers/random.js';

describe('createRandom', () => {
  it('yields the same sequence for the same seed', () => {
    const a = createRandom(42);
    const b = createRandom(42);
    const xs = Array.from({ length: 20 }, () => a());
    const ys = Array.from({ length: 20 }, () => b());
    expect(xs).toEqual(ys);
  });

  it('yields different sequences for different seeds', () => {
    const a = createRandom(1);
    const b = createRandom(2);
    expect(Array.from({ length: 5 }, () => a())).not.toEqual(Array.from({ length: 5 }, () => b()));
  });

  it('stays in [0, 1) and spreads evenly over ten buckets', () => {
    const r = createRandom(7);
    const buckets = new Array<number>(10).fill(0);
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = r();
      if (!(x >= 0 && x < 1)) outside++;
      else buckets[Math.floor(x * 10)]!++;
    }
    expect(outside).toBe(0);
    for (const n of buckets) expect(Math.abs(n - 10_000)).toBeLessThan(500);
  });

  it('is seeded from the OS when no seed is given', () => {
    const a = createRandom();
    const b = createRandom();
    expect([a(), a(), a()]).not.toEqual([b(), b(), b()]);
  });
});
