/**
 * The JSON lines `tcpa plan` prints, written as UTF-8 bytes straight into output buffers instead
 * of `JSON.stringify` of fresh objects and a string encoded afterwards (the serialisation, then
 * flattening and encoding the text, dominated the run). The pieces that repeat from row to row
 * (a reason's code, rule, citation, jurisdiction and zone; a location's state and zones; the
 * decision; the calendar version) are encoded once and copied. The output is exactly
 * `JSON.stringify({ id, ...view })` / `JSON.stringify({ id, line, error })`: same keys in the
 * same order, same escaping (a string that needs escaping goes through `JSON.stringify`
 * itself). A value of an unexpected type falls back to `JSON.stringify` of the whole line.
 * test/unit/plan-json.test.ts compares both on many random views.
 */
import type { Reason } from '../domain/decide.ts';
import type { DecisionView } from '../app/evaluate.ts';

const QUOTE = 34;
const BACKSLASH = 92;
const NEWLINE = 10;

/**
 * Output lines as UTF-8 bytes, cut into pieces of about `pieceSize` bytes, each piece with an
 * ArrayBuffer of its own (so it can be moved to another thread). A line is never split between
 * pieces, and a line being written can be taken back (`abandonLine`).
 */
export class LineBuffer {
  #buf: Buffer;
  #at = 0;
  #lineStart = 0;
  #pieces: Uint8Array[] = [];

  constructor(private readonly pieceSize = 64 * 1024) {
    this.#buf = Buffer.allocUnsafeSlow(pieceSize + 4096);
  }

  /** The complete pieces, and the current one when `all`; they leave the buffer. */
  take(all = false): Uint8Array[] {
    if (all && this.#at > 0) this.#cut();
    const out = this.#pieces;
    this.#pieces = [];
    return out;
  }

  /** Room for `n` more bytes in the current piece (grown, with the line begun, if needed). */
  #ensure(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.#buf.length * 2, this.#at + n));
    this.#buf.copy(bigger, 0, 0, this.#at);
    this.#buf = bigger;
  }

  #cut(): void {
    this.#pieces.push(new Uint8Array(this.#buf.buffer, 0, this.#at));
    this.#buf = Buffer.allocUnsafeSlow(this.pieceSize + 4096);
    this.#at = 0;
    this.#lineStart = 0;
  }

  /** Forget what was written of the current line. */
  abandonLine(): void {
    this.#at = this.#lineStart;
  }

  /** End the current line with a newline; the piece is cut when full. */
  endLine(): void {
    this.#ensure(1);
    this.#buf[this.#at++] = NEWLINE;
    if (this.#at >= this.pieceSize) this.#cut();
    this.#lineStart = this.#at;
  }

  /** Bytes as they are (an encoded piece). */
  bytes(b: Uint8Array): void {
    this.#ensure(b.length);
    this.#buf.set(b, this.#at);
    this.#at += b.length;
  }

  /** Any text, UTF-8 encoded. */
  text(s: string): void {
    this.#ensure(s.length * 3);
    this.#at += this.#buf.write(s, this.#at, 'utf8');
  }

  /** `JSON.stringify(s)` of a string, UTF-8 encoded. */
  json(s: string): void {
    const n = s.length;
    this.#ensure(n * 3 + 2);
    const buf = this.#buf;
    let at = this.#at;
    buf[at++] = QUOTE;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) {
        // Quotes, backslashes and control characters are escaped: JSON.stringify does it.
        if (c < 0x20 || c === QUOTE || c === BACKSLASH) return this.text(JSON.stringify(s));
        buf[at++] = c;
      } else if (c < 0x800) {
        buf[at++] = 0xc0 | (c >> 6);
        buf[at++] = 0x80 | (c & 0x3f);
      } else if (c >= 0xd800 && c <= 0xdfff) {
        // Surrogates: a pair is one character, a lone one is escaped; the encoder knows both.
        return this.text(JSON.stringify(s));
      } else {
        buf[at++] = 0xe0 | (c >> 12);
        buf[at++] = 0x80 | ((c >> 6) & 0x3f);
        buf[at++] = 0x80 | (c & 0x3f);
      }
    }
    buf[at++] = QUOTE;
    this.#at = at;
  }
}

/** UTF-8 bytes of a piece of JSON text. */
const encode = (s: string): Uint8Array => Buffer.from(s, 'utf8');
const jsonOf = (s: string | null): string => (s === null ? 'null' : JSON.stringify(s));
const NULL = encode('null');

/** Pieces kept per kind, at most; past that, pieces are encoded each time. */
const MEMO_MAX = 50_000;

/** Writes `id` as `tcpa plan` prints it (a string, a number or null); false for anything else. */
function writeId(out: LineBuffer, id: unknown): boolean {
  if (typeof id === 'string') out.json(id);
  else if (id === null) out.bytes(NULL);
  else if (typeof id === 'number') out.text(JSON.stringify(id));
  else return false;
  return true;
}

/** Writes a string or null; false for anything else. */
function writeNullable(out: LineBuffer, s: unknown): boolean {
  if (s === null) out.bytes(NULL);
  else if (typeof s === 'string') out.json(s);
  else return false;
  return true;
}

/** A reason's JSON up to its `local` value, by rule, zone, code and jurisdiction (the citation checked). */
interface Prefix {
  readonly citation: string | null;
  readonly bytes: Uint8Array;
}
type Keyed<T> = Map<string | null, T>;
const prefixes: Keyed<Keyed<Keyed<Keyed<Prefix>>>> = new Map();
let prefixCount = 0;

export function prefixBytes(code: string, rule: string | null, citation: string | null, jurisdiction: string | null, timezone: string | null): Uint8Array {
  // Nested maps looked up inline: a shared helper for the levels made this several times slower.
  let byZone = prefixes.get(rule);
  if (byZone === undefined) prefixes.set(rule, (byZone = new Map()));
  let byCode = byZone.get(timezone);
  if (byCode === undefined) byZone.set(timezone, (byCode = new Map()));
  let byJurisdiction = byCode.get(code);
  if (byJurisdiction === undefined) byCode.set(code, (byJurisdiction = new Map()));
  const hit = byJurisdiction.get(jurisdiction);
  if (hit !== undefined && hit.citation === citation) return hit.bytes;
  const bytes = encode(`{"code":${jsonOf(code)},"rule":${jsonOf(rule)},"citation":${jsonOf(citation)},"jurisdiction":${jsonOf(jurisdiction)},"timezone":${jsonOf(timezone)},"local":`);
  if (hit === undefined && prefixCount < MEMO_MAX) {
    prefixCount++;
    byJurisdiction.set(jurisdiction, { citation, bytes });
  }
  return bytes;
}

const MESSAGE_KEY = encode(',"message":');
const CLOSE_BRACE = encode('}');
const COMMA = encode(',');

/** Writes a reason, its fields in `Reason` order, each `string | null` (code and message strings); false for anything else. */
function writeReason(out: LineBuffer, r: Reason): boolean {
  const { code, rule, citation, jurisdiction, timezone, local, message } = r;
  if (typeof code !== 'string' || typeof message !== 'string') return false;
  if (rule !== null && typeof rule !== 'string') return false;
  if (citation !== null && typeof citation !== 'string') return false;
  if (jurisdiction !== null && typeof jurisdiction !== 'string') return false;
  if (timezone !== null && typeof timezone !== 'string') return false;
  out.bytes(prefixBytes(code, rule, citation, jurisdiction, timezone));
  if (!writeNullable(out, local)) return false;
  out.bytes(MESSAGE_KEY);
  out.json(message);
  out.bytes(CLOSE_BRACE);
  return true;
}

/** `,"decision":…,"sendAt":` by decision. */
const decisionPieces = new Map<string, Uint8Array>();
/** `,"state":…,"timezones":[…],"reasons":[` by zone list (the location's, shared) and state. */
const locationPieces = new WeakMap<readonly unknown[], { state: unknown; bytes: Uint8Array }>();
/** `],"calendarVersion":…}` by version. */
const versionPieces = new Map<string, Uint8Array>();
const ID_KEY = encode('{"id":');
const LOCAL_SEND_AT_KEY = encode(',"localSendAt":');

function locationPiece(state: unknown, timezones: readonly unknown[]): Uint8Array | undefined {
  const hit = locationPieces.get(timezones);
  if (hit !== undefined && hit.state === state) return hit.bytes;
  if (state !== null && typeof state !== 'string') return undefined;
  let zones = '';
  for (let i = 0; i < timezones.length; i++) {
    const z: unknown = timezones[i];
    if (typeof z !== 'string') return undefined;
    zones += i === 0 ? JSON.stringify(z) : `,${JSON.stringify(z)}`;
  }
  const bytes = encode(`,"state":${jsonOf(state)},"timezones":[${zones}],"reasons":[`);
  // Only frozen lists can be memoised by identity (their content cannot change).
  if (Object.isFrozen(timezones)) locationPieces.set(timezones, { state, bytes });
  return bytes;
}

function decisionPiece(decision: string): Uint8Array {
  let bytes = decisionPieces.get(decision);
  if (bytes === undefined) {
    bytes = encode(`,"decision":${JSON.stringify(decision)},"sendAt":`);
    if (decisionPieces.size < 100) decisionPieces.set(decision, bytes);
  }
  return bytes;
}

function versionPiece(version: string): Uint8Array {
  let bytes = versionPieces.get(version);
  if (bytes === undefined) {
    bytes = encode(`],"calendarVersion":${JSON.stringify(version)}}`);
    if (versionPieces.size < 100) versionPieces.set(version, bytes);
  }
  return bytes;
}

/** Writes the line of a view made by `present`; false (part of it written) when a value is of an unexpected type. */
function writeViewFast(out: LineBuffer, id: unknown, view: DecisionView): boolean {
  const { decision, sendAt, localSendAt, state, timezones, reasons, calendarVersion } = view;
  if (typeof decision !== 'string' || typeof calendarVersion !== 'string' || !Array.isArray(timezones) || !Array.isArray(reasons)) return false;
  const where = locationPiece(state, timezones);
  if (where === undefined) return false;
  out.bytes(ID_KEY);
  if (!writeId(out, id)) return false;
  out.bytes(decisionPiece(decision));
  if (!writeNullable(out, sendAt)) return false;
  out.bytes(LOCAL_SEND_AT_KEY);
  if (!writeNullable(out, localSendAt)) return false;
  out.bytes(where);
  for (let i = 0; i < reasons.length; i++) {
    const r: unknown = reasons[i];
    if (typeof r !== 'object' || r === null) return false;
    if (i > 0) out.bytes(COMMA);
    if (!writeReason(out, r as Reason)) return false;
  }
  out.bytes(versionPiece(calendarVersion));
  return true;
}

/** Writes `JSON.stringify({ id, ...view })` and a newline, for a view made by `present` (its keys in that order). */
export function writeViewLine(out: LineBuffer, id: unknown, view: DecisionView): void {
  if (!writeViewFast(out, id, view)) {
    out.abandonLine();
    out.text(JSON.stringify({ id, ...view }));
  }
  out.endLine();
}

const LINE_KEY = encode(',"line":');
const ERROR_CODE_KEY = encode(',"error":{"code":');
const ERROR_END = encode('}}');

/** Writes `JSON.stringify({ id, line, error: { code, message } })` and a newline. */
export function writeErrorLine(out: LineBuffer, id: unknown, line: number, code: string, message: string): void {
  out.bytes(ID_KEY);
  if (!writeId(out, id) || !Number.isInteger(line) || typeof code !== 'string' || typeof message !== 'string') {
    out.abandonLine();
    out.text(JSON.stringify({ id, line, error: { code, message } }));
  } else {
    out.bytes(LINE_KEY);
    out.text(String(line));
    out.bytes(ERROR_CODE_KEY);
    out.json(code);
    out.bytes(MESSAGE_KEY);
    out.json(message);
    out.bytes(ERROR_END);
  }
  out.endLine();
}
