/**
 * Campaigns: one message to an audience, planned in chunks by the planner workers.
 *
 *   POST   → draft (audience `upload`: waiting for the file) or planning (inline / contact list:
 *            chunked at once) — `campaign_chunks` rows, one `campaign.plan_chunk` job each
 *   PUT audience → the file streamed into chunks (bad rows in campaign_row_errors) → planning
 *   planners → each chunk planned in one transaction (plan-chunk.ts) → the last one: planned
 *   cancel → cancelled: planning stops (chunks not planned yet are skipped) and every pending
 *            timer of the campaign is cancelled, in batches, audited
 *   preview → a preview campaign over the same audience: the same planning, stats only
 *   launch  → the real campaign of a planned preview, over the same audience (preview first, then send)
 *
 * The campaign's lock (an advisory lock per campaign, `lockCampaign`) orders a chunk's end,
 * cancellation and failure; it is always taken before the org's audit chain lock.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Campaign, Prisma } from '../../adapters/db/client.ts';
import { reason } from '../../domain/decide.ts';
import { AppError } from '../../domain/errors.ts';
import { PENDING_STATUSES } from '../../domain/timer-rules.ts';
import { parseInstant } from '../../domain/time.ts';
import { lockContact, type EngineContext } from '../timers/context.ts';
import { decodeCursor, encodeCursor } from '../timers/timer-service.ts';
import { cancelMoves, MOVE_SELECT, transitionMany } from '../timers/transitions.ts';
import { AudienceChunker, audienceRows, type AudienceFormat, type AudienceRow, type AudienceSink, type AudienceTotals, type RowError } from './audience.ts';
import { lockCampaign } from './plan-chunk.ts';
import { MAX_UPLOAD_ROWS, parseSendAt, type CampaignView, type CreateCampaignInput, type ListCampaignsInput, type ListRowErrorsInput } from './schemas.ts';
import { canonicalStats, emptyStats, sumChunkResults, type CampaignStats } from './stats.ts';

/** Pending timers cancelled per transaction. */
const CANCEL_PAGE = 500;
/** Contact-list members read per page when the audience is a list. */
const LIST_PAGE = 5000;
/** A chunk not done this long after it was written, of a campaign still planning, gets its job again (Redis lost it). */
export const STALE_CHUNK_SECONDS = 60;

interface Source {
  kind: 'inline' | 'upload' | 'list' | 'preview' | 'launch';
  contactListId?: string;
  previewOf?: string;
  format?: AudienceFormat;
  /** The audience load in progress (a token): chunks are written only while it is the current one. */
  loading?: string | null;
}

const sourceOf = (c: Campaign): Source => c.source as unknown as Source;
const json = (v: unknown): Prisma.InputJsonValue => v as Prisma.InputJsonValue;

export class CampaignService {
  constructor(private readonly ctx: EngineContext) {}

  // -------------------------------------------------------------------------------------------
  // Create and load the audience
  // -------------------------------------------------------------------------------------------

  async create(orgId: string, input: CreateCampaignInput): Promise<CampaignView> {
    const { ctx } = this;
    const now = ctx.clock.now();
    const sendAt = parseSendAt(input.sendAt);
    if (!sendAt) throw new AppError('INVALID_INSTANT', `sendAt "${input.sendAt}" is neither a local wall time nor an instant`, [{ path: 'body.sendAt', message: 'e.g. 2026-12-03T10:00 or 2026-12-03T15:00:00Z' }]);
    const notAfter = input.notAfter === undefined ? undefined : parseInstant(input.notAfter);
    const audience = input.audience;
    if ('contactListId' in audience) {
      const list = await ctx.prisma.contactList.findFirst({ where: { id: audience.contactListId, orgId }, select: { id: true } });
      if (!list) throw new AppError('NOT_FOUND', `contact list ${audience.contactListId} not found`);
    }
    const loading = randomUUID();
    const source: Source = 'contactListId' in audience ? { kind: 'list', contactListId: audience.contactListId, loading } : 'contacts' in audience ? { kind: 'inline', loading } : { kind: 'upload', loading: null };
    const preview = input.preview === true;
    const campaign = await ctx.prisma.$transaction(async (tx) => {
      const c = await tx.campaign.create({
        data: {
          orgId,
          name: input.name,
          channel: input.channel,
          purpose: input.purpose,
          policy: input.policy,
          subject: input.subject ?? null,
          payload: json(input.action ? { action: input.action } : input.channel === 'sms' ? { body: input.message!.body } : { ...input.voice! }),
          sendAtLocal: sendAt.kind === 'local' ? sendAt.text : null,
          sendAtInstant: sendAt.kind === 'instant' ? new Date(sendAt.at) : null,
          ...(input.window ? { window: json(input.window) } : {}),
          notAfter: notAfter === undefined ? null : new Date(notAfter),
          preview,
          status: 'draft',
          source: json(source),
          createdAt: new Date(now),
        },
      });
      // A preview writes nothing to the audit log (only its own stats).
      if (!preview) {
        await ctx.audit.append(orgId, [{ action: 'campaign.created', createdAt: new Date(now), campaignId: c.id, data: { name: c.name, channel: c.channel, purpose: c.purpose, policy: c.policy, sendAt: input.sendAt, window: input.window ?? null, notAfter: input.notAfter ?? null, audience: { kind: source.kind, ...(source.contactListId ? { contactListId: source.contactListId } : {}) } } }], tx);
      }
      return c;
    });

    if ('contacts' in audience) {
      const chunker = new AudienceChunker(this.sink(campaign.id, loading));
      let line = 0;
      for (const c of audience.contacts) await chunker.add({ line: ++line, fields: c });
      await this.startPlanning(campaign.id, loading, await chunker.finish());
    } else if ('contactListId' in audience) {
      await this.startPlanning(campaign.id, loading, await this.chunkList(campaign.id, loading, audience.contactListId));
    }
    return this.get(orgId, campaign.id);
  }

  /** Streams an audience file into chunks; the campaign must be a draft waiting for its upload (a new upload replaces a broken one). */
  async uploadAudience(orgId: string, id: string, input: Readable, format: AudienceFormat): Promise<CampaignView> {
    const { ctx } = this;
    const token = randomUUID();
    await ctx.prisma.$transaction(async (tx) => {
      const [c] = await tx.$queryRaw<Array<{ status: string; source: Source }>>`SELECT status::text AS status, source FROM campaigns WHERE id = ${id}::uuid AND org_id = ${orgId}::uuid FOR UPDATE`;
      if (!c) throw new AppError('NOT_FOUND', `campaign ${id} not found`);
      const source = (typeof c.source === 'string' ? JSON.parse(c.source) : c.source) as Source;
      if (source.kind !== 'upload') throw new AppError('CONFLICT', 'this campaign\u2019s audience was given when it was created (audience.upload was not set)');
      if (c.status !== 'draft') throw new AppError('CONFLICT', `the audience was uploaded already (the campaign is ${c.status})`, { status: c.status });
      // Whatever an earlier, broken upload left is dropped; from now on only this upload writes.
      await tx.$executeRaw`DELETE FROM campaign_chunks WHERE campaign_id = ${id}::uuid`;
      await tx.$executeRaw`DELETE FROM campaign_row_errors WHERE campaign_id = ${id}::uuid`;
      await tx.$executeRaw`UPDATE campaigns SET source = source || ${JSON.stringify({ loading: token, format })}::jsonb, updated_at = now() WHERE id = ${id}::uuid`;
    });
    const chunker = new AudienceChunker(this.sink(id, token));
    for await (const raw of audienceRows(input, format)) {
      if (chunker.totals.rows >= MAX_UPLOAD_ROWS) {
        input.resume(); // let the client finish sending so it reads the answer
        throw new AppError('PAYLOAD_TOO_LARGE', `an audience file has at most ${MAX_UPLOAD_ROWS.toLocaleString('en-US')} rows; nothing was planned (upload a smaller file)`);
      }
      await chunker.add(raw);
    }
    await this.startPlanning(id, token, await chunker.finish());
    return this.get(orgId, id);
  }

  /** Writes chunks and bad rows while `token` is the campaign's current audience load. */
  private sink(campaignId: string, token: string): AudienceSink {
    const db = this.ctx.prisma;
    return {
      chunk: async (seq: number, rows: AudienceRow[]) => {
        const n = await db.$executeRaw`
          INSERT INTO campaign_chunks (campaign_id, seq, rows, created_at)
          SELECT ${campaignId}::uuid, ${seq}, ${JSON.stringify(rows)}::jsonb, now()
          WHERE EXISTS (SELECT 1 FROM campaigns WHERE id = ${campaignId}::uuid AND status = 'draft' AND source->>'loading' = ${token} FOR SHARE)`;
        if (n === 0) throw new AppError('CONFLICT', 'another upload of this campaign\u2019s audience took over, or the campaign was cancelled');
      },
      errors: async (errors: RowError[]) => {
        await db.$executeRaw`
          INSERT INTO campaign_row_errors (campaign_id, line, code, message)
          SELECT ${campaignId}::uuid, e.line, e.code, e.message
          FROM unnest(${errors.map((e) => e.line)}::int[], ${errors.map((e) => e.code)}::text[], ${errors.map((e) => e.message)}::text[]) AS e(line, code, message)
          WHERE EXISTS (SELECT 1 FROM campaigns WHERE id = ${campaignId}::uuid AND status = 'draft' AND source->>'loading' = ${token} FOR SHARE)
          ON CONFLICT DO NOTHING`;
      },
    };
  }

  /** Every member of a contact list, in contact-id order, as rows. */
  private async chunkList(campaignId: string, token: string, listId: string): Promise<AudienceTotals> {
    const chunker = new AudienceChunker(this.sink(campaignId, token));
    let after = '00000000-0000-0000-0000-000000000000';
    let line = 0;
    for (;;) {
      const page = await this.ctx.prisma.$queryRaw<Array<{ id: string; phone: string; zip: string | null }>>`
        SELECT c.id::text AS id, c.phone_e164 AS phone, c.zip FROM contact_list_members m JOIN contacts c ON c.id = m.contact_id
        WHERE m.list_id = ${listId}::uuid AND m.contact_id > ${after}::uuid ORDER BY m.contact_id LIMIT ${LIST_PAGE}`;
      for (const c of page) await chunker.addValid({ line: ++line, phone: c.phone, ...(c.zip ? { zip: c.zip } : {}) });
      if (page.length < LIST_PAGE) break;
      after = page[page.length - 1]!.id;
    }
    return chunker.finish();
  }

  /** The audience is in: planning starts (one job per chunk), or the campaign is planned at once when it has no good row. */
  private async startPlanning(campaignId: string, token: string, totals: AudienceTotals): Promise<void> {
    const { ctx } = this;
    const now = ctx.clock.now();
    const empty = totals.chunks === 0;
    const started = await ctx.prisma.$transaction(async (tx) => {
      await lockCampaign(tx, campaignId);
      const n = await tx.$executeRaw`
        UPDATE campaigns SET status = ${empty ? 'planned' : 'planning'}::campaign_status, total_rows = ${totals.rows}, chunks_total = ${totals.chunks}, chunks_done = 0,
          stats = ${JSON.stringify(empty ? canonicalStats(emptyStats()) : {})}::jsonb, source = source || '{"loading":null}'::jsonb, updated_at = ${new Date(now)}
        WHERE id = ${campaignId}::uuid AND status = 'draft' AND source->>'loading' = ${token}`;
      if (n === 0) throw new AppError('CONFLICT', 'another upload of this campaign\u2019s audience took over, or the campaign was cancelled');
      const c = await tx.campaign.findUniqueOrThrow({ where: { id: campaignId }, select: { orgId: true, preview: true } });
      if (!c.preview) {
        await ctx.audit.append(
          c.orgId,
          [
            { action: 'campaign.audience_loaded', createdAt: new Date(now), campaignId, data: { rows: totals.rows, accepted: totals.accepted, errors: totals.errors, chunks: totals.chunks } },
            ...(empty ? [{ action: 'campaign.planned', createdAt: new Date(now), campaignId, data: { rows: 0, errors: 0, decisions: {}, statuses: {} } }] : []),
          ],
          tx,
        );
      }
      return true;
    });
    if (started && !empty) await this.enqueue(campaignId, Array.from({ length: totals.chunks }, (_, i) => i));
  }

  private async enqueue(campaignId: string, seqs: number[]): Promise<void> {
    const queue = this.ctx.campaignQueue;
    if (!queue) {
      this.ctx.log.warn({ campaignId }, 'no campaign queue in this process; the planners\u2019 sweep will add the jobs');
      return;
    }
    // Best effort: a chunk whose job is missing is added again by the planners' sweep.
    await queue.enqueueChunks(campaignId, seqs).catch((err: Error) => this.ctx.log.warn({ campaignId, err: err.message }, 'adding campaign jobs failed; the planners\u2019 sweep will retry'));
  }

  // -------------------------------------------------------------------------------------------
  // Read
  // -------------------------------------------------------------------------------------------

  private async find(orgId: string, id: string): Promise<Campaign> {
    const c = await this.ctx.prisma.campaign.findFirst({ where: { id, orgId } });
    if (!c) throw new AppError('NOT_FOUND', `campaign ${id} not found`);
    return c;
  }

  async get(orgId: string, id: string): Promise<CampaignView> {
    const c = await this.find(orgId, id);
    const db = this.ctx.prisma;
    const [[chunks], [errors], results] = await Promise.all([
      db.$queryRaw<Array<{ done: number; skipped: number; total: number }>>`
        SELECT count(*) FILTER (WHERE done AND NOT (result ? 'skipped'))::int AS done, count(*) FILTER (WHERE result ? 'skipped')::int AS skipped, count(*)::int AS total
        FROM campaign_chunks WHERE campaign_id = ${id}::uuid`,
      db.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM campaign_row_errors WHERE campaign_id = ${id}::uuid`,
      c.status === 'planned' ? Promise.resolve(null) : db.$queryRaw<Array<{ result: unknown }>>`SELECT result FROM campaign_chunks WHERE campaign_id = ${id}::uuid AND done`,
    ]);
    const stats = results === null ? (c.stats as unknown as CampaignStats) : sumChunkResults(results.map((r) => (typeof r.result === 'string' ? JSON.parse(r.result) : r.result)));
    return campaignView(c, {
      chunksDone: chunks?.done ?? 0,
      chunksSkipped: chunks?.skipped ?? 0,
      chunksTotal: c.status === 'draft' ? (chunks?.total ?? 0) : c.chunksTotal,
      rows: c.totalRows,
      planned: stats.rows + stats.errors,
      errors: errors?.n ?? 0,
    }, stats);
  }

  async list(orgId: string, q: ListCampaignsInput): Promise<{ items: CampaignView[]; nextCursor: string | null }> {
    const cursor = q.cursor ? decodeCursor(q.cursor) : null;
    const rows = await this.ctx.prisma.campaign.findMany({
      where: {
        orgId,
        ...(q.status ? { status: q.status } : {}),
        ...(cursor ? { OR: [{ createdAt: { lt: cursor.createdAt } }, { createdAt: cursor.createdAt, id: { lt: cursor.id } }] } : {}),
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: q.limit + 1,
    });
    const more = rows.length > q.limit;
    const page = rows.slice(0, q.limit);
    const ids = page.map((c) => c.id);
    const errors = new Map<string, number>();
    if (ids.length) {
      const counts = await this.ctx.prisma.$queryRaw<Array<{ id: string; n: number }>>`
        SELECT campaign_id::text AS id, count(*)::int AS n FROM campaign_row_errors WHERE campaign_id = ANY(${ids}::uuid[]) GROUP BY campaign_id`;
      for (const r of counts) errors.set(r.id, r.n);
    }
    const items = page.map((c) => {
      const final = c.status === 'planned' ? (c.stats as unknown as CampaignStats) : null;
      return campaignView(c, { chunksDone: c.chunksDone, chunksSkipped: 0, chunksTotal: c.chunksTotal, rows: c.totalRows, planned: final ? final.rows + final.errors : 0, errors: errors.get(c.id) ?? 0 }, final);
    });
    const last = page[page.length - 1];
    return { items, nextCursor: more && last ? encodeCursor(last.createdAt, last.id) : null };
  }

  async errors(orgId: string, id: string, q: ListRowErrorsInput): Promise<{ items: RowError[]; nextCursor: string | null }> {
    await this.find(orgId, id);
    const after = q.cursor === undefined ? 0 : Number(q.cursor);
    const rows = await this.ctx.prisma.campaignRowError.findMany({
      where: { campaignId: id, line: { gt: after } },
      orderBy: { line: 'asc' },
      take: q.limit + 1,
      select: { line: true, code: true, message: true },
    });
    const more = rows.length > q.limit;
    const items = rows.slice(0, q.limit);
    return { items, nextCursor: more ? String(items[items.length - 1]!.line) : null };
  }

  // -------------------------------------------------------------------------------------------
  // Preview, cancel, failure, sweep
  // -------------------------------------------------------------------------------------------

  /** A preview campaign over this campaign's audience (its chunks and its reading errors, copied in SQL), planned like any other. */
  async preview(orgId: string, id: string): Promise<CampaignView> {
    const c = await this.find(orgId, id);
    if (c.status === 'draft') throw new AppError('CONFLICT', 'the campaign has no audience yet (PUT /v1/campaigns/{id}/audience first)');
    return this.copyOf(orgId, c, true);
  }

  /**
   * Launches a planned preview: a real campaign with the preview's message, timing and audience
   * (its chunks copied), planned and scheduled like any other. So a file is previewed first and
   * sent only once its histogram has been seen.
   */
  async launch(orgId: string, id: string): Promise<CampaignView> {
    const c = await this.find(orgId, id);
    if (!c.preview) throw new AppError('CONFLICT', 'only a preview campaign is launched (this one is already real)');
    if (c.status !== 'planned') throw new AppError('CONFLICT', `the preview is ${c.status}: launch it once it is planned`);
    return this.copyOf(orgId, c, false);
  }

  /** A new campaign over `c`'s audience (chunks and reading errors copied), planned at once. */
  private async copyOf(orgId: string, c: Campaign, preview: boolean): Promise<CampaignView> {
    const { ctx } = this;
    const token = randomUUID();
    const now = ctx.clock.now();
    const name = preview ? `${c.name} (preview)`.slice(0, 200) : c.name.replace(/ \(preview\)$/, '');
    const source: Source = { kind: preview ? 'preview' : 'launch', previewOf: c.id, loading: token };
    const copy = await ctx.prisma.$transaction(async (tx) => {
      if (!preview) {
        // Launched once: a second click (or a retried request) must not send the campaign twice.
        await lockCampaign(tx, c.id);
        const [done] = await tx.$queryRaw<Array<{ id: string }>>`
          SELECT id::text FROM campaigns WHERE org_id = ${orgId}::uuid AND NOT preview AND source->>'kind' = 'launch' AND source->>'previewOf' = ${c.id} LIMIT 1`;
        if (done) throw new AppError('CONFLICT', `this preview was launched already: campaign ${done.id}`, { campaignId: done.id });
      }
      const p = await tx.campaign.create({
        data: {
          orgId,
          name,
          channel: c.channel,
          purpose: c.purpose,
          policy: c.policy,
          subject: c.subject,
          payload: json(c.payload),
          sendAtLocal: c.sendAtLocal,
          sendAtInstant: c.sendAtInstant,
          ...(c.window === null ? {} : { window: json(c.window) }),
          notAfter: c.notAfter,
          preview,
          status: 'draft',
          source: json(source),
          createdAt: new Date(now),
        },
      });
      if (!preview) {
        const window = c.window as { start: string; end: string } | null;
        await ctx.audit.append(orgId, [{ action: 'campaign.created', createdAt: new Date(now), campaignId: p.id, data: { name, channel: c.channel, purpose: c.purpose, policy: c.policy, sendAt: c.sendAtLocal ?? c.sendAtInstant!.toISOString(), window, notAfter: c.notAfter?.toISOString() ?? null, audience: { kind: 'launch', previewOf: c.id } } }], tx);
      }
      await tx.$executeRaw`
        INSERT INTO campaign_chunks (campaign_id, seq, rows, created_at) SELECT ${p.id}::uuid, seq, rows, now() FROM campaign_chunks WHERE campaign_id = ${c.id}::uuid`;
      // Bad rows found on reading (planning finds its own CONFLICT rows again).
      await tx.$executeRaw`
        INSERT INTO campaign_row_errors (campaign_id, line, code, message) SELECT ${p.id}::uuid, line, code, message FROM campaign_row_errors WHERE campaign_id = ${c.id}::uuid AND code <> 'CONFLICT'`;
      const [n] = await tx.$queryRaw<Array<{ chunks: number; errors: number }>>`
        SELECT (SELECT count(*)::int FROM campaign_chunks WHERE campaign_id = ${p.id}::uuid) AS chunks,
               (SELECT count(*)::int FROM campaign_row_errors WHERE campaign_id = ${p.id}::uuid) AS errors`;
      return { id: p.id, chunks: n?.chunks ?? 0, errors: n?.errors ?? 0 };
    });
    await this.startPlanning(copy.id, token, { rows: c.totalRows, accepted: c.totalRows - copy.errors, errors: copy.errors, chunks: copy.chunks });
    return this.get(orgId, copy.id);
  }

  /**
   * Cancels the campaign: planning stops (a chunk being planned rolls back; the others are
   * skipped) and every pending timer of the campaign is cancelled (CANCELLED_BY_REQUEST), a page
   * per transaction, contacts' locks first. Cancelling again finishes a sweep that was cut short.
   */
  async cancel(orgId: string, id: string): Promise<CampaignView & { cancelledTimers: number }> {
    const { ctx } = this;
    await this.find(orgId, id);
    const now = ctx.clock.now();
    await ctx.prisma.$transaction(async (tx) => {
      await lockCampaign(tx, id);
      const c = await tx.campaign.findUniqueOrThrow({ where: { id }, select: { status: true, preview: true } });
      if (c.status === 'cancelled') return;
      await tx.campaign.update({ where: { id }, data: { status: 'cancelled', updatedAt: new Date(now) } });
      if (!c.preview) await ctx.audit.append(orgId, [{ action: 'campaign.cancelled', createdAt: new Date(now), campaignId: id, reasonCodes: ['CANCELLED_BY_REQUEST'], data: { from: c.status, by: 'api' } }], tx);
    });
    const why = reason('CANCELLED_BY_REQUEST', 'the campaign was cancelled');
    let cancelled = 0;
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const page = await ctx.prisma.timer.findMany({
        where: { campaignId: id, orgId, status: { in: [...PENDING_STATUSES] }, id: { gt: after } },
        select: { id: true, contactId: true },
        orderBy: { id: 'asc' },
        take: CANCEL_PAGE,
      });
      if (page.length === 0) break;
      after = page[page.length - 1]!.id;
      cancelled += await ctx.prisma.$transaction(
        async (tx) => {
          for (const contactId of [...new Set(page.map((t) => t.contactId))].sort()) await lockContact(tx, contactId);
          const timers = await tx.timer.findMany({ where: { id: { in: page.map((t) => t.id) }, status: { in: [...PENDING_STATUSES] } }, select: MOVE_SELECT, orderBy: { id: 'asc' } });
          const done = await transitionMany(ctx, tx, cancelMoves(timers, [why], now, { campaignId: id, by: 'api' }), now);
          return done.filter(Boolean).length;
        },
        { timeout: 120_000, maxWait: 10_000 },
      );
      if (page.length < CANCEL_PAGE) break;
    }
    if (cancelled) ctx.log.info({ campaignId: id, cancelled }, 'campaign cancelled');
    return { ...(await this.get(orgId, id)), cancelledTimers: cancelled };
  }

  /** A chunk's job ran out of attempts: the campaign stops planning (`failed`). Timers planned already stay; cancel the campaign to cancel them. */
  async markFailed(campaignId: string, error: string): Promise<void> {
    const { ctx } = this;
    const now = ctx.clock.now();
    await ctx.prisma.$transaction(async (tx) => {
      await lockCampaign(tx, campaignId);
      const c = await tx.campaign.findUnique({ where: { id: campaignId }, select: { orgId: true, status: true, preview: true } });
      if (!c || c.status !== 'planning') return;
      await tx.campaign.update({ where: { id: campaignId }, data: { status: 'failed', updatedAt: new Date(now) } });
      if (!c.preview) await ctx.audit.append(c.orgId, [{ action: 'campaign.failed', createdAt: new Date(now), campaignId, data: { error: error.slice(0, 500) } }], tx);
    });
    ctx.log.error({ campaignId, err: error }, 'campaign planning failed');
  }

  /** Adds the job again for every chunk of a planning campaign still not done a while after it was written (Redis lost it). Returns how many. */
  async sweep(): Promise<number> {
    const stale = await this.ctx.prisma.$queryRaw<Array<{ id: string; seq: number }>>`
      SELECT ch.campaign_id::text AS id, ch.seq FROM campaign_chunks ch JOIN campaigns c ON c.id = ch.campaign_id
      WHERE c.status = 'planning' AND NOT ch.done AND ch.created_at < now() - make_interval(secs => ${STALE_CHUNK_SECONDS})
      ORDER BY ch.campaign_id, ch.seq LIMIT 100000`;
    const by = new Map<string, number[]>();
    for (const s of stale) by.set(s.id, [...(by.get(s.id) ?? []), s.seq]);
    for (const [id, seqs] of by) await this.enqueue(id, seqs);
    return stale.length;
  }
}

export interface CampaignProgress {
  chunksDone: number;
  chunksSkipped: number;
  chunksTotal: number;
  rows: number;
  planned: number;
  errors: number;
}

export function campaignView(c: Campaign, progress: CampaignProgress, stats: CampaignStats | null): CampaignView {
  const source = sourceOf(c);
  const window = c.window as { start: string; end: string } | null;
  return {
    id: c.id,
    name: c.name,
    status: c.status,
    preview: c.preview,
    channel: c.channel,
    purpose: c.purpose,
    policy: c.policy,
    subject: c.subject,
    sendAt: c.sendAtLocal ?? c.sendAtInstant!.toISOString(),
    sendAtKind: c.sendAtLocal ? 'local' : 'instant',
    window: window ? { start: window.start, end: window.end } : null,
    notAfter: c.notAfter?.toISOString() ?? null,
    audience: {
      kind: source.kind,
      ...(source.contactListId ? { contactListId: source.contactListId } : {}),
      ...(source.previewOf ? { previewOf: source.previewOf } : {}),
      ...(source.format ? { format: source.format } : {}),
    },
    progress,
    stats: stats && typeof stats.rows === 'number' ? stats : null,
    createdAt: c.createdAt.toISOString(),
    updatedAt: c.updatedAt.toISOString(),
  };
}

