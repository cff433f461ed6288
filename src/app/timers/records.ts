/**
 * How timers are stored and shown: the decision record kept on each timer (and in its audit
 * entries), the API view, and conditional status changes that write their audit entry in the
 * same transaction.
 */
import type { Prisma, Timer } from '../../adapters/db/client.ts';
import type { Candidate } from '../../domain/location/resolve.ts';
import type { Decision, Reason } from '../../domain/decide.ts';
import type { FederalDncCheck } from '../../domain/federal-dnc.ts';
import type { ReassignedCheck } from '../../domain/reassigned.ts';
import type { Verdict, TimerStatus } from '../../domain/timer-rules.ts';
import { sourcesOf } from '../../domain/timer-rules.ts';
import { formatLocal, formatUtc } from '../../domain/time.ts';
import type { AuditInput } from '../../adapters/audit/audit-log.ts';
import type { EngineContext, Tx } from './context.ts';
import type { TimerView } from './schemas.ts';

/** What a timer remembers of its latest judgement. */
export interface DecisionRecord {
  decision: 'send' | 'reschedule' | 'cancel';
  sendAt: string | null;
  /** When the allowed stretch starting at sendAt closes. */
  windowEnd: string | null;
  reasons: Reason[];
  calendarVersion: string;
  candidates: Candidate[];
  /** The zone used to show local times (the zip's, else the first candidate's). */
  zone: string | null;
  phase: 'create' | 'fire';
  judgedAt: string;
  /** The National Do-Not-Call Registry check: the copy used and its outcome (absent: not checked, FEDERAL_DNC=off, or the contact's state decided first). */
  federalDnc?: FederalDncCheck;
  /** The Reassigned Numbers Database check (absent: not asked): the date, the answer, the safe harbor. */
  reassigned?: ReassignedCheck;
}

export function displayZone(candidates: readonly Candidate[]): string | null {
  return candidates.find((c) => c.source === 'zip')?.zone ?? candidates[0]?.zone ?? null;
}

export function decisionRecord(verdict: Verdict, calendarVersion: string, fallbackCandidates: readonly Candidate[], phase: 'create' | 'fire', now: number): DecisionRecord {
  const d: Decision | null = verdict.kind === 'suppress' ? null : verdict.decision;
  const candidates = [...(d?.candidates.length ? d.candidates : fallbackCandidates)];
  const kind = verdict.kind === 'send' ? 'send' : verdict.kind === 'reschedule' ? 'reschedule' : 'cancel';
  const sendAt = verdict.kind === 'send' || verdict.kind === 'reschedule' ? verdict.sendAt : null;
  const windowEnd = verdict.kind === 'send' ? verdict.windowEnd : verdict.kind === 'reschedule' ? verdict.decision.windowEnd : null;
  return {
    decision: kind,
    sendAt: sendAt === null ? null : formatUtc(sendAt),
    windowEnd: windowEnd === null ? null : formatUtc(windowEnd),
    reasons: [...(verdict.kind === 'cancel' || verdict.kind === 'suppress' ? verdict.reasons : verdict.decision.reasons)],
    calendarVersion: d?.calendarVersion ?? calendarVersion,
    candidates,
    zone: displayZone(candidates),
    phase,
    judgedAt: formatUtc(now),
    ...(verdict.federalDnc ? { federalDnc: verdict.federalDnc } : {}),
    ...(verdict.reassigned ? { reassigned: verdict.reassigned } : {}),
  };
}

export function asRecord(json: Prisma.JsonValue): DecisionRecord {
  return json as unknown as DecisionRecord;
}

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

export function timerView(t: Timer): TimerView {
  const rec = asRecord(t.decision);
  return {
    id: t.id,
    status: t.status,
    channel: t.channel,
    purpose: t.purpose,
    policy: t.policy,
    contactId: t.contactId,
    journeyId: t.journeyId,
    subject: t.subject,
    requestedAt: t.requestedAt.toISOString(),
    decision: rec.decision,
    sendAt: iso(t.sendAt),
    localSendAt: t.sendAt && rec.zone ? formatLocal(t.sendAt.getTime(), rec.zone) : null,
    notAfter: iso(t.notAfter),
    reasons: rec.reasons,
    calendarVersion: t.calendarVersion,
    segments: t.segments,
    federalDnc: rec.federalDnc ?? null,
    reassigned: rec.reassigned ?? null,
    attempts: t.attempts,
    providerId: t.providerId,
    sentAt: iso(t.sentAt),
    lastError: t.lastError,
    createdAt: t.createdAt.toISOString(),
    updatedAt: t.updatedAt.toISOString(),
  };
}

export interface TransitionSpec {
  /** Only from these statuses (default: every status that may reach `to`). */
  from?: readonly TimerStatus[];
  to: TimerStatus;
  /** Extra conditions (e.g. the job's sendAt, the lease owner). */
  where?: Prisma.TimerWhereInput;
  data?: Omit<Prisma.TimerUpdateManyMutationInput, 'status'>;
  audit: Omit<AuditInput, 'createdAt' | 'timerId' | 'contactId' | 'journeyId' | 'campaignId'>;
  /**
   * Stage the audit entry instead of appending it (no chain lock in this transaction: the hot
   * paths). The caller calls `linkStaged` once the transaction has committed.
   */
  stage?: boolean;
}

/**
 * Moves one timer to `spec.to` if (and only if) it is still in an allowed status — a compare-
 * and-set, so two processes can never both make the same move — and appends the audit entry in
 * the same transaction. Returns false (writing nothing) when the timer had moved on.
 */
export async function transition(ctx: EngineContext, tx: Tx, t: Pick<Timer, 'id' | 'orgId' | 'contactId' | 'journeyId' | 'campaignId'>, spec: TransitionSpec, now: number): Promise<boolean> {
  const from = spec.from ?? sourcesOf(spec.to);
  const res = await tx.timer.updateMany({
    where: { id: t.id, status: { in: [...from] }, ...spec.where },
    data: { ...spec.data, status: spec.to },
  });
  if (res.count === 0) return false;
  const entry = { ...spec.audit, createdAt: new Date(now), timerId: t.id, contactId: t.contactId, journeyId: t.journeyId, campaignId: t.campaignId };
  if (spec.stage) await ctx.audit.stage(t.orgId, [entry], tx);
  else await ctx.audit.append(t.orgId, [entry], tx);
  return true;
}

/**
 * Links the org's staged audit entries into its chain (after a transaction that staged some has
 * committed). Never throws: entries it cannot link now are linked by the next pass or the reconciler.
 */
export async function linkStaged(ctx: EngineContext, orgId: string): Promise<void> {
  await ctx.audit.link(orgId).catch((err: Error) => ctx.log.warn({ orgId, err: err.message }, 'linking staged audit entries failed; the reconciler will link them'));
}

/** How long the hot paths let staged entries gather before a link pass (one pass for many batches). */
export const HOT_LINK_DELAY_MS = 50;

/** `linkStaged` for the hot paths (dispatch, status callbacks): soon, once for every batch committed meanwhile. */
export function linkStagedSoon(ctx: EngineContext, orgId: string): void {
  ctx.audit.linkSoon(orgId, HOT_LINK_DELAY_MS, (err) => ctx.log.warn({ orgId, err: (err as Error).message }, 'linking staged audit entries failed; the reconciler will link them'));
}

export function reasonCodes(reasons: readonly Reason[]): string[] {
  return [...new Set(reasons.map((r) => r.code))];
}
