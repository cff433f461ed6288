/**
 * Judging pending timers again because something outside them changed (a kill switch, a new
 * calendar version), the way the dispatcher would at fire time: under the contacts' row locks
 * (taken in id order, first), with each contact's send history and state read inside that
 * transaction, and every resulting move a compare-and-set (`transitionMany`) audited in the same
 * transaction. Moves that land inside the horizon are handed to BullMQ after the commit (the pump
 * takes them otherwise).
 *
 * The caller decides what a timer's new verdict is (`judge`); this module owns the locking, the
 * reads, the moves and the counting — shared by src/app/kill-switches.ts and
 * src/app/calendar-impact.ts.
 */
import type { Prisma } from '../../adapters/db/client.ts';
import type { HistoryEntry } from '../../domain/decide.ts';
import type { Location } from '../../domain/location/resolve.ts';
import { PENDING_STATUSES, type ContactState, type Verdict } from '../../domain/timer-rules.ts';
import { contactLocation } from '../contacts.ts';
import type { OrgSettings } from '../org-settings.ts';
import type { QueuedTimer } from '../ports.ts';
import { loadContactState, loadHistory, lockContact, type EngineContext } from './context.ts';
import { enqueueNearTerm } from './pump.ts';
import { reasonCodes, type DecisionRecord } from './records.ts';
import { transitionMany, type Move } from './transitions.ts';

/** What is read of a timer to judge it again. */
export const REJUDGE_SELECT = {
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
export type RejudgeTimer = Prisma.TimerGetPayload<{ select: typeof REJUDGE_SELECT }>;

/** What the caller makes of one timer: null leaves it as it is. */
export interface RejudgeOutcome {
  verdict: Verdict;
  /** The new send instant (rescheduled), or null (cancelled, or suppressed when the verdict says so). */
  sendAt: number | null;
  record: DecisionRecord;
  /** The audit entry's data. */
  data: Record<string, unknown>;
}

export interface RejudgeInput {
  timer: RejudgeTimer;
  location: Location;
  history: readonly HistoryEntry[];
  state: ContactState;
}

export type RejudgeKind = 'rescheduled' | 'cancelled' | 'suppressed';

export interface RejudgeResult {
  moved: Record<RejudgeKind, number>;
  /** Moves whose compare-and-set failed: the timer had moved on meanwhile. */
  lost: number;
}

/**
 * Judges again the pending timers among `ids` (of one org) that still match `where`, in one
 * transaction holding their contacts' locks, and applies what `judge` returns.
 */
export async function rejudgeUnderLocks(
  ctx: EngineContext,
  orgId: string,
  timers: ReadonlyArray<{ id: string; contactId: string }>,
  where: Prisma.TimerWhereInput,
  settings: OrgSettings,
  now: number,
  judge: (x: RejudgeInput) => RejudgeOutcome | null,
): Promise<RejudgeResult> {
  const result: RejudgeResult = { moved: { rescheduled: 0, cancelled: 0, suppressed: 0 }, lost: 0 };
  if (timers.length === 0) return result;
  const contactIds = [...new Set(timers.map((t) => t.contactId))].sort();
  const requeue: QueuedTimer[] = [];
  await ctx.prisma.$transaction(async (tx) => {
    for (const id of contactIds) await lockContact(tx, id);
    // Read again under the locks: a dispatcher may have moved some meanwhile.
    const current = await tx.timer.findMany({ where: { ...where, id: { in: timers.map((t) => t.id) }, status: { in: [...PENDING_STATUSES] } }, select: REJUDGE_SELECT, orderBy: { id: 'asc' } });
    const moves: Move[] = [];
    const kinds: RejudgeKind[] = [];
    const histories = new Map<string, HistoryEntry[]>();
    const states = new Map<string, ContactState>();
    for (const t of current) {
      const history = histories.get(t.contactId) ?? (await loadHistory(tx, t.contactId, now));
      histories.set(t.contactId, history);
      const stateKey = `${t.contactId}|${t.journeyId ?? ''}`;
      const state = states.get(stateKey) ?? (await loadContactState(tx, { orgId, contactId: t.contactId, phoneE164: t.contact.phoneE164, journeyId: t.journeyId }, settings, now, ctx.settings.federalDnc));
      states.set(stateKey, state);
      const outcome = judge({ timer: t, location: contactLocation(t.contact), history, state });
      if (!outcome) continue;
      const { record } = outcome;
      const only = { from: PENDING_STATUSES, where: { sendAt: t.sendAt } };
      const base = { decision: record as object, calendarVersion: record.calendarVersion, leaseOwner: null, leaseUntil: null, updatedAt: new Date(now) };
      const audit = { reasonCodes: reasonCodes(record.reasons), data: outcome.data };
      if (outcome.sendAt !== null) {
        moves.push({ timer: t, ...only, to: 'scheduled', data: { ...base, sendAt: new Date(outcome.sendAt) }, audit: { action: 'timer.rescheduled', decision: 'reschedule', ...audit } });
        kinds.push('rescheduled');
      } else {
        const to = outcome.verdict.kind === 'suppress' ? ('suppressed' as const) : ('cancelled' as const);
        moves.push({ timer: t, ...only, to, data: base, audit: { action: `timer.${to}`, decision: 'cancel', ...audit } });
        kinds.push(to);
      }
    }
    const done = await transitionMany(ctx, tx, moves, now);
    done.forEach((ok, i) => {
      if (!ok) {
        result.lost++;
        return;
      }
      result.moved[kinds[i]!]++;
      const m = moves[i]!;
      const at = m.to === 'scheduled' ? (m.data?.sendAt as Date).getTime() : null;
      if (at !== null && at <= now + ctx.settings.horizonMs) requeue.push({ timerId: m.timer.id, sendAt: at });
    });
  }, { timeout: 120_000, maxWait: 10_000 });
  if (requeue.length) {
    await enqueueNearTerm(ctx, requeue, now).catch((err: Error) => ctx.log.warn({ orgId, err: err.message }, 'enqueue after judging pending timers again failed; the pump will retry'));
  }
  return result;
}
