import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contains, firstEndingAfter, intersect, normalize, subtract } from '../../src/domain/intervals.ts';

const list = fc.array(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 30 })), { maxLength: 12 }).map((xs) => normalize(xs.map(([s, l]) => [s, s + l])));

describe('interval algebra', () => {
  it('normalize merges overlapping and adjacent intervals', () => {
    expect(normalize([[5, 8], [1, 3], [3, 4], [7, 10], [12, 12]])).toEqual([1, 4, 5, 10]);
  });

  it('intersect, subtract and contains agree with point-wise membership', () => {
    fc.assert(
      fc.property(list, list, (a, b) => {
        const i = intersect(a, b);
        const d = subtract(a, b);
        for (let t = -1; t < 240; t++) {
          expect(contains(i, t)).toBe(contains(a, t) && contains(b, t));
          expect(contains(d, t)).toBe(contains(a, t) && !contains(b, t));
        }
      }),
    );
  });

  it('firstEndingAfter finds the first interval whose end is after t', () => {
    const a = [0, 10, 20, 30];
    expect(firstEndingAfter(a, -5)).toBe(0);
    expect(firstEndingAfter(a, 10)).toBe(2);
    expect(firstEndingAfter(a, 29)).toBe(2);
    expect(firstEndingAfter(a, 30)).toBe(4);
  });
});
