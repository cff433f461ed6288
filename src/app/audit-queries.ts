/**
 * Reading the audit log: filtered, cursor-paginated (by the per-org sequence number, which is
 * the chain's own order).
 */
import { z } from 'zod';
import type { Prisma } from '../adapters/db/client.ts';
import { AppError } from '../domain/errors.ts';
import { parseInstant } from '../domain/time.ts';
import type { EngineContext } from './timers/context.ts';

const Instant = z.string().max(40).refine((v) => parseInstant(v) !== undefined, 'ISO-8601 instant with Z or an offset');

export const ListAuditQuery = z
  .object({
    timerId: z.uuid().optional(),
    contactId: z.uuid().optional(),
    journeyId: z.uuid().optional(),
    action: z.string().min(1).max(64).optional(),
    from: Instant.optional(),
    to: Instant.optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    cursor: z.string().regex(/^\d{1,12}$/, 'use nextCursor from a previous page').optional(),
  })
  .strict();
export type ListAuditInput = z.infer<typeof ListAuditQuery>;

export interface AuditEntryView {
  seq: number;
  at: string;
  action: string;
  timerId: string | null;
  contactId: string | null;
  journeyId: string | null;
  campaignId: string | null;
  decision: string | null;
  reasonCodes: string[];
  data: unknown;
  prevHash: string;
  hash: string;
}

export class AuditQueries {
  constructor(private readonly ctx: EngineContext) {}

  async list(orgId: string, q: ListAuditInput): Promise<{ items: AuditEntryView[]; nextCursor: string | null }> {
    const from = q.from === undefined ? undefined : new Date(parseInstant(q.from)!);
    const to = q.to === undefined ? undefined : new Date(parseInstant(q.to)!);
    if (from && to && from > to) throw new AppError('INVALID_ARGUMENT', 'from is after to', [{ path: 'query.from', message: 'must not be after to' }]);
    const where: Prisma.AuditEntryWhereInput = {
      orgId,
      ...(q.timerId ? { timerId: q.timerId } : {}),
      ...(q.contactId ? { contactId: q.contactId } : {}),
      ...(q.journeyId ? { journeyId: q.journeyId } : {}),
      ...(q.action ? { action: q.action } : {}),
      ...(from || to ? { createdAt: { ...(from ? { gte: from } : {}), ...(to ? { lt: to } : {}) } } : {}),
      ...(q.cursor ? { seq: { gt: Number(q.cursor) } } : {}),
    };
    const rows = await this.ctx.prisma.auditEntry.findMany({ where, orderBy: { seq: 'asc' }, take: q.limit + 1 });
    const more = rows.length > q.limit;
    const items = rows.slice(0, q.limit).map((r) => ({
      seq: r.seq,
      at: r.createdAt.toISOString(),
      action: r.action,
      timerId: r.timerId,
      contactId: r.contactId,
      journeyId: r.journeyId,
      campaignId: r.campaignId,
      decision: r.decision,
      reasonCodes: r.reasonCodes,
      data: r.data,
      prevHash: r.prevHash,
      hash: r.hash,
    }));
    const last = items[items.length - 1];
    return { items, nextCursor: more && last ? String(last.seq) : null };
  }
}
