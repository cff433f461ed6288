/**
 * Appends many chained audit entries to an org quickly (tests and bench/audit.bench.ts): the
 * hashes are computed with the chain's own entryHash, in seq order, while earlier batches are
 * inserted (multi-row INSERT … SELECT FROM unnest(…) through pg, a few connections at once).
 * Nothing is disabled: the append-only trigger only refuses UPDATE/DELETE/TRUNCATE.
 */
import pg from 'pg';
import { entryHash, GENESIS_HASH } from '../../src/domain/audit/chain.ts';

export interface BulkOptions {
  /** Rows per INSERT. Default 2,000. */
  batch?: number;
  /** INSERTs in flight (one connection each). Default 3. */
  connections?: number;
  /** createdAt of the first entry (then +1 ms per entry). Default 2026-12-08T17:00:00Z. */
  start?: number;
  onProgress?: (done: number) => void;
}

const ZONES = [
  ['NY', 'America/New_York', '10001', '212'],
  ['TX', 'America/Chicago', '75201', '214'],
  ['FL', 'America/New_York', '33101', '305'],
  ['CA', 'America/Los_Angeles', '90012', '213'],
] as const;

/** A `timer.created`-like payload (about 1 KB of JSON, as the engine writes). */
export function sampleData(seq: number): Record<string, unknown> {
  const [jurisdiction, zone, zip, areaCode] = ZONES[seq % ZONES.length]!;
  const at = new Date(Date.UTC(2026, 11, 8, 17, 0, 0) + (seq % 1440) * 60_000).toISOString();
  return {
    status: 'scheduled',
    inputs: { zip, areaCode, channel: seq % 3 ? 'sms' : 'voice', purpose: 'informational', policy: 'next_slot', requestedAt: at, notAfter: null, subject: null },
    decision: {
      decision: 'send',
      sendAt: at,
      windowEnd: at,
      reasons: [
        {
          code: 'ALLOWED',
          rule: `US.quiet-hours,${jurisdiction}.hours`,
          citation: '47 C.F.R. § 64.1200(c)(1); state statute',
          jurisdiction,
          timezone: zone,
          local: at,
          message: `Tue 2026-12-08 entry ${seq} is inside every applicable window`,
        },
      ],
      calendarVersion: 'cal-bench00000000000',
      candidates: [{ jurisdiction, zone, source: 'zip' }],
      zone,
      phase: 'create',
      judgedAt: at,
    },
  };
}

type Queryable = pg.Pool | pg.Client;

/** Appends `n` entries after the org's current head; returns the new head. */
export async function insertChain(url: string, orgId: string, n: number, opts: BulkOptions = {}): Promise<{ lastSeq: number; lastHash: string }> {
  const batch = opts.batch ?? 2000;
  const pool = new pg.Pool({ connectionString: url, max: opts.connections ?? 3 });
  pool.on('error', () => {});
  try {
    const head = await pool.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_entries WHERE org_id = $1 ORDER BY seq DESC LIMIT 1', [orgId]);
    let seq = head.rows[0]?.seq ?? 0;
    let prevHash = head.rows[0]?.hash ?? GENESIS_HASH;
    const t0 = opts.start ?? Date.UTC(2026, 11, 8, 17, 0, 0);
    const inflight = new Set<Promise<unknown>>();
    let done = 0;
    for (let i = 0; i < n; i += batch) {
      const size = Math.min(batch, n - i);
      const cols = { seq: [] as number[], action: [] as string[], timer: [] as string[], contact: [] as string[], decision: [] as string[], codes: [] as string[], data: [] as string[], prev: [] as string[], hash: [] as string[], at: [] as string[] };
      for (let k = 0; k < size; k++) {
        seq++;
        const createdAt = new Date(t0 + seq);
        const timerId = `00000000-0000-4000-8000-${seq.toString(16).padStart(12, '0')}`;
        const contactId = `00000000-0000-4000-9000-${(seq % 5000).toString(16).padStart(12, '0')}`;
        const data = sampleData(seq);
        const hash = entryHash(prevHash, { orgId, seq, action: 'timer.created', timerId, contactId, decision: 'send', reasonCodes: ['ALLOWED'], data, createdAt });
        cols.seq.push(seq);
        cols.action.push('timer.created');
        cols.timer.push(timerId);
        cols.contact.push(contactId);
        cols.decision.push('send');
        cols.codes.push('ALLOWED');
        cols.data.push(JSON.stringify(data));
        cols.prev.push(prevHash);
        cols.hash.push(hash);
        cols.at.push(createdAt.toISOString());
        prevHash = hash;
      }
      const p = insertBatch(pool, orgId, cols).then(() => {
        inflight.delete(p);
        done += size;
        opts.onProgress?.(done);
      });
      inflight.add(p);
      if (inflight.size >= (opts.connections ?? 3)) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    return { lastSeq: seq, lastHash: prevHash };
  } finally {
    await pool.end();
  }
}

function insertBatch(db: Queryable, orgId: string, c: Record<string, unknown[]>): Promise<unknown> {
  return db.query(
    `INSERT INTO audit_entries (org_id, seq, action, timer_id, contact_id, decision, reason_codes, data, prev_hash, hash, created_at)
     SELECT $1::uuid, s, a, t, c, d, string_to_array(rc, ','), j::jsonb, ph, h, at
       FROM unnest($2::int[], $3::text[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[]) AS u(s, a, t, c, d, rc, j, ph, h, at)`,
    [orgId, c['seq'], c['action'], c['timer'], c['contact'], c['decision'], c['codes'], c['data'], c['prev'], c['hash'], c['at']],
  );
}
