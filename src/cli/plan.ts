/**
 * `tcpa plan`: decide a whole contact file, streaming. One JSON line out per row in; a bad row
 * gets `{ id, line, error }` and the run goes on. Memory stays flat: rows are read, decided and
 * written in small pieces with back-pressure; only counters are kept.
 */
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { parse as parseCsv } from 'csv-parse';
import type { CalendarSet } from '../domain/calendar/compile.ts';
import type { RawCheck } from '../app/evaluate.ts';
import { LineBuffer } from './plan-json.ts';
import { csvValue, decideBatch, emptySummary, jsonlValue, LineSplitter, mergeSummary, RowDecider, type PlanSummary } from './plan-rows.ts';
import { inputSize, planFormat, PlanWorkers, planWorkers } from './plan-workers.ts';

export type { PlanSummary } from './plan-rows.ts';

export interface PlanOptions {
  in: string;
  format?: 'jsonl' | 'csv';
  defaults: RawCheck;
  now: number;
  /** Worker threads deciding JSONL rows beside this thread (0: none); default from `defaultWorkers`. */
  workers?: number;
  /** Workers already started (by the CLI, before it loaded the calendars); used for JSONL, closed by the caller. */
  pool?: PlanWorkers;
  /** The calendar directory `set` was loaded from (workers load their own copy); default the bundled one. */
  calendarsDir?: string;
}

/** The run's output: rows write their lines into `lines`; full pieces go out after each chunk read. */
class Output {
  readonly lines = new LineBuffer();
  #needDrain = false;

  constructor(private readonly stdout: Writable) {}

  /** Write the full pieces (all pieces at the end). */
  flush(all = false): void {
    for (const piece of this.lines.take(all)) if (!this.stdout.write(piece)) this.#needDrain = true;
  }

  /** Wait for the writer if it asked to. */
  async drain(): Promise<void> {
    if (!this.#needDrain) return;
    this.#needDrain = false;
    await once(this.stdout, 'drain');
  }
}

/** Progress on a terminal (stderr): rows so far and, for a file, the share read. */
class Progress {
  #last = 0;

  constructor(
    private readonly stderr: Writable,
    private readonly size: number | undefined,
  ) {}

  show(rows: number, bytesRead: number): void {
    const now = performance.now();
    if (now - this.#last <= 200) return;
    this.#last = now;
    const pct = this.size ? Math.min(100, Math.floor((bytesRead / this.size) * 100)) : undefined;
    const bar = pct === undefined ? '' : `[${'#'.repeat(pct / 5)}${' '.repeat(20 - Math.floor(pct / 5))}] ${pct}% `;
    this.stderr.write(`\r${bar}${rows.toLocaleString('en-US')} rows`);
  }
}

export async function runPlan(
  set: CalendarSet,
  opts: PlanOptions,
  io: { stdin: Readable; stdout: Writable; stderr: Writable & { isTTY?: boolean } },
): Promise<PlanSummary> {
  const format = planFormat(opts.in, opts.format);
  const size = inputSize(opts.in);
  const stream = opts.in === '-' ? io.stdin : createReadStream(opts.in, { highWaterMark: 256 * 1024 });
  const progress = io.stderr.isTTY === true ? new Progress(io.stderr, size) : undefined;
  const workers = planWorkers(format, size, opts.workers);
  const pool = format === 'csv' ? undefined : (opts.pool ?? (workers > 0 ? PlanWorkers.start(workers, { calendarsDir: opts.calendarsDir, defaults: opts.defaults, now: opts.now }) : undefined));
  if (pool) {
    try {
      const summary = await runInWorkers(set, opts, pool, stream, io.stdout, progress);
      if (progress) io.stderr.write('\n');
      return summary;
    } finally {
      if (pool !== opts.pool) await pool.close();
    }
  }
  const summary = emptySummary();
  const decider = new RowDecider(set, opts.defaults, opts.now);
  const output = new Output(io.stdout);
  let bytesRead = 0;

  const handle = (line: number, raw: unknown): void => {
    decider.row(line, raw, summary, output.lines);
    if (progress && summary.rows % 5000 === 0) progress.show(summary.rows, bytesRead);
  };

  if (format === 'csv') {
    if (progress && size) stream.on('data', (chunk: Buffer | string) => (bytesRead += chunk.length));
    const parser = stream.pipe(parseCsv({ columns: true, skip_empty_lines: true, trim: true, relax_column_count: true, bom: true, info: true }));
    for await (const rec of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      handle(rec.info.lines, csvValue(rec.record));
      output.flush();
      await output.drain();
    }
  } else {
    const splitter = new LineSplitter();
    let line = 0;
    const onLine = (text: string): void => {
      line++;
      const raw = jsonlValue(text);
      if (raw !== undefined) handle(line, raw);
    };
    for await (const chunk of stream as AsyncIterable<Buffer | string>) {
      bytesRead += chunk.length;
      splitter.write(chunk, onLine);
      output.flush();
      await output.drain();
    }
    splitter.end(onLine);
  }
  output.flush(true);
  await output.drain();
  if (progress) io.stderr.write('\n');
  return summary;
}

/**
 * The JSONL run on worker threads: this thread cuts the input into batches of whole lines (raw
 * bytes, cut after a line end, so a multi-byte character or a CRLF is never split), numbers
 * their first lines, hands them out (at most two per worker in flight; the first ones it decides
 * itself while the workers load), and writes the answers in input order, merging each batch's
 * summary in that order too: the output and the summary are those of the single-threaded run.
 */
async function runInWorkers(
  set: CalendarSet,
  opts: PlanOptions,
  pool: PlanWorkers,
  stream: Readable,
  stdout: Writable,
  progress: Progress | undefined,
): Promise<PlanSummary> {
  const summary = emptySummary();
  pool.expect(set.version);
  const n = pool.size;
  // Two per worker: each has its next batch queued when it answers. Answers waiting for an
  // earlier batch are bounded too (this thread stops deciding ahead of a slow worker), at 12
  // batches (~40 MB of output): a worker runs at half speed for its first second (its code is
  // not optimised yet), and with room for 4 this thread spent ~20 % of that time waiting for it
  // (a 1M-row run took ~5 % longer).
  const maxInFlight = 2 * n;
  const maxBacklog = maxInFlight + 12;
  let bytesRead = 0;
  let nextLine = 1;
  const write = async (): Promise<void> => {
    for (let r = pool.take(); r !== undefined; r = pool.take()) {
      mergeSummary(summary, r.summary);
      let full = false;
      for (const piece of r.out) full = !stdout.write(piece);
      if (full) await once(stdout, 'drain');
      progress?.show(summary.rows, bytesRead);
    }
  };
  // This thread decides too: every batch while the workers load, then each batch the workers
  // have no room for.
  const local = new RowDecider(set, opts.defaults, opts.now);
  const send = async (parts: Buffer[]): Promise<void> => {
    while (pool.inFlight > 0 && pool.backlog >= maxBacklog) {
      await pool.next();
      await write();
    }
    const bytes = ownBytes(parts);
    const batch = { seq: pool.claim(), firstLine: nextLine, bytes };
    nextLine += lineEnds(bytes);
    if (pool.ready === 0 || pool.inFlight >= maxInFlight) {
      pool.put(batch.seq, decideBatch(local, batch));
      await write();
    } else {
      pool.submit(batch);
    }
  };
  let pending: Buffer[] = [];
  for await (const data of stream as AsyncIterable<Buffer | string>) {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    bytesRead += chunk.length;
    // After the last LF; failing that, after the last CR that has a byte (not an LF) after it.
    let cut = chunk.lastIndexOf(10);
    if (cut === -1 && chunk.length > 1) cut = chunk.lastIndexOf(13, chunk.length - 2);
    if (cut === -1) {
      pending.push(chunk);
      continue;
    }
    pending.push(chunk.subarray(0, cut + 1));
    const batch = pending;
    pending = cut + 1 < chunk.length ? [chunk.subarray(cut + 1)] : [];
    await send(batch);
  }
  if (pending.length > 0) await send(pending);
  while (pool.inFlight > 0) {
    await pool.next();
    await write();
  }
  return summary;
}

/** The parts copied into one buffer of its own (moved to a worker: never a slice of the shared pool). */
function ownBytes(parts: readonly Buffer[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return bytes;
}

/** Line ends in `bytes` as LineSplitter counts them: LF, CRLF, and a CR not followed by LF. */
export function lineEnds(bytes: Uint8Array): number {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let n = 0;
  for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) n++;
  for (let i = b.indexOf(13); i !== -1; i = b.indexOf(13, i + 1)) if (b[i + 1] !== 10) n++;
  return n;
}

export function formatSummary(s: PlanSummary): string {
  const lines = [`rows: ${s.rows}  errors: ${s.errors}`];
  lines.push(`decisions: ${Object.entries(s.decisions).map(([k, v]) => `${k}=${v}`).join(' ') || '-'}`);
  lines.push(`reasons: ${Object.entries(s.reasons).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join(' ') || '-'}`);
  if (s.errors) lines.push(`row errors: ${Object.entries(s.errorCodes).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  const max = Math.max(1, ...s.localSendHour);
  lines.push('local send hour (recipient):');
  s.localSendHour.forEach((n, h) => {
    if (n > 0) lines.push(`  ${String(h).padStart(2, '0')}:00 ${'█'.repeat(Math.max(1, Math.round((n / max) * 40)))} ${n}`);
  });
  return `${lines.join('\n')}\n`;
}
