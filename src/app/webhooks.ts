/**
 * Outbound events (webhooks): an org's endpoints (admin), and their delivery.
 *
 * The audit log is the outbox (src/domain/webhooks.ts): `WebhookDeliverer.fanOut` turns entries
 * past each endpoint's cursor into deliveries (one statement for every endpoint), and
 * `deliverEndpoint` — one endpoint per job, so a slow or failing endpoint holds only its own
 * job — leases its due deliveries (in order per timer), POSTs them signed, and records every
 * attempt in one batch. A failed delivery is retried with exponential backoff for 3 days from its
 * event, then it is dead; an endpoint that has failed without one success for 3 days is disabled
 * (audited `webhook.disabled`).
 *
 * Signing secrets are sealed with TCPA_SECRET_KEY (AES-256-GCM, the endpoint id as associated
 * data): they are shown once, when made, and never again.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { openJson, sealJson } from '../adapters/crypto/secret-box.ts';
import * as sql from '../adapters/db/webhook-queries.ts';
import { pgPoolOf } from '../adapters/db/client.ts';
import { inTransaction, sqlPool } from '../adapters/db/sql.ts';
import { AppError } from '../domain/errors.ts';
import {
  afterFailure,
  ALL_EVENTS,
  buildEvent,
  delivered,
  EVENT_SOURCES,
  EVENT_TYPES,
  shouldDisable,
  SIGNATURE_HEADER,
  signatureHeader,
  type EventType,
} from '../domain/webhooks.ts';
import type { WebhookPosterPort } from './ports.ts';
import type { EngineContext } from './timers/context.ts';

/** How long the previous secret keeps signing after a rotation. */
export const ROTATION_OVERLAP_MS = 24 * 3600_000;
/** Most endpoints per org. */
export const MAX_ENDPOINTS = 20;

const EventName = z.union([z.enum(EVENT_TYPES), z.literal(ALL_EVENTS)]);
const Secret = z.string().regex(/^whsec_[A-Za-z0-9+/=_-]{24,128}$/, 'whsec_ followed by 24 to 128 base64 characters');

export const CreateWebhookBody = z
  .object({
    url: z.url({ protocol: /^https?$/ }).max(2000),
    events: z.array(EventName).min(1).max(EVENT_TYPES.length + 1).describe('Event types, or ["*"] for all'),
    includeBodies: z.boolean().default(false).describe('Opt in to message bodies and full phone numbers (inbound.message)'),
    secret: Secret.optional().describe('Your own signing secret; default a random one, shown once in the answer'),
  })
  .strict();

export const WebhookViewSchema = z.object({
  id: z.uuid(),
  url: z.string(),
  events: z.array(z.string()),
  includeBodies: z.boolean(),
  status: z.enum(['enabled', 'disabled']),
  failingSince: z.string().nullable(),
  disabledAt: z.string().nullable(),
  disabledReason: z.string().nullable(),
  createdAt: z.string(),
});
export type WebhookView = z.infer<typeof WebhookViewSchema>;
export const WebhookWithSecretSchema = WebhookViewSchema.extend({ secret: z.string().describe('Shown only in this answer') });

export const DeliveryViewSchema = z.object({
  id: z.string(),
  eventId: z.string(),
  eventType: z.string(),
  status: z.enum(['pending', 'delivered', 'dead']),
  attempts: z.number().int(),
  nextAttemptAt: z.string().nullable(),
  lastStatus: z.number().int().nullable(),
  lastError: z.string().nullable(),
  createdAt: z.string(),
  deliveredAt: z.string().nullable(),
  history: z.array(z.object({ at: z.string(), statusCode: z.number().int().nullable(), error: z.string().nullable(), durationMs: z.number().int() })),
});
export type DeliveryView = z.infer<typeof DeliveryViewSchema>;

export const ListDeliveriesQuery = z
  .object({
    status: z.enum(['pending', 'delivered', 'dead']).optional(),
    before: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional().describe('Paging: deliveries with a smaller id'),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();

/** An event as an endpoint receives it (documented per type in the OpenAPI document's `webhooks`). */
export const WebhookEventSchema = z.object({
  id: z.string().describe('evt_<n>: the same event has the same id on every attempt and endpoint (deduplicate on it)'),
  type: z.enum(EVENT_TYPES),
  createdAt: z.string().describe('When the change happened (UTC, ISO 8601)'),
  orgId: z.uuid(),
  timerId: z.uuid().nullable(),
  journeyId: z.uuid().nullable(),
  contactId: z.uuid().nullable(),
  campaignId: z.uuid().nullable(),
  decision: z.string().nullable().describe('send, reschedule or cancel, where the change is a decision'),
  reasonCodes: z.array(z.string()),
  data: z.record(z.string(), z.unknown()).describe("The audit entry's details, without bodies or full phone numbers (inbound.message: body and from for endpoints with includeBodies)"),
});

interface StoredSecret {
  secret: string;
  /** UTC ms after which it no longer signs (null: current). */
  expiresAt: number | null;
}

function aad(endpointId: string): string {
  return `webhook:${endpointId}`;
}

export function newSecret(): string {
  return `whsec_${randomBytes(24).toString('base64url')}`;
}

/** The secrets that sign at `now` (the current one first). */
export function liveSecrets(key: Buffer, endpointId: string, sealed: string, now: number): string[] {
  return openJson<StoredSecret[]>(key, sealed, aad(endpointId))
    .filter((s) => s.expiresAt === null || s.expiresAt > now)
    .map((s) => s.secret);
}

function requireKey(secretKey: Buffer | undefined): Buffer {
  if (!secretKey) throw new AppError('UNAVAILABLE', 'this deployment has no TCPA_SECRET_KEY, so it cannot keep webhook signing secrets');
  return secretKey;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

type EndpointRow = { id: string; url: string; events: string[]; includeBodies: boolean; status: string; failingSince: Date | null; disabledAt: Date | null; disabledReason: string | null; createdAt: Date };

function view(e: EndpointRow): WebhookView {
  return {
    id: e.id,
    url: e.url,
    events: e.events,
    includeBodies: e.includeBodies,
    status: e.status as WebhookView['status'],
    failingSince: iso(e.failingSince),
    disabledAt: iso(e.disabledAt),
    disabledReason: e.disabledReason,
    createdAt: e.createdAt.toISOString(),
  };
}

export class WebhookService {
  constructor(
    private readonly ctx: EngineContext,
    private readonly secretKey: Buffer | undefined,
  ) {}

  /** Registers an endpoint. It receives events from now on (its cursor is its own `webhook.created` entry). */
  async create(orgId: string, body: z.infer<typeof CreateWebhookBody>): Promise<WebhookView & { secret: string }> {
    const key = requireKey(this.secretKey);
    const { ctx } = this;
    const now = ctx.clock.now();
    const secret = body.secret ?? newSecret();
    const events = [...new Set(body.events)];
    const row = await ctx.prisma.$transaction(async (tx) => {
      const count = await tx.webhookEndpoint.count({ where: { orgId, deletedAt: null } });
      if (count >= MAX_ENDPOINTS) throw new AppError('CONFLICT', `an org may have at most ${MAX_ENDPOINTS} webhook endpoints`);
      const id = crypto.randomUUID();
      const secrets = sealJson(key, [{ secret, expiresAt: null } satisfies StoredSecret], aad(id));
      await tx.webhookEndpoint.create({ data: { id, orgId, url: body.url, events, includeBodies: body.includeBodies, secrets, cursorSeq: 0, createdAt: new Date(now) } });
      const [entry] = await ctx.audit.append(orgId, [{ action: 'webhook.created', createdAt: new Date(now), data: { webhookId: id, url: body.url, events, includeBodies: body.includeBodies } }], tx);
      return tx.webhookEndpoint.update({ where: { id }, data: { cursorSeq: entry!.seq } });
    });
    return { ...view(row), secret };
  }

  async list(orgId: string): Promise<{ items: WebhookView[] }> {
    const rows = await this.ctx.prisma.webhookEndpoint.findMany({ where: { orgId, deletedAt: null }, orderBy: { createdAt: 'desc' } });
    return { items: rows.map(view) };
  }

  async get(orgId: string, id: string): Promise<WebhookView> {
    return view(await this.find(orgId, id));
  }

  private async find(orgId: string, id: string): Promise<EndpointRow & { secrets: string }> {
    const row = await this.ctx.prisma.webhookEndpoint.findFirst({ where: { id, orgId, deletedAt: null } });
    if (!row) throw new AppError('NOT_FOUND', `webhook ${id} not found`);
    return row;
  }

  /** Stops deliveries to the endpoint (its delivery history is kept). */
  async remove(orgId: string, id: string): Promise<WebhookView> {
    const { ctx } = this;
    await this.find(orgId, id);
    const now = new Date(ctx.clock.now());
    const row = await ctx.prisma.$transaction(async (tx) => {
      const r = await tx.webhookEndpoint.update({ where: { id }, data: { deletedAt: now } });
      await ctx.audit.append(orgId, [{ action: 'webhook.deleted', createdAt: now, data: { webhookId: id } }], tx);
      return r;
    });
    return view(row);
  }

  /** A new secret, shown once; the previous one keeps signing for ROTATION_OVERLAP_MS (both signatures are sent). */
  async rotateSecret(orgId: string, id: string): Promise<WebhookView & { secret: string }> {
    const key = requireKey(this.secretKey);
    const { ctx } = this;
    const now = ctx.clock.now();
    const e = await this.find(orgId, id);
    const secret = newSecret();
    const kept = openJson<StoredSecret[]>(key, e.secrets, aad(id))
      .filter((s) => s.expiresAt === null || s.expiresAt > now)
      .map((s) => ({ secret: s.secret, expiresAt: s.expiresAt ?? now + ROTATION_OVERLAP_MS }));
    const row = await ctx.prisma.$transaction(async (tx) => {
      const r = await tx.webhookEndpoint.update({ where: { id }, data: { secrets: sealJson(key, [{ secret, expiresAt: null }, ...kept], aad(id)) } });
      await ctx.audit.append(orgId, [{ action: 'webhook.secret_rotated', createdAt: new Date(now), data: { webhookId: id, previousUntil: new Date(now + ROTATION_OVERLAP_MS).toISOString() } }], tx);
      return r;
    });
    return { ...view(row), secret };
  }

  /** Turns a disabled endpoint back on; deliveries resume from where they stopped (dead ones stay dead; retry them one by one). */
  async enable(orgId: string, id: string): Promise<WebhookView> {
    const { ctx } = this;
    await this.find(orgId, id);
    const now = new Date(ctx.clock.now());
    const row = await ctx.prisma.$transaction(async (tx) => {
      const r = await tx.webhookEndpoint.update({ where: { id }, data: { status: 'enabled', failingSince: null, disabledAt: null, disabledReason: null } });
      await ctx.audit.append(orgId, [{ action: 'webhook.enabled', createdAt: now, data: { webhookId: id } }], tx);
      return r;
    });
    return view(row);
  }

  async deliveries(orgId: string, id: string, q: z.infer<typeof ListDeliveriesQuery>): Promise<{ items: DeliveryView[]; next: string | null }> {
    await this.find(orgId, id);
    const rows = await this.ctx.prisma.webhookDelivery.findMany({
      where: { endpointId: id, ...(q.status ? { status: q.status } : {}), ...(q.before ? { id: { lt: BigInt(q.before) } } : {}) },
      orderBy: { id: 'desc' },
      take: q.limit,
      include: { attemptRows: { orderBy: { id: 'asc' }, take: 50 } },
    });
    return { items: rows.map(deliveryView), next: rows.length === q.limit ? String(rows[rows.length - 1]!.id) : null };
  }

  /** Sends a delivery again now (a dead one too), in its order. */
  async retry(orgId: string, id: string, deliveryId: string): Promise<DeliveryView> {
    const { ctx } = this;
    await this.find(orgId, id);
    const d = await ctx.prisma.webhookDelivery.findFirst({ where: { id: BigInt(deliveryId), endpointId: id } });
    if (!d) throw new AppError('NOT_FOUND', `delivery ${deliveryId} not found`);
    if (d.status === 'pending' && d.leasedUntil && d.leasedUntil.getTime() > ctx.clock.now()) throw new AppError('CONFLICT', 'the delivery is being attempted right now');
    const now = new Date(ctx.clock.now());
    const row = await ctx.prisma.$transaction(async (tx) => {
      const r = await tx.webhookDelivery.update({ where: { id: d.id }, data: { status: 'pending', nextAttemptAt: now, leasedUntil: null }, include: { attemptRows: { orderBy: { id: 'asc' }, take: 50 } } });
      await ctx.audit.append(orgId, [{ action: 'webhook.delivery_retried', createdAt: now, data: { webhookId: id, deliveryId, eventType: d.eventType } }], tx);
      return r;
    });
    return deliveryView(row);
  }
}

function deliveryView(d: {
  id: bigint; entryId: bigint; eventType: string; status: string; attempts: number; nextAttemptAt: Date; lastStatus: number | null; lastError: string | null; createdAt: Date; deliveredAt: Date | null;
  attemptRows: Array<{ at: Date; statusCode: number | null; error: string | null; durationMs: number }>;
}): DeliveryView {
  return {
    id: String(d.id),
    eventId: `evt_${d.entryId}`,
    eventType: d.eventType,
    status: d.status as DeliveryView['status'],
    attempts: d.attempts,
    nextAttemptAt: d.status === 'pending' ? d.nextAttemptAt.toISOString() : null,
    lastStatus: d.lastStatus,
    lastError: d.lastError,
    createdAt: d.createdAt.toISOString(),
    deliveredAt: iso(d.deliveredAt),
    history: d.attemptRows.map((a) => ({ at: a.at.toISOString(), statusCode: a.statusCode, error: a.error, durationMs: a.durationMs })),
  };
}

export interface DelivererOptions {
  timeoutMs: number;
  /** Entries scanned per endpoint per fan-out pass. Default 5000. */
  fanOutBatch?: number;
  /** Deliveries leased per round. Default 100. */
  leaseBatch?: number;
  /** Time an endpoint's job keeps delivering before it yields its worker slot (ms). Default 5000. */
  budgetMs?: number;
}

/** Events out: fan-out and delivery, on the engine's clock. */
export class WebhookDeliverer {
  private readonly pool: ReturnType<typeof sqlPool>;

  constructor(
    private readonly ctx: EngineContext,
    private readonly poster: WebhookPosterPort,
    private readonly secretKey: Buffer | undefined,
    private readonly opts: DelivererOptions,
  ) {
    const pool = pgPoolOf(ctx.prisma);
    if (!pool) throw new Error('webhook delivery needs a client made by createPrisma (its pg pool runs the batched SQL)');
    this.pool = sqlPool(pool);
  }

  /** New audit entries into deliveries, for every endpoint (until each has caught up). Returns deliveries created. */
  async fanOut(): Promise<number> {
    const batch = this.opts.fanOutBatch ?? 5000;
    let created = 0;
    for (let round = 0; round < 20; round++) {
      const r = await sql.fanOut(this.pool, EVENT_SOURCES, batch, new Date(this.ctx.clock.now()));
      created += r.created;
      if (r.scanned === 0) break;
    }
    return created;
  }

  /** Endpoints with deliveries due now. */
  dueEndpoints(limit = 1000): Promise<string[]> {
    return sql.endpointsDue(this.pool, new Date(this.ctx.clock.now()), limit);
  }

  /** Delivers an endpoint's due events until none are left or the budget is spent. Returns attempts made. */
  async deliverEndpoint(endpointId: string): Promise<number> {
    const { ctx } = this;
    const key = this.secretKey;
    if (!key) throw new Error('webhook delivery needs TCPA_SECRET_KEY');
    const started = ctx.clock.now();
    const budget = this.opts.budgetMs ?? 5000;
    let attempts = 0;
    while (ctx.clock.now() - started < budget) {
      const e = await ctx.prisma.webhookEndpoint.findUnique({ where: { id: endpointId } });
      if (!e || e.status !== 'enabled' || e.deletedAt) return attempts;
      const now = ctx.clock.now();
      const leased = await sql.leaseDue(this.pool, endpointId, new Date(now), new Date(now + this.opts.timeoutMs * 2 + 30_000), this.opts.leaseBatch ?? 100, e.includeBodies);
      if (!leased.length) return attempts;
      const secrets = liveSecrets(key, e.id, e.secrets, now);
      const outcomes = await Promise.all(leased.map((d) => this.attempt(e.url, e.includeBodies, secrets, d)));
      attempts += outcomes.length;
      const at = new Date(ctx.clock.now());
      const failingSince = await inTransaction(this.pool, async (db) => {
        await sql.recordAttempts(db, outcomes);
        return sql.updateStreak(db, endpointId, outcomes.some((o) => o.status === 'delivered'), outcomes.some((o) => o.status !== 'delivered'), at);
      });
      if (shouldDisable(failingSince?.getTime() ?? null, at.getTime())) {
        await this.disable(e.orgId, endpointId, failingSince!, at);
        return attempts;
      }
    }
    return attempts;
  }

  private async attempt(url: string, includeBodies: boolean, secrets: string[], d: sql.LeasedDelivery): Promise<sql.AttemptOutcome> {
    const { ctx } = this;
    const event = buildEvent(d.entry, d.eventType as EventType, { includeBodies, inbound: d.inbound });
    const body = JSON.stringify(event);
    const sentAt = ctx.clock.now();
    const t0 = performance.now();
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      statusCode = (
        await this.poster.post(url, body, { [SIGNATURE_HEADER]: signatureHeader(secrets, Math.floor(sentAt / 1000), body), 'Tcpa-Event-Id': event.id, 'Tcpa-Event-Type': event.type }, this.opts.timeoutMs)
      ).status;
      if (!delivered(statusCode)) error = `HTTP ${statusCode}`;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      error = e.name === 'TimeoutError' ? `no answer in ${this.opts.timeoutMs} ms` : `${e.cause?.code ?? e.name}: ${e.message}`.slice(0, 300);
    }
    const durationMs = Math.round(performance.now() - t0);
    const at = new Date(ctx.clock.now());
    if (delivered(statusCode)) {
      ctx.metrics?.webhookAttempt?.('delivered', durationMs);
      return { deliveryId: d.id, at, statusCode, error: null, durationMs, status: 'delivered', nextAttemptAt: null };
    }
    const next = afterFailure(d.createdAt.getTime(), d.attempts + 1, at.getTime());
    ctx.metrics?.webhookAttempt?.(next.status === 'dead' ? 'dead' : 'failed', durationMs);
    return { deliveryId: d.id, at, statusCode, error, durationMs, status: next.status, nextAttemptAt: next.status === 'pending' ? new Date(next.nextAttemptAt) : null };
  }

  private async disable(orgId: string, endpointId: string, failingSince: Date, at: Date): Promise<void> {
    const { ctx } = this;
    const reason = `failed without a success since ${failingSince.toISOString()}`;
    await ctx.prisma.$transaction(async (tx) => {
      const n = await tx.webhookEndpoint.updateMany({ where: { id: endpointId, status: 'enabled' }, data: { status: 'disabled', disabledAt: at, disabledReason: reason } });
      if (n.count) await ctx.audit.append(orgId, [{ action: 'webhook.disabled', createdAt: at, data: { webhookId: endpointId, reason, failingSince: failingSince.toISOString() } }], tx);
    });
    ctx.log.warn({ orgId, webhookId: endpointId, failingSince: failingSince.toISOString() }, 'webhook endpoint disabled');
  }
}

