/**
 * Provider status callbacks (src/app/timers/status-callback.ts), many per statement: the timers
 * the callbacks name, and their moves along the life cycle as one compare-and-set UPDATE.
 */
import type { Queryable } from './sql.ts';

export interface CallbackTimerRow {
  id: string;
  orgId: string;
  contactId: string;
  journeyId: string | null;
  campaignId: string | null;
  status: string;
  providerId: string | null;
}

export async function timersForCallbacks(db: Queryable, ids: readonly string[]): Promise<CallbackTimerRow[]> {
  const { rows } = await db.query<CallbackTimerRow>(
    `SELECT id::text AS id, org_id::text AS "orgId", contact_id::text AS "contactId", journey_id::text AS "journeyId", campaign_id::text AS "campaignId",
            status::text AS status, provider_id AS "providerId"
     FROM timers WHERE id = ANY($1::uuid[])`,
    [ids],
  );
  return rows;
}

export interface StatusMove {
  id: string;
  from: string;
  to: string;
  providerId: string;
  /** Set as last_error when the provider reports an error code. */
  lastError: string | null;
}

/**
 * Each move happens only if the timer is still in `from` (a callback applied meanwhile wins);
 * sent_at is kept if set, else `now`. Returns the ids that moved.
 */
export async function applyStatusMoves(db: Queryable, moves: readonly StatusMove[], now: Date): Promise<Set<string>> {
  if (moves.length === 0) return new Set();
  const res = await db.query<{ id: string }>(
    `UPDATE timers AS t SET status = x.to_status::timer_status, provider_id = x.provider_id, sent_at = coalesce(t.sent_at, $2),
       lease_owner = NULL, lease_until = NULL, last_error = coalesce(x.last_error, t.last_error), updated_at = $2
     FROM unnest($1::uuid[], $3::text[], $4::text[], $5::text[], $6::text[]) AS x(id, from_status, to_status, provider_id, last_error)
     WHERE t.id = x.id AND t.status = x.from_status::timer_status
     RETURNING t.id::text AS id`,
    [moves.map((m) => m.id), now, moves.map((m) => m.from), moves.map((m) => m.to), moves.map((m) => m.providerId), moves.map((m) => m.lastError)],
  );
  return new Set(res.rows.map((r) => r.id));
}
