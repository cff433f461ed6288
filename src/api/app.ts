/**
 * The Express 5 application: health, the provider webhooks, and the authenticated /v1 API.
 * Routes are thin: validate (zod), call a use case, answer. Errors flow to `errorHandler`, the
 * one place that maps them to HTTP.
 */
import { webhookRoutes } from './routes/webhooks.ts';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import express, { type Express, type Request, type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import type { RedisClient } from '../adapters/queue/connection.ts';
import { validateTwilioSignature } from '../adapters/twilio/client.ts';
import type { Logger } from '../adapters/log.ts';
import type { EngineContext } from '../app/timers/context.ts';
import { StatusCallbacks } from '../app/timers/status-callback.ts';
import { TimerService } from '../app/timers/timer-service.ts';
import { AuditQueries } from '../app/audit-queries.ts';
import { errorHandler, notFoundRoute } from './errors.ts';
import { parseQuery } from './validate.ts';
import { mountRoutes, type RouteSpec } from './route.ts';
import { auditRoutes } from './routes/audit.ts';
import { auditorRoutes } from './routes/auditor.ts';
import { orgRoutes } from './routes/org.ts';
import { timerRoutes } from './routes/timers.ts';
import { suppressionRoutes } from './routes/suppressions.ts';
import { mountInboundWebhooks } from './webhooks/inbound.ts';
import { keyRoutes } from './routes/keys.ts';
import { journeyRoutes } from './routes/journeys.ts';
import { consentRoutes } from './routes/consents.ts';
import { killSwitchRoutes } from './routes/kill-switches.ts';
import { contactRoutes } from './routes/contacts.ts';
import { campaignRoutes } from './routes/campaigns.ts';
import { buildOpenApi, docsRouter } from './openapi.ts';
import { rateLimit } from './rate-limit.ts';
import { loadOrgSettings } from '../app/org-settings.ts';
import { registryHealth, registryWarnings } from '../app/federal-dnc.ts';
import { viaPrisma } from '../adapters/db/sql.ts';
import { consoleRouter } from '../console/router.ts';

export interface AppOptions {
  ctx: EngineContext;
  /** For /readyz. */
  redis: RedisClient;
  log: Logger;
  /** express.json limit, e.g. "100kb". */
  bodyLimit: string;
  /** Base URL the provider calls (validates webhook signatures); default: the request's own URL. */
  publicBaseUrl?: string;
  /** Seals orgs' stored provider credentials (TCPA_SECRET_KEY). */
  secretKey?: Buffer;
  /** Extra routers mounted before the API (the built-in Twilio emulator under /_emulator). */
  mounts?: Array<{ path: string; router: Router }>;
  /** The deployment's QUEUE_PREFIX: namespaces the per-key rate-limit counters in Redis. Default "tcpa". */
  queuePrefix?: string;
  /** GET /metrics: this process's metrics, for a bearer of this token (METRICS_TOKEN; absent: not served). */
  metrics?: { token: string; registry: { text(): Promise<string>; contentType: string } };
}

/** Every API-key route of the service, declared (see route.ts); the OpenAPI document and the authorization test read this list. */
/** The status webhook's query (built once: zod compiles a schema on its first parses, which per request was ~6 % of the API's CPU at dispatch rates). */
const StatusCallbackQuery = z.object({ timerId: z.uuid() }).strict();

export function apiRoutes(opts: Pick<AppOptions, 'ctx' | 'secretKey'>): RouteSpec[] {
  const { ctx } = opts;
  return [...timerRoutes(new TimerService(ctx)), ...auditRoutes(new AuditQueries(ctx), ctx.audit), ...auditorRoutes(ctx), ...orgRoutes(ctx, opts.secretKey), ...suppressionRoutes(ctx), ...keyRoutes(ctx),
    ...journeyRoutes(ctx), ...consentRoutes(ctx), ...killSwitchRoutes(ctx), ...contactRoutes(ctx), ...campaignRoutes(ctx), ...webhookRoutes(ctx, opts.secretKey),
  ];
}

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
      const [db, redis] = await Promise.allSettled([withTimeout(registryHealth(viaPrisma(ctx.prisma), ctx.settings.federalDnc, ctx.clock.now()), 2000), withTimeout(opts.redis.ping(), 2000)]);
      const checks = { postgres: db.status === 'fulfilled' ? 'ok' : 'unreachable', redis: redis.status === 'fulfilled' ? 'ok' : 'unreachable' };
      const ok = checks.postgres === 'ok' && checks.redis === 'ok';
      if (!ok) res.setHeader('Retry-After', '5');
      if (!ok || db.status !== 'fulfilled') {
        res.status(503).json({ error: { code: 'UNAVAILABLE', message: 'a dependency is unreachable', details: checks } });
        return;
      }
      // Ready either way (informational sends go on); a registry that is stale, missing or off is a warning.
      const registry = db.value;
      const warnings = registryWarnings(registry);
      res.json({ ok, checks: { ...checks, federalDnc: registry.status }, federalDnc: registry, ...(warnings.length ? { warnings } : {}) });
    }),
  );

  const metrics = opts.metrics;
  if (metrics) {
    const want = createHash('sha256').update(metrics.token).digest();
    app.get(
      '/metrics',
      route(async (req, res) => {
        const given = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1] ?? '';
        // Compared as digests, in constant time.
        if (!timingSafeEqual(createHash('sha256').update(given).digest(), want)) {
          res.status(401).json({ error: { code: 'UNAUTHENTICATED', message: 'GET /metrics needs the metrics token (METRICS_TOKEN) as a bearer token' } });
          return;
        }
        res.type(metrics.registry.contentType).send(await metrics.registry.text());
      }),
    );
  }

  // Provider status callbacks: form-encoded, authenticated by X-Twilio-Signature (not by API key), applied in batches.
  const statusCallbacks = new StatusCallbacks(ctx);
  app.post(
    '/webhooks/twilio/status',
    express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 1000 }),
    route(async (req, res) => {
      const { timerId } = parseQuery(StatusCallbackQuery, req);
      const base = opts.publicBaseUrl ?? `${req.protocol}://${req.get('host')}`;
      await statusCallbacks.handle({
        timerId,
        params: (req.body ?? {}) as Record<string, unknown>,
        signature: req.get('x-twilio-signature'),
        url: `${base}${req.originalUrl}`,
        validate: validateTwilioSignature,
      });
      res.status(204).end();
    }),
  );
  // Inbound texts (STOP/START) and IVR opt-outs, also signed by Twilio (src/api/webhooks/inbound.ts).
  mountInboundWebhooks(app, { ctx, ...(opts.publicBaseUrl ? { publicBaseUrl: opts.publicBaseUrl } : {}) });

  const routes = apiRoutes(opts);
  app.use(docsRouter(buildOpenApi(routes)));
  const limiter = rateLimit({ redis: opts.redis, prefix: opts.queuePrefix ?? 'tcpa', limitOf: async (orgId) => (await loadOrgSettings(ctx.prisma, orgId, ctx.clock.now())).rateLimitPerMinute, log, now: () => ctx.clock.now() });
  app.use(mountRoutes(routes, { prisma: ctx.prisma, bodyLimit: opts.bodyLimit, afterAuth: [limiter] }));

  // The web console (src/console): pages over these same routes, signed in with an API key.
  app.use('/console', consoleRouter({ prisma: ctx.prisma, routes, redis: opts.redis, queuePrefix: opts.queuePrefix ?? 'tcpa', log, now: () => ctx.clock.now(), ...(opts.secretKey ? { secretKey: opts.secretKey } : {}) }));

  app.use(notFoundRoute);
  app.use(errorHandler(log));
  return app;
}
