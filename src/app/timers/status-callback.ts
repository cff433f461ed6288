/**
 * Provider status callbacks (POST /webhooks/twilio/status?timerId=…): validate the signature with
 * the org's auth token, then move the timer along its life cycle (sent → delivered / undelivered
 * / failed). Callbacks may arrive late, twice or out of order: a move the life cycle does not
 * allow is ignored, so a stale "sent" never overwrites "delivered".
 */
import { AppError } from '../../domain/errors.ts';
import { canTransition, type TimerStatus } from '../../domain/timer-rules.ts';
import type { EngineContext } from './context.ts';
import { linkStaged, transition } from './records.ts';

const MESSAGE_STATUS: Record<string, TimerStatus> = {
  accepted: 'sent',
  scheduled: 'sent',
  queued: 'sent',
  sending: 'sent',
  sent: 'sent',
  delivered: 'delivered',
  read: 'delivered',
  undelivered: 'undelivered',
  failed: 'failed',
  canceled: 'failed',
};

const CALL_STATUS: Record<string, TimerStatus> = {
  queued: 'sent',
  initiated: 'sent',
  ringing: 'sent',
  'in-progress': 'sent',
  completed: 'delivered',
  busy: 'undelivered',
  'no-answer': 'undelivered',
  failed: 'failed',
  canceled: 'failed',
};

/** Maps a provider status to the timer status it implies (null: ignore). */
export function statusFromProvider(params: Record<string, unknown>): { sid: string; status: TimerStatus; raw: string; errorCode: string | null } | null {
  const str = (k: string) => (typeof params[k] === 'string' ? (params[k] as string) : undefined);
  const messageStatus = str('MessageStatus') ?? str('SmsStatus');
  const sid = str('MessageSid') ?? str('SmsSid') ?? str('CallSid');
  if (!sid) return null;
  const raw = messageStatus ?? str('CallStatus');
  if (!raw) return null;
  const status = (messageStatus ? MESSAGE_STATUS : CALL_STATUS)[raw];
  return status ? { sid, status, raw, errorCode: str('ErrorCode') ?? null } : null;
}

export interface StatusCallbackInput {
  timerId: string;
  params: Record<string, unknown>;
  signature: string | undefined;
  /** The full URL the provider requested (for the signature). */
  url: string;
  validate: (authToken: string, signature: string | undefined, url: string, params: Record<string, unknown>) => boolean;
}

export type StatusCallbackOutcome = 'applied' | 'ignored';

export async function handleStatusCallback(ctx: EngineContext, input: StatusCallbackInput): Promise<StatusCallbackOutcome> {
  const t = await ctx.prisma.timer.findUnique({ where: { id: input.timerId } });
  // Unknown timer: answer as for a bad signature, so the endpoint reveals nothing.
  if (!t) throw new AppError('FORBIDDEN', 'signature not valid');
  const token = await ctx.sender.webhookToken(t.orgId);
  if (!input.validate(token, input.signature, input.url, input.params)) throw new AppError('FORBIDDEN', 'signature not valid');

  const update = statusFromProvider(input.params);
  if (!update) return 'ignored';
  if (t.providerId && t.providerId !== update.sid) {
    ctx.log.warn({ timerId: t.id }, 'status callback for another provider resource; ignored');
    return 'ignored';
  }
  if (t.status === update.status || !canTransition(t.status, update.status)) return 'ignored';
  const now = ctx.clock.now();
  const ok = await ctx.prisma.$transaction((tx) =>
    transition(ctx, tx, t, {
      from: [t.status],
      to: update.status,
      data: {
        providerId: update.sid,
        ...(t.sentAt ? {} : { sentAt: new Date(now) }),
        leaseOwner: null,
        leaseUntil: null,
        ...(update.errorCode ? { lastError: `provider error ${update.errorCode}` } : {}),
      },
      audit: {
        action: `timer.${update.status}`,
        data: { providerId: update.sid, providerStatus: update.raw, errorCode: update.errorCode, via: 'status-callback', from: t.status },
      },
      stage: true,
    }, now),
  { maxWait: 15_000, timeout: 30_000 });
  if (ok) await linkStaged(ctx, t.orgId);
  return ok ? 'applied' : 'ignored';
}
