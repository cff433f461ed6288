/**
 * The Reassigned Numbers Database around the domain's rule (src/domain/reassigned.ts), for the
 * dispatcher's batches: which sends rely on a consent (the date to ask about), the answers —
 * from the cache when fresher than RND_CACHE_TTL, else one call to the port for every miss of
 * the batch, stored — and the suppressions a `yes` adds (source `reassigned`).
 */
import { randomUUID } from 'node:crypto';
import * as sql from '../adapters/db/rnd-queries.ts';
import type { Queryable } from '../adapters/db/sql.ts';
import type { Channel, Purpose } from '../domain/calendar/schema.ts';
import { nanpNumber } from '../domain/federal-dnc.ts';
import { rndSince, type ReassignedState } from '../domain/reassigned.ts';
import type { ContactState } from '../domain/timer-rules.ts';
import type { ReassignedNumbersPort } from './ports.ts';

const DAY = 86_400_000;

export interface RndTarget {
  phoneE164: string;
  channel: Channel;
  purpose: Purpose;
  state: ContactState;
}

/**
 * The answer for each target that relies on a consent (undefined for the others, and for a
 * number outside the NANP). Throws when the database cannot be asked: the caller retries.
 */
export async function reassignedAnswers(db: Queryable, port: ReassignedNumbersPort, targets: readonly RndTarget[], now: number, cacheTtlMs: number): Promise<Array<ReassignedState | undefined>> {
  const asks = targets.map((t) => {
    const since = rndSince(t.state.consent?.records ?? [], t.channel, t.purpose, now);
    const number = nanpNumber(t.phoneE164);
    return since === null || number === null ? null : { number, day: Math.floor(since / DAY), phoneE164: t.phoneE164 };
  });
  const key = (a: { number: number; day: number }) => `${a.number}|${a.day}`;
  const distinct = [...new Map(asks.flatMap((a) => (a ? [[key(a), a] as const] : []))).values()];
  if (distinct.length === 0) return targets.map(() => undefined);
  const known = new Map<string, ReassignedState>();
  for (const r of await sql.cachedAnswers(db, distinct, new Date(now - cacheTtlMs))) known.set(key(r), { since: r.day * DAY, answer: r.answer, checkedAt: r.checkedAt.getTime(), cached: true });
  const misses = distinct.filter((a) => !known.has(key(a)));
  if (misses.length) {
    const answers = await port.check(misses.map((m) => ({ phoneE164: m.phoneE164, since: m.day * DAY })));
    const rows = misses.map((m, k) => ({ number: m.number, day: m.day, answer: answers[k]!, checkedAt: new Date(now) }));
    await sql.storeAnswers(db, rows);
    for (const r of rows) known.set(key(r), { since: r.day * DAY, answer: r.answer, checkedAt: now, cached: false });
  }
  return asks.map((a) => (a ? known.get(key(a)) : undefined));
}

/** Suppresses the numbers the database reported reassigned (one statement for the batch). */
export async function suppressReassignedNumbers(db: Queryable, rows: ReadonlyArray<{ orgId: string; phoneE164: string; phoneHash: string; since: number }>, now: number): Promise<void> {
  const unique = [...new Map(rows.map((r) => [`${r.orgId}|${r.phoneE164}`, r])).values()];
  await sql.suppressReassigned(
    db,
    unique.map((r) => ({ id: randomUUID(), orgId: r.orgId, phoneE164: r.phoneE164, phoneHash: r.phoneHash, reason: `reassigned: permanently disconnected on or after the consent of ${new Date(r.since).toISOString().slice(0, 10)} (FCC Reassigned Numbers Database)` })),
    new Date(now),
  );
}
