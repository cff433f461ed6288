/**
 * Journeys: a bounded stretch of contact with one person (an onboarding, a claim, a delivery).
 * Timers may belong to one; a journey that ends (API) or expires (the reconciler, on time, with
 * no API call) cancels its pending timers in the same transaction, and the dispatcher refuses
 * any of its timers at fire time (judgeTimer). Every change is audited.
 *
 * Lock order everywhere: the contact's row (lockContact) first, then — through the audit append —
 * the org's chain, as the dispatcher does.
 */
import { z } from 'zod';
import type { Journey } from '../adapters/db/client.ts';
import { reason } from '../domain/decide.ts';
import { AppError } from '../domain/errors.ts';
import { PENDING_STATUSES } from '../domain/timer-rules.ts';
import { parseInstant } from '../domain/time.ts';
import { contactFor } from './contacts.ts';
import { loadOrgSettings } from './org-settings.ts';
import { lockContact, type EngineContext, type Tx } from './timers/context.ts';
import { ContactInput, TimerStatusSchema } from './timers/schemas.ts';
import { cancelMoves, MOVE_SELECT, transitionMany } from './timers/transitions.ts';

export const MAX_TTL_SECONDS = 365 * 86_400;
const Instant = z.string().min(1).max(40).refine((v) => parseInstant(v) !== undefined, 'ISO-8601 instant with Z or an offset');

export const CreateJourneyBody = z
  .object({
    contact: ContactInput.optional(),
    contactId: z.uuid().optional(),
    ttl: z.number().int().min(60).max(MAX_TTL_SECONDS).optional().describe('Lifetime in seconds (default: the org setting journeyTtlSeconds, else the deployment JOURNEY_TTL, 30 days)'),
  })
  .strict()
  .superRefine((b, ctx) => {
    if ((b.contact === undefined) === (b.contactId === undefined)) ctx.addIssue({ code: 'custom', path: ['contact'], message: 'give exactly one of contact or contactId' });
  });
export type CreateJourneyInput = z.infer<typeof CreateJourneyBody>;

export const ExtendJourneyBody = z
  .object({
    by: z.number().int().min(1).max(MAX_TTL_SECONDS).optional().describe('Seconds added to the current expiry'),
    until: Instant.optional().describe('The new expiry (may shorten the journey, never to now or earlier)'),
  })
  .strict()
  .superRefine((b, ctx) => {
    if ((b.by === undefined) === (b.until === undefined)) ctx.addIssue({ code: 'custom', path: ['by'], message: 'give exactly one of by or until' });
  });
export type ExtendJourneyInput = z.infer<typeof ExtendJourneyBody>;

export const EndJourneyBody = z.object({ reason: z.string().min(1).max(500).optional() }).strict();
export type EndJourneyInput = z.infer<typeof EndJourneyBody>;

export const JourneyStatusSchema = z.enum(['active', 'ended', 'expired']);

export const JourneyViewSchema = z.object({
  id: z.uuid(),
  contactId: z.uuid(),
  status: JourneyStatusSchema.describe('`expired` as soon as expiresAt has passed (the reconciler records it within RECONCILE_INTERVAL)'),
  expiresAt: z.string(),
  createdAt: z.string(),
  endedAt: z.string().nullable(),
  endReason: z.string().nullable(),
});
export type JourneyView = z.infer<typeof JourneyViewSchema>;

export const JourneyWithTimersSchema = JourneyViewSchema.extend({ timers: z.array(z.object({ id: z.uuid(), status: TimerStatusSchema })) });
export type JourneyWithTimers = z.infer<typeof JourneyWithTimersSchema>;

export function journeyView(j: Journey, now: number): JourneyView {
  const status = j.status === 'active' && j.expiresAt.getTime() <= now ? 'expired' : j.status;
  return {
    id: j.id,
    contactId: j.contactId,
    status,
    expiresAt: j.expiresAt.toISOString(),
    createdAt: j.createdAt.toISOString(),
    endedAt: j.endedAt?.toISOString() ?? null,
    endReason: j.endReason,
  };
}

/**
 * Closes an active journey (ended or expired) and cancels its pending timers, all audited in one
 * append, in the caller's transaction, which must already hold the contact's lock. Returns the
 * number of cancelled timers, or null when the journey was no longer active.
 */
export async function closeJourney(
  ctx: EngineContext,
  tx: Tx,
  j: Pick<Journey, 'id' | 'orgId' | 'contactId'>,
  how: { status: 'ended' | 'expired'; endReason: string; by: string },
  now: number,
): Promise<number | null> {
  const res = await tx.journey.updateMany({ where: { id: j.id, status: 'active' }, data: { status: how.status, endedAt: new Date(now), endReason: how.endReason } });
  if (res.count === 0) return null;
  const code = how.status === 'ended' ? 'JOURNEY_ENDED' : 'JOURNEY_EXPIRED';
  const r = reason(code, how.status === 'ended' ? 'the journey has ended' : 'the journey has expired');
  const entry = { action: `journey.${how.status}`, createdAt: new Date(now), contactId: j.contactId, journeyId: j.id, reasonCodes: [code], data: { endReason: how.endReason, by: how.by } };
  const pending = await tx.timer.findMany({ where: { journeyId: j.id, status: { in: [...PENDING_STATUSES] } }, select: MOVE_SELECT, orderBy: { id: 'asc' } });
  const done = await transitionMany(ctx, tx, cancelMoves(pending, [r], now, { by: how.by }), now, [{ orgId: j.orgId, entry }]);
  return done.filter(Boolean).length;
}

export class JourneyService {
  constructor(private readonly ctx: EngineContext) {}

  async create(orgId: string, input: CreateJourneyInput): Promise<JourneyView> {
    const now = this.ctx.clock.now();
    const settings = await loadOrgSettings(this.ctx.prisma, orgId, now);
    const ttlMs = input.ttl !== undefined ? input.ttl * 1000 : settings.journeyTtlSeconds !== undefined ? settings.journeyTtlSeconds * 1000 : this.ctx.settings.journeyTtlMs;
    const journey = await this.ctx.prisma.$transaction(async (tx) => {
      const contact = await contactFor(tx, orgId, input);
      const created = await tx.journey.create({ data: { orgId, contactId: contact.id, expiresAt: new Date(now + ttlMs), createdAt: new Date(now) } });
      await this.ctx.audit.append(
        orgId,
        [{ action: 'journey.started', createdAt: new Date(now), contactId: contact.id, journeyId: created.id, data: { expiresAt: created.expiresAt.toISOString(), ttlSeconds: Math.round(ttlMs / 1000) } }],
        tx,
      );
      return created;
    }, { timeout: 30_000, maxWait: 10_000 });
    return journeyView(journey, now);
  }

  async get(orgId: string, id: string): Promise<JourneyWithTimers> {
    const now = this.ctx.clock.now();
    const j = await this.find(this.ctx.prisma, orgId, id);
    const timers = await this.ctx.prisma.timer.findMany({ where: { orgId, journeyId: id }, select: { id: true, status: true }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
    return { ...journeyView(j, now), timers };
  }

  /** Moves the expiry of an active journey (by seconds, or to an instant after now). */
  async extend(orgId: string, id: string, input: ExtendJourneyInput): Promise<JourneyView> {
    const now = this.ctx.clock.now();
    const found = await this.find(this.ctx.prisma, orgId, id);
    const updated = await this.ctx.prisma.$transaction(async (tx) => {
      await lockContact(tx, found.contactId);
      const j = await this.find(tx, orgId, id);
      if (j.status !== 'active' || j.expiresAt.getTime() <= now) {
        throw new AppError('CONFLICT', `the journey is ${j.status === 'ended' ? 'ended' : 'expired'}; only an active journey can be extended`, { status: journeyView(j, now).status });
      }
      const next = input.by !== undefined ? j.expiresAt.getTime() + input.by * 1000 : parseInstant(input.until!)!;
      if (next <= now) throw new AppError('INVALID_ARGUMENT', 'the new expiry must be after now', [{ path: 'body.until', message: 'must be after now' }]);
      if (next > now + MAX_TTL_SECONDS * 1000) throw new AppError('INVALID_ARGUMENT', 'a journey may not last more than 365 days from now', [{ path: input.by !== undefined ? 'body.by' : 'body.until', message: 'at most 365 days from now' }]);
      const moved = await tx.journey.update({ where: { id }, data: { expiresAt: new Date(next) } });
      await this.ctx.audit.append(
        orgId,
        [{ action: 'journey.extended', createdAt: new Date(now), contactId: j.contactId, journeyId: id, data: { from: j.expiresAt.toISOString(), to: moved.expiresAt.toISOString(), ...(input.by !== undefined ? { by: input.by } : { until: input.until }) } }],
        tx,
      );
      return moved;
    }, { timeout: 30_000, maxWait: 10_000 });
    return journeyView(updated, now);
  }

  /** Ends an active journey and cancels its pending timers (JOURNEY_ENDED). Ending an ended journey answers it again; an expired one is a 409. */
  async end(orgId: string, id: string, input: EndJourneyInput): Promise<JourneyView & { cancelledTimers: number }> {
    const now = this.ctx.clock.now();
    const found = await this.find(this.ctx.prisma, orgId, id);
    const out = await this.ctx.prisma.$transaction(async (tx) => {
      await lockContact(tx, found.contactId);
      const j = await this.find(tx, orgId, id);
      if (j.status === 'ended') return { j, cancelled: 0 };
      if (j.status === 'expired' || j.expiresAt.getTime() <= now) throw new AppError('CONFLICT', 'the journey has expired', { status: 'expired' });
      const cancelled = await closeJourney(this.ctx, tx, j, { status: 'ended', endReason: input.reason ?? 'JOURNEY_ENDED', by: 'api' }, now);
      return { j: await this.find(tx, orgId, id), cancelled: cancelled ?? 0 };
    }, { timeout: 60_000, maxWait: 10_000 });
    return { ...journeyView(out.j, now), cancelledTimers: out.cancelled };
  }

  private async find(db: Tx | EngineContext['prisma'], orgId: string, id: string): Promise<Journey> {
    const j = await db.journey.findFirst({ where: { id, orgId } });
    if (!j) throw new AppError('NOT_FOUND', `journey ${id} not found`);
    return j;
  }
}

/**
 * The reconciler's pass: every active journey past its expiry becomes `expired` and its pending
 * timers are cancelled (JOURNEY_EXPIRED), one contact-locked transaction per journey.
 */
export async function expireDueJourneys(ctx: EngineContext, now: number, batch: number): Promise<number> {
  const due = await ctx.prisma.journey.findMany({
    where: { status: 'active', expiresAt: { lte: new Date(now) } },
    select: { id: true, orgId: true, contactId: true },
    orderBy: { expiresAt: 'asc' },
    take: batch,
  });
  let expired = 0;
  for (const j of due) {
    const n = await ctx.prisma.$transaction(async (tx) => {
      await lockContact(tx, j.contactId);
      return closeJourney(ctx, tx, j, { status: 'expired', endReason: 'JOURNEY_EXPIRED', by: 'reconciler' }, now);
    }, { timeout: 60_000, maxWait: 10_000 });
    if (n !== null) expired++;
  }
  return expired;
}
