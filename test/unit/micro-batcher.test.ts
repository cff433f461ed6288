/** The micro-batcher behind batched dispatch and status callbacks (src/app/micro-batcher.ts). */
import { describe, expect, it } from 'vitest';
import { MicroBatcher, type BatchAnswer } from '../../src/app/micro-batcher.ts';

const tick = () => new Promise((r) => setImmediate(r));

describe('MicroBatcher', () => {
  it('batches what is submitted in one turn, and what arrives during a batch into the next one', async () => {
    const batches: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const b = new MicroBatcher<number, number>(async (items) => {
      batches.push([...items]);
      if (batches.length === 1) await gate;
      return items.map((i) => ({ ok: i * 10 }));
    }, { maxBatch: 100, maxConcurrent: 1 });
    const first = [1, 2, 3].map((i) => b.submit(i));
    await tick();
    const second = [4, 5].map((i) => b.submit(i)); // while the first batch runs
    await tick();
    expect(batches).toEqual([[1, 2, 3]]);
    release();
    expect(await Promise.all([...first, ...second])).toEqual([10, 20, 30, 40, 50]);
    expect(batches).toEqual([[1, 2, 3], [4, 5]]);
  });

  it('caps a batch at maxBatch and runs up to maxConcurrent batches at once', async () => {
    let running = 0;
    let most = 0;
    const sizes: number[] = [];
    const b = new MicroBatcher<number, number>(async (items) => {
      sizes.push(items.length);
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      return items.map((i) => ({ ok: i }));
    }, { maxBatch: 4, maxConcurrent: 2 });
    const out = await Promise.all(Array.from({ length: 10 }, (_, i) => b.submit(i)));
    expect(out).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(sizes).toEqual([4, 4, 2]);
    expect(most).toBe(2);
  });

  it('an item answered `again` goes first into the next batch; an error answer rejects only its item; a thrown batch rejects them all', async () => {
    const batches: string[][] = [];
    let seenB = false;
    const b = new MicroBatcher<string, string>(async (items) => {
      batches.push([...items]);
      if (items.includes('boom')) throw new Error('batch failed');
      return items.map((i): BatchAnswer<string> => {
        if (i === 'b' && !seenB) {
          seenB = true;
          return { again: true };
        }
        return i === 'bad' ? { error: new Error('bad item') } : { ok: i.toUpperCase() };
      });
    }, { maxBatch: 10, maxConcurrent: 1 });
    const [a, bb, bad] = [b.submit('a'), b.submit('b'), b.submit('bad')];
    await expect(bad).rejects.toThrow('bad item');
    expect(await a).toBe('A');
    expect(await bb).toBe('B');
    expect(batches).toEqual([['a', 'b', 'bad'], ['b']]);
    await expect(Promise.all([b.submit('x'), b.submit('boom')])).rejects.toThrow('batch failed');
  });
});
