/**
 * Interval algebra on UTC epoch milliseconds. A set of instants is a sorted, disjoint list of
 * half-open intervals `[start, end)`, stored flat: `[s0, e0, s1, e1, …]` (fast to search, cheap
 * to build). Every function here is pure.
 */
export type IntervalList = readonly number[];

/** Sort and merge possibly overlapping/adjacent intervals given as [s, e] pairs. */
export function normalize(pairs: Array<[number, number]>): number[] {
  const sorted = pairs.filter(([s, e]) => e > s).sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [s, e] of sorted) {
    const n = out.length;
    if (n > 0 && s <= out[n - 1]!) {
      if (e > out[n - 1]!) out[n - 1] = e;
    } else {
      out.push(s, e);
    }
  }
  return out;
}

/** Intersection of two interval lists. */
export function intersect(a: IntervalList, b: IntervalList): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const s = Math.max(a[i]!, b[j]!);
    const e = Math.min(a[i + 1]!, b[j + 1]!);
    if (s < e) out.push(s, e);
    if (a[i + 1]! < b[j + 1]!) i += 2;
    else j += 2;
  }
  return out;
}

/** `a` minus `b`. */
export function subtract(a: IntervalList, b: IntervalList): number[] {
  const out: number[] = [];
  let j = 0;
  for (let i = 0; i < a.length; i += 2) {
    let s = a[i]!;
    const e = a[i + 1]!;
    while (j < b.length && b[j + 1]! <= s) j += 2;
    let k = j;
    while (k < b.length && b[k]! < e) {
      if (b[k]! > s) out.push(s, b[k]!);
      s = Math.max(s, b[k + 1]!);
      if (s >= e) break;
      k += 2;
    }
    if (s < e) out.push(s, e);
  }
  return out;
}

/** Restrict a list to `[from, to)`. */
export function clip(a: IntervalList, from: number, to: number): number[] {
  return intersect(a, [from, to]);
}

/**
 * Index (even, pointing at a start) of the first interval whose end is after `t`, or `a.length`
 * when there is none. Binary search: O(log n).
 */
export function firstEndingAfter(a: IntervalList, t: number): number {
  let lo = 0;
  let hi = a.length / 2;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid * 2 + 1]! <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo * 2;
}

/** True when instant `t` lies inside the list. */
export function contains(a: IntervalList, t: number): boolean {
  const i = firstEndingAfter(a, t);
  return i < a.length && a[i]! <= t;
}
