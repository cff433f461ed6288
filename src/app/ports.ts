/**
 * What the engine's use cases need from the outside world, as narrow interfaces. Adapters
 * (BullMQ, Twilio, pino) implement them; tests may pass the real adapters or their own.
 */
import type { Channel } from '../domain/calendar/schema.ts';
import type { RndAnswer } from '../domain/reassigned.ts';

export interface Clock {
  /** Current instant, UTC ms. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** One timer handed to the near-term queue. `sendAt` is part of the job's identity. */
export interface QueuedTimer {
  timerId: string;
  sendAt: number;
}

export interface TimerQueuePort {
  /** Adds delayed jobs (delay = sendAt − now, at least 0). Re-adding an existing job is a no-op. */
  enqueue(items: readonly QueuedTimer[], now: number): Promise<void>;
  /**
   * For each item: whether a live (waiting, delayed, active or prioritised) job exists for it.
   * A failed job counts as missing and is removed so it can be added again.
   */
  missing(items: readonly QueuedTimer[]): Promise<QueuedTimer[]>;
}

export type SendPayload =
  | { channel: Extract<Channel, 'sms'>; body: string }
  | { channel: Extract<Channel, 'voice'>; twimlUrl: string }
  | { channel: Extract<Channel, 'voice'>; twiml: string }
  /** A timer's action: a signed POST to the platform (src/app/webhook-actions.ts), not a provider send. */
  | { channel: Channel; action: { url: string; payload: Record<string, unknown> } };

export interface SendRequest {
  orgId: string;
  to: string;
  payload: SendPayload;
  /** Where the provider posts status updates for this send. */
  statusCallback: string;
  /** SMS: seconds the provider may hold the message before giving up (never past the window). */
  validitySeconds?: number;
  /** Stable per timer: a retried request never creates a second message where the provider honours it. */
  idempotencyToken: string;
  /** The end of the judged window (UTC ms): a bot started by an action must stop talking by then. */
  windowEnd?: number;
  /** Whose send it is (an action hands these to the platform). */
  refs?: { timerId: string; contactId: string; journeyId: string | null; campaignId: string | null };
}

export interface SendResult {
  providerId: string;
  /** Provider status at acceptance, e.g. `queued`, `accepted`. */
  status: string;
}

/**
 * Why a send failed:
 * - `transient`: try again later (429, 5xx, network); the provider created nothing we know of.
 * - `permanent`: never retry (invalid number, not SMS-capable, bad credentials, …).
 * - `unsubscribed`: the recipient opted out at the carrier/provider (Twilio 21610): suppress.
 */
export type SendFailureKind = 'transient' | 'permanent' | 'unsubscribed';

export class SendFailure extends Error {
  constructor(
    readonly kind: SendFailureKind,
    message: string,
    readonly providerCode?: number,
    readonly httpStatus?: number,
  ) {
    super(message);
    this.name = 'SendFailure';
  }
}

/**
 * The request may have reached the provider but no answer came (a timeout or a connection cut
 * after it was written). Sending again could send twice, so the dispatcher never retries it: the
 * timer becomes `unknown`, and a status callback or the reconciler's look-up in the provider's
 * list settles it (queued once more only if the provider has nothing).
 */
export class SendOutcomeUnknown extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SendOutcomeUnknown';
  }
}

/** What the provider reports about an earlier send, for reconciliation. */
export interface ProviderStatus {
  providerId: string;
  status: string;
  errorCode: number | null;
}

/** One outbound send found at the provider by `findSends`: what matching an unrecorded send needs, never its body. */
export interface ProviderSend {
  providerId: string;
  status: string;
  errorCode: number | null;
  /** The number it went out from (for a messaging service, the one the service picked). */
  from: string | null;
  messagingServiceSid: string | null;
  /** SHA-256 (hex) of an SMS body as the provider holds it; null for calls. */
  bodySha256: string | null;
  /** The request's idempotency token, where the provider echoes it (Twilio does not: null). */
  idempotencyToken: string | null;
  /** When the provider created it, UTC ms (whole seconds at Twilio). */
  createdAt: number;
}

/** What `findSends` looks for: outbound sends of one channel to `to` created from `since` on (UTC ms). */
export interface SendQuery {
  channel: Channel;
  to: string;
  since: number;
}

export interface SendListing {
  sends: ProviderSend[];
  /** False when the provider had more than could be read: absence cannot be concluded. */
  complete: boolean;
}

export interface SenderPort {
  /** Throws SendFailure. */
  send(req: SendRequest): Promise<SendResult>;
  /** Looks up an earlier send by provider id; null when the provider does not know it. */
  lookup(orgId: string, channel: Channel, providerId: string): Promise<ProviderStatus | null>;
  /**
   * Lists the provider's outbound sends to a number from an instant on (Twilio's list filters
   * `To` + `DateSent>=` / `StartTime>=`), for settling a send whose answer was lost. Throws
   * SendFailure when the provider cannot be asked.
   */
  findSends?(orgId: string, query: SendQuery): Promise<SendListing>;
  /** The auth token that signs this org's webhooks (to validate X-Twilio-Signature). */
  webhookToken(orgId: string): Promise<string>;
  /** Drops anything cached about the org's credentials (after they change). */
  forget?(orgId: string): void;
  /**
   * The sender the org's sends on `channel` go out from (a number or a messaging service id),
   * for per-sender send rates; null when unknown.
   */
  senderOf?(orgId: string, channel: Channel): Promise<string | null>;
}

/** One send-rate reservation: the org's bucket and, when known, its sender's. */
export interface SendRateRequest {
  orgId: string;
  /** null: the sender is unknown; only the org's rate applies. */
  sender: string | null;
  perSecond: number;
  perSenderPerSecond: number;
  /** The engine's clock, UTC ms, read right before the call (not an earlier `now` kept for judging). */
  now: number;
}

/**
 * Send-rate smoothing across every dispatcher process: each call reserves the next free slot
 * (≥ now) in the org's and the sender's rate and returns it (UTC ms). A reserved slot that goes
 * unused (the timer is cancelled, moved or lost the race) is simply skipped; there is no give-back.
 */
export interface SendRatePort {
  reserve(req: SendRateRequest): Promise<number>;
  /**
   * `count` consecutive slots at once (a batch of sends): what `count` calls of `reserve` in a row
   * would get; `costs[n]` units for the n-th (its SMS segments where the limit counts segments; default 1).
   */
  reserveMany(req: SendRateRequest, count: number, costs?: readonly number[]): Promise<number[]>;
}

/** Campaign planning jobs (one per chunk of a campaign's audience; src/app/campaigns). */
export interface CampaignQueuePort {
  /** Adds one job per chunk; a chunk whose job already exists is not added twice. */
  enqueueChunks(campaignId: string, seqs: readonly number[]): Promise<void>;
}

/** Minimal structured logger (pino's shape). */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** One question to the FCC Reassigned Numbers Database: has this number been permanently disconnected on or after `since`? */
export interface RndQuery {
  phoneE164: string;
  /** UTC ms (the database answers per date). */
  since: number;
}

/** The Reassigned Numbers Database (src/adapters/rnd/): one answer per query, in order. */
export interface ReassignedNumbersPort {
  check(queries: readonly RndQuery[]): Promise<RndAnswer[]>;
}

/** Operators' metrics (src/adapters/metrics.ts). Labels are codes and statuses only: never a number, a name or a body. */
export interface MetricsPort {
  /** One judgement: `decision` is send, reschedule, cancel or suppress; `reason` its first reason code. */
  decision(phase: 'create' | 'fire', decision: string, reason: string | undefined): void;
  /** A claim: how late against the instant its job was due (ms). */
  dispatchLateness(ms: number): void;
  /** One provider request's outcome. */
  send(channel: string, outcome: 'accepted' | 'deferred' | 'failed' | 'unsubscribed' | 'unknown'): void;
  providerError(code: string, kind: string): void;
  /** How long the send rate held a claimed send back (ms). */
  rateWait(ms: number): void;
  /** One run of a loop (pump, reconciler, campaign sweep) or a planned chunk (ms). */
  tick(loop: string, ms: number): void;
  /** One webhook delivery attempt: `delivered`, `failed` (retried later) or `dead` (given up), and how long the endpoint took (ms). */
  webhookAttempt?(outcome: 'delivered' | 'failed' | 'dead', ms: number): void;
}

/** An HTTP answer from a webhook endpoint (the body is not kept). */
export interface PostAnswer {
  status: number;
}

/**
 * POSTs webhook requests (outbound events and timers' actions): resolves with any HTTP answer,
 * rejects when none came (timeout, refused, reset, TLS). Redirects are not followed.
 */
export interface WebhookPosterPort {
  post(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<PostAnswer>;
}
