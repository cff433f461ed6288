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
import type { CalendarSet } from '../domain/calendar/compile.ts';
import { judgeTimer, PENDING_STATUSES, type ContactState, type Verdict } from '../domain/timer-rules.ts';
import { formatUtc } from '../domain/time.ts';
import { CalendarVersions } from './calendar-versions.ts';
import { contactLocation } from './contacts.ts';
import { loadOrgSettings, type OrgSettings } from './org-settings.ts';
import { storedTimerInput, type EngineContext } from './timers/context.ts';
import { asRecord, decisionRecord, reasonCodes } from './timers/records.ts';
import { REJUDGE_SELECT, rejudgeUnderLocks, type RejudgeTimer } from './timers/rejudge.ts';

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

type PendingTimer = RejudgeTimer;

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
      select: REJUDGE_SELECT,
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
      const r = await rejudgeUnderLocks(ctx, orgId, affected, {}, settings, now, ({ timer: t, location, history, state }) => {
        if (t.calendarVersion === loaded.version) return null;
        const verdict = judgeTimer(loaded, storedTimerInput(t, location, t.requestedAt.getTime(), now, history, settings), state, 'create');
        const sendAt = verdictSendAt(verdict);
        if (sendAt !== null && sendAt === t.sendAt?.getTime()) {
          result.unchanged++;
          return null;
        }
        fromVersions.add(t.calendarVersion);
        const record = decisionRecord(verdict, loaded.version, location.candidates, 'create', now);
        const data = { reason: 'calendar_change', fromVersion: t.calendarVersion, toVersion: loaded.version, from: t.sendAt?.toISOString() ?? null, to: record.sendAt, decision: record };
        return { verdict, sendAt, record, data };
      });
      result.rescheduled += r.moved.rescheduled;
      result.cancelled += r.moved.cancelled;
      result.suppressed += r.moved.suppressed;
      result.unchanged += r.lost;
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
