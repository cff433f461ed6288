/**
 * `tcpa plan`: decide a whole contact file, streaming. One JSON line out per row in; a bad row
 * gets `{ id, line, error }` and the run goes on. Memory stays flat: rows are read, decided and
 * written in small pieces with back-pressure; only counters are kept.
 */
import { once } from 'node:events';
import { createReadStream, statSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { parse as parseCsv } from 'csv-parse';
import type { CalendarSet } from '../domain/calendar/compile.ts';
import { AppError } from '../domain/errors.ts';
import type { RawCheck } from '../app/evaluate.ts';
import { emptySummary, jsonlValue, LineSplitter, RowDecider, type PlanSummary } from './plan-rows.ts';

export type { PlanSummary } from './plan-rows.ts';

export interface PlanOptions {
  in: string;
  format?: 'jsonl' | 'csv';
  defaults: RawCheck;
  now: number;
}

/** The input's size (undefined for stdin); throws FILE_UNREADABLE when it cannot be read. */
function inputSize(path: string): number | undefined {
  if (path === '-') return undefined;
  try {
    return statSync(path).size;
  } catch (e) {
    throw new AppError('FILE_UNREADABLE', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** Output is written in pieces of just over this many characters. */
const FLUSH_AT = 64_000;

/** The run's output: lines are appended and written whenever more than FLUSH_AT characters wait. */
class Output {
  #buffer = '';
  #needDrain = false;

  constructor(private readonly stdout: Writable) {}

  #write(): void {
    if (this.#buffer === '') return;
    if (!this.stdout.write(this.#buffer)) this.#needDrain = true;
    this.#buffer = '';
  }

  /** One row's line. */
  line(text: string): void {
    this.#buffer += text;
    if (this.#buffer.length > FLUSH_AT) this.#write();
  }

  /** Write what is left. */
  end(): void {
    this.#write();
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
  const format = opts.format ?? (opts.in.endsWith('.csv') ? 'csv' : 'jsonl');
  const size = inputSize(opts.in);
  const stream = opts.in === '-' ? io.stdin : createReadStream(opts.in, { highWaterMark: 256 * 1024 });
  const summary = emptySummary();
  const decider = new RowDecider(set, opts.defaults, opts.now);
  const output = new Output(io.stdout);
  const progress = io.stderr.isTTY === true ? new Progress(io.stderr, size) : undefined;
  let bytesRead = 0;

  const handle = (line: number, raw: unknown): void => {
    output.line(decider.row(line, raw, summary));
    if (progress && summary.rows % 5000 === 0) progress.show(summary.rows, bytesRead);
  };

  if (format === 'csv') {
    if (progress && size) stream.on('data', (chunk: Buffer | string) => (bytesRead += chunk.length));
    const parser = stream.pipe(parseCsv({ columns: true, skip_empty_lines: true, trim: true, relax_column_count: true, bom: true, info: true }));
    for await (const rec of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      handle(rec.info.lines, rec.record);
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
      await output.drain();
    }
    splitter.end(onLine);
  }
  output.end();
  await output.drain();
  if (progress) io.stderr.write('\n');
  return summary;
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
