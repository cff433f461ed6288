/**
 * What the timer use cases are given: I/O through ports and clients, the calendars and the
 * clock as values. Built once per process by src/runtime.ts.
 */
import { createHash } from 'node:crypto';
import type { AuditInput, AuditLog } from '../../adapters/audit/audit-log.ts';
import type { Prisma, PrismaClient } from '../../adapters/db/client.ts';
import { viaPrisma } from '../../adapters/db/sql.ts';
import type { CalendarSet } from '../../domain/calendar/compile.ts';
import type { Channel, Purpose } from '../../domain/calendar/schema.ts';
import type { DecideInput, HistoryEntry, Policy } from '../../domain/decide.ts';
import { parsePhone, type Location } from '../../domain/location/resolve.ts';
import { AppError } from '../../domain/errors.ts';
import type { ConsentRecord, ContactState, JourneyState, KillSwitch } from '../../domain/timer-rules.ts';
import { loadFederalDnc, type FederalDncMode } from '../federal-dnc.ts';
import type { OrgSettings } from '../org-settings.ts';
import type { CampaignQueuePort, Clock, Logger, MetricsPort, ReassignedNumbersPort, SendRatePort, SenderPort, TimerQueuePort } from '../ports.ts';

export interface EngineSettings {
  /** Timers due within this many ms are handed to BullMQ; later ones wait in Postgres. */
  horizonMs: number;
  /** How long a claimed (`sending`) timer may stay unanswered before it is presumed lost. */
  leaseMs: number;
  /** After a lost send's lease ended, how long before the provider's silence means it never left. */
  lostSendGraceMs: number;
  /** A queued timer this late whose job is gone is handed to a new job. */
  overdueGraceMs: number;
  /** Base URL the provider calls back (…/webhooks/twilio/status). */
  publicBaseUrl: string;
  /** Default journey lifetime. */
  journeyTtlMs: number;
  /** Whether marketing is judged against the National Do-Not-Call Registry (FEDERAL_DNC). */
  federalDnc: FederalDncMode;
  /** How long a Reassigned Numbers Database answer is reused (RND_CACHE_TTL). */
  rndCacheTtlMs: number;
}

export interface EngineContext {
  prisma: PrismaClient;
  audit: AuditLog;
  queue: TimerQueuePort;
  sender: SenderPort;
  /** Send-rate smoothing across dispatchers (absent: sends are not paced). */
  sendRate?: SendRatePort;
  /** Operators' metrics (absent: not counted). */
  metrics?: MetricsPort;
  /** The FCC Reassigned Numbers Database (absent: not asked; RND_SOURCE). */
  reassigned?: ReassignedNumbersPort;
  /** Campaign planning jobs (absent: campaigns cannot be planned by this process). */
  campaignQueue?: CampaignQueuePort;
  /** The calendars in force (a function: they can be reloaded). */
  calendars: () => CalendarSet;
  clock: Clock;
  log: Logger;
  settings: EngineSettings;
  /** Identifies this process in leases (`host:pid:random`). */
  workerId: string;
}

export type Tx = Prisma.TransactionClient;

/** How far back sends count for caps (the longest rolling period in any calendar is 24 h; org caps up to 7 days). */
export const HISTORY_WINDOW_MS = 8 * 24 * 3600_000;

/** Statuses that mean "a send went out, or may have": they count towards caps. */
export const SENT_OR_MAYBE = ['sending', 'sent', 'delivered', 'undelivered', 'unknown'] as const;

export function phoneHash(e164: string): string {
  return createHash('sha256').update(e164).digest('hex');
}

/** A number in any form given as a query filter → the sha256 of its E.164 form (as contacts.phone_hash); 400 INVALID_PHONE otherwise. */
export function queryPhoneHash(raw: string): string {
  const phone = parsePhone(raw);
  if ('code' in phone) throw new AppError('INVALID_PHONE', phone.message, [{ path: 'query.phone', message: phone.message }]);
  return phoneHash(phone.e164);
}

/** Earlier sends to a contact (for rolling caps), from what was actually sent. */
export async function loadHistory(db: Tx | PrismaClient, contactId: string, now: number): Promise<HistoryEntry[]> {
  const since = new Date(now - HISTORY_WINDOW_MS);
  const rows = await db.timer.findMany({
    where: {
      contactId,
      status: { in: [...SENT_OR_MAYBE] },
      OR: [{ sentAt: { gte: since } }, { sentAt: null, updatedAt: { gte: since } }],
    },
    select: { sentAt: true, updatedAt: true, channel: true, subject: true, purpose: true },
  });
  return rows.map((r) => historyEntry({ at: r.sentAt ?? r.updatedAt, channel: r.channel, purpose: r.purpose, subject: r.subject }));
}

/** One send as the caps see it (a row of loadHistory, or of the dispatcher's batched read). */
export function historyEntry(r: { at: Date; channel: string; purpose: string; subject: string | null }): HistoryEntry {
  return { at: r.at.getTime(), channel: r.channel as Channel, purpose: r.purpose as Purpose, ...(r.subject ? { subject: r.subject } : {}) };
}

/** Rows of the tables behind ContactState, as the domain sees them (shared by the single and the batched reads). */
export const stateOf = {
  suppression: (s: { channel: string | null; expiresAt: Date | null; reason: string }) => ({ channel: (s.channel as Channel | null) ?? null, expiresAt: s.expiresAt?.getTime() ?? null, reason: s.reason }),
  journey: (j: { status: JourneyState['status']; expiresAt: Date }): JourneyState => ({ status: j.status, expiresAt: j.expiresAt.getTime() }),
  consent: (c: { type: ConsentRecord['type']; channel: string; purpose: string; capturedAt: Date; revokedAt: Date | null }): ConsentRecord => ({
    type: c.type,
    channel: c.channel as Channel,
    purpose: c.purpose as Purpose,
    capturedAt: c.capturedAt.getTime(),
    revokedAt: c.revokedAt?.getTime() ?? null,
  }),
  killSwitch: (k: { id: string; startsAt: Date; endsAt: Date; reason: string; jurisdictions: string[]; zips: string[] }): KillSwitch => ({
    id: k.id,
    from: k.startsAt.getTime(),
    to: k.endsAt.getTime(),
    reason: k.reason,
    jurisdictions: k.jurisdictions.length ? k.jurisdictions : null,
    zips: k.zips.length ? k.zips : null,
  }),
};

/** Everything about the contact and the org that can forbid a send, read in one go. */
export async function loadContactState(
  db: Tx | PrismaClient,
  t: { orgId: string; contactId: string; phoneE164: string; journeyId: string | null },
  settings: OrgSettings,
  now: number,
  federalDnc: FederalDncMode,
): Promise<ContactState> {
  const dnc = federalDnc === 'enforce';
  const [suppressions, journey, consents, killSwitches, registry] = await Promise.all([
    db.suppression.findMany({ where: { orgId: t.orgId, phoneE164: t.phoneE164, liftedAt: null }, select: { channel: true, expiresAt: true, reason: true } }),
    t.journeyId ? db.journey.findUnique({ where: { id: t.journeyId }, select: { status: true, expiresAt: true } }) : Promise.resolve(null),
    // Consent is read when the org requires it, and for the registry's consent exemption.
    settings.requireConsentForMarketing || dnc
      ? db.consent.findMany({ where: { contactId: t.contactId }, select: { type: true, channel: true, purpose: true, capturedAt: true, revokedAt: true } })
      : Promise.resolve([]),
    db.killSwitch.findMany({ where: { orgId: t.orgId, liftedAt: null, endsAt: { gt: new Date(now) } }, select: { id: true, startsAt: true, endsAt: true, reason: true, jurisdictions: true, zips: true } }),
    dnc ? loadFederalDnc(viaPrisma(db), [t.phoneE164]) : Promise.resolve(null),
  ]);
  return {
    suppressions: suppressions.map(stateOf.suppression),
    journey: journey ? stateOf.journey(journey) : null,
    consent: { requiredForMarketing: settings.requireConsentForMarketing, records: consents.map(stateOf.consent) },
    killSwitches: killSwitches.map(stateOf.killSwitch),
    ...(registry ? { federalDnc: registry(t.phoneE164) } : {}),
  };
}

/** Serialises everything that decides about one contact (claims, caps) across processes. Take it first in a transaction. */
export async function lockContact(tx: Tx, contactId: string): Promise<void> {
  await tx.$queryRaw`SELECT id FROM contacts WHERE id = ${contactId}::uuid FOR UPDATE`;
}

/** Audit helper: one entry in the caller's transaction. */
export function auditIn(ctx: EngineContext, tx: Tx, orgId: string, entries: AuditInput[]): Promise<unknown> {
  return ctx.audit.append(orgId, entries, tx);
}

/** Area code only: the audit log never holds a full phone number. */
export function areaCodeOf(e164: string): string | null {
  return /^\+1(\d{3})/.exec(e164)?.[1] ?? null;
}

/** The decision input for a stored timer judged at `at`/`now` (fire time, kill switches, re-judgements). */
export function storedTimerInput(
  t: { channel: string; purpose: string; policy: string; notAfter: Date | null; subject: string | null },
  location: Location,
  at: number,
  now: number,
  history: readonly HistoryEntry[],
  settings: OrgSettings,
): DecideInput {
  return {
    location,
    channel: t.channel as Channel,
    purpose: t.purpose as Purpose,
    at,
    now,
    policy: t.policy as Policy,
    ...(t.notAfter ? { notAfter: t.notAfter.getTime() } : {}),
    ...(t.subject ? { subject: t.subject } : {}),
    ...(settings.calendar ? { orgCalendar: settings.calendar } : {}),
    history,
  };
}
