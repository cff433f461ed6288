// The HTTP error mapping: statuses per code, the { error } shape for every failure path, and
// isUnavailableError against the errors real clients throw when their server is down.
import express from 'express';
import { Redis } from 'ioredis';
import pg from 'pg';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createPrisma } from '../../src/adapters/db/client.ts';
import { errorHandler, httpStatusOf, isUnavailableError, notFoundRoute } from '../../src/api/errors.ts';
import { idParams, parseBody, parseParams, parseQuery } from '../../src/api/validate.ts';
import { AppError, ERROR_CODES } from '../../src/domain/errors.ts';

const CLOSED = '127.0.0.1';
const CLOSED_PORT = 1;

/** Captures what `fn` rejects with. */
async function rejection(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

const logged: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> = [];
const logger = {
  warn: (obj: object, msg?: string) => void logged.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
  error: (obj: object, msg?: string) => void logged.push({ level: 'error', obj: obj as Record<string, unknown>, msg }),
};

const Thing = z.strictObject({ name: z.string().min(1), count: z.number().int().nonnegative().optional() });
let unavailableError: unknown;

const app = express();
app.use(express.json({ limit: '1kb' }));
app.post('/things', (req, res) => {
  const body = parseBody(Thing, req);
  res.status(201).json(body);
});
app.get('/things/:id', (req, res) => {
  const { id } = parseParams(idParams, req);
  const { verbose } = parseQuery(z.strictObject({ verbose: z.enum(['true', 'false']).optional() }), req);
  res.json({ id, verbose: verbose ?? null });
});
app.get('/missing', () => {
  throw new AppError('NOT_FOUND', 'no such thing', { id: 'x' });
});
app.get('/boom', () => {
  throw new Error('secret connection string postgres://u:hunter2@db/x');
});
app.get('/zod', () => {
  z.object({ a: z.number() }).parse({ a: 'x' });
});
app.get('/db-down', async () => {
  throw unavailableError;
});
app.use(notFoundRoute);
app.use(errorHandler(logger));

describe('httpStatusOf', () => {
  it('maps every error code to an HTTP status', () => {
    const expected: Record<string, number> = {
      INVALID_ARGUMENT: 400,
      INVALID_ZIP: 400,
      UNKNOWN_ZIP: 422,
      INVALID_PHONE: 400,
      INVALID_INSTANT: 400,
      INVALID_CHANNEL: 400,
      INVALID_POLICY: 400,
      INVALID_PURPOSE: 400,
      INVALID_ROW: 400,
      FILE_UNREADABLE: 400,
      CALENDAR_INVALID: 500,
      NOT_FOUND: 404,
      UNAUTHENTICATED: 401,
      FORBIDDEN: 403,
      CONFLICT: 409,
      IDEMPOTENCY_MISMATCH: 422,
      PAYLOAD_TOO_LARGE: 413,
      RATE_LIMITED: 429,
      UNAVAILABLE: 503,
      INTERNAL: 500,
    };
    for (const code of ERROR_CODES) {
      const status = httpStatusOf(code);
      expect(status, code).toBe(expected[code]);
    }
    expect(Object.keys(expected).sort()).toEqual([...ERROR_CODES].sort());
  });
});

describe('errorHandler', () => {
  it('malformed JSON → 400 INVALID_ARGUMENT', async () => {
    const r = await request(app).post('/things').set('Content-Type', 'application/json').send('{"name": ');
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ error: { code: 'INVALID_ARGUMENT', message: expect.stringMatching(/malformed JSON/) } });
  });

  it('unknown and invalid fields → 400 with a detail per problem, paths prefixed with body.', async () => {
    const r = await request(app).post('/things').send({ name: '', colour: 'red', count: -1 });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('INVALID_ARGUMENT');
    expect(r.body.error.details).toEqual(
      expect.arrayContaining([
        { path: 'body.colour', message: 'unknown field' },
        { path: 'body.name', message: expect.any(String) },
        { path: 'body.count', message: expect.any(String) },
      ]),
    );
    expect(r.body.error.details).toHaveLength(3);
  });

  it('a valid body passes through parseBody', async () => {
    const r = await request(app).post('/things').send({ name: 'a', count: 2 });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ name: 'a', count: 2 });
  });

  it('params and query are validated with params./query. paths', async () => {
    const ok = await request(app).get('/things/0A0B0C0D-0000-4000-8000-000000000001?verbose=true');
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ id: '0a0b0c0d-0000-4000-8000-000000000001', verbose: 'true' });
    const bad = await request(app).get('/things/nope?verbose=maybe&x=1');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details).toEqual([{ path: 'params.id', message: 'must be a UUID' }]);
    const badQuery = await request(app).get('/things/0a0b0c0d-0000-4000-8000-000000000001?verbose=maybe&x=1');
    expect(badQuery.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['query.verbose', 'query.x']);
  });

  it('an oversize body → 413 PAYLOAD_TOO_LARGE', async () => {
    const r = await request(app).post('/things').send({ name: 'x'.repeat(2000) });
    expect(r.status).toBe(413);
    expect(r.body).toEqual({ error: { code: 'PAYLOAD_TOO_LARGE', message: expect.any(String) } });
  });

  it('an unsupported charset → 400', async () => {
    const r = await request(app).post('/things').set('Content-Type', 'application/json; charset=klingon').send('{"name":"a"}');
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('INVALID_ARGUMENT');
  });

  it('AppError → its status, message and details', async () => {
    const r = await request(app).get('/missing');
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ error: { code: 'NOT_FOUND', message: 'no such thing', details: { id: 'x' } } });
  });

  it('a ZodError → 400 INVALID_ARGUMENT with { path, message } details', async () => {
    const r = await request(app).get('/zod');
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', details: [{ path: 'a', message: expect.any(String) }] });
  });

  it('an unexpected error → 500 INTERNAL, generic message, no stack, logged with a request id', async () => {
    logged.length = 0;
    const r = await request(app).get('/boom').set('X-Request-Id', 'req-123');
    expect(r.status).toBe(500);
    expect(r.body).toEqual({ error: { code: 'INTERNAL', message: 'internal error', details: { requestId: 'req-123' } } });
    expect(r.text).not.toMatch(/hunter2|secret|at .*\.ts:\d+/);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 'error', obj: { requestId: 'req-123' } });
    expect((logged[0]!.obj.err as Error).message).toMatch(/hunter2/);
  });

  it('a database-unreachable error → 503 UNAVAILABLE with Retry-After', async () => {
    const prisma = createPrisma(`postgresql://postgres@${CLOSED}:${CLOSED_PORT}/x`);
    unavailableError = await rejection(() => prisma.org.findMany());
    await prisma.disconnect();
    const r = await request(app).get('/db-down');
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('5');
    expect(r.body.error.code).toBe('UNAVAILABLE');
    expect(r.text).not.toMatch(/127\.0\.0\.1/);
  });

  it('an unknown route → 404 NOT_FOUND', async () => {
    const r = await request(app).get('/nowhere');
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ error: { code: 'NOT_FOUND', message: 'no route for GET /nowhere' } });
  });
});

describe('isUnavailableError', () => {
  const redisClients: Redis[] = [];
  afterAll(() => {
    for (const r of redisClients) r.disconnect();
  });

  it('recognises Prisma (driver adapter) errors for an unreachable server', async () => {
    const prisma = createPrisma(`postgresql://postgres@${CLOSED}:${CLOSED_PORT}/x`);
    try {
      const model = await rejection(() => prisma.org.findMany());
      const raw = await rejection(() => prisma.$queryRaw`SELECT 1`);
      const tx = await rejection(() => prisma.$transaction(async (t) => t.org.count()));
      expect(model).toMatchObject({ code: 'P1001' });
      expect(raw).toMatchObject({ code: 'P2010' }); // raw query failed; the cause is in meta.driverAdapterError
      for (const err of [model, raw, tx]) expect(isUnavailableError(err)).toBe(true);
    } finally {
      await prisma.disconnect();
    }
  });

  it('recognises pg connection errors (client and pool)', async () => {
    const client = new pg.Client({ host: CLOSED, port: CLOSED_PORT, user: 'postgres', database: 'x' });
    client.on('error', () => {});
    const err = await rejection(() => client.connect());
    expect(err).toMatchObject({ code: 'ECONNREFUSED' });
    expect(isUnavailableError(err)).toBe(true);
    const pool = new pg.Pool({ host: CLOSED, port: CLOSED_PORT, user: 'postgres', database: 'x' });
    try {
      expect(isUnavailableError(await rejection(() => pool.query('SELECT 1')))).toBe(true);
    } finally {
      await pool.end();
    }
  });

  it('recognises ioredis errors: offline queue disabled, connection closed, max retries', async () => {
    const noQueue = new Redis({ host: CLOSED, port: CLOSED_PORT, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    noQueue.on('error', () => {});
    redisClients.push(noQueue);
    expect(isUnavailableError(await rejection(() => noQueue.get('k')))).toBe(true);
    await new Promise<void>((resolve) => (noQueue.status === 'end' ? resolve() : noQueue.once('end', () => resolve())));
    const closed = await rejection(() => noQueue.get('k'));
    expect((closed as Error).message).toMatch(/Connection is closed/);
    expect(isUnavailableError(closed)).toBe(true);

    const retries = new Redis({ host: CLOSED, port: CLOSED_PORT, maxRetriesPerRequest: 0 });
    retries.on('error', () => {});
    redisClients.push(retries);
    const maxed = await rejection(() => retries.get('k'));
    expect((maxed as Error).name).toBe('MaxRetriesPerRequestError');
    expect(isUnavailableError(maxed)).toBe(true);
  });

  it('does not flag ordinary errors', () => {
    expect(isUnavailableError(new Error('boom'))).toBe(false);
    expect(isUnavailableError(new AppError('CONFLICT', 'taken'))).toBe(false);
    expect(isUnavailableError(Object.assign(new Error('Unique constraint failed'), { code: 'P2002' }))).toBe(false);
    expect(isUnavailableError(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBe(false);
    expect(isUnavailableError(null)).toBe(false);
    expect(isUnavailableError('ECONNREFUSED')).toBe(false);
    // Wrapped: found through `cause`.
    expect(isUnavailableError(new Error('outer', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) }))).toBe(true);
  });
});
