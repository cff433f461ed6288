/**
 * Outbound events' SQL (src/app/webhooks.ts), one statement per kind of state for a whole batch:
 * the fan-out of new audit entries into deliveries for every endpoint at once, the lease of an
 * endpoint's due deliveries (in order per timer), the events they carry, and the outcome of a
 * batch of attempts.
 */
import type { EventEntry, EventSource } from '../../domain/webhooks.ts';
import type { Queryable } from './sql.ts';

/**
 * Turns audit entries past each enabled endpoint's cursor (at most `perEndpoint` per endpoint)
 * into deliveries of the types it subscribed to, and moves each cursor past what it scanned.
 * One statement: endpoints another pass is fanning out are skipped (SKIP LOCKED). Linked entries
 * only: seqs are assigned under the org's chain lock and committed in order, so an entry at or
 * below a cursor never appears later.
 */
export async function fanOut(db: Queryable, sources: readonly EventSource[], perEndpoint: number, now: Date): Promise<{ scanned: number; created: number }> {
  const { rows } = await db.query<{ scanned: number; created: number }>(
    `WITH eps AS (
       SELECT id, org_id, events, cursor_seq FROM webhook_endpoints
       WHERE status = 'enabled' AND deleted_at IS NULL
       FOR UPDATE SKIP LOCKED
     ), map AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS m(action, type, key, pattern)
     ), scan AS (
       SELECT e.id AS endpoint_id, e.events, a.*
       FROM eps e CROSS JOIN LATERAL (
         SELECT x.id, x.org_id, x.seq, x.action, x.data, x.timer_id, x.journey_id, x.contact_id
         FROM audit_entries x WHERE x.org_id = e.org_id AND x.seq > e.cursor_seq ORDER BY x.seq LIMIT $5
       ) a
     ), ins AS (
       INSERT INTO webhook_deliveries (endpoint_id, org_id, entry_id, seq, event_type, order_key, next_attempt_at, created_at)
       SELECT s.endpoint_id, s.org_id, s.id, s.seq, m.type, coalesce(s.timer_id, s.journey_id, s.contact_id), $6, $6
       FROM scan s JOIN map m ON m.action = s.action AND (m.key IS NULL OR s.data->>m.key LIKE m.pattern)
       WHERE m.type = ANY(s.events) OR '*' = ANY(s.events)
       ON CONFLICT (endpoint_id, seq) DO NOTHING
       RETURNING 1
     ), moved AS (
       UPDATE webhook_endpoints w SET cursor_seq = c.top
       FROM (SELECT endpoint_id, max(seq) AS top FROM scan GROUP BY endpoint_id) c
       WHERE w.id = c.endpoint_id
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM scan)::int AS scanned, (SELECT count(*) FROM ins)::int AS created, (SELECT count(*) FROM moved)::int AS moved`,
    [sources.map((s) => s.action), sources.map((s) => s.type), sources.map((s) => s.key ?? null), sources.map((s) => s.pattern ?? null), perEndpoint, now],
  );
  return rows[0] ?? { scanned: 0, created: 0 };
}

/** Endpoints with a delivery due and not leased: each gets a delivery job. */
export async function endpointsDue(db: Queryable, now: Date, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT DISTINCT d.endpoint_id::text AS id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
     WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.leased_until IS NULL OR d.leased_until < $1)
       AND e.status = 'enabled' AND e.deleted_at IS NULL
     LIMIT $2`,
    [now, limit],
  );
  return rows.map((r) => r.id);
}

export interface LeasedDelivery {
  id: string;
  seq: number;
  eventType: string;
  attempts: number;
  createdAt: Date;
  entry: EventEntry;

  inbound: { body: string; from: string } | null;
}

/**
 * Leases up to `limit` of an endpoint's due deliveries until `until`: only the first pending one
 * of each order key (the timer, else journey, else contact), so a timer's events go out in the
 * order they happened; deliveries without a key are independent. Returns them with their entries
 * (and, for an endpoint opted in to bodies, an inbound message's text).
 */
export async function leaseDue(db: Queryable, endpointId: string, now: Date, until: Date, limit: number, includeBodies: boolean): Promise<LeasedDelivery[]> {
  const { rows } = await db.query<{
    id: string; seq: number; eventType: string; attempts: number; createdAt: Date;
    entryId: string; orgId: string; action: string; entryAt: number; timerId: string | null; contactId: string | null; journeyId: string | null; campaignId: string | null; decision: string | null; reasonCodes: string[]; data: unknown;
    inboundBody: string | null; inboundFrom: string | null;
  }>(
    `WITH due AS (
       SELECT d.id FROM webhook_deliveries d
       WHERE d.endpoint_id = $1 AND d.status = 'pending' AND d.next_attempt_at <= $2 AND (d.leased_until IS NULL OR d.leased_until < $2)
         AND (d.order_key IS NULL OR NOT EXISTS (
           SELECT 1 FROM webhook_deliveries p WHERE p.endpoint_id = d.endpoint_id AND p.order_key = d.order_key AND p.seq < d.seq AND p.status = 'pending'))
       ORDER BY d.seq LIMIT $4
       FOR UPDATE SKIP LOCKED
     ), leased AS (
       UPDATE webhook_deliveries d SET leased_until = $3 FROM due WHERE d.id = due.id
       RETURNING d.id, d.seq, d.event_type, d.attempts, d.created_at, d.entry_id
     )
     SELECT l.id::text AS id, l.seq, l.event_type AS "eventType", l.attempts, l.created_at AS "createdAt",
            a.id::text AS "entryId", a.org_id::text AS "orgId", a.action, (extract(epoch from a.created_at) * 1000)::float8 AS "entryAt", a.timer_id::text AS "timerId", a.contact_id::text AS "contactId",
            a.journey_id::text AS "journeyId", a.campaign_id::text AS "campaignId", a.decision, a.reason_codes AS "reasonCodes", a.data,
            CASE WHEN $5 THEN m.body END AS "inboundBody", CASE WHEN $5 THEN m.from_e164 END AS "inboundFrom"
     FROM leased l JOIN audit_entries a ON a.id = l.entry_id
     LEFT JOIN inbound_messages m ON a.action = 'inbound.message' AND m.id = (a.data->>'inboundId')::uuid
     ORDER BY l.seq`,
    [endpointId, now, until, limit, includeBodies],
  );
  return rows.map((r) => ({
    id: r.id,
    seq: r.seq,
    eventType: r.eventType,
    attempts: r.attempts,
    createdAt: r.createdAt,
    entry: { id: r.entryId, orgId: r.orgId, action: r.action, createdAt: r.entryAt, timerId: r.timerId, contactId: r.contactId, journeyId: r.journeyId, campaignId: r.campaignId, decision: r.decision, reasonCodes: r.reasonCodes, data: r.data },
    inbound: r.inboundBody !== null && r.inboundFrom !== null ? { body: r.inboundBody, from: r.inboundFrom } : null,
  }));
}

export interface AttemptOutcome {
  deliveryId: string;
  at: Date;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  /** The delivery afterwards. */
  status: 'pending' | 'delivered' | 'dead';
  nextAttemptAt: Date | null;
}

/** Records a batch of attempts and each delivery's new state (lease released). */
export async function recordAttempts(db: Queryable, outcomes: readonly AttemptOutcome[]): Promise<void> {
  if (!outcomes.length) return;
  const col = <T>(f: (o: AttemptOutcome) => T): T[] => outcomes.map(f);
  await db.query(
    `WITH x AS (
       SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::int[], $4::text[], $5::int[], $6::text[], $7::timestamptz[])
         AS x(delivery_id, at, status_code, error, duration_ms, status, next_attempt_at)
     ), att AS (
       INSERT INTO webhook_attempts (delivery_id, at, status_code, error, duration_ms)
       SELECT delivery_id, at, status_code, error, duration_ms FROM x
     )
     UPDATE webhook_deliveries d SET attempts = d.attempts + 1, status = x.status, leased_until = NULL,
       next_attempt_at = coalesce(x.next_attempt_at, d.next_attempt_at), last_status = x.status_code, last_error = x.error,
       delivered_at = CASE WHEN x.status = 'delivered' THEN x.at ELSE d.delivered_at END
     FROM x WHERE d.id = x.delivery_id`,
    [col((o) => o.deliveryId), col((o) => o.at), col((o) => o.statusCode), col((o) => o.error), col((o) => o.durationMs), col((o) => o.status), col((o) => o.nextAttemptAt)],
  );
}

/**
 * The endpoint's failure streak after a batch: a success ends it, a failure starts it if none
 * was running. Returns when the streak started (null: not failing).
 */
export async function updateStreak(db: Queryable, endpointId: string, anySuccess: boolean, anyFailure: boolean, at: Date): Promise<Date | null> {
  const { rows } = await db.query<{ failingSince: Date | null }>(
    `UPDATE webhook_endpoints SET failing_since = CASE WHEN $2 THEN NULL WHEN $3 THEN coalesce(failing_since, $4) ELSE failing_since END
     WHERE id = $1 RETURNING failing_since AS "failingSince"`,
    [endpointId, anySuccess, anyFailure, at],
  );
  return rows[0]?.failingSince ?? null;
}
