/**
 * Turns validated calendar files into a `CalendarSet`: the rules indexed by jurisdiction, a
 * content-hash version, and memoised allowed-interval lists per (rule, zone, year).
 */
import { createHash } from 'node:crypto';
import type { ZodError } from 'zod';
import { checkHoliday, holidayDates, HolidayRuleError, type HolidayDates } from './holidays.ts';
import {
  CalendarFileSchema,
  hhmmToMinutes,
  WEEKDAYS,
  type CalendarFile,
  type Cap,
  type Channel,
  type Holiday,
  type OrgCalendar,
  type Purpose,
  type Rule,
  type Weekly,
} from './schema.ts';
import { addDays, civilKey, isValidZone, localToUtc, type CivilDate } from '../time.ts';
import { normalize, clip } from '../intervals.ts';

/** A calendar file that failed validation: names the file and the bad field. */
export class CalendarFileError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${file}: ${field || '(file)'}: ${problem}`);
    this.name = 'CalendarFileError';
  }
}

/** What a compiled rule restricts and where it came from (legal, org or per-request). */
export type RuleKind = 'legal' | 'org' | 'request';

/**
 * A rule in the engine's internal form. Legal rules come from calendar files; the org calendar
 * and the per-request window are compiled to the same form so one mechanism intersects them.
 */
export interface CompiledRule {
  readonly id: string;
  /** Unique per rule content (org rules share ids across versions of an org calendar). */
  readonly cacheId: string;
  readonly kind: RuleKind;
  readonly jurisdiction: string;
  readonly citation: string;
  readonly confidence: 'high' | 'medium' | 'low';
  readonly channels: ReadonlySet<Channel>;
  readonly purposes: ReadonlySet<Purpose>;
  /** Fixed zone named by the statute, or undefined for the recipient's zone. */
  readonly fixedZone?: string;
  readonly fixedZoneWording?: string;
  /** Minute ranges per ISO weekday (index 1–7), flattened [a0, b0, a1, b1 …]; undefined = no hour limit. */
  readonly weekly?: ReadonlyArray<readonly number[]>;
  readonly holidays: readonly Holiday[];
  /** Extra closed local dates → label (org calendars). */
  readonly closedDates: ReadonlyMap<string, string>;
  /** Blackout periods (local dates, inclusive) → label; `jurisdictions` filter applied by the planner. */
  readonly blackouts: ReadonlyArray<{ from: string; to: string; jurisdictions?: readonly string[]; reason: string }>;
  readonly caps: readonly Cap[];
  readonly effectiveFrom?: string;
  readonly effectiveUntil?: string;
}

export interface CalendarSet {
  /** Content hash of the whole set: every decision reports it. */
  readonly version: string;
  readonly files: readonly CalendarFile[];
  /** US federal rules: apply to every candidate. */
  readonly federal: readonly CompiledRule[];
  /** State/territory rules by jurisdiction code. */
  readonly byJurisdiction: ReadonlyMap<string, readonly CompiledRule[]>;
  /** Memo: allowed intervals per rule/zone/margins/year. */
  readonly cache: Map<string, readonly number[]>;
  readonly holidayCache: Map<string, HolidayDates>;
}

function formatZodPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
}

function firstIssue(error: ZodError): { field: string; problem: string } {
  const issue = error.issues[0];
  return { field: issue ? formatZodPath(issue.path) : '', problem: issue?.message ?? 'invalid' };
}

/** Stable JSON with sorted keys, so the version does not depend on key order or whitespace. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function compileWeekly(weekly: Weekly | undefined): number[][] | undefined {
  if (!weekly) return undefined;
  const out: number[][] = [[]];
  for (const day of WEEKDAYS) out.push(weekly[day].flatMap(([a, b]) => [hhmmToMinutes(a), hhmmToMinutes(b)]));
  return out;
}

function compileLegalRule(rule: Rule, jurisdiction: string): CompiledRule {
  return {
    id: rule.id,
    cacheId: rule.id,
    kind: 'legal',
    jurisdiction,
    citation: rule.citation,
    confidence: rule.confidence,
    channels: new Set(rule.channels),
    purposes: new Set(rule.purposes),
    fixedZone: rule.timeBasis.type === 'fixed' ? rule.timeBasis.zone : undefined,
    fixedZoneWording: rule.timeBasis.type === 'fixed' ? rule.timeBasis.statuteWording : undefined,
    weekly: compileWeekly(rule.weekly),
    holidays: rule.holidays,
    closedDates: new Map(),
    blackouts: [],
    caps: rule.caps,
    effectiveFrom: rule.effectiveFrom,
    effectiveUntil: rule.effectiveUntil,
  };
}

/**
 * Validate and compile calendar files. `files` are `{ name, content }` where content is the
 * parsed JSON; the adapter that reads them from disk passes the file name for error messages.
 */
export function compileCalendarSet(files: ReadonlyArray<{ name: string; content: unknown }>): CalendarSet {
  const parsed: CalendarFile[] = [];
  const seenIds = new Map<string, string>();
  for (const { name, content } of files) {
    const result = CalendarFileSchema.safeParse(content);
    if (!result.success) {
      const { field, problem } = firstIssue(result.error);
      throw new CalendarFileError(name, field, problem);
    }
    const file = result.data;
    const base = name.split('/').pop()!.replace(/\.json$/, '');
    if (base !== file.jurisdiction) throw new CalendarFileError(name, 'jurisdiction', `file name must be ${file.jurisdiction}.json`);
    file.rules.forEach((rule, i) => {
      const other = seenIds.get(rule.id);
      if (other) throw new CalendarFileError(name, `rules[${i}].id`, `duplicate rule id "${rule.id}" (also in ${other})`);
      seenIds.set(rule.id, name);
      if (rule.timeBasis.type === 'fixed' && !isValidZone(rule.timeBasis.zone)) {
        throw new CalendarFileError(name, `rules[${i}].timeBasis.zone`, `unknown IANA zone "${rule.timeBasis.zone}"`);
      }
      rule.holidays.forEach((h, k) => {
        try {
          checkHoliday(h);
        } catch (e) {
          if (e instanceof HolidayRuleError) throw new CalendarFileError(name, `rules[${i}].holidays[${k}].rule`, e.message);
          throw e;
        }
      });
    });
    parsed.push(file);
  }
  parsed.sort((a, b) => (a.jurisdiction < b.jurisdiction ? -1 : 1));
  if (!parsed.some((f) => f.jurisdiction === 'US')) throw new CalendarFileError('US.json', '', 'the federal calendar is missing');
  const byJurisdiction = new Map<string, CompiledRule[]>();
  let federal: CompiledRule[] = [];
  for (const file of parsed) {
    const rules = file.rules.map((r) => compileLegalRule(r, file.jurisdiction));
    if (file.jurisdiction === 'US') federal = rules;
    else byJurisdiction.set(file.jurisdiction, rules);
  }
  return {
    version: `cal-${sha256(canonicalJson(parsed)).slice(0, 16)}`,
    files: parsed,
    federal,
    byJurisdiction,
    cache: new Map(),
    holidayCache: new Map(),
  };
}

/** Compile an organisation calendar (already validated) to internal rules. */
export function compileOrgCalendar(org: OrgCalendar): { rules: CompiledRule[]; margins: { start: number; stop: number }; key: string } {
  const key = `org:${org.id}:${sha256(canonicalJson(org)).slice(0, 12)}`;
  const common = {
    kind: 'org' as const,
    jurisdiction: `ORG:${org.id}`,
    citation: `organisation calendar ${org.id}`,
    confidence: 'high' as const,
    channels: new Set<Channel>(['sms', 'voice']),
    purposes: new Set<Purpose>(['marketing', 'informational']),
    closedDates: new Map<string, string>(),
    blackouts: [] as CompiledRule['blackouts'],
    holidays: [] as Holiday[],
    caps: [] as Cap[],
  };
  const rules: CompiledRule[] = [];
  const ids = (id: string) => ({ id, cacheId: `${id}#${key}` });
  if (org.weekly) rules.push({ ...common, ...ids(`ORG.${org.id}.hours`), weekly: compileWeekly(org.weekly) });
  if (org.holidays.length > 0 || org.closedDates.length > 0) {
    rules.push({ ...common, ...ids(`ORG.${org.id}.holidays`), holidays: org.holidays, closedDates: new Map(org.closedDates.map((d) => [d, 'company closed date'])) });
  }
  for (const [i, b] of org.blackouts.entries()) {
    rules.push({ ...common, ...ids(`ORG.${org.id}.blackout-${i + 1}`), blackouts: [b] });
  }
  if (org.caps.length > 0) rules.push({ ...common, ...ids(`ORG.${org.id}.caps`), caps: org.caps });
  return { rules, margins: { start: org.margins.startLaterMinutes, stop: org.margins.stopEarlierMinutes }, key };
}

/** A per-request local window `[start, end)` applied every day in every candidate zone. */
export function compileRequestWindow(window: { start: string; end: string }): CompiledRule {
  const a = hhmmToMinutes(window.start);
  const b = hhmmToMinutes(window.end);
  const day = [a, b];
  return {
    id: 'REQUEST.window',
    cacheId: `REQUEST.window#${window.start}-${window.end}`,
    kind: 'request',
    jurisdiction: 'REQUEST',
    citation: `requested window ${window.start}–${window.end}`,
    confidence: 'high',
    channels: new Set<Channel>(['sms', 'voice']),
    purposes: new Set<Purpose>(['marketing', 'informational']),
    weekly: [[], day, day, day, day, day, day, day],
    holidays: [],
    closedDates: new Map(),
    blackouts: [],
    caps: [],
  };
}

/** Holidays of `rule` for `year`, memoised. */
function holidaysOf(set: CalendarSet, rule: CompiledRule, year: number): HolidayDates {
  const key = `${rule.cacheId}|${year}`;
  let dates = set.holidayCache.get(key);
  if (!dates) {
    dates = holidayDates(rule.holidays, year);
    set.holidayCache.set(key, dates);
  }
  return dates;
}

export type DayStatus =
  | { open: 'all' }
  | { open: 'ranges'; ranges: readonly number[] }
  | { open: 'none'; why: 'HOLIDAY' | 'CLOSED_DATE' | 'BLACKOUT' | 'DAY_CLOSED'; label: string };

/**
 * What `rule` allows on local date `date` (in the zone the rule is judged in), ignoring margins.
 * This is the single source of truth for both interval building and reason explanations.
 */
export function dayStatus(set: CalendarSet, rule: CompiledRule, date: CivilDate, weekday: number, jurisdictions: readonly string[]): DayStatus {
  const key = civilKey(date);
  if ((rule.effectiveFrom && key < rule.effectiveFrom) || (rule.effectiveUntil && key >= rule.effectiveUntil)) return { open: 'all' };
  if (rule.holidays.length > 0) {
    // An observed date can fall in the previous year (a Saturday Jan 1 is observed Friday Dec 31).
    const name = holidaysOf(set, rule, date.year).get(key) ?? holidaysOf(set, rule, date.year + 1).get(key);
    if (name) return { open: 'none', why: 'HOLIDAY', label: name };
  }
  const closed = rule.closedDates.get(key);
  if (closed) return { open: 'none', why: 'CLOSED_DATE', label: closed };
  for (const b of rule.blackouts) {
    if (key >= b.from && key <= b.to && (!b.jurisdictions || b.jurisdictions.some((j) => jurisdictions.includes(j)))) {
      return { open: 'none', why: 'BLACKOUT', label: b.reason };
    }
  }
  if (!rule.weekly) return { open: 'all' };
  const ranges = rule.weekly[weekday]!;
  if (ranges.length === 0) return { open: 'none', why: 'DAY_CLOSED', label: 'no contact on this weekday' };
  return { open: 'ranges', ranges };
}

const YEAR_START = new Map<number, number>();
export function yearStart(year: number): number {
  let t = YEAR_START.get(year);
  if (t === undefined) {
    t = Date.UTC(year, 0, 1);
    YEAR_START.set(year, t);
  }
  return t;
}

/**
 * Allowed UTC intervals of `rule` judged in `zone` (the candidate's zone, or the rule's fixed
 * zone), within UTC year `year`. Margins shrink legal windows (start later, stop earlier).
 * `jurisdictions` are the candidate's jurisdictions (for jurisdiction-scoped blackouts).
 */
export function ruleIntervals(
  set: CalendarSet,
  rule: CompiledRule,
  zone: string,
  year: number,
  margins: { start: number; stop: number },
  jurisdictions: readonly string[],
): readonly number[] {
  const m = rule.kind === 'legal' ? margins : { start: 0, stop: 0 };
  const scoped = rule.blackouts.some((b) => b.jurisdictions);
  const key = `${rule.cacheId}|${zone}|${year}|${m.start}/${m.stop}${scoped ? `|${jurisdictions.join(',')}` : ''}`;
  const cached = set.cache.get(key);
  if (cached) return cached;
  const pairs: Array<[number, number]> = [];
  // Local dates from two days before to two days after the UTC year cover every US offset.
  let date: CivilDate = { year: year - 1, month: 12, day: 30 };
  const last = civilKey({ year: year + 1, month: 1, day: 2 });
  let weekday = new Date(Date.UTC(date.year, date.month - 1, date.day)).getUTCDay() || 7;
  while (civilKey(date) <= last) {
    const status = dayStatus(set, rule, date, weekday, jurisdictions);
    if (status.open === 'all') {
      pairs.push([localToUtc(date, 0, zone, 'start'), localToUtc(addDays(date, 1), 0, zone, 'start')]);
    } else if (status.open === 'ranges') {
      for (let i = 0; i < status.ranges.length; i += 2) {
        const a = status.ranges[i]! + m.start;
        const b = status.ranges[i + 1]! - m.stop;
        if (a < b) pairs.push([localToUtc(date, a, zone, 'start'), localToUtc(date, b, zone, 'end')]);
      }
    }
    date = addDays(date, 1);
    weekday = (weekday % 7) + 1;
  }
  const list = clip(normalize(pairs), yearStart(year), yearStart(year + 1));
  set.cache.set(key, list);
  return list;
}
