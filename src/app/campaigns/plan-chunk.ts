/**
 * Planning one chunk of a campaign (the `campaign.plan_chunk` job), in ONE transaction:
 *
 *   lock the chunk row (FOR UPDATE; a done chunk is skipped)
 *   → place every row once (zip → zones, area code; the requested instant in the zip's zone)
 *   → contacts: upsert in bulk (sorted by number: one lock order for every writer; externalIds
 *     held by another number are bad rows, CONFLICT)
 *   → the contacts' state and history in bulk (suppressions, consent, kill switches, caps)
 *   → judgeTimer per row (the org settings, the campaign's window and notAfter)
 *   → timers in one INSERT … ON CONFLICT (campaign_id, campaign_row) DO NOTHING RETURNING
 *   → the campaign's lock (advisory, per campaign) and its status: not `planning` any more
 *     (cancelled) → the whole chunk rolls back and is marked skipped
 *   → the chunk done with its stats, the campaign's progress, and when it was the last chunk the
 *     campaign `planned` with the sum of the chunks' stats
 *   → the audit entries of the newly inserted timers (`timer.created` with campaignId) in one
 *     append, last, so the org's chain lock is held only to the commit.
 *
 * A crash anywhere before the commit leaves nothing; the retried job (BullMQ, or a stalled job
 * picked up by another planner) plans the chunk again from scratch. The unique (campaign_id,
 * campaign_row) index makes a duplicate timer impossible even if a chunk were planned twice, and
 * only rows whose timer was inserted now are audited. Near-term timers go to the queue after the
 * commit (best effort: the pump takes any that are left `scheduled`).
 *
 * A preview runs the very same code path with `preview: true`: contacts are looked up instead of
 * upserted, and no timer, audit entry or job is written — only the chunk's stats.
 */
import { randomUUID } from 'node:crypto';
import type { Campaign } from '../../adapters/db/client.ts';
import type { Channel, Purpose } from '../../domain/calendar/schema.ts';
import type { DecideInput, Policy } from '../../domain/decide.ts';
import { resolveLocation, type Location } from '../../domain/location/resolve.ts';
import { consentBlock, judgeTimer, type Verdict } from '../../domain/timer-rules.ts';
import { formatUtc, parseLocalWallTime } from '../../domain/time.ts';
import type { AuditInput } from '../../adapters/audit/audit-log.ts';
import { loadOrgSettings } from '../org-settings.ts';
import type { QueuedTimer } from '../ports.ts';
import { areaCodeOf, phoneHash, type EngineContext, type Tx } from '../timers/context.ts';
import { enqueueNearTerm } from '../timers/pump.ts';
import { asRecord, decisionRecord, displayZone, reasonCodes, type DecisionRecord } from '../timers/records.ts';
import type { AudienceRow, RowError } from './audience.ts';
import { loadContactStates } from './bulk-state.ts';
import { timerSegments } from '../../domain/sms-segments.ts';
import { addOutcome, emptyStats, sumChunkResults, type CampaignStats, type RowOutcome } from './stats.ts';

/** Advisory lock class of a campaign's lock (with hashtext(campaign id)): chunk ends, cancel and failure take it. */
export const CAMPAIGN_LOCK_CLASS = 0x7ca1;
/** Zone of the requested local time for a contact that could not be placed (its timer is cancelled anyway). */
const FALLBACK_ZONE = 'America/New_York';

/** What a chunk stores as its `result`. `stats` is the same for a preview and a real plan. */
export interface ChunkResult {
  stats: CampaignStats;
  /** Real plans: timers inserted by this run (the others existed already). */
  inserted?: number;
  /** Real plans: near-term timers handed to the queue after the commit. */
  nearTerm?: number;
}

export type PlanChunkOutcome =
  | { kind: 'planned'; stats: CampaignStats; inserted: number; nearTerm: number; last: boolean }
  | { kind: 'previewed'; stats: CampaignStats; last: boolean }
  | { kind: 'already-done' }
  | { kind: 'skipped' }
  | { kind: 'missing' };

/** Thrown inside the chunk's transaction when the campaign stopped meanwhile: everything rolls back. */
class CampaignStopped extends Error {}

/** The campaign as the planner reads it. */
export interface PlanSpec {
  campaignId: string;
  orgId: string;
  channel: Channel;
  purpose: Purpose;
  policy: Policy;
  subject: string | null;
  sendAtLocal: string | null;
  sendAtInstant: number | null;
  window: { start: string; end: string } | null;
  notAfter: number | null;
  payloadJson: string;
  /** SMS segments of the campaign's message (the same for every timer); null for calls. */
  segments: number | null;
  preview: boolean;
}

export function specOf(c: Campaign): PlanSpec {
  return {
    campaignId: c.id,
    orgId: c.orgId,
    channel: c.channel as Channel,
    purpose: c.purpose as Purpose,
    policy: c.policy as Policy,
    subject: c.subject,
    sendAtLocal: c.sendAtLocal,
    sendAtInstant: c.sendAtInstant?.getTime() ?? null,
    window: (c.window as { start: string; end: string } | null) ?? null,
    notAfter: c.notAfter?.getTime() ?? null,
    payloadJson: JSON.stringify(c.payload),
    segments: timerSegments(c.channel as Channel, c.payload),
    preview: c.preview,
  };
}

/** Takes the campaign's lock for the rest of the transaction. */
export async function lockCampaign(tx: Tx, campaignId: string): Promise<void> {
  await tx.$queryRaw`SELECT 1 AS ok FROM (SELECT pg_advisory_xact_lock(${CAMPAIGN_LOCK_CLASS}::int, hashtext(${campaignId}))) AS l`;
}

interface Placed {
  row: AudienceRow;
  location: Location;
  /** The zone local times are shown in (the zip's), or null when unplaced. */
  zone: string | null;
  /** The requested instant: the campaign's instant, or its local wall time in `zone`. */
  at: number;
}

interface Judged {
  status: 'scheduled' | 'cancelled' | 'suppressed';
  sendAt: number | null;
  record: DecisionRecord;
  recordJson: string;
  codes: string[];
  outcome: RowOutcome;
}

function statusOf(v: Verdict): Judged['status'] {
  return v.kind === 'suppress' ? 'suppressed' : v.kind === 'cancel' ? 'cancelled' : 'scheduled';
}

function judged(verdict: Verdict, record: DecisionRecord): Judged {
  const status = statusOf(verdict);
  const sendAt = verdict.kind === 'send' || verdict.kind === 'reschedule' ? verdict.sendAt : null;
  const codes = reasonCodes(record.reasons);
  return {
    status,
    sendAt,
    record,
    recordJson: JSON.stringify(record),
    codes,
    outcome: { decision: verdict.kind, status, reasonCodes: codes, sendAt, zone: record.zone },
  };
}

/** A stored timer's contribution (a row planned by an earlier run). */
function storedOutcome(status: string, decision: unknown): RowOutcome {
  const rec = asRecord(decision as never);
  const st = status === 'suppressed' ? 'suppressed' : status === 'cancelled' ? 'cancelled' : 'scheduled';
  const sendAt = st === 'scheduled' && rec.sendAt ? Date.parse(rec.sendAt) : null;
  return { decision: st === 'suppressed' ? 'suppress' : rec.decision, status: st, reasonCodes: reasonCodes(rec.reasons), sendAt, zone: rec.zone };
}

function requestedAt(spec: PlanSpec, zone: string | null, cache: Map<string, number>): number {
  if (spec.sendAtInstant !== null) return spec.sendAtInstant;
  const z = zone ?? FALLBACK_ZONE;
  let at = cache.get(z);
  if (at === undefined) {
    at = parseLocalWallTime(spec.sendAtLocal!, z);
    if (at === undefined) throw new Error(`campaign ${spec.campaignId}: bad local send time ${spec.sendAtLocal}`);
    cache.set(z, at);
  }
  return at;
}

/** Marks a chunk done without planning it (its campaign was cancelled or failed). */
export async function markChunkSkipped(ctx: EngineContext, campaignId: string, seq: number): Promise<void> {
  await ctx.prisma.$executeRaw`
    UPDATE campaign_chunks SET done = true, result = ${JSON.stringify({ skipped: true })}::jsonb, done_at = ${new Date(ctx.clock.now())}
    WHERE campaign_id = ${campaignId}::uuid AND seq = ${seq} AND NOT done`;
}

export async function planChunk(ctx: EngineContext, campaignId: string, seq: number): Promise<PlanChunkOutcome> {
  const now = ctx.clock.now();
  const campaign = await ctx.prisma.campaign.findUnique({ where: { id: campaignId } });
  if (!campaign) return { kind: 'missing' };
  if (campaign.status !== 'planning') {
    if (campaign.status === 'cancelled' || campaign.status === 'failed') await markChunkSkipped(ctx, campaignId, seq);
    return { kind: campaign.status === 'planned' ? 'already-done' : 'skipped' };
  }
  const spec = specOf(campaign);
  const settings = await loadOrgSettings(ctx.prisma, spec.orgId, now);
  const set = ctx.calendars();
  let nearTerm: QueuedTimer[] = [];

  let out: PlanChunkOutcome;
  try {
    out = await ctx.prisma.$transaction(
      async (tx): Promise<PlanChunkOutcome> => {
        const locked = await tx.$queryRaw<Array<{ rows: unknown; done: boolean }>>`
          SELECT rows, done FROM campaign_chunks WHERE campaign_id = ${campaignId}::uuid AND seq = ${seq} FOR UPDATE`;
        const chunk = locked[0];
        if (!chunk) return { kind: 'missing' };
        if (chunk.done) return { kind: 'already-done' };
        const rows = (typeof chunk.rows === 'string' ? JSON.parse(chunk.rows) : chunk.rows) as AudienceRow[];

        // 1. Place every row once; the requested instant in the zip's zone.
        const atCache = new Map<string, number>();
        const placed: Placed[] = rows.map((row) => {
          const location = resolveLocation({ phone: row.phone, ...(row.zip ? { zip: row.zip } : {}) });
          const zone = displayZone(location.candidates);
          return { row, location, zone, at: requestedAt(spec, zone, atCache) };
        });

        // 2. Contacts. An externalId already held by another number is a bad row (as for a timer's contact).
        const errors: RowError[] = [];
        const externalIds = placed.flatMap((p) => (p.row.externalId ? [p.row.externalId] : []));
        const owners = new Map<string, string>();
        if (externalIds.length) {
          const found = await tx.$queryRaw<Array<{ externalId: string; phone: string }>>`
            SELECT external_id AS "externalId", phone_e164 AS phone FROM contacts WHERE org_id = ${spec.orgId}::uuid AND external_id = ANY(${externalIds}::text[])`;
          for (const f of found) owners.set(f.externalId, f.phone);
        }
        const ok = placed.filter((p) => {
          const owner = p.row.externalId === undefined ? undefined : owners.get(p.row.externalId);
          if (owner === undefined || owner === p.row.phone) return true;
          errors.push({ line: p.row.line, code: 'CONFLICT', message: `externalId "${p.row.externalId}" already belongs to a contact with another phone number` });
          return false;
        });
        const contactIds = spec.preview ? await findContacts(tx, spec.orgId, ok) : await upsertContacts(tx, spec.orgId, ok);

        // 3. State in bulk, 4. judge. Rows with no state of their own (no history, no suppression,
        // consent not blocking) share their judgement with every row of the same place and instant.
        const states = await loadContactStates(tx, spec.orgId, ok.map((p) => ({ contactId: contactIds.get(p.row.phone) ?? null, phoneE164: p.row.phone })), settings, now, ctx.settings.federalDnc);
        const memo = new Map<string, Judged>();
        const results: Judged[] = ok.map((p, k) => {
          const { state, history } = states[k]!;
          const plain = history.length === 0 && state.suppressions.length === 0 && consentBlock(state.consent, spec.channel, spec.purpose, now) === null && !state.federalDnc?.listedSince;
          const loc = p.location;
          const key = plain ? `${loc.key}|${loc.zip ?? ''}|${loc.state ?? ''}|${loc.resolved ? '' : loc.issues.map((i) => i.message).join(';')}|${p.at}|${state.federalDnc?.copy?.id ?? '-'}` : undefined;
          const hit = key === undefined ? undefined : memo.get(key);
          if (hit) return hit;
          const input: DecideInput = {
            location: loc,
            channel: spec.channel,
            purpose: spec.purpose,
            at: p.at,
            now,
            policy: spec.policy,
            ...(spec.notAfter === null ? {} : { notAfter: spec.notAfter }),
            ...(spec.subject ? { subject: spec.subject } : {}),
            ...(settings.calendar ? { orgCalendar: settings.calendar } : {}),
            ...(spec.window ? { window: spec.window } : {}),
            history,
          };
          const verdict = judgeTimer(set, input, state, 'create');
          const j = judged(verdict, decisionRecord(verdict, set.version, loc.candidates, 'create', now));
          if (key !== undefined) memo.set(key, j);
          return j;
        });

        if (!spec.preview && ctx.metrics) for (const j of results) ctx.metrics.decision('create', j.record.decision, j.record.reasons[0]?.code);

        // 5. Timers (real plans): one statement; rows planned before are left as they are.
        const stats = emptyStats();
        stats.errors = errors.length;
        const timerIds = ok.map(() => randomUUID());
        let inserted = new Set<number>();
        if (!spec.preview && ok.length) {
          // Rows of one place and instant share their judgement (the memo above): each distinct
          // decision record is sent and parsed once, as one JSON array, and each row names its own.
          const recordIndex = new Map<Judged, number>();
          const records: string[] = [];
          const recordOf = results.map((j) => {
            let k = recordIndex.get(j);
            if (k === undefined) {
              recordIndex.set(j, (k = records.length));
              records.push(j.recordJson);
            }
            return k;
          });
          const back = await tx.$queryRaw<Array<{ row: number }>>`
            INSERT INTO timers (id, org_id, contact_id, campaign_id, campaign_row, channel, purpose, policy, subject, requested_at, send_at, not_after,
                                status, payload, segments, calendar_version, decision, created_at, updated_at)
            SELECT x.id, ${spec.orgId}::uuid, x.contact_id, ${campaignId}::uuid, x.row, ${spec.channel}::channel, ${spec.purpose}::purpose, ${spec.policy}::policy,
                   ${spec.subject}, x.requested_at::timestamptz, x.send_at::timestamptz, ${spec.notAfter === null ? null : new Date(spec.notAfter)}::timestamptz,
                   x.status::timer_status, ${spec.payloadJson}::jsonb, ${spec.segments}::smallint, x.calendar_version, ${`[${records.join(',')}]`}::jsonb -> x.decision, now(), now()
            FROM unnest(${timerIds}::uuid[], ${ok.map((p) => contactIds.get(p.row.phone)!)}::uuid[], ${ok.map((p) => p.row.i)}::int[],
                        ${ok.map((p) => new Date(p.at).toISOString())}::text[], ${results.map((j) => (j.sendAt === null ? null : new Date(j.sendAt).toISOString()))}::text[],
                        ${results.map((j) => j.status)}::text[], ${results.map((j) => j.record.calendarVersion)}::text[], ${recordOf}::int[])
              AS x(id, contact_id, row, requested_at, send_at, status, calendar_version, decision)
            ON CONFLICT (campaign_id, campaign_row) DO NOTHING
            RETURNING campaign_row AS row`;
          inserted = new Set(back.map((b) => b.row));
          const before = ok.filter((p) => !inserted.has(p.row.i)).map((p) => p.row.i);
          const stored = new Map<number, RowOutcome>();
          if (before.length) {
            const old = await tx.$queryRaw<Array<{ row: number; status: string; decision: unknown }>>`
              SELECT campaign_row AS row, status::text AS status, decision FROM timers WHERE campaign_id = ${campaignId}::uuid AND campaign_row = ANY(${before}::int[])`;
            for (const o of old) stored.set(o.row, storedOutcome(o.status, typeof o.decision === 'string' ? JSON.parse(o.decision) : o.decision));
          }
          ok.forEach((p, k) => addOutcome(stats, stored.get(p.row.i) ?? results[k]!.outcome));
        } else {
          for (const j of results) addOutcome(stats, j.outcome);
        }

        // 6. The campaign's lock: cancelled meanwhile → roll everything back.
        await lockCampaign(tx, campaignId);
        const [current] = await tx.$queryRaw<Array<{ status: string }>>`SELECT status::text AS status FROM campaigns WHERE id = ${campaignId}::uuid`;
        if (current?.status !== 'planning') throw new CampaignStopped();

        // 7. Bad rows, the chunk's result, the campaign's progress (and completion).
        if (errors.length) {
          await tx.$executeRaw`
            INSERT INTO campaign_row_errors (campaign_id, line, code, message)
            SELECT ${campaignId}::uuid, * FROM unnest(${errors.map((e) => e.line)}::int[], ${errors.map((e) => e.code)}::text[], ${errors.map((e) => e.message)}::text[])
            ON CONFLICT DO NOTHING`;
        }
        const queue: QueuedTimer[] = spec.preview
          ? []
          : ok.flatMap((p, k) => {
              const j = results[k]!;
              return inserted.has(p.row.i) && j.status === 'scheduled' && j.sendAt !== null && j.sendAt <= now + ctx.settings.horizonMs ? [{ timerId: timerIds[k]!, sendAt: j.sendAt }] : [];
            });
        const result: ChunkResult = { stats, ...(spec.preview ? {} : { inserted: inserted.size, nearTerm: queue.length }) };
        await tx.$executeRaw`
          UPDATE campaign_chunks SET done = true, result = ${JSON.stringify(result)}::jsonb, done_at = ${new Date(now)}
          WHERE campaign_id = ${campaignId}::uuid AND seq = ${seq}`;
        const [progress] = await tx.$queryRaw<Array<{ done: number; total: number }>>`
          UPDATE campaigns SET chunks_done = chunks_done + 1, updated_at = ${new Date(now)} WHERE id = ${campaignId}::uuid
          RETURNING chunks_done AS done, chunks_total AS total`;
        const last = progress !== undefined && progress.done >= progress.total;
        let total: CampaignStats | undefined;
        if (last) {
          const all = await tx.$queryRaw<Array<{ result: unknown }>>`SELECT result FROM campaign_chunks WHERE campaign_id = ${campaignId}::uuid AND done`;
          total = sumChunkResults(all.map((r) => (typeof r.result === 'string' ? JSON.parse(r.result) : r.result)));
          await tx.$executeRaw`UPDATE campaigns SET status = 'planned', stats = ${JSON.stringify(total)}::jsonb, updated_at = ${new Date(now)} WHERE id = ${campaignId}::uuid`;
        }

        // 8. The audit entries of the timers inserted now (never a preview), last.
        if (!spec.preview) {
          const entries: AuditInput[] = [];
          ok.forEach((p, k) => {
            if (!inserted.has(p.row.i)) return;
            const j = results[k]!;
            entries.push({
              action: 'timer.created',
              createdAt: new Date(now),
              timerId: timerIds[k]!,
              contactId: contactIds.get(p.row.phone)!,
              campaignId,
              decision: j.record.decision,
              reasonCodes: j.codes,
              data: {
                status: j.status,
                inputs: {
                  zip: p.location.zip ?? null,
                  areaCode: areaCodeOf(p.row.phone),
                  channel: spec.channel,
                  purpose: spec.purpose,
                  policy: spec.policy,
                  requestedAt: formatUtc(p.at),
                  sendAtLocal: spec.sendAtLocal,
                  window: spec.window,
                  notAfter: spec.notAfter === null ? null : formatUtc(spec.notAfter),
                  subject: spec.subject,
                  campaignRow: p.row.i,
                  line: p.row.line,
                },
                decision: j.record,
              },
            });
          });
          if (last && total) entries.push({ action: 'campaign.planned', createdAt: new Date(now), campaignId, data: { rows: total.rows, errors: total.errors, decisions: total.decisions, statuses: total.statuses } });
          await ctx.audit.append(spec.orgId, entries, tx);
        }
        nearTerm = queue;
        return spec.preview ? { kind: 'previewed', stats, last } : { kind: 'planned', stats, inserted: inserted.size, nearTerm: queue.length, last };
      },
      { timeout: 300_000, maxWait: 60_000 },
    );
  } catch (err) {
    if (err instanceof CampaignStopped) {
      await markChunkSkipped(ctx, campaignId, seq);
      return { kind: 'skipped' };
    }
    throw err;
  }
  if (nearTerm.length) {
    await enqueueNearTerm(ctx, nearTerm, now).catch((err: Error) => ctx.log.warn({ campaignId, seq, err: err.message }, 'enqueue after planning failed; the pump will retry'));
  }
  return out;
}

/** Preview: the stored contacts among the rows (by number), without writing. */
async function findContacts(tx: Tx, orgId: string, rows: readonly Placed[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (rows.length === 0) return out;
  const found = await tx.$queryRaw<Array<{ id: string; phone: string }>>`
    SELECT id::text AS id, phone_e164 AS phone FROM contacts WHERE org_id = ${orgId}::uuid AND phone_e164 = ANY(${rows.map((p) => p.row.phone)}::text[])`;
  for (const f of found) out.set(f.phone, f.id);
  return out;
}

/**
 * Upserts the rows' contacts in one statement, in number order (the lock order of every bulk
 * writer: contacts imports too), as `contactFor` does one at a time: zip, state and candidates
 * from the row; the row's externalId replaces the stored one, a row without one keeps it.
 */
async function upsertContacts(tx: Tx, orgId: string, rows: readonly Placed[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (rows.length === 0) return out;
  const sorted = [...rows].sort((a, b) => (a.row.phone < b.row.phone ? -1 : a.row.phone > b.row.phone ? 1 : 0));
  const back = await tx.$queryRaw<Array<{ id: string; phone: string }>>`
    INSERT INTO contacts AS c (id, org_id, phone_e164, phone_hash, zip, state, candidates, location_issues, external_id, created_at, updated_at)
    SELECT gen_random_uuid(), ${orgId}::uuid, t.phone, t.hash, t.zip, t.state, t.candidates::jsonb, t.issues::jsonb, t.external_id, now(), now()
    FROM unnest(${sorted.map((p) => p.row.phone)}::text[], ${sorted.map((p) => phoneHash(p.row.phone))}::text[], ${sorted.map((p) => p.location.zip ?? null)}::text[],
                ${sorted.map((p) => p.location.state ?? null)}::text[], ${sorted.map((p) => JSON.stringify(p.location.candidates))}::text[],
                ${sorted.map((p) => JSON.stringify(p.location.issues))}::text[], ${sorted.map((p) => p.row.externalId ?? null)}::text[])
      AS t(phone, hash, zip, state, candidates, issues, external_id)
    ON CONFLICT (org_id, phone_e164) DO UPDATE SET
      zip = EXCLUDED.zip, state = EXCLUDED.state, candidates = EXCLUDED.candidates, location_issues = EXCLUDED.location_issues,
      external_id = COALESCE(EXCLUDED.external_id, c.external_id), updated_at = now()
    RETURNING c.id::text AS id, c.phone_e164 AS phone`;
  for (const b of back) out.set(b.phone, b.id);
  return out;
}
