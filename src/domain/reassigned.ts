/**
 * The FCC Reassigned Numbers Database (RND), 47 CFR 64.1200(l)–(m). Pure: the caller asks the
 * database (or its cache) and passes the answer.
 *
 * A query is a number and a date; the answer is `yes` (permanently disconnected on or after that
 * date: the consent on record was given by someone else's number), `no`, or `no_data` (the date
 * is before the database's data, 2021-01-27, or the provider reported nothing). The safe harbor
 * of 64.1200(m) covers a call to a reassigned number only when the caller checked the database
 * and it wrongly answered `no`.
 *
 * The engine asks, at fire time, for a send that relies on a consent record: the date is that
 * consent's capture date (a disconnect after it means the consent is void). `yes` suppresses the
 * number; `no` is the safe harbor, recorded; `no_data` lets the send go without one, recorded.
 */
import type { Channel, Purpose } from './calendar/schema.ts';
import { reason, type Reason } from './decide.ts';
import { formatUtc } from './time.ts';
import type { ConsentRecord } from './timer-rules.ts';

export type RndAnswer = 'yes' | 'no' | 'no_data';
export const RND_ANSWERS: readonly RndAnswer[] = ['yes', 'no', 'no_data'];

/** The first date the database holds disconnects for. */
export const RND_DATA_START = Date.UTC(2021, 0, 27);

export const RND_CITATION = '47 CFR 64.1200(l)-(m)';

/** What the engine learnt of one number for one date. */
export interface ReassignedState {
  /** The date asked about (UTC ms): the consent's capture. */
  readonly since: number;
  readonly answer: RndAnswer;
  /** When the database answered (UTC ms). */
  readonly checkedAt: number;
  /** The answer came from the engine's cache of earlier answers. */
  readonly cached: boolean;
}

/** What a decision records of the check. */
export interface ReassignedCheck {
  readonly since: string;
  readonly answer: RndAnswer;
  readonly checkedAt: string;
  readonly cached: boolean;
  /** 64.1200(m): the database was checked and answered `no`. */
  readonly safeHarbor: boolean;
}

/**
 * The date to ask the database about for a send, or null when the send relies on no consent
 * record: the latest express written consent for marketing on the channel in force at `now`
 * (marketing only — informational sends rely on no consent the engine holds).
 */
export function rndSince(consents: readonly ConsentRecord[], channel: Channel, purpose: Purpose, now: number): number | null {
  if (purpose !== 'marketing') return null;
  let latest: number | null = null;
  for (const r of consents) {
    if (r.type !== 'express_written' || r.channel !== channel || r.purpose !== 'marketing' || r.capturedAt > now || (r.revokedAt !== null && r.revokedAt <= now)) continue;
    if (latest === null || r.capturedAt > latest) latest = r.capturedAt;
  }
  return latest;
}

/** `yes`: the number was disconnected after the consent; nothing may go to it on that consent. */
export function reassignedBlock(state: ReassignedState): Reason | null {
  if (state.answer !== 'yes') return null;
  return reason('REASSIGNED_NUMBER', `the Reassigned Numbers Database reports the number permanently disconnected on or after the consent of ${formatUtc(state.since)}: the consent is void`, {
    rule: 'reassigned-numbers',
    citation: RND_CITATION,
    jurisdiction: 'US',
  });
}

export function reassignedCheck(state: ReassignedState): ReassignedCheck {
  return { since: formatUtc(state.since), answer: state.answer, checkedAt: formatUtc(state.checkedAt), cached: state.cached, safeHarbor: state.answer === 'no' };
}
