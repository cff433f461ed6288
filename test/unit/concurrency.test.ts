import { describe, expect, it } from 'vitest';
import { eachConcurrently } from '../../src/app/concurrency.ts';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('eachConcurrently', () => {
  it('calls every item once, never more than the limit at a time, and waits for all', async () => {
    let inFlight = 0;
    let peak = 0;
    const seen: number[] = [];
    await eachConcurrently([...Array(20).keys()], 3, async (n) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await tick(n % 4);
      seen.push(n);
      inFlight--;
    });
    expect(inFlight).toBe(0);
    expect(peak).toBe(3);
    expect([...seen].sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
  });

  it('rejects with the first failure, after the started calls finished, and starts nothing after it', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const run = eachConcurrently([0, 1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      if (n === 1) throw new Error('boom 1');
      await tick(5);
      finished.push(n);
    });
    await expect(run).rejects.toThrow('boom 1');
    expect(started).toEqual([0, 1]);
    expect(finished).toEqual([0]);
  });

  it('does nothing for no items and refuses a limit below one', async () => {
    let calls = 0;
    await eachConcurrently([], 4, async () => void calls++);
    expect(calls).toBe(0);
    await expect(eachConcurrently([1], 0, async () => {})).rejects.toThrow(RangeError);
  });
});
