/**
 * The reconciler: the periodic pass that makes Redis disposable and crashes harmless.
 *
 * 1. Expired leases: a `sending` timer whose dispatcher went silent past its lease becomes
 *    `unknown` — the send may or may not have happened, so it is never sent again.
 * 2. Lost jobs: after Redis lost its data (restart, FLUSHALL — detected by a marker key) every
 *    queued timer is handed to the queue again; otherwise only overdue queued timers whose job is
 *    missing or dead are. Re-adding an existing job is a no-op. (Before step 3: settling waits on
 *    the provider's API, and a flushed queue must not wait behind it.)
 * 3. Unknown timers are settled from the provider, several at a time. With a provider id: that
 *    send is fetched. Without one (the dispatcher died between the provider's acceptance and
 *    recording it, or before its request left): the provider's sends to the number since the
 *    claim are listed and matched (src/domain/provider-match.ts): found → `sent`/`delivered`/…
 *    (audited with how it was matched); certainly absent once the lease plus LOST_SEND_GRACE is
 *    over → back to `queued` for one more try (once); ambiguous → flagged once for review
 *    (`timer.needs_review`). A status callback settles them too.
 * 4. Journeys past their expiry end, and their pending timers are cancelled.
 * 5. Audit entries staged by a process that died between its commit and linking them are linked
 *    into their org's chain.
 */
import { createHash } from 'node:crypto';
import { pgPoolOf } from '../../adapters/db/client.ts';
import { claimHistoryOf, timersByProviderId, type ClaimHistory } from '../../adapters/db/reconcile-queries.ts';
import { sqlPool } from '../../adapters/db/sql.ts';
import { settleLostSend, type LostSendOutcome } from '../../domain/provider-match.ts';
import { ABSENT_REQUEUE, type TimerStatus } from '../../domain/timer-rules.ts';
import { formatUtc } from '../../domain/time.ts';
import { eachConcurrently } from '../concurrency.ts';
import { expireDueJourneys } from '../journeys.ts';
import { SendFailure, type ProviderSend, type QueuedTimer } from '../ports.ts';
import type { EngineContext } from './context.ts';
import { transition } from './records.ts';
import { statusFromProvider } from './status-callback.ts';

const BATCH = 1000;
/** Unknown timers settled at once (each waits on the provider's API). */
const SETTLE_CONCURRENCY = 8;
/** An unknown timer with no provider id is flagged for review after this long. */
const REVIEW_AFTER_MS = 10 * 60_000;
const NEEDS_REVIEW = 'NEEDS_REVIEW';
/** How far the provider's clock (and its whole-second dates) may be from ours when matching a lost send. */
const PROVIDER_SKEW_MS = 60_000;

export interface ReconcileReport {
  leasesExpired: number;
  settled: number;
  flagged: number;
  /** Lost sends the provider proved absent, put back to `queued`. */
  retried: number;
  requeued: number;
  redisReset: boolean;
  journeysExpired: number;
  /** Orgs whose staged audit entries were linked by this pass. */
  auditOrgsLinked: number;
}

interface UnknownRow {
  id: string;
  orgId: string;
  contactId: string;
  journeyId: string | null;
  campaignId: string | null;
  channel: 'sms' | 'voice';
  providerId: string | null;
  updatedAt: Date;
  sendAt: Date | null;
  payload: unknown;
  contact: { phoneE164: string };
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
    // Jobs Redis lost come back before the provider is asked about anything: settling waits on its round trips.
    const redisReset = await this.marker.lost();
    const requeued = await this.restoreJobs(now, redisReset);
    const { settled, flagged, retried } = await this.settleUnknown(now);
    const journeysExpired = await this.expireJourneys(now);
    const auditOrgsLinked = await this.ctx.audit.linkAllPending();
    const report = { leasesExpired, settled, flagged, retried, requeued, redisReset, journeysExpired, auditOrgsLinked };
    if (leasesExpired || settled || flagged || retried || requeued || journeysExpired || auditOrgsLinked) this.ctx.log.info(report, 'reconcile');
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

  private async settleUnknown(now: number): Promise<{ settled: number; flagged: number; retried: number }> {
    const rows = await this.ctx.prisma.timer.findMany({
      where: { status: 'unknown', OR: [{ lastError: null }, { lastError: { not: NEEDS_REVIEW } }] },
      select: { id: true, orgId: true, contactId: true, journeyId: true, campaignId: true, channel: true, providerId: true, updatedAt: true, sendAt: true, payload: true, contact: { select: { phoneE164: true } } },
      take: BATCH,
    });
    let settled = 0;
    let flagged = 0;
    let retried = 0;
    const lost = rows.filter((t) => !t.providerId);
    const claims = this.ctx.sender.findSends && lost.length > 0 ? await claimHistoryOf(this.db(), lost) : new Map<string, ClaimHistory>();
    // Each timer costs the provider a round trip or two (a lookup, or a listing of the number's sends): several at once.
    await eachConcurrently(rows, SETTLE_CONCURRENCY, async (t) => {
      if (t.providerId) {
        const found = await this.ctx.sender.lookup(t.orgId, t.channel, t.providerId).catch(() => null);
        const update = found ? statusFromProvider(t.channel === 'sms' ? { MessageSid: found.providerId, MessageStatus: found.status } : { CallSid: found.providerId, CallStatus: found.status }) : null;
        if (update) {
          const ok = await this.ctx.prisma.$transaction((tx) =>
            transition(this.ctx, tx, t, { from: ['unknown'], to: update.status as TimerStatus, data: { sentAt: new Date(now) }, audit: { action: `timer.${update.status}`, data: { providerId: t.providerId, providerStatus: update.raw, via: 'provider-lookup' } } }, now),
          );
          if (ok) settled++;
          return;
        }
      } else {
        const claim = claims.get(t.id);
        if (claim) {
          const outcome = await this.settleLost(t, claim, now);
          if (outcome === 'settled') settled++;
          else if (outcome === 'retried') retried++;
          else if (outcome === 'flagged') flagged++;
          return;
        }
      }
      if (now - t.updatedAt.getTime() < REVIEW_AFTER_MS) return;
      if (await this.flag(t, now, { providerId: t.providerId, note: 'outcome unknown and not confirmed by the provider; review before any resend' })) flagged++;
    });
    return { settled, flagged, retried };
  }

  /** A lost send (no provider id): the provider's list of sends to the number decides (see the module comment). */
  private async settleLost(t: UnknownRow, claim: ClaimHistory, now: number): Promise<'settled' | 'retried' | 'flagged' | 'waiting'> {
    const { ctx } = this;
    const payload = t.payload as Record<string, string>;
    const claimedAt = claim.claimedAt.getTime();
    // The lease ended at the latest when it was seen expired (updatedAt, on the engine's clock, set by expireLeases).
    const leaseEndedAt = t.updatedAt.getTime();
    let listing;
    let sender: string | null;
    try {
      sender = ctx.sender.senderOf ? await ctx.sender.senderOf(t.orgId, t.channel) : null;
      listing = await ctx.sender.findSends!(t.orgId, { channel: t.channel, to: t.contact.phoneE164, since: claimedAt - PROVIDER_SKEW_MS });
    } catch (err) {
      if (!(err instanceof SendFailure)) throw err;
      ctx.log.warn({ timerId: t.id, err: err.message }, 'could not list the provider\'s sends; the next pass tries again');
      return 'waiting';
    }
    const known = await timersByProviderId(this.db(), listing.sends.map((s) => s.providerId));
    const others = new Set([...known].filter(([, timerId]) => timerId !== t.id).map(([sid]) => sid));
    const outcome: LostSendOutcome<ProviderSend> = settleLostSend(
      { channel: t.channel, sender, bodySha256: t.channel === 'sms' ? createHash('sha256').update(payload['body'] ?? '').digest('hex') : null, idempotencyToken: t.id, claimedAt, leaseEndedAt },
      listing.sends,
      listing.complete,
      others,
      now,
      { skewMs: PROVIDER_SKEW_MS, graceMs: ctx.settings.lostSendGraceMs },
    );
    const window = { from: formatUtc(claimedAt), to: formatUtc(leaseEndedAt) };
    switch (outcome.kind) {
      case 'wait':
        return 'waiting';
      case 'found': {
        const s = outcome.send;
        const update = statusFromProvider(t.channel === 'sms' ? { MessageSid: s.providerId, MessageStatus: s.status } : { CallSid: s.providerId, CallStatus: s.status });
        // A status the life cycle does not know (e.g. Twilio's `scheduled`, `canceled` before sending): a person looks.
        if (!update) return (await this.flag(t, now, { providerId: s.providerId, providerStatus: s.status, matchedBy: outcome.method, note: 'found at the provider in a status the engine cannot map; review' })) ? 'flagged' : 'waiting';
        const ok = await ctx.prisma.$transaction((tx) =>
          transition(ctx, tx, t, {
            from: ['unknown'],
            to: update.status,
            data: { providerId: s.providerId, sentAt: new Date(Math.min(now, Math.max(claimedAt, s.createdAt))), lastError: null },
            audit: { action: `timer.${update.status}`, data: { providerId: s.providerId, providerStatus: s.status, ...(s.errorCode ? { errorCode: s.errorCode } : {}), via: 'provider-list', matchedBy: outcome.method, window } },
          }, now),
        );
        return ok ? 'settled' : 'waiting';
      }
      case 'absent': {
        if (claim.requeuedBefore) {
          return (await this.flag(t, now, { providerId: null, window, note: 'the provider has no send again, after one more try; review before any resend' })) ? 'flagged' : 'waiting';
        }
        const ok = await ctx.prisma.$transaction((tx) =>
          transition(ctx, tx, t, {
            from: [ABSENT_REQUEUE.from],
            to: ABSENT_REQUEUE.to,
            data: { leaseOwner: null, leaseUntil: null, lastError: null, updatedAt: new Date(now) },
            audit: { action: 'timer.requeued', data: { via: 'provider-list', window, graceMs: ctx.settings.lostSendGraceMs, note: 'the provider has no send to the number in the window of the lost attempt: nothing left, so it is tried once more (judged again at fire time)' } },
          }, now),
        );
        if (!ok) return 'waiting';
        const item = { timerId: t.id, sendAt: (t.sendAt ?? new Date(now)).getTime() };
        // The dead dispatcher's job may still exist (stalled, or failed): only a missing one is added again.
        await ctx.queue.enqueue(await ctx.queue.missing([item]), now);
        return 'retried';
      }
      case 'ambiguous':
        return (await this.flag(t, now, { providerId: null, window, candidates: outcome.candidates, note: `not settled from the provider: ${outcome.why}; review before any resend` })) ? 'flagged' : 'waiting';
    }
  }

  private db() {
    const pool = pgPoolOf(this.ctx.prisma);
    if (!pool) throw new Error('the reconciler needs a client made by createPrisma (its pg pool runs the set-based SQL)');
    return sqlPool(pool);
  }

  /** Flags an unknown timer for review, once (audited `timer.needs_review`). */
  private async flag(t: UnknownRow, now: number, data: Record<string, unknown>): Promise<boolean> {
    return this.ctx.prisma.$transaction(async (tx) => {
      const res = await tx.timer.updateMany({ where: { id: t.id, status: 'unknown' }, data: { lastError: NEEDS_REVIEW } });
      if (res.count === 0) return false;
      await this.ctx.audit.append(t.orgId, [{ action: 'timer.needs_review', createdAt: new Date(now), timerId: t.id, contactId: t.contactId, journeyId: t.journeyId, campaignId: t.campaignId, data }], tx);
      return true;
    });
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
