/**
 * Settling a send whose answer was lost (a timer left `unknown` with no provider id: the
 * dispatcher died between claiming it and recording the provider's answer). The provider's list
 * of outbound sends to the number is compared with what the engine would have sent, and the
 * outcome is one of:
 *
 * - `found`: exactly one send of the provider is this one — by the idempotency token where the
 *   provider echoes it, else (SMS) by the body's SHA-256, the sender and the time, or (voice, where
 *   the provider keeps no body) by the sender and the time;
 * - `absent`: nothing at all went to the number in the send's time window (from any sender, with
 *   any body), the listing was complete, and the grace period after the lease is over — so nothing
 *   left and one more try is safe;
 * - `ambiguous`: anything else (two candidates, or a send in the window that cannot be tied to
 *   this timer, e.g. a body the provider rewrote): a person reviews it, nothing is resent;
 * - `wait`: nothing found yet, but it is too early to conclude (the provider's lists may lag, a
 *   request may still be in flight).
 *
 * Absence is concluded conservatively: a send that may be ours always blocks a resend.
 * Pure: times and listings are arguments.
 */
import type { Channel } from './calendar/schema.ts';

/** One outbound send as the provider lists it (the ports' ProviderSend). */
export interface ListedSend {
  providerId: string;
  from: string | null;
  messagingServiceSid: string | null;
  bodySha256: string | null;
  idempotencyToken: string | null;
  createdAt: number;
}

/** What the engine would have sent, and when it could have left. */
export interface LostSend {
  channel: Channel;
  /** The sender the org sends from (a number or a messaging service id); null when unknown. */
  sender: string | null;
  /** SHA-256 (hex) of the SMS body; null for voice. */
  bodySha256: string | null;
  idempotencyToken: string;
  /** The claim (the earliest the request can have left), UTC ms. */
  claimedAt: number;
  /** When the lease was seen expired (the request cannot have left after it), UTC ms. */
  leaseEndedAt: number;
}

export type MatchMethod = 'idempotency-token' | 'body-hash+sender+time' | 'sender+time';

export type LostSendOutcome<S extends ListedSend> =
  | { kind: 'found'; send: S; method: MatchMethod }
  | { kind: 'absent' }
  | { kind: 'ambiguous'; candidates: number; why: string }
  | { kind: 'wait' };

export interface MatchOptions {
  /** How far the provider's clock (and its whole-second dates) may be from ours. */
  skewMs: number;
  /** How long after the lease's end absence may be concluded. */
  graceMs: number;
}

/**
 * @param listing the provider's outbound sends to the number, from `claimedAt - skew` on
 * @param complete whether the listing holds everything the provider has in that range
 * @param knownIds provider ids already recorded on other timers (never this one)
 */
export function settleLostSend<S extends ListedSend>(lost: LostSend, listing: readonly S[], complete: boolean, knownIds: ReadonlySet<string>, now: number, opts: MatchOptions): LostSendOutcome<S> {
  const from = lost.claimedAt - opts.skewMs;
  const to = lost.leaseEndedAt + opts.skewMs;
  const inWindow = listing.filter((s) => !knownIds.has(s.providerId) && s.createdAt >= from && s.createdAt <= to);

  const byToken = inWindow.filter((s) => s.idempotencyToken !== null && s.idempotencyToken === lost.idempotencyToken);
  if (byToken.length === 1) return { kind: 'found', send: byToken[0]!, method: 'idempotency-token' };
  if (byToken.length > 1) return { kind: 'ambiguous', candidates: byToken.length, why: 'several sends carry its idempotency token' };

  const sameSender = inWindow.filter((s) => lost.sender === null || s.from === lost.sender || s.messagingServiceSid === lost.sender);
  const matching = lost.channel === 'sms' ? sameSender.filter((s) => s.bodySha256 !== null && s.bodySha256 === lost.bodySha256) : sameSender;
  const method: MatchMethod = lost.channel === 'sms' ? 'body-hash+sender+time' : 'sender+time';
  if (matching.length === 1) return { kind: 'found', send: matching[0]!, method };
  if (matching.length > 1) return { kind: 'ambiguous', candidates: matching.length, why: `${matching.length} sends match by ${method}` };

  const settled = now >= lost.leaseEndedAt + opts.graceMs;
  if (inWindow.length > 0) return settled ? { kind: 'ambiguous', candidates: inWindow.length, why: `${inWindow.length} send(s) to the number in the window match no ${method}` } : { kind: 'wait' };
  if (!settled) return { kind: 'wait' };
  if (!complete) return { kind: 'ambiguous', candidates: 0, why: 'the provider has more sends to the number than could be read' };
  return { kind: 'absent' };
}
