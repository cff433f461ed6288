/**
 * SQL of the reconciler's settling of lost sends (src/app/timers/reconcile.ts): one query per
 * kind of state for a batch of `unknown` timers.
 */
import type { Queryable } from './sql.ts';

export interface ClaimHistory {
  timerId: string;
  /** The last `timer.claimed` entry's instant (the attempt whose answer was lost). */
  claimedAt: Date;
  /** Whether the timer was already put back once because the provider had nothing (`timer.requeued`). */
  requeuedBefore: boolean;
}

/**
 * Each timer's last claim and whether it was requeued before, from its audit entries: those
 * already in the chain (by org and timer, the chain's index) and those still staged.
 */
export async function claimHistoryOf(db: Queryable, timers: ReadonlyArray<{ id: string; orgId: string }>): Promise<Map<string, ClaimHistory>> {
  if (timers.length === 0) return new Map();
  const { rows } = await db.query<{ timer_id: string; claimed_at: Date | null; requeued: boolean }>(
    `WITH t(org_id, timer_id) AS (SELECT * FROM unnest($1::uuid[], $2::uuid[])),
          e AS (SELECT a.timer_id, a.action, a.created_at FROM audit_entries a JOIN t ON a.org_id = t.org_id AND a.timer_id = t.timer_id
                 WHERE a.action IN ('timer.claimed', 'timer.requeued')
                UNION ALL
                SELECT p.timer_id, p.action, p.created_at FROM audit_pending p
                 WHERE p.timer_id = ANY($2::uuid[]) AND p.action IN ('timer.claimed', 'timer.requeued'))
     SELECT timer_id, max(created_at) FILTER (WHERE action = 'timer.claimed') AS claimed_at, bool_or(action = 'timer.requeued') AS requeued
       FROM e GROUP BY timer_id`,
    [timers.map((t) => t.orgId), timers.map((t) => t.id)],
  );
  const out = new Map<string, ClaimHistory>();
  for (const r of rows) if (r.claimed_at) out.set(r.timer_id, { timerId: r.timer_id, claimedAt: r.claimed_at, requeuedBefore: r.requeued });
  return out;
}

/** Which of these provider ids are recorded on a timer, and on which one. */
export async function timersByProviderId(db: Queryable, providerIds: readonly string[]): Promise<Map<string, string>> {
  if (providerIds.length === 0) return new Map();
  const { rows } = await db.query<{ provider_id: string; id: string }>(`SELECT provider_id, id FROM timers WHERE provider_id = ANY($1::text[])`, [[...new Set(providerIds)]]);
  return new Map(rows.map((r) => [r.provider_id, r.id]));
}
