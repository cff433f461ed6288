/**
 * The contact state and send history of many contacts at once: the bulk equivalent of
 * `loadContactState` + `loadHistory` (src/app/timers/context.ts) — the same predicates, one query
 * per kind of record for a whole chunk instead of four per contact (and two for the registry). A campaign timer has no
 * journey. test/integration/campaigns.test.ts checks that both give the same answer.
 */
import type { PrismaClient } from '../../adapters/db/client.ts';
import type { Channel, Purpose } from '../../domain/calendar/schema.ts';
import type { HistoryEntry } from '../../domain/decide.ts';
import type { ConsentRecord, ContactState, KillSwitch, SuppressionState } from '../../domain/timer-rules.ts';
import { viaPrisma } from '../../adapters/db/sql.ts';
import { loadFederalDnc, type FederalDncMode } from '../federal-dnc.ts';
import type { OrgSettings } from '../org-settings.ts';
import { HISTORY_WINDOW_MS, SENT_OR_MAYBE, type Tx } from '../timers/context.ts';

export interface BulkContact {
  /** null: not a stored contact (yet): no consent records, no history. */
  contactId: string | null;
  phoneE164: string;
}

export interface BulkState {
  state: ContactState;
  history: HistoryEntry[];
}

export async function loadContactStates(db: Tx | PrismaClient, orgId: string, contacts: readonly BulkContact[], settings: OrgSettings, now: number, federalDnc: FederalDncMode): Promise<BulkState[]> {
  const dnc = federalDnc === 'enforce';
  const phones = [...new Set(contacts.map((c) => c.phoneE164))];
  const ids = [...new Set(contacts.flatMap((c) => (c.contactId ? [c.contactId] : [])))];
  const since = new Date(now - HISTORY_WINDOW_MS);
  const [suppressions, consents, killSwitches, history, registry] = await Promise.all([
    phones.length
      ? db.suppression.findMany({ where: { orgId, phoneE164: { in: phones }, liftedAt: null }, select: { phoneE164: true, channel: true, expiresAt: true, reason: true } })
      : Promise.resolve([]),
    // Consent is read when the org requires it, and for the registry's consent exemption.
    (settings.requireConsentForMarketing || dnc) && ids.length
      ? db.consent.findMany({ where: { contactId: { in: ids } }, select: { contactId: true, type: true, channel: true, purpose: true, capturedAt: true, revokedAt: true } })
      : Promise.resolve([]),
    db.killSwitch.findMany({ where: { orgId, liftedAt: null, endsAt: { gt: new Date(now) } }, select: { id: true, startsAt: true, endsAt: true, reason: true, jurisdictions: true, zips: true } }),
    ids.length
      ? db.timer.findMany({
          where: { contactId: { in: ids }, status: { in: [...SENT_OR_MAYBE] }, OR: [{ sentAt: { gte: since } }, { sentAt: null, updatedAt: { gte: since } }] },
          select: { contactId: true, sentAt: true, updatedAt: true, channel: true, subject: true, purpose: true },
        })
      : Promise.resolve([]),
    dnc ? loadFederalDnc(viaPrisma(db), phones) : Promise.resolve(null),
  ]);

  const suppressionsBy = new Map<string, SuppressionState[]>();
  for (const s of suppressions) {
    const list = suppressionsBy.get(s.phoneE164) ?? [];
    list.push({ channel: (s.channel as Channel | null) ?? null, expiresAt: s.expiresAt?.getTime() ?? null, reason: s.reason });
    suppressionsBy.set(s.phoneE164, list);
  }
  const consentsBy = new Map<string, ConsentRecord[]>();
  for (const c of consents) {
    const list = consentsBy.get(c.contactId) ?? [];
    list.push({ type: c.type, channel: c.channel, purpose: c.purpose, capturedAt: c.capturedAt.getTime(), revokedAt: c.revokedAt?.getTime() ?? null });
    consentsBy.set(c.contactId, list);
  }
  const historyBy = new Map<string, HistoryEntry[]>();
  for (const r of history) {
    const list = historyBy.get(r.contactId) ?? [];
    list.push({ at: (r.sentAt ?? r.updatedAt).getTime(), channel: r.channel as Channel, purpose: r.purpose as Purpose, ...(r.subject ? { subject: r.subject } : {}) });
    historyBy.set(r.contactId, list);
  }
  const switches: KillSwitch[] = killSwitches.map((k) => ({
    id: k.id,
    from: k.startsAt.getTime(),
    to: k.endsAt.getTime(),
    reason: k.reason,
    jurisdictions: k.jurisdictions.length ? k.jurisdictions : null,
    zips: k.zips.length ? k.zips : null,
  }));
  const none: never[] = [];
  return contacts.map((c) => ({
    state: {
      suppressions: suppressionsBy.get(c.phoneE164) ?? none,
      journey: null,
      consent: { requiredForMarketing: settings.requireConsentForMarketing, records: (c.contactId && consentsBy.get(c.contactId)) || none },
      killSwitches: switches,
      ...(registry ? { federalDnc: registry(c.phoneE164) } : {}),
    },
    history: (c.contactId && historyBy.get(c.contactId)) || [],
  }));
}
