/**
 * The dispatcher's SQL (src/app/timers/dispatch.ts), one statement per kind of state for a whole
 * batch of due timers, through a pg client — the batch's own transaction where it says so. Rows
 * come back as plain typed objects; the use case turns them into the domain's inputs.
 *
 *   peekTimers        – outside the transaction: which timers are still pending at the job's instant
 *   lockContacts      – the batch's contacts, FOR UPDATE, in id order (two batches never deadlock)
 *   timersForFire     – the timers with their contact's phone and zip, read under those locks
 *   batchStateOf      – in one statement, what can forbid the batch's sends: the sends (or possible
 *                       sends) in the caps' look-back, suppressions, journeys, consents, kill
 *                       switches, the National Do-Not-Call Registry's copies and listings
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

/** A send (or possible send) in the caps' look-back (see loadHistory in src/app/timers/context.ts: the same rows, for many contacts). */
export interface HistoryRow {
  contactId: string;
  at: Date;
  channel: Channel;
  purpose: Purpose;
  subject: string | null;
}

export interface SuppressionRow {
  orgId: string;
  phoneE164: string;
  channel: Channel | null;
  expiresAt: Date | null;
  reason: string;
}

export interface JourneyRow {
  id: string;
  status: 'active' | 'ended' | 'expired';
  expiresAt: Date;
}

export interface ConsentRow {
  contactId: string;
  type: 'express_written' | 'express' | 'none';
  channel: Channel;
  purpose: Purpose;
  capturedAt: Date;
  revokedAt: Date | null;
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

/** What `batchStateOf` reads: each list may be empty (its part then reads nothing). */
export interface BatchStateQuery {
  /** History: these contacts' timers in these statuses, sent (or, unsent, last updated) since `since`. */
  contactIds: readonly string[];
  statuses: readonly string[];
  since: Date;
  /** Suppressions in force for these numbers of these orgs. */
  numbers: ReadonlyArray<{ orgId: string; phoneE164: string }>;
  journeyIds: readonly string[];
  /** Consents of these contacts. */
  consentContactIds: readonly string[];
  /** Kill switches of these orgs not lifted and not over at `now`. */
  orgIds: readonly string[];
  now: Date;
  /** The National Do-Not-Call Registry: the copies in force for these area codes, the listed among these numbers. */
  dncAreaCodes: readonly number[];
  dncNumbers: readonly number[];
}

export interface BatchStateRows {
  history: HistoryRow[];
  suppressions: SuppressionRow[];
  journeys: JourneyRow[];
  consents: ConsentRow[];
  killSwitches: KillSwitchRow[];
  dncCopies: Array<{ areaCode: number; copyId: string; asOf: Date }>;
  dncListed: Array<{ number: number; listedSince: Date }>;
}

/** An instant as epoch milliseconds inside a JSON document (no session time zone, no date parsing in Node). */
const ms = (col: string) => `floor(extract(epoch FROM ${col}) * 1000)::bigint`;
const agg = (fields: string) => `coalesce(json_agg(json_build_array(${fields})), '[]'::json)`;

/**
 * Everything that can forbid a batch's sends, in one statement (one round trip for the dispatcher's
 * and timer creation's batches instead of one per kind): each kind is a sub-select aggregated into
 * a JSON array of positional tuples, with the same predicates the one-contact reads use.
 */
export async function batchStateOf(db: Queryable, q: BatchStateQuery): Promise<BatchStateRows> {
  const { rows } = await db.query<{ h: unknown[][]; s: unknown[][]; j: unknown[][]; c: unknown[][]; k: unknown[][]; dc: unknown[][]; dl: unknown[][] }>(
    `SELECT
       (SELECT ${agg(`contact_id, ${ms('coalesce(sent_at, updated_at)')}, channel, purpose, subject`)}
          FROM timers
          WHERE contact_id = ANY($1::uuid[]) AND status = ANY($2::timer_status[])
            AND (sent_at >= $3 OR (sent_at IS NULL AND updated_at >= $3))) AS h,
       (SELECT ${agg(`s.org_id, s.phone_e164, s.channel, ${ms('s.expires_at')}, s.reason`)}
          FROM suppressions s JOIN unnest($4::uuid[], $5::text[]) AS x(org_id, phone) ON s.org_id = x.org_id AND s.phone_e164 = x.phone
          WHERE s.lifted_at IS NULL) AS s,
       (SELECT ${agg(`id, status, ${ms('expires_at')}`)} FROM journeys WHERE id = ANY($6::uuid[])) AS j,
       (SELECT ${agg(`contact_id, type, channel, purpose, ${ms('captured_at')}, ${ms('revoked_at')}`)} FROM consents WHERE contact_id = ANY($7::uuid[])) AS c,
       (SELECT ${agg(`id, org_id, ${ms('starts_at')}, ${ms('ends_at')}, reason, jurisdictions, zips`)}
          FROM kill_switches WHERE org_id = ANY($8::uuid[]) AND lifted_at IS NULL AND ends_at > $9) AS k,
       (SELECT ${agg(`area_code, copy_id, ${ms('as_of')}`)} FROM federal_dnc_area_codes WHERE area_code = ANY($10::smallint[])) AS dc,
       (SELECT ${agg(`number, (listed_since - DATE '1970-01-01')`)} FROM federal_dnc_numbers WHERE number = ANY($11::bigint[])) AS dl`,
    [
      q.contactIds,
      q.statuses,
      q.since,
      q.numbers.map((n) => n.orgId),
      q.numbers.map((n) => n.phoneE164),
      q.journeyIds,
      q.consentContactIds,
      q.orgIds,
      q.now,
      q.dncAreaCodes,
      q.dncNumbers,
    ],
  );
  const r = rows[0]!;
  const date = (v: unknown) => new Date(v as number);
  const dateOrNull = (v: unknown) => (v === null ? null : new Date(v as number));
  return {
    history: r.h.map(([contactId, at, channel, purpose, subject]) => ({ contactId, at: date(at), channel, purpose, subject }) as HistoryRow),
    suppressions: r.s.map(([orgId, phoneE164, channel, expiresAt, reason]) => ({ orgId, phoneE164, channel, expiresAt: dateOrNull(expiresAt), reason }) as SuppressionRow),
    journeys: r.j.map(([id, status, expiresAt]) => ({ id, status, expiresAt: date(expiresAt) }) as JourneyRow),
    consents: r.c.map(([contactId, type, channel, purpose, capturedAt, revokedAt]) => ({ contactId, type, channel, purpose, capturedAt: date(capturedAt), revokedAt: dateOrNull(revokedAt) }) as ConsentRow),
    killSwitches: r.k.map(([id, orgId, startsAt, endsAt, reason, jurisdictions, zips]) => ({ id, orgId, startsAt: date(startsAt), endsAt: date(endsAt), reason, jurisdictions, zips }) as KillSwitchRow),
    dncCopies: r.dc.map(([areaCode, copyId, asOf]) => ({ areaCode: areaCode as number, copyId: copyId as string, asOf: date(asOf) })),
    dncListed: r.dl.map(([number, days]) => ({ number: Number(number), listedSince: new Date((days as number) * 86_400_000) })),
  };
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
