/**
 * Timers that trigger the platform: a timer whose payload is `action: { webhook: { url, payload } }`
 * is judged like any other (calendars, caps of its channel, consent, suppressions, journey) and,
 * when allowed, instead of a Twilio send the engine POSTs a signed `timer.action` to the URL. The
 * platform starts its chat or voice bot, which must stop by `windowEnd` (the judged window's end).
 *
 * The URL's origin must be that of one of the org's enabled webhook endpoints (the one whose URL
 * is the longest prefix of the action's, else the oldest of that origin): its secret signs the
 * call (`Tcpa-Signature`, as for events), so the platform verifies actions as it verifies events and
 * the engine never calls an origin the org has not registered. A 2xx is `sent`; a 429, a 5xx or no
 * answer is a transient failure (the job retries, as after a provider 5xx); any other answer, or no
 * endpoint for the origin, is permanent (`failed`). `Idempotency-Key` is the timer id: a retried
 * call is the same action, and the platform should start one bot for it.
 */
import { z } from 'zod';
import { liveSecrets } from './webhooks.ts';
import { SendFailure, type SendRequest, type SendResult, type SenderPort, type WebhookPosterPort } from './ports.ts';
import { SIGNATURE_HEADER, signatureHeader } from '../domain/webhooks.ts';
import type { EngineContext } from './timers/context.ts';

/** Provider ids of action sends: `act_<timerId>`. */
export const ACTION_ID_PREFIX = 'act_';

/** The body of a `timer.action` call (documented in the OpenAPI `webhooks` section). */
export const TimerActionSchema = z.object({
  id: z.string().describe('act_<timerId>: the same on every retry of the call'),
  type: z.literal('timer.action'),
  createdAt: z.string().describe('When this call was made (UTC, ISO 8601)'),
  orgId: z.uuid(),
  timerId: z.uuid(),
  contactId: z.uuid().nullable(),
  journeyId: z.uuid().nullable(),
  campaignId: z.uuid().nullable(),
  channel: z.enum(['sms', 'voice']),
  windowEnd: z.string().nullable().describe('When the judged allowed window ends (UTC, ISO 8601): the bot must have stopped by then'),
  to: z.string().nullable().describe('The E.164 number to reach, only for an endpoint with includeBodies (else null: look the contact up by contactId)'),
  payload: z.record(z.string(), z.unknown()).describe("The timer's action.webhook.payload, as given"),
});
export type TimerAction = z.infer<typeof TimerActionSchema>;

/** How long an org's endpoint list is reused (a removed endpoint stops signing actions within this). */
const ENDPOINTS_TTL_MS = 5_000;

export class ActionSender {
  private readonly endpoints = new Map<string, { at: number; rows: Array<{ id: string; url: string; secrets: string; includeBodies: boolean }> }>();

  constructor(
    private readonly ctx: EngineContext,
    private readonly poster: WebhookPosterPort,
    private readonly secretKey: Buffer | undefined,
    private readonly timeoutMs: number,
  ) {}

  private async endpointsOf(orgId: string, now: number) {
    const hit = this.endpoints.get(orgId);
    if (hit && now - hit.at < ENDPOINTS_TTL_MS) return hit.rows;
    const rows = await this.ctx.prisma.webhookEndpoint.findMany({ where: { orgId, status: 'enabled', deletedAt: null }, select: { id: true, url: true, secrets: true, includeBodies: true }, orderBy: { createdAt: 'asc' } });
    this.endpoints.set(orgId, { at: now, rows });
    return rows;
  }

  async send(req: SendRequest): Promise<SendResult> {
    const p = req.payload;
    if (!('action' in p)) throw new Error('ActionSender.send: not an action');
    if (!this.secretKey) throw new SendFailure('permanent', 'this deployment has no TCPA_SECRET_KEY, so it cannot sign timer actions');
    const now = this.ctx.clock.now();
    const origin = new URL(p.action.url).origin;
    let pick = pickEndpoint(await this.endpointsOf(req.orgId, now), p.action.url, origin);
    if (!pick?.prefix) {
      this.endpoints.delete(req.orgId); // an endpoint registered since the list was read may fit better
      pick = pickEndpoint(await this.endpointsOf(req.orgId, now), p.action.url, origin);
    }
    const endpoint = pick?.endpoint;
    if (!endpoint) throw new SendFailure('permanent', `no enabled webhook endpoint of the org has the action's origin ${origin}`);
    const timerId = req.refs?.timerId ?? req.idempotencyToken;
    const action: TimerAction = {
      id: `${ACTION_ID_PREFIX}${timerId}`,
      type: 'timer.action',
      createdAt: new Date(now).toISOString(),
      orgId: req.orgId,
      timerId,
      contactId: req.refs?.contactId ?? null,
      journeyId: req.refs?.journeyId ?? null,
      campaignId: req.refs?.campaignId ?? null,
      channel: p.channel,
      windowEnd: req.windowEnd === undefined ? null : new Date(req.windowEnd).toISOString(),
      // The number the bot is to reach: only for an endpoint that opted in to full numbers.
      to: endpoint.includeBodies ? req.to : null,
      payload: p.action.payload,
    };
    const body = JSON.stringify(action);
    const headers = {
      [SIGNATURE_HEADER]: signatureHeader(liveSecrets(this.secretKey, endpoint.id, endpoint.secrets, now), Math.floor(now / 1000), body),
      'Tcpa-Event-Id': action.id,
      'Tcpa-Event-Type': 'timer.action',
      'Idempotency-Key': timerId,
    };
    let status: number;
    try {
      status = (await this.poster.post(p.action.url, body, headers, this.timeoutMs)).status;
    } catch (err) {
      const e = err as Error;
      throw new SendFailure('transient', e.name === 'TimeoutError' ? `the platform did not answer in ${this.timeoutMs} ms` : `the platform could not be reached: ${e.message}`);
    }
    if (status >= 200 && status < 300) return { providerId: `${ACTION_ID_PREFIX}${timerId}`, status: 'accepted' };
    throw new SendFailure(status === 429 || status >= 500 ? 'transient' : 'permanent', `the platform answered HTTP ${status}`, undefined, status);
  }
}

/** The endpoint whose URL is the longest prefix of the action's, else the oldest of the same origin. */
function pickEndpoint<E extends { url: string }>(endpoints: readonly E[], url: string, origin: string): { endpoint: E; prefix: boolean } | undefined {
  const same = endpoints.filter((e) => new URL(e.url).origin === origin);
  const prefixed = same.filter((e) => url.startsWith(e.url)).sort((a, b) => b.url.length - a.url.length);
  if (prefixed[0]) return { endpoint: prefixed[0], prefix: true };
  return same[0] ? { endpoint: same[0], prefix: false } : undefined;
}

/** The engine's sender: actions to the platform, everything else to the provider. */
export class ActionRoutingSender implements SenderPort {
  constructor(
    private readonly provider: SenderPort,
    private readonly actions: ActionSender,
  ) {
    if (provider.findSends) this.findSends = (orgId, query) => provider.findSends!(orgId, query);
    if (provider.forget) this.forget = (orgId) => provider.forget!(orgId);
    if (provider.senderOf) this.senderOf = (orgId, channel) => provider.senderOf!(orgId, channel);
  }

  findSends?: SenderPort['findSends'];
  forget?: SenderPort['forget'];
  senderOf?: SenderPort['senderOf'];

  send(req: SendRequest): Promise<SendResult> {
    return 'action' in req.payload ? this.actions.send(req) : this.provider.send(req);
  }

  /** An action has nothing to look up at a provider: null (the platform's own records settle it). */
  lookup(orgId: string, channel: Parameters<SenderPort['lookup']>[1], providerId: string): ReturnType<SenderPort['lookup']> {
    return providerId.startsWith(ACTION_ID_PREFIX) ? Promise.resolve(null) : this.provider.lookup(orgId, channel, providerId);
  }

  webhookToken(orgId: string): Promise<string> {
    return this.provider.webhookToken(orgId);
  }
}
