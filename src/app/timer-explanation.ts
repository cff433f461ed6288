/**
 * The full story of one timer, for an auditor: what was asked (zip, area code only, channel,
 * purpose, policy, the requested instant), where the contact may be (candidates and their
 * sources), every rule applied with its citation (the reasons of each recorded decision), and
 * every decision and transition from the audit log in order — as data and as plain sentences.
 * Never the message body, never the full phone number (the audit log holds neither; the
 * sentences are masked once more for safety).
 */
import { z } from 'zod';
import type { Reason } from '../domain/decide.ts';
import { AppError } from '../domain/errors.ts';
import type { Candidate } from '../domain/location/resolve.ts';
import { formatLocal, parseInstant } from '../domain/time.ts';
import { maskPhonesIn } from './audit-queries.ts';
import { areaCodeOf, type EngineContext } from './timers/context.ts';
import { displayZone, type DecisionRecord } from './timers/records.ts';

const ReasonSchema = z.object({
  code: z.string(),
  rule: z.string().nullable(),
  citation: z.string().nullable(),
  jurisdiction: z.string().nullable(),
  timezone: z.string().nullable(),
  local: z.string().nullable(),
  message: z.string(),
});

export const ExplanationSchema = z.object({
  timerId: z.string(),
  status: z.string(),
  contactId: z.string(),
  journeyId: z.string().nullable(),
  campaignId: z.string().nullable(),
  inputs: z.object({
    zip: z.string().nullable(),
    areaCode: z.string().nullable(),
    channel: z.string(),
    purpose: z.string(),
    policy: z.string(),
    requestedAt: z.string(),
    notAfter: z.string().nullable(),
    subject: z.string().nullable(),
  }),
  candidates: z.array(z.object({ jurisdiction: z.string(), zone: z.string(), source: z.string() })),
  /** Every decision recorded (creation, fire-time checks, kill switches, calendar changes), in order. */
  decisions: z.array(
    z.object({
      seq: z.number().int(),
      at: z.string(),
      action: z.string(),
      phase: z.string().nullable(),
      decision: z.string(),
      sendAt: z.string().nullable(),
      localSendAt: z.string().nullable(),
      calendarVersion: z.string().nullable(),
      judgedAt: z.string().nullable(),
      reasons: z.array(ReasonSchema),
    }),
  ),
  /** Every rule applied, with its citation, in the order the decisions applied them. */
  rules: z.array(ReasonSchema.extend({ seq: z.number().int(), phase: z.string().nullable() })),
  /** Every audit entry of the timer, in chain order (details without the decision, which is above). */
  events: z.array(z.object({ seq: z.number().int(), at: z.string(), action: z.string(), decision: z.string().nullable(), reasonCodes: z.array(z.string()), details: z.record(z.string(), z.unknown()) })),
  story: z.array(z.string()),
});
export type Explanation = z.infer<typeof ExplanationSchema>;

/** Audit data fields that may be shown (everything else — the decision aside — stays in the log). */
const DETAIL_FIELDS = ['status', 'phase', 'worker', 'attempt', 'providerId', 'providerStatus', 'errorCode', 'providerCode', 'httpStatus', 'kind', 'via', 'from', 'to', 'reason', 'fromVersion', 'toVersion', 'killSwitchId', 'by', 'validitySeconds', 'windowEnd', 'note'] as const;

const CHANNEL_WORD: Record<string, string> = { sms: 'an SMS', voice: 'a voice call' };
const SOURCE_WORD: Record<string, string> = {
  zip: 'the zip',
  'zip-state-fallback': "the zip's state (its coordinates are not trusted)",
  'area-code': 'the area code',
  'area-code-presumption': 'the area code (the state presumes its area codes are in-state)',
  'unresolved-strictest': 'no location: every jurisdiction',
};

const abbreviations = new Map<string, Intl.DateTimeFormat>();
function zoneAbbreviation(ms: number, zone: string): string {
  let f = abbreviations.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'short' });
    abbreviations.set(zone, f);
  }
  return f.formatToParts(new Date(ms)).find((p) => p.type === 'timeZoneName')?.value ?? zone;
}

/** `2026-12-08 12:00 EST (America/New_York)`; with seconds for events. */
export function localLabel(ms: number, zone: string | null, seconds = false): string {
  if (!zone) return `${new Date(ms).toISOString().slice(0, seconds ? 19 : 16).replace('T', ' ')} UTC`;
  const wall = formatLocal(ms, zone).slice(0, seconds ? 19 : 16).replace('T', ' ');
  return `${wall} ${zoneAbbreviation(ms, zone)} (${zone})`;
}

function reasonSentence(r: Reason, fallbackZone: string | null): string {
  const t = r.local ? parseInstant(r.local) : undefined;
  const where = t !== undefined ? `${localLabel(t, r.timezone ?? fallbackZone)}: ` : '';
  const cited = r.rule ? `${r.rule}${r.citation ? ` (${r.citation})` : ''}` : null;
  if (r.code === 'ALLOWED') return `${where}allowed by ${cited ?? 'every applicable rule'}.`;
  if (cited) return `${where}blocked by ${cited} — ${r.code}: ${r.message}.`;
  return `${where}${r.code}: ${r.message}.`;
}

interface Entry {
  seq: number;
  action: string;
  decision: string | null;
  reasonCodes: string[];
  createdAt: Date;
  data: unknown;
}

function asObject(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function decisionOf(data: Record<string, unknown>): DecisionRecord | null {
  const d = asObject(data['decision']);
  return typeof d['decision'] === 'string' && Array.isArray(d['reasons']) ? (d as unknown as DecisionRecord) : null;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** `, found in the provider's list by body-hash+sender+time` for a lost send settled by the reconciler. */
function foundBy(data: Record<string, unknown>): string {
  return typeof data['matchedBy'] === 'string' ? `, found in the provider's list of sends by ${data['matchedBy']} after its answer was lost` : '';
}

function windowOf(data: Record<string, unknown>): string {
  const w = asObject(data['window']);
  return `${String(w['from'] ?? '?')} and ${String(w['to'] ?? '?')}`;
}

export class TimerExplanations {
  constructor(private readonly ctx: EngineContext) {}

  async explain(orgId: string, timerId: string): Promise<Explanation> {
    const t = await this.ctx.prisma.timer.findFirst({
      where: { id: timerId, orgId },
      select: {
        id: true,
        status: true,
        contactId: true,
        journeyId: true,
        campaignId: true,
        channel: true,
        purpose: true,
        policy: true,
        subject: true,
        requestedAt: true,
        notAfter: true,
        decision: true,
        contact: { select: { zip: true, phoneE164: true } },
      },
    });
    if (!t) throw new AppError('NOT_FOUND', `timer ${timerId} not found`);
    await this.ctx.audit.settle(orgId);
    const entries: Entry[] = await this.ctx.prisma.auditEntry.findMany({
      where: { orgId, timerId },
      orderBy: { seq: 'asc' },
      select: { seq: true, action: true, decision: true, reasonCodes: true, createdAt: true, data: true },
    });

    const created = entries.find((e) => e.action === 'timer.created');
    const createdData = asObject(created?.data);
    const recordedInputs = asObject(createdData['inputs']);
    const inputs = {
      zip: str(recordedInputs['zip']) ?? t.contact.zip,
      areaCode: str(recordedInputs['areaCode']) ?? areaCodeOf(t.contact.phoneE164),
      channel: str(recordedInputs['channel']) ?? t.channel,
      purpose: str(recordedInputs['purpose']) ?? t.purpose,
      policy: str(recordedInputs['policy']) ?? t.policy,
      requestedAt: str(recordedInputs['requestedAt']) ?? t.requestedAt.toISOString(),
      notAfter: str(recordedInputs['notAfter']) ?? t.notAfter?.toISOString() ?? null,
      subject: str(recordedInputs['subject']) ?? t.subject,
    };
    const firstDecision = decisionOf(createdData) ?? (t.decision as unknown as DecisionRecord | null);
    const candidates: Candidate[] = [...(firstDecision?.candidates ?? [])];
    const zone = firstDecision?.zone ?? displayZone(candidates);

    const decisions: Explanation['decisions'] = [];
    const rules: Explanation['rules'] = [];
    const events: Explanation['events'] = [];
    const story: string[] = [];

    // What was asked, and where the contact may be.
    const requested = parseInstant(inputs.requestedAt);
    story.push(
      `Requested ${CHANNEL_WORD[inputs.channel] ?? inputs.channel} (${inputs.purpose}, policy ${inputs.policy}) for ` +
        `${requested !== undefined ? `${localLabel(requested, zone)} = ${new Date(requested).toISOString()}` : inputs.requestedAt}` +
        `${inputs.notAfter ? `, not after ${inputs.notAfter}` : ''}${inputs.subject ? `, subject "${inputs.subject}"` : ''}; ` +
        `contact at zip ${inputs.zip ?? '(none)'}, area code ${inputs.areaCode ?? '(none)'}.`,
    );
    story.push(
      candidates.length
        ? `Judged in every place the contact may be: ${candidates.map((c) => `${c.jurisdiction} in ${c.zone} (from ${SOURCE_WORD[c.source] ?? c.source})`).join('; ')}.`
        : 'The contact could not be placed: no candidate jurisdiction.',
    );

    for (const e of entries) {
      const data = asObject(e.data);
      const at = e.createdAt.getTime();
      const when = localLabel(at, zone, true);
      const details: Record<string, unknown> = {};
      for (const k of DETAIL_FIELDS) if (data[k] !== undefined && data[k] !== null) details[k] = data[k];
      events.push({ seq: e.seq, at: e.createdAt.toISOString(), action: e.action, decision: e.decision, reasonCodes: e.reasonCodes, details });

      const rec = decisionOf(data);
      const explicitReasons = !rec && Array.isArray(data['reasons']) ? (data['reasons'] as Reason[]) : [];
      if (rec) {
        const sendAtMs = rec.sendAt ? parseInstant(rec.sendAt) : undefined;
        const recZone = rec.zone ?? zone;
        decisions.push({
          seq: e.seq,
          at: e.createdAt.toISOString(),
          action: e.action,
          phase: rec.phase ?? str(data['phase']),
          decision: rec.decision,
          sendAt: rec.sendAt,
          localSendAt: sendAtMs !== undefined && recZone ? formatLocal(sendAtMs, recZone) : null,
          calendarVersion: rec.calendarVersion ?? null,
          judgedAt: rec.judgedAt ?? null,
          reasons: rec.reasons,
        });
        for (const r of rec.reasons) if (r.rule) rules.push({ ...r, seq: e.seq, phase: rec.phase ?? null });
      }
      const reasons = rec ? rec.reasons : explicitReasons;
      const because = reasons.map((r) => reasonSentence(r, zone)).join(' ');
      const sendAtLabel = rec?.sendAt ? localLabel(parseInstant(rec.sendAt)!, rec.zone ?? zone) : null;
      const fromLabel = typeof data['from'] === 'string' && parseInstant(data['from']) !== undefined ? localLabel(parseInstant(data['from'])!, zone) : null;
      const why = data['phase'] === 'kill_switch' ? ` (kill switch ${String(data['killSwitchId'])})` : data['reason'] === 'calendar_change' ? ` (calendar change ${String(data['fromVersion'])} → ${String(data['toVersion'])})` : data['phase'] === 'fire' ? ' at fire time' : '';

      switch (e.action) {
        case 'timer.created': {
          const outcome =
            rec?.decision === 'send' ? `to be sent at ${sendAtLabel}` : rec?.decision === 'reschedule' ? `rescheduled to ${sendAtLabel}` : `cancelled (status ${String(data['status'] ?? 'cancelled')})`;
          story.push(`Created at ${when} under calendars ${rec?.calendarVersion ?? '(unknown)'}, judged at ${rec?.judgedAt ?? when}: ${because} Decision: ${outcome}.`);
          break;
        }
        case 'timer.claimed':
          story.push(`Claimed by dispatcher ${String(data['worker'] ?? '(unknown)')} at ${when}${data['attempt'] ? ` (attempt ${String(data['attempt'])})` : ''}, after judging again at fire time under calendars ${rec?.calendarVersion ?? '(unknown)'}: ${because}`);
          break;
        case 'timer.sent':
          if (data['via'] === 'platform-action') {
            const until = typeof data['windowEnd'] === 'string' ? parseInstant(data['windowEnd']) : undefined;
            story.push(`Triggered the platform's bot (action ${String(data['providerId'] ?? '')}) at ${when}: its endpoint answered 2xx${until !== undefined ? `; the bot may talk until ${localLabel(until, zone, true)}, when the allowed window ends` : ''}.`);
            break;
          }
          story.push(
            `Sent (${String(data['providerId'] ?? 'no provider id')}) at ${when}${data['providerStatus'] ? `, provider status ${String(data['providerStatus'])}` : ''}${data['validitySeconds'] ? `, valid at the provider for ${String(data['validitySeconds'])} s` : ''}${foundBy(data)}.`,
          );
          break;
        case 'timer.delivered':
        case 'timer.undelivered':
        case 'timer.failed': {
          const word = e.action.slice('timer.'.length);
          const err = data['errorCode'] ?? data['providerCode'];
          story.push(
            `${word[0]!.toUpperCase()}${word.slice(1)} at ${when}${data['providerId'] ? ` (${String(data['providerId'])})` : ''}${data['matchedBy'] ? foundBy(data) : data['via'] ? `, reported by ${String(data['via'])}` : ''}${err ? `, provider error ${String(err)}` : ''}.${because ? ` ${because}` : ''}`,
          );
          break;
        }
        case 'timer.rescheduled':
          story.push(`Judged again${why} at ${when}: ${because} Rescheduled${fromLabel ? ` from ${fromLabel}` : ''} to ${sendAtLabel ?? '(unknown)'}.`);
          break;
        case 'timer.cancelled':
        case 'timer.suppressed': {
          const word = e.action === 'timer.cancelled' ? 'Cancelled' : 'Suppressed';
          story.push(`${word}${why} at ${when}${data['by'] ? ` (by ${String(data['by'])})` : ''}: ${because || `${e.reasonCodes.join(', ')}.`}`);
          break;
        }
        case 'timer.send_deferred':
          story.push(`The provider could not take it at ${when} (${String(data['providerCode'] ?? data['httpStatus'] ?? data['kind'] ?? 'error')}); retried later (attempt ${String(data['attempt'] ?? '?')}).`);
          break;
        case 'timer.lease_expired':
          story.push(`The dispatcher went silent after claiming it; at ${when} its outcome became unknown (never sent again blindly).`);
          break;
        case 'timer.unknown':
          story.push(`At ${when} the provider did not answer after the request may have reached it; its outcome became unknown (never sent again blindly: the provider's callbacks or its list settle it).`);
          break;
        case 'timer.needs_review':
          story.push(`Flagged for review at ${when}: the outcome is unknown and the provider did not confirm it${typeof data['note'] === 'string' ? ` (${data['note']})` : ''}.`);
          break;
        case 'timer.requeued':
          story.push(`At ${when} the provider's list showed nothing sent to the number between ${windowOf(data)}: the lost attempt never left, so it was queued once more (and judged again when it fired).`);
          break;
        default:
          story.push(`${e.action} at ${when}${e.decision ? `: ${e.decision}` : ''}${because ? `. ${because}` : '.'}`);
      }
    }
    story.push(`Now ${t.status}.`);

    const explanation: Explanation = { timerId: t.id, status: t.status, contactId: t.contactId, journeyId: t.journeyId, campaignId: t.campaignId, inputs, candidates, decisions, rules, events, story };
    // The log never holds a full number; a provider's text quoted in it might: masked everywhere here.
    return JSON.parse(maskPhonesIn(JSON.stringify(explanation))) as Explanation;
  }
}
