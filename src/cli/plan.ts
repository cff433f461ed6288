/**
 * `tcpa plan`: decide a whole contact file, streaming. One JSON line out per row in; a bad row
 * gets `{ id, line, error }` and the run goes on. Memory stays flat: rows are read, decided and
 * written one at a time with back-pressure; only counters are kept.
 */
import { once } from 'node:events';
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { parse as parseCsv } from 'csv-parse';
import { z } from 'zod';
import type { CalendarSet } from '../domain/calendar/compile.ts';
import { AppError } from '../domain/errors.ts';
import { evaluate, parseCheckRequest, RawCheckSchema, type RawCheck } from '../app/evaluate.ts';

const RowSchema = RawCheckSchema.extend({ id: z.union([z.string(), z.number()]).optional() });

export interface PlanOptions {
  in: string;
  format?: 'jsonl' | 'csv';
  defaults: RawCheck;
  now: number;
}

export interface PlanSummary {
  rows: number;
  errors: number;
  decisions: Record<string, number>;
  reasons: Record<string, number>;
  errorCodes: Record<string, number>;
  localSendHour: number[];
}

function openInput(path: string, stdin: Readable): { stream: Readable; size?: number } {
  if (path === '-') return { stream: stdin };
  let size: number;
  try {
    size = statSync(path).size;
  } catch (e) {
    throw new AppError('FILE_UNREADABLE', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return { stream: createReadStream(path), size };
}

async function* rows(stream: Readable, format: 'jsonl' | 'csv'): AsyncGenerator<{ line: number; raw: unknown }> {
  if (format === 'csv') {
    const parser = stream.pipe(parseCsv({ columns: true, skip_empty_lines: true, trim: true, relax_column_count: true, bom: true, info: true }));
    for await (const rec of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      yield { line: rec.info.lines, raw: rec.record };
    }
    return;
  }
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  let line = 0;
  for await (const text of rl) {
    line++;
    if (text.trim() === '') continue;
    try {
      yield { line, raw: JSON.parse(text) as unknown };
    } catch {
      yield { line, raw: new AppError('INVALID_ROW', 'not valid JSON') };
    }
  }
}

function inc(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

export async function runPlan(
  set: CalendarSet,
  opts: PlanOptions,
  io: { stdin: Readable; stdout: Writable; stderr: Writable & { isTTY?: boolean } },
): Promise<PlanSummary> {
  const format = opts.format ?? (opts.in.endsWith('.csv') ? 'csv' : 'jsonl');
  const { stream, size } = openInput(opts.in, io.stdin);
  const summary: PlanSummary = { rows: 0, errors: 0, decisions: {}, reasons: {}, errorCodes: {}, localSendHour: new Array(24).fill(0) };
  let buffer = '';
  const flush = async (): Promise<void> => {
    if (buffer === '') return;
    const ok = io.stdout.write(buffer);
    buffer = '';
    if (!ok) await once(io.stdout, 'drain');
  };
  const tty = io.stderr.isTTY === true;
  let lastProgress = 0;
  let bytesRead = 0;
  if (tty && size) stream.on('data', (chunk: Buffer | string) => (bytesRead += chunk.length));

  for await (const { line, raw } of rows(stream, format)) {
    summary.rows++;
    let id: unknown = null;
    try {
      if (raw instanceof AppError) throw raw;
      const row = RowSchema.safeParse(raw);
      if (!row.success) throw new AppError('INVALID_ROW', row.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      id = row.data.id ?? null;
      const merged: RawCheck = { ...opts.defaults };
      for (const [k, v] of Object.entries(row.data)) if (v !== undefined && v !== '' && k !== 'id') (merged as Record<string, unknown>)[k] = v;
      const view = evaluate(set, parseCheckRequest(merged, opts.now));
      inc(summary.decisions, view.decision);
      for (const r of view.reasons) if (r.code !== 'ALLOWED') inc(summary.reasons, r.code);
      if (view.localSendAt) summary.localSendHour[Number(view.localSendAt.slice(11, 13))]!++;
      buffer += `${JSON.stringify({ id, ...view })}\n`;
    } catch (e) {
      if (!(e instanceof AppError)) throw e;
      summary.errors++;
      inc(summary.errorCodes, e.code);
      buffer += `${JSON.stringify({ id, line, error: { code: e.code, message: e.message } })}\n`;
    }
    if (buffer.length > 64_000) await flush();
    if (tty && summary.rows % 5000 === 0) {
      const now = performance.now();
      if (now - lastProgress > 200) {
        lastProgress = now;
        const pct = size ? Math.min(100, Math.floor((bytesRead / size) * 100)) : undefined;
        const bar = pct === undefined ? '' : `[${'#'.repeat(pct / 5)}${' '.repeat(20 - Math.floor(pct / 5))}] ${pct}% `;
        io.stderr.write(`\r${bar}${summary.rows.toLocaleString('en-US')} rows`);
      }
    }
  }
  await flush();
  if (tty) io.stderr.write('\n');
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
