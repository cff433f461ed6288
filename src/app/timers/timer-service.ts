/**
 * Timers as the API sees them: create (place the contact, judge, store, audit, and hand a
 * near-term timer to the queue), cancel, read and list. Every rule is the domain's
 * (judgeTimer); this module only loads state and stores outcomes.
 */
import { createHash } from 'node:crypto';
import { Prisma, type Timer } from '../../adapters/db/client.ts';
import type { Channel, Purpose } from '../../domain/calendar/schema.ts';
import type { Policy } from '../../domain/decide.ts';
import { reason } from '../../domain/decide.ts';
import { AppError } from '../../domain/errors.ts';
import { judgeTimer, PENDING_STATUSES, type TimerStatus, type Verdict } from '../../domain/timer-rules.ts';
import { parseInstant } from '../../domain/time.ts';
import { areaCodeOf, loadContactState, loadHistory, lockContact, type EngineContext } from './context.ts';
import { decisionRecord, reasonCodes, timerView, transition } from './records.ts';
import type { CreateTimerInput, ListTimersInput, TimerView } from './schemas.ts';
import { enqueueNearTerm } from './pump.ts';
import { loadOrgSettings } from '../org-settings.ts';
import { contactFor, locateContact } from '../contacts.ts';

export interface CreateTimerResult {
  status: 201 | 200;
  body: TimerView;
  /** True when an Idempotency-Key replayed an earlier answer. */
  replayed: boolean;
}

function instant(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const t = parseInstant(value);
  if (t === undefined) throw new AppError('INVALID_INSTANT', `${field} "${value}" is not an ISO-8601 instant with Z or an offset`, [{ path: `body.${field}`, message: 'ISO-8601 instant with Z or an offset' }]);
  return t;
}

function requestHash(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex');
}

function statusOf(v: Verdict): TimerStatus {
  return v.kind === 'suppress' ? 'suppressed' : v.kind === 'cancel' ? 'cancelled' : 'scheduled';
}

export class TimerService {
  constructor(private readonly ctx: EngineContext) {}

  async create(orgId: string, input: CreateTimerInput, idempotencyKey?: string): Promise<CreateTimerResult> {
    const hash = requestHash(input);
    if (idempotencyKey) {
      const replay = await this.replay(orgId, idempotencyKey, hash);
      if (replay) return replay;
    }
    const now = this.ctx.clock.now();
    const at = instant(input.at, 'at')!;
    const notAfter = instant(input.notAfter, 'notAfter');

    try {
      const timer = await this.ctx.prisma.$transaction(async (tx) => {
        const contact = await contactFor(tx, orgId, input);
        // The contact's lock (as the dispatcher, journey end, consent revocation and kill switches
        // take it): the journey and consent read below cannot change until this timer is stored.
        await lockContact(tx, contact.id);
        const location = locateContact(contact.phoneE164, contact.zip ?? undefined);
        let journeyId: string | null = null;
        if (input.journeyId) {
          const journey = await tx.journey.findFirst({ where: { id: input.journeyId, orgId }, select: { id: true, contactId: true, status: true, expiresAt: true } });
          if (!journey) throw new AppError('NOT_FOUND', `journey ${input.journeyId} not found`);
          if (journey.contactId !== contact.id) throw new AppError('CONFLICT', 'the journey belongs to another contact');
          if (journey.status !== 'active' || journey.expiresAt.getTime() <= now) {
            const status = journey.status === 'ended' ? 'ended' : 'expired';
            throw new AppError('CONFLICT', `the journey has ${status}`, { journeyStatus: status });
          }
          journeyId = journey.id;
        }
        const settings = await loadOrgSettings(this.ctx.prisma, orgId, now);
        const [history, state] = await Promise.all([
          loadHistory(tx, contact.id, now),
          loadContactState(tx, { orgId, contactId: contact.id, phoneE164: contact.phoneE164, journeyId }, settings, now),
        ]);
        const set = this.ctx.calendars();
        const verdict = judgeTimer(
          set,
          {
            location,
            channel: input.channel as Channel,
            purpose: input.purpose as Purpose,
            at,
            now,
            policy: input.policy as Policy,
            ...(notAfter === undefined ? {} : { notAfter }),
            ...(input.subject ? { subject: input.subject } : {}),
            ...(settings.calendar ? { orgCalendar: settings.calendar } : {}),
            history,
          },
          state,
          'create',
        );
        const record = decisionRecord(verdict, set.version, location.candidates, 'create', now);
        const status = statusOf(verdict);
        const sendAt = verdict.kind === 'send' || verdict.kind === 'reschedule' ? verdict.sendAt : null;
        const created = await tx.timer.create({
          data: {
            orgId,
            contactId: contact.id,
            journeyId,
            channel: input.channel,
            purpose: input.purpose,
            policy: input.policy,
            subject: input.subject ?? null,
            requestedAt: new Date(at),
            sendAt: sendAt === null ? null : new Date(sendAt),
            notAfter: notAfter === undefined ? null : new Date(notAfter),
            status,
            payload: (input.channel === 'sms' ? { body: input.message!.body } : { ...input.voice! }) as Prisma.InputJsonValue,
            idempotencyKey: idempotencyKey ?? null,
            calendarVersion: record.calendarVersion,
            decision: record as unknown as Prisma.InputJsonValue,
          },
        });
        const view = timerView(created);
        if (idempotencyKey) {
          await tx.idempotencyRecord.create({ data: { orgId, key: idempotencyKey, requestHash: hash, statusCode: 201, response: view as unknown as Prisma.InputJsonValue } });
        }
        await this.ctx.audit.append(
          orgId,
          [
            {
              action: 'timer.created',
              createdAt: new Date(now),
              timerId: created.id,
              contactId: contact.id,
              journeyId,
              decision: record.decision,
              reasonCodes: reasonCodes(record.reasons),
              data: {
                status,
                inputs: {
                  zip: contact.zip,
                  areaCode: areaCodeOf(contact.phoneE164),
                  channel: input.channel,
                  purpose: input.purpose,
                  policy: input.policy,
                  requestedAt: input.at,
                  notAfter: input.notAfter ?? null,
                  subject: input.subject ?? null,
                },
                decision: record,
              },
            },
          ],
          tx,
        );
        return created;
      }, { timeout: 30_000, maxWait: 10_000 });

      const body = timerView(timer);
      await this.afterCreate(timer, now);
      return { status: 201, body, replayed: false };
    } catch (err) {
      // A concurrent request with the same Idempotency-Key won the race: answer as it did.
      if (idempotencyKey && err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
        const replay = await this.replay(orgId, idempotencyKey, hash);
        if (replay) return replay;
      }
      throw err;
    }
  }

  /** A timer due within the horizon goes to the queue at once (best effort: the pump retries). */
  private async afterCreate(timer: Timer, now: number): Promise<void> {
    if (timer.status !== 'scheduled' || !timer.sendAt) return;
    if (timer.sendAt.getTime() > now + this.ctx.settings.horizonMs) return;
    try {
      await enqueueNearTerm(this.ctx, [{ timerId: timer.id, sendAt: timer.sendAt.getTime() }], now);
    } catch (err) {
      this.ctx.log.warn({ timerId: timer.id, err: (err as Error).message }, 'enqueue after create failed; the pump will retry');
    }
  }

  private async replay(orgId: string, key: string, hash: string): Promise<CreateTimerResult | null> {
    const rec = await this.ctx.prisma.idempotencyRecord.findUnique({ where: { orgId_key: { orgId, key } } });
    if (!rec) return null;
    if (rec.requestHash !== hash) throw new AppError('IDEMPOTENCY_MISMATCH', 'this Idempotency-Key was used with a different request body');
    return { status: rec.statusCode as 201, body: rec.response as unknown as TimerView, replayed: true };
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
