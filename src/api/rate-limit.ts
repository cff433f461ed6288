/**
 * Per-API-key rate limit: a sliding-window counter in Redis.
 *
 * Each key has one counter per fixed minute (`<prefix>:tcpa:rl:{<keyId>}:<window>`, the hash tag
 * keeps both windows of a key on one Redis Cluster slot). A request is admitted when
 * `previous × (share of the previous window still inside the last minute) + current + 1 ≤ limit`
 * — the usual sliding-window approximation, which needs two small counters per key and does not
 * let a client double its rate across a window boundary. The check and the increment are one Lua
 * script (atomic across API processes); refused requests are not counted.
 *
 * The limit is the org's `rateLimitPerMinute` setting (default 600). Every answer behind it
 * carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds until the
 * current window ends); a refusal is 429 RATE_LIMITED with `Retry-After` (seconds until one more
 * request would be admitted).
 *
 * If Redis cannot be reached the request is let through (fail open) and a warning is logged (at
 * most once per `warnEveryMs`): the limiter protects the service, it must not take it down.
 */
import type { RequestHandler } from 'express';
import type { RedisClient } from '../adapters/queue/connection.ts';
import { rateLimitKey } from '../adapters/queue/keys.ts';
import { AppError } from '../domain/errors.ts';
import { authOf } from './auth.ts';

const WINDOW_MS = 60_000;

// KEYS[1] current window, KEYS[2] previous window; ARGV: limit, window ms, elapsed ms in the current window.
const SCRIPT = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local elapsed = tonumber(ARGV[3])
local estimate = prev * (window - elapsed) / window + cur
if estimate + 1 > limit then
  return {0, cur, prev}
end
cur = redis.call('INCR', KEYS[1])
if cur == 1 then
  redis.call('PEXPIRE', KEYS[1], window * 2 + 1000)
end
return {1, cur, prev}
`;

export interface RateLimitLogger {
  warn(obj: object, msg?: string): void;
}

export interface RateLimitOptions {
  redis: RedisClient;
  /** The deployment's QUEUE_PREFIX. */
  prefix: string;
  /** Requests per minute for an org (its `rateLimitPerMinute`). */
  limitOf: (orgId: string) => Promise<number>;
  log: RateLimitLogger;
  /** The clock. Default Date.now. */
  now?: () => number;
  /** Give up on Redis after this long and let the request through. Default 1000 ms. */
  timeoutMs?: number;
  /** Minimum interval between two "Redis unreachable" warnings. Default 10 s. */
  warnEveryMs?: number;
}

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the current window ends. */
  resetSeconds: number;
  /** Seconds until one more request would be admitted (refusals only). */
  retryAfterSeconds: number;
}

/** The Redis key of one key's window. */
export { rateLimitKey };

/**
 * Milliseconds until `prev × (W − t)/W + cur + 1 ≤ limit` holds, from `elapsed` into the current
 * window (t = elapsed + wait; past the window's end, the current count becomes the previous one).
 */
export function msUntilAdmitted(limit: number, cur: number, prev: number, elapsed: number, windowMs = WINDOW_MS): number {
  const room = limit - 1 - cur; // requests the current window still has once the previous one has faded
  if (room >= 0) {
    if (prev <= room) return 0;
    // prev × (W − t)/W ≤ room  ⇔  t ≥ W × (1 − room/prev)
    const t = windowMs * (1 - room / prev);
    return Math.max(0, Math.ceil(t - elapsed));
  }
  // Wait into the next window: cur × (W − t')/W + 1 ≤ limit  ⇔  t' ≥ W × (1 − (limit − 1)/cur)
  const t2 = windowMs * (1 - (limit - 1) / cur);
  return Math.ceil(windowMs - elapsed + Math.max(0, t2));
}

/** Runs the check for one key. Throws when Redis fails or is too slow. */
export async function checkRateLimit(redis: RedisClient, prefix: string, keyId: string, limit: number, nowMs: number, timeoutMs = 1000): Promise<RateDecision> {
  const window = Math.floor(nowMs / WINDOW_MS);
  const elapsed = nowMs - window * WINDOW_MS;
  let timer: NodeJS.Timeout | undefined;
  const reply = (await Promise.race([
    redis.eval(SCRIPT, 2, rateLimitKey(prefix, keyId, window), rateLimitKey(prefix, keyId, window - 1), limit, WINDOW_MS, elapsed),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`rate limit: Redis did not answer within ${timeoutMs} ms`)), timeoutMs))),
  ]).finally(() => clearTimeout(timer))) as [number, number, number];
  const [ok, cur, prev] = reply.map(Number) as [number, number, number];
  const estimate = (prev * (WINDOW_MS - elapsed)) / WINDOW_MS + cur;
  const resetSeconds = Math.max(1, Math.ceil((WINDOW_MS - elapsed) / 1000));
  return {
    allowed: ok === 1,
    limit,
    remaining: Math.max(0, Math.floor(limit - estimate)),
    resetSeconds,
    retryAfterSeconds: ok === 1 ? 0 : Math.max(1, Math.ceil(msUntilAdmitted(limit, cur, prev, elapsed) / 1000)),
  };
}

/** The middleware: install after `authenticate` (it reads the key id from res.locals.auth). */
export function rateLimit(opts: RateLimitOptions): RequestHandler {
  const now = opts.now ?? Date.now;
  const warnEvery = opts.warnEveryMs ?? 10_000;
  let lastWarn = -Infinity;
  return (_req, res, next) => {
    const run = async () => {
      const auth = authOf(res);
      const limit = await opts.limitOf(auth.orgId);
      let decision: RateDecision;
      try {
        decision = await checkRateLimit(opts.redis, opts.prefix, auth.keyId, limit, now(), opts.timeoutMs);
      } catch (err) {
        const t = Date.now();
        if (t - lastWarn >= warnEvery) {
          lastWarn = t;
          opts.log.warn({ err, keyId: auth.keyId }, 'rate limit skipped: Redis unreachable (failing open)');
        }
        return next();
      }
      res.setHeader('RateLimit-Limit', String(decision.limit));
      res.setHeader('RateLimit-Remaining', String(decision.remaining));
      res.setHeader('RateLimit-Reset', String(decision.resetSeconds));
      if (!decision.allowed) {
        res.setHeader('Retry-After', String(decision.retryAfterSeconds));
        return next(
          new AppError('RATE_LIMITED', `rate limit of ${decision.limit} requests per minute exceeded for this API key; retry in ${decision.retryAfterSeconds} s`, {
            limit: decision.limit,
            retryAfterSeconds: decision.retryAfterSeconds,
          }),
        );
      }
      next();
    };
    run().catch(next);
  };
}
