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
import { resolveLocation } from '../../domain/location/resolve.ts';
import { contactFileFormatOf, contactFileRows, CONTACT_FILE_CONTENT_TYPES, type ContactFileFormat, type RawRow, type RowError, type RowFields } from '../contact-files.ts';

export type AudienceFormat = ContactFileFormat;

/** Rows per chunk (one planning job each). */
export const CHUNK_SIZE = 1000;

/** One good row as stored in a chunk. `i` is its index in the campaign (the timer's `campaign_row`). */
export interface AudienceRow {
  i: number;
  line: number;
  /** E.164 */
  phone: string;
  zip?: string;
  externalId?: string;
}

export type { RawRow, RowError, RowFields };

/** Content types of an audience file → format. */
export const AUDIENCE_CONTENT_TYPES = CONTACT_FILE_CONTENT_TYPES;
/** `?format=` wins; else the Content-Type; else a 400. */
export const audienceFormatOf = contactFileFormatOf;

/** The file's rows as read (src/app/contact-files.ts, shared with the contacts import). */
export const audienceRows = contactFileRows;

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
