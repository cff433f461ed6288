/**
 * The Reassigned Numbers Database's SQL (src/app/reassigned.ts), one statement per kind for a
 * batch: cached answers still fresh, new answers stored, and the suppressions a `yes` adds.
 */
import type { RndAnswer } from '../../domain/reassigned.ts';
import type { Queryable } from './sql.ts';

export interface RndRow {
  number: number;
  /** Days since the epoch of the date asked about. */
  day: number;
  answer: RndAnswer;
  checkedAt: Date;
}

export async function cachedAnswers(db: Queryable, asked: ReadonlyArray<{ number: number; day: number }>, fresherThan: Date): Promise<RndRow[]> {
  if (asked.length === 0) return [];
  const { rows } = await db.query<{ number: string; day: number; answer: RndAnswer; checkedAt: Date }>(
    `SELECT c.number::text AS number, (c.since - DATE '1970-01-01')::int AS day, c.answer, c.checked_at AS "checkedAt"
     FROM rnd_checks c JOIN unnest($1::bigint[], $2::int[]) AS x(number, day) ON c.number = x.number AND c.since = DATE '1970-01-01' + x.day
     WHERE c.checked_at > $3`,
    [asked.map((a) => a.number), asked.map((a) => a.day), fresherThan],
  );
  return rows.map((r) => ({ ...r, number: Number(r.number) }));
}

export async function storeAnswers(db: Queryable, rows: readonly RndRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO rnd_checks (number, since, answer, checked_at)
     SELECT x.number, DATE '1970-01-01' + x.day, x.answer, x.checked_at FROM unnest($1::bigint[], $2::int[], $3::text[], $4::timestamptz[]) AS x(number, day, answer, checked_at)
     ON CONFLICT (number, since) DO UPDATE SET answer = EXCLUDED.answer, checked_at = EXCLUDED.checked_at`,
    [rows.map((r) => r.number), rows.map((r) => r.day), rows.map((r) => r.answer), rows.map((r) => r.checkedAt)],
  );
}

/** Suppressions of numbers the database reports reassigned (source `reassigned`, every channel), unless one is live already. */
export async function suppressReassigned(db: Queryable, rows: ReadonlyArray<{ id: string; orgId: string; phoneE164: string; phoneHash: string; reason: string }>, now: Date): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO suppressions (id, org_id, phone_e164, phone_hash, reason, source, channel, created_at)
     SELECT x.id, x.org_id, x.phone, x.hash, x.reason, 'reassigned', NULL, $6
     FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[]) AS x(id, org_id, phone, hash, reason)
     WHERE NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.org_id = x.org_id AND s.phone_e164 = x.phone AND s.source = 'reassigned' AND s.lifted_at IS NULL)`,
    [rows.map((r) => r.id), rows.map((r) => r.orgId), rows.map((r) => r.phoneE164), rows.map((r) => r.phoneHash), rows.map((r) => r.reason), now],
  );
}
