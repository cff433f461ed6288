/**
 * Contact files, row by row: a streamed CSV or JSONL file read into raw rows with their line
 * numbers (the CSV header is line 1; blank lines count), for the contacts import and a
 * campaign's audience upload alike. A malformed row is a `RawRow` with an error, never an
 * exception: only a CSV without a `phone` column is refused as a whole.
 *
 * CSV: a header naming the columns (`phone` or `phoneNumber`, `zip` or `zipCode`, `externalId`;
 * case, spaces, `_` and `-` ignored; other columns ignored), RFC 4180 quoting, a BOM allowed.
 * JSONL: one `{ "phone", "zip"?, "externalId"? }` object per line (numbers accepted as strings).
 * A record or line longer than `MAX_RECORD_CHARS` is one bad row (one huge line cannot fill
 * memory). A field holding a character the policy refuses (src/domain/text.ts: NUL, a lone
 * surrogate, a C0 control but TAB/CR/LF, U+FFFE, U+FFFF) makes its row a bad row too: such text
 * could not be stored, and the file goes on.
 */
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { parse as parseCsv, type CsvError } from 'csv-parse';
import { AppError } from '../domain/errors.ts';
import { badCharIndex, badTextMessage } from '../domain/text.ts';

export type ContactFileFormat = 'csv' | 'jsonl';

/** A CSV record or a JSONL line longer than this is a bad row. */
export const MAX_RECORD_CHARS = 64 * 1024;

/** Content types of a contact file → format. */
export const CONTACT_FILE_CONTENT_TYPES: Record<string, ContactFileFormat> = {
  'text/csv': 'csv',
  'application/csv': 'csv',
  'application/x-ndjson': 'jsonl',
  'application/jsonl': 'jsonl',
  'application/x-jsonlines': 'jsonl',
  'application/jsonlines': 'jsonl',
};

/** `?format=` wins; else the Content-Type; else a 400. */
export function contactFileFormatOf(format: ContactFileFormat | undefined, contentType: string | undefined): ContactFileFormat {
  if (format) return format;
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  const found = type ? CONTACT_FILE_CONTENT_TYPES[type] : undefined;
  if (found) return found;
  throw new AppError('INVALID_ARGUMENT', `cannot tell the file format from Content-Type ${type ? `"${type}"` : '(none)'}: send text/csv or application/x-ndjson, or add ?format=csv|jsonl`, [
    { path: 'query.format', message: 'required when the Content-Type is not text/csv or application/x-ndjson' },
  ]);
}

/** A bad row: its 1-based line, a stable code and a message. */
export interface RowError {
  line: number;
  code: string;
  message: string;
}

/** The fields of a row as read (not validated yet). */
export interface RowFields {
  phone?: string | undefined;
  zip?: string | undefined;
  externalId?: string | undefined;
}

export type RawRow = { line: number; fields: RowFields } | { line: number; error: Omit<RowError, 'line'> };

const rowError = (line: number, code: string, message: string): RawRow => ({ line, error: { code, message } });

/** The row, or a bad row when one of its fields breaks the character policy. */
function checkedRow(line: number, fields: RowFields): RawRow {
  for (const name of ['phone', 'zip', 'externalId'] as const) {
    const v = fields[name];
    if (v === undefined) continue;
    const i = badCharIndex(v);
    if (i >= 0) return rowError(line, 'INVALID_ROW', `${name} ${badTextMessage(v, i)}`);
  }
  return { line, fields };
}

/** CSV header name → field (case, spaces, `_` and `-` ignored); other columns are ignored. */
const CSV_COLUMNS: Record<string, keyof RowFields> = { phone: 'phone', phonenumber: 'phone', zip: 'zip', zipcode: 'zip', externalid: 'externalId' };

function csvErrorMessage(err: CsvError): string {
  if (err.code === 'CSV_MAX_RECORD_SIZE') return `record longer than ${MAX_RECORD_CHARS} characters`;
  return `malformed CSV: ${err.message.split(':')[0] ?? err.code}`.slice(0, 200);
}

export async function* csvContactRows(input: Readable): AsyncGenerator<RawRow> {
  const skipped: RawRow[] = [];
  const parser = parseCsv({
    bom: true,
    trim: true,
    skip_empty_lines: true,
    relax_column_count: true, // compared with the header below, so that a short or long row is one bad row
    skip_records_with_error: true,
    max_record_size: MAX_RECORD_CHARS,
    info: true,
    on_skip: (err) => {
      if (err) skipped.push(rowError((err as CsvError & { lines?: number }).lines ?? 0, 'INVALID_ROW', csvErrorMessage(err)));
    },
  });
  input.on('error', (err) => parser.destroy(err));
  input.pipe(parser);
  let columns: Array<keyof RowFields | undefined> | undefined;
  for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    const line = info.lines;
    while (skipped.length && skipped[0]!.line < line) yield skipped.shift()!;
    if (!columns) {
      const names = record.map((h) => CSV_COLUMNS[h.toLowerCase().replace(/[\s_-]/g, '')]);
      columns = names.map((n, i) => (n && names.indexOf(n) === i ? n : undefined));
      if (!columns.includes('phone')) {
        throw new AppError('INVALID_ARGUMENT', `the CSV header (line ${line}) has no "phone" column`, [{ path: 'body', message: 'the first line must name the columns: phone, zip, externalId (others are ignored)' }]);
      }
      continue;
    }
    if (record.length !== columns.length) {
      yield rowError(line, 'INVALID_ROW', `expected ${columns.length} columns (as in the header), got ${record.length}`);
      continue;
    }
    const fields: RowFields = {};
    for (let i = 0; i < columns.length; i++) {
      const name = columns[i];
      if (name) fields[name] = record[i];
    }
    yield checkedRow(line, fields);
  }
  yield* skipped;
}

function jsonField(row: Record<string, unknown>, name: keyof RowFields): string | undefined | Error {
  const v = row[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return new Error(`${name} must be a string`);
}

function jsonRow(line: number, text: string): RawRow {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return rowError(line, 'INVALID_ROW', 'not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return rowError(line, 'INVALID_ROW', 'a line must be a JSON object');
  const fields: RowFields = {};
  for (const name of ['phone', 'zip', 'externalId'] as const) {
    const v = jsonField(value as Record<string, unknown>, name);
    if (v instanceof Error) return rowError(line, 'INVALID_ROW', v.message);
    fields[name] = v;
  }
  return checkedRow(line, fields);
}

/** One JSON object per line; blank lines are skipped (they still count as lines). */
export async function* jsonlContactRows(input: Readable): AsyncGenerator<RawRow> {
  const decoder = new StringDecoder('utf8');
  let buf = '';
  let line = 0;
  /** The current line passed MAX_RECORD_CHARS: its text is dropped up to the next newline. */
  let overlong = false;
  const emit = function* (text: string): Generator<RawRow> {
    line++;
    if (overlong || text.length > MAX_RECORD_CHARS) {
      overlong = false;
      yield rowError(line, 'INVALID_ROW', `line longer than ${MAX_RECORD_CHARS} characters`);
      return;
    }
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (text.trim() === '') return;
    yield jsonRow(line, text);
  };
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    buf += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let start = 0;
    let nl: number;
    while ((nl = buf.indexOf('\n', start)) >= 0) {
      yield* emit(buf.slice(start, nl));
      start = nl + 1;
    }
    buf = buf.slice(start);
    if (buf.length > MAX_RECORD_CHARS) {
      overlong = true;
      buf = '';
    }
  }
  buf += decoder.end();
  if (buf !== '' || overlong) yield* emit(buf);
}

export function contactFileRows(input: Readable, format: ContactFileFormat): AsyncGenerator<RawRow> {
  return format === 'csv' ? csvContactRows(input) : jsonlContactRows(input);
}
