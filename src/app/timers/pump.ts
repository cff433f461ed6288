/**
 * The pump: moves timers whose sendAt falls inside the horizon from Postgres (`scheduled`) into
 * BullMQ as delayed jobs (`queued`). Only near-term work ever lives in Redis, so its memory stays
 * flat however many future timers exist.
 *
 * Crash safety: jobs are added *before* the rows are marked queued, inside the transaction that
 * holds the rows (FOR UPDATE SKIP LOCKED, so two pumps never take the same rows). A crash after
 * the add leaves the rows scheduled; the next tick adds them again under the same job id, which
 * BullMQ ignores.
 */
import type { QueuedTimer } from '../ports.ts';
import type { EngineContext } from './context.ts';

const BATCH = 1000;

/** Adds the jobs, then marks the timers queued (only those still scheduled at that sendAt). */
export async function enqueueNearTerm(ctx: EngineContext, items: readonly QueuedTimer[], now: number): Promise<void> {
  if (items.length === 0) return;
  await ctx.queue.enqueue(items, now);
  const ids = items.map((i) => i.timerId);
  const sendAts = items.map((i) => new Date(i.sendAt));
  await ctx.prisma.$executeRaw`
    UPDATE timers AS t SET status = 'queued', updated_at = now()
    FROM unnest(${ids}::uuid[], ${sendAts}::timestamptz[]) AS x(id, send_at)
    WHERE t.id = x.id AND t.send_at = x.send_at AND t.status = 'scheduled'`;
}

export class Pump {
  constructor(private readonly ctx: EngineContext) {}

  /** One pass: hands every due-within-horizon scheduled timer to the queue. Returns how many. */
  async tick(): Promise<number> {
    const now = this.ctx.clock.now();
    const until = new Date(now + this.ctx.settings.horizonMs);
    let total = 0;
    for (;;) {
      const moved = await this.ctx.prisma.$transaction(
        async (tx) => {
          const rows = await tx.$queryRaw<Array<{ id: string; send_at: Date }>>`
            SELECT id::text AS id, send_at FROM timers
            WHERE status = 'scheduled' AND send_at <= ${until}
            ORDER BY send_at
            LIMIT ${BATCH}
            FOR UPDATE SKIP LOCKED`;
          if (rows.length === 0) return 0;
          const items = rows.map((r) => ({ timerId: r.id, sendAt: r.send_at.getTime() }));
          await this.ctx.queue.enqueue(items, now);
          await tx.$executeRaw`
            UPDATE timers SET status = 'queued', updated_at = now()
            WHERE id = ANY(${items.map((i) => i.timerId)}::uuid[]) AND status = 'scheduled'`;
          return rows.length;
        },
        { timeout: 60_000, maxWait: 10_000 },
      );
      total += moved;
      if (moved < BATCH) break;
    }
    if (total > 0) this.ctx.log.debug({ queued: total }, 'pump');
    return total;
  }
}
