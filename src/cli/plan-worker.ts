/**
 * A worker thread of `tcpa plan --workers N`: loads the calendars, then decides batches of
 * whole JSONL lines (raw bytes from the parent) exactly as the single-threaded run does
 * (same line splitter, same row decider), and posts back each batch's output bytes and its
 * share of the summary. From the sources it is loaded through plan-worker.mjs, which registers
 * the TypeScript loader; the built CLI (scripts/build-cli.mjs) has it as an entry point of its own.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadCalendarSet } from '../adapters/calendars/fs-loader.ts';
import type { RawCheck } from '../app/evaluate.ts';
import { decideBatch, RowDecider, type PlanBatch, type PlanSummary } from './plan-rows.ts';

export interface PlanWorkerInput {
  calendarsDir?: string;
  defaults: RawCheck;
  now: number;
}

export type PlanWorkerMessage =
  | { type: 'ready'; calendarVersion: string }
  | { type: 'batch'; seq: number; out: Uint8Array[]; summary: PlanSummary }
  | { type: 'failed'; message: string };

const port = parentPort!;
const input = workerData as PlanWorkerInput;
const failed = (e: unknown): PlanWorkerMessage => ({ type: 'failed', message: e instanceof Error ? e.message : String(e) });
try {
  const set = input.calendarsDir ? loadCalendarSet(input.calendarsDir) : loadCalendarSet();
  const decider = new RowDecider(set, input.defaults, input.now);
  port.on('message', (batch: PlanBatch) => {
    try {
      const { out, summary } = decideBatch(decider, batch);
      port.postMessage({ type: 'batch', seq: batch.seq, out, summary } satisfies PlanWorkerMessage, out.map((b) => b.buffer as ArrayBuffer));
    } catch (e) {
      port.postMessage(failed(e));
    }
  });
  port.postMessage({ type: 'ready', calendarVersion: set.version } satisfies PlanWorkerMessage);
} catch (e) {
  port.postMessage(failed(e));
}
