/**
 * The decision: may we text or call this contact at this instant, and if not, when?
 *
 * The effective window is federal ∩ every candidate's state rules ∩ org calendar ∩ per-request
 * window, each judged in its candidate's zone (or the zone a statute names). Allowed UTC
 * intervals are precomputed per (rule, zone, year) and intersected once per plan; a decision is
 * a binary search. Nothing here reads a clock: `now` is an argument.
 */
import {
  compileOrgCalendar,
  compileRequestWindow,
  dayStatus,
  ruleIntervals,
  yearStart,
  type CalendarSet,
  type CompiledRule,
} from './calendar/compile.ts';
import type { Cap, Channel, OrgCalendar, Purpose } from './calendar/schema.ts';
import { assertNever } from './errors.ts';
import { contains, firstEndingAfter, intersect, normalize } from './intervals.ts';
import { strictestCandidates, withCandidates, type Candidate, type Location } from './location/resolve.ts';
import { US_ZONES } from './location/state-zones.ts';
import { DAY, describeLocal, formatLocal, HOUR, localParts, MINUTE, utcYear, type LocalParts } from './time.ts';

export type Policy = 'cancel' | 'next_slot' | 'previous_slot';
export const POLICIES: readonly Policy[] = ['cancel', 'next_slot', 'previous_slot'];
export type UnresolvedOption = 'cancel' | 'strictest';

export type ReasonCode =
  | 'ALLOWED'
  | 'OUTSIDE_HOURS'
  | 'DAY_CLOSED'
  | 'HOLIDAY'
  | 'FREQUENCY_CAP'
  | 'ORG_HOURS'
  | 'ORG_MARGIN'
  | 'ORG_DAY_CLOSED'
  | 'ORG_HOLIDAY'
  | 'ORG_CLOSED_DATE'
  | 'ORG_BLACKOUT'
  | 'ORG_FREQUENCY_CAP'
  | 'REQUEST_WINDOW'
  | 'NO_SLOT_IN_HORIZON'
  | 'AFTER_NOT_AFTER'
  | 'NO_SLOT_BEFORE_DEADLINE'
  | 'DEADLINE_PASSED'
  | 'UNRESOLVED_LOCATION'
  | 'BLACKOUT'
  // Timer-level reasons (src/domain/timer-rules.ts): the contact's and the timer's own state.
  | 'SUPPRESSED'
  | 'JOURNEY_ENDED'
  | 'JOURNEY_EXPIRED'
  | 'CANCELLED_BY_REQUEST'
  | 'PROVIDER_REJECTED'
  | 'PROVIDER_UNSUBSCRIBED'
  | 'NO_CONSENT'
  // The National Do-Not-Call Registry (src/domain/federal-dnc.ts): the number is listed / no fresh copy covers it.
  | 'FEDERAL_DNC'
  | 'DNC_DATA_STALE'
  // The Reassigned Numbers Database: the number was disconnected after the consent (src/domain/reassigned.ts).
  | 'REASSIGNED_NUMBER'
  // The org's send rate has no free slot left before the recipient's window closes (dispatcher smoothing).
  | 'RATE_LIMITED_PAST_WINDOW';

export interface Reason {
  readonly code: ReasonCode;
  readonly rule: string | null;
  readonly citation: string | null;
  readonly jurisdiction: string | null;
  readonly timezone: string | null;
  /** The local time judged, ISO-8601 with offset. */
  readonly local: string | null;
  readonly message: string;
}

/** An earlier send to this contact (for frequency caps). */
export interface HistoryEntry {
  readonly at: number;
  readonly channel: Channel;
  readonly subject?: string;
  readonly purpose?: Purpose;
}

export interface DecideInput {
  readonly location: Location;
  readonly channel: Channel;
  readonly purpose: Purpose;
  /** Requested send instant (UTC ms). */
  readonly at: number;
  /** The current instant (UTC ms): the decision never schedules before it. */
  readonly now: number;
  readonly policy: Policy;
  /** `next_slot` never goes past this instant. */
  readonly notAfter?: number;
  readonly orgCalendar?: OrgCalendar;
  /** Earlier sends to this contact, for rolling caps. */
  readonly history?: readonly HistoryEntry[];
  /** The message's subject (caps scoped `subject` count only sends on the same subject). */
  readonly subject?: string;
  /** A per-request local window, applied in every candidate zone. */
  readonly window?: { readonly start: string; readonly end: string };
  /** What to do with a contact that could not be placed. Default `cancel`. */
  readonly unresolved?: UnresolvedOption;
  /** How far `next_slot` searches. Default 14 days. */
  readonly horizonDays?: number;
  /** Periods in which nothing may be sent to this contact (kill switches that apply to it; see timer-rules). */
  readonly blackouts?: readonly BlackoutPeriod[];
}

/** An absolute period closed to sends (an admin's kill switch: a declared emergency, a hurricane). */
export interface BlackoutPeriod {
  readonly id: string;
  /** UTC ms, inclusive. */
  readonly from: number;
  /** UTC ms, exclusive. */
  readonly to: number;
  readonly reason: string;
}

export type DecisionKind = 'send' | 'reschedule' | 'cancel';

export interface Decision {
  readonly decision: DecisionKind;
  /** UTC ms, or null for `cancel`. */
  readonly sendAt: number | null;
  readonly reasons: readonly Reason[];
  readonly calendarVersion: string;
  /** The candidates the decision judged (after the `unresolved` option). */
  readonly candidates: readonly Candidate[];
  /** For `send` and `reschedule`: when the allowed stretch starting at `sendAt` closes (UTC ms); else null. */
  readonly windowEnd: number | null;
}

interface Pair {
  readonly rule: CompiledRule;
  readonly zone: string;
  readonly jurisdictions: readonly string[];
}

/** A pair with the memos the explanation path keeps (never shared outside this module). */
interface PairState extends Pair {
  /** The rule's allowed intervals in this pair's zone, by UTC year − 1970. */
  readonly yearLists: Array<readonly number[] | undefined>;
  /** What the rule allows on a local day, by day key (bounded). */
  readonly days: Map<number, DayNote>;
}

/** Everything about a (location, channel, purpose, org, window) that does not depend on the instant. */
export interface Plan {
  readonly key: string;
  readonly pairs: readonly Pair[];
  readonly caps: ReadonlyArray<{ rule: CompiledRule; cap: Cap }>;
  readonly margins: { start: number; stop: number };
  readonly years: Map<number, readonly number[]>;
  readonly candidates: readonly Candidate[];
}

/** Plan as built here: `years` mirrored into an array by UTC year − 1970 for the hot path. */
interface PlanState extends Plan {
  readonly pairs: readonly PairState[];
  readonly yearLists: Array<readonly number[] | undefined>;
}

/** Years the array memos cover (1970 …); other years use the `years` map. */
const YEAR_SLOTS = 200;

const DEFAULT_HORIZON_DAYS = 14;
const orgCompiled = new WeakMap<OrgCalendar, ReturnType<typeof compileOrgCalendar>>();
const planCache = new WeakMap<CalendarSet, Map<string, Plan>>();

/**
 * Per location object: its plans for the calendar set it was last planned with, one field per
 * plain (channel, purpose) and a map for org/window shapes, so the hot path is one WeakMap look-up
 * and builds no keys. A location planned with another set gets a fresh record (plans stay
 * canonical in `planCache`).
 */
interface LocationPlans {
  readonly set: CalendarSet;
  sm?: PlanState;
  si?: PlanState;
  vm?: PlanState;
  vi?: PlanState;
  other?: Map<string, PlanState>;
}
const locationPlans = new WeakMap<Location, LocationPlans>();

function orgOf(org: OrgCalendar | undefined): ReturnType<typeof compileOrgCalendar> | undefined {
  if (!org) return undefined;
  let c = orgCompiled.get(org);
  if (!c) {
    c = compileOrgCalendar(org);
    orgCompiled.set(org, c);
  }
  return c;
}

function rulesFor(set: CalendarSet, jurisdiction: string): readonly CompiledRule[] {
  if (jurisdiction === '*') return [...set.federal, ...[...set.byJurisdiction.values()].flat()];
  return [...set.federal, ...(set.byJurisdiction.get(jurisdiction) ?? [])];
}

/** Build (or fetch) the plan for a location and request shape. */
export function planFor(
  set: CalendarSet,
  location: Location,
  channel: Channel,
  purpose: Purpose,
  orgCalendar?: OrgCalendar,
  window?: { start: string; end: string },
): Plan {
  let mine = locationPlans.get(location);
  if (mine === undefined || mine.set !== set) {
    mine = { set };
    locationPlans.set(location, mine);
  }
  if (orgCalendar === undefined && window === undefined) {
    if (channel === 'sms') {
      if (purpose === 'marketing') return (mine.sm ??= buildPlan(set, location, channel, purpose, undefined, undefined, 'sm'));
      if (purpose === 'informational') return (mine.si ??= buildPlan(set, location, channel, purpose, undefined, undefined, 'si'));
    } else if (channel === 'voice') {
      if (purpose === 'marketing') return (mine.vm ??= buildPlan(set, location, channel, purpose, undefined, undefined, 'vm'));
      if (purpose === 'informational') return (mine.vi ??= buildPlan(set, location, channel, purpose, undefined, undefined, 'vi'));
    }
  }
  const org = orgOf(orgCalendar);
  const shortKey = org || window ? `${channel}|${purpose}|${org?.key ?? ''}|${window ? `${window.start}-${window.end}` : ''}` : channel === 'sms' ? (purpose === 'marketing' ? 'sm' : 'si') : purpose === 'marketing' ? 'vm' : 'vi';
  mine.other ??= new Map();
  let plan = mine.other.get(shortKey);
  if (!plan) {
    plan = buildPlan(set, location, channel, purpose, org, window, shortKey);
    mine.other.set(shortKey, plan);
  }
  return plan;
}

/** The canonical plan for (location key, short key), built on first use. */
function buildPlan(
  set: CalendarSet,
  location: Location,
  channel: Channel,
  purpose: Purpose,
  org: ReturnType<typeof compileOrgCalendar> | undefined,
  window: { start: string; end: string } | undefined,
  shortKey: string,
): PlanState {
  const key = `${location.key}|${shortKey}`;
  let plans = planCache.get(set);
  if (!plans) {
    plans = new Map();
    planCache.set(set, plans);
  }
  const hit = plans.get(key);
  if (hit) return hit as PlanState;
  const extra: CompiledRule[] = [...(org?.rules ?? []), ...(window ? [compileRequestWindow(window)] : [])];
  const pairs = new Map<string, { rule: CompiledRule; zone: string; jurisdictions: string[]; yearLists: Array<readonly number[] | undefined>; days: Map<number, DayNote> }>();
  const caps = new Map<string, { rule: CompiledRule; cap: Cap }>();
  for (const c of location.candidates) {
    for (const rule of [...rulesFor(set, c.jurisdiction), ...extra]) {
      if (!rule.channels.has(channel) || !rule.purposes.has(purpose)) continue;
      rule.caps.forEach((cap, i) => caps.set(`${rule.id}#${i}`, { rule, cap }));
      if (!rule.weekly && rule.holidays.length === 0 && rule.closedDates.size === 0 && rule.blackouts.length === 0) continue;
      const zone = rule.fixedZone ?? c.zone;
      const k = `${rule.id}@${zone}`;
      const existing = pairs.get(k);
      if (existing) {
        if (!existing.jurisdictions.includes(c.jurisdiction)) existing.jurisdictions.push(c.jurisdiction);
      } else {
        pairs.set(k, { rule, zone, jurisdictions: [c.jurisdiction], yearLists: new Array<readonly number[] | undefined>(YEAR_SLOTS).fill(undefined), days: new Map() });
      }
    }
  }
  const plan: PlanState = {
    key,
    pairs: [...pairs.values()],
    caps: [...caps.values()],
    margins: org?.margins ?? { start: 0, stop: 0 },
    years: new Map(),
    candidates: location.candidates,
    yearLists: new Array<readonly number[] | undefined>(YEAR_SLOTS).fill(undefined),
  };
  plans.set(key, plan);
  return plan;
}

const yearOf = utcYear;

/** Allowed UTC intervals of a plan within one UTC year (memoised). */
export function planIntervals(set: CalendarSet, plan: Plan, year: number): readonly number[] {
  const slot = year - 1970;
  const lists = (plan as PlanState).yearLists;
  if (lists !== undefined && slot >= 0 && slot < YEAR_SLOTS) {
    const fast = lists[slot];
    if (fast !== undefined) return fast;
  }
  let list = plan.years.get(year);
  if (!list) {
    let acc: readonly number[] = [yearStart(year), yearStart(year + 1)];
    for (const p of plan.pairs) {
      acc = intersect(acc, ruleIntervals(set, p.rule, p.zone, year, plan.margins, p.jurisdictions));
      if (acc.length === 0) break;
    }
    list = acc;
    plan.years.set(year, list);
  }
  if (lists !== undefined && slot >= 0 && slot < YEAR_SLOTS) lists[slot] = list;
  return list;
}

/** A pair's own allowed intervals within UTC year `year` (memoised on the pair). */
function pairIntervals(set: CalendarSet, plan: Plan, p: PairState, year: number): readonly number[] {
  const slot = year - 1970;
  if (slot >= 0 && slot < YEAR_SLOTS) return (p.yearLists[slot] ??= ruleIntervals(set, p.rule, p.zone, year, plan.margins, p.jurisdictions));
  return ruleIntervals(set, p.rule, p.zone, year, plan.margins, p.jurisdictions);
}

/** Fast path: is instant `t` inside the plan's legal ∩ org ∩ request window (caps not counted)? */
export function isAllowed(set: CalendarSet, plan: Plan, t: number): boolean {
  return contains(planIntervals(set, plan, yearOf(t)), t);
}

/**
 * End of the allowed stretch containing `t` (UTC ms): the first instant after `t` at which the
 * plan's windows close or a cap blocks; `t` itself when `t` is not allowed. Follows a window
 * across a year boundary. Used to bound how long a provider may hold a message (SMS validity).
 */
function allowedUntil(set: CalendarSet, plan: Plan, blocked: readonly number[], t: number): number {
  let end = t;
  for (;;) {
    const year = yearOf(end);
    const list = planIntervals(set, plan, year);
    const i = firstEndingAfter(list, end);
    if (i >= list.length || list[i]! > end) break;
    end = list[i + 1]!;
    if (end < yearStart(year + 1)) break;
  }
  const b = firstEndingAfter(blocked, t);
  if (b < blocked.length && blocked[b]! < end) end = Math.max(t, blocked[b]!);
  return end;
}

const NO_BLOCKS: readonly number[] = Object.freeze([]);

/** Instants blocked by rolling caps, given the contact's history. */
function capBlocks(plan: Plan, history: readonly HistoryEntry[] | undefined, subject: string | undefined): readonly number[] {
  if (!history || history.length === 0 || plan.caps.length === 0) return NO_BLOCKS;
  const pairs: Array<[number, number]> = [];
  for (const { rule, cap } of plan.caps) {
    const period = cap.periodHours * HOUR;
    const times = history
      .filter(
        (h) =>
          cap.channels.includes(h.channel) &&
          (h.purpose === undefined || rule.purposes.has(h.purpose)) &&
          // Without a subject on the request every earlier send counts (the stricter reading).
          (cap.scope === 'any' || subject === undefined || h.subject === undefined || h.subject === subject),
      )
      .map((h) => h.at)
      .sort((a, b) => a - b);
    for (let i = 0; i + cap.count - 1 < times.length; i++) {
      pairs.push([times[i + cap.count - 1]!, times[i]! + period]);
    }
  }
  return normalize(pairs);
}

/** Everything blocked for this contact beyond the calendars: caps and blackouts. */
function blocksOf(plan: Plan, input: DecideInput): readonly number[] {
  const caps = capBlocks(plan, input.history, input.subject);
  if (!input.blackouts || input.blackouts.length === 0) return caps;
  const pairs: Array<[number, number]> = input.blackouts.filter((b) => b.to > b.from).map((b) => [b.from, b.to]);
  for (let i = 0; i < caps.length; i += 2) pairs.push([caps[i]!, caps[i + 1]!]);
  return normalize(pairs);
}

function capAt(plan: Plan, history: readonly HistoryEntry[] | undefined, subject: string | undefined, t: number): Array<{ rule: CompiledRule; cap: Cap }> {
  if (!history || history.length === 0 || plan.caps.length === 0) return [];
  return plan.caps.filter((c) => contains(capBlocks({ ...plan, caps: [c] }, history, subject), t));
}

/** Earliest allowed instant in `[from, until)`, or undefined. */
function nextSlot(set: CalendarSet, plan: Plan, blocked: readonly number[], from: number, until: number): number | undefined {
  let t = from;
  while (t < until) {
    const year = yearOf(t);
    const list = planIntervals(set, plan, year);
    const i = firstEndingAfter(list, t);
    if (i >= list.length) {
      t = yearStart(year + 1);
      continue;
    }
    const c = Math.max(list[i]!, t);
    if (c >= until) return undefined;
    const b = firstEndingAfter(blocked, c);
    if (b < blocked.length && blocked[b]! <= c) {
      t = blocked[b + 1]!;
      continue;
    }
    return c;
  }
  return undefined;
}

/** Latest allowed instant in `[floor, at]` (minute resolution at window ends), or undefined. */
function previousSlot(set: CalendarSet, plan: Plan, blocked: readonly number[], at: number, floor: number): number | undefined {
  let t = at;
  while (t >= floor) {
    const year = yearOf(t);
    const list = planIntervals(set, plan, year);
    const i = firstEndingAfter(list, t);
    let x: number;
    if (i < list.length && list[i]! <= t) {
      x = t;
    } else if (i >= 2) {
      x = Math.max(list[i - 1]! - MINUTE, list[i - 2]!);
    } else {
      t = yearStart(year) - MINUTE;
      continue;
    }
    if (x < floor) return undefined;
    const b = firstEndingAfter(blocked, x);
    if (b < blocked.length && blocked[b]! <= x) {
      t = blocked[b]! - MINUTE;
      continue;
    }
    return x;
  }
  return undefined;
}

const ORG_CODES = { HOLIDAY: 'ORG_HOLIDAY', CLOSED_DATE: 'ORG_CLOSED_DATE', BLACKOUT: 'ORG_BLACKOUT', DAY_CLOSED: 'ORG_DAY_CLOSED' } as const;

export function reason(code: ReasonCode, message: string, extra: Partial<Omit<Reason, 'code' | 'message'>> = {}): Reason {
  return { code, rule: null, citation: null, jurisdiction: null, timezone: null, local: null, message, ...extra };
}

function hhmm(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

/** The code and the message tail (after the local time) of a pair's reason, for one local day. */
interface NoteText {
  readonly code: ReasonCode;
  readonly suffix: string;
}

/**
 * What a pair's rule says about one local day, worded once: `inside` applies when the local time
 * is within the day's raw `ranges` (only the organisation's margins block it), `outside` otherwise
 * (and always when the day is closed, `ranges` undefined).
 */
interface DayNote {
  readonly ranges?: readonly number[];
  readonly outside: NoteText;
  readonly inside: NoteText;
}

/** Bound on the per-pair day memo (a file spanning centuries cannot grow it without limit). */
const DAY_NOTES_MAX = 4096;

function dayNote(set: CalendarSet, plan: Plan, p: Pair, local: LocalParts): DayNote {
  const zoneNote = p.rule.fixedZoneWording ? ` (${p.rule.fixedZoneWording}, as the statute says)` : '';
  const status = dayStatus(set, p.rule, local, local.weekday, p.jurisdictions);
  if (status.open === 'none') {
    const code: ReasonCode = p.rule.kind === 'org' ? ORG_CODES[status.why] : status.why === 'DAY_CLOSED' ? 'DAY_CLOSED' : 'HOLIDAY';
    const closed = { code, suffix: `${zoneNote}: ${status.label}` };
    return { outside: closed, inside: closed };
  }
  const ranges = status.open === 'ranges' ? status.ranges : [0, 1440];
  const text = [];
  for (let i = 0; i < ranges.length; i += 2) text.push(`${hhmm(ranges[i]!)}–${hhmm(ranges[i + 1]!)}`);
  if (p.rule.kind === 'request') {
    const t = { code: 'REQUEST_WINDOW' as const, suffix: ` is outside the requested window ${text.join(', ')}` };
    return { ranges, outside: t, inside: t };
  }
  if (p.rule.kind === 'org') {
    const t = { code: 'ORG_HOURS' as const, suffix: ` is outside the organisation's hours ${text.join(', ')}` };
    return { ranges, outside: t, inside: t };
  }
  return {
    ranges,
    inside: {
      code: 'ORG_MARGIN',
      suffix: `${zoneNote} is inside ${text.join(', ')} but within the organisation's margins (start ${plan.margins.start} min later, stop ${plan.margins.stop} min earlier)`,
    },
    outside: { code: 'OUTSIDE_HOURS', suffix: `${zoneNote} is outside the allowed hours ${text.join(', ')}` },
  };
}

/** Why a pair blocks instant `t` (the pair is known not to contain `t`). */
function explainPair(set: CalendarSet, plan: Plan, p: PairState, t: number): Reason {
  const local = localParts(t, p.zone);
  const key = (local.year * 13 + local.month) * 32 + local.day;
  let note = p.days.get(key);
  if (note === undefined) {
    note = dayNote(set, plan, p, local);
    if (p.days.size >= DAY_NOTES_MAX) p.days.clear();
    p.days.set(key, note);
  }
  let text = note.outside;
  const ranges = note.ranges;
  if (ranges !== undefined) {
    const m = local.minuteOfDay;
    for (let i = 0; i < ranges.length; i += 2) {
      if (m >= ranges[i]! && m < ranges[i + 1]!) {
        text = note.inside;
        break;
      }
    }
  }
  // Same fields, order and values as reason(code, message, base).
  return {
    code: text.code,
    rule: p.rule.id,
    citation: p.rule.citation,
    jurisdiction: p.rule.jurisdiction,
    timezone: p.zone,
    local: formatLocal(t, p.zone),
    message: describeLocal(t, p.zone, local) + text.suffix,
  };
}

/** Every reason instant `t` is blocked. */
function explainBlock(set: CalendarSet, plan: Plan, t: number, history: readonly HistoryEntry[] | undefined, subject: string | undefined, blackouts?: readonly BlackoutPeriod[]): Reason[] {
  const year = yearOf(t);
  const out: Reason[] = [];
  for (const b of blackouts ?? []) {
    if (t >= b.from && t < b.to) {
      out.push(reason('BLACKOUT', `blackout ${b.reason} from ${new Date(b.from).toISOString()} until ${new Date(b.to).toISOString()}`, { rule: `BLACKOUT.${b.id}` }));
    }
  }
  for (const p of (plan as PlanState).pairs) {
    if (!contains(pairIntervals(set, plan, p, year), t)) out.push(explainPair(set, plan, p, t));
  }
  for (const { rule, cap } of capAt(plan, history, subject, t)) {
    out.push(
      reason(rule.kind === 'org' ? 'ORG_FREQUENCY_CAP' : 'FREQUENCY_CAP', `at most ${cap.count} per ${cap.periodHours} h (${cap.scope === 'subject' ? 'same subject' : 'any subject'}, counting ${cap.channels.join('+')}) already reached`, {
        rule: rule.id,
        citation: rule.citation,
        jurisdiction: rule.jurisdiction,
      }),
    );
  }
  return out;
}

const allowedTemplates = new WeakMap<Plan, Array<{ zone: string; rule: string; citation: string; jurisdiction: string }>>();

/** One `ALLOWED` reason per candidate zone at the chosen instant: which rules were applied there. */
function explainAllowed(plan: Plan, t: number): Reason[] {
  let templates = allowedTemplates.get(plan);
  if (!templates) {
    const byZone = new Map<string, Pair[]>();
    for (const p of plan.pairs) {
      const list = byZone.get(p.zone);
      if (list) list.push(p);
      else byZone.set(p.zone, [p]);
    }
    templates = [...byZone.entries()].map(([zone, pairs]) => ({
      zone,
      rule: pairs.map((p) => p.rule.id).join(','),
      citation: [...new Set(pairs.map((p) => p.rule.citation))].join('; '),
      jurisdiction: [...new Set(pairs.flatMap((p) => p.jurisdictions))].join(','),
    }));
    allowedTemplates.set(plan, templates);
  }
  const out: Reason[] = [];
  for (const { zone, rule, citation, jurisdiction } of templates) {
    // Same fields, order and values as reason('ALLOWED', message, { rule, citation, jurisdiction, timezone, local }).
    out.push({ code: 'ALLOWED', rule, citation, jurisdiction, timezone: zone, local: formatLocal(t, zone), message: `${describeLocal(t, zone)} is inside every applicable window` });
  }
  return out;
}

/**
 * Decide whether to send at `at`, reschedule, or cancel.
 *
 * - `send`: `at` (or `now`, if `at` is already past) is allowed for every candidate.
 * - `reschedule`: the policy found another slot (`next_slot`: earliest ≥ at within the horizon
 *   and `notAfter`; `previous_slot`: latest in [now, at]).
 * - `cancel`: policy `cancel`, no slot, or an unresolved contact under `unresolved: 'cancel'`.
 */
export function decide(set: CalendarSet, input: DecideInput): Decision {
  let location = input.location;
    if (!location.resolved) {
    if ((input.unresolved ?? 'cancel') === 'cancel') {
      const why = location.issues.map((i) => i.message).join('; ') || 'location could not be resolved';
      return { decision: 'cancel', sendAt: null, windowEnd: null, calendarVersion: set.version, candidates: [], reasons: [reason('UNRESOLVED_LOCATION', why)] };
    }
    location = withCandidates(location, strictestCandidates(US_ZONES));
  }
  const plan = planFor(set, location, input.channel, input.purpose, input.orgCalendar, input.window);
  const blocked = blocksOf(plan, input);
  if (input.policy === 'previous_slot' && input.at < input.now) return new LazyDecision(set, plan, input, 'cancel', null, input.at, 'deadline-passed');
  const t0 = Math.max(input.at, input.now);
  if (input.notAfter !== undefined && t0 > input.notAfter) return new LazyDecision(set, plan, input, 'cancel', null, t0, 'at-after-not-after');
  if (isAllowed(set, plan, t0) && !contains(blocked, t0)) return new LazyDecision(set, plan, input, 'send', t0, t0, 'allowed');
  switch (input.policy) {
    case 'cancel':
      return new LazyDecision(set, plan, input, 'cancel', null, t0, 'blocked');
    case 'next_slot': {
      const slot = nextSlot(set, plan, blocked, t0, t0 + (input.horizonDays ?? DEFAULT_HORIZON_DAYS) * DAY);
      if (slot === undefined) return new LazyDecision(set, plan, input, 'cancel', null, t0, 'no-slot');
      if (input.notAfter !== undefined && slot > input.notAfter) return new LazyDecision(set, plan, input, 'cancel', slot, t0, 'slot-after-not-after');
      return new LazyDecision(set, plan, input, 'reschedule', slot, t0, 'moved');
    }
    case 'previous_slot': {
      const slot = previousSlot(set, plan, blocked, t0, input.now);
      if (slot === undefined) return new LazyDecision(set, plan, input, 'cancel', null, t0, 'no-slot-before');
      return new LazyDecision(set, plan, input, 'reschedule', slot, t0, 'moved');
    }
    default:
      return assertNever(input.policy);
  }
}

type Why = 'allowed' | 'blocked' | 'moved' | 'no-slot' | 'no-slot-before' | 'slot-after-not-after' | 'at-after-not-after' | 'deadline-passed';

/**
 * A decision computed eagerly whose explanation (reasons) is built on first read and memoised:
 * callers that need only the instant (fire-time re-checks, bulk previews) skip the strings.
 */
class LazyDecision implements Decision {
  readonly calendarVersion: string;
  readonly candidates: readonly Candidate[];
  #reasons: Reason[] | undefined;

  constructor(
    private readonly set: CalendarSet,
    private readonly plan: Plan,
    private readonly input: DecideInput,
    readonly decision: DecisionKind,
    private readonly slot: number | null,
    private readonly t0: number,
    private readonly why: Why,
  ) {
    this.calendarVersion = set.version;
    this.candidates = plan.candidates;
  }

  get sendAt(): number | null {
    return this.decision === 'cancel' ? null : this.slot;
  }

  get windowEnd(): number | null {
    const at = this.sendAt;
    if (at === null) return null;
    return allowedUntil(this.set, this.plan, blocksOf(this.plan, this.input), at);
  }

  get reasons(): Reason[] {
    this.#reasons ??= this.explain();
    return this.#reasons;
  }

  toJSON(): Omit<Decision, 'reasons'> & { reasons: Reason[] } {
    return { decision: this.decision, sendAt: this.sendAt, reasons: this.reasons, calendarVersion: this.calendarVersion, candidates: this.candidates, windowEnd: this.windowEnd };
  }

  private blocked(): Reason[] {
    return explainBlock(this.set, this.plan, this.t0, this.input.history, this.input.subject, this.input.blackouts);
  }

  private explain(): Reason[] {
    const { plan, input } = this;
    switch (this.why) {
      case 'allowed':
        return explainAllowed(plan, this.t0);
      case 'blocked':
        return this.blocked();
      case 'moved': {
        const out = this.blocked();
        for (const r of explainAllowed(plan, this.slot!)) out.push(r);
        return out;
      }
      case 'no-slot':
        return [...this.blocked(), reason('NO_SLOT_IN_HORIZON', `no allowed instant in the ${input.horizonDays ?? DEFAULT_HORIZON_DAYS} days after the requested instant`)];
      case 'no-slot-before':
        return [...this.blocked(), reason('NO_SLOT_BEFORE_DEADLINE', 'no allowed instant between now and the requested instant')];
      case 'slot-after-not-after':
        return [...this.blocked(), reason('AFTER_NOT_AFTER', `the next allowed instant ${new Date(this.slot!).toISOString()} is after notAfter`)];
      case 'at-after-not-after':
        return [reason('AFTER_NOT_AFTER', 'the requested instant is after notAfter')];
      case 'deadline-passed':
        return [reason('DEADLINE_PASSED', 'the requested instant is already past; a reminder cannot arrive before it')];
      default:
        return assertNever(this.why);
    }
  }
}
