/**
 * Inbound Twilio webhooks for opt-outs, configured at Twilio with the org in the URL:
 *
 * - `POST /webhooks/twilio/inbound?orgId=<uuid>` — the number's "A message comes in" webhook.
 *   STOP / plain-language revocations suppress the sender; START lifts an SMS opt-out; HELP is
 *   answered with the org's `helpText` (at most once per number per 10 minutes). Answers an empty
 *   `<Response/>` so that nothing else is sent back: every reply (the opt-out or opt-in
 *   confirmation, the HELP answer) is sent and audited by the engine itself.
 * - `POST /webhooks/twilio/voice-optout?orgId=<uuid>` — the `action` of the `<Gather>` in our
 *   calls' TwiML: the org's opt-out key (default 9) suppresses the contact's number. On our own
 *   outbound call (Direction `outbound-api`) the contact is `To`/`Called`; on a call they made to
 *   us, `From`/`Caller`.
 * - `POST /webhooks/twilio/confirmation-status?orgId=<uuid>` — status callbacks of those replies
 *   (opt-out / opt-in confirmations, HELP answers; validated, logged, nothing else).
 *
 * Every request must carry a valid `X-Twilio-Signature` made with the org's auth token over the
 * full URL (PUBLIC_BASE_URL + path + query) and the form parameters; a bad or missing signature,
 * a missing orgId or an unknown org all answer 403, so the endpoint reveals nothing. Nothing here
 * logs a full phone number or a message body.
 */
import express, { type Express, type Request, type RequestHandler, type Response } from 'express';
import { validateTwilioSignature } from '../../adapters/twilio/client.ts';
import { handleInboundSms, handleVoiceOptOut } from '../../app/suppressions.ts';
import type { EngineContext } from '../../app/timers/context.ts';
import { AppError } from '../../domain/errors.ts';

export interface InboundWebhookOptions {
  ctx: EngineContext;
  /** Base URL Twilio calls (for the signature); default: the request's own URL. */
  publicBaseUrl?: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';
const VOICE_OPTED_OUT = '<?xml version="1.0" encoding="UTF-8"?><Response><Say>You will not be called again.</Say></Response>';

const str = (params: Record<string, unknown>, key: string): string | undefined => (typeof params[key] === 'string' ? (params[key] as string) : undefined);

function twiml(res: Response, body: string): void {
  res.status(200).type('text/xml').send(body);
}

/** The org of a signed webhook, or 403. */
async function signedOrg(ctx: EngineContext, req: Request, publicBaseUrl: string | undefined): Promise<{ orgId: string; params: Record<string, unknown> }> {
  const forbidden = new AppError('FORBIDDEN', 'signature not valid');
  const orgId = typeof req.query['orgId'] === 'string' ? req.query['orgId'].toLowerCase() : '';
  if (!UUID_RE.test(orgId)) throw forbidden;
  const org = await ctx.prisma.org.findUnique({ where: { id: orgId }, select: { id: true } });
  if (!org) throw forbidden;
  const params = (req.body ?? {}) as Record<string, unknown>;
  const base = publicBaseUrl ?? `${req.protocol}://${req.get('host')}`;
  const token = await ctx.sender.webhookToken(orgId);
  if (!validateTwilioSignature(token, req.get('x-twilio-signature'), `${base}${req.originalUrl}`, params)) throw forbidden;
  return { orgId, params };
}

const route = (fn: (req: Request, res: Response) => Promise<void>): RequestHandler => (req, res, next) => {
  fn(req, res).catch(next);
};

/** Mounts the inbound webhooks on the app (before the API's 404 and error handler). */
export function mountInboundWebhooks(app: Express, opts: InboundWebhookOptions): void {
  const { ctx } = opts;
  const form = express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 1000 });

  app.post(
    '/webhooks/twilio/inbound',
    form,
    route(async (req, res) => {
      const { orgId, params } = await signedOrg(ctx, req, opts.publicBaseUrl);
      const from = str(params, 'From');
      if (from) {
        const to = str(params, 'To');
        const messageSid = str(params, 'MessageSid') ?? str(params, 'SmsSid');
        await handleInboundSms(ctx, { orgId, from, body: str(params, 'Body') ?? '', ...(to ? { to } : {}), ...(messageSid ? { messageSid } : {}) });
      }
      twiml(res, EMPTY_TWIML);
    }),
  );

  app.post(
    '/webhooks/twilio/voice-optout',
    form,
    route(async (req, res) => {
      const { orgId, params } = await signedOrg(ctx, req, opts.publicBaseUrl);
      const { optedOut } = await handleVoiceOptOut(ctx, { orgId, params });
      twiml(res, optedOut ? VOICE_OPTED_OUT : EMPTY_TWIML);
    }),
  );

  app.post(
    '/webhooks/twilio/confirmation-status',
    form,
    route(async (req, res) => {
      const { orgId, params } = await signedOrg(ctx, req, opts.publicBaseUrl);
      ctx.log.debug({ orgId, sid: str(params, 'MessageSid'), status: str(params, 'MessageStatus'), errorCode: str(params, 'ErrorCode') ?? null }, 'inbound reply status');
      res.status(204).end();
    }),
  );
}
