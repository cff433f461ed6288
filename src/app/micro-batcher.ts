/**
 * A micro-batcher: callers submit one item each and await its own result; the items submitted
 * while the previous batch is still being processed (or within the same turn of the event loop)
 * are processed together, by one call of `run`. Under load batches grow by themselves (every item
 * that arrives during a flush waits for the next one); when idle an item is processed alone, at
 * once — there is no linger timer adding latency.
 *
 * `run` answers per item: a value, an error (that item's caller rejects), or `again` — the item
 * goes back to the front of the queue for the next batch (the dispatcher uses it for a second
 * timer of a contact already in the batch, so it is judged after the first one's claim is
 * committed). If `run` throws, every item of the batch rejects with that error.
 */
export type BatchAnswer<R> = { readonly ok: R } | { readonly error: unknown } | { readonly again: true };

export interface MicroBatcherOptions {
  /** Most items in one batch. */
  maxBatch: number;
  /** Batches processed at the same time. */
  maxConcurrent: number;
}

interface Waiting<I, R> {
  item: I;
  resolve: (r: R) => void;
  reject: (err: unknown) => void;
}

export class MicroBatcher<I, R> {
  private readonly queue: Array<Waiting<I, R>> = [];
  private running = 0;
  private scheduled = false;

  constructor(
    private readonly run: (items: readonly I[]) => Promise<ReadonlyArray<BatchAnswer<R>>>,
    private readonly opts: MicroBatcherOptions,
  ) {
    if (!(opts.maxBatch >= 1) || !(opts.maxConcurrent >= 1)) throw new RangeError('maxBatch and maxConcurrent must be at least 1');
  }

  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.kick();
    });
  }

  /** Items waiting for a batch (not counting those being processed). */
  get waiting(): number {
    return this.queue.length;
  }

  private kick(): void {
    if (this.scheduled || this.running >= this.opts.maxConcurrent || this.queue.length === 0) return;
    this.scheduled = true;
    // The rest of this turn's submissions join the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.running < this.opts.maxConcurrent && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.opts.maxBatch);
      this.running++;
      void this.process(batch).finally(() => {
        this.running--;
        this.kick();
      });
    }
  }

  private async process(batch: Array<Waiting<I, R>>): Promise<void> {
    let answers: ReadonlyArray<BatchAnswer<R>>;
    try {
      answers = await this.run(batch.map((w) => w.item));
      if (answers.length !== batch.length) throw new Error(`micro-batcher: ${answers.length} answers for ${batch.length} items`);
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    const again: Array<Waiting<I, R>> = [];
    answers.forEach((a, i) => {
      const w = batch[i]!;
      if ('again' in a) again.push(w);
      else if ('error' in a) w.reject(a.error);
      else w.resolve(a.ok);
    });
    this.queue.unshift(...again);
  }
}
