/**
 * The send-rate limiter (GCRA on Redis, src/adapters/queue/send-rate.ts): reservations from many
 * clients at once get strictly spaced slots, the org's and the sender's buckets are taken together,
 * keys carry the deployment's prefix and expire, and a dead Redis is an error (no fail-open).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSendRate, sendRateKeys } from '../../src/adapters/queue/send-rate.ts';
import { redisConnection, type RedisClient } from '../../src/adapters/queue/connection.ts';
import { dropQueueKeys, freePort, REDIS_URL } from '../helpers/engine.ts';

const prefix = `t${randomBytes(5).toString('hex')}`;
const clients: RedisClient[] = [];
const NOW = Date.parse('2026-12-08T13:00:00Z');

beforeAll(() => {
  for (let i = 0; i < 4; i++) clients.push(redisConnection(REDIS_URL, 'worker'));
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await dropQueueKeys(REDIS_URL, prefix);
});

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const gaps = (xs: number[]) => sorted(xs).slice(1).map((x, i) => x - sorted(xs)[i]!);

describe('RedisSendRate', () => {
  it('N reservations from 4 clients at once: distinct slots, the first now, each at least one interval after the last', async () => {
    const orgId = randomUUID();
    const limiters = clients.map((c) => new RedisSendRate(c, prefix));
    const slots = await Promise.all(Array.from({ length: 40 }, (_, i) => limiters[i % 4]!.reserve({ orgId, sender: null, perSecond: 10, perSenderPerSecond: 1, now: NOW })));
    expect(new Set(slots).size).toBe(40);
    expect(Math.min(...slots)).toBe(NOW);
    for (const g of gaps(slots)) {
      expect(g).toBeGreaterThanOrEqual(99);
      expect(g).toBeLessThanOrEqual(101);
    }
    expect(Math.max(...slots)).toBeGreaterThanOrEqual(NOW + 3899);
  });

  it('fractional intervals do not drift: 30/s gives 30 slots in the first second', async () => {
    const orgId = randomUUID();
    const r = new RedisSendRate(clients[0]!, prefix);
    const slots = await Promise.all(Array.from({ length: 31 }, () => r.reserve({ orgId, sender: null, perSecond: 30, perSenderPerSecond: 1, now: NOW })));
    expect(slots.filter((s) => s < NOW + 1000)).toHaveLength(30);
    for (const g of gaps(slots)) expect(g).toBeGreaterThanOrEqual(33);
  });

  it('reserveMany gives the slots as many single reservations in a row would, and interleaves with other clients\' reservations', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const r = new RedisSendRate(clients[0]!, prefix);
    const req = (orgId: string) => ({ orgId, sender: `+1500555${randomBytes(2).readUInt16BE() % 10_000}`, perSecond: 20, perSenderPerSecond: 8, now: NOW });
    const reqA = req(a);
    const reqB = { ...req(b), sender: reqA.sender };
    const many = await r.reserveMany(reqA, 7);
    const singles: number[] = [];
    for (let i = 0; i < 7; i++) singles.push(await r.reserve(reqB));
    // Same spacing: the sender's 8/s (125 ms) dominates the org's 20/s; B's singles come after A's batch on the shared sender.
    expect(gaps(many)).toEqual(Array(6).fill(125));
    expect(many[0]).toBe(NOW);
    expect(gaps(singles)).toEqual(Array(6).fill(125));
    expect(singles[0]).toBe(many.at(-1)! + 125);
    await expect(r.reserveMany(reqA, 0)).rejects.toThrow(RangeError);
  });

  it('costs: a send of k segments takes k intervals of both buckets, so the next send waits that much longer', async () => {
    const r = new RedisSendRate(clients[1]!, prefix);
    const req = { orgId: randomUUID(), sender: `+1500556${String(Math.floor(Math.random() * 10_000)).padStart(4, '0')}`, perSecond: 10, perSenderPerSecond: 5, now: NOW };
    // The sender's 5/s (200 ms) dominates: 3 segments take 600 ms, 1 takes 200, 2 take 400.
    expect(await r.reserveMany(req, 3, [3, 1, 2])).toEqual([NOW, NOW + 600, NOW + 800]);
    expect(await r.reserve(req)).toBe(NOW + 1200);
    await expect(r.reserveMany(req, 2, [1])).rejects.toThrow(RangeError);
    await expect(r.reserveMany(req, 1, [0])).rejects.toThrow(RangeError);
  });

  it('the later of the org and the sender slot is taken for both: a sender at 2/s paces an org allowed 10/s', async () => {
    const orgId = randomUUID();
    const sender = `+1500555${String(Math.floor(Math.random() * 10_000)).padStart(4, '0')}`;
    const limiters = clients.map((c) => new RedisSendRate(c, prefix));
    const slots = await Promise.all(Array.from({ length: 10 }, (_, i) => limiters[i % 4]!.reserve({ orgId, sender, perSecond: 10, perSenderPerSecond: 2, now: NOW })));
    for (const g of gaps(slots)) expect(g).toBeGreaterThanOrEqual(500);
    // The sender is the number's, shared by every org sending from it; the org's own bucket is apart.
    const otherOrg = await limiters[0]!.reserve({ orgId: randomUUID(), sender, perSecond: 10, perSenderPerSecond: 2, now: NOW });
    expect(otherOrg).toBeGreaterThanOrEqual(Math.max(...slots) + 500);
    const sameOrgNoSender = await limiters[0]!.reserve({ orgId, sender: null, perSecond: 10, perSenderPerSecond: 2, now: NOW });
    // The org's bucket was advanced from the later (sender) slot: 100 ms after the last one.
    expect(sameOrgNoSender).toBe(Math.max(...slots) + 100);
  });

  it('a bucket that fell idle starts again at now; keys carry the prefix and expire', async () => {
    const orgId = randomUUID();
    const r = new RedisSendRate(clients[1]!, prefix);
    expect(await r.reserve({ orgId, sender: 'MG0123', perSecond: 5, perSenderPerSecond: 5, now: NOW })).toBe(NOW);
    expect(await r.reserve({ orgId, sender: 'MG0123', perSecond: 5, perSenderPerSecond: 5, now: NOW + 10_000 })).toBe(NOW + 10_000);
    const keys = sendRateKeys(prefix, orgId, 'MG0123');
    for (const k of keys) {
      expect(k.startsWith(`${prefix}:`)).toBe(true);
      expect(await clients[0]!.pttl(k)).toBeGreaterThan(0);
    }
  });

  it('Redis unreachable: the reservation fails (the job retries), it does not let the send through', async () => {
    const dead = redisConnection(`redis://127.0.0.1:${await freePort()}`, 'producer');
    try {
      await expect(new RedisSendRate(dead, prefix).reserve({ orgId: randomUUID(), sender: null, perSecond: 1, perSenderPerSecond: 1, now: NOW })).rejects.toThrow();
    } finally {
      dead.disconnect();
    }
  });
});
