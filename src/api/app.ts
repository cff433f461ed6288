/**
 * The Express 5 application: health, the provider webhooks, and the authenticated /v1 API.
 * Routes are thin: validate (zod), call a use case, answer. Errors flow to `errorHandler`, the
 * one place that maps them to HTTP.
 */
import { randomUUID } from 'node:crypto';
import express, { type Express, type Request, type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import type { Redis } from 'ioredis';
import { validateTwilioSignature } from '../adapters/twilio/client.ts';
import type { Logger } from '../adapters/log.ts';
import type { EngineContext } from '../app/timers/context.ts';
import { handleStatusCallback } from '../app/timers/status-callback.ts';
import { CreateTimerBody, ListTimersQuery } from '../app/timers/schemas.ts';
import { TimerService } from '../app/timers/timer-service.ts';
import { AuditQueries, ListAuditQuery } from '../app/audit-queries.ts';
import { AppError } from '../domain/errors.ts';
import { clearTwilioCredentials, getTwilioCredentials, setTwilioCredentials, TwilioCredentialsBody } from '../app/org-credentials.ts';
import { authenticate, authOf, requireRole } from './auth.ts';
import { errorHandler, notFoundRoute } from './errors.ts';
import { idParams, parseBody, parseParams, parseQuery } from './validate.ts';

export interface AppOptions {
  ctx: EngineContext;
  /** For /readyz. */
  redis: Redis;
  log: Logger;
  /** express.json limit, e.g. "100kb". */
  bodyLimit: string;
  /** Base URL the provider calls (validates webhook signatures); default: the request's own URL. */
  publicBaseUrl?: string;
  /** Seals orgs' stored provider credentials (TCPA_SECRET_KEY). */
  secretKey?: Buffer;
  /** Extra routers mounted before the API (the built-in Twilio emulator under /_emulator). */
  mounts?: Array<{ path: string; router: Router }>;
}

const IdempotencyKeyHeader = z.string().min(1).max(255).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');

/** Wraps an async handler (Express 5 forwards rejections to the error handler itself; this keeps the types tidy). */
const route = (fn: (req: Request, res: express.Response) => Promise<void>): RequestHandler => (req, res, next) => {
  fn(req, res).catch(next);
};

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error('timeout')), ms)))]).finally(() => clearTimeout(t));
}

export function createApp(opts: AppOptions): Express {
  const { ctx, log } = opts;
  const timers = new TimerService(ctx);
  const audit = new AuditQueries(ctx);
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  // Request id + one access-log line per request (path only: query strings may carry ids, never bodies).
  app.use((req, res, next) => {
    const id = req.get('x-request-id')?.slice(0, 100) || randomUUID();
    res.locals['requestId'] = id;
    res.setHeader('X-Request-Id', id);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      log.info({ requestId: id, method: req.method, path: req.path, status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'request');
    });
    next();
  });

  for (const m of opts.mounts ?? []) app.use(m.path, m.router);

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.get(
    '/readyz',
    route(async (_req, res) => {
      const [db, redis] = await Promise.allSettled([withTimeout(ctx.prisma.$queryRaw`SELECT 1`, 2000), withTimeout(opts.redis.ping(), 2000)]);
      const checks = { postgres: db.status === 'fulfilled' ? 'ok' : 'unreachable', redis: redis.status === 'fulfilled' ? 'ok' : 'unreachable' };
      const ok = checks.postgres === 'ok' && checks.redis === 'ok';
      if (!ok) res.setHeader('Retry-After', '5');
      res.status(ok ? 200 : 503).json(ok ? { ok, checks } : { error: { code: 'UNAVAILABLE', message: 'a dependency is unreachable', details: checks } });
    }),
  );

  // Provider status callbacks: form-encoded, authenticated by X-Twilio-Signature (not by API key).
  app.post(
    '/webhooks/twilio/status',
    express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 1000 }),
    route(async (req, res) => {
      const { timerId } = parseQuery(z.object({ timerId: z.uuid() }).strict(), req);
      const base = opts.publicBaseUrl ?? `${req.protocol}://${req.get('host')}`;
      await handleStatusCallback(ctx, {
        timerId,
        params: (req.body ?? {}) as Record<string, unknown>,
        signature: req.get('x-twilio-signature'),
        url: `${base}${req.originalUrl}`,
        validate: validateTwilioSignature,
      });
      res.status(204).end();
    }),
  );

  const v1 = express.Router();
  v1.use(authenticate(ctx.prisma));
  v1.use(express.json({ limit: opts.bodyLimit, strict: true }));

  v1.post(
    '/timers',
    requireRole('admin', 'ops', 'journey'),
    route(async (req, res) => {
      const body = parseBody(CreateTimerBody, req);
      const keyHeader = req.get('idempotency-key');
      const key = keyHeader === undefined ? undefined : IdempotencyKeyHeader.safeParse(keyHeader);
      if (key && !key.success) throw new AppError('INVALID_ARGUMENT', 'Idempotency-Key must be 1-255 printable ASCII characters', [{ path: 'headers.idempotency-key', message: key.error.issues[0]?.message ?? 'invalid' }]);
      const result = await timers.create(authOf(res).orgId, body, key?.data);
      if (result.replayed) res.setHeader('Idempotent-Replayed', 'true');
      res.status(result.status).json(result.body);
    }),
  );
  v1.get(
    '/timers',
    requireRole('admin', 'ops', 'journey', 'auditor'),
    route(async (req, res) => {
      res.json(await timers.list(authOf(res).orgId, parseQuery(ListTimersQuery, req)));
    }),
  );
  v1.get(
    '/timers/:id',
    requireRole('admin', 'ops', 'journey', 'auditor'),
    route(async (req, res) => {
      res.json(await timers.get(authOf(res).orgId, parseParams(idParams, req).id));
    }),
  );
  v1.delete(
    '/timers/:id',
    requireRole('admin', 'ops', 'journey'),
    route(async (req, res) => {
      res.json(await timers.cancel(authOf(res).orgId, parseParams(idParams, req).id));
    }),
  );
  v1.get(
    '/audit',
    requireRole('admin', 'auditor'),
    route(async (req, res) => {
      res.json(await audit.list(authOf(res).orgId, parseQuery(ListAuditQuery, req)));
    }),
  );
  v1.get(
    '/audit/verify',
    requireRole('admin', 'auditor'),
    route(async (_req, res) => {
      res.json(await ctx.audit.verify(authOf(res).orgId));
    }),
  );
  v1.get(
    '/org/twilio-credentials',
    requireRole('admin'),
    route(async (_req, res) => {
      res.json(await getTwilioCredentials(ctx, opts.secretKey, authOf(res).orgId));
    }),
  );
  v1.put(
    '/org/twilio-credentials',
    requireRole('admin'),
    route(async (req, res) => {
      res.json(await setTwilioCredentials(ctx, opts.secretKey, authOf(res).orgId, parseBody(TwilioCredentialsBody, req)));
    }),
  );
  v1.delete(
    '/org/twilio-credentials',
    requireRole('admin'),
    route(async (_req, res) => {
      res.json(await clearTwilioCredentials(ctx, authOf(res).orgId));
    }),
  );
  app.use('/v1', v1);

  app.use(notFoundRoute);
  app.use(errorHandler(log));
  return app;
}
