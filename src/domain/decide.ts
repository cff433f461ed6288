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
import { DAY, describeLocal, formatLocal, HOUR, localParts, MINUTE, utcYear } from './time.ts';

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

/** Everything about a (location, channel, purpose, org, window) that does not depend on the instant. */
export interface Plan {
  readonly key: string;
  readonly pairs: readonly Pair[];
  readonly caps: ReadonlyArray<{ rule: CompiledRule; cap: Cap }>;
  readonly margins: { start: number; stop: number };
  readonly years: Map<number, readonly number[]>;
  readonly candidates: readonly Candidate[];
}

const DEFAULT_HORIZON_DAYS = 14;
const orgCompiled = new WeakMap<OrgCalendar, ReturnType<typeof compileOrgCalendar>>();
const planCache = new WeakMap<CalendarSet, Map<string, Plan>>();
/** Per location object: its plans by (channel, purpose, org, window), so the hot path builds no long keys. */
const locationPlans = new WeakMap<CalendarSet, WeakMap<Location, Map<string, Plan>>>();

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
  const org = orgOf(orgCalendar);
  const shortKey = org || window ? `${channel}|${purpose}|${org?.key ?? ''}|${window ? `${window.start}-${window.end}` : ''}` : channel === 'sms' ? (purpose === 'marketing' ? 'sm' : 'si') : purpose === 'marketing' ? 'vm' : 'vi';
  let byLocation = locationPlans.get(set);
  if (!byLocation) {
    byLocation = new WeakMap();
    locationPlans.set(set, byLocation);
  }
  let mine = byLocation.get(location);
  if (!mine) {
    mine = new Map();
    byLocation.set(location, mine);
  }
  const fast = mine.get(shortKey);
  if (fast) return fast;
  const key = `${location.key}|${shortKey}`;
  let plans = planCache.get(set);
  if (!plans) {
    plans = new Map();
    planCache.set(set, plans);
  }
  const hit = plans.get(key);
  if (hit) {
    mine.set(shortKey, hit);
    return hit;
  }
  const extra: CompiledRule[] = [...(org?.rules ?? []), ...(window ? [compileRequestWindow(window)] : [])];
  const pairs = new Map<string, { rule: CompiledRule; zone: string; jurisdictions: string[] }>();
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
        pairs.set(k, { rule, zone, jurisdictions: [c.jurisdiction] });
      }
    }
  }
  const plan: Plan = {
    key,
    pairs: [...pairs.values()],
    caps: [...caps.values()],
    margins: org?.margins ?? { start: 0, stop: 0 },
    years: new Map(),
    candidates: location.candidates,
  };
  plans.set(key, plan);
  mine.set(shortKey, plan);
  return plan;
}

const yearOf = utcYear;

/** Allowed UTC intervals of a plan within one UTC year (memoised). */
export function planIntervals(set: CalendarSet, plan: Plan, year: number): readonly number[] {
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
  return list;
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

/** Instants blocked by rolling caps, given the contact's history. */
function capBlocks(plan: Plan, history: readonly HistoryEntry[] | undefined, subject: string | undefined): number[] {
  if (!history || history.length === 0 || plan.caps.length === 0) return [];
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
function blocksOf(plan: Plan, input: DecideInput): number[] {
  const caps = capBlocks(plan, input.history, input.subject);
  if (!input.blackouts || input.blackouts.length === 0) return caps;
  const pairs: Array<[number, number]> = input.blackouts.filter((b) => b.to > b.from).map((b) => [b.from, b.to]);
  for (let i = 0; i < caps.length; i += 2) pairs.push([caps[i]!, caps[i + 1]!]);
  return normalize(pairs);
}

function capAt(plan: Plan, history: readonly HistoryEntry[] | undefined, subject: string | undefined, t: number): Array<{ rule: CompiledRule; cap: Cap }> {
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

/** Why a pair blocks instant `t` (the pair is known not to contain `t`). */
function explainPair(set: CalendarSet, plan: Plan, p: Pair, t: number): Reason {
  const local = localParts(t, p.zone);
  const base = {
    rule: p.rule.id,
    citation: p.rule.citation,
    jurisdiction: p.rule.jurisdiction,
    timezone: p.zone,
    local: formatLocal(t, p.zone),
  };
  const when = describeLocal(t, p.zone, local);
  const zoneNote = p.rule.fixedZoneWording ? ` (${p.rule.fixedZoneWording}, as the statute says)` : '';
  const status = dayStatus(set, p.rule, local, local.weekday, p.jurisdictions);
  if (status.open === 'none') {
    const code: ReasonCode = p.rule.kind === 'org' ? ORG_CODES[status.why] : status.why === 'DAY_CLOSED' ? 'DAY_CLOSED' : 'HOLIDAY';
    return reason(code, `${when}${zoneNote}: ${status.label}`, base);
  }
  const ranges = status.open === 'ranges' ? status.ranges : [0, 1440];
  const text = [];
  let inRaw = false;
  for (let i = 0; i < ranges.length; i += 2) {
    text.push(`${hhmm(ranges[i]!)}–${hhmm(ranges[i + 1]!)}`);
    if (local.minuteOfDay >= ranges[i]! && local.minuteOfDay < ranges[i + 1]!) inRaw = true;
  }
  if (p.rule.kind === 'request') return reason('REQUEST_WINDOW', `${when} is outside the requested window ${text.join(', ')}`, base);
  if (p.rule.kind === 'org') return reason('ORG_HOURS', `${when} is outside the organisation's hours ${text.join(', ')}`, base);
  if (inRaw) {
    return reason('ORG_MARGIN', `${when}${zoneNote} is inside ${text.join(', ')} but within the organisation's margins (start ${plan.margins.start} min later, stop ${plan.margins.stop} min earlier)`, base);
  }
  return reason('OUTSIDE_HOURS', `${when}${zoneNote} is outside the allowed hours ${text.join(', ')}`, base);
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
  for (const p of plan.pairs) {
    if (!contains(ruleIntervals(set, p.rule, p.zone, year, plan.margins, p.jurisdictions), t)) out.push(explainPair(set, plan, p, t));
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
  return templates.map(({ zone, ...rest }) =>
    reason('ALLOWED', `${describeLocal(t, zone)} is inside every applicable window`, { ...rest, timezone: zone, local: formatLocal(t, zone) }),
  );
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

  private explain(): Reason[] {
    const { set, plan, input, t0 } = this;
    const blocked = (): Reason[] => explainBlock(set, plan, t0, input.history, input.subject, input.blackouts);
    switch (this.why) {
      case 'allowed':
        return explainAllowed(plan, t0);
      case 'blocked':
        return blocked();
      case 'moved':
        return [...blocked(), ...explainAllowed(plan, this.slot!)];
      case 'no-slot':
        return [...blocked(), reason('NO_SLOT_IN_HORIZON', `no allowed instant in the ${input.horizonDays ?? DEFAULT_HORIZON_DAYS} days after the requested instant`)];
      case 'no-slot-before':
        return [...blocked(), reason('NO_SLOT_BEFORE_DEADLINE', 'no allowed instant between now and the requested instant')];
      case 'slot-after-not-after':
        return [...blocked(), reason('AFTER_NOT_AFTER', `the next allowed instant ${new Date(this.slot!).toISOString()} is after notAfter`)];
      case 'at-after-not-after':
        return [reason('AFTER_NOT_AFTER', 'the requested instant is after notAfter')];
      case 'deadline-passed':
        return [reason('DEADLINE_PASSED', 'the requested instant is already past; a reminder cannot arrive before it')];
      default:
        return assertNever(this.why);
    }
  }
}
