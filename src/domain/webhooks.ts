/**
 * Outbound events (webhooks), the pure part: which audit entries are which events, what an event
 * carries (and never carries), how it is signed and verified, and the retry and disable rules.
 *
 * The audit log is the outbox. Every state change already writes its entry in the transaction
 * that makes the change, so an event exists exactly when its change committed, and a crash
 * between the change and the delivery loses nothing: the entry is there, past the endpoint's
 * cursor, and the next pass turns it into a delivery.
 *
 * Signature (the shape Stripe and Svix use): header `Tcpa-Signature: t=<unix seconds>,v1=<hex>`,
 * where hex = HMAC-SHA256(secret, `${t}.${body}`). During a rotation both live secrets sign, so
 * the header carries two `v1=` values and a receiver holding either secret accepts it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const EVENT_TYPES = [
  'timer.created',
  'timer.rescheduled',
  'timer.cancelled',
  'timer.suppressed',
  'timer.claimed',
  'timer.sent',
  'timer.delivered',
  'timer.undelivered',
  'timer.failed',
  'timer.unknown',
  'journey.started',
  'journey.ended',
  'journey.expired',
  'optout.received',
  'optin.received',
  'inbound.message',
  'campaign.planned',
  'campaign.failed',
  'campaign.cancelled',
  'killswitch.changed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * Which audit entries are which events: an entry with `action` is an event of `type`, when its
 * `data[key]` matches the SQL LIKE `pattern` (if given). Opt-outs and opt-ins are suppressions
 * added or lifted by the person (by text or in our IVR), not by an API call or an import.
 */
export interface EventSource {
  action: string;
  type: EventType;
  key?: string;
  pattern?: string;
}

export const EVENT_SOURCES: readonly EventSource[] = [
  { action: 'timer.created', type: 'timer.created' },
  { action: 'timer.rescheduled', type: 'timer.rescheduled' },
  { action: 'timer.cancelled', type: 'timer.cancelled' },
  { action: 'timer.suppressed', type: 'timer.suppressed' },
  { action: 'timer.claimed', type: 'timer.claimed' },
  { action: 'timer.sent', type: 'timer.sent' },
  { action: 'timer.delivered', type: 'timer.delivered' },
  { action: 'timer.undelivered', type: 'timer.undelivered' },
  { action: 'timer.failed', type: 'timer.failed' },
  { action: 'timer.unknown', type: 'timer.unknown' },
  // The dispatcher went silent after claiming: the timer is `unknown` until settled.
  { action: 'timer.lease_expired', type: 'timer.unknown' },
  { action: 'journey.started', type: 'journey.started' },
  { action: 'journey.ended', type: 'journey.ended' },
  { action: 'journey.expired', type: 'journey.expired' },
  { action: 'suppression.added', type: 'optout.received', key: 'source', pattern: 'inbound\\_%' },
  { action: 'suppression.lifted', type: 'optin.received', key: 'by', pattern: 'inbound\\_sms:%' },
  { action: 'inbound.message', type: 'inbound.message' },
  { action: 'campaign.planned', type: 'campaign.planned' },
  { action: 'campaign.failed', type: 'campaign.failed' },
  { action: 'campaign.cancelled', type: 'campaign.cancelled' },
  { action: 'killswitch.created', type: 'killswitch.changed' },
  { action: 'killswitch.lifted', type: 'killswitch.changed' },
];

/** An endpoint subscribed to `*` receives every type. */
export const ALL_EVENTS = '*';

/** An audit entry as the deliverer reads it. */
export interface EventEntry {
  id: string;
  orgId: string;
  action: string;
  createdAt: number;
  timerId: string | null;
  contactId: string | null;
  journeyId: string | null;
  campaignId: string | null;
  decision: string | null;
  reasonCodes: readonly string[];
  data: unknown;
}

/** What the endpoint opted in to, and what is known only outside the audit log. */
export interface EventExtras {
  includeBodies: boolean;
  /** For `inbound.message` when the endpoint opted in: the text and the number it came from. */
  inbound?: { body: string; from: string } | null;
}

export interface WebhookEvent {
  id: string;
  type: EventType;
  createdAt: string;
  orgId: string;
  timerId: string | null;
  journeyId: string | null;
  contactId: string | null;
  campaignId: string | null;
  decision: string | null;
  reasonCodes: string[];
  data: Record<string, unknown>;
}

/** Keys that could carry a message body or a full phone number: never in an event's data. */
const PRIVATE_KEYS = new Set(['body', 'text', 'phone', 'phoneE164', 'to', 'from', 'e164', 'twiml', 'message']);

/** `value` without any PRIVATE_KEYS, at any depth. */
export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (!PRIVATE_KEYS.has(k)) out[k] = redact(v);
    return out;
  }
  return value;
}

export function eventId(entryId: string): string {
  return `evt_${entryId}`;
}

/** The event an entry is, as an endpoint receives it. */
export function buildEvent(entry: EventEntry, type: EventType, extras: EventExtras): WebhookEvent {
  const data = (redact(entry.data) ?? {}) as Record<string, unknown>;
  if (type === 'inbound.message' && extras.includeBodies && extras.inbound) {
    data['body'] = extras.inbound.body;
    data['from'] = extras.inbound.from;
  }
  return {
    id: eventId(entry.id),
    type,
    createdAt: new Date(entry.createdAt).toISOString(),
    orgId: entry.orgId,
    timerId: entry.timerId,
    journeyId: entry.journeyId,
    contactId: entry.contactId,
    campaignId: entry.campaignId,
    decision: entry.decision,
    reasonCodes: [...entry.reasonCodes],
    data,
  };
}

export const SIGNATURE_HEADER = 'Tcpa-Signature';
/** A receiver rejects a signature whose timestamp is further than this from its clock (replays). */
export const SIGNATURE_TOLERANCE_S = 300;

function hmac(secret: string, t: number, body: string): string {
  return createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
}

/** `t=<unix s>,v1=<hex>[,v1=<hex>]`: one v1 per live secret. */
export function signatureHeader(secrets: readonly string[], unixSeconds: number, body: string): string {
  if (!secrets.length) throw new RangeError('signing needs at least one secret');
  return [`t=${unixSeconds}`, ...secrets.map((s) => `v1=${hmac(s, unixSeconds, body)}`)].join(',');
}

export type SignatureCheck = { ok: true } | { ok: false; reason: 'malformed' | 'stale' | 'mismatch' };

/** What a receiver does with the header (documented in the README; used by the tests as a receiver would). */
export function verifySignature(header: string | undefined, body: string, secret: string, nowSeconds: number, toleranceS = SIGNATURE_TOLERANCE_S): SignatureCheck {
  if (!header) return { ok: false, reason: 'malformed' };
  const parts = header.split(',').map((p) => p.split('=', 2) as [string, string | undefined]);
  const t = Number(parts.find(([k]) => k === 't')?.[1]);
  const sigs = parts.filter(([k, v]) => k === 'v1' && v).map(([, v]) => v!);
  if (!Number.isInteger(t) || !sigs.length) return { ok: false, reason: 'malformed' };
  if (Math.abs(nowSeconds - t) > toleranceS) return { ok: false, reason: 'stale' };
  const want = Buffer.from(hmac(secret, t, body), 'hex');
  const match = sigs.some((s) => {
    const got = Buffer.from(s, 'hex');
    return got.length === want.length && timingSafeEqual(got, want);
  });
  return match ? { ok: true } : { ok: false, reason: 'mismatch' };
}

/** A delivery is retried for this long from its event, then it is dead. */
export const DELIVERY_RETRY_MS = 3 * 24 * 3600_000;
/** An endpoint that has failed without one success for this long is disabled. */
export const ENDPOINT_DISABLE_MS = 3 * 24 * 3600_000;
const FIRST_RETRY_MS = 5_000;
const MAX_RETRY_MS = 3600_000;

/** Wait before attempt `attempts + 1` after `attempts` failures: 5 s, 10 s, 20 s, … capped at an hour. */
export function retryDelayMs(attempts: number): number {
  return Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, Math.min(attempts - 1, 30)));
}

export type AfterFailure = { status: 'dead' } | { status: 'pending'; nextAttemptAt: number };

/** A failed attempt (the `attempts`-th) of a delivery whose event happened at `createdAt`. */
export function afterFailure(createdAt: number, attempts: number, now: number): AfterFailure {
  const next = now + retryDelayMs(attempts);
  return next - createdAt > DELIVERY_RETRY_MS ? { status: 'dead' } : { status: 'pending', nextAttemptAt: next };
}

/** Whether an endpoint failing since `failingSince` (null: its last attempt succeeded) is to be disabled at `now`. */
export function shouldDisable(failingSince: number | null, now: number): boolean {
  return failingSince !== null && now - failingSince >= ENDPOINT_DISABLE_MS;
}

/** A 2xx is a delivery; anything else (or no answer) is a failure to retry. */
export function delivered(statusCode: number | null): boolean {
  return statusCode !== null && statusCode >= 200 && statusCode < 300;
}
