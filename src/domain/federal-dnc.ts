/**
 * The National Do-Not-Call Registry (FTC/FCC). Pure: the caller loads the registry copy in force
 * for the number's area code and whether the number is listed in it, and passes `now`.
 *
 * - No telephone solicitation to a number on the registry: 47 CFR 64.1200(c)(2); 16 CFR
 *   310.4(b)(1)(iii)(B). Texts are calls for this rule: FCC 23-107 (89 FR 5098, in force
 *   2024-03-26). Only solicitations are covered: `informational` timers are exempt (the rules
 *   reach "telephone solicitation", 47 CFR 64.1200(f)(15)).
 * - Exempt: the subscriber's prior express invitation or permission, evidenced by a signed,
 *   written agreement naming the number — 47 CFR 64.1200(c)(2)(ii), 16 CFR
 *   310.4(b)(1)(iii)(B)(1). Here: an `express_written` consent record for marketing on the
 *   timer's channel, in force at the send (captured before it, not revoked). A listing does not
 *   revoke such consent, so a consent older than the listing exempts; the rules set no order
 *   between the two, so a consent given after the listing exempts as well. The established-
 *   business-relationship exemption (64.1200(f)(5)) is not applied: the engine holds no purchase
 *   or inquiry records to prove one.
 * - Safe harbor needs a copy of the registry obtained no more than 31 days before the call
 *   (47 CFR 64.1200(c)(2)(i)(D); 16 CFR 310.4(b)(3)(iv)). An older copy, or none covering the
 *   number's area code, stops marketing sends (`DNC_DATA_STALE`): without it the engine cannot
 *   know the number is not listed.
 */
import type { Channel, Purpose } from './calendar/schema.ts';
import { reason, type Reason } from './decide.ts';
import { DAY, formatUtc } from './time.ts';
import type { ConsentRecord } from './timer-rules.ts';

/** The oldest a registry copy may be at the send (31 days). */
export const DNC_MAX_AGE_MS = 31 * DAY;

export const DNC_CITATION = '47 CFR 64.1200(c)(2); 16 CFR 310.4(b)(1)(iii)(B); FCC 23-107 (texts)';
export const DNC_CONSENT_CITATION = '47 CFR 64.1200(c)(2)(ii); 16 CFR 310.4(b)(1)(iii)(B)(1)';
export const DNC_FRESHNESS_CITATION = '47 CFR 64.1200(c)(2)(i)(D); 16 CFR 310.4(b)(3)(iv)';

/** What the engine knows of one number in the registry. */
export interface FederalDncState {
  /** The copy in force for the number's area code; null: no copy of the registry covers it. */
  readonly copy: { readonly id: string; readonly asOf: number } | null;
  /** UTC ms: the registry date of the first copy that listed the number; null: not listed in the copy in force. */
  readonly listedSince: number | null;
}

export type DncOutcome = 'not_listed' | 'listed' | 'exempt_informational' | 'exempt_consent' | 'stale' | 'no_copy';

/** What a decision records of the check: which copy it used, and what came of it. */
export interface FederalDncCheck {
  readonly copyId: string | null;
  /** The copy's registry date (ISO-8601 UTC). */
  readonly asOf: string | null;
  readonly listed: boolean;
  readonly outcome: DncOutcome;
}

export interface DncJudgement {
  readonly block: Reason | null;
  readonly check: FederalDncCheck;
}

/** The registry check for a send at `now`. `consents`: the contact's consent records (any channel, purpose). */
export function checkFederalDnc(state: FederalDncState, consents: readonly ConsentRecord[], channel: Channel, purpose: Purpose, now: number): DncJudgement {
  const copy = state.copy;
  const listed = copy !== null && state.listedSince !== null;
  const check = (outcome: DncOutcome): FederalDncCheck => ({ copyId: copy?.id ?? null, asOf: copy ? formatUtc(copy.asOf) : null, listed, outcome });
  if (purpose !== 'marketing') return { block: null, check: check('exempt_informational') };
  if (copy === null) {
    return {
      block: reason('DNC_DATA_STALE', 'no copy of the National Do-Not-Call Registry covers the number\'s area code: marketing cannot be sent without one', { rule: 'federal-dnc', citation: DNC_FRESHNESS_CITATION, jurisdiction: 'US' }),
      check: check('no_copy'),
    };
  }
  if (now - copy.asOf > DNC_MAX_AGE_MS) {
    return {
      block: reason('DNC_DATA_STALE', `the National Do-Not-Call Registry copy for the number's area code is of ${formatUtc(copy.asOf)}, older than 31 days`, { rule: 'federal-dnc', citation: DNC_FRESHNESS_CITATION, jurisdiction: 'US' }),
      check: check('stale'),
    };
  }
  if (!listed) return { block: null, check: check('not_listed') };
  const consented = consents.some((r) => r.type === 'express_written' && r.channel === channel && r.purpose === 'marketing' && r.capturedAt <= now && (r.revokedAt === null || r.revokedAt > now));
  if (consented) return { block: null, check: check('exempt_consent') };
  return {
    block: reason('FEDERAL_DNC', `the number is on the National Do-Not-Call Registry (listed in the copy of ${formatUtc(copy.asOf)}) and there is no express written consent for marketing by ${channel}`, {
      rule: 'federal-dnc',
      citation: DNC_CITATION,
      jurisdiction: 'US',
    }),
    check: check('listed'),
  };
}

/** A 10-digit NANP number (area code, exchange, line) of an E.164 +1 number, or null. */
export function nanpNumber(e164: string): number | null {
  const m = /^\+1([2-9]\d{2}[2-9]\d{6})$/.exec(e164);
  return m ? Number(m[1]) : null;
}

export function areaCodeOfNumber(n: number): number {
  return Math.floor(n / 10_000_000);
}
