/**
 * Kill switches: an admin closes jurisdictions (states, or `US` for everything) and/or zips to
 * every send in [from, to) — a declared emergency, a hurricane. New timers and the fire-time
 * check obey a live switch through loadContactState → judgeTimer (a BLACKOUT period). On creation
 * the org's pending timers that the switch covers and whose sendAt falls in [from, to) are judged
 * again at once: at their current sendAt, now = the clock, their own policy — `next_slot` moves
 * past the period, `previous_slot` to the latest allowed instant before it (or cancels), `cancel`
 * cancels; each move is audited (reason BLACKOUT). Pages of timers, each in one transaction that
 * takes the contacts' locks (sorted) before the org's audit chain, as the dispatcher does.
 */
import { z } from 'zod';
import type { KillSwitch as KillSwitchRow } from '../adapters/db/client.ts';
import { JurisdictionCodeSchema } from '../domain/calendar/schema.ts';
import { AppError } from '../domain/errors.ts';
import { isKnownState } from '../domain/location/state-zones.ts';
import { judgeTimer, killSwitchesFor, PENDING_STATUSES, type KillSwitch } from '../domain/timer-rules.ts';
import { parseInstant } from '../domain/time.ts';
import { contactLocation } from './contacts.ts';
import { loadOrgSettings } from './org-settings.ts';
import { storedTimerInput, type EngineContext } from './timers/context.ts';
import { decisionRecord } from './timers/records.ts';
import { rejudgeUnderLocks } from './timers/rejudge.ts';

/** Timers judged per transaction. */
const PAGE = 200;

const Instant = z.string().min(1).max(40).refine((v) => parseInstant(v) !== undefined, 'ISO-8601 instant with Z or an offset');
const Jurisdiction = JurisdictionCodeSchema.refine((j) => j === 'US' || isKnownState(j), 'not a US state, DC or territory code (or "US" for everywhere)');
const Zip = z.string().regex(/^\d{5}$/, 'a 5-digit ZIP code');

export const CreateKillSwitchBody = z
  .object({
    jurisdictions: z.array(Jurisdiction).min(1).max(60).optional().describe('State codes; ["US"] closes everything'),
    zips: z.array(Zip).min(1).max(10_000).optional(),
    from: Instant,
    to: Instant,
    reason: z.string().min(1).max(500),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (!b.jurisdictions && !b.zips) ctx.addIssue({ code: 'custom', path: ['jurisdictions'], message: 'give jurisdictions and/or zips (["US"] for everywhere)' });
    const from = parseInstant(b.from);
    const to = parseInstant(b.to);
    if (from !== undefined && to !== undefined && from >= to) ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be after from' });
  });
export type CreateKillSwitchInput = z.infer<typeof CreateKillSwitchBody>;

export const ListKillSwitchesQuery = z
  .object({
    active: z.enum(['true', 'false']).optional().describe('true: only switches not lifted and not over'),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();
export type ListKillSwitchesInput = z.infer<typeof ListKillSwitchesQuery>;

export const KillSwitchViewSchema = z.object({
  id: z.uuid(),
  jurisdictions: z.array(z.string()),
  zips: z.array(z.string()),
  from: z.string(),
  to: z.string(),
  reason: z.string(),
  createdAt: z.string(),
  liftedAt: z.string().nullable(),
  active: z.boolean().describe('Not lifted and not over'),
});
export type KillSwitchView = z.infer<typeof KillSwitchViewSchema>;

export const KillSwitchAffectedSchema = z.object({ rescheduled: z.number().int(), cancelled: z.number().int(), suppressed: z.number().int() });
export type KillSwitchAffected = z.infer<typeof KillSwitchAffectedSchema>;

export function killSwitchView(k: KillSwitchRow, now: number): KillSwitchView {
  return {
    id: k.id,
    jurisdictions: k.jurisdictions,
    zips: k.zips,
    from: k.startsAt.toISOString(),
    to: k.endsAt.toISOString(),
    reason: k.reason,
    createdAt: k.createdAt.toISOString(),
    liftedAt: k.liftedAt?.toISOString() ?? null,
    active: k.liftedAt === null && k.endsAt.getTime() > now,
  };
}

/** The domain's view of a stored switch (empty lists: not scoped that way). */
export function toDomainSwitch(k: KillSwitchRow): KillSwitch {
  return { id: k.id, from: k.startsAt.getTime(), to: k.endsAt.getTime(), reason: k.reason, jurisdictions: k.jurisdictions.length ? k.jurisdictions : null, zips: k.zips.length ? k.zips : null };
}


export class KillSwitchService {
  constructor(private readonly ctx: EngineContext) {}

  async create(orgId: string, input: CreateKillSwitchInput): Promise<KillSwitchView & { affected: KillSwitchAffected }> {
    const now = this.ctx.clock.now();
    const from = parseInstant(input.from)!;
    const to = parseInstant(input.to)!;
    if (to <= now) throw new AppError('INVALID_ARGUMENT', 'the period is already over', [{ path: 'body.to', message: 'must be after now' }]);
    const jurisdictions = [...new Set(input.jurisdictions ?? [])].sort();
    const zips = [...new Set(input.zips ?? [])].sort();
    const created = await this.ctx.prisma.$transaction(async (tx) => {
      const k = await tx.killSwitch.create({ data: { orgId, jurisdictions, zips, startsAt: new Date(from), endsAt: new Date(to), reason: input.reason, createdAt: new Date(now) } });
      await this.ctx.audit.append(
        orgId,
        [{ action: 'killswitch.created', createdAt: new Date(now), reasonCodes: ['BLACKOUT'], data: { killSwitchId: k.id, jurisdictions, zips, from: k.startsAt.toISOString(), to: k.endsAt.toISOString(), reason: k.reason } }],
        tx,
      );
      return k;
    });
    // From here on the switch is live for new timers and fire-time checks; now move what waits.
    const affected = await this.rejudgePending(orgId, created, now);
    return { ...killSwitchView(created, now), affected };
  }

  async list(orgId: string, q: ListKillSwitchesInput): Promise<{ items: KillSwitchView[] }> {
    const now = this.ctx.clock.now();
    const rows = await this.ctx.prisma.killSwitch.findMany({
      where: { orgId, ...(q.active === 'true' ? { liftedAt: null, endsAt: { gt: new Date(now) } } : {}) },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: q.limit,
    });
    return { items: rows.map((k) => killSwitchView(k, now)) };
  }

  /** Lifts a switch (audited). Timers it already moved stay where they are. Lifting twice answers the lifted switch. */
  async lift(orgId: string, id: string): Promise<KillSwitchView> {
    const now = this.ctx.clock.now();
    const k = await this.ctx.prisma.$transaction(async (tx) => {
      const found = await tx.killSwitch.findFirst({ where: { id, orgId } });
      if (!found) throw new AppError('NOT_FOUND', `kill switch ${id} not found`);
      if (found.liftedAt) return found;
      const lifted = await tx.killSwitch.update({ where: { id }, data: { liftedAt: new Date(now) } });
      await this.ctx.audit.append(orgId, [{ action: 'killswitch.lifted', createdAt: new Date(now), data: { killSwitchId: id, jurisdictions: found.jurisdictions, zips: found.zips } }], tx);
      return lifted;
    });
    return killSwitchView(k, now);
  }

  /** Judges again every pending timer of the org that the switch covers in [from, to), a page at a time. */
  async rejudgePending(orgId: string, row: KillSwitchRow, now: number): Promise<KillSwitchAffected> {
    const { ctx } = this;
    const sw = toDomainSwitch(row);
    const affected: KillSwitchAffected = { rescheduled: 0, cancelled: 0, suppressed: 0 };
    const settings = await loadOrgSettings(ctx.prisma, orgId, now);
    const set = ctx.calendars();
    const inPeriod = { gte: new Date(sw.from), lt: new Date(sw.to) };
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const page = await ctx.prisma.timer.findMany({
        where: { orgId, status: { in: [...PENDING_STATUSES] }, sendAt: inPeriod, id: { gt: after } },
        select: { id: true, contactId: true, contact: { select: { phoneE164: true, zip: true } } },
        orderBy: { id: 'asc' },
        take: PAGE,
      });
      if (page.length === 0) break;
      after = page[page.length - 1]!.id;
      const covered = page.filter((t) => killSwitchesFor([sw], contactLocation(t.contact)).length > 0);
      const r = await rejudgeUnderLocks(ctx, orgId, covered, { sendAt: inPeriod }, settings, now, ({ timer: t, location, history, state }) => {
        // The state holds the new switch: its creation committed before this pass.
        const sendAt = t.sendAt!.getTime();
        const verdict = judgeTimer(set, storedTimerInput(t, location, sendAt, now, history, settings), state, 'create');
        if (verdict.kind === 'send') return null; // not blocked after all: nothing to move
        const record = decisionRecord(verdict, set.version, location.candidates, 'create', now);
        const data = { phase: 'kill_switch', killSwitchId: sw.id, from: t.sendAt!.toISOString(), decision: record };
        return { verdict, sendAt: verdict.kind === 'reschedule' ? verdict.sendAt : null, record, data };
      });
      affected.rescheduled += r.moved.rescheduled;
      affected.cancelled += r.moved.cancelled;
      affected.suppressed += r.moved.suppressed;
      if (page.length < PAGE) break;
    }
    if (affected.rescheduled || affected.cancelled || affected.suppressed) ctx.log.info({ killSwitchId: sw.id, ...affected }, 'kill switch applied to pending timers');
    return affected;
  }
}
