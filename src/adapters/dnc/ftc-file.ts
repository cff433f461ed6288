/**
 * The FTC's National Do-Not-Call Registry download files, as the registry gives them to
 * subscribers (telemarketing.donotcall.gov, "flat text file"), one record per line:
 *
 *   full list    `2025550123` — one telephone number per line — or `202,5550123` (area code, number)
 *   change list  comma-delimited records: the number (either form above), an add/delete
 *                indicator (`A`/`D`, or `ADD`/`DEL`/`DELETE`/`ADDITION`/`DELETION`), and possibly
 *                other items (a date), which are ignored
 *
 * Blank lines are skipped, and so is a first line without a digit (a header). Fields may be
 * quoted. A line that is none of these stops the import (nothing of it is kept). The XML
 * download is not read, and the downloads come zipped: unzip first.
 *
 * `DncFileTransform` turns the file's bytes into COPY text rows (`line \t number \t op`) as they
 * stream by, hashing the bytes, and counting numbers per area code, without holding the file.
 */
import { createHash } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { Transform, type TransformCallback } from 'node:stream';
import { AppError } from '../../domain/errors.ts';

export type DncFileKind = 'full' | 'changes';

export type DncRecord = { readonly number: number; readonly op: 'A' | 'D' };

const NANP_10 = /^[2-9]\d{2}[2-9]\d{6}$/;
const AREA = /^[2-9]\d{2}$/;
const LOCAL = /^[2-9]\d{6}$/;
const OPS: Record<string, 'A' | 'D'> = { A: 'A', ADD: 'A', ADDITION: 'A', ADDED: 'A', D: 'D', DEL: 'D', DELETE: 'D', DELETION: 'D', DELETED: 'D' };

/**
 * One line: a record, null (a line to skip), or the reason it is not a record. Never echoes the
 * line (it holds a phone number).
 */
export function parseDncLine(raw: string, kind: DncFileKind, lineNo: number): DncRecord | null | { error: string } {
  if (kind === 'full') {
    const n = fastFull(raw);
    if (n !== null) return { number: n, op: 'A' };
  }
  const line = raw.trim();
  if (line === '') return null;
  if (lineNo === 1 && !/\d/.test(line)) return null;
  const fields = line.split(',').map((f) => f.trim().replace(/^"(.*)"$/, '$1').trim());
  let number: number | undefined;
  let rest: string[];
  if (fields[0] !== undefined && NANP_10.test(fields[0])) {
    number = Number(fields[0]);
    rest = fields.slice(1);
  } else if (fields.length >= 2 && AREA.test(fields[0]!) && LOCAL.test(fields[1]!)) {
    number = Number(fields[0]! + fields[1]!);
    rest = fields.slice(2);
  } else {
    return { error: 'not a telephone number (expected 10 digits, or area code and 7 digits, of a NANP number)' };
  }
  if (kind === 'full') {
    if (rest.length > 0) return { error: 'a full list has one telephone number per line, nothing after it' };
    return { number, op: 'A' };
  }
  const ops = rest.map((f) => OPS[f.toUpperCase()]).filter((o): o is 'A' | 'D' => o !== undefined);
  if (ops.length !== 1) return { error: 'a change-list record needs one add/delete indicator (A or D)' };
  return { number, op: ops[0]! };
}

/**
 * The two full-list forms without trimming or splitting (a million lines a file): `NPANXXXXXX`
 * or `NPA,NXXXXXX`, with an optional trailing CR. null: not one of them (the general path decides).
 */
function fastFull(raw: string): number | null {
  let len = raw.length;
  if (len > 0 && raw.charCodeAt(len - 1) === 13) len--;
  let n = 0;
  let digits = 0;
  for (let i = 0; i < len; i++) {
    const c = raw.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      // Area code and exchange start with 2-9.
      if ((digits === 0 || digits === 3) && c < 50) return null;
      n = n * 10 + (c - 48);
      digits++;
    } else if (c === 44 && digits === 3 && i === 3) {
      continue;
    } else {
      return null;
    }
  }
  return digits === 10 && (len === 10 || len === 11) ? n : null;
}

export interface DncFileSummary {
  /** Lines read (including skipped ones). */
  lines: number;
  records: number;
  /** Records per area code. */
  areaCodes: Map<number, number>;
  /** SHA-256 of the bytes read (hex), once the stream has ended. */
  sha256: string;
}

/** Bytes of a registry file in, COPY text rows out (see the module comment). Errors with AppError INVALID_ARGUMENT at the first bad line. */
export class DncFileTransform extends Transform {
  readonly summary: DncFileSummary = { lines: 0, records: 0, areaCodes: new Map(), sha256: '' };
  private readonly hash = createHash('sha256');
  private readonly decoder = new StringDecoder('utf8');
  private tail = '';

  constructor(private readonly kind: DncFileKind) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    const text = this.tail + this.decoder.write(chunk);
    const end = text.lastIndexOf('\n');
    if (end < 0) {
      this.tail = text;
      cb();
      return;
    }
    this.tail = text.slice(end + 1);
    this.emitLines(text.slice(0, end), cb);
  }

  override _flush(cb: TransformCallback): void {
    const rest = this.tail + this.decoder.end();
    this.tail = '';
    this.summary.sha256 = this.hash.digest('hex');
    if (rest === '') cb();
    else this.emitLines(rest, cb);
  }

  private emitLines(block: string, cb: TransformCallback): void {
    let out = '';
    const areaCodes = this.summary.areaCodes;
    let start = 0;
    while (start <= block.length) {
      let end = block.indexOf('\n', start);
      if (end < 0) end = block.length;
      const raw = block.slice(start, end);
      start = end + 1;
      const lineNo = ++this.summary.lines;
      const r = parseDncLine(raw, this.kind, lineNo);
      if (r === null) continue;
      if ('error' in r) {
        cb(new AppError('INVALID_ARGUMENT', `line ${lineNo}: ${r.error}; nothing was imported`));
        return;
      }
      this.summary.records++;
      const ac = Math.floor(r.number / 10_000_000);
      areaCodes.set(ac, (areaCodes.get(ac) ?? 0) + 1);
      out += `${lineNo}\t${r.number}\t${r.op}\n`;
    }
    cb(null, out === '' ? undefined : out);
  }
}
