/**
 * The engine on a Redis Cluster: three masters started here on loopback (redis-server
 * --cluster-enabled, no replicas), the engine pointed at them with REDIS_CLUSTER_NODES. The whole
 * queue path runs on it — timers created through the API (the rate-limit script on every request)
 * and handed to BullMQ at once or by the pump (a leader loop), fired by a dispatcher through the
 * send-rate limiter, the reconciler's marker, a campaign planned on its own queue — and every
 * timer is sent once, the sends spread at the sender's rate. No script meets CROSSSLOT: a script
 * over two untagged keys does, on the same cluster (the control). Every key left in the cluster
 * carries a hash tag (src/adapters/queue/keys.ts).
 */
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisConnection, redisReady } from '../../src/adapters/queue/connection.ts';
import { hashTagOf, leaderKey, queueMarkerKey, sendRateKeys } from '../../src/adapters/queue/keys.ts';
import { RedisSendRate } from '../../src/adapters/queue/send-rate.ts';
import { offsetTo, smsBody, startEngine, until, type TestEngine } from '../helpers/engine.ts';
import { startLocalCluster, type LocalCluster } from '../helpers/redis-cluster.ts';

// Tuesday 2026-12-08 12:00 in New York (17:00Z): inside every window for zip 10001.
const NOON_NY = '2026-12-08T17:00:00Z';
const PER_SENDER = 5;

let cluster: LocalCluster;
let admin: Cluster;
let e: TestEngine;

beforeAll(async () => {
  cluster = await startLocalCluster(3);
  admin = redisConnection({ kind: 'cluster', nodes: cluster.nodes, auth: { tls: false } }, 'worker') as Cluster;
  await redisReady(admin);
  e = await startEngine({
    redisUrl: `redis://${cluster.spec.split(',')[0]}`,
    env: { REDIS_CLUSTER_NODES: cluster.spec, HORIZON: '3s' },
    clockOffsetMs: offsetTo(NOON_NY),
    sendRate: { perSecond: 1000, perSenderPerSecond: PER_SENDER },
    parts: ['pump', 'dispatcher', 'reconciler', 'planner'],
  });
  await redisReady(e.rt.redis);
}, 120_000);

afterAll(async () => {
  await e?.stop();
  admin?.disconnect();
  await cluster?.stop();
}, 60_000);

/** Every key on every master of the cluster. */
async function allKeys(): Promise<string[]> {
  const out: string[] = [];
  for (const node of admin.nodes('master')) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'COUNT', 1000);
      cursor = next;
      out.push(...keys);
    } while (cursor !== '0');
  }
  return out;
}

describe('Redis Cluster (3 masters on loopback)', () => {
  it('is a real cluster: a script over two keys in different slots is refused (CROSSSLOT)', async () => {
    const [a, b] = ['tcpa:tcpa:send-rate:org:x', 'tcpa:tcpa:send-rate:sender:y'];
    expect(await admin.cluster('KEYSLOT', a)).not.toBe(await admin.cluster('KEYSLOT', b));
    await expect(admin.eval("return redis.call('GET', KEYS[1])", 2, a, b)).rejects.toThrow(/CROSSSLOT/);
    // The limiter's own keys share a slot: its script runs.
    const keys = sendRateKeys(e.prefix, 'org-x', 'MGcontrol');
    expect(new Set(await Promise.all(keys.map((k) => admin.cluster('KEYSLOT', k))))).toHaveProperty('size', 1);
    await expect(new RedisSendRate(admin, e.prefix).reserve({ orgId: 'org-x', sender: 'MGcontrol', perSecond: 1, perSenderPerSecond: 1, now: Date.now() })).resolves.toBeTypeOf('number');
  });

  it('the queue path: timers enqueued at once and by the pump are fired by a dispatcher, once each, at the sender rate; a campaign is planned', async () => {
    const phones = Array.from({ length: 8 }, (_, i) => `+1212555${String(300 + i).padStart(4, '0')}`);
    const now = e.clock.now();
    const ids: string[] = [];
    for (const [i, phone] of phones.entries()) {
      // Six due now (into BullMQ with the API call), two beyond the 3 s horizon (the pump's).
      const at = new Date(i < 6 ? now : now + 6000).toISOString();
      const res = await e.api('POST', '/v1/timers', smsBody({ contact: { phone, zip: '10001' }, at }));
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      ids.push(res.body.id as string);
    }
    await until(async () => {
      const rows = await e.rt.prisma.timer.findMany({ where: { id: { in: ids } } });
      return rows.length === ids.length && rows.every((r) => r.status === 'sent' || r.status === 'delivered') ? rows : null;
    }, 45_000, 200);
    expect(e.emulator.emulator.messages().filter((m) => phones.includes(String(m.params['To'])) && m.sid !== null)).toHaveLength(phones.length);
    // Each send took its own slot from the limiter on the cluster: the sender's slots are 1/PER_SENDER s apart.
    await e.rt.ctx.audit.settle(e.orgId); // claims are staged, then linked by a pass that may not have run yet
    const claimed = await e.rt.prisma.auditEntry.findMany({ where: { orgId: e.orgId, action: 'timer.claimed', timerId: { in: ids } } });
    expect(claimed).toHaveLength(ids.length);
    const slots = claimed.map((c) => Date.parse((c.data as { rateSlot: string }).rateSlot)).sort((x, y) => x - y);
    for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!).toBeGreaterThanOrEqual(1000 / PER_SENDER - 1);

    const campaign = await e.api('POST', '/v1/campaigns', {
      name: 'on the cluster',
      channel: 'sms',
      purpose: 'informational',
      policy: 'next_slot',
      message: { body: 'Your appointment is tomorrow' },
      sendAt: '2026-12-09T10:00',
      audience: { contacts: [{ phone: '+12125550401', zip: '10001' }, { phone: '+12125550402', zip: '10001' }] },
    });
    expect(campaign.status, JSON.stringify(campaign.body)).toBe(201);
    await until(async () => (await e.api('GET', `/v1/campaigns/${campaign.body.id}`)).body.status === 'planned', 45_000, 200);

    // The leader loops hold their leases, the reconciler its marker, on the cluster.
    for (const key of [leaderKey(e.prefix, 'pump'), leaderKey(e.prefix, 'reconciler'), leaderKey(e.prefix, 'campaign-sweep'), queueMarkerKey(e.prefix)]) {
      expect(await admin.exists(key), key).toBe(1);
    }
  }, 120_000);

  it('every key the engine left in the cluster carries a hash tag', async () => {
    const keys = (await allKeys()).filter((k) => k.startsWith(`${e.prefix}:`));
    expect(keys.length).toBeGreaterThan(5);
    const untagged = keys.filter((k) => hashTagOf(k) === null);
    expect(untagged).toEqual([]);
    // One tag per queue, the limiter's, the leases': spread over the cluster's slots.
    expect([...new Set(keys.map(hashTagOf))]).toEqual(expect.arrayContaining(['timers', 'campaigns', 'send-rate', 'pump', 'reconciler']));
  });
});
