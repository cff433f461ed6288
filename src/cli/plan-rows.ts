/**
 * One row of `tcpa plan`: reading a JSONL line, validating the row (without zod for the rows it
 * would accept, with zod for the rest and for the wording of errors), deciding it and printing
 * its line.
 */
import { StringDecoder } from 'node:string_decoder';
import { z } from 'zod';
import type { CalendarSet } from '../domain/calendar/compile.ts';
import { AppError } from '../domain/errors.ts';
import { textIssues } from '../domain/text.ts';
import { evaluate, parseCheckRequest, RawCheckSchema, type RawCheck } from '../app/evaluate.ts';
import { LineBuffer, writeErrorLine, writeViewLine } from './plan-json.ts';

const RowSchema = RawCheckSchema.extend({ id: z.union([z.string(), z.number()]).optional() });

export interface PlanSummary {
  rows: number;
  errors: number;
  decisions: Record<string, number>;
  reasons: Record<string, number>;
  errorCodes: Record<string, number>;
  localSendHour: number[];
}

export function emptySummary(): PlanSummary {
  return { rows: 0, errors: 0, decisions: {}, reasons: {}, errorCodes: {}, localSendHour: new Array<number>(24).fill(0) };
}

/** Adds `from` to `into`; keys new to `into` are added in `from`'s order (as a run in sequence would). */
export function mergeSummary(into: PlanSummary, from: PlanSummary): void {
  into.rows += from.rows;
  into.errors += from.errors;
  for (const [k, v] of Object.entries(from.decisions)) into.decisions[k] = (into.decisions[k] ?? 0) + v;
  for (const [k, v] of Object.entries(from.reasons)) into.reasons[k] = (into.reasons[k] ?? 0) + v;
  for (const [k, v] of Object.entries(from.errorCodes)) into.errorCodes[k] = (into.errorCodes[k] ?? 0) + v;
  from.localSendHour.forEach((v, h) => (into.localSendHour[h]! += v));
}

function inc(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

/** A JSON/CSV value RowSchema takes for zip, phone and id: a string or a finite number. */
function isStringOrFinite(v: unknown): boolean {
  return typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}

/** A row value overrides the default unless it is absent or ''. */
function pick<T>(v: T | undefined, d: T | undefined): T | undefined {
  return v === undefined || v === '' ? d : v;
}

/**
 * RowSchema's verdict on the rows it accepts, without zod, merged over the defaults like the
 * general path below does. Undefined when the row is anything else (then zod judges it and
 * words the error). Accepts exactly what RowSchema accepts for plain objects: every known field
 * absent/undefined or of its type (strings; zip/phone/id also finite numbers); unknown keys ignored.
 */
function quickRow(raw: unknown, defaults: RawCheck): { id: string | number | null; merged: RawCheck } | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const proto: unknown = Object.getPrototypeOf(raw);
  if (proto !== Object.prototype && proto !== null) return undefined;
  const o = raw as Record<string, unknown>;
  const { id, zip, phone, channel, purpose, policy, at, now, notAfter, unresolved, subject } = o;
  if (
    (id !== undefined && !isStringOrFinite(id)) ||
    (zip !== undefined && !isStringOrFinite(zip)) ||
    (phone !== undefined && !isStringOrFinite(phone)) ||
    (channel !== undefined && typeof channel !== 'string') ||
    (purpose !== undefined && typeof purpose !== 'string') ||
    (policy !== undefined && typeof policy !== 'string') ||
    (at !== undefined && typeof at !== 'string') ||
    (now !== undefined && typeof now !== 'string') ||
    (notAfter !== undefined && typeof notAfter !== 'string') ||
    (unresolved !== undefined && typeof unresolved !== 'string') ||
    (subject !== undefined && typeof subject !== 'string')
  ) {
    return undefined;
  }
  const merged: RawCheck = {
    zip: pick(zip as string | number | undefined, defaults.zip),
    phone: pick(phone as string | number | undefined, defaults.phone),
    channel: pick(channel as string | undefined, defaults.channel),
    purpose: pick(purpose as string | undefined, defaults.purpose),
    policy: pick(policy as string | undefined, defaults.policy),
    at: pick(at as string | undefined, defaults.at),
    now: pick(now as string | undefined, defaults.now),
    notAfter: pick(notAfter as string | undefined, defaults.notAfter),
    unresolved: pick(unresolved as string | undefined, defaults.unresolved),
    subject: pick(subject as string | undefined, defaults.subject),
  };
  return { id: (id as string | number | undefined) ?? null, merged };
}

/** The general path: zod validates (and words the error), then the row is merged over the defaults. */
function zodRow(raw: unknown, defaults: RawCheck): { id: string | number | null; merged: RawCheck } | AppError {
  const row = RowSchema.safeParse(raw);
  if (!row.success) return new AppError('INVALID_ROW', row.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  const merged: RawCheck = { ...defaults };
  for (const [k, v] of Object.entries(row.data)) if (v !== undefined && v !== '' && k !== 'id') (merged as Record<string, unknown>)[k] = v;
  return { id: row.data.id ?? null, merged };
}

/**
 * Splits decoded text into lines exactly like `readline` with `crlfDelay: Infinity` (line ends
 * `\n`, `\r\n` and a lone `\r`; a `\r` ending one chunk and a `\n` starting the next are one
 * end; the text after the last end is a line when not empty), without its per-line events.
 */
export class LineSplitter {
  readonly #decoder = new StringDecoder('utf8');
  #rest: string | null = null;
  #sawReturn = false;
  static readonly #ending = /\r?\n|\r(?!\n)/g;

  /** Feed a chunk; `onLine` gets each complete line. */
  write(chunk: Buffer | string, onLine: (text: string) => void): void {
    let text = typeof chunk === 'string' ? chunk : this.#decoder.write(chunk);
    if (this.#sawReturn) {
      if (text.codePointAt(0) === 10) text = text.slice(1);
      this.#sawReturn = false;
    }
    const hasReturn = text.indexOf('\r') !== -1;
    const firstEnd = hasReturn ? text.search(LineSplitter.#ending) : text.indexOf('\n');
    if (firstEnd === -1) {
      if (text) this.#rest = this.#rest ? this.#rest + text : text;
      return;
    }
    if (this.#rest) {
      text = this.#rest + text;
      this.#rest = null;
    }
    if (!hasReturn) {
      let start = 0;
      for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
        onLine(text.slice(start, end));
        start = end + 1;
      }
      this.#rest = text.slice(start);
      return;
    }
    this.#sawReturn = text.endsWith('\r');
    const re = LineSplitter.#ending;
    re.lastIndex = 0;
    let start = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      onLine(text.slice(start, m.index));
      start = re.lastIndex;
    }
    this.#rest = text.slice(start);
  }

  /** End of input: the last line, if it is not empty (an incomplete UTF-8 sequence is dropped, as readline does). */
  end(onLine: (text: string) => void): void {
    if (typeof this.#rest === 'string' && this.#rest.length > 0) onLine(this.#rest);
    this.#rest = null;
  }
}

/** Decides rows one at a time. */
export class RowDecider {
  constructor(
    private readonly set: CalendarSet,
    private readonly defaults: RawCheck,
    private readonly clockNow: number,
  ) {}

  /**
   * Writes the output line of the row read at `line` into `out`, counted into `summary`. `raw`
   * is the row's value, or an AppError when it could not be read. A bad row gets its error line;
   * anything but an AppError propagates (the run stops).
   */
  row(line: number, raw: unknown, summary: PlanSummary, out: LineBuffer): void {
    summary.rows++;
    let id: unknown = null;
    try {
      if (raw instanceof AppError) throw raw;
      const row = quickRow(raw, this.defaults) ?? zodRow(raw, this.defaults);
      if (row instanceof AppError) throw row;
      id = row.id;
      const view = evaluate(this.set, parseCheckRequest(row.merged, this.clockNow));
      inc(summary.decisions, view.decision);
      for (const r of view.reasons) if (r.code !== 'ALLOWED') inc(summary.reasons, r.code);
      if (view.localSendAt) summary.localSendHour[Number(view.localSendAt.slice(11, 13))]!++;
      writeViewLine(out, id, view);
    } catch (e) {
      if (!(e instanceof AppError)) throw e;
      summary.errors++;
      inc(summary.errorCodes, e.code);
      writeErrorLine(out, id, line, e.code, e.message);
    }
  }
}

/** A batch of a parallel run: whole JSONL lines (the last batch may end without a line end); `firstLine` numbers its first line. */
export interface PlanBatch {
  seq: number;
  firstLine: number;
  bytes: Uint8Array;
}

/** A batch's output lines (UTF-8, in pieces of ~64 KB, each with an ArrayBuffer of its own) and its share of the summary. */
export interface BatchResult {
  out: Uint8Array[];
  summary: PlanSummary;
}

/** Decides a batch as the single-threaded run decides the same lines (same splitter, same rows, same numbering). */
export function decideBatch(decider: RowDecider, batch: PlanBatch): BatchResult {
  const summary = emptySummary();
  const splitter = new LineSplitter();
  const out = new LineBuffer();
  let line = batch.firstLine - 1;
  const onLine = (l: string): void => {
    line++;
    const raw = jsonlValue(l);
    if (raw !== undefined) decider.row(line, raw, summary, out);
  };
  splitter.write(Buffer.from(batch.bytes.buffer, batch.bytes.byteOffset, batch.bytes.byteLength), onLine);
  splitter.end(onLine);
  return { out: out.take(true), summary };
}

/** The value of a JSONL line: undefined for a blank line (skipped), an AppError when it is not JSON. */
export function jsonlValue(text: string): unknown {
  // A line starting with `{` is not blank: no trim needed.
  if (text.charCodeAt(0) !== 123 && text.trim() === '') return undefined;
  // The flat parser's strings hold no refused character (it leaves those lines to JSON.parse).
  const flat = parseFlatObject(text);
  if (flat !== undefined) return flat;
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    return new AppError('INVALID_ROW', 'not valid JSON');
  }
  return textError(value) ?? value;
}

/** A CSV record of `tcpa plan` (column → value), or an AppError when a value breaks the character policy. */
export function csvValue(record: Record<string, string>): unknown {
  return textError(record) ?? record;
}

/**
 * INVALID_ROW when a string (or key) of the row holds a character the policy refuses
 * (src/domain/text.ts: NUL, a lone surrogate, a C0 control but TAB/CR/LF, U+FFFE, U+FFFF).
 */
function textError(value: unknown): AppError | undefined {
  const issue = textIssues(value, 1)[0];
  return issue ? new AppError('INVALID_ROW', `${issue.path.join('.')}: ${issue.message}`) : undefined;
}

const SPACE = 32;
const TAB = 9;
const QUOTE = 34;
const BACKSLASH = 92;

/**
 * `JSON.parse(text)` for the common line: an object whose values are strings, numbers, true,
 * false or null, with no escape sequence in its keys or strings, spaces and tabs as the only
 * whitespace, no lone surrogate, U+FFFE or U+FFFF (so that, with no control character and no
 * escape either, every string is clean under src/domain/text.ts), and no `__proto__` key. Undefined for anything else (then JSON.parse decides,
 * errors included). Keys are assigned in order, so a repeated key keeps its first position and
 * its last value, as with JSON.parse.
 */
export function parseFlatObject(text: string): Record<string, unknown> | undefined {
  const n = text.length;
  let i = 0;
  let c = text.charCodeAt(i);
  while (c === SPACE || c === TAB) c = text.charCodeAt(++i);
  if (c !== 123 /* { */) return undefined;
  const out: Record<string, unknown> = {};
  c = text.charCodeAt(++i);
  while (c === SPACE || c === TAB) c = text.charCodeAt(++i);
  if (c === 125 /* } */) {
    i++;
  } else {
    for (;;) {
      // Key.
      if (c !== QUOTE) return undefined;
      const k0 = i + 1;
      let k = k0;
      for (; k < n; k++) {
        const d = text.charCodeAt(k);
        if (d === QUOTE) break;
        if (d === BACKSLASH || d < 32) return undefined;
        if (d >= 0xd800) {
          const skip = wideChar(text, k, d);
          if (skip < 0) return undefined;
          k += skip;
        }
      }
      if (k >= n) return undefined;
      const key = text.slice(k0, k);
      if (key === '__proto__') return undefined;
      i = k + 1;
      c = text.charCodeAt(i);
      while (c === SPACE || c === TAB) c = text.charCodeAt(++i);
      if (c !== 58 /* : */) return undefined;
      c = text.charCodeAt(++i);
      while (c === SPACE || c === TAB) c = text.charCodeAt(++i);
      // Value.
      let value: unknown;
      if (c === QUOTE) {
        const v0 = i + 1;
        let v = v0;
        for (; v < n; v++) {
          const d = text.charCodeAt(v);
          if (d === QUOTE) break;
          if (d === BACKSLASH || d < 32) return undefined;
          if (d >= 0xd800) {
            const skip = wideChar(text, v, d);
            if (skip < 0) return undefined;
            v += skip;
          }
        }
        if (v >= n) return undefined;
        value = text.slice(v0, v);
        i = v + 1;
      } else if (c === 116 /* t */ && text.startsWith('true', i)) {
        value = true;
        i += 4;
      } else if (c === 102 /* f */ && text.startsWith('false', i)) {
        value = false;
        i += 5;
      } else if (c === 110 /* n */ && text.startsWith('null', i)) {
        value = null;
        i += 4;
      } else {
        const end = numberEnd(text, i);
        if (end === i) return undefined;
        value = Number(text.slice(i, end));
        i = end;
      }
      out[key] = value;
      c = text.charCodeAt(i);
      while (c === SPACE || c === TAB) c = text.charCodeAt(++i);
      if (c === 44 /* , */) {
        c = text.charCodeAt(++i);
        while (c === SPACE || c === TAB) c = text.charCodeAt(++i);
        continue;
      }
      if (c !== 125 /* } */) return undefined;
      i++;
      break;
    }
  }
  c = text.charCodeAt(i);
  while (c === SPACE || c === TAB) c = text.charCodeAt(++i);
  return i === n ? out : undefined;
}

/**
 * At `i`, a code unit `d` ≥ U+D800: 1 to skip the low half of a surrogate pair, 0 for another
 * allowed character, -1 for a lone surrogate, U+FFFE or U+FFFF (the line goes to JSON.parse and
 * the character policy).
 */
function wideChar(text: string, i: number, d: number): number {
  if (d <= 0xdbff) {
    const e = text.charCodeAt(i + 1);
    return e >= 0xdc00 && e <= 0xdfff ? 1 : -1;
  }
  return d <= 0xdfff || d >= 0xfffe ? -1 : 0;
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/** End of the JSON number starting at `i` (`-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`), or `i` when there is none. */
function numberEnd(text: string, i: number): number {
  let j = i;
  if (text.charCodeAt(j) === 45 /* - */) j++;
  const first = text.charCodeAt(j);
  if (first === 48) j++;
  else if (first >= 49 && first <= 57) while (isDigit(text.charCodeAt(j))) j++;
  else return i;
  if (text.charCodeAt(j) === 46 /* . */) {
    if (!isDigit(text.charCodeAt(j + 1))) return i;
    j++;
    while (isDigit(text.charCodeAt(j))) j++;
  }
  const e = text.charCodeAt(j);
  if (e === 101 || e === 69) {
    let k = j + 1;
    const sign = text.charCodeAt(k);
    if (sign === 43 || sign === 45) k++;
    if (!isDigit(text.charCodeAt(k))) return i;
    while (isDigit(text.charCodeAt(k))) k++;
    j = k;
  }
  return j;
}
