/**
 * Reading an org's audit chain fast, for verification: pages of raw SQL through `pg` (only the
 * hashed columns and the links, each row one JSON array), the next page requested before the
 * current one is hashed. Used in process and by the verify worker threads (verify-worker.ts),
 * each over a seq range.
 */
import type pg from 'pg';
import { SegmentVerifier, type ChainEntry, type ChainSegment } from '../../domain/audit/chain.ts';

/** A pg.Pool or pg.Client. */
export interface Queryable {
  query<R extends unknown[] = unknown[]>(config: pg.QueryArrayConfig): Promise<pg.QueryArrayResult<R>>;
}

type ChainRow = [number, string, string | null, string | null, string | null, string | null, string | null, string[], unknown, number, string, string];

// Pages are seq windows (seq > $2 AND seq <= $3), not LIMITs: each query touches only its own
// rows whatever the planner believes (a LIMIT after a bulk load, before ANALYZE, was planned as a
// scan and sort of the whole chain for every page). No ORDER BY either: Postgres sorted the wide
// rows of a window on disk (beyond work_mem); the window is put in seq order here instead.
// Each row comes as one JSON array built by Postgres (every string escaped, jsonb embedded as is,
// the time as epoch milliseconds): one native JSON.parse per row instead of a dozen fields parsed
// one by one and the data parsed again — the same values, read for about a third less CPU.
const PAGE_SQL = `SELECT json_build_array(seq, action, timer_id, contact_id, journey_id, campaign_id, decision, reason_codes, data,
    (extract(epoch from created_at) * 1000)::int8, prev_hash, hash)::text
  FROM audit_entries WHERE org_id = $1::uuid AND seq > $2 AND seq <= $3`;

/** Sorts rows by their first column (seq), in place; rows usually arrive in order already. */
export function bySeq<R extends unknown[]>(rows: R[]): R[] {
  for (let i = 1; i < rows.length; i++) if ((rows[i - 1]![0] as number) > (rows[i]![0] as number)) return rows.sort((a, b) => (a[0] as number) - (b[0] as number));
  return rows;
}

function page(db: Queryable, orgId: string, after: number, upTo: number): Promise<ChainRow[]> {
  return db.query<[string]>({ text: PAGE_SQL, values: [orgId, after, upTo], rowMode: 'array' }).then((r) => bySeq(r.rows.map((x) => JSON.parse(x[0]) as ChainRow)));
}

function entryOf(orgId: string, r: ChainRow): ChainEntry {
  return {
    orgId,
    seq: r[0],
    action: r[1],
    timerId: r[2],
    contactId: r[3],
    journeyId: r[4],
    campaignId: r[5],
    decision: r[6],
    reasonCodes: r[7],
    data: r[8],
    createdAt: new Date(r[9]),
    prevHash: r[10],
    hash: r[11],
  };
}

/** The entries with after < seq ≤ upTo, in seq order (what verification reads, without hashing). */
export async function readChainWindow(db: Queryable, orgId: string, after: number, upTo: number): Promise<ChainEntry[]> {
  return (await page(db, orgId, after, upTo)).map((r) => entryOf(orgId, r));
}

/** The org's highest seq (null: no entries). */
export async function maxSeq(db: Queryable, orgId: string): Promise<number | null> {
  const r = await db.query<[number | null]>({ text: 'SELECT max(seq) FROM audit_entries WHERE org_id = $1::uuid', values: [orgId], rowMode: 'array' });
  return r.rows[0]?.[0] ?? null;
}

/**
 * Verifies the rows with fromSeq ≤ seq ≤ toSeq as one segment (see joinSegments), reading
 * windows of `pageSize` seq values; the next window is requested before the current one is hashed.
 */
export async function verifyRange(db: Queryable, orgId: string, fromSeq: number, toSeq: number, pageSize = 5000): Promise<ChainSegment> {
  const v = new SegmentVerifier();
  const windowAfter = (lo: number) => page(db, orgId, lo, Math.min(toSeq, lo + pageSize));
  let lo = fromSeq - 1;
  let next: Promise<ChainRow[]> | null = lo < toSeq ? windowAfter(lo) : null;
  while (next) {
    const rows: ChainRow[] = await next;
    if (rows.length === 0) {
      // An empty window (only a damaged chain has holes): go straight to the next row there is.
      const r = await db.query<[number | null]>({ text: 'SELECT min(seq) FROM audit_entries WHERE org_id = $1::uuid AND seq > $2 AND seq <= $3', values: [orgId, lo + pageSize, toSeq], rowMode: 'array' });
      const found = r.rows[0]?.[0] ?? null;
      if (found === null) break;
      lo = found - 1;
      next = windowAfter(lo);
      continue;
    }
    lo += pageSize;
    next = lo < toSeq ? windowAfter(lo) : null;
    for (const r of rows) {
      if (!v.push(entryOf(orgId, r))) {
        await next?.catch(() => undefined);
        return v.segment();
      }
    }
  }
  return v.segment();
}
