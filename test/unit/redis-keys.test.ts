/**
 * Every Redis key and BullMQ prefix the engine builds carries a hash tag, and the keys one script
 * touches share it (src/adapters/queue/keys.ts), so nothing can answer CROSSSLOT on Redis Cluster.
 * The cluster itself: test/integration/redis-cluster.test.ts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { QueueKeys } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { CAMPAIGNS_QUEUE, TIMERS_QUEUE, WEBHOOKS_QUEUE } from '../../src/adapters/queue/catalog.ts';
import { bullPrefix, hashTagOf, leaderKey, queueMarkerKey, QUEUES, rateLimitKey, sendRateKeys, type LeaderName } from '../../src/adapters/queue/keys.ts';
import { loadConfig } from '../../src/config.ts';

const PREFIXES = ['tcpa', 't0a1b2c3d4', 'prod.east-1_x'];
const LEADERS: LeaderName[] = ['pump', 'reconciler', 'campaign-sweep'];

describe('Redis keys are hash-tagged', () => {
  it('hashTagOf reads the tag as Redis Cluster does', () => {
    expect(hashTagOf('a:{b}:c')).toBe('b');
    expect(hashTagOf('a:{b}:{c}')).toBe('b'); // the first pair only
    expect(hashTagOf('a:{}:{c}')).toBeNull(); // an empty first tag: the whole key is hashed
    expect(hashTagOf('a:b')).toBeNull();
    expect(hashTagOf('a:{b')).toBeNull();
  });

  it('every key of each BullMQ queue carries the queue tag (BullMQ names them <prefix>:<queue>:<suffix>)', () => {
    for (const p of PREFIXES) {
      for (const q of QUEUES) {
        const keys = Object.values(new QueueKeys(bullPrefix(p, q)).getKeys(q));
        // A job's hash and its lock, logs and dependencies: <prefix>:<queue>:<jobId>[:suffix].
        const job = new QueueKeys(bullPrefix(p, q)).toKey(q, '3f0a7c1e-2b1d-4c8e-9f00-aa55aa55aa55_1796745600000');
        for (const k of [...keys, job, `${job}:lock`, `${job}:logs`]) expect(hashTagOf(k), k).toBe(q);
        expect(bullPrefix(p, q).startsWith(`${p}:`)).toBe(true);
      }
    }
    expect(QUEUES).toEqual([TIMERS_QUEUE, CAMPAIGNS_QUEUE, WEBHOOKS_QUEUE]);
  });

  it("the queue marker lies in the timers queue's slot (a shard that loses the queue loses the marker)", () => {
    for (const p of PREFIXES) {
      expect(hashTagOf(queueMarkerKey(p))).toBe(TIMERS_QUEUE);
      expect(queueMarkerKey(p).startsWith(`${bullPrefix(p, TIMERS_QUEUE)}:`)).toBe(true);
    }
  });

  it("the send-rate script's keys (an org's bucket and a sender's) share one tag", () => {
    for (const p of PREFIXES) {
      for (const sender of [null, '+15005550006', 'MG0123456789abcdef0123456789abcdef', 'weird{sender}']) {
        const keys = sendRateKeys(p, '8a43baca-0000-4000-8000-000000000000', sender);
        expect(new Set(keys.map(hashTagOf))).toEqual(new Set(['send-rate']));
      }
    }
  });

  it("the API rate limit's two windows share the key's tag", () => {
    for (const p of PREFIXES) {
      const keyId = '342eb29f-0000-4000-8000-000000000000';
      expect(hashTagOf(rateLimitKey(p, keyId, 100))).toBe(keyId);
      expect(hashTagOf(rateLimitKey(p, keyId, 99))).toBe(keyId);
    }
  });

  it('every leader lease is tagged, one tag per loop', () => {
    for (const p of PREFIXES) {
      const tags = LEADERS.map((n) => hashTagOf(leaderKey(p, n)));
      expect(tags).toEqual(LEADERS);
    }
  });

  it('QUEUE_PREFIX cannot carry a tag of its own (it would take the place of the engine\'s)', () => {
    expect(() => loadConfig({ QUEUE_PREFIX: '{tcpa}' })).toThrow(/QUEUE_PREFIX/);
  });

  it('no Redis key is built outside src/adapters/queue/keys.ts: every file that runs a Redis command is known', () => {
    // A new file calling Redis must take its keys from keys.ts; add it here once it does.
    const known = new Set([
      'src/adapters/queue/keys.ts',
      'src/adapters/queue/leader-loop.ts', // its key comes from leaderKey (src/runtime.ts)
      'src/adapters/queue/send-rate.ts',
      'src/adapters/queue/timer-queue.ts',
      'src/api/rate-limit.ts',
    ]);
    const root = join(import.meta.dirname, '../..');
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) {
          if (name !== 'generated') walk(path);
        } else if (path.endsWith('.ts')) files.push(path);
      }
    };
    walk(join(root, 'src'));
    walk(join(root, 'workers'));
    // `redis.eval(`, `this.redis.set(`, `conn.get(`… (BullMQ's own commands run inside BullMQ, on the tagged prefix).
    const COMMAND = /\b(redis|conn|client)\.(eval|evalsha|defineCommand|multi|pipeline|set|get|del|exists|incr|incrby|expire|pexpire|zadd|hset|lpush|sadd|scan)\(/;
    const users = files.filter((f) => COMMAND.test(readFileSync(f, 'utf8'))).map((f) => relative(root, f).split('\\').join('/'));
    expect(users.length).toBeGreaterThan(0);
    for (const f of users) expect(known.has(f), `${f} runs Redis commands: build its keys in src/adapters/queue/keys.ts`).toBe(true);
  });
});
