/**
 * Provider status callbacks (POST /webhooks/twilio/status?timerId=…): validate the signature with
 * the org's auth token, then move the timer along its life cycle (sent → delivered / undelivered
 * / failed). Callbacks may arrive late, twice or out of order: a move the life cycle does not
 * allow is ignored, so a stale "sent" never overwrites "delivered".
 */
import { AppError } from '../../domain/errors.ts';
import { canTransition, type TimerStatus } from '../../domain/timer-rules.ts';
import type { EngineContext } from './context.ts';
import { linkStagedSoon } from './records.ts';
import { pgPoolOf } from '../../adapters/db/client.ts';
import { inTransaction, sqlPool, type ClientPool, type Queryable } from '../../adapters/db/sql.ts';
import { applyStatusMoves, timersForCallbacks, type CallbackTimerRow, type StatusMove } from '../../adapters/db/status-queries.ts';
import { MicroBatcher, type BatchAnswer } from '../micro-batcher.ts';

const MESSAGE_STATUS: Record<string, TimerStatus> = {
  accepted: 'sent',
  scheduled: 'sent',
  queued: 'sent',
  sending: 'sent',
  sent: 'sent',
  delivered: 'delivered',
  read: 'delivered',
  undelivered: 'undelivered',
  failed: 'failed',
  canceled: 'failed',
};

const CALL_STATUS: Record<string, TimerStatus> = {
  queued: 'sent',
  initiated: 'sent',
  ringing: 'sent',
  'in-progress': 'sent',
  completed: 'delivered',
  busy: 'undelivered',
  'no-answer': 'undelivered',
  failed: 'failed',
  canceled: 'failed',
};

/** Maps a provider status to the timer status it implies (null: ignore). */
export function statusFromProvider(params: Record<string, unknown>): { sid: string; status: TimerStatus; raw: string; errorCode: string | null } | null {
  const str = (k: string) => (typeof params[k] === 'string' ? (params[k] as string) : undefined);
  const messageStatus = str('MessageStatus') ?? str('SmsStatus');
  const sid = str('MessageSid') ?? str('SmsSid') ?? str('CallSid');
  if (!sid) return null;
  const raw = messageStatus ?? str('CallStatus');
  if (!raw) return null;
  const status = (messageStatus ? MESSAGE_STATUS : CALL_STATUS)[raw];
  return status ? { sid, status, raw, errorCode: str('ErrorCode') ?? null } : null;
}

export interface StatusCallbackInput {
  timerId: string;
  params: Record<string, unknown>;
  signature: string | undefined;
  /** The full URL the provider requested (for the signature). */
  url: string;
  validate: (authToken: string, signature: string | undefined, url: string, params: Record<string, unknown>) => boolean;
}

export type StatusCallbackOutcome = 'applied' | 'ignored';

/**
 * Status callbacks applied in batches (two arrive per message: at dispatch rates they are most of
 * the API's work): the callbacks that arrive together are checked one by one (each signature with
 * its org's token) and applied in one transaction — one read of their timers, one compare-and-set
 * UPDATE, one staged audit insert. A timer named by two callbacks of one batch takes the first
 * now and the second in the next batch, judged from the status the first left.
 */
export class StatusCallbacks {
  private readonly batcher: MicroBatcher<StatusCallbackInput, StatusCallbackOutcome>;
  private readonly pool: ClientPool & Queryable;

  constructor(private readonly ctx: EngineContext, opts: { batchSize?: number } = {}) {
    const pool = pgPoolOf(ctx.prisma);
    if (!pool) throw new Error('status callbacks need a client made by createPrisma (its pg pool runs the batched SQL)');
    this.pool = sqlPool(pool);
    this.batcher = new MicroBatcher((items) => this.applyBatch(items), { maxBatch: opts.batchSize ?? 500, maxConcurrent: 2 });
  }

  /** Throws FORBIDDEN for a bad signature or an unknown timer (the same answer: the endpoint reveals nothing). */
  handle(input: StatusCallbackInput): Promise<StatusCallbackOutcome> {
    return this.batcher.submit(input);
  }

  private async applyBatch(items: readonly StatusCallbackInput[]): Promise<Array<BatchAnswer<StatusCallbackOutcome>>> {
    const { ctx } = this;
    const timers = new Map((await timersForCallbacks(this.pool, [...new Set(items.map((i) => i.timerId))])).map((t) => [t.id, t]));
    const tokens = new Map<string, Promise<string>>();
    const tokenOf = (orgId: string) => {
      let p = tokens.get(orgId);
      if (!p) tokens.set(orgId, (p = ctx.sender.webhookToken(orgId)));
      return p;
    };
    const answers: Array<BatchAnswer<StatusCallbackOutcome>> = new Array(items.length);
    const moves: Array<{ index: number; move: StatusMove; t: CallbackTimerRow; raw: string; errorCode: string | null }> = [];
    const taken = new Set<string>();
    for (const [index, input] of items.entries()) {
      const t = timers.get(input.timerId);
      let token: string | null = null;
      if (t) {
        try {
          token = await tokenOf(t.orgId);
        } catch (err) {
          answers[index] = { error: err }; // that org's credentials: this callback only
          continue;
        }
      }
      if (!t || token === null || !input.validate(token, input.signature, input.url, input.params)) {
        answers[index] = { error: new AppError('FORBIDDEN', 'signature not valid') };
        continue;
      }
      const update = statusFromProvider(input.params);
      if (!update) {
        answers[index] = { ok: 'ignored' };
        continue;
      }
      if (t.providerId && t.providerId !== update.sid) {
        ctx.log.warn({ timerId: t.id }, 'status callback for another provider resource; ignored');
        answers[index] = { ok: 'ignored' };
        continue;
      }
      const status = t.status as TimerStatus;
      if (status === update.status || !canTransition(status, update.status)) {
        answers[index] = taken.has(t.id) ? { again: true } : { ok: 'ignored' };
        continue;
      }
      if (taken.has(t.id)) {
        answers[index] = { again: true }; // after this batch's move of the same timer
        continue;
      }
      taken.add(t.id);
      moves.push({ index, t, raw: update.raw, errorCode: update.errorCode, move: { id: t.id, from: status, to: update.status, providerId: update.sid, lastError: update.errorCode ? `provider error ${update.errorCode}` : null } });
    }
    if (moves.length === 0) return answers;

    const now = ctx.clock.now();
    const moved = await inTransaction(this.pool, async (db) => {
      const ids = await applyStatusMoves(db, moves.map((m) => m.move), new Date(now));
      await ctx.audit.stageVia(
        db,
        moves
          .filter((m) => ids.has(m.t.id))
          .map(({ t, move, raw, errorCode }) => ({
            orgId: t.orgId,
            action: `timer.${move.to}`,
            createdAt: new Date(now),
            timerId: t.id,
            contactId: t.contactId,
            journeyId: t.journeyId,
            campaignId: t.campaignId,
            data: { providerId: move.providerId, providerStatus: raw, errorCode, via: 'status-callback', from: move.from },
          })),
      );
      return ids;
    });
    for (const orgId of new Set(moves.filter((m) => moved.has(m.t.id)).map((m) => m.t.orgId))) linkStagedSoon(ctx, orgId);
    for (const m of moves) answers[m.index] = { ok: moved.has(m.t.id) ? 'applied' : 'ignored' };
    return answers;
  }
}
