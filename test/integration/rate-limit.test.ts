/**
 * Per-key rate limit (sliding window in Redis, limit = the org's rateLimitPerMinute) and the keys
 * API (create / list / revoke), on the real Redis and Postgres. Also: the limiter fails open when
 * Redis cannot be reached, and its Retry-After arithmetic.
 */
import express from 'express';
import request from 'supertest';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorHandler } from '../../src/api/errors.ts';
import { msUntilAdmitted, rateLimit, rateLimitKey } from '../../src/api/rate-limit.ts';
import { startEngine, type ApiAnswer, type TestEngine } from '../helpers/engine.ts';

let e: TestEngine;

beforeAll(async () => {
  e = await startEngine({ parts: [] });
});
afterAll(async () => {
  await e?.stop();
});

async function callWith(key: string, method: string, path: string, body?: unknown): Promise<ApiAnswer> {
  const res = await fetch(`${e.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

describe('keys API', () => {
  it('creates a key (shown once), lists metadata only, revokes it (then 401), audits both without the secret', async () => {
    const created = await e.api('POST', '/v1/keys', { role: 'ops', name: 'ci' });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ keyId: expect.any(String), key: expect.stringMatching(/^tcpa_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/), role: 'ops', name: 'ci' });
    const { keyId, key } = created.body as { keyId: string; key: string };
    expect((await callWith(key, 'GET', '/v1/timers')).status).toBe(200);
    // ops may not manage keys
    expect((await callWith(key, 'GET', '/v1/keys')).status).toBe(403);

    const list = await e.api('GET', '/v1/keys');
    expect(list.status).toBe(200);
    const mine = list.body.items.find((k: { keyId: string }) => k.keyId === keyId);
    expect(mine).toMatchObject({ keyId, role: 'ops', name: 'ci', keyPrefix: key.slice(5, 17), revokedAt: null });
    expect(mine.lastUsedAt).not.toBeNull();
    expect(Object.keys(mine).sort()).toEqual(['createdAt', 'keyId', 'keyPrefix', 'lastUsedAt', 'name', 'revokedAt', 'role']);
    const row = await e.rt.prisma.apiKey.findUniqueOrThrow({ where: { id: keyId } });
    expect(JSON.stringify(list.body)).not.toContain(row.secretHash);
    expect(JSON.stringify(list.body)).not.toContain(key.slice(18));

    const revoked = await e.api('DELETE', `/v1/keys/${keyId}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ keyId, revokedAt: expect.any(String) });
    const again = await e.api('DELETE', `/v1/keys/${keyId}`);
    expect(again.status).toBe(200);
    expect(again.body.revokedAt).toBe(revoked.body.revokedAt);
    const after = await callWith(key, 'GET', '/v1/timers');
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('UNAUTHENTICATED');
    expect((await e.api('DELETE', '/v1/keys/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await e.api('DELETE', '/v1/keys/not-a-uuid')).status).toBe(400);
    expect((await e.api('POST', '/v1/keys', { role: 'root' })).status).toBe(400);

    const audit = await e.api('GET', '/v1/audit?action=key.created');
    expect(audit.body.items.map((a: { data: { keyId: string } }) => a.data.keyId)).toContain(keyId);
    const revokedAudit = await e.api('GET', '/v1/audit?action=key.revoked');
    expect(revokedAudit.body.items).toHaveLength(1); // the second DELETE changed nothing
    const all = JSON.stringify((await e.api('GET', '/v1/audit')).body);
    expect(all).not.toContain(key);
    expect(all).not.toContain(key.slice(18));
    expect(all).not.toContain(row.secretHash);
  });

  it('rotation: a new key works while the old one is revoked; an admin may revoke its own key', async () => {
    const a = await e.api('POST', '/v1/keys', { role: 'admin', name: 'old' });
    const b = await callWith(a.body.key, 'POST', '/v1/keys', { role: 'admin', name: 'new' });
    expect(b.status).toBe(201);
    const self = await callWith(a.body.key, 'DELETE', `/v1/keys/${a.body.keyId}`);
    expect(self.status).toBe(200);
    expect((await callWith(a.body.key, 'GET', '/v1/keys')).status).toBe(401);
    expect((await callWith(b.body.key, 'GET', '/v1/keys')).status).toBe(200);
    const entry = (await e.api('GET', '/v1/audit?action=key.revoked')).body.items.find((x: { data: { keyId: string } }) => x.data.keyId === a.body.keyId);
    expect(entry.data).toMatchObject({ self: true, by: a.body.keyId });
  });

  it('another org cannot see or revoke the keys', async () => {
    const other = await e.rt.prisma.org.create({ data: { name: `other-${e.prefix}` } });
    const { createApiKey } = await import('../../src/adapters/auth/api-keys.ts');
    const theirs = await createApiKey(e.rt.prisma, { orgId: other.id, role: 'admin' });
    const list = await callWith(theirs.key, 'GET', '/v1/keys');
    expect(list.body.items.map((k: { keyId: string }) => k.keyId)).toEqual([theirs.keyId]);
    const mine = (await e.api('GET', '/v1/keys')).body.items[0].keyId as string;
    expect((await callWith(theirs.key, 'DELETE', `/v1/keys/${mine}`)).status).toBe(404);
  });
});

describe('rate limit per key', () => {
  it("the org's rateLimitPerMinute caps each key; the 6th call of 5/min is 429 with Retry-After; another key counts apart", async () => {
    const k1 = (await e.api('POST', '/v1/keys', { role: 'auditor', name: 'k1' })).body.key as string;
    const k2 = (await e.api('POST', '/v1/keys', { role: 'auditor', name: 'k2' })).body.key as string;
    const patched = await e.api('PATCH', '/v1/org/settings', { rateLimitPerMinute: 5 });
    expect(patched.status).toBe(200);
    expect(patched.body.rateLimitPerMinute).toBe(5);

    const answers: ApiAnswer[] = [];
    for (let i = 0; i < 6; i++) answers.push(await callWith(k1, 'GET', '/v1/timers'));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 429]);
    expect(answers.map((a) => a.headers.get('ratelimit-limit'))).toEqual(Array(6).fill('5'));
    expect(answers.map((a) => a.headers.get('ratelimit-remaining'))).toEqual(['4', '3', '2', '1', '0', '0']);
    const limited = answers[5]!;
    expect(limited.body).toEqual({ error: { code: 'RATE_LIMITED', message: expect.any(String), details: { limit: 5, retryAfterSeconds: expect.any(Number) } } });
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(120);
    expect(limited.body.error.details.retryAfterSeconds).toBe(retryAfter);
    expect(Number(limited.headers.get('ratelimit-reset'))).toBeLessThanOrEqual(60);

    // The other key has its own budget.
    const other = await callWith(k2, 'GET', '/v1/timers');
    expect(other.status).toBe(200);
    expect(other.headers.get('ratelimit-remaining')).toBe('4');
    // Refused calls are not counted, but still refused.
    expect((await callWith(k1, 'GET', '/v1/audit/verify')).status).toBe(429);

    // The counters live under the deployment's prefix.
    const redis = new Redis(e.env['REDIS_URL']!);
    try {
      const keys = await redis.keys(`${e.prefix}:tcpa:rl:*`);
      expect(keys.length).toBeGreaterThanOrEqual(2);
    } finally {
      redis.disconnect();
    }
  });
});

describe('rate limiter unit behaviour', () => {
  it('fails open (with a warning) when Redis is unreachable', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    dead.on('error', () => {});
    const warnings: unknown[] = [];
    const app = express();
    app.use((_req, res, next) => {
      res.locals['auth'] = { orgId: 'o', keyId: 'k', role: 'admin' };
      next();
    });
    app.use(rateLimit({ redis: dead, prefix: 'x', limitOf: async () => 1, log: { warn: (o) => warnings.push(o) }, timeoutMs: 500 }));
    app.get('/', (_req, res) => {
      res.json({ ok: true });
    });
    app.use(errorHandler({ warn: () => {}, error: () => {} }));
    for (let i = 0; i < 3; i++) {
      const res = await request(app).get('/');
      expect(res.status).toBe(200);
      expect(res.headers['ratelimit-limit']).toBeUndefined();
    }
    expect(warnings).toHaveLength(1); // throttled
    dead.disconnect();
  });

  it('Retry-After: the time until one more request fits the sliding window', () => {
    // 5/min, 5 in the current window, none before: wait past the window end until 5 × (1 − t/W) ≤ 4.
    expect(msUntilAdmitted(5, 5, 0, 10_000)).toBe(50_000 + 12_000);
    // 2 in the current window, 10 in the previous one at 30 s in: 10 × (W − t)/W ≤ 2 ⇒ t ≥ 48 s.
    expect(msUntilAdmitted(5, 2, 10, 30_000)).toBe(18_000);
    expect(msUntilAdmitted(5, 0, 0, 0)).toBe(0);
    expect(rateLimitKey('p', 'k', 7)).toBe('p:tcpa:rl:{k}:7');
  });
});
