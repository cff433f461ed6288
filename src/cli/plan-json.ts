/**
 * The JSON lines `tcpa plan` prints, built by string concatenation instead of `JSON.stringify`
 * of fresh objects (the serialisation dominated the run). The output is exactly
 * `JSON.stringify({ id, ...view })` / `JSON.stringify({ id, line, error })`: same keys in the
 * same order, same escaping (strings that may need escaping go through `JSON.stringify`
 * itself). A value of an unexpected type falls back to `JSON.stringify` of the whole line.
 * test/unit/plan-json.test.ts compares both on many random views.
 */
import type { Reason } from '../domain/decide.ts';
import type { DecisionView } from '../app/evaluate.ts';

/** Characters `JSON.stringify` escapes in a string (and surrogates, to let it decide). */
// eslint-disable-next-line no-control-regex -- control characters are exactly what is looked for
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON of a string. */
export function jsonString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/**
 * JSON of strings that repeat from row to row (codes, rule ids, citations, zones, states,
 * the calendar version). Bounded: past the limit, strings are escaped each time.
 */
const memo = new Map<string, string>();
const MEMO_MAX = 50_000;
function jsonConst(s: string): string {
  let j = memo.get(s);
  if (j === undefined) {
    j = jsonString(s);
    if (memo.size < MEMO_MAX) memo.set(s, j);
  }
  return j;
}

/** JSON of `id` as `tcpa plan` prints it: a string, a number or null. */
function jsonId(id: unknown): string | undefined {
  if (typeof id === 'string') return jsonString(id);
  if (id === null) return 'null';
  if (typeof id === 'number') return JSON.stringify(id);
  return undefined;
}

/** The JSON of a reason up to its `local` value, by code, rule and zone (citation and jurisdiction checked). */
interface Prefix {
  readonly citation: string | null;
  readonly jurisdiction: string | null;
  readonly json: string;
}
const prefixes = new Map<string | null, Map<string | null, Map<string, Prefix>>>();
let prefixCount = 0;

function prefixJson(code: string, rule: string | null, citation: string | null, jurisdiction: string | null, timezone: string | null): string {
  let byZone = prefixes.get(rule);
  if (byZone === undefined) {
    byZone = new Map();
    prefixes.set(rule, byZone);
  }
  let byCode = byZone.get(timezone);
  if (byCode === undefined) {
    byCode = new Map();
    byZone.set(timezone, byCode);
  }
  const hit = byCode.get(code);
  if (hit !== undefined && hit.citation === citation && hit.jurisdiction === jurisdiction) return hit.json;
  const json =
    `{"code":${jsonString(code)}` +
    `,"rule":${rule === null ? 'null' : jsonString(rule)}` +
    `,"citation":${citation === null ? 'null' : jsonString(citation)}` +
    `,"jurisdiction":${jurisdiction === null ? 'null' : jsonString(jurisdiction)}` +
    `,"timezone":${timezone === null ? 'null' : jsonString(timezone)}` +
    `,"local":`;
  if (prefixCount < MEMO_MAX) {
    prefixCount++;
    byCode.set(code, { citation, jurisdiction, json });
  }
  return json;
}

/** A reason's fields, in `Reason` order. Each is `string | null`; anything else: undefined. */
function reasonJson(r: Reason): string | undefined {
  const { code, rule, citation, jurisdiction, timezone, local, message } = r;
  if (typeof code !== 'string' || typeof message !== 'string') return undefined;
  if (rule !== null && typeof rule !== 'string') return undefined;
  if (citation !== null && typeof citation !== 'string') return undefined;
  if (jurisdiction !== null && typeof jurisdiction !== 'string') return undefined;
  if (timezone !== null && typeof timezone !== 'string') return undefined;
  if (local !== null && typeof local !== 'string') return undefined;
  return `${prefixJson(code, rule, citation, jurisdiction, timezone)}${local === null ? 'null' : jsonString(local)},"message":${jsonString(message)}}`;
}

function nullableString(s: unknown, cached: boolean): string | undefined {
  if (s === null) return 'null';
  if (typeof s !== 'string') return undefined;
  return cached ? jsonConst(s) : jsonString(s);
}

/**
 * `JSON.stringify({ id, ...view })` for a view made by `present` (its keys in that order) whose
 * reasons are `Reason` objects with their seven keys in declaration order.
 */
export function viewLine(id: unknown, view: DecisionView): string {
  const fast = viewLineFast(id, view);
  return fast ?? JSON.stringify({ id, ...view });
}

/** `,"decision":…,"sendAt":` by decision. */
const decisionPieces = new Map<string, string>();
/** `,"state":…,"timezones":[…],"reasons":[` by zone list (the location's, shared) and state. */
const locationPieces = new WeakMap<readonly unknown[], { state: unknown; json: string }>();
/** `],"calendarVersion":…}` by version. */
const versionPieces = new Map<string, string>();

function locationPiece(state: unknown, timezones: readonly unknown[]): string | undefined {
  const hit = locationPieces.get(timezones);
  if (hit !== undefined && hit.state === state) return hit.json;
  const stateJson = nullableString(state, false);
  if (stateJson === undefined) return undefined;
  let zones = '';
  for (let i = 0; i < timezones.length; i++) {
    const z: unknown = timezones[i];
    if (typeof z !== 'string') return undefined;
    zones += i === 0 ? jsonString(z) : `,${jsonString(z)}`;
  }
  const json = `,"state":${stateJson},"timezones":[${zones}],"reasons":[`;
  // Only frozen lists can be memoised by identity (their content cannot change).
  if (Object.isFrozen(timezones)) locationPieces.set(timezones, { state, json });
  return json;
}

function viewLineFast(id: unknown, view: DecisionView): string | undefined {
  const idJson = jsonId(id);
  if (idJson === undefined) return undefined;
  const { decision, sendAt, localSendAt, state, timezones, reasons, calendarVersion } = view;
  if (typeof decision !== 'string' || typeof calendarVersion !== 'string' || !Array.isArray(timezones) || !Array.isArray(reasons)) return undefined;
  const sendAtJson = nullableString(sendAt, false);
  const localJson = nullableString(localSendAt, false);
  if (sendAtJson === undefined || localJson === undefined) return undefined;
  const where = locationPiece(state, timezones);
  if (where === undefined) return undefined;
  let rs = '';
  for (let i = 0; i < reasons.length; i++) {
    const r: unknown = reasons[i];
    if (typeof r !== 'object' || r === null) return undefined;
    const j = reasonJson(r as Reason);
    if (j === undefined) return undefined;
    rs += i === 0 ? j : `,${j}`;
  }
  let decisionJson = decisionPieces.get(decision);
  if (decisionJson === undefined) {
    decisionJson = `,"decision":${jsonString(decision)},"sendAt":`;
    if (decisionPieces.size < 100) decisionPieces.set(decision, decisionJson);
  }
  let versionJson = versionPieces.get(calendarVersion);
  if (versionJson === undefined) {
    versionJson = `],"calendarVersion":${jsonString(calendarVersion)}}`;
    if (versionPieces.size < 100) versionPieces.set(calendarVersion, versionJson);
  }
  return `{"id":${idJson}${decisionJson}${sendAtJson},"localSendAt":${localJson}${where}${rs}${versionJson}`;
}

/** `JSON.stringify({ id, line, error: { code, message } })`. */
export function errorLine(id: unknown, line: number, code: string, message: string): string {
  const idJson = jsonId(id);
  if (idJson === undefined || !Number.isInteger(line) || typeof code !== 'string' || typeof message !== 'string') return JSON.stringify({ id, line, error: { code, message } });
  return `{"id":${idJson},"line":${line},"error":{"code":${jsonConst(code)},"message":${jsonString(message)}}}`;
}
