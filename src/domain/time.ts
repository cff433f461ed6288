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
const offsetTables = new Map<string, OffsetTable>();

function offsetTable(zone: string, year: number): OffsetTable {
  const key = `${zone}|${year}`;
  let table = offsetTables.get(key);
  if (table) return table;
  const z = zoneOf(zone);
  const t0 = Date.UTC(year, 0, 1);
  const t1 = Date.UTC(year + 1, 0, 1);
  const starts = [t0];
  const offsets = [z.offset(t0)];
  for (let t = t0 + DAY; t <= t1; t += DAY) {
    const off = z.offset(t);
    if (off !== offsets[offsets.length - 1]) {
      starts.push(findTransition(z, t - DAY, t));
      offsets.push(off);
    }
  }
  table = { starts, offsets };
  offsetTables.set(key, table);
  return table;
}

/** Offset of `zone` from UTC at instant `ms`, in minutes (e.g. -300 for EST). */
export function offsetMinutes(zone: string, ms: number): number {
  const { starts, offsets } = offsetTable(zone, new Date(ms).getUTCFullYear());
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

export function civilKey(d: CivilDate): string {
  return `${d.year}-${String(d.month).padStart(2, '0')}-${String(d.day).padStart(2, '0')}`;
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

export function localParts(ms: number, zone: string): LocalParts {
  const local = ms + offsetMinutes(zone, ms) * MINUTE;
  const t = new Date(local);
  const d = { year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate() };
  return { ...d, minuteOfDay: t.getUTCHours() * 60 + t.getUTCMinutes(), weekday: isoWeekday(d) };
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
  const wall = new Date(ms + off * MINUTE).toISOString().slice(0, 19);
  const abs = Math.abs(off);
  return `${wall}${off < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** ISO-8601 UTC, e.g. `2026-03-08T13:00:00Z`. */
export function formatUtc(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

const WEEKDAY_NAMES = ['', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** Local wall time with the weekday, for messages: `Sun 2026-03-08 07:30`. */
export function describeLocal(ms: number, zone: string): string {
  const p = localParts(ms, zone);
  const hh = String(Math.floor(p.minuteOfDay / 60)).padStart(2, '0');
  const mm = String(p.minuteOfDay % 60).padStart(2, '0');
  return `${WEEKDAY_NAMES[p.weekday]} ${civilKey(p)} ${hh}:${mm}`;
}

/**
 * Parse an ISO-8601 instant. It must carry a zone designator (`Z` or an offset): a bare local
 * time is ambiguous for a scheduler that serves every US zone, so it is refused.
 */
export function parseInstant(text: string): number | undefined {
  if (!/(?:Z|[+-]\d{2}(?::?\d{2})?)$/i.test(text.trim())) return undefined;
  const dt = DateTime.fromISO(text.trim(), { setZone: true });
  return dt.isValid ? dt.toMillis() : undefined;
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
