/**
 * Timer creation's SQL (src/app/timers/create-batch.ts): one statement per kind of record for a
 * whole batch of `POST /v1/timers` (or `/v1/timers/batch`) items, through a pg client — the
 * batch's own transaction where it says so. The batch's state reads (history, suppressions,
 * consents, kill switches, journeys, the contacts' locks) are the dispatcher's
 * (dispatch-queries.ts): the same predicates at create and at fire time.
 *
 *   idempotencyRecords – the stored answers of the items' Idempotency-Keys (replays)
 *   upsertContacts     – contacts by (org, number), in number order, externalId conflicts apart
 *   contactsByIds      – contacts named by id (the org is checked by the caller)
 *   journeysByIds      – the journeys the items name, with their org, contact and its number
 *   insertTimers       – every timer in one INSERT; a key another request stored first is skipped
 *   insertIdempotencyRecords – the answers of the keyed items, in one INSERT
 */
import type { Queryable } from './sql.ts';

export interface IdempotencyRow {
  orgId: string;
  key: string;
  requestHash: string;
  statusCode: number;
  response: unknown;
}

export async function idempotencyRecords(db: Queryable, keys: ReadonlyArray<{ orgId: string; key: string }>): Promise<IdempotencyRow[]> {
  if (keys.length === 0) return [];
  const { rows } = await db.query<IdempotencyRow>(
    `SELECT r.org_id::text AS "orgId", r.key, r.request_hash AS "requestHash", r.status_code AS "statusCode", r.response
     FROM idempotency_records r JOIN unnest($1::uuid[], $2::text[]) AS x(org_id, key) ON r.org_id = x.org_id AND r.key = x.key`,
    [keys.map((k) => k.orgId), keys.map((k) => k.key)],
  );
  return rows;
}

export interface ContactUpsert {
  orgId: string;
  phoneE164: string;
  phoneHash: string;
  zip: string | null;
  state: string | null;
  candidates: unknown;
  issues: unknown;
  externalId: string | null;
}

export interface UpsertedContacts {
  /** `${orgId}|${phoneE164}` → contact id. */
  ids: Map<string, string>;
  /** `${orgId}|${phoneE164}` of the rows whose externalId belongs to a contact with another number. */
  conflicts: Set<string>;
}

/**
 * Upserts the contacts in one statement, in (org, number) order — the lock order of every bulk
 * writer (campaign chunks, contact imports) — as `contactFor` does one at a time: zip, state and
 * candidates from the input; the input's externalId replaces the stored one, none keeps it. An
 * externalId that another number holds is a conflict (that row is not written). Unchanged rows are
 * not rewritten; every written or matched contact's id comes back.
 */
export async function upsertContacts(db: Queryable, rows: readonly ContactUpsert[]): Promise<UpsertedContacts> {
  const out: UpsertedContacts = { ids: new Map(), conflicts: new Set() };
  if (rows.length === 0) return out;
  const sorted = [...rows].sort((a, b) => (a.orgId !== b.orgId ? (a.orgId < b.orgId ? -1 : 1) : a.phoneE164 < b.phoneE164 ? -1 : a.phoneE164 > b.phoneE164 ? 1 : 0));
  const doc = JSON.stringify(
    sorted.map((r, n) => ({ n, org_id: r.orgId, phone: r.phoneE164, hash: r.phoneHash, zip: r.zip, state: r.state, candidates: r.candidates, issues: r.issues, external_id: r.externalId })),
  );
  const { rows: back } = await db.query<{ orgId: string; phone: string; id: string | null; conflict: boolean }>(
    `WITH input AS (
       SELECT * FROM json_to_recordset($1::json)
         AS t(n int, org_id uuid, phone text, hash text, zip text, state text, candidates jsonb, issues jsonb, external_id text)
     ), conflicts AS (
       SELECT i.org_id, i.phone FROM input i
       WHERE i.external_id IS NOT NULL
         AND EXISTS (SELECT 1 FROM contacts c WHERE c.org_id = i.org_id AND c.external_id = i.external_id AND c.phone_e164 <> i.phone)
     ), ok AS (
       SELECT i.* FROM input i WHERE NOT EXISTS (SELECT 1 FROM conflicts k WHERE k.org_id = i.org_id AND k.phone = i.phone)
     ), up AS (
       INSERT INTO contacts AS c (id, org_id, phone_e164, phone_hash, zip, state, candidates, location_issues, external_id, created_at, updated_at)
       SELECT gen_random_uuid(), org_id, phone, hash, zip, state, candidates, issues, external_id, now(), now() FROM ok ORDER BY n
       ON CONFLICT (org_id, phone_e164) DO UPDATE SET
         zip = EXCLUDED.zip, state = EXCLUDED.state, candidates = EXCLUDED.candidates, location_issues = EXCLUDED.location_issues,
         external_id = COALESCE(EXCLUDED.external_id, c.external_id), updated_at = now()
       WHERE (c.zip, c.state, c.candidates, c.location_issues, c.external_id)
             IS DISTINCT FROM (EXCLUDED.zip, EXCLUDED.state, EXCLUDED.candidates, EXCLUDED.location_issues, COALESCE(EXCLUDED.external_id, c.external_id))
       RETURNING c.org_id, c.phone_e164, c.id
     )
     SELECT ok.org_id::text AS "orgId", ok.phone, coalesce(up.id, c.id)::text AS id, false AS conflict
     FROM ok LEFT JOIN up ON up.org_id = ok.org_id AND up.phone_e164 = ok.phone
             LEFT JOIN contacts c ON up.id IS NULL AND c.org_id = ok.org_id AND c.phone_e164 = ok.phone
     UNION ALL
     SELECT org_id::text, phone, NULL, true FROM conflicts`,
    [doc],
  );
  const missing: Array<{ orgId: string; phone: string }> = [];
  for (const b of back) {
    const k = `${b.orgId}|${b.phone}`;
    if (b.conflict) out.conflicts.add(k);
    else if (b.id) out.ids.set(k, b.id);
    else missing.push(b);
  }
  // A contact another transaction inserted while this statement waited for it, unchanged since: it
  // was not in this statement's snapshot; a new statement sees it.
  if (missing.length > 0) {
    const { rows: found } = await db.query<{ orgId: string; phone: string; id: string }>(
      `SELECT c.org_id::text AS "orgId", c.phone_e164 AS phone, c.id::text AS id
       FROM contacts c JOIN unnest($1::uuid[], $2::text[]) AS x(org_id, phone) ON c.org_id = x.org_id AND c.phone_e164 = x.phone`,
      [missing.map((m) => m.orgId), missing.map((m) => m.phone)],
    );
    for (const f of found) out.ids.set(`${f.orgId}|${f.phone}`, f.id);
  }
  return out;
}

export interface ContactRow {
  id: string;
  orgId: string;
  phoneE164: string;
  zip: string | null;
}

/** The contacts with these ids, whatever their org (the caller answers another org's id as not found). */
export async function contactsByIds(db: Queryable, ids: readonly string[]): Promise<ContactRow[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<ContactRow>(
    `SELECT id::text AS id, org_id::text AS "orgId", phone_e164 AS "phoneE164", zip FROM contacts WHERE id = ANY($1::uuid[])`,
    [ids],
  );
  return rows;
}

export interface JourneyRefRow {
  id: string;
  orgId: string;
  contactId: string;
  /** The journey's contact's number (an item naming its contact by number is matched on it). */
  phoneE164: string;
  status: 'active' | 'ended' | 'expired';
  expiresAt: Date;
}

export async function journeysByIds(db: Queryable, ids: readonly string[]): Promise<JourneyRefRow[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<JourneyRefRow>(
    `SELECT j.id::text AS id, j.org_id::text AS "orgId", j.contact_id::text AS "contactId", c.phone_e164 AS "phoneE164", j.status::text AS status, j.expires_at AS "expiresAt"
     FROM journeys j JOIN contacts c ON c.id = j.contact_id WHERE j.id = ANY($1::uuid[])`,
    [ids],
  );
  return rows;
}

export interface NewTimer {
  id: string;
  orgId: string;
  contactId: string;
  journeyId: string | null;
  channel: string;
  purpose: string;
  policy: string;
  subject: string | null;
  requestedAt: Date;
  sendAt: Date | null;
  notAfter: Date | null;
  status: string;
  payload: unknown;
  /** SMS segments of the body; null for a call. */
  segments: number | null;
  idempotencyKey: string | null;
  calendarVersion: string;
  decision: unknown;
}

/** A stored timer, as `timerView` reads it. */
export interface TimerRow {
  id: string;
  orgId: string;
  contactId: string;
  journeyId: string | null;
  campaignId: string | null;
  campaignRow: number | null;
  channel: 'sms' | 'voice';
  purpose: 'marketing' | 'informational';
  policy: 'cancel' | 'next_slot' | 'previous_slot';
  subject: string | null;
  requestedAt: Date;
  sendAt: Date | null;
  notAfter: Date | null;
  status: string;
  payload: unknown;
  segments: number | null;
  idempotencyKey: string | null;
  attempts: number;
  leaseOwner: string | null;
  leaseUntil: Date | null;
  providerId: string | null;
  sentAt: Date | null;
  lastError: string | null;
  calendarVersion: string;
  decision: unknown;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * Inserts the timers in one statement (created and updated now). A row whose (org, key) another
 * request stored first is skipped — waiting for that request's transaction if it is still open —
 * and is not returned: the caller answers it with the stored answer. Only the id and the stored
 * instant come back: the rest of each returned row is the caller's own (a new timer's other
 * columns are their defaults), so Postgres does not send, nor pg parse, ~1 KB of JSON per timer.
 */
export async function insertTimers(db: Queryable, rows: readonly NewTimer[]): Promise<TimerRow[]> {
  if (rows.length === 0) return [];
  // One JSON document for the whole batch (one JSON.stringify, parsed by Postgres), not 16 text arrays.
  const doc = JSON.stringify(
    rows.map((r) => ({
      id: r.id,
      org_id: r.orgId,
      contact_id: r.contactId,
      journey_id: r.journeyId,
      channel: r.channel,
      purpose: r.purpose,
      policy: r.policy,
      subject: r.subject,
      requested_at: r.requestedAt,
      send_at: r.sendAt,
      not_after: r.notAfter,
      status: r.status,
      payload: r.payload,
      segments: r.segments,
      idempotency_key: r.idempotencyKey,
      calendar_version: r.calendarVersion,
      decision: r.decision,
    })),
  );
  const { rows: back } = await db.query<{ id: string; at: Date }>(
    `INSERT INTO timers (id, org_id, contact_id, journey_id, channel, purpose, policy, subject, requested_at, send_at, not_after, status, payload, segments,
                         idempotency_key, calendar_version, decision, created_at, updated_at)
     SELECT x.id, x.org_id, x.contact_id, x.journey_id, x.channel::channel, x.purpose::purpose, x.policy::policy, x.subject, x.requested_at, x.send_at,
            x.not_after, x.status::timer_status, x.payload, x.segments, x.idempotency_key, x.calendar_version, x.decision, now(), now()
     FROM json_to_recordset($1::json) AS x(id uuid, org_id uuid, contact_id uuid, journey_id uuid, channel text, purpose text, policy text, subject text,
                                           requested_at timestamptz, send_at timestamptz, not_after timestamptz, status text, payload jsonb, segments smallint,
                                           idempotency_key text, calendar_version text, decision jsonb)
     ON CONFLICT (org_id, idempotency_key) DO NOTHING
     RETURNING id::text AS id, created_at AS at`,
    [doc],
  );
  const given = new Map(rows.map((r) => [r.id, r]));
  return back.map(({ id, at }) => {
    const r = given.get(id);
    if (!r) throw new Error(`timer insert returned an id it was not given: ${id}`);
    return {
      ...r,
      channel: r.channel as TimerRow['channel'],
      purpose: r.purpose as TimerRow['purpose'],
      policy: r.policy as TimerRow['policy'],
      campaignId: null,
      campaignRow: null,
      attempts: 0,
      leaseOwner: null,
      leaseUntil: null,
      providerId: null,
      sentAt: null,
      lastError: null,
      createdAt: at,
      updatedAt: at,
    };
  });
}

export async function insertIdempotencyRecords(db: Queryable, rows: readonly IdempotencyRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO idempotency_records (org_id, key, request_hash, status_code, response, created_at)
     SELECT x.org_id, x.key, x.hash, x.code, x.response, now()
     FROM json_to_recordset($1::json) AS x(org_id uuid, key text, hash text, code int, response jsonb)
     ON CONFLICT DO NOTHING`,
    [JSON.stringify(rows.map((r) => ({ org_id: r.orgId, key: r.key, hash: r.requestHash, code: r.statusCode, response: r.response })))],
  );
}
