/**
 * The reconciler: the periodic pass that makes Redis disposable and crashes harmless.
 *
 * 1. Expired leases: a `sending` timer whose dispatcher went silent past its lease becomes
 *    `unknown` — the send may or may not have happened, so it is never sent again.
 * 2. Unknown timers are settled from the provider (lookup by provider id) or, failing that,
 *    flagged once for review (`timer.needs_review`). A status callback settles them too.
 * 3. Lost jobs: after Redis lost its data (restart, FLUSHALL — detected by a marker key) every
 *    queued timer is handed to the queue again; otherwise only overdue queued timers whose job is
 *    missing or dead are. Re-adding an existing job is a no-op.
 * 4. Journeys past their expiry end, and their pending timers are cancelled.
 * 5. Audit entries staged by a process that died between its commit and linking them are linked
 *    into their org's chain.
 */
import { type TimerStatus } from '../../domain/timer-rules.ts';
import { expireDueJourneys } from '../journeys.ts';
import type { QueuedTimer } from '../ports.ts';
import type { EngineContext } from './context.ts';
import { transition } from './records.ts';
import { statusFromProvider } from './status-callback.ts';

const BATCH = 1000;
/** An unknown timer with no provider id is flagged for review after this long. */
const REVIEW_AFTER_MS = 10 * 60_000;
const NEEDS_REVIEW = 'NEEDS_REVIEW';

export interface ReconcileReport {
  leasesExpired: number;
  settled: number;
  flagged: number;
  requeued: number;
  redisReset: boolean;
  journeysExpired: number;
  /** Orgs whose staged audit entries were linked by this pass. */
  auditOrgsLinked: number;
}

export interface QueueMarker {
  /** True when the queue's data was lost since the last call (marker key missing); sets the marker. */
  lost(): Promise<boolean>;
}

export class Reconciler {
  constructor(
    private readonly ctx: EngineContext,
    private readonly marker: QueueMarker,
  ) {}

  async tick(): Promise<ReconcileReport> {
    const now = this.ctx.clock.now();
    const leasesExpired = await this.expireLeases(now);
    const { settled, flagged } = await this.settleUnknown(now);
    const redisReset = await this.marker.lost();
    const requeued = await this.restoreJobs(now, redisReset);
    const journeysExpired = await this.expireJourneys(now);
    const auditOrgsLinked = await this.ctx.audit.linkAllPending();
    const report = { leasesExpired, settled, flagged, requeued, redisReset, journeysExpired, auditOrgsLinked };
    if (leasesExpired || settled || flagged || requeued || journeysExpired || auditOrgsLinked) this.ctx.log.info(report, 'reconcile');
    return report;
  }

  private async expireLeases(now: number): Promise<number> {
    const rows = await this.ctx.prisma.timer.findMany({
      where: { status: 'sending', leaseUntil: { lt: new Date(now) } },
      select: { id: true, orgId: true, contactId: true, journeyId: true, campaignId: true, leaseOwner: true },
      take: BATCH,
    });
    let n = 0;
    for (const t of rows) {
      const ok = await this.ctx.prisma.$transaction((tx) =>
        transition(this.ctx, tx, t, {
          from: ['sending'],
          where: { leaseUntil: { lt: new Date(now) } },
          to: 'unknown',
          // updatedAt on the engine's clock: settleUnknown measures the review delay from it with `now`.
          data: { leaseOwner: null, leaseUntil: null, updatedAt: new Date(now) },
          audit: { action: 'timer.lease_expired', data: { worker: t.leaseOwner, note: 'dispatcher went silent after claiming; the send may or may not have happened and will not be repeated' } },
        }, now),
      );
      if (ok) n++;
    }
    return n;
  }

  private async settleUnknown(now: number): Promise<{ settled: number; flagged: number }> {
    const rows = await this.ctx.prisma.timer.findMany({
      where: { status: 'unknown', OR: [{ lastError: null }, { lastError: { not: NEEDS_REVIEW } }] },
      select: { id: true, orgId: true, contactId: true, journeyId: true, campaignId: true, channel: true, providerId: true, updatedAt: true },
      take: BATCH,
    });
    let settled = 0;
    let flagged = 0;
    for (const t of rows) {
      if (t.providerId) {
        const found = await this.ctx.sender.lookup(t.orgId, t.channel, t.providerId).catch(() => null);
        const update = found ? statusFromProvider(t.channel === 'sms' ? { MessageSid: found.providerId, MessageStatus: found.status } : { CallSid: found.providerId, CallStatus: found.status }) : null;
        if (update) {
          const ok = await this.ctx.prisma.$transaction((tx) =>
            transition(this.ctx, tx, t, { from: ['unknown'], to: update.status as TimerStatus, data: { sentAt: new Date(now) }, audit: { action: `timer.${update.status}`, data: { providerId: t.providerId, providerStatus: update.raw, via: 'provider-lookup' } } }, now),
          );
          if (ok) settled++;
          continue;
        }
      }
      if (now - t.updatedAt.getTime() < REVIEW_AFTER_MS) continue;
      await this.ctx.prisma.$transaction(async (tx) => {
        const res = await tx.timer.updateMany({ where: { id: t.id, status: 'unknown' }, data: { lastError: NEEDS_REVIEW } });
        if (res.count === 0) return;
        await this.ctx.audit.append(t.orgId, [{ action: 'timer.needs_review', createdAt: new Date(now), timerId: t.id, contactId: t.contactId, journeyId: t.journeyId, campaignId: t.campaignId, data: { providerId: t.providerId, note: 'outcome unknown and not confirmed by the provider; review before any resend' } }], tx);
        flagged++;
      });
    }
    return { settled, flagged };
  }

  private async restoreJobs(now: number, all: boolean): Promise<number> {
    let requeued = 0;
    let after = '00000000-0000-0000-0000-000000000000';
    const horizon = new Date(now + this.ctx.settings.horizonMs);
    const overdue = new Date(now - this.ctx.settings.overdueGraceMs);
    for (;;) {
      const rows = await this.ctx.prisma.timer.findMany({
        where: { status: 'queued', id: { gt: after }, sendAt: all ? { lte: horizon } : { lt: overdue } },
        select: { id: true, sendAt: true },
        orderBy: { id: 'asc' },
        take: BATCH,
      });
      if (rows.length === 0) break;
      const items: QueuedTimer[] = rows.map((r) => ({ timerId: r.id, sendAt: r.sendAt!.getTime() }));
      const lost = all ? items : await this.ctx.queue.missing(items);
      await this.ctx.queue.enqueue(lost, now);
      requeued += lost.length;
      after = rows[rows.length - 1]!.id;
      if (rows.length < BATCH || (!all && requeued >= BATCH)) break;
    }
    return requeued;
  }

  /** Journeys past their expiry: contact lock first (as the dispatcher), one audit batch per journey (src/app/journeys.ts). */
  private expireJourneys(now: number): Promise<number> {
    return expireDueJourneys(this.ctx, now, BATCH);
  }
}
