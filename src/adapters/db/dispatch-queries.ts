/**
 * The dispatcher's SQL (src/app/timers/dispatch.ts), one statement per kind of state for a whole
 * batch of due timers, through a pg client — the batch's own transaction where it says so. Rows
 * come back as plain typed objects; the use case turns them into the domain's inputs.
 *
 *   peekTimers        – outside the transaction: which timers are still pending at the job's instant
 *   lockContacts      – the batch's contacts, FOR UPDATE, in id order (two batches never deadlock)
 *   timersForFire     – the timers with their contact's phone and zip, read under those locks
 *   historyOf         – sends (or possible sends) to the contacts in the caps' look-back
 *   suppressionsOf / journeysOf / consentsOf / killSwitchesOf – what can forbid a send
 *   applyVerdicts     – one compare-and-set UPDATE for every claim, move and cancellation
 *   recordSent / providerIdOnly – the provider's acceptances, many per statement
 */
import type { Channel, Purpose } from '../../domain/calendar/schema.ts';
import type { Queryable } from './sql.ts';

export type { Queryable } from './sql.ts';
export { inTransaction } from './sql.ts';

export interface PeekRow {
  id: string;
  orgId: string;
  contactId: string;
  channel: Channel;
  status: string;
  sendAt: Date | null;
}

export async function peekTimers(db: Queryable, ids: readonly string[]): Promise<PeekRow[]> {
  const { rows } = await db.query<PeekRow>(
    `SELECT id::text AS id, org_id::text AS "orgId", contact_id::text AS "contactId", channel::text AS channel, status::text AS status, send_at AS "sendAt"
     FROM timers WHERE id = ANY($1::uuid[])`,
    [ids],
  );
  return rows;
}

/** Locks the contacts (row locks until the transaction ends), always in id order. */
export async function lockContacts(db: Queryable, contactIds: readonly string[]): Promise<void> {
  if (contactIds.length === 0) return;
  await db.query(`SELECT id FROM contacts WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, [[...new Set(contactIds)]]);
}

export interface FireRow {
  id: string;
  orgId: string;
  contactId: string;
  journeyId: string | null;
  campaignId: string | null;
  channel: Channel;
  purpose: Purpose;
  policy: string;
  subject: string | null;
  status: string;
  sendAt: Date | null;
  notAfter: Date | null;
  attempts: number;
  payload: Record<string, unknown>;
  /** SMS segments recorded at creation (null: a call, or a timer created before they were). */
  segments: number | null;
  phoneE164: string;
  zip: string | null;
}

export async function timersForFire(db: Queryable, ids: readonly string[]): Promise<FireRow[]> {
  const { rows } = await db.query<FireRow>(
    `SELECT t.id::text AS id, t.org_id::text AS "orgId", t.contact_id::text AS "contactId", t.journey_id::text AS "journeyId", t.campaign_id::text AS "campaignId",
            t.channel::text AS channel, t.purpose::text AS purpose, t.policy::text AS policy, t.subject, t.status::text AS status,
            t.send_at AS "sendAt", t.not_after AS "notAfter", t.attempts, t.payload, t.segments, c.phone_e164 AS "phoneE164", c.zip
     FROM timers t JOIN contacts c ON c.id = t.contact_id
     WHERE t.id = ANY($1::uuid[])`,
    [ids],
  );
  return rows;
}

export interface HistoryRow {
  contactId: string;
  at: Date;
  channel: Channel;
  purpose: Purpose;
  subject: string | null;
}

/** What counts towards caps (see loadHistory in src/app/timers/context.ts: the same rows, for many contacts). */
export async function historyOf(db: Queryable, contactIds: readonly string[], statuses: readonly string[], since: Date): Promise<HistoryRow[]> {
  const { rows } = await db.query<HistoryRow>(
    `SELECT contact_id::text AS "contactId", coalesce(sent_at, updated_at) AS at, channel::text AS channel, purpose::text AS purpose, subject
     FROM timers
     WHERE contact_id = ANY($1::uuid[]) AND status = ANY($2::timer_status[])
       AND (sent_at >= $3 OR (sent_at IS NULL AND updated_at >= $3))`,
    [contactIds, statuses, since],
  );
  return rows;
}

export interface SuppressionRow {
  orgId: string;
  phoneE164: string;
  channel: Channel | null;
  expiresAt: Date | null;
  reason: string;
}

export async function suppressionsOf(db: Queryable, numbers: ReadonlyArray<{ orgId: string; phoneE164: string }>): Promise<SuppressionRow[]> {
  const { rows } = await db.query<SuppressionRow>(
    `SELECT s.org_id::text AS "orgId", s.phone_e164 AS "phoneE164", s.channel::text AS channel, s.expires_at AS "expiresAt", s.reason
     FROM suppressions s JOIN unnest($1::uuid[], $2::text[]) AS x(org_id, phone) ON s.org_id = x.org_id AND s.phone_e164 = x.phone
     WHERE s.lifted_at IS NULL`,
    [numbers.map((n) => n.orgId), numbers.map((n) => n.phoneE164)],
  );
  return rows;
}

export interface JourneyRow {
  id: string;
  status: 'active' | 'ended' | 'expired';
  expiresAt: Date;
}

export async function journeysOf(db: Queryable, ids: readonly string[]): Promise<JourneyRow[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<JourneyRow>(`SELECT id::text AS id, status::text AS status, expires_at AS "expiresAt" FROM journeys WHERE id = ANY($1::uuid[])`, [ids]);
  return rows;
}

export interface ConsentRow {
  contactId: string;
  type: 'express_written' | 'express' | 'none';
  channel: Channel;
  purpose: Purpose;
  capturedAt: Date;
  revokedAt: Date | null;
}

export async function consentsOf(db: Queryable, contactIds: readonly string[]): Promise<ConsentRow[]> {
  if (contactIds.length === 0) return [];
  const { rows } = await db.query<ConsentRow>(
    `SELECT contact_id::text AS "contactId", type::text AS type, channel::text AS channel, purpose::text AS purpose, captured_at AS "capturedAt", revoked_at AS "revokedAt"
     FROM consents WHERE contact_id = ANY($1::uuid[])`,
    [contactIds],
  );
  return rows;
}

export interface KillSwitchRow {
  id: string;
  orgId: string;
  startsAt: Date;
  endsAt: Date;
  reason: string;
  jurisdictions: string[];
  zips: string[];
}

export async function killSwitchesOf(db: Queryable, orgIds: readonly string[], now: Date): Promise<KillSwitchRow[]> {
  const { rows } = await db.query<KillSwitchRow>(
    `SELECT id::text AS id, org_id::text AS "orgId", starts_at AS "startsAt", ends_at AS "endsAt", reason, jurisdictions, zips
     FROM kill_switches WHERE org_id = ANY($1::uuid[]) AND lifted_at IS NULL AND ends_at > $2`,
    [orgIds, now],
  );
  return rows;
}

/** One timer's move at fire time: claimed (`sending`), moved (`scheduled` at `newSendAt`), cancelled or suppressed. */
export interface VerdictRow {
  id: string;
  /** The job's sendAt: the move happens only if the timer is still pending at that instant. */
  jobSendAt: Date;
  status: 'sending' | 'scheduled' | 'cancelled' | 'suppressed';
  newSendAt: Date | null;
  decisionJson: string;
  calendarVersion: string;
}

/**
 * Applies every move of a batch in one statement, each a compare-and-set (still pending, at the
 * job's sendAt); a claim also takes the lease and counts an attempt. `updated_at` is the engine's
 * clock: until sentAt is set, caps count a claim at updated_at. Returns the ids that moved.
 */
export async function applyVerdicts(db: Queryable, rows: readonly VerdictRow[], lease: { owner: string; until: Date }, now: Date): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const res = await db.query<{ id: string }>(
    `UPDATE timers AS t SET
       status = x.status::timer_status,
       send_at = coalesce(x.new_send_at, t.send_at),
       decision = x.decision::jsonb,
       calendar_version = x.cv,
       lease_owner = CASE WHEN x.status = 'sending' THEN $2 END,
       lease_until = CASE WHEN x.status = 'sending' THEN $3::timestamptz END,
       attempts = t.attempts + CASE WHEN x.status = 'sending' THEN 1 ELSE 0 END,
       updated_at = $4
     FROM unnest($1::uuid[], $5::timestamptz[], $6::text[], $7::timestamptz[], $8::text[], $9::text[]) AS x(id, job_send_at, status, new_send_at, decision, cv)
     WHERE t.id = x.id AND t.status IN ('scheduled', 'queued') AND t.send_at = x.job_send_at
     RETURNING t.id::text AS id`,
    [
      rows.map((r) => r.id),
      lease.owner,
      lease.until,
      now,
      rows.map((r) => r.jobSendAt),
      rows.map((r) => r.status),
      rows.map((r) => r.newSendAt),
      rows.map((r) => r.decisionJson),
      rows.map((r) => r.calendarVersion),
    ],
  );
  return new Set(res.rows.map((r) => r.id));
}

export interface SentRow {
  id: string;
  providerId: string;
  at: Date;
}

/**
 * The provider accepted these sends: `sent`, if each is still this dispatcher's claim (or became
 * `unknown` when its lease ran out meanwhile). Returns the ids that moved.
 */
export async function recordSent(db: Queryable, rows: readonly SentRow[], leaseOwner: string): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const res = await db.query<{ id: string }>(
    `UPDATE timers AS t SET status = 'sent', provider_id = x.provider_id, sent_at = x.at, lease_owner = NULL, lease_until = NULL, last_error = NULL, updated_at = x.at
     FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS x(id, provider_id, at)
     WHERE t.id = x.id AND ((t.status = 'sending' AND t.lease_owner = $4) OR t.status = 'unknown')
     RETURNING t.id::text AS id`,
    [rows.map((r) => r.id), rows.map((r) => r.providerId), rows.map((r) => r.at), leaseOwner],
  );
  return new Set(res.rows.map((r) => r.id));
}

/** A status callback got there first (sent, delivered, …): just remember the provider id and when it went. */
export async function providerIdOnly(db: Queryable, rows: readonly SentRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `UPDATE timers AS t SET provider_id = x.provider_id, sent_at = x.at, lease_owner = NULL, lease_until = NULL
     FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS x(id, provider_id, at)
     WHERE t.id = x.id AND t.provider_id IS NULL`,
    [rows.map((r) => r.id), rows.map((r) => r.providerId), rows.map((r) => r.at)],
  );
}
