/**
 * SenderPort over the official `twilio` client: Messages (SMS) and Calls (voice).
 *
 * Credentials: an org's own, sealed at rest in `orgs.twilio_credentials` (AES-256-GCM with
 * TCPA_SECRET_KEY, the org id as associated data), else the deployment's default sender (real
 * Twilio credentials from the environment, or the built-in emulator). Clients are cached per org.
 *
 * Errors are classified once, here (see `classify`): 429 and 5xx and network failures are
 * transient; 21610 (recipient unsubscribed) suppresses; every other 4xx is permanent.
 */
import { createHash } from 'node:crypto';
import { openJson } from '../crypto/secret-box.ts';
import type { Channel } from '../../domain/calendar/schema.ts';
import { SendFailure, SendOutcomeUnknown, type ProviderSend, type ProviderStatus, type SendListing, type SendQuery, type SendRequest, type SendResult, type SenderPort } from '../../app/ports.ts';
import type { PrismaClient } from '../db/client.ts';
import { createTwilioClient, SENT_MAYBE, withIdempotencyToken, type TwilioClient } from './client.ts';

export interface SenderCredentials {
  accountSid: string;
  authToken: string;
  from?: string;
  messagingServiceSid?: string;
  /** Absent → api.twilio.com. */
  apiBase?: string;
}

export interface TwilioSenderOptions {
  prisma: PrismaClient;
  /** Used when an org has no credentials of its own. */
  defaultSender: SenderCredentials;
  /** Key that opens orgs' sealed credentials; without it, orgs with stored credentials cannot send. */
  secretKey?: Buffer;
  /** HTTP timeout per provider request. Default 15 s. */
  timeoutMs?: number;
  /** Cache lifetime of an org's resolved credentials. Default 60 s. */
  cacheMs?: number;
  now?: () => number;
}

/** Sends read per filtered list (one more tells that there are more: the listing is then incomplete). */
const LIST_LIMIT = 200;
/** The unfiltered first page read for sends still queued (no DateSent / StartTime yet, so the date filter misses them). */
const RECENT_PAGE = 50;

/** Twilio error codes after which a send must never be retried. 21610 is handled apart (suppress). */
const UNSUBSCRIBED = 21610;

export function classify(err: unknown): SendFailure {
  if (err instanceof SendFailure) return err;
  const e = err as { status?: unknown; code?: unknown; message?: unknown };
  const status = typeof e?.status === 'number' ? e.status : undefined;
  const code = typeof e?.code === 'number' ? e.code : undefined;
  const message = typeof e?.message === 'string' ? e.message : 'provider request failed';
  if (code === UNSUBSCRIBED) return new SendFailure('unsubscribed', message, code, status);
  if (status === undefined) return new SendFailure('transient', `network: ${message}`, code);
  if (status === 429 || status >= 500) return new SendFailure('transient', message, code, status);
  return new SendFailure('permanent', message, code, status);
}

/** Network failures that happen before a request can have left this host (no connection was made). */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);

/**
 * A create's failure: as `classify`, except that a network failure after the request may have
 * reached the provider (a timeout, a connection cut) is SendOutcomeUnknown, never a transient
 * failure to retry — retrying it could send the message twice (Twilio's create takes no
 * idempotency key).
 */
export function classifySend(err: unknown): SendFailure | SendOutcomeUnknown {
  const f = classify(err);
  if (f.kind !== 'transient' || f.httpStatus !== undefined) return f;
  const e = err as { code?: unknown; [SENT_MAYBE]?: unknown };
  const mayHaveLeft = typeof e?.[SENT_MAYBE] === 'boolean' ? e[SENT_MAYBE] : !NOT_SENT_CODES.has(String(e?.code));
  return mayHaveLeft ? new SendOutcomeUnknown(`no answer from the provider (${f.message}); it may have sent the message`) : f;
}

interface Resolved {
  creds: SenderCredentials;
  client: TwilioClient;
  at: number;
}

export class TwilioSender implements SenderPort {
  private readonly cache = new Map<string, Resolved>();
  private readonly defaultClient: TwilioClient;
  private readonly now: () => number;

  constructor(private readonly opts: TwilioSenderOptions) {
    this.defaultClient = this.makeClient(opts.defaultSender);
    this.now = opts.now ?? Date.now;
  }

  private makeClient(c: SenderCredentials): TwilioClient {
    return createTwilioClient({ accountSid: c.accountSid, authToken: c.authToken, apiBase: c.apiBase, timeoutMs: this.opts.timeoutMs ?? 15_000 });
  }

  private async resolve(orgId: string): Promise<Resolved> {
    const hit = this.cache.get(orgId);
    if (hit && this.now() - hit.at < (this.opts.cacheMs ?? 60_000)) return hit;
    const org = await this.opts.prisma.org.findUnique({ where: { id: orgId }, select: { twilioCredentials: true } });
    let resolved: Resolved;
    if (org?.twilioCredentials) {
      if (!this.opts.secretKey) throw new SendFailure('permanent', 'org has stored Twilio credentials but TCPA_SECRET_KEY is not set');
      const creds = openJson<SenderCredentials>(this.opts.secretKey, org.twilioCredentials, orgId);
      resolved = { creds: { apiBase: this.opts.defaultSender.apiBase, ...creds }, client: this.makeClient({ apiBase: this.opts.defaultSender.apiBase, ...creds }), at: this.now() };
    } else {
      resolved = { creds: this.opts.defaultSender, client: this.defaultClient, at: this.now() };
    }
    this.cache.set(orgId, resolved);
    return resolved;
  }

  async send(req: SendRequest): Promise<SendResult> {
    if ('action' in req.payload) throw new SendFailure('permanent', 'a timer action is not a Twilio send (it goes to the platform: ActionRoutingSender)');
    const { creds, client } = await this.resolve(req.orgId);
    try {
      return await withIdempotencyToken(req.idempotencyToken, async () => {
        const p = req.payload as Exclude<SendRequest['payload'], { action: unknown }>;
        if (p.channel === 'sms') {
          const m = await client.messages.create({
            to: req.to,
            body: p.body,
            ...(creds.messagingServiceSid ? { messagingServiceSid: creds.messagingServiceSid } : { from: creds.from! }),
            statusCallback: req.statusCallback,
            ...(req.validitySeconds === undefined ? {} : { validityPeriod: req.validitySeconds }),
          });
          return { providerId: m.sid, status: m.status };
        }
        const c = await client.calls.create({
          to: req.to,
          from: creds.from!,
          ...('twimlUrl' in p ? { url: p.twimlUrl } : { twiml: p.twiml }),
          statusCallback: req.statusCallback,
          statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
        });
        return { providerId: c.sid, status: c.status };
      });
    } catch (err) {
      throw classifySend(err);
    }
  }

  async lookup(orgId: string, channel: Channel, providerId: string): Promise<ProviderStatus | null> {
    const { client } = await this.resolve(orgId);
    try {
      if (channel === 'sms') {
        const m = await client.messages(providerId).fetch();
        return { providerId: m.sid, status: m.status, errorCode: m.errorCode ?? null };
      }
      const c = await client.calls(providerId).fetch();
      return { providerId: c.sid, status: c.status, errorCode: null };
    } catch (err) {
      const f = classify(err);
      if (f.httpStatus === 404) return null;
      throw f;
    }
  }

  /**
   * Two reads: the list filtered by `To` and `DateSent>=` / `StartTime>=` (what left the provider
   * since then), and the newest page to `To` unfiltered, for sends still queued at the provider,
   * which have no DateSent / StartTime yet. Bodies are hashed at once, never kept.
   */
  async findSends(orgId: string, q: SendQuery): Promise<SendListing> {
    const { client } = await this.resolve(orgId);
    const since = new Date(q.since);
    try {
      const [dated, recent] =
        q.channel === 'sms'
          ? await Promise.all([client.messages.list({ to: q.to, dateSentAfter: since, limit: LIST_LIMIT + 1, pageSize: 100 }), client.messages.list({ to: q.to, limit: RECENT_PAGE, pageSize: RECENT_PAGE })])
          : await Promise.all([client.calls.list({ to: q.to, startTimeAfter: since, limit: LIST_LIMIT + 1, pageSize: 100 }), client.calls.list({ to: q.to, limit: RECENT_PAGE, pageSize: RECENT_PAGE })]);
      const bySid = new Map<string, ProviderSend>();
      for (const r of [...dated, ...recent] as Array<{ sid: string; status: string; direction: string; from: string | null; dateCreated: Date; errorCode?: number | null; messagingServiceSid?: string | null; body?: string | null }>) {
        if (!r.direction?.startsWith('outbound')) continue;
        bySid.set(r.sid, {
          providerId: r.sid,
          status: r.status,
          errorCode: r.errorCode ?? null,
          from: r.from ?? null,
          messagingServiceSid: r.messagingServiceSid ?? null,
          bodySha256: q.channel === 'sms' ? createHash('sha256').update(r.body ?? '').digest('hex') : null,
          idempotencyToken: null,
          createdAt: r.dateCreated.getTime(),
        });
      }
      // The unfiltered page is newest first: when it is full and its oldest is still recent, older queued sends may lie beyond it.
      const oldestRecent = recent.length > 0 ? (recent[recent.length - 1] as { dateCreated: Date }).dateCreated.getTime() : -Infinity;
      const complete = dated.length <= LIST_LIMIT && !(recent.length >= RECENT_PAGE && oldestRecent >= q.since);
      return { sends: [...bySid.values()], complete };
    } catch (err) {
      throw classify(err);
    }
  }

  /** SMS go out from the messaging service when there is one, else the number; calls always from the number. */
  async senderOf(orgId: string, channel: Channel): Promise<string | null> {
    const { creds } = await this.resolve(orgId);
    return (channel === 'sms' ? (creds.messagingServiceSid ?? creds.from) : creds.from) ?? null;
  }

  forget(orgId: string): void {
    this.cache.delete(orgId);
  }

  async webhookToken(orgId: string): Promise<string> {
    return (await this.resolve(orgId)).creds.authToken;
  }
}
