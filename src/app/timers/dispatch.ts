/**
 * Firing a timer (the dispatcher's `timer.fire` job). Every timer is judged again at the real
 * current instant — calendars, caps from what was actually sent, suppressions, journey — and
 * only then claimed and sent:
 *
 *   queued ──claim (CAS + lease)──▶ sending ──provider accepted──▶ sent ──callback──▶ delivered …
 *      │                              │  └─ transient error ─▶ queued (job retries with backoff)
 *      │                              │  └─ permanent error ─▶ failed / suppressed (21610)
 *      │                              └─ lease expired (process died) ─▶ unknown (reconciler settles)
 *      └─ not allowed now ─▶ scheduled at next slot | cancelled | suppressed
 *
 * The claim is a conditional update (status and sendAt must still match), so two dispatchers
 * can never both send one timer; the send carries a stable idempotency token (the timer id).
 * The claim's and the send's audit entries are staged in their transactions and linked into the
 * org's chain right after each commit (AuditLog.stage/link): one org's messages do not queue on
 * its chain lock.
 *
 * Send-rate smoothing: a send the calendars allow takes a slot in the org's and its sender's
 * rate (SendRatePort, shared by every dispatcher) before it is claimed. A later slot that the
 * window can hold parks the job until then — the timer stays `queued` at the same sendAt — and
 * the next run, judged again, uses that slot; a slot the window cannot hold applies the fire-time
 * policy (`RATE_LIMITED_PAST_WINDOW`). See `fitSlot` in src/domain/timer-rules.ts.
 */
import { resolveLocation } from '../../domain/location/resolve.ts';
import type { Channel } from '../../domain/calendar/schema.ts';
import { reason, type Policy, type Reason } from '../../domain/decide.ts';
import { fitSlot, judgeAfterWindow, judgeTimer, PENDING_STATUSES, validitySeconds, type Verdict } from '../../domain/timer-rules.ts';
import { SendFailure, type SendPayload } from '../ports.ts';
import { loadContactState, loadHistory, lockContact, storedTimerInput, type EngineContext } from './context.ts';
import { loadOrgSettings, type OrgSettings } from '../org-settings.ts';
import { decisionRecord, linkStaged, reasonCodes, transition } from './records.ts';
import { enqueueNearTerm } from './pump.ts';

export type FireOutcome = 'sent' | 'rescheduled' | 'cancelled' | 'suppressed' | 'failed' | 'retry' | 'stale' | 'lost-race';

/** A send-rate slot (engine clock, ms), when it was reserved and for which attempt of the job. */
export interface RateSlot {
  slot: number;
  reservedAt: number;
  attempt: number;
}

export interface FireContext {
  attempt: number;
  maxAttempts: number;
  /** The slot an earlier run of this job reserved (the job was parked until it); used, not reserved again, by the same attempt. */
  rate?: RateSlot;
  /** Parks the job for `delayMs` remembering `rate`; always throws (the processor's end). Absent: the dispatcher waits in process. */
  park?(rate: RateSlot, delayMs: number): Promise<never>;
}

export function statusCallbackUrl(base: string, timerId: string): string {
  return `${base}/webhooks/twilio/status?timerId=${encodeURIComponent(timerId)}`;
}

/** Thrown to make BullMQ retry the job (transient provider failure); never for a final outcome. */
export class RetryLater extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryLater';
  }
}

/** Retries `fn` a few times with a growing pause (for writes that must not be lost once a message is out). */
async function withRetries<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 250 * 2 ** (i - 1)));
    }
  }
}

export class Dispatcher {
  constructor(private readonly ctx: EngineContext) {}

  async fire(timerId: string, jobSendAt: number, job: FireContext): Promise<FireOutcome> {
    const { ctx } = this;
    let now = ctx.clock.now();
    const peek = await ctx.prisma.timer.findUnique({ where: { id: timerId }, select: { status: true, sendAt: true, orgId: true, contactId: true, channel: true } });
    if (!peek || !PENDING_STATUSES.includes(peek.status) || peek.sendAt?.getTime() !== jobSendAt) return 'stale';
    const [settings, sender] = await Promise.all([loadOrgSettings(ctx.prisma, peek.orgId, now), this.senderOf(peek.orgId, peek.channel)]);
    const set = ctx.calendars();

    // Judge and act in one transaction holding the contact's row lock: two dispatchers firing for
    // the same contact at once take turns, so the second one counts the first one's claim
    // against the caps (race-free caps), and nothing changes between judging and acting.
    const outcome = await ctx.prisma.$transaction(async (tx) => {
      await lockContact(tx, peek.contactId);
      // Judge at the instant the lock was granted: sends by the dispatchers we waited for are history, not future.
      now = ctx.clock.now();
      const t = await tx.timer.findUnique({ where: { id: timerId }, include: { contact: { select: { phoneE164: true, zip: true } } } });
      if (!t || !PENDING_STATUSES.includes(t.status) || t.sendAt?.getTime() !== jobSendAt) return { kind: 'stale' as const };
      const [history, state] = await Promise.all([
        loadHistory(tx, t.contactId, now),
        loadContactState(tx, { orgId: t.orgId, contactId: t.contactId, phoneE164: t.contact.phoneE164, journeyId: t.journeyId }, settings, now),
      ]);
      const location = resolveLocation({ phone: t.contact.phoneE164, ...(t.contact.zip ? { zip: t.contact.zip } : {}) });
      const input = storedTimerInput(t, location, jobSendAt, now, history, settings);
      let verdict: Verdict = judgeTimer(set, input, state, 'fire');
      // Allowed now: take a send-rate slot (outside the claim's writes, before them). Too late for the window → the policy.
      let rate: RateSlot | null = null;
      let rateReason: Reason | null = null;
      if (verdict.kind === 'send' && ctx.sendRate) {
        rate = job.rate?.attempt === job.attempt ? job.rate : await this.reserve(t.orgId, sender, settings.sendRate, job.attempt);
        // The clock read afresh: judging may have taken a while on a busy dispatcher, and the slot is against the real instant.
        const fit = fitSlot(rate.slot, ctx.clock.now(), verdict.windowEnd, t.policy as Policy);
        if (fit.kind === 'wait') return { kind: 'wait' as const, rate };
        if (fit.kind !== 'now') {
          rateReason = fit.reason;
          verdict = fit.kind === 'next_slot' ? judgeAfterWindow(set, input, state, verdict.windowEnd) : { kind: 'cancel', reasons: [], decision: null };
        }
      }
      const record = decisionRecord(verdict, set.version, location.candidates, 'fire', now);
      if (rateReason) record.reasons.unshift(rateReason);
      const onlyThisJob = { from: PENDING_STATUSES, where: { sendAt: new Date(jobSendAt) } };
      const base = { data: { decision: record as object, calendarVersion: record.calendarVersion } };

      if (verdict.kind === 'suppress' || verdict.kind === 'cancel') {
        const to = verdict.kind === 'suppress' ? ('suppressed' as const) : ('cancelled' as const);
        const ok = await transition(ctx, tx, t, { ...onlyThisJob, ...base, to, audit: { action: `timer.${to}`, decision: 'cancel', reasonCodes: reasonCodes(record.reasons), data: { phase: 'fire', decision: record } } }, now);
        return { kind: ok ? to : ('lost-race' as const) };
      }
      if (verdict.kind === 'reschedule') {
        const ok = await transition(ctx, tx, t, {
          ...onlyThisJob,
          to: 'scheduled',
          data: { ...base.data, sendAt: new Date(verdict.sendAt) },
          audit: { action: 'timer.rescheduled', decision: 'reschedule', reasonCodes: reasonCodes(record.reasons), data: { phase: 'fire', from: new Date(jobSendAt).toISOString(), decision: record } },
        }, now);
        return ok ? { kind: 'rescheduled' as const, sendAt: verdict.sendAt } : { kind: 'lost-race' as const };
      }
      const claimed = await transition(ctx, tx, t, {
        ...onlyThisJob,
        to: 'sending',
        stage: true,
        // updatedAt on the engine's clock: until sentAt is set, caps count this claim at updatedAt (loadHistory).
        data: { ...base.data, leaseOwner: ctx.workerId, leaseUntil: new Date(now + ctx.settings.leaseMs), attempts: { increment: 1 }, updatedAt: new Date(now) },
        audit: {
          action: 'timer.claimed',
          decision: 'send',
          reasonCodes: reasonCodes(record.reasons),
          // How long the send rate held this send back, and its slot (no audit entry per delay: this is where it shows).
          data: { phase: 'fire', worker: ctx.workerId, attempt: t.attempts + 1, ...(rate ? { rateDelayedMs: Math.max(0, rate.slot - rate.reservedAt), rateSlot: new Date(rate.slot).toISOString() } : {}), decision: record },
        },
      }, now);
      return claimed ? { kind: 'claimed' as const, t, windowEnd: verdict.windowEnd } : { kind: 'lost-race' as const };
    }, { timeout: 30_000, maxWait: 10_000 });

    if (outcome.kind === 'stale') return 'stale';
    if (outcome.kind === 'wait') {
      const delayMs = outcome.rate.slot - ctx.clock.now();
      if (job.park) return job.park(outcome.rate, delayMs);
      await new Promise((r) => setTimeout(r, delayMs));
      return this.fire(timerId, jobSendAt, { ...job, rate: outcome.rate });
    }
    if (outcome.kind === 'rescheduled') {
      if (outcome.sendAt <= now + ctx.settings.horizonMs) {
        await enqueueNearTerm(ctx, [{ timerId, sendAt: outcome.sendAt }], now).catch((err: Error) =>
          ctx.log.warn({ timerId, err: err.message }, 'enqueue after reschedule failed; the pump will retry'),
        );
      }
      return 'rescheduled';
    }
    if (outcome.kind !== 'claimed') return outcome.kind;
    const { t } = outcome;
    await linkStaged(ctx, t.orgId);
    const verdict = { windowEnd: outcome.windowEnd };

    const payload = t.payload as Record<string, string>;
    const sendPayload: SendPayload =
      t.channel === 'sms' ? { channel: 'sms', body: payload['body'] ?? '' } : payload['twimlUrl'] ? { channel: 'voice', twimlUrl: payload['twimlUrl'] } : { channel: 'voice', twiml: payload['twiml'] ?? '' };
    const validity = t.channel === 'sms' ? validitySeconds(now, verdict.windowEnd) : undefined;
    const mine = { leaseOwner: ctx.workerId };

    try {
      const result = await ctx.sender.send({
        orgId: t.orgId,
        to: t.contact.phoneE164,
        payload: sendPayload,
        statusCallback: statusCallbackUrl(ctx.settings.publicBaseUrl, t.id),
        ...(validity === undefined ? {} : { validitySeconds: validity }),
        idempotencyToken: t.id,
      });
      // The message is out: recording it must not be lost to a busy pool or a brief database
      // outage, so this write waits longer for a connection and is retried before giving up
      // (then the lease expires, the timer becomes `unknown`, and the status callback settles it).
      await withRetries(() => {
        const at = ctx.clock.now();
        return ctx.prisma.$transaction(async (tx) => {
          const audit = { action: 'timer.sent', decision: 'send', data: { providerId: result.providerId, providerStatus: result.status, validitySeconds: validity ?? null } };
          const data = { providerId: result.providerId, sentAt: new Date(at), leaseOwner: null, leaseUntil: null, lastError: null };
          // Normally still ours; if the lease ran out meanwhile the reconciler made it `unknown`.
          if (await transition(ctx, tx, t, { from: ['sending'], where: mine, to: 'sent', data, audit, stage: true }, at)) return;
          if (await transition(ctx, tx, t, { from: ['unknown'], to: 'sent', data, audit, stage: true }, at)) return;
          // A status callback got there first (sent/delivered/…): just remember the provider id.
          await tx.timer.updateMany({ where: { id: t.id, providerId: null }, data: { providerId: result.providerId, sentAt: new Date(at), leaseOwner: null, leaseUntil: null } });
        }, { maxWait: 15_000, timeout: 30_000 });
      });
      await linkStaged(ctx, t.orgId);
      return 'sent';
    } catch (err) {
      if (!(err instanceof SendFailure)) throw err; // Postgres trouble after the send: the lease/callback path settles it.
      return this.failed(t, err, job, now);
    }
  }

  /** Where the org's sends on the channel go out from, for the per-sender rate (null: unknown, the org's rate only). */
  private async senderOf(orgId: string, channel: Channel): Promise<string | null> {
    if (!this.ctx.sendRate || !this.ctx.sender.senderOf) return null;
    try {
      return await this.ctx.sender.senderOf(orgId, channel);
    } catch (err) {
      // Unusable credentials: the send itself fails and records why. Anything else (Postgres down): the job retries.
      if (err instanceof SendFailure) return null;
      throw err;
    }
  }

  /** A new slot, reserved at the clock's current reading (a stale instant would get a slot in the past). */
  private async reserve(orgId: string, sender: string | null, rates: OrgSettings['sendRate'], attempt: number): Promise<RateSlot> {
    const now = this.ctx.clock.now();
    const slot = await this.ctx.sendRate!.reserve({ orgId, sender, perSecond: rates.perSecond, perSenderPerSecond: rates.perSenderPerSecond, now });
    return { slot, reservedAt: now, attempt };
  }

  private async failed(t: { id: string; orgId: string; contactId: string; journeyId: string | null; campaignId: string | null; contact: { phoneE164: string } }, err: SendFailure, job: FireContext, now: number): Promise<FireOutcome> {
    const { ctx } = this;
    const lastError = `${err.providerCode ?? err.httpStatus ?? 'network'}: ${err.message}`.slice(0, 500);
    const errData = { kind: err.kind, providerCode: err.providerCode ?? null, httpStatus: err.httpStatus ?? null };
    const mine = { from: ['sending'] as const, where: { leaseOwner: ctx.workerId } };
    if (err.kind === 'transient' && job.attempt < job.maxAttempts) {
      await ctx.prisma.$transaction((tx) =>
        transition(ctx, tx, t, { ...mine, to: 'queued', data: { leaseOwner: null, leaseUntil: null, lastError }, audit: { action: 'timer.send_deferred', data: { ...errData, attempt: job.attempt } } }, now),
      );
      throw new RetryLater(lastError);
    }
    if (err.kind === 'unsubscribed') {
      const r = reason('PROVIDER_UNSUBSCRIBED', 'the provider reports the recipient has unsubscribed (21610)');
      await ctx.prisma.$transaction(async (tx) => {
        await tx.suppression.create({
          data: { orgId: t.orgId, phoneE164: t.contact.phoneE164, phoneHash: (await tx.contact.findUniqueOrThrow({ where: { id: t.contactId }, select: { phoneHash: true } })).phoneHash, reason: 'carrier opt-out (21610)', source: 'provider', channel: 'sms' },
        });
        await transition(ctx, tx, t, { ...mine, to: 'suppressed', data: { leaseOwner: null, leaseUntil: null, lastError }, audit: { action: 'timer.suppressed', decision: 'cancel', reasonCodes: [r.code], data: { ...errData, reasons: [r] } } }, now);
      });
      return 'suppressed';
    }
    const r = reason('PROVIDER_REJECTED', err.kind === 'transient' ? `gave up after ${job.attempt} attempts: ${err.message}` : err.message);
    await ctx.prisma.$transaction((tx) =>
      transition(ctx, tx, t, { ...mine, to: 'failed', data: { leaseOwner: null, leaseUntil: null, lastError }, audit: { action: 'timer.failed', reasonCodes: [r.code], data: { ...errData, reasons: [r] } } }, now),
    );
    return 'failed';
  }
}
