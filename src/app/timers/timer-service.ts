/**
 * Timers as the API sees them: create (place the contact, judge, store, audit, and hand a
 * near-term timer to the queue), cancel, read and list. Every rule is the domain's
 * (judgeTimer); this module only loads state and stores outcomes.
 */
import { reason } from '../../domain/decide.ts';
import { AppError } from '../../domain/errors.ts';
import { PENDING_STATUSES } from '../../domain/timer-rules.ts';
import type { BatchAnswer } from '../micro-batcher.ts';
import { queryPhoneHash, type EngineContext } from './context.ts';
import { TimerCreator, type CreateTimerResult } from './create-batch.ts';
import { timerView, transition } from './records.ts';
import type { CreateTimerInput, ListTimersInput, TimerView } from './schemas.ts';

export type { CreateTimerResult };

export class TimerService {
  private readonly creator: TimerCreator;

  constructor(private readonly ctx: EngineContext) {
    this.creator = new TimerCreator(ctx);
  }

  /** One timer (`POST /v1/timers`), judged together with the requests that arrive at the same moment. */
  create(orgId: string, input: CreateTimerInput, idempotencyKey?: string): Promise<CreateTimerResult> {
    return this.creator.create({ orgId, input, idempotencyKey });
  }

  /** Up to MAX_BATCH timers (`POST /v1/timers/batch`), each answered on its own: a result or its error. */
  createBatch(orgId: string, items: ReadonlyArray<{ input: CreateTimerInput; idempotencyKey?: string | undefined; path: string }>): Promise<Array<BatchAnswer<CreateTimerResult>>> {
    return this.creator.createMany(items.map((i) => ({ orgId, ...i })));
  }

  async get(orgId: string, id: string): Promise<TimerView & { events: TimerEvent[] }> {
    const t = await this.ctx.prisma.timer.findFirst({ where: { id, orgId } });
    if (!t) throw new AppError('NOT_FOUND', `timer ${id} not found`);
    await this.ctx.audit.settle(orgId);
    const events = await this.ctx.prisma.auditEntry.findMany({
      where: { orgId, timerId: id },
      orderBy: { seq: 'asc' },
      select: { seq: true, action: true, decision: true, reasonCodes: true, createdAt: true, data: true },
    });
    return {
      ...timerView(t),
      events: events.map((e) => ({ seq: e.seq, action: e.action, decision: e.decision, reasonCodes: e.reasonCodes, at: e.createdAt.toISOString(), data: e.data })),
    };
  }

  async list(orgId: string, q: ListTimersInput): Promise<{ items: TimerView[]; nextCursor: string | null }> {
    const cursor = q.cursor ? decodeCursor(q.cursor) : null;
    const rows = await this.ctx.prisma.timer.findMany({
      where: {
        orgId,
        ...(q.status ? { status: q.status } : {}),
        ...(q.contactId ? { contactId: q.contactId } : {}),
        ...(q.journeyId ? { journeyId: q.journeyId } : {}),
        ...(q.campaignId ? { campaignId: q.campaignId } : {}),
        ...(q.phone !== undefined ? { contact: { phoneHash: queryPhoneHash(q.phone) } } : {}),
        ...(cursor ? { OR: [{ createdAt: { lt: cursor.createdAt } }, { createdAt: cursor.createdAt, id: { lt: cursor.id } }] } : {}),
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: q.limit + 1,
    });
    const more = rows.length > q.limit;
    const items = rows.slice(0, q.limit);
    const last = items[items.length - 1];
    return { items: items.map(timerView), nextCursor: more && last ? encodeCursor(last.createdAt, last.id) : null };
  }

  /** Cancels a pending timer; 409 once it is being sent or was sent. Cancelling twice answers the cancelled timer. */
  async cancel(orgId: string, id: string): Promise<TimerView> {
    const now = this.ctx.clock.now();
    const t = await this.ctx.prisma.timer.findFirst({ where: { id, orgId } });
    if (!t) throw new AppError('NOT_FOUND', `timer ${id} not found`);
    if (t.status === 'cancelled') return timerView(t);
    if (!PENDING_STATUSES.includes(t.status)) throw new AppError('CONFLICT', `timer is ${t.status}; only a scheduled timer can be cancelled`, { status: t.status });
    const r = reason('CANCELLED_BY_REQUEST', 'cancelled through the API');
    const moved = await this.ctx.prisma.$transaction((tx) =>
      transition(this.ctx, tx, t, {
        from: PENDING_STATUSES,
        to: 'cancelled',
        data: { leaseOwner: null, leaseUntil: null },
        audit: { action: 'timer.cancelled', decision: 'cancel', reasonCodes: [r.code], data: { reasons: [r], by: 'api' } },
      }, now),
    );
    const after = await this.ctx.prisma.timer.findUniqueOrThrow({ where: { id } });
    if (!moved && after.status !== 'cancelled') throw new AppError('CONFLICT', `timer is ${after.status}; only a scheduled timer can be cancelled`, { status: after.status });
    return timerView(after);
  }
}

export interface TimerEvent {
  seq: number;
  action: string;
  decision: string | null;
  reasonCodes: string[];
  at: string;
  data: unknown;
}

export function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [ts, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(ts ?? '');
  if (!id || !/^[0-9a-f-]{36}$/i.test(id) || Number.isNaN(createdAt.getTime())) {
    throw new AppError('INVALID_ARGUMENT', 'cursor is not valid', [{ path: 'query.cursor', message: 'use nextCursor from a previous page' }]);
  }
  return { createdAt, id };
}

