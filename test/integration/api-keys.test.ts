// API keys over a real Postgres: creation (with the org), authentication and its failure modes,
// revocation, the throttled lastUsedAt, and the authenticate/requireRole middleware.
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authenticateApiKey,
  createApiKey,
  generateApiKey,
  hashSecret,
  parseApiKey,
  revokeApiKey,
} from '../../src/adapters/auth/api-keys.ts';
import { createPrisma, type Db } from '../../src/adapters/db/client.ts';
import { authenticate, authOf, requireRole } from '../../src/api/auth.ts';
import { errorHandler, notFoundRoute } from '../../src/api/errors.ts';
import { AppError } from '../../src/domain/errors.ts';
import { freshDatabase } from '../helpers/db.ts';

let db: Awaited<ReturnType<typeof freshDatabase>>;
let prisma: Db;

beforeAll(async () => {
  db = await freshDatabase();
  prisma = createPrisma(db.url, { maxConnections: 4 });
});

afterAll(async () => {
  await prisma?.disconnect();
  await db?.drop();
});

const silent = { warn: () => {}, error: () => {} };

describe('key format', () => {
  it('generates tcpa_<12 base62>_<43 base64url> and parses it back', () => {
    const g = generateApiKey();
    expect(g.key).toMatch(/^tcpa_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    const parsed = parseApiKey(g.key);
    expect(parsed).toEqual({ keyPrefix: g.keyPrefix, secret: g.key.slice(18) });
    expect(hashSecret(parsed!.secret)).toBe(g.secretHash);
    expect(generateApiKey().keyPrefix).not.toBe(g.keyPrefix);
    for (const bad of ['', 'tcpa_', g.key + 'x', g.key.replace('tcpa_', 'tcpb_'), `tcpa_short_${g.key.slice(18)}`]) {
      expect(parseApiKey(bad)).toBeNull();
    }
  });
});

describe('createApiKey / authenticateApiKey / revokeApiKey', () => {
  it('creates the org on first use and reuses it after', async () => {
    const a = await createApiKey(prisma, { orgName: 'acme', role: 'admin', name: 'first' });
    const b = await createApiKey(prisma, { orgName: 'acme', role: 'ops' });
    expect(b.orgId).toBe(a.orgId);
    expect(b.keyId).not.toBe(a.keyId);
    expect(b.key).not.toBe(a.key);
    expect(await prisma.org.count({ where: { name: 'acme' } })).toBe(1);
    const c = await createApiKey(prisma, { orgId: a.orgId, role: 'auditor' });
    expect(c.orgId).toBe(a.orgId);
    await expect(createApiKey(prisma, { orgId: '00000000-0000-4000-8000-000000000000', role: 'admin' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(createApiKey(prisma, { orgName: 'x', role: 'root' as never })).rejects.toBeInstanceOf(AppError);
  });

  it('concurrent creates for a new org name agree on one org', async () => {
    const results = await Promise.all(Array.from({ length: 4 }, () => createApiKey(prisma, { orgName: 'racy', role: 'admin' })));
    expect(new Set(results.map((r) => r.orgId)).size).toBe(1);
  });

  it('stores no plaintext secret', async () => {
    const created = await createApiKey(prisma, { orgName: 'stored', role: 'journey', name: 'svc' });
    const { secret, keyPrefix } = parseApiKey(created.key)!;
    const row = await prisma.apiKey.findUniqueOrThrow({ where: { id: created.keyId } });
    expect(row).toMatchObject({ keyPrefix, role: 'journey', name: 'svc', revokedAt: null, lastUsedAt: null });
    expect(row.secretHash).toBe(hashSecret(secret));
    expect(row.secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(row)).not.toContain(secret);
  });

  it('authenticates a good key; rejects a wrong secret, an unknown prefix, garbage and a revoked key', async () => {
    const created = await createApiKey(prisma, { orgName: 'auth-org', role: 'ops' });
    expect(await authenticateApiKey(prisma, created.key)).toEqual({ orgId: created.orgId, keyId: created.keyId, role: 'ops' });

    const { keyPrefix, secret } = parseApiKey(created.key)!;
    const otherSecret = parseApiKey(generateApiKey().key)!.secret;
    expect(await authenticateApiKey(prisma, `tcpa_${keyPrefix}_${otherSecret}`)).toBeNull();
    expect(await authenticateApiKey(prisma, `tcpa_${generateApiKey().keyPrefix}_${secret}`)).toBeNull();
    expect(await authenticateApiKey(prisma, 'not-a-key')).toBeNull();

    const revoked = await revokeApiKey(prisma, created.orgId, created.keyId);
    expect(revoked.keyId).toBe(created.keyId);
    expect(await authenticateApiKey(prisma, created.key)).toBeNull();
    // Idempotent; another org cannot revoke (or learn about) the key.
    expect((await revokeApiKey(prisma, created.orgId, created.keyId)).revokedAt).toEqual(revoked.revokedAt);
    const other = await createApiKey(prisma, { orgName: 'other-org', role: 'admin' });
    const victim = await createApiKey(prisma, { orgName: 'auth-org', role: 'admin' });
    await expect(revokeApiKey(prisma, other.orgId, victim.keyId)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await authenticateApiKey(prisma, victim.key)).not.toBeNull();
  });

  it('writes lastUsedAt at most once per interval', async () => {
    const created = await createApiKey(prisma, { orgName: 'touch-org', role: 'admin' });
    const lastUsed = async () => (await prisma.apiKey.findUniqueOrThrow({ where: { id: created.keyId } })).lastUsedAt;
    const t0 = new Date('2026-03-01T12:00:00.000Z');
    await authenticateApiKey(prisma, created.key, { now: t0 });
    expect(await lastUsed()).toEqual(t0);
    await authenticateApiKey(prisma, created.key, { now: new Date(t0.getTime() + 30_000) });
    expect(await lastUsed()).toEqual(t0);
    const t2 = new Date(t0.getTime() + 61_000);
    await Promise.all([1, 2, 3].map(() => authenticateApiKey(prisma, created.key, { now: t2 })));
    expect(await lastUsed()).toEqual(t2);
  });
});

describe('authenticate / requireRole middleware', () => {
  function app() {
    const a = express();
    a.get('/me', authenticate(prisma), (_req, res) => {
      res.json(authOf(res));
    });
    a.post('/admin-only', authenticate(prisma), requireRole('admin'), (_req, res) => {
      res.json({ ok: true });
    });
    a.use(notFoundRoute);
    a.use(errorHandler(silent));
    return a;
  }

  it('missing header → 401 with a Bearer challenge', async () => {
    const r = await request(app()).get('/me');
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(r.body).toEqual({ error: { code: 'UNAUTHENTICATED', message: expect.any(String) } });
  });

  it('bad, malformed or revoked key → 401', async () => {
    const created = await createApiKey(prisma, { orgName: 'mw-org', role: 'ops' });
    for (const header of [`Bearer ${generateApiKey().key}`, 'Bearer nonsense', `Basic ${created.key}`, 'Bearer']) {
      const r = await request(app()).get('/me').set('Authorization', header);
      expect(r.status, header).toBe(401);
      expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(r.body.error.code).toBe('UNAUTHENTICATED');
    }
    await revokeApiKey(prisma, created.orgId, created.keyId);
    const r = await request(app()).get('/me').set('Authorization', `Bearer ${created.key}`);
    expect(r.status).toBe(401);
  });

  it('a good key passes and res.locals.auth is set; the wrong role → 403', async () => {
    const ops = await createApiKey(prisma, { orgName: 'mw-org', role: 'ops' });
    const me = await request(app()).get('/me').set('Authorization', `Bearer ${ops.key}`);
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ orgId: ops.orgId, keyId: ops.keyId, role: 'ops' });

    const forbidden = await request(app()).post('/admin-only').set('Authorization', `Bearer ${ops.key}`);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error).toMatchObject({ code: 'FORBIDDEN', details: { required: ['admin'], role: 'ops' } });

    const admin = await createApiKey(prisma, { orgName: 'mw-org', role: 'admin' });
    const allowed = await request(app()).post('/admin-only').set('Authorization', `bearer ${admin.key}`);
    expect(allowed.status).toBe(200);
    expect(allowed.body).toEqual({ ok: true });
  });

  it('a database outage during authentication → 503, not 401', async () => {
    const down = createPrisma('postgresql://postgres@127.0.0.1:1/x');
    try {
      const a = express();
      a.get('/me', authenticate(down), (_req, res) => void res.json(authOf(res)));
      a.use(errorHandler(silent));
      const r = await request(a).get('/me').set('Authorization', `Bearer ${generateApiKey().key}`);
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe('UNAVAILABLE');
    } finally {
      await down.disconnect();
    }
  });
});
