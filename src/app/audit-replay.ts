/**
 * Replay: judge recorded decisions again under another calendar version. For each selected timer
 * its `timer.created` audit entry gives the inputs (zip, area code, channel, purpose, policy,
 * requested instant, notAfter, subject, a campaign's local window) and the decision as recorded (candidates, judgedAt,
 * reasons, calendar version). The replay runs the same judgement — judgeTimer, phase `create`,
 * `now` = the recorded judgedAt, the recorded candidates, the org's calendar as it is now, an
 * empty contact state and no send history — under the calendar version in force at `asOf` (the
 * latest calendar_versions row first seen at or before it; default: the loaded set), and reports
 * where the decision, the send instant or the reason codes differ.
 *
 * A recorded decision that turned on the contact's state (suppression, consent, journey, caps
 * counted from earlier sends, kill switches) cannot be reproduced from the log alone: such timers
 * are reported as skipped, with the code, rather than as false differences.
 */
import type pg from 'pg';
import { z } from 'zod';
import { pgPoolOf } from '../adapters/db/client.ts';
import type { CalendarSet } from '../domain/calendar/compile.ts';
import type { Channel, Purpose } from '../domain/calendar/schema.ts';
import type { Policy } from '../domain/decide.ts';
import { AppError } from '../domain/errors.ts';
import { withCandidates, type Candidate, type Location } from '../domain/location/resolve.ts';
import { judgeTimer } from '../domain/timer-rules.ts';
import { parseInstant } from '../domain/time.ts';
import { CalendarVersions } from './calendar-versions.ts';
import { loadOrgSettings } from './org-settings.ts';
import type { EngineContext } from './timers/context.ts';
import { decisionRecord, reasonCodes, type DecisionRecord } from './timers/records.ts';

const Instant = z.string().min(1).max(40).refine((v) => parseInstant(v) !== undefined, 'ISO-8601 instant with Z or an offset');

export const ReplayBody = z
  .object({
    campaignId: z.uuid().optional().describe("The campaign's timers"),
    timerIds: z.array(z.uuid()).min(1).max(10_000).optional(),
    range: z.object({ from: Instant, to: Instant }).strict().optional().describe('Timers created in [from, to)'),
    asOf: Instant.optional().describe('Replay under the calendar version in force at this instant (default: the loaded calendars)'),
    limit: z.number().int().min(1).max(100_000).default(10_000).describe('Campaign or range: timers per call (then `nextCursor`)'),
    cursor: z.string().max(64).optional().describe('`nextCursor` of the previous call'),
  })
  .strict()
  .superRefine((b, ctx) => {
    const given = [b.campaignId, b.timerIds, b.range].filter((v) => v !== undefined).length;
    if (given !== 1) ctx.addIssue({ code: 'custom', path: ['campaignId'], message: 'give exactly one of campaignId, timerIds or range' });
    if (b.range) {
      const from = parseInstant(b.range.from);
      const to = parseInstant(b.range.to);
      if (from !== undefined && to !== undefined && from >= to) ctx.addIssue({ code: 'custom', path: ['range', 'to'], message: 'must be after from' });
    }
  });
export type ReplayInput = z.infer<typeof ReplayBody>;

const Outcome = z.object({ decision: z.string(), sendAt: z.string().nullable(), reasonCodes: z.array(z.string()), calendarVersion: z.string().nullable() });
export const ReplayResultSchema = z.object({
  asOf: z.string().nullable(),
  calendarVersion: z.string().describe('The version replayed under'),
  compared: z.number().int(),
  changed: z.number().int(),
  unchanged: z.number().int(),
  skipped: z.number().int(),
  differences: z.array(z.object({ timerId: z.string(), recorded: Outcome, replayed: Outcome })),
  skippedTimers: z.array(z.object({ timerId: z.string(), reason: z.string() })),
  nextCursor: z.string().nullable(),
});
export type ReplayResult = z.infer<typeof ReplayResultSchema>;
type ReplayOutcome = z.infer<typeof Outcome>;

/** Reason codes that come from the contact's state or history, not from the calendars. */
const STATE_CODES = new Set(['SUPPRESSED', 'NO_CONSENT', 'JOURNEY_ENDED', 'JOURNEY_EXPIRED', 'FREQUENCY_CAP', 'ORG_FREQUENCY_CAP', 'BLACKOUT', 'FEDERAL_DNC', 'DNC_DATA_STALE', 'REASSIGNED_NUMBER']);
/** Skipped timers listed in one answer (all are counted). */
const SKIPPED_LISTED = 1000;
const ID_CHUNK = 1000;

interface Recorded {
  timerId: string;
  data: string;
}

/** A location from recorded candidates (none: the contact could not be placed). */
export function locationFromCandidates(candidates: readonly Candidate[], zip: string | null): Location {
  const base: Location = { key: '', zones: [], candidates: [], resolved: false, issues: [], ...(zip ? { zip } : {}) };
  if (candidates.length === 0) return { ...base, issues: [{ code: 'NO_LOCATION', message: 'the recorded decision had no candidate location' }] };
  return withCandidates(base, candidates);
}

function outcomeOf(rec: Pick<DecisionRecord, 'decision' | 'sendAt' | 'reasons' | 'calendarVersion'>): ReplayOutcome {
  return { decision: rec.decision, sendAt: rec.sendAt, reasonCodes: reasonCodes(rec.reasons).sort(), calendarVersion: rec.calendarVersion ?? null };
}

const sameOutcome = (a: ReplayOutcome, b: ReplayOutcome) => a.decision === b.decision && a.sendAt === b.sendAt && a.reasonCodes.join(',') === b.reasonCodes.join(',');

export class AuditReplay {
  constructor(private readonly ctx: EngineContext) {}

  private pool(): pg.Pool {
    const pool = this.ctx.audit.pool ?? pgPoolOf(this.ctx.prisma);
    if (!pool) throw new Error('replay needs the pg pool of a client made by createPrisma');
    return pool;
  }

  async replay(orgId: string, input: ReplayInput): Promise<ReplayResult> {
    await this.ctx.audit.settle(orgId);
    const versions = new CalendarVersions(this.ctx);
    const asOf = input.asOf === undefined ? undefined : parseInstant(input.asOf)!;
    const set = asOf === undefined ? versions.loaded : (await versions.inForceAt(asOf)).set;
    const { recorded, missing, nextCursor } = await this.select(orgId, input);
    const settings = await loadOrgSettings(this.ctx.prisma, orgId, this.ctx.clock.now());

    const result: ReplayResult = {
      asOf: asOf === undefined ? null : new Date(asOf).toISOString(),
      calendarVersion: set.version,
      compared: 0,
      changed: 0,
      unchanged: 0,
      skipped: 0,
      differences: [],
      skippedTimers: [],
      nextCursor,
    };
    const skip = (timerId: string, reason: string) => {
      result.skipped++;
      if (result.skippedTimers.length < SKIPPED_LISTED) result.skippedTimers.push({ timerId, reason });
    };
    for (const id of missing) skip(id, 'no timer.created entry for this timer in the org');
    for (const r of recorded) {
      const one = replayOne(set, r.data, settings.calendar);
      if ('skip' in one) {
        skip(r.timerId, one.skip);
        continue;
      }
      result.compared++;
      if (sameOutcome(one.recorded, one.replayed)) result.unchanged++;
      else {
        result.changed++;
        result.differences.push({ timerId: r.timerId, recorded: one.recorded, replayed: one.replayed });
      }
    }
    return result;
  }

  /** The `timer.created` entries of the selection (data as text), the ids without one, and the cursor of the next call. */
  private async select(orgId: string, input: ReplayInput): Promise<{ recorded: Recorded[]; missing: string[]; nextCursor: string | null }> {
    const pool = this.pool();
    const byIds = async (ids: string[]): Promise<Recorded[]> => {
      const out: Recorded[] = [];
      for (let i = 0; i < ids.length; i += ID_CHUNK) {
        const r = await pool.query<Recorded>(
          `SELECT DISTINCT ON (timer_id) timer_id::text AS "timerId", data::text AS data FROM audit_entries
            WHERE org_id = $1::uuid AND timer_id = ANY($2::uuid[]) AND action = 'timer.created' ORDER BY timer_id, seq`,
          [orgId, ids.slice(i, i + ID_CHUNK)],
        );
        out.push(...r.rows);
      }
      return out;
    };
    if (input.timerIds) {
      const ids = [...new Set(input.timerIds.map((id) => id.toLowerCase()))];
      const recorded = await byIds(ids);
      const found = new Set(recorded.map((r) => r.timerId));
      return { recorded, missing: ids.filter((id) => !found.has(id)), nextCursor: null };
    }
    if (input.campaignId) {
      const after = input.cursor === undefined ? '00000000-0000-0000-0000-000000000000' : decodeCursor(input.cursor, 't');
      const timers = await pool.query<{ id: string }>(
        'SELECT id::text AS id FROM timers WHERE org_id = $1::uuid AND campaign_id = $2::uuid AND id > $3::uuid ORDER BY id LIMIT $4',
        [orgId, input.campaignId, after, input.limit],
      );
      const ids = timers.rows.map((r) => r.id);
      const recorded = await byIds(ids);
      const found = new Set(recorded.map((r) => r.timerId));
      const last = ids[ids.length - 1];
      return { recorded, missing: ids.filter((id) => !found.has(id)), nextCursor: ids.length === input.limit && last ? `t:${last}` : null };
    }
    const range = input.range!;
    const after = input.cursor === undefined ? 0 : Number(decodeCursor(input.cursor, 's'));
    const r = await pool.query<Recorded & { seq: number }>(
      `SELECT seq, timer_id::text AS "timerId", data::text AS data FROM audit_entries
        WHERE org_id = $1::uuid AND action = 'timer.created' AND timer_id IS NOT NULL AND created_at >= $2::timestamptz AND created_at < $3::timestamptz AND seq > $4
        ORDER BY seq LIMIT $5`,
      [orgId, new Date(parseInstant(range.from)!).toISOString(), new Date(parseInstant(range.to)!).toISOString(), after, input.limit],
    );
    const last = r.rows[r.rows.length - 1];
    return { recorded: r.rows, missing: [], nextCursor: r.rows.length === input.limit && last ? `s:${last.seq}` : null };
  }
}

function decodeCursor(cursor: string, kind: 't' | 's'): string {
  const m = /^([ts]):(.+)$/.exec(cursor);
  const ok = m && m[1] === kind && (kind === 's' ? /^\d{1,12}$/.test(m[2]!) : /^[0-9a-f-]{36}$/i.test(m[2]!));
  if (!ok) throw new AppError('INVALID_ARGUMENT', 'cursor is not valid for this selection', [{ path: 'body.cursor', message: 'use nextCursor from the previous call with the same selection' }]);
  return m[2]!;
}

/** A campaign's per-request local window, as recorded in its timers' inputs. */
function isWindow(v: unknown): v is { start: string; end: string } {
  return !!v && typeof v === 'object' && typeof (v as { start?: unknown }).start === 'string' && typeof (v as { end?: unknown }).end === 'string';
}

/** Judges one recorded creation again under `set`. */
export function replayOne(set: CalendarSet, dataText: string, orgCalendar: Parameters<typeof judgeTimer>[1]['orgCalendar']): { recorded: ReplayOutcome; replayed: ReplayOutcome } | { skip: string } {
  let data: { inputs?: Record<string, unknown>; decision?: DecisionRecord };
  try {
    data = JSON.parse(dataText) as typeof data;
  } catch {
    return { skip: 'the recorded entry is not JSON' };
  }
  const inputs = data.inputs;
  const rec = data.decision;
  if (!inputs || !rec || !Array.isArray(rec.reasons)) return { skip: 'the entry does not hold the recorded inputs and decision' };
  const stateCode = rec.reasons.find((r) => STATE_CODES.has(r.code))?.code;
  if (stateCode) return { skip: `the recorded decision depended on the contact's state or history (${stateCode})` };
  const at = typeof inputs['requestedAt'] === 'string' ? parseInstant(inputs['requestedAt']) : undefined;
  const now = typeof rec.judgedAt === 'string' ? parseInstant(rec.judgedAt) : undefined;
  if (at === undefined || now === undefined) return { skip: 'the recorded requested instant or judgement time is missing' };
  const notAfter = typeof inputs['notAfter'] === 'string' ? parseInstant(inputs['notAfter']) : undefined;
  const zip = typeof inputs['zip'] === 'string' ? inputs['zip'] : null;
  const location = locationFromCandidates(rec.candidates ?? [], zip);
  const verdict = judgeTimer(
    set,
    {
      location,
      channel: inputs['channel'] as Channel,
      purpose: inputs['purpose'] as Purpose,
      at,
      now,
      policy: inputs['policy'] as Policy,
      ...(notAfter === undefined ? {} : { notAfter }),
      ...(typeof inputs['subject'] === 'string' ? { subject: inputs['subject'] } : {}),
      ...(isWindow(inputs['window']) ? { window: inputs['window'] } : {}),
      ...(orgCalendar ? { orgCalendar } : {}),
      history: [],
    },
    { suppressions: [], journey: null },
    'create',
  );
  const replayed = decisionRecord(verdict, set.version, location.candidates, 'create', now);
  return { recorded: outcomeOf(rec), replayed: outcomeOf(replayed) };
}
