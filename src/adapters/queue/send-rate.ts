/**
 * Send-rate limiter on Redis, shared by every dispatcher process (SendRatePort).
 *
 * GCRA in its virtual-scheduling form: each bucket keeps one number, its *theoretical arrival
 * time* (TAT) — the earliest instant the next send may go. A reservation takes
 * `slot = max(now, TAT of every bucket involved)` and advances each bucket to `slot + its
 * interval` (interval = 1000 / rate ms). No burst is allowed: consecutive slots of a bucket are at
 * least one interval apart, whichever process asked. The org's and the sender's buckets are
 * reserved together, in one Lua script (atomic), taking the later of the two slots for both.
 *
 * Keys: `<QUEUE_PREFIX>:tcpa:{send-rate}:org:<orgId>` and `…:sender:<number or messaging
 * service>` (one hash tag, `{send-rate}`, so the script's keys share a slot on Redis Cluster:
 * src/adapters/queue/keys.ts). The sender bucket is keyed by the sender alone, not the org: orgs without their own
 * Twilio credentials share the deployment's default number, and the provider's limit is the
 * number's. Each key expires once its TAT has passed (nothing to remember), so Redis holds one small
 * key per recently active org and sender; a Redis that lost its data simply has free buckets.
 *
 * Slots are on the caller's clock (the engine's `now`), so dispatchers on several machines must
 * keep their clocks in sync (NTP) — which judging quiet hours needs anyway — and `now` must be
 * read right before the call: a stale `now` would get a slot in the past and let two sends go
 * together. A reserved slot that is not used is skipped (no give-back): it only ever makes sends
 * a little sparser.
 *
 * No fail-open: if Redis cannot be reached the call throws and the job retries (a dispatcher
 * without Redis cannot take jobs anyway). Use a fail-fast connection: the dispatcher reserves
 * while it holds a contact's row lock.
 */
import type { RedisClient } from './connection.ts';
import type { SendRatePort, SendRateRequest } from '../../app/ports.ts';
import { sendRateKeys } from './keys.ts';

// KEYS: the buckets; ARGV[1] = now (ms), ARGV[2] = how many consecutive slots, ARGV[2 + i] = interval
// of KEYS[i] (ms, may be fractional), then one cost per slot (how many intervals the send takes:
// its SMS segments where the limit is in segments; absent: 1). Returns the slots (ms, as strings:
// Lua numbers are doubles, Redis would truncate a number reply), each reserved as if by its own
// call, one after the other.
const RESERVE = `
local now = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
local tats = {}
for i = 1, #KEYS do
  tats[i] = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
end
local slots = {}
for n = 1, count do
  local slot = now
  for i = 1, #KEYS do
    if tats[i] > slot then slot = tats[i] end
  end
  local cost = tonumber(ARGV[2 + #KEYS + n] or '1')
  for i = 1, #KEYS do
    tats[i] = slot + cost * tonumber(ARGV[i + 2])
  end
  slots[n] = string.format('%.3f', slot)
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], string.format('%.3f', tats[i]), 'PX', math.ceil(tats[i] - now) + 1000)
end
return slots
`;

export { sendRateKeys };

export class RedisSendRate implements SendRatePort {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  /** Reserves the next free slot (UTC ms, ≥ now, rounded up to the ms) in the org's and the sender's rate. */
  async reserve(req: SendRateRequest): Promise<number> {
    return (await this.reserveMany(req, 1))[0]!;
  }

  /**
   * Reserves `count` consecutive slots in one round trip: the same slots `count` calls of `reserve`
   * in a row would get. `costs[n]`: how many units the n-th send takes (its segments, where the
   * limit counts segments): the next slot is that many intervals later. Default 1 each.
   */
  async reserveMany(req: SendRateRequest, count: number, costs?: readonly number[]): Promise<number[]> {
    if (!Number.isInteger(count) || count < 1) throw new RangeError('count must be a positive integer');
    if (costs && (costs.length !== count || costs.some((c) => !Number.isInteger(c) || c < 1))) throw new RangeError('costs: one positive integer per slot');
    const keys = sendRateKeys(this.prefix, req.orgId, req.sender);
    const intervals = [1000 / req.perSecond, ...(req.sender === null ? [] : [1000 / req.perSenderPerSecond])];
    const slots = (await this.redis.eval(RESERVE, keys.length, ...keys, String(req.now), String(count), ...intervals.map(String), ...(costs ?? []).map(String))) as string[];
    return slots.map((s) => Math.max(req.now, Math.ceil(Number(s))));
  }
}
