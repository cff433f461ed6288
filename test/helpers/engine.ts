/**
 * A whole engine for one test file, on the machine's real Redis and Postgres: a fresh database,
 * a queue prefix of its own, the Twilio emulator on a free port, the API on a free port (so the
 * emulator's signed status callbacks reach it), and the pump, a dispatcher and the reconciler in
 * process. The engine's clock is the real one plus a settable offset, so a test can stand "just
 * before 21:00 in New York" while BullMQ's delays still run in real time.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { createApiKey } from '../../src/adapters/auth/api-keys.ts';
import { createLogger } from '../../src/adapters/log.ts';
import { startEmulator, type RunningEmulator, type StartEmulatorOptions } from '../../src/adapters/twilio/emulator-main.ts';
import { createApp } from '../../src/api/app.ts';
import { answerClientErrors } from '../../src/api/errors.ts';
import { loadConfig } from '../../src/config.ts';
import { createRuntime, startCampaignPlanner, startDispatcher, startPump, startReconciler, startWebhooks, type Runtime, type Stoppable } from '../../src/runtime.ts';
import { freshDatabase } from './db.ts';

export const REDIS_URL = process.env['TEST_REDIS_URL'] || 'redis://127.0.0.1:6379';

export type Part = 'pump' | 'dispatcher' | 'reconciler' | 'planner' | 'webhooks';

export interface EngineOptions {
  /** Extra environment for loadConfig (e.g. HORIZON, LEASE). TCPA_SECRET_KEY is a fresh random key unless given. */
  env?: Record<string, string>;
  /** Which background parts run in process. Default pump, dispatcher and reconciler (add 'planner' for campaigns). */
  parts?: Part[];
  emulator?: Omit<StartEmulatorOptions, 'port'>;
  /** Initial clock offset (ms) added to the real clock. */
  clockOffsetMs?: number;
  /** The test org's API rate limit per key (org setting rateLimitPerMinute). Default 1,000,000. */
  rateLimitPerMinute?: number;
  /** The test org's outbound send rate (org setting sendRate). Default far above any test's pace; smoothing.test.ts lowers it. */
  sendRate?: { perSecond: number; perSenderPerSecond: number };
  /** Database URL to use instead of a fresh one (the Postgres-outage test routes it through a proxy). */
  databaseUrl?: (freshUrl: string) => Promise<string> | string;
  redisUrl?: string;
}

export interface ApiAnswer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers of many shapes, asserted by each test
  body: any;
  headers: Headers;
}

export interface TestEngine {
  url: string;
  rt: Runtime;
  emulator: RunningEmulator;
  env: Record<string, string>;
  orgId: string;
  key: string;
  prefix: string;
  clock: { offset: number; now(): number };
  /** fetch against the API with the admin key. */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiAnswer>;
  start(part: Part): Stoppable;
  stop(): Promise<void>;
}

export const ACCOUNT_SID = `AC${'0'.repeat(24)}${randomBytes(4).toString('hex')}`;
export const AUTH_TOKEN = randomBytes(16).toString('hex');

export async function startEngine(opts: EngineOptions = {}): Promise<TestEngine> {
  const db = await freshDatabase();
  const prefix = `t${randomBytes(5).toString('hex')}`;
  const clock = { offset: opts.clockOffsetMs ?? 0, now: () => Date.now() + clock.offset };
  // The provider's dates on the engine's clock, as they are in production (one real clock): the reconciler compares them.
  const emulator = await startEmulator({ port: 0, logger: false, callbackDelayMs: 20, now: () => clock.now(), ...opts.emulator, accounts: { [ACCOUNT_SID]: AUTH_TOKEN, ...opts.emulator?.accounts } });
  const server: Server = createServer();
  answerClientErrors(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const databaseUrl = opts.databaseUrl ? await opts.databaseUrl(db.url) : db.url;
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: opts.redisUrl ?? REDIS_URL,
    QUEUE_PREFIX: prefix,
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    TWILIO_FROM: '+15005550006',
    TWILIO_API_BASE: emulator.url,
    PUBLIC_BASE_URL: url,
    PUMP_INTERVAL: '200ms',
    RECONCILE_INTERVAL: '500ms',
    LOG_LEVEL: 'silent',
    TCPA_SECRET_KEY: randomBytes(32).toString('base64'),
    // The registry is off unless a test imports one (test/integration/federal-dnc.test.ts): with
    // no copy imported, every marketing send would be refused (DNC_DATA_STALE).
    FEDERAL_DNC: 'off',
    ...opts.env,
  };
  const config = loadConfig(env);
  const log = createLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent', name: 'test-engine' });
  const rt = createRuntime(config, { clock, log });
  server.on('request', createApp({ ctx: rt.ctx, redis: rt.redis, log, bodyLimit: config.bodyLimit, queuePrefix: prefix, publicBaseUrl: url, ...(config.secretKey ? { secretKey: config.secretKey } : {}), ...(config.metricsToken ? { metrics: { token: config.metricsToken, registry: rt.metrics } } : {}) }));
  const { orgId, key } = await createApiKey(rt.prisma, { orgName: `org-${prefix}`, role: 'admin' });
  // Tests poll the API with this one key: a per-key rate limit far above any test's pace (rate-limit.test.ts lowers it).
  await rt.prisma.org.update({
    where: { id: orgId },
    data: { settings: { rateLimitPerMinute: opts.rateLimitPerMinute ?? 1_000_000, sendRate: opts.sendRate ?? { perSecond: 10_000, perSenderPerSecond: 10_000 } } },
  });

  const running: Stoppable[] = [];
  const start = (part: Part): Stoppable => {
    const s = part === 'pump' ? startPump(rt) : part === 'dispatcher' ? startDispatcher(rt) : part === 'planner' ? startCampaignPlanner(rt) : part === 'webhooks' ? startWebhooks(rt) : startReconciler(rt);
    running.push(s);
    return s;
  };
  for (const p of opts.parts ?? ['pump', 'dispatcher', 'reconciler']) start(p);

  return {
    url,
    rt,
    emulator,
    env,
    orgId,
    key,
    prefix,
    clock,
    async api(method, path, body, headers = {}) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
    },
    start,
    async stop() {
      await Promise.all(running.map((s) => s.stop().catch(() => undefined)));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await emulator.close();
      await dropQueueKeys(opts.redisUrl ?? REDIS_URL, prefix);
      await rt.close();
      await db.drop();
    },
  };
}

/** Deletes every Redis key of a test's queue prefix. */
export async function dropQueueKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => {});
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } catch {
    // The Redis may be gone (a test's private instance): nothing to clean.
  } finally {
    redis.disconnect();
  }
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function until<T>(fn: () => Promise<T> | T, timeoutMs = 15_000, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last as NonNullable<T>;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`condition not met within ${timeoutMs} ms (last value: ${JSON.stringify(last)})`);
}

/** A port free right now (bind to 0, read it, close). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', resolve);
  });
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Offset that makes the engine's clock read `iso` now. */
export function offsetTo(iso: string): number {
  return Date.parse(iso) - Date.now();
}

export function smsBody(over: Record<string, unknown> = {}): Record<string, unknown> {
  // Informational (an appointment reminder): marketing needs consent on record, tested apart.
  return { contact: { phone: '+12125550123', zip: '10001' }, channel: 'sms', policy: 'next_slot', purpose: 'informational', message: { body: 'Your appointment is tomorrow' }, ...over };
}
