/**
 * The state of a batch of timers' contacts and orgs that can forbid a send, one query per kind
 * (src/adapters/db/dispatch-queries.ts) for the whole batch: history for the caps, suppressions,
 * journeys, consents, kill switches, the National Do-Not-Call Registry. The dispatcher reads it at fire time, timer creation at create
 * time — the same predicates as the one-contact reads (loadHistory, loadContactState in context.ts).
 */
import type { HistoryEntry } from '../../domain/decide.ts';
import type { ContactState } from '../../domain/timer-rules.ts';
import * as sql from '../../adapters/db/dispatch-queries.ts';
import { loadFederalDnc, type FederalDncMode } from '../federal-dnc.ts';
import type { OrgSettings } from '../org-settings.ts';
import { HISTORY_WINDOW_MS, historyEntry, SENT_OR_MAYBE, stateOf } from './context.ts';

/** What the batch loader needs of a timer. */
export interface BatchStateKey {
  orgId: string;
  contactId: string;
  phoneE164: string;
  journeyId: string | null;
}

export interface BatchStates {
  history: ReadonlyMap<string, HistoryEntry[]>;
  of(t: BatchStateKey): ContactState;
}

export async function loadBatchStates(db: sql.Queryable, timers: readonly BatchStateKey[], settings: ReadonlyMap<string, OrgSettings>, now: number, federalDnc: FederalDncMode, opts: { consents?: boolean } = {}): Promise<BatchStates> {
  const dnc = federalDnc === 'enforce';
  const contactIds = [...new Set(timers.map((t) => t.contactId))];
  const journeyIds = [...new Set(timers.flatMap((t) => (t.journeyId ? [t.journeyId] : [])))];
  // Consent is read when the org requires it, for the registry's consent exemption, and when asked (the Reassigned Numbers Database's date).
  const withConsent = (orgId: string) => dnc || opts.consents === true || settings.get(orgId)!.requireConsentForMarketing;
  const consentIds = [...new Set(timers.filter((t) => withConsent(t.orgId)).map((t) => t.contactId))];
  const history = await sql.historyOf(db, contactIds, SENT_OR_MAYBE, new Date(now - HISTORY_WINDOW_MS));
  const suppressions = await sql.suppressionsOf(db, timers.map((t) => ({ orgId: t.orgId, phoneE164: t.phoneE164 })));
  const journeys = await sql.journeysOf(db, journeyIds);
  const consents = await sql.consentsOf(db, consentIds);
  const killSwitches = await sql.killSwitchesOf(db, [...new Set(timers.map((t) => t.orgId))], new Date(now));
  const registry = dnc ? await loadFederalDnc(db, timers.map((t) => t.phoneE164)) : null;
  const group = <R, K>(list: readonly R[], key: (r: R) => K) => {
    const m = new Map<K, R[]>();
    for (const r of list) {
      const k = key(r);
      const l = m.get(k);
      if (l) l.push(r);
      else m.set(k, [r]);
    }
    return m;
  };
  const historyBy = new Map([...group(history, (h) => h.contactId)].map(([k, rows]) => [k, rows.map(historyEntry)]));
  const suppressionsBy = group(suppressions, (s) => `${s.orgId}|${s.phoneE164}`);
  const journeysBy = new Map(journeys.map((j) => [j.id, j]));
  const consentsBy = group(consents, (c) => c.contactId);
  const killSwitchesBy = group(killSwitches, (k) => k.orgId);
  return {
    history: historyBy,
    of: (t) => {
      const s = settings.get(t.orgId)!;
      const journey = t.journeyId ? journeysBy.get(t.journeyId) : undefined;
      return {
        suppressions: (suppressionsBy.get(`${t.orgId}|${t.phoneE164}`) ?? []).map(stateOf.suppression),
        journey: journey ? stateOf.journey(journey) : null,
        consent: { requiredForMarketing: s.requireConsentForMarketing, records: withConsent(t.orgId) ? (consentsBy.get(t.contactId) ?? []).map(stateOf.consent) : [] },
        killSwitches: (killSwitchesBy.get(t.orgId) ?? []).map(stateOf.killSwitch),
        ...(registry ? { federalDnc: registry(t.phoneE164) } : {}),
      };
    },
  };
}
