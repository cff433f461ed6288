/**
 * Rules about a timer beyond the calendar: its life cycle, the contact's state (suppressions,
 * journey) and what a decision means at creation versus at fire time. Pure: the caller loads
 * the state and passes `now`.
 */
import type { CalendarSet } from './calendar/compile.ts';
import type { Channel, Purpose } from './calendar/schema.ts';
import { decide, reason, type BlackoutPeriod, type DecideInput, type Decision, type Policy, type Reason } from './decide.ts';
import { checkFederalDnc, type FederalDncCheck, type FederalDncState } from './federal-dnc.ts';
import { reassignedBlock, reassignedCheck, type ReassignedCheck, type ReassignedState } from './reassigned.ts';
import type { Location } from './location/resolve.ts';
import { formatUtc } from './time.ts';

export const TIMER_STATUSES = ['scheduled', 'queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'cancelled', 'suppressed', 'unknown'] as const;
export type TimerStatus = (typeof TIMER_STATUSES)[number];

/** Waiting to fire: in Postgres only (`scheduled`) or also as a delayed BullMQ job (`queued`). */
export const PENDING_STATUSES: readonly TimerStatus[] = ['scheduled', 'queued'];
/** Nothing more will happen. */
export const FINAL_STATUSES: readonly TimerStatus[] = ['delivered', 'undelivered', 'failed', 'cancelled', 'suppressed'];

/**
 * The life cycle. `sending` is held under a lease by one dispatcher; a lease that expires
 * makes the timer `unknown` (the send may or may not have happened) — no ordinary move sends it
 * again: it is settled from the provider's answer or flagged for review. The one way back is
 * ABSENT_REQUEUE, taken only by the reconciler when the provider proves that nothing left.
 */
export const TRANSITIONS: Readonly<Record<TimerStatus, readonly TimerStatus[]>> = {
  scheduled: ['scheduled', 'queued', 'cancelled', 'suppressed'],
  queued: ['queued', 'scheduled', 'sending', 'cancelled', 'suppressed'],
  sending: ['queued', 'sent', 'delivered', 'undelivered', 'failed', 'suppressed', 'unknown'],
  unknown: ['sent', 'delivered', 'undelivered', 'failed'],
  sent: ['delivered', 'undelivered', 'failed'],
  delivered: [],
  undelivered: [],
  failed: [],
  cancelled: [],
  suppressed: [],
};

/**
 * `unknown` → `queued`, outside TRANSITIONS (so that no move computed from them, `sourcesOf`
 * included, can ever take it): only when the provider's list shows that nothing went to the
 * number in the send's window after the lease and a grace period (src/domain/provider-match.ts),
 * and once per timer.
 */
export const ABSENT_REQUEUE = { from: 'unknown', to: 'queued' } as const satisfies { from: TimerStatus; to: TimerStatus };

export function canTransition(from: TimerStatus, to: TimerStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Statuses from which `to` may be reached (for conditional updates: `WHERE status IN (...)`). */
export function sourcesOf(to: TimerStatus): TimerStatus[] {
  return TIMER_STATUSES.filter((s) => TRANSITIONS[s].includes(to));
}

export interface SuppressionState {
  /** null: every channel. */
  readonly channel: Channel | null;
  /** UTC ms, or null: no expiry. */
  readonly expiresAt: number | null;
  readonly reason: string;
}

export interface JourneyState {
  readonly status: 'active' | 'ended' | 'expired';
  readonly expiresAt: number;
}

export type ConsentType = 'express_written' | 'express' | 'none';

export interface ConsentRecord {
  readonly type: ConsentType;
  readonly channel: Channel;
  readonly purpose: Purpose;
  /** UTC ms. */
  readonly capturedAt: number;
  readonly revokedAt: number | null;
}

export interface ConsentState {
  /** The org requires express written consent for marketing on the channel (default on). */
  readonly requiredForMarketing: boolean;
  readonly records: readonly ConsentRecord[];
}

/** An admin's kill switch: nothing goes to the listed jurisdictions and/or zips in [from, to). */
export interface KillSwitch {
  readonly id: string;
  readonly from: number;
  readonly to: number;
  readonly reason: string;
  /** null: not scoped by jurisdiction. `US` matches every contact. */
  readonly jurisdictions: readonly string[] | null;
  /** null: not scoped by zip. */
  readonly zips: readonly string[] | null;
}

export interface ContactState {
  readonly suppressions: readonly SuppressionState[];
  readonly journey: JourneyState | null;
  /** Absent: consent is not checked. */
  readonly consent?: ConsentState;
  readonly killSwitches?: readonly KillSwitch[];
  /** The number in the National Do-Not-Call Registry (src/domain/federal-dnc.ts). Absent: the registry is not checked (FEDERAL_DNC=off). */
  readonly federalDnc?: FederalDncState;
  /** The Reassigned Numbers Database's answer for the consent the send relies on (src/domain/reassigned.ts). Absent: not asked. */
  readonly reassigned?: ReassignedState;
}

/**
 * The kill switches that cover a contact: any of its candidate jurisdictions listed (a contact
 * that may be in Louisiana is covered by a Louisiana switch), or its zip listed.
 */
export function killSwitchesFor(switches: readonly KillSwitch[], location: Location): BlackoutPeriod[] {
  const jurisdictions = new Set(location.candidates.map((c) => c.jurisdiction));
  if (location.state) jurisdictions.add(location.state);
  return switches
    .filter((k) => {
      const byJ = k.jurisdictions !== null && k.jurisdictions.some((j) => j === 'US' || jurisdictions.has(j));
      const byZip = k.zips !== null && location.zip !== undefined && k.zips.includes(location.zip);
      return byJ || byZip || (k.jurisdictions === null && k.zips === null);
    })
    .map((k) => ({ id: k.id, from: k.from, to: k.to, reason: k.reason }));
}

/** Marketing needs express written consent on record for the channel when the org requires it. */
export function consentBlock(consent: ConsentState | undefined, channel: Channel, purpose: Purpose, now: number): Reason | null {
  if (!consent || !consent.requiredForMarketing || purpose !== 'marketing') return null;
  const ok = consent.records.some((r) => r.type === 'express_written' && r.channel === channel && r.purpose === 'marketing' && r.capturedAt <= now && (r.revokedAt === null || r.revokedAt > now));
  return ok ? null : reason('NO_CONSENT', `no express written consent on record for marketing by ${channel}`);
}

/** What every verdict may carry: the registry check it made (recorded with the decision). */
interface Checked {
  readonly federalDnc?: FederalDncCheck;
  readonly reassigned?: ReassignedCheck;
}

export type Verdict =
  | ({ readonly kind: 'send'; readonly sendAt: number; readonly windowEnd: number; readonly decision: Decision } & Checked)
  | ({ readonly kind: 'reschedule'; readonly sendAt: number; readonly decision: Decision } & Checked)
  | ({ readonly kind: 'cancel'; readonly reasons: readonly Reason[]; readonly decision: Decision | null } & Checked)
  | ({ readonly kind: 'suppress'; readonly reasons: readonly Reason[] } & Checked);

/** Reasons the contact's or the journey's state forbids any send now, in order of precedence. */
export function stateBlocks(state: ContactState, channel: Channel, now: number): { kind: 'suppress' | 'cancel'; reasons: Reason[] } | null {
  const active = state.suppressions.filter((s) => (s.channel === null || s.channel === channel) && (s.expiresAt === null || s.expiresAt > now));
  if (active.length > 0) {
    return { kind: 'suppress', reasons: active.map((s) => reason('SUPPRESSED', `the number is on the suppression list (${s.reason})`)) };
  }
  const j = state.journey;
  if (j) {
    if (j.status === 'ended') return { kind: 'cancel', reasons: [reason('JOURNEY_ENDED', 'the journey has ended')] };
    if (j.status === 'expired' || j.expiresAt <= now) return { kind: 'cancel', reasons: [reason('JOURNEY_EXPIRED', 'the journey has expired')] };
  }
  return null;
}

/**
 * At fire time a timer that may not go now either moves to the next slot (`next_slot`) or is
 * cancelled: a `previous_slot` reminder cannot move earlier than now, and `cancel` means cancel.
 */
export function firePolicy(policy: Policy): Policy {
  return policy === 'next_slot' ? 'next_slot' : 'cancel';
}

/**
 * Judges a timer: the contact's state first, then the calendars. `phase: 'fire'` judges at `now`
 * with the fire-time policy. A journey's expiry bounds how late a send may be moved.
 */
export function judgeTimer(set: CalendarSet, input: DecideInput, state: ContactState, phase: 'create' | 'fire'): Verdict {
  const block = stateBlocks(state, input.channel, input.now);
  if (block) return block.kind === 'suppress' ? { kind: 'suppress', reasons: block.reasons } : { kind: 'cancel', reasons: block.reasons, decision: null };
  const rnd = state.reassigned ? { reassigned: reassignedCheck(state.reassigned) } : {};
  const reassigned = state.reassigned ? reassignedBlock(state.reassigned) : null;
  if (reassigned) return { kind: 'suppress', reasons: [reassigned], ...rnd };
  const noConsent = consentBlock(state.consent, input.channel, input.purpose, input.now);
  if (noConsent) return { kind: 'cancel', reasons: [noConsent], decision: null, ...rnd };
  const dnc = state.federalDnc ? checkFederalDnc(state.federalDnc, state.consent?.records ?? [], input.channel, input.purpose, input.now) : null;
  const checked = { ...rnd, ...(dnc ? { federalDnc: dnc.check } : {}) };
  if (dnc?.block) return { kind: 'cancel', reasons: [dnc.block], decision: null, ...checked };
  // A journey's expiry bounds the send: next_slot may not move past it, and a previous_slot
  // reminder for an instant after it aims at the last instant before it.
  const journeyEnd = state.journey?.expiresAt;
  const notAfter = journeyEnd === undefined ? input.notAfter : input.notAfter === undefined ? journeyEnd - 1 : Math.min(input.notAfter, journeyEnd - 1);
  const at = phase === 'fire' ? input.now : journeyEnd !== undefined && input.policy === 'previous_slot' && input.at >= journeyEnd ? journeyEnd - 1 : input.at;
  const blackouts = state.killSwitches?.length ? killSwitchesFor(state.killSwitches, input.location) : undefined;
  const decision = decide(set, {
    ...input,
    at,
    ...(phase === 'fire' ? { policy: firePolicy(input.policy) } : {}),
    ...(notAfter === undefined ? {} : { notAfter }),
    ...(blackouts?.length ? { blackouts: [...(input.blackouts ?? []), ...blackouts] } : {}),
  });
  switch (decision.decision) {
    case 'send':
      return { kind: 'send', sendAt: decision.sendAt!, windowEnd: decision.windowEnd!, decision, ...checked };
    case 'reschedule':
      return { kind: 'reschedule', sendAt: decision.sendAt!, decision, ...checked };
    default:
      return { kind: 'cancel', reasons: decision.reasons, decision, ...checked };
  }
}

/** Twilio accepts a ValidityPeriod of 1..14,400 s (the lower of the limits it has documented). */
export const MAX_VALIDITY_SECONDS = 14_400;

/** Seconds a provider may hold an SMS so that it can never leave the queue after `windowEnd`. */
export function validitySeconds(now: number, windowEnd: number): number {
  return Math.min(MAX_VALIDITY_SECONDS, Math.max(1, Math.floor((windowEnd - now) / 1000)));
}

/** A send-rate slot this close to now (ms) is "now": not worth parking a job for. */
export const RATE_SLOT_TOLERANCE_MS = 25;
/**
 * A send delayed by the send rate must still leave this much of its window (ms): the minimum time
 * we give a provider to deliver an SMS (its ValidityPeriod, see `validitySeconds`), and slack for a
 * dispatcher that fires the parked job a little late.
 */
export const RATE_WINDOW_MARGIN_MS = 60_000;

/** Where a reserved send-rate slot leaves a send that the calendars allow now. */
export type SlotFit =
  | { readonly kind: 'now' }
  | { readonly kind: 'wait'; readonly until: number }
  /** The slot falls too close to or after the window's end: the fire-time policy applies. */
  | { readonly kind: 'next_slot' | 'cancel'; readonly reason: Reason };

/**
 * Smoothing: a send allowed now whose rate slot is `slot` goes now (the slot has come), waits for
 * the slot (it falls at least `marginMs` before `windowEnd`), or cannot fit in this window and
 * follows the fire-time policy (`next_slot`: the next window; otherwise cancel).
 */
export function fitSlot(slot: number, now: number, windowEnd: number, policy: Policy, opts: { toleranceMs?: number; marginMs?: number } = {}): SlotFit {
  const tolerance = opts.toleranceMs ?? RATE_SLOT_TOLERANCE_MS;
  const margin = opts.marginMs ?? RATE_WINDOW_MARGIN_MS;
  if (slot <= now + tolerance) return { kind: 'now' };
  if (slot <= windowEnd - margin) return { kind: 'wait', until: slot };
  const why = reason(
    'RATE_LIMITED_PAST_WINDOW',
    `the send rate's next free slot (${formatUtc(slot)}) is not at least ${Math.round(margin / 1000)} s before the allowed window closes (${formatUtc(windowEnd)})`,
  );
  return { kind: firePolicy(policy) === 'next_slot' ? 'next_slot' : 'cancel', reason: why };
}

/**
 * Where a `next_slot` send that the send rate pushed out of its window goes: the timer judged at
 * the window's end (the next opening, or a cancellation if it has none in reach); a "send" right
 * at that instant is a move too.
 */
export function judgeAfterWindow(set: CalendarSet, input: DecideInput, state: ContactState, windowEnd: number): Verdict {
  const v = judgeTimer(set, { ...input, at: windowEnd, now: windowEnd }, state, 'fire');
  return v.kind === 'send' ? { kind: 'reschedule', sendAt: v.sendAt, decision: v.decision, ...(v.federalDnc ? { federalDnc: v.federalDnc } : {}), ...(v.reassigned ? { reassigned: v.reassigned } : {}) } : v;
}
