/**
 * A campaign's audience, row by row: read (a streamed CSV or JSONL file, an inline array or a
 * contact list), validated and placed (phone → E.164, zip known), de-duplicated (a number or an
 * externalId seen earlier in the audience is a bad row, so every contact gets at most one timer
 * per campaign whichever planner plans which chunk) and cut into chunks of `CHUNK_SIZE` rows.
 *
 * Memory stays flat: rows are pulled from the stream one at a time; a full chunk is written while
 * the next one is read, and reading waits until the previous write has finished (back-pressure
 * down to the socket). Only two compact hash sets grow with the file (8 bytes per number and per
 * externalId, about 20 MB at a million rows).
 *
 * Bad rows never abort the file: each one is a `RowError` with its line number (the CSV header is
 * line 1; blank lines count). Codes: `INVALID_ROW`, `INVALID_PHONE`, `INVALID_ZIP`, `UNKNOWN_ZIP`,
 * `DUPLICATE_PHONE`, `DUPLICATE_EXTERNAL_ID`. (Planning may add `CONFLICT`: an externalId held by
 * another number in the org.)
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { parse as parseCsv, type CsvError } from 'csv-parse';
import { AppError } from '../../domain/errors.ts';
import { resolveLocation } from '../../domain/location/resolve.ts';

export type AudienceFormat = 'csv' | 'jsonl';

/** Rows per chunk (one planning job each). */
export const CHUNK_SIZE = 1000;
/** A CSV record or a JSONL line longer than this is a bad row (one huge line cannot fill memory). */
export const MAX_RECORD_CHARS = 64 * 1024;

/** One good row as stored in a chunk. `i` is its index in the campaign (the timer's `campaign_row`). */
export interface AudienceRow {
  i: number;
  line: number;
  /** E.164 */
  phone: string;
  zip?: string;
  externalId?: string;
}

export interface RowError {
  line: number;
  code: string;
  message: string;
}

export interface RowFields {
  phone?: string | undefined;
  zip?: string | undefined;
  externalId?: string | undefined;
}

export type RawRow = { line: number; fields: RowFields } | { line: number; error: Omit<RowError, 'line'> };

/** Content types of an audience file → format. */
export const AUDIENCE_CONTENT_TYPES: Record<string, AudienceFormat> = {
  'text/csv': 'csv',
  'application/csv': 'csv',
  'application/x-ndjson': 'jsonl',
  'application/jsonl': 'jsonl',
  'application/x-jsonlines': 'jsonl',
  'application/jsonlines': 'jsonl',
};

/** `?format=` wins; else the Content-Type; else a 400. */
export function audienceFormatOf(format: AudienceFormat | undefined, contentType: string | undefined): AudienceFormat {
  if (format) return format;
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  const found = type ? AUDIENCE_CONTENT_TYPES[type] : undefined;
  if (found) return found;
  throw new AppError('INVALID_ARGUMENT', `cannot tell the file format from Content-Type ${type ? `"${type}"` : '(none)'}: send text/csv or application/x-ndjson, or add ?format=csv|jsonl`, [
    { path: 'query.format', message: 'required when the Content-Type is not text/csv or application/x-ndjson' },
  ]);
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

const bad = (line: number, code: string, message: string): RawRow => ({ line, error: { code, message } });

/** CSV header name → field (case, spaces, `_` and `-` ignored); other columns are ignored. */
const CSV_COLUMNS: Record<string, keyof RowFields> = { phone: 'phone', phonenumber: 'phone', zip: 'zip', zipcode: 'zip', externalid: 'externalId' };

function csvErrorMessage(err: CsvError): string {
  if (err.code === 'CSV_MAX_RECORD_SIZE') return `record longer than ${MAX_RECORD_CHARS} characters`;
  return `malformed CSV: ${err.message.split(':')[0] ?? err.code}`.slice(0, 200);
}

export async function* csvAudienceRows(input: Readable): AsyncGenerator<RawRow> {
  const skipped: RawRow[] = [];
  const parser = parseCsv({
    bom: true,
    trim: true,
    skip_empty_lines: true,
    relax_column_count: true, // compared with the header below: a short or long row is one bad row
    skip_records_with_error: true,
    max_record_size: MAX_RECORD_CHARS,
    info: true,
    on_skip: (err) => {
      if (err) skipped.push(bad((err as CsvError & { lines?: number }).lines ?? 0, 'INVALID_ROW', csvErrorMessage(err)));
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
      yield bad(line, 'INVALID_ROW', `expected ${columns.length} columns (as in the header), got ${record.length}`);
      continue;
    }
    const fields: RowFields = {};
    for (let i = 0; i < columns.length; i++) {
      const name = columns[i];
      if (name) fields[name] = record[i];
    }
    yield { line, fields };
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
    return bad(line, 'INVALID_ROW', 'not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad(line, 'INVALID_ROW', 'a line must be a JSON object');
  const fields: RowFields = {};
  for (const name of ['phone', 'zip', 'externalId'] as const) {
    const v = jsonField(value as Record<string, unknown>, name);
    if (v instanceof Error) return bad(line, 'INVALID_ROW', v.message);
    fields[name] = v;
  }
  return { line, fields };
}

/** One JSON object per line; blank lines are skipped (they still count as lines). */
export async function* jsonlAudienceRows(input: Readable): AsyncGenerator<RawRow> {
  const decoder = new StringDecoder('utf8');
  let buf = '';
  let line = 0;
  let overlong = false;
  const emit = function* (text: string): Generator<RawRow> {
    line++;
    if (overlong) {
      overlong = false;
      yield bad(line, 'INVALID_ROW', `line longer than ${MAX_RECORD_CHARS} characters`);
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

export function audienceRows(input: Readable, format: AudienceFormat): AsyncGenerator<RawRow> {
  return format === 'csv' ? csvAudienceRows(input) : jsonlAudienceRows(input);
}

// ---------------------------------------------------------------------------------------------
// Validation and de-duplication
// ---------------------------------------------------------------------------------------------

/** Validates and places one row: a NANP number, a known zip when one is given. */
export function validateRow(line: number, f: RowFields): Omit<AudienceRow, 'i'> | RowError {
  const phone = f.phone?.trim();
  if (!phone) return { line, code: 'INVALID_ROW', message: 'phone is required' };
  if (phone.length > 40) return { line, code: 'INVALID_PHONE', message: 'not a valid phone number' };
  const zip = f.zip?.trim() || undefined;
  const externalId = f.externalId?.trim() || undefined;
  if (externalId && externalId.length > 200) return { line, code: 'INVALID_ROW', message: 'externalId is longer than 200 characters' };
  const location = resolveLocation({ phone, ...(zip === undefined ? {} : { zip }) });
  if (!location.phone) {
    const issue = location.issues.find((i) => i.code === 'INVALID_PHONE' || i.code === 'NON_US_PHONE');
    return { line, code: 'INVALID_PHONE', message: issue?.message ?? 'not a valid phone number' };
  }
  const badZip = location.issues.find((i) => i.code === 'INVALID_ZIP' || i.code === 'UNKNOWN_ZIP');
  if (badZip) return { line, code: badZip.code, message: badZip.message };
  return { line, phone: location.phone.e164, ...(location.zip ? { zip: location.zip } : {}), ...(externalId ? { externalId } : {}) };
}

/**
 * A set of 64-bit keys in two typed arrays (open addressing, linear probing): 8 bytes per key
 * plus slack, instead of a JS string per key.
 */
export class KeySet {
  private hi = new Uint32Array(1 << 12);
  private lo = new Uint32Array(1 << 12);
  private used = new Uint8Array(1 << 12);
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds the key; false when it was already there. */
  add(hi: number, lo: number): boolean {
    if ((this.count + 1) * 2 > this.used.length) this.grow();
    return this.insert(hi >>> 0, lo >>> 0);
  }

  has(hi: number, lo: number): boolean {
    const mask = this.used.length - 1;
    hi >>>= 0;
    lo >>>= 0;
    for (let i = this.slot(hi, lo); this.used[i]; i = (i + 1) & mask) if (this.hi[i] === hi && this.lo[i] === lo) return true;
    return false;
  }

  private slot(hi: number, lo: number): number {
    return (Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b) >>> 0) & (this.used.length - 1);
  }

  private insert(hi: number, lo: number): boolean {
    const mask = this.used.length - 1;
    let i = this.slot(hi, lo);
    while (this.used[i]) {
      if (this.hi[i] === hi && this.lo[i] === lo) return false;
      i = (i + 1) & mask;
    }
    this.used[i] = 1;
    this.hi[i] = hi;
    this.lo[i] = lo;
    this.count++;
    return true;
  }

  private grow(): void {
    const { hi, lo, used } = this;
    const size = used.length * 2;
    this.hi = new Uint32Array(size);
    this.lo = new Uint32Array(size);
    this.used = new Uint8Array(size);
    this.count = 0;
    for (let i = 0; i < used.length; i++) if (used[i]) this.insert(hi[i]!, lo[i]!);
  }
}

/** An E.164 number as a 64-bit key (exact: at most 15 digits). */
export function phoneKey(e164: string): [number, number] {
  const n = Number(e164.slice(1));
  return [Math.floor(n / 2 ** 32), n % 2 ** 32];
}

/** Any string as a 64-bit key (the first 8 bytes of its MD5: a false duplicate among a million ids has odds of about 1 in 10^7). */
export function stringKey(s: string): [number, number] {
  const d = createHash('md5').update(s).digest();
  return [d.readUInt32LE(0), d.readUInt32LE(4)];
}

// ---------------------------------------------------------------------------------------------
// Chunking
// ---------------------------------------------------------------------------------------------

export interface AudienceSink {
  /** Stores one chunk (rows in audience order). */
  chunk(seq: number, rows: AudienceRow[]): Promise<void>;
  /** Stores bad rows. */
  errors(errors: RowError[]): Promise<void>;
}

export interface AudienceTotals {
  /** Data rows read (bad rows included). */
  rows: number;
  /** Good rows (in chunks). */
  accepted: number;
  errors: number;
  chunks: number;
}

/**
 * Validates, de-duplicates and chunks rows, writing each full chunk (and the bad rows) through
 * `sink` while the caller reads on; at most one write is in flight.
 */
export class AudienceChunker {
  private rows: AudienceRow[] = [];
  private errs: RowError[] = [];
  private readonly phones = new KeySet();
  private readonly externalIds = new KeySet();
  private inflight: Promise<void> = Promise.resolve();
  readonly totals: AudienceTotals = { rows: 0, accepted: 0, errors: 0, chunks: 0 };

  constructor(
    private readonly sink: AudienceSink,
    private readonly chunkSize = CHUNK_SIZE,
  ) {}

  /** A row as read; validated here. */
  async add(raw: RawRow): Promise<void> {
    this.totals.rows++;
    if ('error' in raw) return this.reject({ line: raw.line, ...raw.error });
    const row = validateRow(raw.line, raw.fields);
    if ('code' in row) return this.reject(row);
    return this.accept(row);
  }

  /** A row already known to be valid (a stored contact). */
  async addValid(row: Omit<AudienceRow, 'i'>): Promise<void> {
    this.totals.rows++;
    return this.accept(row);
  }

  private async reject(e: RowError): Promise<void> {
    this.totals.errors++;
    this.errs.push(e);
    if (this.errs.length >= this.chunkSize) await this.flush();
  }

  private async accept(row: Omit<AudienceRow, 'i'>): Promise<void> {
    const [phi, plo] = phoneKey(row.phone);
    if (this.phones.has(phi, plo)) return this.reject({ line: row.line, code: 'DUPLICATE_PHONE', message: 'the same phone number appears earlier in the audience' });
    const ext = row.externalId === undefined ? undefined : stringKey(row.externalId);
    if (ext && this.externalIds.has(ext[0], ext[1])) return this.reject({ line: row.line, code: 'DUPLICATE_EXTERNAL_ID', message: 'the same externalId appears earlier in the audience' });
    this.phones.add(phi, plo);
    if (ext) this.externalIds.add(ext[0], ext[1]);
    this.rows.push({ i: this.totals.accepted++, ...row });
    if (this.rows.length >= this.chunkSize) await this.flush();
  }

  /** Starts writing what is buffered once the previous write is done (the caller waits meanwhile). */
  private async flush(): Promise<void> {
    const rows = this.rows;
    const errs = this.errs;
    if (rows.length === 0 && errs.length === 0) return;
    this.rows = [];
    this.errs = [];
    const seq = rows.length ? this.totals.chunks++ : -1;
    await this.inflight;
    this.inflight = (async () => {
      if (errs.length) await this.sink.errors(errs);
      if (rows.length) await this.sink.chunk(seq, rows);
    })();
    this.inflight.catch(() => undefined); // awaited at the next flush or in finish()
  }

  async finish(): Promise<AudienceTotals> {
    await this.flush();
    await this.inflight;
    return this.totals;
  }
}
