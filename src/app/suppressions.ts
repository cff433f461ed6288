/**
 * The suppression list (per org, per phone number): adding a number cancels every pending timer
 * of the org's contacts with that number in the same transaction; lifting makes it reachable
 * again (for new timers: a suppressed timer stays suppressed). Inbound opt-outs (STOP, plain-
 * language revocations, an IVR key press), START, and manual / do-not-call imports all come
 * through here, and so do the engine's replies to inbound texts (opt-out and opt-in
 * confirmations, HELP answers).
 *
 * Race with the dispatcher: a claim judges suppressions under the contact's row lock
 * (`lockContact`, dispatch.ts). Adding a suppression takes the same locks first, so a concurrent
 * claim either committed before (that send is already out, `sending`/`sent`, and is left alone)
 * or runs after our commit and sees the suppression (and finds the timer `suppressed`).
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { AuditInput } from '../adapters/audit/audit-log.ts';
import type { Prisma, Suppression } from '../adapters/db/client.ts';
import type { Channel } from '../domain/calendar/schema.ts';
import { reason as makeReason } from '../domain/decide.ts';
import { AppError, type ErrorCode } from '../domain/errors.ts';
import { parsePhone } from '../domain/location/resolve.ts';
import { classifyInbound, type InboundClassification } from '../domain/opt-out.ts';
import { maskPhone } from '../domain/privacy.ts';
import { formatUtc, parseInstant } from '../domain/time.ts';
import { PENDING_STATUSES } from '../domain/timer-rules.ts';
import { loadOrgSettings, ORG_NAME_PLACEHOLDER } from './org-settings.ts';
import { SendFailure, type SendResult } from './ports.ts';
import { areaCodeOf, phoneHash, type EngineContext, type Tx } from './timers/context.ts';
import { decodeCursor, encodeCursor } from './timers/timer-service.ts';

/** Where an entry came from. `inbound_sms` entries are the only ones START lifts. */
export const SUPPRESSION_SOURCES = ['inbound_sms', 'inbound_voice', 'api', 'import', 'dnc', 'manual', 'provider', 'reassigned'] as const;
export type SuppressionSource = (typeof SUPPRESSION_SOURCES)[number];

/** Numbers per transaction when importing a list. */
const CHUNK = 500;

// ---------------------------------------------------------------------------------------------
// Schemas (API)
// ---------------------------------------------------------------------------------------------

export const SuppressionEntryInput = z
  .object({
    phone: z.string().min(1).max(40).describe('Phone number; US numbers may omit +1'),
    reason: z.string().trim().min(1).max(200).describe('Why (free text, e.g. "internal DNC", "customer asked by phone")'),
    source: z.enum(SUPPRESSION_SOURCES).optional().describe('Default `api` for one entry, `import` for `entries`'),
    channel: z.enum(['sms', 'voice']).nullable().optional().describe('Only this channel; absent or null: every channel'),
    expiresAt: z.string().min(1).max(40).optional().describe('ISO-8601 instant; absent: no expiry'),
  })
  .strict();
export type SuppressionEntry = z.infer<typeof SuppressionEntryInput>;

export const MAX_IMPORT = 10_000;

export const SuppressionImportBody = z.union([SuppressionEntryInput, z.object({ entries: z.array(SuppressionEntryInput).min(1).max(MAX_IMPORT) }).strict()], {
  // A union reports only "invalid input"; report the branch the caller meant instead.
  error: (iss) => {
    if (iss.code !== 'invalid_union') return undefined;
    const input = iss.input as Record<string, unknown> | undefined;
    const branch = iss.errors[input && typeof input === 'object' && 'entries' in input ? 1 : 0] ?? [];
    const first = branch[0];
    if (!first) return undefined;
    const path = first.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
    return `${path ? `${path}: ` : ''}${first.message}${branch.length > 1 ? ` (and ${branch.length - 1} more)` : ''} — send one entry { phone, reason, … } or { entries: [...] }`;
  },
});
export type SuppressionImportInput = z.infer<typeof SuppressionImportBody>;

export const ListSuppressionsQuery = z
  .object({
    phone: z.string().min(1).max(40).optional(),
    source: z.enum(SUPPRESSION_SOURCES).optional(),
    active: z.enum(['true', 'false']).optional().describe('true: live entries only; false: lifted or expired only'),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().max(200).optional(),
  })
  .strict();
export type ListSuppressionsInput = z.infer<typeof ListSuppressionsQuery>;

export const SuppressionViewSchema = z.object({
  id: z.uuid(),
  phone: z.string().describe('E.164; masked to the last 4 digits for role auditor'),
  reason: z.string(),
  source: z.string(),
  channel: z.enum(['sms', 'voice']).nullable(),
  expiresAt: z.string().nullable(),
  createdAt: z.string(),
  liftedAt: z.string().nullable(),
  active: z.boolean(),
});
export type SuppressionView = z.infer<typeof SuppressionViewSchema>;

export const ImportResultSchema = z.object({
  added: z.number().int().describe('New entries'),
  unchanged: z.number().int().describe('Entries already live with the same source and channel'),
  cancelledTimers: z.number().int().describe('Pending timers moved to `suppressed`'),
  items: z.array(z.object({ index: z.number().int(), id: z.uuid(), created: z.boolean(), cancelledTimers: z.number().int() })),
  errors: z.array(z.object({ index: z.number().int(), path: z.string(), code: z.string(), message: z.string() })),
});
export type ImportResult = z.infer<typeof ImportResultSchema>;

// ---------------------------------------------------------------------------------------------
// Core: add entries, cancel pending timers, audit — in one transaction
// ---------------------------------------------------------------------------------------------

export interface SuppressInput {
  orgId: string;
  /** E.164. */
  phone: string;
  reason: string;
  source: SuppressionSource;
  /** Only this channel; null/absent: every channel. */
  channel?: Channel | null;
  expiresAt?: Date | null;
  /** Provider ids that prove where it came from (MessageSid, CallSid); kept in the audit entry. */
  evidence?: Record<string, string>;
}

export interface SuppressResult {
  /** The new entry, or the live one that already covered it. */
  suppressionId: string;
  created: boolean;
  cancelledTimers: number;
  /** A live entry with the same source existed before (e.g. a repeated STOP). */
  previouslySuppressed: boolean;
}

interface Normalised {
  phone: string;
  reason: string;
  source: SuppressionSource;
  channel: Channel | null;
  expiresAt: Date | null;
  evidence?: Record<string, string>;
}

function covers(existing: { source: string; channel: string | null; expiresAt: Date | null }, e: Normalised): boolean {
  if (existing.source !== e.source || (existing.channel ?? null) !== e.channel) return false;
  if (existing.expiresAt === null) return true;
  return e.expiresAt !== null && existing.expiresAt.getTime() >= e.expiresAt.getTime();
}

/**
 * Adds `entries` (phones in E.164) to the org's list inside `tx`, cancels the pending timers they
 * cover and appends the audit entries as one batch. Takes the contacts' row locks (ordered by id)
 * before anything else.
 */
async function applyInTx(ctx: EngineContext, tx: Tx, orgId: string, entries: readonly Normalised[], now: number): Promise<SuppressResult[]> {
  const phones = [...new Set(entries.map((e) => e.phone))].sort();
  // The same row locks as lockContact(), for every contact with one of these numbers, in id order.
  const contacts = await tx.$queryRaw<Array<{ id: string; phone: string }>>`
    SELECT id::text AS id, phone_e164 AS phone FROM contacts
    WHERE org_id = ${orgId}::uuid AND phone_e164 = ANY(${phones}::text[])
    ORDER BY id FOR UPDATE`;
  const live = await tx.suppression.findMany({
    where: { orgId, phoneE164: { in: phones }, liftedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: new Date(now) } }] },
    select: { id: true, phoneE164: true, source: true, channel: true, expiresAt: true },
    orderBy: { createdAt: 'asc' },
  });

  const createdAt = new Date(now);
  const rows: Prisma.SuppressionCreateManyInput[] = [];
  const known = live.map((s) => ({ ...s, channel: (s.channel as Channel | null) ?? null }));
  const results: Array<SuppressResult & { entry: Normalised }> = entries.map((e) => {
    const previouslySuppressed = known.some((s) => s.phoneE164 === e.phone && s.source === e.source);
    const same = known.find((s) => s.phoneE164 === e.phone && covers(s, e));
    if (same) return { entry: e, suppressionId: same.id, created: false, cancelledTimers: 0, previouslySuppressed };
    const id = randomUUID();
    rows.push({ id, orgId, phoneE164: e.phone, phoneHash: phoneHash(e.phone), reason: e.reason, source: e.source, channel: e.channel, expiresAt: e.expiresAt, createdAt });
    known.push({ id, phoneE164: e.phone, source: e.source, channel: e.channel, expiresAt: e.expiresAt });
    return { entry: e, suppressionId: id, created: true, cancelledTimers: 0, previouslySuppressed };
  });
  if (rows.length) await tx.suppression.createMany({ data: rows });

  // Cancel pending timers: every channel for entries without one, else only the entry's channel.
  const contactsOf = new Map<string, string[]>();
  const phoneOf = new Map<string, string>();
  for (const c of contacts) {
    contactsOf.set(c.phone, [...(contactsOf.get(c.phone) ?? []), c.id]);
    phoneOf.set(c.id, c.phone);
  }
  const scope: Record<'all' | Channel, Set<string>> = { all: new Set(), sms: new Set(), voice: new Set() };
  for (const e of entries) for (const id of contactsOf.get(e.phone) ?? []) scope[e.channel ?? 'all'].add(id);
  const or: Prisma.TimerWhereInput[] = [];
  if (scope.all.size) or.push({ contactId: { in: [...scope.all] } });
  for (const ch of ['sms', 'voice'] as const) if (scope[ch].size) or.push({ contactId: { in: [...scope[ch]] }, channel: ch });
  // A compare-and-set in bulk, like transition(): only timers still pending move, and each one
  // that moved gets its audit entry in this transaction (appended below as one batch).
  const cancelled = or.length
    ? await tx.timer.updateManyAndReturn({
        where: { orgId, status: { in: [...PENDING_STATUSES] }, OR: or },
        data: { status: 'suppressed', leaseOwner: null, leaseUntil: null, updatedAt: new Date(now) },
        select: { id: true, contactId: true, journeyId: true, campaignId: true, channel: true },
      })
    : [];
  cancelled.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  const byResult = new Map<(typeof results)[number], typeof cancelled>();
  for (const t of cancelled) {
    const phone = phoneOf.get(t.contactId);
    const owner = results.find((r) => r.entry.phone === phone && (r.entry.channel === null || r.entry.channel === t.channel)) ?? results.find((r) => r.entry.phone === phone)!;
    byResult.set(owner, [...(byResult.get(owner) ?? []), t]);
    owner.cancelledTimers += 1;
  }
  // Each timer's decision record says why, as when the dispatcher suppresses one at fire time
  // (one statement per distinct reason: usually one).
  const byMessage = new Map<string, string[]>();
  for (const [r, timers] of byResult) {
    const message = `the number is on the suppression list (${r.entry.reason})`;
    byMessage.set(message, [...(byMessage.get(message) ?? []), ...timers.map((t) => t.id)]);
  }
  for (const [message, ids] of byMessage) {
    const patch = { decision: 'cancel', sendAt: null, windowEnd: null, reasons: [makeReason('SUPPRESSED', message)], judgedAt: formatUtc(now) };
    await tx.$executeRaw`UPDATE timers SET decision = decision || ${JSON.stringify(patch)}::jsonb WHERE id = ANY(${ids}::uuid[])`;
  }

  const audit: AuditInput[] = [];
  for (const r of results) {
    const e = r.entry;
    const timers = byResult.get(r) ?? [];
    const contactIds = contactsOf.get(e.phone) ?? [];
    if (r.created) {
      audit.push({
        action: 'suppression.added',
        createdAt,
        contactId: contactIds.length === 1 ? contactIds[0] : null,
        data: {
          suppressionId: r.suppressionId,
          source: e.source,
          reason: e.reason,
          channel: e.channel,
          expiresAt: e.expiresAt?.toISOString() ?? null,
          areaCode: areaCodeOf(e.phone),
          cancelledTimers: timers.length,
          ...(e.evidence ? { evidence: e.evidence } : {}),
        },
      });
    }
    for (const t of timers) {
      audit.push({
        action: 'timer.suppressed',
        createdAt,
        timerId: t.id,
        contactId: t.contactId,
        journeyId: t.journeyId,
        campaignId: t.campaignId,
        decision: 'cancel',
        reasonCodes: ['SUPPRESSED'],
        data: { source: e.source, reason: e.reason, suppressionId: r.suppressionId },
      });
    }
  }
  await ctx.audit.append(orgId, audit, tx);
  return results.map(({ entry: _entry, ...rest }) => rest);
}

/**
 * Adds one number to the org's suppression list and, in the same transaction, moves every pending
 * timer of the org's contacts with that number to `suppressed` (only the given channel's when
 * `channel` is set). Serialised per (org, number), so a repeated STOP sees the first one's entry.
 */
export async function suppressNumber(ctx: EngineContext, input: SuppressInput, now: number): Promise<SuppressResult> {
  const e: Normalised = {
    phone: input.phone,
    reason: input.reason,
    source: input.source,
    channel: input.channel ?? null,
    expiresAt: input.expiresAt ?? null,
    ...(input.evidence ? { evidence: input.evidence } : {}),
  };
  return ctx.prisma.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT 1 AS ok FROM pg_advisory_xact_lock(hashtextextended(${`suppression:${input.orgId}:${input.phone}`}, 0))`;
    const [r] = await applyInTx(ctx, tx, input.orgId, [e], now);
    return r!;
  }, { timeout: 30_000, maxWait: 10_000 });
}

export interface LiftInput {
  orgId: string;
  phone: string;
  /** Only entries from these sources (START: ['inbound_sms']); absent: every source. */
  sources?: readonly string[];
  /** Who lifted (kept in the audit entry), e.g. `inbound_sms`, `api`. */
  by: string;
  evidence?: Record<string, string>;
}

/** Lifts the number's live entries (of the given sources). New timers may reach it again; suppressed timers stay suppressed. */
export async function liftSuppressions(ctx: EngineContext, input: LiftInput, now: number): Promise<{ lifted: number; ids: string[] }> {
  return ctx.prisma.$transaction(async (tx) => {
    const rows = await tx.suppression.updateManyAndReturn({
      where: {
        orgId: input.orgId,
        phoneE164: input.phone,
        liftedAt: null,
        ...(input.sources ? { source: { in: [...input.sources] } } : {}),
        OR: [{ expiresAt: null }, { expiresAt: { gt: new Date(now) } }],
      },
      data: { liftedAt: new Date(now) },
      select: { id: true, source: true },
    });
    if (rows.length) {
      await ctx.audit.append(
        input.orgId,
        [
          {
            action: 'suppression.lifted',
            createdAt: new Date(now),
            data: { suppressionIds: rows.map((r) => r.id), sources: [...new Set(rows.map((r) => r.source))], areaCode: areaCodeOf(input.phone), by: input.by, ...(input.evidence ? { evidence: input.evidence } : {}) },
          },
        ],
        tx,
      );
    }
    return { lifted: rows.length, ids: rows.map((r) => r.id) };
  });
}

// ---------------------------------------------------------------------------------------------
// API use cases
// ---------------------------------------------------------------------------------------------

export function suppressionView(s: Suppression, revealPhone: boolean, now: number): SuppressionView {
  return {
    id: s.id,
    phone: revealPhone ? s.phoneE164 : maskPhone(s.phoneE164),
    reason: s.reason,
    source: s.source,
    channel: (s.channel as Channel | null) ?? null,
    expiresAt: s.expiresAt?.toISOString() ?? null,
    createdAt: s.createdAt.toISOString(),
    liftedAt: s.liftedAt?.toISOString() ?? null,
    active: s.liftedAt === null && (s.expiresAt === null || s.expiresAt.getTime() > now),
  };
}

function e164OrThrow(raw: string, path: string): string {
  const p = parsePhone(raw);
  if ('code' in p) throw new AppError('INVALID_PHONE', p.message, [{ path, message: p.message }]);
  return p.e164;
}

/** Newest first, keyset-paginated. `revealPhone: false` masks numbers to their last 4 digits (role auditor). */
export async function listSuppressions(ctx: EngineContext, orgId: string, q: ListSuppressionsInput, revealPhone: boolean): Promise<{ items: SuppressionView[]; nextCursor: string | null }> {
  const now = ctx.clock.now();
  const cursor = q.cursor ? decodeCursor(q.cursor) : null;
  const phone = q.phone === undefined ? undefined : e164OrThrow(q.phone, 'query.phone');
  const live: Prisma.SuppressionWhereInput = { liftedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: new Date(now) } }] };
  const ended: Prisma.SuppressionWhereInput = { OR: [{ liftedAt: { not: null } }, { expiresAt: { lte: new Date(now) } }] };
  const rows = await ctx.prisma.suppression.findMany({
    where: {
      orgId,
      AND: [
        ...(phone ? [{ phoneE164: phone }] : []),
        ...(q.source ? [{ source: q.source }] : []),
        ...(q.active === 'true' ? [live] : q.active === 'false' ? [ended] : []),
        ...(cursor ? [{ OR: [{ createdAt: { lt: cursor.createdAt } }, { createdAt: cursor.createdAt, id: { lt: cursor.id } }] }] : []),
      ],
    },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: q.limit + 1,
  });
  const more = rows.length > q.limit;
  const items = rows.slice(0, q.limit);
  const last = items[items.length - 1];
  return { items: items.map((s) => suppressionView(s, revealPhone, now)), nextCursor: more && last ? encodeCursor(last.createdAt, last.id) : null };
}

/** Lifts one entry by id (DELETE /v1/suppressions/:id). Lifting twice answers the lifted entry; another org's id is 404. */
export async function deleteSuppression(ctx: EngineContext, orgId: string, id: string): Promise<SuppressionView> {
  const now = ctx.clock.now();
  const s = await ctx.prisma.suppression.findFirst({ where: { id, orgId } });
  if (!s) throw new AppError('NOT_FOUND', `suppression ${id} not found`);
  if (s.liftedAt === null) {
    await ctx.prisma.$transaction(async (tx) => {
      const res = await tx.suppression.updateMany({ where: { id, liftedAt: null }, data: { liftedAt: new Date(now) } });
      if (res.count === 0) return;
      await ctx.audit.append(orgId, [{ action: 'suppression.lifted', createdAt: new Date(now), data: { suppressionIds: [id], sources: [s.source], areaCode: areaCodeOf(s.phoneE164), by: 'api' } }], tx);
    });
  }
  return suppressionView(await ctx.prisma.suppression.findUniqueOrThrow({ where: { id } }), true, now);
}

/**
 * POST /v1/suppressions: one entry, or up to 10,000 (an internal do-not-call list). Each number is
 * validated; bad entries are reported with their index and the good ones applied, 500 per
 * transaction. Nothing applicable at all → 400.
 */
export async function importSuppressions(ctx: EngineContext, orgId: string, body: SuppressionImportInput): Promise<ImportResult> {
  const now = ctx.clock.now();
  const single = !('entries' in body);
  const list: SuppressionEntry[] = 'entries' in body ? body.entries : [body];
  const errors: ImportResult['errors'] = [];
  const valid: Array<{ index: number; entry: Normalised }> = [];
  list.forEach((raw, index) => {
    const at = single ? 'body' : `body.entries[${index}]`;
    const p = parsePhone(raw.phone);
    if ('code' in p) return void errors.push({ index, path: `${at}.phone`, code: p.code, message: p.message });
    let expiresAt: Date | null = null;
    if (raw.expiresAt !== undefined) {
      const t = parseInstant(raw.expiresAt);
      if (t === undefined) return void errors.push({ index, path: `${at}.expiresAt`, code: 'INVALID_INSTANT', message: 'ISO-8601 instant with Z or an offset' });
      if (t <= now) return void errors.push({ index, path: `${at}.expiresAt`, code: 'INVALID_INSTANT', message: 'expiresAt is in the past' });
      expiresAt = new Date(t);
    }
    valid.push({ index, entry: { phone: p.e164, reason: raw.reason, source: raw.source ?? (single ? 'api' : 'import'), channel: raw.channel ?? null, expiresAt } });
  });
  if (valid.length === 0) {
    const first = errors[0]!;
    const code: ErrorCode = !single ? 'INVALID_ARGUMENT' : first.code === 'INVALID_INSTANT' ? 'INVALID_INSTANT' : 'INVALID_PHONE';
    throw new AppError(code, single ? first.message : `no entry could be applied (${errors.length} invalid)`, errors.map((e) => ({ path: e.path, message: e.message, index: e.index, code: e.code })));
  }
  const items: ImportResult['items'] = [];
  for (let i = 0; i < valid.length; i += CHUNK) {
    const chunk = valid.slice(i, i + CHUNK);
    const applied = await ctx.prisma.$transaction((tx) => applyInTx(ctx, tx, orgId, chunk.map((c) => c.entry), now), { timeout: 60_000, maxWait: 10_000 });
    applied.forEach((r, k) => items.push({ index: chunk[k]!.index, id: r.suppressionId, created: r.created, cancelledTimers: r.cancelledTimers }));
  }
  return {
    added: items.filter((x) => x.created).length,
    unchanged: items.filter((x) => !x.created).length,
    cancelledTimers: items.reduce((n, x) => n + x.cancelledTimers, 0),
    items,
    errors,
  };
}

// ---------------------------------------------------------------------------------------------
// Inbound: texts and IVR key presses
// ---------------------------------------------------------------------------------------------

export interface InboundSmsInput {
  orgId: string;
  /** The consumer (Twilio's From). */
  from: string;
  /** Our number (Twilio's To). */
  to?: string;
  body: string;
  messageSid?: string;
}

/**
 * What became of the automatic reply to an inbound text (the opt-out confirmation, the opt-in
 * confirmation or the HELP answer): `skipped` when the org turned it off or nothing called for one
 * (a repeated STOP; a START that leaves the number suppressed), `rate_limited` for a HELP answered
 * less than 10 minutes before; null when the text asks for no reply at all.
 */
export type InboundReply = 'sent' | 'failed' | 'skipped' | 'rate_limited' | null;

export interface InboundSmsOutcome {
  classification: InboundClassification;
  action: 'suppressed' | 'already_suppressed' | 'lifted' | 'none';
  confirmation: InboundReply;
  cancelledTimers: number;
}

/** A number that texts HELP again gets at most one answer in this window. */
export const HELP_REPLY_INTERVAL_MS = 10 * 60_000;

/** Where the provider reports on our replies to inbound texts (answered by src/api/webhooks/inbound.ts). */
export function confirmationCallbackUrl(base: string, orgId: string): string {
  return `${base}/webhooks/twilio/confirmation-status?orgId=${encodeURIComponent(orgId)}`;
}

/** A reply text as sent: `{org}` replaced by the org's name. */
async function renderReply(ctx: EngineContext, orgId: string, text: string): Promise<string> {
  if (!text.includes(ORG_NAME_PLACEHOLDER)) return text;
  const org = await ctx.prisma.org.findUnique({ where: { id: orgId }, select: { name: true } });
  return text.replaceAll(ORG_NAME_PLACEHOLDER, org?.name ?? '');
}

type ReplyKind = 'optout.confirmation' | 'optin.confirmation' | 'help.reply';
const REPLY_LABEL: Record<ReplyKind, string> = { 'optout.confirmation': 'opt-out confirmation', 'optin.confirmation': 'opt-in confirmation', 'help.reply': 'HELP reply' };

interface Reply {
  orgId: string;
  kind: ReplyKind;
  /** E.164. */
  to: string;
  /** The org's setting, before `{org}` is replaced. */
  text: string;
  /** Stable per inbound message: a redelivered webhook is the same reply where the provider honours it. */
  idempotencyToken: string;
  /** Kept in the `_sent` / `_failed` audit entry (never the number or the text). */
  data: Record<string, unknown>;
}

/** How a send failed, for the log and the `_failed` audit entry. */
function failureOf(err: unknown): { kind: string; providerCode: number | null; httpStatus: number | null } {
  return err instanceof SendFailure ? { kind: err.kind, providerCode: err.providerCode ?? null, httpStatus: err.httpStatus ?? null } : { kind: 'error', providerCode: null, httpStatus: null };
}

/** Sends one reply straight to the consumer — not through the calendar: it answers their own message. Never throws. */
async function trySend(ctx: EngineContext, reply: Reply, body: string): Promise<SendResult | { failed: unknown }> {
  try {
    return await ctx.sender.send({
      orgId: reply.orgId,
      to: reply.to,
      payload: { channel: 'sms', body },
      statusCallback: confirmationCallbackUrl(ctx.settings.publicBaseUrl, reply.orgId),
      idempotencyToken: reply.idempotencyToken,
    });
  } catch (err) {
    return { failed: err };
  }
}

const sentEntry = (ctx: EngineContext, reply: Reply, sent: SendResult): AuditInput => ({
  action: `${reply.kind}_sent`,
  createdAt: new Date(ctx.clock.now()),
  data: { ...reply.data, providerId: sent.providerId, providerStatus: sent.status },
});

/** A failed send: logged (masked number) and audited `<kind>_failed`; never throws (the reply must not fail the webhook). */
async function auditFailedReply(ctx: EngineContext, reply: Reply, err: unknown): Promise<'failed'> {
  const f = failureOf(err);
  ctx.log.warn({ orgId: reply.orgId, to: maskPhone(reply.to), ...f }, `${REPLY_LABEL[reply.kind]} failed`);
  await ctx.audit
    .append(reply.orgId, [{ action: `${reply.kind}_failed`, createdAt: new Date(ctx.clock.now()), data: { ...reply.data, ...f } }])
    .catch((e: Error) => ctx.log.error({ orgId: reply.orgId, err: e.message }, `could not audit the failed ${REPLY_LABEL[reply.kind]}`));
  return 'failed';
}

/** Sends the reply and audits `<kind>_sent` / `<kind>_failed`. */
async function replyOnce(ctx: EngineContext, reply: Reply): Promise<'sent' | 'failed'> {
  const sent = await trySend(ctx, reply, await renderReply(ctx, reply.orgId, reply.text));
  if ('failed' in sent) return auditFailedReply(ctx, reply, sent.failed);
  await ctx.audit.append(reply.orgId, [sentEntry(ctx, reply, sent)]);
  return 'sent';
}

/**
 * The answer to HELP, at most one per number per HELP_REPLY_INTERVAL_MS. The last answer is found
 * in the audit log (`help.reply_sent` entries carry the number's SHA-256, as contacts.phone_hash;
 * read through the (org_id, created_at) index), under a per-(org, number) advisory lock held until
 * the new `help.reply_sent` entry commits, so HELPs at the same moment get one answer (the lock is
 * held across the provider call: a few hundred ms, only for that number). A failed answer does
 * not count: the next HELP is answered.
 */
async function answerHelp(ctx: EngineContext, reply: Reply, hash: string, now: number): Promise<'sent' | 'failed' | 'rate_limited'> {
  const body = await renderReply(ctx, reply.orgId, reply.text);
  let sent: SendResult | undefined;
  try {
    const r = await ctx.prisma.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT 1 AS ok FROM pg_advisory_xact_lock(hashtextextended(${`help-reply:${reply.orgId}:${reply.to}`}, 0))`;
        const since = new Date(now - HELP_REPLY_INTERVAL_MS);
        const recent = await tx.$queryRaw<Array<{ ok: number }>>`
          SELECT 1 AS ok FROM audit_entries
          WHERE org_id = ${reply.orgId}::uuid AND created_at > ${since} AND action = 'help.reply_sent' AND data->>'phoneHash' = ${hash}
          LIMIT 1`;
        if (recent.length) return 'rate_limited' as const;
        const res = await trySend(ctx, reply, body);
        if ('failed' in res) return res;
        sent = res;
        await ctx.audit.append(reply.orgId, [sentEntry(ctx, reply, res)], tx);
        return 'sent' as const;
      },
      { timeout: 30_000, maxWait: 10_000 },
    );
    return r === 'sent' || r === 'rate_limited' ? r : auditFailedReply(ctx, reply, r.failed);
  } catch (err) {
    // Before the send (the database failed us): let the webhook fail, the provider retries it.
    if (!sent) throw err;
    // The answer is out but its entry did not commit (a provider call longer than the transaction
    // allows, a database error): record it without the lock rather than fail the webhook, whose
    // redelivery would answer twice.
    ctx.log.error({ orgId: reply.orgId, to: maskPhone(reply.to), err: (err as Error).message }, 'HELP reply sent but not audited under the lock; auditing it now');
    await ctx.audit.append(reply.orgId, [sentEntry(ctx, reply, sent)]).catch((e: Error) => ctx.log.error({ orgId: reply.orgId, err: e.message }, 'could not audit the HELP reply'));
    return 'sent';
  }
}

/** Whether a live entry (any source) still stops texts to the number. */
async function smsSuppressed(ctx: EngineContext, orgId: string, phone: string, now: number): Promise<boolean> {
  const n = await ctx.prisma.suppression.count({
    where: { orgId, phoneE164: phone, liftedAt: null, AND: [{ OR: [{ channel: null }, { channel: 'sms' }] }, { OR: [{ expiresAt: null }, { expiresAt: { gt: new Date(now) } }] }] },
  });
  return n > 0;
}

/**
 * An inbound text: an opt-out suppresses the number on every channel (source `inbound_sms`) and,
 * if the org wants it, sends the one confirmation text the FCC allows — only for the first STOP
 * while the number is suppressed. START (UNSTOP, YES, SUBSCRIBE) lifts only `inbound_sms` entries
 * and, when it lifted one and nothing else still suppresses the number's texts, confirms it once
 * (`optInConfirmation`). HELP (INFO, AYUDA) is answered with the org's `helpText` (`helpReply`),
 * opted-out numbers included, at most once per number per 10 minutes. Every reply goes straight
 * out (it answers the consumer's own message) and is audited; a failed send never makes this throw.
 */
export async function handleInboundSms(ctx: EngineContext, input: InboundSmsInput): Promise<InboundSmsOutcome> {
  const now = ctx.clock.now();
  const classification = classifyInbound(input.body);
  const none: InboundSmsOutcome = { classification, action: 'none', confirmation: null, cancelledTimers: 0 };
  const phone = parsePhone(input.from);
  const masked = maskPhone(input.from);
  if ('code' in phone) {
    if (classification.kind !== 'none') ctx.log.warn({ orgId: input.orgId, from: masked, kind: classification.kind }, 'inbound text from an unusable number; ignored');
    return none;
  }
  const evidence = input.messageSid ? { messageSid: input.messageSid } : undefined;
  const areaCode = areaCodeOf(phone.e164);

  if (classification.kind === 'opt_in') {
    const { lifted, ids } = await liftSuppressions(ctx, { orgId: input.orgId, phone: phone.e164, sources: ['inbound_sms'], by: `inbound_sms: ${classification.keyword}`, ...(evidence ? { evidence } : {}) }, now);
    ctx.log.info({ orgId: input.orgId, from: masked, keyword: classification.keyword, lifted }, 'inbound opt-in');
    // Nothing lifted (never opted out, a repeated START, or a DNC/manual entry START never lifts): no reply.
    if (!lifted) return none;
    const outcome: InboundSmsOutcome = { ...none, action: 'lifted', confirmation: 'skipped' };
    const settings = await loadOrgSettings(ctx.prisma, input.orgId, now);
    if (!settings.optInConfirmation) return outcome;
    // Another entry (a DNC list, a manual one) still stops texts: "subscribed again" would be false.
    if (await smsSuppressed(ctx, input.orgId, phone.e164, now)) {
      ctx.log.info({ orgId: input.orgId, from: masked }, 'opt-in lifted an SMS opt-out but the number is still suppressed; no confirmation');
      return outcome;
    }
    const confirmation = await replyOnce(ctx, {
      orgId: input.orgId,
      kind: 'optin.confirmation',
      to: phone.e164,
      text: settings.optInConfirmationText,
      idempotencyToken: `optin-confirmation:${input.messageSid ?? ids[0]}`,
      data: { suppressionIds: ids, keyword: classification.keyword, areaCode, ...(evidence ?? {}) },
    });
    return { ...outcome, confirmation };
  }

  if (classification.kind === 'help') {
    const settings = await loadOrgSettings(ctx.prisma, input.orgId, now);
    if (!settings.helpReply) {
      ctx.log.debug({ orgId: input.orgId, from: masked }, 'inbound HELP; replies are off');
      return { ...none, confirmation: 'skipped' };
    }
    const hash = phoneHash(phone.e164);
    const confirmation = await answerHelp(
      ctx,
      {
        orgId: input.orgId,
        kind: 'help.reply',
        to: phone.e164,
        text: settings.helpText,
        idempotencyToken: `help-reply:${input.messageSid ?? randomUUID()}`,
        data: { keyword: classification.keyword, areaCode, phoneHash: hash, ...(evidence ?? {}) },
      },
      hash,
      now,
    );
    ctx.log.info({ orgId: input.orgId, from: masked, keyword: classification.keyword, reply: confirmation }, 'inbound help');
    return { ...none, confirmation };
  }

  if (classification.kind !== 'opt_out') {
    ctx.log.debug({ orgId: input.orgId, from: masked, kind: classification.kind }, 'inbound text');
    await recordInboundMessage(ctx, input.orgId, phone.e164, input.body, input.messageSid ?? null, areaCode, now);
    return none;
  }

  const reasonText = classification.match === 'keyword' ? `keyword: ${classification.keyword}` : `phrase: "${classification.keyword}"`;
  const r = await suppressNumber(ctx, { orgId: input.orgId, phone: phone.e164, reason: reasonText, source: 'inbound_sms', channel: null, ...(evidence ? { evidence } : {}) }, now);
  ctx.log.info({ orgId: input.orgId, from: masked, reason: reasonText, cancelledTimers: r.cancelledTimers, repeat: r.previouslySuppressed }, 'inbound opt-out');
  const outcome: InboundSmsOutcome = { classification, action: r.previouslySuppressed ? 'already_suppressed' : 'suppressed', confirmation: 'skipped', cancelledTimers: r.cancelledTimers };

  const settings = await loadOrgSettings(ctx.prisma, input.orgId, now);
  if (!settings.optOutConfirmation || r.previouslySuppressed) return outcome;
  // The opt-out itself is recorded; a failed confirmation must not fail the webhook.
  const confirmation = await replyOnce(ctx, {
    orgId: input.orgId,
    kind: 'optout.confirmation',
    to: phone.e164,
    text: settings.optOutConfirmationText,
    // A redelivered webhook (same MessageSid) is the same confirmation.
    idempotencyToken: `optout-confirmation:${input.messageSid ?? r.suppressionId}`,
    data: { suppressionId: r.suppressionId, areaCode, ...(evidence ?? {}) },
  });
  return { ...outcome, confirmation };
}

/**
 * A text that is not a keyword: a reply in a conversation. The body is kept in inbound_messages
 * (for endpoints that opt in to bodies, as `inbound.message` events); the audit entry records it
 * without the body, with the contact and its active journey. A redelivered webhook (same
 * MessageSid) is recorded once.
 */
async function recordInboundMessage(ctx: EngineContext, orgId: string, from: string, body: string, messageSid: string | null, areaCode: string | null, now: number): Promise<void> {
  const at = new Date(now);
  await ctx.prisma.$transaction(async (tx) => {
    const contact = await tx.contact.findUnique({ where: { orgId_phoneE164: { orgId, phoneE164: from } }, select: { id: true } });
    const journey = contact
      ? await tx.journey.findFirst({ where: { orgId, contactId: contact.id, status: 'active', expiresAt: { gt: at } }, orderBy: { createdAt: 'desc' }, select: { id: true } })
      : null;
    const id = randomUUID();
    const inserted = await tx.$executeRaw`
      INSERT INTO inbound_messages (id, org_id, contact_id, journey_id, message_sid, from_e164, body, created_at)
      VALUES (${id}::uuid, ${orgId}::uuid, ${contact?.id ?? null}::uuid, ${journey?.id ?? null}::uuid, ${messageSid}, ${from}, ${body}, ${at})
      ON CONFLICT (org_id, message_sid) DO NOTHING`;
    if (!inserted) return;
    await ctx.audit.append(
      orgId,
      [{ action: 'inbound.message', createdAt: at, contactId: contact?.id ?? null, journeyId: journey?.id ?? null, data: { inboundId: id, messageSid, areaCode, phoneHash: phoneHash(from), chars: [...body].length } }],
      tx,
    );
  });
}

export interface VoiceOptOutInput {
  orgId: string;
  /** Twilio's form parameters (From, To, Called, Caller, Direction, Digits, CallSid). */
  params: Record<string, unknown>;
}

/**
 * The contact's number on a call: on our outbound call (Direction `outbound-api`/`outbound-dial`)
 * it is the called party (`To`, or `Called`); on a call the consumer made to us it is the caller
 * (`From`, or `Caller`).
 */
export function contactNumberOfCall(params: Record<string, unknown>): string | undefined {
  const str = (k: string) => (typeof params[k] === 'string' && params[k] !== '' ? (params[k] as string) : undefined);
  const outbound = (str('Direction') ?? '').startsWith('outbound');
  return outbound ? (str('To') ?? str('Called')) : (str('From') ?? str('Caller'));
}

/** A key press in our IVR (Twilio <Gather> action): the org's opt-out digit suppresses the number on every channel. */
export async function handleVoiceOptOut(ctx: EngineContext, input: VoiceOptOutInput): Promise<{ optedOut: boolean; cancelledTimers: number }> {
  const now = ctx.clock.now();
  const settings = await loadOrgSettings(ctx.prisma, input.orgId, now);
  const digits = typeof input.params['Digits'] === 'string' ? input.params['Digits'].trim() : '';
  if (digits !== settings.voiceOptOutDigit) return { optedOut: false, cancelledTimers: 0 };
  const raw = contactNumberOfCall(input.params);
  const phone = raw === undefined ? undefined : parsePhone(raw);
  if (!phone || 'code' in phone) {
    ctx.log.warn({ orgId: input.orgId, phone: maskPhone(raw) }, 'voice opt-out from an unusable number; ignored');
    return { optedOut: false, cancelledTimers: 0 };
  }
  const callSid = typeof input.params['CallSid'] === 'string' ? input.params['CallSid'] : undefined;
  const r = await suppressNumber(
    ctx,
    { orgId: input.orgId, phone: phone.e164, reason: `keypress: ${digits}`, source: 'inbound_voice', channel: null, ...(callSid ? { evidence: { callSid } } : {}) },
    now,
  );
  ctx.log.info({ orgId: input.orgId, phone: maskPhone(phone.e164), cancelledTimers: r.cancelledTimers }, 'voice opt-out');
  return { optedOut: true, cancelledTimers: r.cancelledTimers };
}
