/**
 * Every Redis key and BullMQ prefix the engine builds, in one place, each with a hash tag
 * (`{…}`) so that the engine runs on Redis Cluster: Redis refuses (CROSSSLOT) a script or a
 * transaction whose keys lie in different hash slots, and only the part of a key between the first
 * `{` and the next `}` is hashed when there is one. So every key that one script touches carries
 * the same tag:
 *
 * | keys | tag | touched together by |
 * | --- | --- | --- |
 * | BullMQ's timers queue `<p>:{timers}:timers:*` and the marker `<p>:{timers}:timers:tcpa-marker` | `timers` | BullMQ's Lua scripts (wait, delayed, active, the job hashes, events…); the marker sits in the queue's slot so that a shard losing the queue loses the marker too |
 * | BullMQ's campaigns queue `<p>:{campaigns}:campaigns:*` | `campaigns` | BullMQ's Lua scripts |
 * | send-rate buckets `<p>:tcpa:{send-rate}:org:<id>`, `…:sender:<sender>` | `send-rate` | the limiter's script (an org's bucket and a sender's, which orgs share) |
 * | API rate limit `<p>:tcpa:rl:{<keyId>}:<minute>` | the key id | the limiter's script (this minute and the last) |
 * | leader leases `<p>:tcpa:leader:{<loop>}` | the loop's name | one key per script (tagged anyway, so that no key is left to chance) |
 *
 * `<p>` is QUEUE_PREFIX, which may not contain braces (src/config.ts), so the tag is always the
 * one written here. A queue per tag spreads the queues over the cluster's masters; a queue cannot
 * be split (BullMQ's scripts touch all of its keys), so one queue's load stays on one master.
 * On a single Redis the tags change nothing but the key names.
 */
import { CAMPAIGNS_QUEUE, TIMERS_QUEUE, WEBHOOKS_QUEUE, type QueueName } from './catalog.ts';

/** The names the leader loops lease under (src/runtime.ts). */
export type LeaderName = 'pump' | 'reconciler' | 'campaign-sweep' | 'webhooks';

/**
 * BullMQ's `prefix` option for `queue`: `<p>:{<queue>}`. BullMQ names its keys
 * `<prefix>:<queue>:<suffix>`, so every key of the queue carries the queue's tag.
 */
export function bullPrefix(prefix: string, queue: QueueName): string {
  return `${prefix}:{${queue}}`;
}

/** The "Redis still has our data" marker, in the timers queue's slot (src/adapters/queue/timer-queue.ts). */
export function queueMarkerKey(prefix: string): string {
  return `${bullPrefix(prefix, TIMERS_QUEUE)}:${TIMERS_QUEUE}:tcpa-marker`;
}

/** The send-rate buckets of one reservation: the org's and, when known, the sender's (src/adapters/queue/send-rate.ts). */
export function sendRateKeys(prefix: string, orgId: string, sender: string | null): string[] {
  const base = `${prefix}:tcpa:{send-rate}`;
  return sender === null ? [`${base}:org:${orgId}`] : [`${base}:org:${orgId}`, `${base}:sender:${sender}`];
}

/** One API key's counter for one minute (src/api/rate-limit.ts). */
export function rateLimitKey(prefix: string, keyId: string, window: number): string {
  return `${prefix}:tcpa:rl:{${keyId}}:${window}`;
}

/** The lease of a cluster-wide singleton loop (src/adapters/queue/leader-loop.ts). */
export function leaderKey(prefix: string, name: LeaderName): string {
  return `${prefix}:tcpa:leader:{${name}}`;
}

/** Every queue of the catalog, for tools that walk them (tests, the README's migration note). */
export const QUEUES: readonly QueueName[] = [TIMERS_QUEUE, CAMPAIGNS_QUEUE, WEBHOOKS_QUEUE];

/**
 * The hash tag Redis Cluster hashes for `key` (the text between the first `{` and the next `}`,
 * when not empty), or null when the whole key is hashed.
 */
export function hashTagOf(key: string): string | null {
  const open = key.indexOf('{');
  if (open < 0) return null;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : null;
}
