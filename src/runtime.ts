/**
 * Composition root: builds the engine's adapters from a validated Config and starts the parts a
 * process runs (API, pump, dispatcher, reconciler — any subset). Entrypoints in workers/ and
 * src/api/main.ts, and src/main.ts (all in one, for the quick start), are thin calls into this.
 */
import { PromMetrics, startMetricsServer } from './adapters/metrics.ts';
import { FileRnd } from './adapters/rnd/file-rnd.ts';
import { HttpRnd } from './adapters/rnd/http-rnd.ts';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { Worker } from 'bullmq';
import type { RedisClient } from './adapters/queue/connection.ts';
import { AuditLog } from './adapters/audit/audit-log.ts';
import { createPrisma, type Db } from './adapters/db/client.ts';
import { migrate } from './adapters/db/migrate.ts';
import { createLogger, type Logger } from './adapters/log.ts';
import { LeaderLoop } from './adapters/queue/leader-loop.ts';
import { leaderKey } from './adapters/queue/keys.ts';
import { RedisSendRate } from './adapters/queue/send-rate.ts';
import { BullCampaignQueue } from './adapters/queue/campaign-queue.ts';
import { CAMPAIGNS_QUEUE } from './adapters/queue/catalog.ts';
import { CampaignService } from './app/campaigns/campaign-service.ts';
import { planChunk } from './app/campaigns/plan-chunk.ts';
import { BullTimerQueue, createCatalogWorker, parkJob, redisConnection, RedisQueueMarker } from './adapters/queue/timer-queue.ts';
import { TwilioSender, type SenderCredentials } from './adapters/twilio/sender.ts';
import { systemClock, type Clock } from './app/ports.ts';
import type { EngineContext } from './app/timers/context.ts';
import { loadCalendars, recordCalendarsAtBoot } from './app/calendar-versions.ts';
import { Dispatcher } from './app/timers/dispatch.ts';
import { Pump } from './app/timers/pump.ts';
import { Reconciler } from './app/timers/reconcile.ts';
import type { Config } from './config.ts';
import { BullWebhookQueue } from './adapters/queue/webhook-queue.ts';
import { WEBHOOKS_QUEUE } from './adapters/queue/catalog.ts';
import { HttpPoster } from './adapters/webhooks/http-poster.ts';
import { WebhookDeliverer } from './app/webhooks.ts';
import { ActionRoutingSender, ActionSender } from './app/webhook-actions.ts';

export interface Runtime {
  config: Config;
  log: Logger;
  prisma: Db;
  /** Fail-fast connection for request paths (producers, readiness). */
  redis: RedisClient;
  queue: BullTimerQueue;
  ctx: EngineContext;
  /** This process's Prometheus registry (served by the API behind METRICS_TOKEN and/or on METRICS_PORT). */
  metrics: PromMetrics;
  /** Closes what `createRuntime` opened. */
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** Sender to use when the config has no Twilio credentials (the built-in emulator). */
  fallbackSender?: SenderCredentials;
  clock?: Clock;
  log?: Logger;
}

export function newWorkerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** Credentials for an in-process emulator: random, valid-looking, never used against real Twilio. */
export function emulatorCredentials(apiBase: string): SenderCredentials {
  return { accountSid: `AC${randomBytes(16).toString('hex')}`, authToken: randomBytes(16).toString('hex'), from: '+15005550006', apiBase };
}

export function createRuntime(config: Config, opts: RuntimeOptions = {}): Runtime {
  const log = opts.log ?? createLogger({ level: config.logLevel, name: 'tcpa' });
  const sender = config.twilio ?? opts.fallbackSender;
  if (!sender) {
    throw new Error('no sender: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM (or TWILIO_MESSAGING_SERVICE_SID); TWILIO_API_BASE points them at an emulator (`tcpa emulator`)');
  }
  const prisma = createPrisma(config.databaseUrl, { maxConnections: config.databasePoolSize });
  const redis = redisConnection(config.redis, 'producer');
  const queue = new BullTimerQueue(redis, config.queuePrefix);
  const campaignQueue = new BullCampaignQueue(redis, config.queuePrefix);
  const metrics = new PromMetrics({
    timersByStatus: async () => (await prisma.$queryRaw<Array<{ status: string; count: number }>>`SELECT status::text AS status, count(*)::int AS count FROM timers GROUP BY status`),
    queueDepths: async () => {
      const out: Array<{ queue: string; state: string; count: number }> = [];
      for (const [name, q] of [['timers', queue.queue], ['campaigns', campaignQueue.queue]] as const) {
        const counts = await q.getJobCounts('waiting', 'delayed', 'active', 'prioritized', 'failed');
        for (const [state, count] of Object.entries(counts)) out.push({ queue: name, state, count });
      }
      return out;
    },
  });
  const ctx: EngineContext = {
    prisma,
    metrics,
    audit: new AuditLog(prisma),
    queue,
    campaignQueue,
    sender: new TwilioSender({ prisma, defaultSender: sender, timeoutMs: config.twilioTimeoutMs, ...(config.secretKey ? { secretKey: config.secretKey } : {}) }),
    // On the fail-fast connection: the dispatcher reserves while holding a contact's lock; Redis down → the job retries.
    sendRate: new RedisSendRate(redis, config.queuePrefix),
    calendars: (() => {
      const set = config.calendarsDir ? loadCalendars(config.calendarsDir) : loadCalendars();
      return () => set;
    })(),
    clock: opts.clock ?? systemClock,
    log,
    settings: {
      horizonMs: config.horizonMs,
      leaseMs: config.leaseMs,
      lostSendGraceMs: config.lostSendGraceMs,
      overdueGraceMs: config.overdueGraceMs,
      publicBaseUrl: config.publicBaseUrl ?? `http://127.0.0.1:${config.port}`,
      journeyTtlMs: config.journeyTtlMs,
      federalDnc: config.federalDnc,
      rndCacheTtlMs: config.rndCacheTtlMs,
    },
    ...(config.rnd ? { reassigned: config.rnd.kind === 'file' ? new FileRnd(config.rnd.path) : new HttpRnd(config.rnd.url, config.rnd.token ? { token: config.rnd.token } : {}) } : {}),
    workerId: newWorkerId(),
  };
  // Timers' actions go to the platform (signed with the org's webhook endpoint secret); the rest to Twilio.
  ctx.sender = new ActionRoutingSender(ctx.sender, new ActionSender(ctx, new HttpPoster(), config.secretKey, config.webhookTimeoutMs));
  recordCalendarsAtBoot(ctx); // calendar_versions: the loaded set, for replays under the version in force
  let closing: Promise<void> | undefined;
  return {
    config,
    log,
    metrics,
    prisma,
    redis,
    queue,
    ctx,
    close: () =>
      (closing ??= (async () => {
        await queue.close().catch(() => undefined);
        await campaignQueue.close().catch(() => undefined);
        await ctx.audit.flushSoon().catch(() => undefined); // staged entries of the last batches into the chain
        redis.disconnect();
        await prisma.disconnect();
      })()),
  };
}

/** Applies pending migrations (creating the database if needed). */
export async function migrateDatabase(config: Config, log: Logger): Promise<void> {
  const { applied } = await migrate(config.databaseUrl, { log: (msg) => log.info({}, `migrate: ${msg}`) });
  if (applied.length) log.info({ applied }, 'migrations applied');
}

export interface Stoppable {
  stop(): Promise<void>;
}

/** `task` timed into the loop-tick histogram. */
function timed(rt: Runtime, loop: string, task: () => Promise<unknown>): () => Promise<void> {
  return async () => {
    const started = performance.now();
    try {
      await task();
    } finally {
      rt.metrics.tick(loop, performance.now() - started);
    }
  };
}

/** This process's metrics on its internal port (METRICS_PORT, bound to METRICS_HOST), or null when none is configured. */
export async function startMetricsEndpoint(rt: Pick<Runtime, 'config' | 'metrics' | 'log'>): Promise<(Stoppable & { url: string }) | null> {
  if (rt.config.metricsPort === undefined) return null;
  const server = await startMetricsServer(rt.metrics, rt.config.metricsHost, rt.config.metricsPort);
  rt.log.info({ url: `${server.url}/metrics` }, 'metrics endpoint up');
  return { url: server.url, stop: () => server.close() };
}

/** The pump as a cluster-wide singleton loop. */
export function startPump(rt: Runtime): Stoppable {
  const pump = new Pump(rt.ctx);
  const conn = redisConnection(rt.config.redis, 'worker');
  const loop = new LeaderLoop({ redis: conn, key: leaderKey(rt.config.queuePrefix, 'pump'), intervalMs: rt.config.pumpIntervalMs, task: timed(rt, 'pump', () => pump.tick()), log: rt.log, name: 'pump' });
  loop.start();
  return { stop: async () => { await loop.stop(); conn.disconnect(); } };
}

/** The reconciler as a cluster-wide singleton loop. */
export function startReconciler(rt: Runtime): Stoppable {
  const conn = redisConnection(rt.config.redis, 'worker');
  const reconciler = new Reconciler(rt.ctx, new RedisQueueMarker(conn, rt.config.queuePrefix));
  const loop = new LeaderLoop({ redis: conn, key: leaderKey(rt.config.queuePrefix, 'reconciler'), intervalMs: rt.config.reconcileIntervalMs, task: timed(rt, 'reconciler', () => reconciler.tick()), log: rt.log, name: 'reconciler' });
  loop.start();
  return { stop: async () => { await loop.stop(); conn.disconnect(); } };
}

/** A dispatcher: any number may run, on any number of machines. */
export function startDispatcher(rt: Runtime, concurrency = rt.config.dispatchConcurrency): Stoppable & { worker: Worker } {
  const dispatcher = new Dispatcher(rt.ctx, { batchSize: rt.config.dispatchBatch });
  const conn = redisConnection(rt.config.redis, 'worker');
  const worker = createCatalogWorker(
    {
      'timer.fire': (p, job) =>
        dispatcher.fire(p.timerId, p.sendAt, {
          attempt: job.attempt,
          maxAttempts: job.maxAttempts,
          ...(p.rate ? { rate: p.rate } : {}),
          // A send waiting for its send-rate slot: the job is parked until then, with the slot in its data.
          park: (rate, delayMs) => parkJob('timer.fire', job, { ...p, rate }, delayMs),
        }),
    },
    { connection: conn, prefix: rt.config.queuePrefix, concurrency, lockDurationMs: rt.config.jobLockMs },
  );
  worker.on('failed', (job, err) => rt.log.warn({ jobId: job?.id, attempt: job?.attemptsMade, err: err.message }, 'timer job failed'));
  void worker.run().catch((err: Error) => rt.log.error({ err: err.message }, 'dispatcher stopped'));
  return {
    worker,
    // close() lets active jobs finish (each ends with its timer sent, retried or released).
    stop: async () => { await worker.close(); conn.disconnect(); },
  };
}

/**
 * Outbound events: the webhook loop (one process at a time, a Redis lease) turns new audit
 * entries into deliveries and adds a job per endpoint with deliveries due; the webhook workers
 * (any number, WEBHOOK_CONCURRENCY endpoints each) deliver them. Without TCPA_SECRET_KEY there
 * are no endpoints (their secrets cannot be kept), so nothing starts.
 */
export function startWebhooks(rt: Runtime, concurrency = rt.config.webhookConcurrency): Stoppable & { deliverer: WebhookDeliverer | null } {
  if (!rt.config.secretKey) {
    rt.log.info({}, 'webhooks off: no TCPA_SECRET_KEY to keep signing secrets with');
    return { deliverer: null, stop: async () => {} };
  }
  const deliverer = new WebhookDeliverer(rt.ctx, new HttpPoster(), rt.config.secretKey, { timeoutMs: rt.config.webhookTimeoutMs });
  const producer = redisConnection(rt.config.redis, 'worker');
  const queue = new BullWebhookQueue(producer, rt.config.queuePrefix);
  const loop = new LeaderLoop({
    redis: producer,
    key: leaderKey(rt.config.queuePrefix, 'webhooks'),
    intervalMs: rt.config.webhookIntervalMs,
    task: timed(rt, 'webhooks', async () => {
      await deliverer.fanOut();
      await queue.enqueue(await deliverer.dueEndpoints());
    }),
    log: rt.log,
    name: 'webhooks',
  });
  loop.start();
  const conn = redisConnection(rt.config.redis, 'worker');
  const worker = createCatalogWorker({ 'webhook.deliver': (p) => deliverer.deliverEndpoint(p.endpointId) }, { queue: WEBHOOKS_QUEUE, connection: conn, prefix: rt.config.queuePrefix, concurrency, lockDurationMs: rt.config.jobLockMs, maxStalledCount: 10 });
  worker.on('failed', (job, err) => rt.log.warn({ jobId: job?.id, attempt: job?.attemptsMade, err: err.message }, 'webhook job failed'));
  void worker.run().catch((err: Error) => rt.log.error({ err: err.message }, 'webhook worker stopped'));
  return {
    deliverer,
    stop: async () => {
      await loop.stop();
      await worker.close();
      await queue.close().catch(() => undefined);
      conn.disconnect();
      producer.disconnect();
    },
  };
}

/** How often the planners look for chunks whose job Redis lost (one planner at a time, a Redis lease). */
const CAMPAIGN_SWEEP_MS = 30_000;

/**
 * A campaign planner: any number may run; chunks are planned in parallel across them (each chunk
 * in one transaction, idempotent: src/app/campaigns/plan-chunk.ts). A chunk whose job runs out of
 * attempts fails its campaign. One of them at a time also re-adds the jobs of chunks that Redis lost.
 */
export function startCampaignPlanner(rt: Runtime, concurrency = rt.config.planConcurrency): Stoppable & { worker: Worker } {
  const campaigns = new CampaignService(rt.ctx);
  const conn = redisConnection(rt.config.redis, 'worker');
  const worker = createCatalogWorker(
    { 'campaign.plan_chunk': async (p) => { const started = performance.now(); try { return await planChunk(rt.ctx, p.campaignId, p.seq); } finally { rt.metrics.tick('plan-chunk', performance.now() - started); } } },
    // A planner killed mid-chunk leaves its job stalled; planning again is safe, so allow it more than once.
    { queue: CAMPAIGNS_QUEUE, connection: conn, prefix: rt.config.queuePrefix, concurrency, lockDurationMs: rt.config.jobLockMs, maxStalledCount: 10 },
  );
  worker.on('failed', (job, err) => {
    rt.log.warn({ jobId: job?.id, attempt: job?.attemptsMade, err: err.message }, 'campaign chunk job failed');
    const campaignId = (job?.data as { campaignId?: string } | undefined)?.campaignId;
    if (job && campaignId && job.attemptsMade >= (job.opts.attempts ?? 1)) {
      void campaigns.markFailed(campaignId, err.message).catch((e: Error) => rt.log.error({ campaignId, err: e.message }, 'could not mark the campaign failed'));
    }
  });
  void worker.run().catch((err: Error) => rt.log.error({ err: err.message }, 'planner stopped'));
  const sweepConn = redisConnection(rt.config.redis, 'worker');
  const sweep = new LeaderLoop({ redis: sweepConn, key: leaderKey(rt.config.queuePrefix, 'campaign-sweep'), intervalMs: CAMPAIGN_SWEEP_MS, task: timed(rt, 'campaign-sweep', () => campaigns.sweep()), log: rt.log, name: 'campaign-sweep' });
  sweep.start();
  return {
    worker,
    stop: async () => {
      await sweep.stop();
      await worker.close();
      conn.disconnect();
      sweepConn.disconnect();
    },
  };
}

export interface ShutdownHandle {
  parts: Stoppable[];
  server?: Server;
  rt: Runtime;
}

/** Graceful shutdown on SIGTERM/SIGINT: stop taking work, finish in-flight jobs, close connections. */
export function onSignals(h: ShutdownHandle, exit: (code: number) => void = (c) => process.exit(c)): void {
  let done = false;
  const shutdown = async (signal: string) => {
    if (done) return;
    done = true;
    h.rt.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => exit(1), 30_000);
    force.unref();
    try {
      if (h.server) {
        await new Promise<void>((resolve) => {
          h.server!.close(() => resolve());
          h.server!.closeIdleConnections();
        });
      }
      await Promise.all(h.parts.map((p) => p.stop()));
      await h.rt.close();
      exit(0);
    } catch (err) {
      h.rt.log.error({ err: (err as Error).message }, 'shutdown failed');
      exit(1);
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
