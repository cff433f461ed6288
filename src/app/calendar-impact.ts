/**
 * Calendar change impact. When a process loads a calendar set other than the one a pending
 * timer (scheduled/queued) was decided under (timer.calendarVersion), the timer is judged at its
 * requested instant twice — under the version it was decided under (from calendar_versions) and
 * under the loaded set — with the same inputs (now = the clock, its policy, notAfter, subject,
 * the org calendar, no contact state): when the two differ in decision or send instant, the
 * change of calendars moves it, and it is listed. (Without the old version on record the loaded
 * set's judgement is compared with the stored decision.)
 *
 * `apply` makes the change on request: each affected timer is judged again now, with the
 * contact's state and send history, under the contact's lock (taken before the org's audit
 * chain, as the dispatcher and kill switches do), and moved with transitionMany — rescheduled,
 * cancelled or suppressed — each audited with data.reason 'calendar_change' and both versions.
 * The dispatcher judges every timer again at fire time anyway; applying moves them now, so that
 * what is scheduled matches what will happen.
 */
import { z } from 'zod';
import type { Prisma } from '../adapters/db/client.ts';
import type { CalendarSet } from '../domain/calendar/compile.ts';
import { judgeTimer, PENDING_STATUSES, type ContactState, type Verdict } from '../domain/timer-rules.ts';
import { formatUtc } from '../domain/time.ts';
import { CalendarVersions } from './calendar-versions.ts';
import { contactLocation } from './contacts.ts';
import { loadOrgSettings, type OrgSettings } from './org-settings.ts';
import type { QueuedTimer } from './ports.ts';
import { loadContactState, loadHistory, lockContact, storedTimerInput, type EngineContext } from './timers/context.ts';
import { enqueueNearTerm } from './timers/pump.ts';
import { asRecord, decisionRecord, reasonCodes } from './timers/records.ts';
import { transitionMany, type Move } from './timers/transitions.ts';

/** Timers read (and judged) per page; apply moves one page per transaction. */
const PAGE = 200;
/** Timers examined per list call at most (then nextCursor). */
const MAX_SCAN = 10_000;

export const ImpactQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(100).describe('Affected timers per page'),
    cursor: z.uuid().optional().describe('`nextCursor` of the previous page'),
  })
  .strict();
export type ImpactInput = z.infer<typeof ImpactQuery>;

export const ApplyImpactBody = z
  .object({
    timerIds: z.array(z.uuid()).min(1).max(10_000).optional().describe('Only these timers (default: every affected pending timer of the org)'),
  })
  .strict();
export type ApplyImpactInput = z.infer<typeof ApplyImpactBody>;

const Judgement = z.object({ decision: z.string(), sendAt: z.string().nullable(), reasonCodes: z.array(z.string()) });
export const ImpactItemSchema = z.object({
  timerId: z.string(),
  status: z.string(),
  channel: z.string(),
  purpose: z.string(),
  policy: z.string(),
  requestedAt: z.string(),
  decidedUnder: z.string().describe('The calendar version the timer was decided under'),
  current: Judgement.describe('As stored now'),
  proposed: Judgement.extend({ calendarVersion: z.string() }).describe('Under the loaded calendars (calendars only: apply also weighs the contact state)'),
});
export type ImpactItem = z.infer<typeof ImpactItemSchema>;
export const ImpactPageSchema = z.object({ calendarVersion: z.string(), items: z.array(ImpactItemSchema), scanned: z.number().int(), nextCursor: z.string().nullable() });
export const ApplyResultSchema = z.object({
  calendarVersion: z.string(),
  examined: z.number().int(),
  rescheduled: z.number().int(),
  cancelled: z.number().int(),
  suppressed: z.number().int(),
  unchanged: z.number().int(),
});
export type ApplyResult = z.infer<typeof ApplyResultSchema>;

const TIMER_SELECT = {
  id: true,
  orgId: true,
  contactId: true,
  journeyId: true,
  campaignId: true,
  status: true,
  channel: true,
  purpose: true,
  policy: true,
  subject: true,
  requestedAt: true,
  notAfter: true,
  sendAt: true,
  calendarVersion: true,
  decision: true,
  contact: { select: { phoneE164: true, zip: true } },
} as const satisfies Prisma.TimerSelect;
type PendingTimer = Prisma.TimerGetPayload<{ select: typeof TIMER_SELECT }>;

const NO_STATE: ContactState = { suppressions: [], journey: null };

function verdictSendAt(v: Verdict): number | null {
  return v.kind === 'send' || v.kind === 'reschedule' ? v.sendAt : null;
}
const kindOf = (v: Verdict) => (v.kind === 'suppress' ? 'cancel' : v.kind);

export class CalendarImpact {
  private readonly versions: CalendarVersions;

  constructor(private readonly ctx: EngineContext) {
    this.versions = new CalendarVersions(ctx);
  }

  /** Judges a timer at its requested instant on the calendars alone. */
  private judge(set: CalendarSet, t: PendingTimer, settings: OrgSettings, now: number): Verdict {
    return judgeTimer(set, storedTimerInput(t, contactLocation(t.contact), t.requestedAt.getTime(), now, [], settings), NO_STATE, 'create');
  }

  /** The loaded set's judgement of `t` if the change of calendars moves it, else null. */
  private async affected(t: PendingTimer, settings: OrgSettings, now: number): Promise<Verdict | null> {
    const loaded = this.versions.loaded;
    if (t.calendarVersion === loaded.version) return null;
    const proposed = this.judge(loaded, t, settings, now);
    const old = await this.versions.byVersion(t.calendarVersion);
    if (old) {
      const before = this.judge(old, t, settings, now);
      return kindOf(before) === kindOf(proposed) && verdictSendAt(before) === verdictSendAt(proposed) ? null : proposed;
    }
    const stored = asRecord(t.decision);
    const sendAt = verdictSendAt(proposed);
    return stored.decision === kindOf(proposed) && (t.sendAt?.getTime() ?? null) === sendAt ? null : proposed;
  }

  /** Pending timers decided under another version, by id, `after` excluded. */
  private page(orgId: string, after: string, ids?: readonly string[]): Promise<PendingTimer[]> {
    return this.ctx.prisma.timer.findMany({
      where: { orgId, status: { in: [...PENDING_STATUSES] }, calendarVersion: { not: this.versions.loaded.version }, id: { gt: after, ...(ids ? { in: [...ids] } : {}) } },
      select: TIMER_SELECT,
      orderBy: { id: 'asc' },
      take: PAGE,
    });
  }

  async list(orgId: string, q: ImpactInput): Promise<z.infer<typeof ImpactPageSchema>> {
    const now = this.ctx.clock.now();
    const loaded = this.versions.loaded;
    const settings = await loadOrgSettings(this.ctx.prisma, orgId, now);
    const items: ImpactItem[] = [];
    let after = q.cursor ?? '00000000-0000-0000-0000-000000000000';
    let scanned = 0;
    for (;;) {
      const page = await this.page(orgId, after);
      for (const t of page) {
        scanned++;
        after = t.id;
        const v = await this.affected(t, settings, now);
        if (v) {
          const stored = asRecord(t.decision);
          const rec = decisionRecord(v, loaded.version, contactLocation(t.contact).candidates, 'create', now);
          items.push({
            timerId: t.id,
            status: t.status,
            channel: t.channel,
            purpose: t.purpose,
            policy: t.policy,
            requestedAt: t.requestedAt.toISOString(),
            decidedUnder: t.calendarVersion,
            current: { decision: stored.decision, sendAt: t.sendAt ? formatUtc(t.sendAt.getTime()) : null, reasonCodes: reasonCodes(stored.reasons ?? []) },
            proposed: { decision: rec.decision, sendAt: rec.sendAt, reasonCodes: reasonCodes(rec.reasons), calendarVersion: rec.calendarVersion },
          });
          if (items.length >= q.limit) return { calendarVersion: loaded.version, items, scanned, nextCursor: t.id };
        }
      }
      if (page.length < PAGE) return { calendarVersion: loaded.version, items, scanned, nextCursor: null };
      if (scanned >= MAX_SCAN) return { calendarVersion: loaded.version, items, scanned, nextCursor: after };
    }
  }

  /** Applies the loaded calendars to the affected pending timers (all of them, or `timerIds`). */
  async apply(orgId: string, input: ApplyImpactInput): Promise<ApplyResult> {
    const { ctx } = this;
    const loaded = this.versions.loaded;
    const result: ApplyResult = { calendarVersion: loaded.version, examined: 0, rescheduled: 0, cancelled: 0, suppressed: 0, unchanged: 0 };
    const fromVersions = new Set<string>();
    const ids = input.timerIds ? [...new Set(input.timerIds.map((id) => id.toLowerCase()))].sort() : undefined;
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const now = ctx.clock.now();
      const settings = await loadOrgSettings(ctx.prisma, orgId, now);
      const page = await this.page(orgId, after, ids);
      if (page.length === 0) break;
      after = page[page.length - 1]!.id;
      result.examined += page.length;
      const affected: PendingTimer[] = [];
      for (const t of page) if (await this.affected(t, settings, now)) affected.push(t);
      result.unchanged += page.length - affected.length;
      if (affected.length > 0) {
        const requeue: QueuedTimer[] = [];
        const contactIds = [...new Set(affected.map((t) => t.contactId))].sort();
        await ctx.prisma.$transaction(async (tx) => {
          for (const id of contactIds) await lockContact(tx, id);
          // Read again under the locks: a dispatcher may have moved some meanwhile.
          const timers = await tx.timer.findMany({ where: { id: { in: affected.map((t) => t.id) }, status: { in: [...PENDING_STATUSES] } }, select: TIMER_SELECT, orderBy: { id: 'asc' } });
          const moves: Move[] = [];
          const kinds: Array<'rescheduled' | 'cancelled' | 'suppressed'> = [];
          const histories = new Map<string, Awaited<ReturnType<typeof loadHistory>>>();
          const states = new Map<string, ContactState>();
          for (const t of timers) {
            if (t.calendarVersion === loaded.version) continue;
            const history = histories.get(t.contactId) ?? (await loadHistory(tx, t.contactId, now));
            histories.set(t.contactId, history);
            const stateKey = `${t.contactId}|${t.journeyId ?? ''}`;
            const state = states.get(stateKey) ?? (await loadContactState(tx, { orgId, contactId: t.contactId, phoneE164: t.contact.phoneE164, journeyId: t.journeyId }, settings, now));
            states.set(stateKey, state);
            const location = contactLocation(t.contact);
            const verdict = judgeTimer(loaded, storedTimerInput(t, location, t.requestedAt.getTime(), now, history, settings), state, 'create');
            const sendAt = verdictSendAt(verdict);
            if (sendAt !== null && sendAt === t.sendAt?.getTime()) {
              result.unchanged++;
              continue;
            }
            fromVersions.add(t.calendarVersion);
            const record = decisionRecord(verdict, loaded.version, location.candidates, 'create', now);
            const only = { from: PENDING_STATUSES, where: { sendAt: t.sendAt } };
            const data = {
              reason: 'calendar_change',
              fromVersion: t.calendarVersion,
              toVersion: loaded.version,
              from: t.sendAt?.toISOString() ?? null,
              to: record.sendAt,
              decision: record,
            };
            const base = { decision: record as object, calendarVersion: record.calendarVersion, leaseOwner: null, leaseUntil: null, updatedAt: new Date(now) };
            const audit = { reasonCodes: reasonCodes(record.reasons), data };
            if (sendAt !== null) {
              moves.push({ timer: t, ...only, to: 'scheduled', data: { ...base, sendAt: new Date(sendAt) }, audit: { action: 'timer.rescheduled', decision: 'reschedule', ...audit } });
              kinds.push('rescheduled');
            } else {
              const to = verdict.kind === 'suppress' ? ('suppressed' as const) : ('cancelled' as const);
              moves.push({ timer: t, ...only, to, data: base, audit: { action: `timer.${to}`, decision: 'cancel', ...audit } });
              kinds.push(to);
            }
          }
          const done = await transitionMany(ctx, tx, moves, now);
          done.forEach((ok, i) => {
            if (!ok) {
              result.unchanged++;
              return;
            }
            result[kinds[i]!]++;
            const m = moves[i]!;
            const at = m.to === 'scheduled' ? (m.data?.sendAt as Date).getTime() : null;
            if (at !== null && at <= now + ctx.settings.horizonMs) requeue.push({ timerId: m.timer.id, sendAt: at });
          });
        }, { timeout: 120_000, maxWait: 10_000 });
        if (requeue.length) {
          await enqueueNearTerm(ctx, requeue, now).catch((err: Error) => ctx.log.warn({ err: err.message }, 'enqueue after a calendar change failed; the pump will retry'));
        }
      }
      if (page.length < PAGE) break;
    }
    const moved = result.rescheduled + result.cancelled + result.suppressed;
    if (moved > 0) {
      await ctx.audit.append(orgId, [
        { action: 'calendars.change_applied', createdAt: new Date(ctx.clock.now()), data: { fromVersions: [...fromVersions].sort(), toVersion: loaded.version, ...result } },
      ]);
      ctx.log.info({ orgId, ...result }, 'calendar change applied to pending timers');
    }
    return result;
  }
}
