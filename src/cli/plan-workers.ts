/**
 * The worker threads of a parallel `tcpa plan` run: hands batches out (to the worker with the
 * fewest in flight) and gives the answers back in batch order. A worker that fails, loaded
 * other calendars than the main thread (see `expect`), or exits early fails the run.
 */
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { AppError } from '../domain/errors.ts';
import type { BatchResult, PlanBatch } from './plan-rows.ts';
import type { PlanWorkerInput, PlanWorkerMessage } from './plan-worker.ts';

/** JSONL files at least this large are decided by worker threads unless `--workers` says otherwise. */
export const PARALLEL_FROM_BYTES = 16 * 1024 * 1024;

/**
 * Worker threads for an input: one per core but one (the main thread decides too), up to 4,
 * for a JSONL file of PARALLEL_FROM_BYTES or more on a machine with 2 cores or more; else none
 * (a worker costs what ~50,000 rows do to start; CSV records may span lines, so CSV is always
 * read in the main thread).
 */
export function defaultWorkers(format: 'jsonl' | 'csv', size: number | undefined, cores: number = availableParallelism()): number {
  return format === 'jsonl' && size !== undefined && size >= PARALLEL_FROM_BYTES && cores >= 2 ? Math.min(cores - 1, 4) : 0;
}

/** The workers a run uses: none for CSV, else the number asked for, else the default. */
export function planWorkers(format: 'jsonl' | 'csv', size: number | undefined, requested: number | undefined): number {
  return format === 'csv' ? 0 : (requested ?? defaultWorkers(format, size));
}

/** The input's format: as given, else from the file name (`.csv`, anything else JSONL). */
export function planFormat(path: string, format: 'jsonl' | 'csv' | undefined): 'jsonl' | 'csv' {
  return format ?? (path.endsWith('.csv') ? 'csv' : 'jsonl');
}

/** The input's size (undefined for stdin); throws FILE_UNREADABLE when it cannot be read. */
export function inputSize(path: string): number | undefined {
  if (path === '-') return undefined;
  try {
    return statSync(path).size;
  } catch (e) {
    throw new AppError('FILE_UNREADABLE', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

export class PlanWorkers {
  readonly #workers: Worker[] = [];
  /** Batches in flight per worker. */
  readonly #load: number[] = [];
  readonly #done = new Map<number, BatchResult>();
  /** The next batch number to hand out, and the next one to give back. */
  #issued = 0;
  #next = 0;
  #inFlight = 0;
  #answered = 0;
  #ready = 0;
  /** Calendar versions the workers loaded, and the one they must have. */
  readonly #versions: string[] = [];
  #expected: string | undefined;
  #failure: Error | undefined;
  #closing = false;
  #wake: (() => void) | undefined;

  private constructor() {}

  /** Starts `n` workers: they load the calendars while the main thread loads its own. */
  static start(n: number, input: PlanWorkerInput): PlanWorkers {
    const pool = new PlanWorkers();
    for (let i = 0; i < n; i++) {
      const worker = new Worker(new URL('./plan-worker.mjs', import.meta.url), { workerData: input });
      pool.#workers.push(worker);
      pool.#load.push(0);
      worker.on('message', (m: PlanWorkerMessage) => {
        if (m.type === 'ready') {
          pool.#versions.push(m.calendarVersion);
          pool.#checkVersions();
          pool.#ready++;
        } else if (m.type === 'batch') {
          pool.#load[i]!--;
          pool.#inFlight--;
          pool.#answered++;
          pool.#done.set(m.seq, { out: m.out, summary: m.summary });
          pool.#wakeUp();
        } else {
          pool.#fail(new Error(`plan worker failed: ${m.message}`));
        }
      });
      worker.on('error', (e) => pool.#fail(e));
      worker.on('exit', (code) => {
        if (!pool.#closing) pool.#fail(new Error(`plan worker exited with code ${code}`));
      });
    }
    return pool;
  }

  get size(): number {
    return this.#workers.length;
  }

  /** The calendar version the workers must have loaded (the main thread's). */
  expect(calendarVersion: string): void {
    this.#expected = calendarVersion;
    this.#checkVersions();
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Batches the workers have decided (not counting those decided elsewhere). */
  get answered(): number {
    return this.#answered;
  }

  /** The number of the next batch (batches are given back in this order; a pool can serve several runs). */
  claim(): number {
    return this.#issued++;
  }

  /** Batches in flight or answered but not yet taken. */
  get backlog(): number {
    return this.#inFlight + this.#done.size;
  }

  /** Workers that have loaded the calendars. */
  get ready(): number {
    return this.#ready;
  }

  /** Records the answer of a batch decided outside the pool. */
  put(seq: number, result: BatchResult): void {
    this.#done.set(seq, result);
  }

  /** Queues a batch (its bytes are moved to the worker). */
  submit(batch: PlanBatch): void {
    if (this.#failure) throw this.#failure;
    let w = 0;
    for (let i = 1; i < this.#load.length; i++) if (this.#load[i]! < this.#load[w]!) w = i;
    this.#load[w]!++;
    this.#inFlight++;
    this.#workers[w]!.postMessage(batch, [batch.bytes.buffer as ArrayBuffer]);
  }

  /** The next batch's answer in order, if it has arrived. */
  take(): BatchResult | undefined {
    if (this.#failure) throw this.#failure;
    const r = this.#done.get(this.#next);
    if (r !== undefined) {
      this.#done.delete(this.#next);
      this.#next++;
    }
    return r;
  }

  /** Resolves when an answer arrives; rejects when a worker failed. */
  async next(): Promise<void> {
    if (this.#failure) throw this.#failure;
    await new Promise<void>((resolve) => (this.#wake = resolve));
    if (this.#failure) throw this.#failure;
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }

  #checkVersions(): void {
    const expected = this.#expected;
    if (expected === undefined) return;
    const other = this.#versions.find((v) => v !== expected);
    if (other !== undefined) this.#fail(new Error(`a worker loaded calendars ${other}, not ${expected} (did the calendar files change?)`));
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #fail(e: Error): void {
    this.#failure ??= e;
    this.#wakeUp();
  }
}
