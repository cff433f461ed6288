/**
 * Moving many pending timers at once (journey end/expiry, consent revocation, kill switches):
 * each move is the same compare-and-set as `transition()`, and the audit entries of all the
 * moves that happened are appended in one batch (one lock of the org's chain), in the caller's
 * transaction. Callers take the contacts' locks first (lockContact), as the dispatcher does:
 * contact lock, then — through the audit append — the org's chain lock.
 */
import type { AuditInput } from '../../adapters/audit/audit-log.ts';
import type { Prisma, Timer } from '../../adapters/db/client.ts';
import type { Reason } from '../../domain/decide.ts';
import { PENDING_STATUSES, sourcesOf } from '../../domain/timer-rules.ts';
import { formatUtc } from '../../domain/time.ts';
import type { EngineContext, Tx } from './context.ts';
import { asRecord, reasonCodes, type DecisionRecord, type TransitionSpec } from './records.ts';

export type TimerRef = Pick<Timer, 'id' | 'orgId' | 'contactId' | 'journeyId' | 'campaignId'>;

export interface Move extends TransitionSpec {
  timer: TimerRef;
}

/**
 * Applies the moves (each a CAS; a timer that moved on meanwhile is skipped) and audits those
 * that happened, after the `first` entries (e.g. `journey.ended`), in one append per org.
 * Returns which moves happened.
 */
export async function transitionMany(ctx: EngineContext, tx: Tx, moves: readonly Move[], now: number, first: ReadonlyArray<{ orgId: string; entry: AuditInput }> = []): Promise<boolean[]> {
  const done: boolean[] = [];
  const entries = new Map<string, AuditInput[]>();
  for (const f of first) entries.set(f.orgId, [...(entries.get(f.orgId) ?? []), f.entry]);
  for (const m of moves) {
    const from = m.from ?? sourcesOf(m.to);
    const res = await tx.timer.updateMany({ where: { id: m.timer.id, status: { in: [...from] }, ...m.where }, data: { ...m.data, status: m.to } });
    done.push(res.count > 0);
    if (res.count === 0) continue;
    const t = m.timer;
    const list = entries.get(t.orgId) ?? [];
    list.push({ ...m.audit, createdAt: new Date(now), timerId: t.id, contactId: t.contactId, journeyId: t.journeyId, campaignId: t.campaignId });
    entries.set(t.orgId, list);
  }
  for (const orgId of [...entries.keys()].sort()) await ctx.audit.append(orgId, entries.get(orgId)!, tx);
  return done;
}

/** The decision record of a timer cancelled by an event (not by a judgement of its own instant). */
export function cancelledRecord(previous: Prisma.JsonValue, reasons: readonly Reason[], now: number): DecisionRecord {
  const prev = asRecord(previous);
  return { ...prev, decision: 'cancel', sendAt: null, windowEnd: null, reasons: [...reasons], judgedAt: formatUtc(now) };
}

/**
 * Cancel moves for pending timers (scheduled or queued, at the sendAt that was read), with the
 * reasons in their decision record and audit entry (`timer.cancelled`).
 */
export function cancelMoves(timers: ReadonlyArray<TimerRef & Pick<Timer, 'decision' | 'sendAt'>>, reasons: readonly Reason[], now: number, data: Record<string, unknown> = {}): Move[] {
  return timers.map((t) => ({
    timer: t,
    from: PENDING_STATUSES,
    where: { sendAt: t.sendAt },
    to: 'cancelled' as const,
    data: { leaseOwner: null, leaseUntil: null, decision: cancelledRecord(t.decision, reasons, now) as object, updatedAt: new Date(now) },
    audit: { action: 'timer.cancelled', decision: 'cancel', reasonCodes: reasonCodes(reasons), data: { ...data, reasons: [...reasons] } },
  }));
}

/** What to read of a pending timer to move it. */
export const MOVE_SELECT = { id: true, orgId: true, contactId: true, journeyId: true, campaignId: true, decision: true, sendAt: true } as const;
