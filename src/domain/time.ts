/**
 * The one place that knows about luxon. Everything else works in UTC epoch milliseconds and
 * IANA zone names, and asks this module to translate between instants and local wall time.
 *
 * Policy for local times that do not exist or exist twice (DST transitions):
 * - `localToUtc(..., 'start')`: a window start that falls in a spring-forward gap opens when the
 *   gap ends; one that falls in the repeated fall-back hour opens at the *later* of the two
 *   instants (the stricter choice).
 * - `localToUtc(..., 'end')`: a window end in a gap closes when the gap begins; one in the
 *   repeated hour closes at the *earlier* instant (the stricter choice).
 */
import { DateTime, IANAZone } from 'luxon';

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

const zoneCache = new Map<string, IANAZone | null>();

function zoneOf(name: string): IANAZone {
  const zone = zoneCache.get(name);
  if (zone) return zone;
  if (zone === undefined && isValidZone(name)) return zoneCache.get(name)!;
  throw new Error(`unknown time zone "${name}"`);
}

/** True when `name` is an IANA zone this runtime knows (tzdata). */
export function isValidZone(name: string): boolean {
  let zone = zoneCache.get(name);
  if (zone === undefined) {
    zone = IANAZone.isValidZone(name) ? IANAZone.create(name) : null;
    zoneCache.set(name, zone);
  }
  return zone !== null;
}

/** Throws a clear error for an unknown zone; returns the name otherwise. */
export function assertZone(name: string): string {
  if (!isValidZone(name)) throw new Error(`unknown time zone "${name}"`);
  return name;
}

/**
 * Offset tables: per zone and UTC year, the instants where the offset changes. Built once from
 * tzdata (via luxon) with one probe a day plus a binary search at each change, so later offset
 * look-ups are a short array search instead of an Intl call.
 */
interface OffsetTable {
  readonly starts: number[];
  readonly offsets: number[];
}
const offsetTables = new Map<string, Array<OffsetTable | undefined>>();

function offsetTable(zone: string, year: number): OffsetTable {
  let byYear = offsetTables.get(zone);
  if (!byYear) {
    byYear = [];
    offsetTables.set(zone, byYear);
  }
  let table = byYear[year - 1970];
  if (table) return table;
  const z = zoneOf(zone);
  const t0 = Date.UTC(year, 0, 1);
  const t1 = Date.UTC(year + 1, 0, 1);
  const starts = [t0];
  const offsets = [z.offset(t0)];
  // Offsets come from luxon; the daily probe only asks whether the zone's offset text changed
  // since the day before (one Intl call instead of luxon's formatToParts: ~5× cheaper).
  const probe = offsetProbe(zone);
  let text = probe.format(t0);
  for (let t = t0 + DAY; t <= t1; t += DAY) {
    const next = probe.format(t);
    if (next === text) continue;
    text = next;
    const off = z.offset(t);
    if (off !== offsets[offsets.length - 1]) {
      starts.push(findTransition(z, t - DAY, t));
      offsets.push(off);
    }
  }
  table = { starts, offsets };
  byYear[year - 1970] = table;
  return table;
}

const offsetProbes = new Map<string, Intl.DateTimeFormat>();
/** A formatter whose output changes exactly when the zone's UTC offset does (it prints the offset). */
function offsetProbe(zone: string): Intl.DateTimeFormat {
  let f = offsetProbes.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset', hour: 'numeric', hourCycle: 'h23' });
    offsetProbes.set(zone, f);
  }
  return f;
}

/** Offset of `zone` from UTC at instant `ms`, in minutes (e.g. -300 for EST). */
export function offsetMinutes(zone: string, ms: number): number {
  const { starts, offsets } = offsetTable(zone, utcYear(ms));
  let i = starts.length - 1;
  while (i > 0 && starts[i]! > ms) i--;
  return offsets[i]!;
}

/** A civil date (no zone): year, month 1–12, day 1–31. */
export interface CivilDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
}

/** Weekday of a civil date, 1 = Monday … 7 = Sunday (ISO). */
export function isoWeekday(d: CivilDate): number {
  const dow = new Date(Date.UTC(d.year, d.month - 1, d.day)).getUTCDay();
  return dow === 0 ? 7 : dow;
}

export function addDays(d: CivilDate, n: number): CivilDate {
  const t = new Date(Date.UTC(d.year, d.month - 1, d.day) + n * DAY);
  return { year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate() };
}

function civilKeySlow(d: CivilDate): string {
  return `${d.year}-${String(d.month).padStart(2, '0')}-${String(d.day).padStart(2, '0')}`;
}

/*
 * Memos of formatted strings for the hot path (explanations and JSON output repeat the same few
 * thousand dates, times of day and offsets). Bounded by construction: fixed index ranges.
 */
const MEMO_YEAR_MIN = 1970;
const MEMO_YEARS = 200;
const civilKeys: Array<string | undefined> = new Array<string | undefined>(MEMO_YEARS * 372).fill(undefined);

export function civilKey(d: CivilDate): string {
  const { year, month, day } = d;
  const y = year - MEMO_YEAR_MIN;
  if (y >= 0 && y < MEMO_YEARS && month >= 1 && month <= 12 && day >= 1 && day <= 31 && Number.isInteger(year) && Number.isInteger(month) && Number.isInteger(day)) {
    const i = y * 372 + (month - 1) * 31 + (day - 1);
    return (civilKeys[i] ??= civilKeySlow(d));
  }
  return civilKeySlow(d);
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));
/** `HH:MM` by minute of day (0–1439). */
const HHMM: readonly string[] = Array.from({ length: 1440 }, (_, m) => `${pad2(Math.floor(m / 60))}:${pad2(m % 60)}`);
/** `HH:MM:SS` by second of day, filled on first use. */
const hhmmss: Array<string | undefined> = new Array<string | undefined>(86_400).fill(undefined);
function timeOfDay(second: number): string {
  return (hhmmss[second] ??= `${HHMM[Math.floor(second / 60)]!}:${pad2(second % 60)}`);
}
/** `YYYY-MM-DD` by day number since 1970-01-01, filled on first use. */
const dayKeys: Array<string | undefined> = new Array<string | undefined>(MEMO_YEARS * 366).fill(undefined);
/** Instants (UTC ms, or local wall ms) the string memos cover: 1970 up to the end of the memo range. */
const MEMO_END_MS = Date.UTC(MEMO_YEAR_MIN + MEMO_YEARS - 1, 0, 1);
function dayKey(days: number): string {
  return (dayKeys[days] ??= civilKey(civilFromDays(days)));
}
/** `±HH:MM` by offset in minutes. */
const offsetSuffixes = new Map<number, string>();
function offsetSuffix(off: number): string {
  let s = offsetSuffixes.get(off);
  if (s === undefined) {
    const abs = Math.abs(off);
    s = `${off < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
    if (offsetSuffixes.size < 1000) offsetSuffixes.set(off, s);
  }
  return s;
}

export function parseCivil(iso: string): CivilDate {
  const [y, m, d] = iso.split('-').map(Number);
  return { year: y!, month: m!, day: d! };
}

/** Local wall-clock parts of instant `ms` in `zone`. */
export interface LocalParts extends CivilDate {
  /** Minutes since local midnight. */
  readonly minuteOfDay: number;
  /** 1 = Monday … 7 = Sunday. */
  readonly weekday: number;
}

/** Civil date of a day count since 1970-01-01 (Howard Hinnant's days_from_civil inverse): no Date allocation. */
function civilFromDays(z: number): CivilDate {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

export function localParts(ms: number, zone: string): LocalParts {
  const local = ms + offsetMinutes(zone, ms) * MINUTE;
  const days = Math.floor(local / DAY);
  const d = civilFromDays(days);
  // 1970-01-01 was a Thursday (ISO 4).
  const weekday = ((((days + 3) % 7) + 7) % 7) + 1;
  return { year: d.year, month: d.month, day: d.day, minuteOfDay: Math.floor((local - days * DAY) / MINUTE), weekday };
}

/**
 * The UTC instant of local wall time `minuteOfDay` (0–1440) on `date` in `zone`, with the DST
 * policy described at the top of this module.
 */
export function localToUtc(date: CivilDate, minuteOfDay: number, zone: string, edge: 'start' | 'end'): number {
  const naive = Date.UTC(date.year, date.month - 1, date.day) + minuteOfDay * MINUTE;
  // The offsets in force a little before and after: a US zone changes offset at most once a day.
  const offBefore = offsetMinutes(zone, naive - 30 * HOUR);
  const offAfter = offsetMinutes(zone, naive + 30 * HOUR);
  const solutions: number[] = [];
  for (const off of offBefore === offAfter ? [offBefore] : [offBefore, offAfter]) {
    const t = naive - off * MINUTE;
    if (offsetMinutes(zone, t) === off) solutions.push(t);
  }
  if (solutions.length === 0) {
    // Spring-forward gap: the wall time never happens. The window edge is the transition
    // instant, which lies within two hours of the naive guess.
    return findTransition(zoneOf(zone), naive - offBefore * MINUTE - 2 * HOUR, naive - offBefore * MINUTE + 2 * HOUR);
  }
  solutions.sort((a, b) => a - b);
  return edge === 'start' ? solutions[solutions.length - 1]! : solutions[0]!;
}

function findTransition(z: IANAZone, lo: number, hi: number): number {
  const first = z.offset(lo);
  while (hi - lo > MINUTE) {
    const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE;
    if (z.offset(mid) === first) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** ISO-8601 with the zone's offset, e.g. `2026-03-08T09:00:00-04:00` (seconds kept, no millis). */
export function formatLocal(ms: number, zone: string): string {
  const off = offsetMinutes(zone, ms);
  const local = ms + off * MINUTE;
  if (local >= 0 && local < MEMO_END_MS && Number.isInteger(local) && Number.isInteger(off)) {
    const days = Math.floor(local / DAY);
    return `${dayKey(days)}T${timeOfDay(Math.floor((local - days * DAY) / 1000))}${offsetSuffix(off)}`;
  }
  const wall = new Date(local).toISOString().slice(0, 19);
  const abs = Math.abs(off);
  return `${wall}${off < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** ISO-8601 UTC, e.g. `2026-03-08T13:00:00Z`. */
export function formatUtc(ms: number): string {
  if (ms >= 0 && ms < MEMO_END_MS && ms % 1000 === 0) {
    const days = Math.floor(ms / DAY);
    return `${dayKey(days)}T${timeOfDay((ms - days * DAY) / 1000)}Z`;
  }
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

const WEEKDAY_NAMES = ['', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** Local wall time with the weekday, for messages: `Sun 2026-03-08 07:30`. */
export function describeLocal(ms: number, zone: string, parts: LocalParts = localParts(ms, zone)): string {
  const m = parts.minuteOfDay;
  if (m >= 0 && m < 1440 && Number.isInteger(m)) return `${WEEKDAY_NAMES[parts.weekday]} ${civilKey(parts)} ${HHMM[m]!}`;
  const hh = String(Math.floor(m / 60)).padStart(2, '0');
  const mm = String(m % 60).padStart(2, '0');
  return `${WEEKDAY_NAMES[parts.weekday]} ${civilKey(parts)} ${hh}:${mm}`;
}

const INSTANT_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** Days since 1970-01-01 of a proleptic Gregorian civil date (Howard Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
}

const MONTH_DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Two ASCII digits at `i` as a number, or -1. */
function digits2(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48;
  const b = s.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * The common shapes `YYYY-MM-DDTHH:MM:SSZ` and `YYYY-MM-DDTHH:MM:SS.mmmZ` read without a regex
 * or Date.parse (same result as the general path below); undefined means "use the general path".
 */
function parseCanonicalInstant(s: string): number | undefined {
  const n = s.length;
  if ((n !== 20 && n !== 24) || s.charCodeAt(n - 1) !== 90 /* Z */) return undefined;
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return undefined;
  const c = digits2(s, 0);
  const yy = digits2(s, 2);
  const mo = digits2(s, 5);
  const d = digits2(s, 8);
  const h = digits2(s, 11);
  const mi = digits2(s, 14);
  const sec = digits2(s, 17);
  if (c < 19 || yy < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59) return undefined;
  const year = c * 100 + yy;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (d > (mo === 2 && leap ? 29 : MONTH_DAYS[mo]!)) return undefined;
  let millis = 0;
  if (n === 24) {
    if (s.charCodeAt(19) !== 46 /* . */) return undefined;
    const m1 = digits2(s, 20);
    const m2 = s.charCodeAt(22) - 48;
    if (m1 < 0 || m2 < 0 || m2 > 9) return undefined;
    millis = m1 * 10 + m2;
  }
  return daysFromCivil(year, mo, d) * DAY + h * HOUR + mi * MINUTE + sec * 1000 + millis;
}

export function parseInstant(text: string): number | undefined {
  const fast = parseCanonicalInstant(text);
  if (fast !== undefined) return fast;
  const m = INSTANT_RE.exec(text.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth || h > 23 || mi > 59 || sec > 59) return undefined;
  const t = Date.parse(text.trim());
  return Number.isNaN(t) ? undefined : t;
}

/** UTC calendar year of an instant, without allocating a Date on the hot path. */
const YEAR_STARTS: number[] = [];
for (let y = 1970; y <= 2200; y++) YEAR_STARTS.push(Date.UTC(y, 0, 1));
export function utcYear(ms: number): number {
  let i = Math.floor(ms / 31_556_952_000);
  if (i < 0 || i >= YEAR_STARTS.length - 1) return new Date(ms).getUTCFullYear();
  while (i > 0 && YEAR_STARTS[i]! > ms) i--;
  while (i < YEAR_STARTS.length - 1 && YEAR_STARTS[i + 1]! <= ms) i++;
  return 1970 + i;
}

/** Parse a local wall time (`2026-12-03T10:00`) in `zone` (start-edge DST policy). */
export function parseLocalWallTime(text: string, zone: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text.trim());
  if (!m) return undefined;
  const date = { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
  const dt = DateTime.fromObject({ ...date, hour: Number(m[4]), minute: Number(m[5]) }, { zone: 'UTC' });
  if (!dt.isValid) return undefined;
  return localToUtc(date, Number(m[4]) * 60 + Number(m[5]), zone, 'start') + Number(m[6] ?? 0) * 1000;
}
