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
 * Batches: the jobs that run at the same moment are judged together (a MicroBatcher: the jobs
 * that arrive while a batch is being judged form the next one). A batch is one transaction: the
 * contacts' row locks taken in id order, one query per kind of state for all of its timers
 * (src/adapters/db/dispatch-queries.ts), `judgeTimer` in memory, send-rate slots reserved per
 * org and sender in one Redis call, one compare-and-set UPDATE for every claim, move and
 * cancellation, and one staged audit insert. A contact is in a batch once: its second timer waits
 * for the next batch, so it is judged with the first one's claim in its history, exactly as if the
 * two had run one after the other. The sends then go out concurrently (one HTTP request each, as
 * the provider's API is), and the acceptances are recorded in batches too.
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
import { formatUtc } from '../../domain/time.ts';
import { pgPoolOf } from '../../adapters/db/client.ts';
import * as sql from '../../adapters/db/dispatch-queries.ts';
import { isDeadlock, sqlPool, type ClientPool } from '../../adapters/db/sql.ts';
import type { AuditInput } from '../../adapters/audit/audit-log.ts';
import { SendFailure, SendOutcomeUnknown, type QueuedTimer, type SendPayload, type SendResult } from '../ports.ts';
import { phoneHash, storedTimerInput, type EngineContext } from './context.ts';
import { loadBatchStates } from './batch-state.ts';
import { rateCost, timerSegments } from '../../domain/sms-segments.ts';
import { reassignedAnswers, suppressReassignedNumbers } from '../reassigned.ts';
import { loadOrgSettings, type OrgSettings } from '../org-settings.ts';
import { decisionRecord, linkStagedSoon, reasonCodes, transition } from './records.ts';
import { enqueueNearTerm } from './pump.ts';
import { MicroBatcher, type BatchAnswer } from '../micro-batcher.ts';

export type FireOutcome = 'sent' | 'rescheduled' | 'cancelled' | 'suppressed' | 'failed' | 'unknown' | 'retry' | 'stale' | 'lost-race';

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

export interface DispatcherOptions {
  /** Most timers judged in one batch (one transaction). Default 200. */
  batchSize?: number;
  /** Batches judged at the same time by this process. Default 2. */
  concurrentBatches?: number;
}

interface FireRequest {
  timerId: string;
  jobSendAt: number;
  job: FireContext;
}

type Judged =
  | { kind: 'stale' | 'cancelled' | 'suppressed' | 'lost-race' | 'rescheduled' }
  | { kind: 'wait'; rate: RateSlot }
  | { kind: 'claimed'; t: sql.FireRow; windowEnd: number; now: number };

interface SentItem {
  t: sql.FireRow;
  result: SendResult;
  validity: number | undefined;
  /** A platform action's judged window end (the bot must stop by then); undefined for provider sends. */
  actionUntil: number | undefined;
}


export class Dispatcher {
  private readonly pool: ClientPool & sql.Queryable;
  private readonly judging: MicroBatcher<FireRequest, Judged>;
  private readonly recording: MicroBatcher<SentItem, void>;

  constructor(
    private readonly ctx: EngineContext,
    opts: DispatcherOptions = {},
  ) {
    const pool = pgPoolOf(ctx.prisma);
    if (!pool) throw new Error('the dispatcher needs a client made by createPrisma (its pg pool runs the batched SQL)');
    this.pool = sqlPool(pool);
    const batchSize = opts.batchSize ?? 200;
    this.judging = new MicroBatcher((items) => this.judgeBatch(items), { maxBatch: batchSize, maxConcurrent: opts.concurrentBatches ?? 2 });
    this.recording = new MicroBatcher((items) => this.recordBatch(items), { maxBatch: batchSize * 2, maxConcurrent: 2 });
  }

  async fire(timerId: string, jobSendAt: number, job: FireContext): Promise<FireOutcome> {
    const outcome = await this.judging.submit({ timerId, jobSendAt, job });
    if (outcome.kind === 'wait') {
      const delayMs = outcome.rate.slot - this.ctx.clock.now();
      if (job.park) return job.park(outcome.rate, delayMs);
      await new Promise((r) => setTimeout(r, delayMs));
      return this.fire(timerId, jobSendAt, { ...job, rate: outcome.rate });
    }
    if (outcome.kind !== 'claimed') return outcome.kind;
    return this.send(outcome.t, outcome.windowEnd, outcome.now, job);
  }

  /**
   * Judges a batch of due timers at the real instant and acts on each verdict, in one transaction
   * holding the contacts' row locks: two dispatchers firing for the same contact take turns, so the
   * second counts the first one's claim against the caps, and nothing changes between judging and acting.
   */
  private async judgeBatch(items: readonly FireRequest[]): Promise<Array<BatchAnswer<Judged>>> {
    const { ctx } = this;
    const answers: Array<BatchAnswer<Judged>> = new Array(items.length);
    // Which timers are still pending at their job's instant (no lock needed to drop the stale ones).
    const peek = new Map((await sql.peekTimers(this.pool, [...new Set(items.map((i) => i.timerId))])).map((r) => [r.id, r]));
    const live: number[] = [];
    const contacts = new Set<string>();
    const timers = new Set<string>();
    items.forEach((it, i) => {
      const p = peek.get(it.timerId);
      if (!p || !PENDING_STATUSES.includes(p.status as never) || p.sendAt?.getTime() !== it.jobSendAt) answers[i] = { ok: { kind: 'stale' } };
      else if (contacts.has(p.contactId) || timers.has(it.timerId)) answers[i] = { again: true }; // after this batch's claim
      else {
        contacts.add(p.contactId);
        timers.add(it.timerId);
        live.push(i);
      }
    });
    if (live.length === 0) return answers;

    const peekNow = ctx.clock.now();
    const orgIds = [...new Set(live.map((i) => peek.get(items[i]!.timerId)!.orgId))];
    const settings = new Map(await Promise.all(orgIds.map(async (o) => [o, await loadOrgSettings(ctx.prisma, o, peekNow)] as const)));
    const senderKeys = [...new Set(live.map((i) => { const p = peek.get(items[i]!.timerId)!; return `${p.orgId}|${p.channel}`; }))];
    const senders = new Map(await Promise.all(senderKeys.map(async (k) => { const [o, c] = k.split('|') as [string, Channel]; return [k, await this.senderOf(o, c)] as const; })));

    for (let tries = 1; ; tries++) {
      try {
        const done = await sql.inTransaction(this.pool, (db) => this.judgeLocked(db, live.map((i) => items[i]!), [...contacts], settings, senders));
        live.forEach((i, k) => (answers[i] = { ok: done.outcomes[k]! }));
        for (const orgId of done.staged) linkStagedSoon(ctx, orgId);
        if (done.nearTerm.length > 0) {
          await enqueueNearTerm(ctx, done.nearTerm, done.now).catch((err: Error) => ctx.log.warn({ timers: done.nearTerm.length, err: err.message }, 'enqueue after reschedule failed; the pump will retry'));
        }
        return answers;
      } catch (err) {
        // Another writer locked the same contacts in another order (e.g. an opt-out's batch): try again.
        if (!isDeadlock(err) || tries >= 3) throw err;
      }
    }
  }

  private async judgeLocked(
    db: sql.Queryable,
    batch: readonly FireRequest[],
    contactIds: readonly string[],
    settings: ReadonlyMap<string, OrgSettings>,
    senders: ReadonlyMap<string, string | null>,
  ): Promise<{ outcomes: Judged[]; staged: Set<string>; nearTerm: QueuedTimer[]; now: number }> {
    const { ctx } = this;
    await sql.lockContacts(db, contactIds);
    // Judge at the instant the locks were granted: sends by the dispatchers we waited for are history, not future.
    const now = ctx.clock.now();
    const rows = new Map((await sql.timersForFire(db, batch.map((b) => b.timerId))).map((r) => [r.id, r]));
    const fresh = batch.map((b) => {
      const t = rows.get(b.timerId);
      return t && PENDING_STATUSES.includes(t.status as never) && t.sendAt?.getTime() === b.jobSendAt ? t : null;
    });
    const states = await loadBatchStates(db, fresh.filter((t): t is sql.FireRow => t !== null), settings, now, ctx.settings.federalDnc, { consents: ctx.reassigned !== undefined });
    const set = ctx.calendars();
    const stateOf = fresh.map((t) => (t ? states.of(t) : null));
    // 0. Sends relying on a consent: the Reassigned Numbers Database's answer (cached, else one call for the batch's misses).
    if (ctx.reassigned) {
      const ks = fresh.flatMap((t, k) => (t ? [k] : []));
      const answers = await reassignedAnswers(db, ctx.reassigned, ks.map((k) => ({ phoneE164: fresh[k]!.phoneE164, channel: fresh[k]!.channel, purpose: fresh[k]!.purpose, state: stateOf[k]! })), now, ctx.settings.rndCacheTtlMs);
      ks.forEach((k, n) => {
        const reassigned = answers[n];
        if (reassigned) stateOf[k] = { ...stateOf[k]!, reassigned };
      });
    }

    // 1. Judge every timer.
    const judged = batch.map((b, k) => {
      const t = fresh[k];
      if (!t) return null;
      const location = resolveLocation({ phone: t.phoneE164, ...(t.zip ? { zip: t.zip } : {}) });
      const input = storedTimerInput(t, location, b.jobSendAt, now, states.history.get(t.contactId) ?? [], settings.get(t.orgId)!);
      const state = stateOf[k]!;
      return { t, location, input, state, verdict: judgeTimer(set, input, state, 'fire') as Verdict, rate: null as RateSlot | null, rateReason: null as Reason | null, wait: false };
    });

    // 2. Allowed now: take send-rate slots (one Redis call per org and sender). Too late for the window → the policy.
    if (ctx.sendRate) {
      const groups = new Map<string, number[]>();
      judged.forEach((j, k) => {
        if (!j || j.verdict.kind !== 'send') return;
        const b = batch[k]!;
        if (b.job.rate?.attempt === b.job.attempt) j.rate = b.job.rate;
        else {
          const key = `${j.t.orgId}|${j.t.channel}`;
          groups.set(key, [...(groups.get(key) ?? []), k]);
        }
      });
      await Promise.all(
        [...groups].map(async ([key, ks]) => {
          const first = judged[ks[0]!]!;
          const rates = settings.get(first.t.orgId)!.sendRate;
          const reservedAt = ctx.clock.now();
          // Where the provider's limit is in segments, a send takes as many slots as its segments.
          const costs = rates.unit === 'segments' ? ks.map((k) => rateCost('segments', judged[k]!.t.channel, judged[k]!.t.segments ?? timerSegments(judged[k]!.t.channel, judged[k]!.t.payload))) : undefined;
          const slots = await ctx.sendRate!.reserveMany({ orgId: first.t.orgId, sender: senders.get(key) ?? null, perSecond: rates.perSecond, perSenderPerSecond: rates.perSenderPerSecond, now: reservedAt }, ks.length, costs);
          ks.forEach((k, n) => (judged[k]!.rate = { slot: slots[n]!, reservedAt, attempt: batch[k]!.job.attempt }));
        }),
      );
      // The clock read afresh: the slot is against the real instant.
      const at = ctx.clock.now();
      for (const j of judged) {
        if (!j || j.verdict.kind !== 'send' || !j.rate) continue;
        const fit = fitSlot(j.rate.slot, at, j.verdict.windowEnd, j.t.policy as Policy);
        if (fit.kind === 'wait') j.wait = true;
        else if (fit.kind !== 'now') {
          j.rateReason = fit.reason;
          const { federalDnc, reassigned } = j.verdict;
          j.verdict = fit.kind === 'next_slot' ? judgeAfterWindow(set, j.input, j.state, j.verdict.windowEnd) : { kind: 'cancel', reasons: [], decision: null, ...(federalDnc ? { federalDnc } : {}), ...(reassigned ? { reassigned } : {}) };
        }
      }
    }

    // 3. One compare-and-set for every move, and their audit entries staged.
    const moves: sql.VerdictRow[] = [];
    const entries = new Map<string, AuditInput & { orgId: string }>();
    const leaseUntil = new Date(now + ctx.settings.leaseMs);
    judged.forEach((j, k) => {
      if (!j || j.wait) return;
      const { t, verdict } = j;
      const jobSendAt = batch[k]!.jobSendAt;
      const record = decisionRecord(verdict, set.version, j.location.candidates, 'fire', now);
      if (j.rateReason) record.reasons.unshift(j.rateReason);
      ctx.metrics?.decision('fire', verdict.kind === 'suppress' ? 'suppress' : record.decision, record.reasons[0]?.code);
      const codes = reasonCodes(record.reasons);
      const refs = { orgId: t.orgId, createdAt: new Date(now), timerId: t.id, contactId: t.contactId, journeyId: t.journeyId, campaignId: t.campaignId };
      const row = { id: t.id, jobSendAt: new Date(jobSendAt), newSendAt: null, decisionJson: JSON.stringify(record), calendarVersion: record.calendarVersion };
      if (verdict.kind === 'suppress' || verdict.kind === 'cancel') {
        const to = verdict.kind === 'suppress' ? ('suppressed' as const) : ('cancelled' as const);
        moves.push({ ...row, status: to });
        entries.set(t.id, { ...refs, action: `timer.${to}`, decision: 'cancel', reasonCodes: codes, data: { phase: 'fire', decision: record } });
      } else if (verdict.kind === 'reschedule') {
        moves.push({ ...row, status: 'scheduled', newSendAt: new Date(verdict.sendAt) });
        entries.set(t.id, { ...refs, action: 'timer.rescheduled', decision: 'reschedule', reasonCodes: codes, data: { phase: 'fire', from: formatUtc(jobSendAt), decision: record } });
      } else {
        moves.push({ ...row, status: 'sending' });
        const rate = j.rate;
        ctx.metrics?.dispatchLateness(now - jobSendAt);
        ctx.metrics?.rateWait(rate ? Math.max(0, rate.slot - rate.reservedAt) : 0);
        entries.set(t.id, {
          ...refs,
          action: 'timer.claimed',
          decision: 'send',
          reasonCodes: codes,
          // How long the send rate held this send back, and its slot (no audit entry per delay: this is where it shows).
          data: { phase: 'fire', worker: ctx.workerId, attempt: t.attempts + 1, ...(rate ? { rateDelayedMs: Math.max(0, rate.slot - rate.reservedAt), rateSlot: formatUtc(rate.slot) } : {}), decision: record },
        });
      }
    });
    // A number the Reassigned Numbers Database reports disconnected after the consent is suppressed (source `reassigned`).
    const reassigned = judged.flatMap((j) => (j && j.verdict.kind === 'suppress' && j.state.reassigned?.answer === 'yes' ? [{ orgId: j.t.orgId, phoneE164: j.t.phoneE164, phoneHash: phoneHash(j.t.phoneE164), since: j.state.reassigned.since }] : []));
    if (reassigned.length) await suppressReassignedNumbers(db, reassigned, now);
    const moved = await sql.applyVerdicts(db, moves, { owner: ctx.workerId, until: leaseUntil }, new Date(now));
    const staged = moves.filter((m) => moved.has(m.id)).map((m) => entries.get(m.id)!);
    await ctx.audit.stageVia(db, staged);

    const nearTerm: QueuedTimer[] = [];
    const outcomes = judged.map((j): Judged => {
      if (!j) return { kind: 'stale' };
      if (j.wait) return { kind: 'wait', rate: j.rate! };
      if (!moved.has(j.t.id)) return { kind: 'lost-race' };
      const v = j.verdict;
      switch (v.kind) {
        case 'send':
          return { kind: 'claimed', t: j.t, windowEnd: v.windowEnd, now };
        case 'reschedule':
          if (v.sendAt <= now + ctx.settings.horizonMs) nearTerm.push({ timerId: j.t.id, sendAt: v.sendAt });
          return { kind: 'rescheduled' };
        case 'suppress':
          return { kind: 'suppressed' };
        default:
          return { kind: 'cancelled' };
      }
    });
    return { outcomes, staged: new Set(staged.map((e) => e.orgId)), nearTerm, now };
  }

  /** Sends one claimed timer; the acceptance is recorded with others' (recordBatch). */
  private async send(t: sql.FireRow, windowEnd: number, now: number, job: FireContext): Promise<FireOutcome> {
    const { ctx } = this;
    const payload = t.payload as Record<string, string> & { action?: { webhook: { url: string; payload?: Record<string, unknown> } } };
    const sendPayload: SendPayload = payload.action
      ? { channel: t.channel, action: { url: payload.action.webhook.url, payload: payload.action.webhook.payload ?? {} } }
      : t.channel === 'sms'
        ? { channel: 'sms', body: payload['body'] ?? '' }
        : payload['twimlUrl']
          ? { channel: 'voice', twimlUrl: payload['twimlUrl'] }
          : { channel: 'voice', twiml: payload['twiml'] ?? '' };
    const validity = t.channel === 'sms' && !payload.action ? validitySeconds(now, windowEnd) : undefined;
    let result: SendResult;
    try {
      result = await ctx.sender.send({
        orgId: t.orgId,
        to: t.phoneE164,
        payload: sendPayload,
        statusCallback: statusCallbackUrl(ctx.settings.publicBaseUrl, t.id),
        ...(validity === undefined ? {} : { validitySeconds: validity }),
        idempotencyToken: t.id,
        windowEnd,
        refs: { timerId: t.id, contactId: t.contactId, journeyId: t.journeyId, campaignId: t.campaignId },
      });
    } catch (err) {
      if (err instanceof SendOutcomeUnknown) return this.unknown(t, err, now);
      if (!(err instanceof SendFailure)) throw err; // no answer we can trust: the lease/callback path settles it
      ctx.metrics?.providerError(String(err.providerCode ?? err.httpStatus ?? 'network'), err.kind);
      const outcome = await this.failed(t, err, job, now).catch((e: unknown) => {
        if (e instanceof RetryLater) ctx.metrics?.send(t.channel, 'deferred');
        throw e;
      });
      ctx.metrics?.send(t.channel, outcome === 'suppressed' ? 'unsubscribed' : 'failed');
      return outcome;
    }
    ctx.metrics?.send(t.channel, 'accepted');
    // Postgres trouble after the send throws: the job retries (and finds the timer no longer pending), the lease/callback path settles it.
    await this.recording.submit({ t, result, validity, actionUntil: payload.action ? windowEnd : undefined });
    return 'sent';
  }

  /**
   * The message is out: recording it must not be lost to a busy pool or a brief database outage,
   * so the write is retried before giving up (then the lease expires, the timer becomes `unknown`,
   * and the status callback settles it). Normally still ours; if the lease ran out meanwhile the
   * reconciler made it `unknown`; if a status callback got there first, only the provider id is kept.
   */
  private async recordBatch(items: readonly SentItem[]): Promise<Array<BatchAnswer<void>>> {
    const { ctx } = this;
    const staged = await withRetries(() =>
      sql.inTransaction(this.pool, async (db) => {
        const at = new Date(ctx.clock.now());
        const rows = items.map((i) => ({ id: i.t.id, providerId: i.result.providerId, at }));
        const moved = await sql.recordSent(db, rows, ctx.workerId);
        await sql.providerIdOnly(db, rows.filter((r) => !moved.has(r.id)));
        const entries = items
          .filter((i) => moved.has(i.t.id))
          .map(({ t, result, validity, actionUntil }) => ({
            orgId: t.orgId,
            action: 'timer.sent',
            decision: 'send',
            createdAt: at,
            timerId: t.id,
            contactId: t.contactId,
            journeyId: t.journeyId,
            campaignId: t.campaignId,
            data: {
              providerId: result.providerId,
              providerStatus: result.status,
              validitySeconds: validity ?? null,
              ...(actionUntil === undefined ? {} : { via: 'platform-action', windowEnd: new Date(actionUntil).toISOString() }),
            },
          }));
        await ctx.audit.stageVia(db, entries);
        return new Set(entries.map((e) => e.orgId));
      }),
    );
    for (const orgId of staged) linkStagedSoon(ctx, orgId);
    return items.map(() => ({ ok: undefined }));
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

  /**
   * The provider may have the message but never answered: `unknown` at once, never sent again
   * blindly. Its status callback, or the reconciler's look-up in the provider's list, settles it
   * (and queues it once more only if the provider has nothing).
   */
  private async unknown(t: sql.FireRow, err: SendOutcomeUnknown, now: number): Promise<FireOutcome> {
    const { ctx } = this;
    ctx.metrics?.providerError('no-answer', 'unknown');
    ctx.metrics?.send(t.channel, 'unknown');
    await ctx.prisma.$transaction((tx) =>
      transition(ctx, tx, t, {
        from: ['sending'],
        where: { leaseOwner: ctx.workerId },
        to: 'unknown',
        data: { leaseOwner: null, leaseUntil: null, lastError: err.message.slice(0, 500), updatedAt: new Date(now) },
        audit: { action: 'timer.unknown', data: { note: 'no answer from the provider after the request may have reached it; it will not be repeated blindly', error: err.message.slice(0, 200) } },
      }, now),
    );
    return 'unknown';
  }

  private async failed(t: sql.FireRow, err: SendFailure, job: FireContext, now: number): Promise<FireOutcome> {
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
          data: { orgId: t.orgId, phoneE164: t.phoneE164, phoneHash: (await tx.contact.findUniqueOrThrow({ where: { id: t.contactId }, select: { phoneHash: true } })).phoneHash, reason: 'carrier opt-out (21610)', source: 'provider', channel: 'sms' },
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
