/**
 * Process configuration: read from the environment once, at boot, and validated with zod, so a
 * typo fails the start with a clear message instead of surfacing later. Every value has a sane
 * default for local use except the secrets, which have none (no hard-coded fallback key).
 *
 * Nothing else in the code base reads `process.env` for configuration: entrypoints call
 * `loadConfig()` and pass the result (or the parts a component needs) down.
 */
import { z } from 'zod';

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "15m", "30s", "500ms", "2h", "30d" or a plain number of milliseconds. */
const Duration = z
  .union([z.number().int().nonnegative(), z.string().trim()])
  .transform((v, ctx) => {
    if (typeof v === 'number') return v;
    if (/^\d+$/.test(v)) return Number(v);
    const m = DURATION.exec(v);
    if (!m) {
      ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration like 500ms, 30s, 15m, 2h or 30d` });
      return z.NEVER;
    }
    return Number(m[1]) * UNIT_MS[m[2]!]!;
  });

const Url = (protocols: readonly string[]) =>
  z
    .string()
    .trim()
    .refine((v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    }, `must be a ${protocols.join(' or ')} URL`);

const emptyToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const opt = <T extends z.ZodType>(schema: T) => z.preprocess(emptyToUndefined, schema.optional());

export interface RedisNode {
  host: string;
  port: number;
}

/** Where Redis is (src/adapters/queue/connection.ts connects to it). */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'cluster'; nodes: RedisNode[]; auth: RedisAuth }
  | { kind: 'sentinel'; sentinels: RedisNode[]; name: string; auth: RedisAuth };

/** Credentials, database and TLS for the data nodes of a cluster or a sentinel's master: REDIS_URL's userinfo, path and scheme. */
export interface RedisAuth {
  username?: string;
  password?: string;
  /** Sentinel only (a cluster has database 0 alone). */
  db?: number;
  tls: boolean;
}

/** The auth part of a redis:// or rediss:// URL. */
export function authOfUrl(url: string): RedisAuth {
  const u = new URL(url);
  const db = Number(u.pathname.replace(/^\//, '') || '0');
  return {
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
    tls: u.protocol === 'rediss:',
  };
}

/** `host:port` (a hostname, IPv4 or a bracketed IPv6 address), comma-separated: `10.0.0.1:7000,10.0.0.2:7000`. */
const NodeList = z
  .string()
  .trim()
  .transform((v, ctx) => {
    const nodes: RedisNode[] = [];
    for (const part of v.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
      const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(part);
      const port = m ? Number(m[2]) : 0;
      if (!m || port < 1 || port > 65535) {
        ctx.addIssue({ code: 'custom', message: `"${part}" is not host:port` });
        return z.NEVER;
      }
      nodes.push({ host: m[1]!.replace(/^\[|\]$/g, ''), port });
    }
    if (nodes.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'at least one host:port' });
      return z.NEVER;
    }
    return nodes;
  });

/** 32 bytes, given as 64 hex characters or base64 (44 characters). */
const SecretKey = z
  .string()
  .trim()
  .transform((v, ctx) => {
    const bytes = /^[0-9a-fA-F]{64}$/.test(v) ? Buffer.from(v, 'hex') : Buffer.from(v, 'base64');
    if (bytes.length !== 32) {
      ctx.addIssue({ code: 'custom', message: 'must be 32 random bytes as 64 hex characters or base64 (openssl rand -base64 32)' });
      return z.NEVER;
    }
    return bytes;
  });

/** pg pool size per process (Prisma and the raw-SQL hot paths share it). */
export const DEFAULT_DATABASE_POOL_SIZE = 10;
/**
 * Timer jobs a dispatcher runs at once. High on purpose: the jobs running together are judged in
 * batches (DISPATCH_BATCH per transaction), and most of a job's life is its provider request.
 */
export const DEFAULT_DISPATCH_CONCURRENCY = 200;
/** Most timers a dispatcher judges and claims in one transaction. */
export const DEFAULT_DISPATCH_BATCH = 200;

export const EnvSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    HOST: z.string().default('0.0.0.0'),
    REDIS_URL: Url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
    /** Redis Cluster: some of its masters (the rest are discovered). REDIS_URL then gives only credentials and TLS. */
    REDIS_CLUSTER_NODES: opt(NodeList),
    /** Redis Sentinel: the sentinels, and the name of the master they watch. REDIS_URL then gives only credentials, database and TLS. */
    REDIS_SENTINELS: opt(NodeList),
    REDIS_SENTINEL_NAME: opt(z.string().trim().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'letters, digits, _ . - only')),
    DATABASE_URL: Url(['postgres:', 'postgresql:']).default('postgresql://postgres@127.0.0.1:5432/tcpa'),
    DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(DEFAULT_DATABASE_POOL_SIZE),
    QUEUE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only')
      .default('tcpa'),
    TCPA_SECRET_KEY: opt(SecretKey),
    TWILIO_ACCOUNT_SID: opt(z.string().regex(/^AC[0-9a-zA-Z]{32}$/, 'must look like AC followed by 32 characters')),
    TWILIO_AUTH_TOKEN: opt(z.string().min(8)),
    TWILIO_FROM: opt(z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 number')),
    TWILIO_MESSAGING_SERVICE_SID: opt(z.string().regex(/^MG[0-9a-zA-Z]{32}$/)),
    TWILIO_API_BASE: opt(Url(['http:', 'https:'])),
    PUBLIC_BASE_URL: opt(Url(['http:', 'https:'])),
    CALENDARS_DIR: opt(z.string()),
    /** Timers due within this horizon are held in Redis; later ones wait in Postgres. */
    HORIZON: Duration.default(15 * 60_000),
    PUMP_INTERVAL: Duration.default(5_000),
    RECONCILE_INTERVAL: Duration.default(15_000),
    /** How long a dispatcher may hold a claimed timer before it is presumed dead. */
    LEASE: Duration.default(60_000),
    /** BullMQ lock of an active job; a dispatcher that died holding jobs gives them back after this. */
    JOB_LOCK: Duration.default(30_000),
    /** A queued timer this late with no live job is re-enqueued by the reconciler. */
    OVERDUE_GRACE: Duration.default(30_000),
    /** After a lost send's lease ended, how long the provider may take to list it before its absence is concluded (and the timer requeued). */
    LOST_SEND_GRACE: Duration.default(120_000),
    DISPATCH_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(DEFAULT_DISPATCH_CONCURRENCY),
    DISPATCH_BATCH: z.coerce.number().int().min(1).max(1000).default(DEFAULT_DISPATCH_BATCH),
    /** Campaign chunks a planner process plans at once. */
    PLAN_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
    JOURNEY_TTL: Duration.default(30 * 86_400_000),
    /**
     * The National Do-Not-Call Registry: `enforce` (marketing is refused to listed numbers, and
     * stops when the copy covering a number is older than 31 days or missing) or `off` (for a
     * deployment that sends informational messages only; /readyz reports it).
     */
    FEDERAL_DNC: z.enum(['enforce', 'off']).default('enforce'),
    /**
     * The FCC Reassigned Numbers Database, asked at fire time for sends relying on a consent:
     * `file:<path>` (a local file of disconnects) or an http(s) URL (a gateway answering the RND
     * queries, src/adapters/rnd/http-rnd.ts). Unset: not asked.
     */
    RND_SOURCE: opt(
      z
        .string()
        .trim()
        .refine((v) => /^file:.+/.test(v) || /^https?:\/\/.+/.test(v), 'must be file:<path> or an http(s) URL'),
    ),
    RND_TOKEN: opt(z.string().min(8)),
    /** How long an RND answer is reused before the number is asked about again. */
    RND_CACHE_TTL: Duration.default(86_400_000),
    /** How long a webhook endpoint (an event or a timer's action) has to answer before the attempt counts as failed. */
    WEBHOOK_TIMEOUT: Duration.default(10_000),
    TWILIO_TIMEOUT: Duration.default(15_000),
    /** How often the webhook loop turns new audit entries into deliveries and hands due endpoints to the webhook workers. */
    WEBHOOK_INTERVAL: Duration.default(500),
    /** Endpoints a webhook worker process delivers to at once (each job is one endpoint's due events). */
    WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
    /** Bearer token for GET /metrics on the API's port (unset: not served there). */
    METRICS_TOKEN: opt(z.string().min(16, 'at least 16 characters')),
    /** An internal port on which this process serves GET /metrics without a token (unset: none; 0: any free port). */
    METRICS_PORT: opt(z.coerce.number().int().min(0).max(65535)),
    METRICS_HOST: z.string().default('127.0.0.1'),
    BODY_LIMIT: z.string().regex(/^\d+(b|kb|mb)$/i).default('100kb'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  });

/** Settings that only make sense together (checked on the raw values, so they are reported with every other problem). */
function pairProblems(env: Record<string, string | undefined>): string[] {
  const has = (k: string) => (env[k] ?? '').trim() !== '';
  const out: string[] = [];
  if (has('TWILIO_ACCOUNT_SID') !== has('TWILIO_AUTH_TOKEN')) out.push('TWILIO_AUTH_TOKEN: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN go together');
  if (has('TWILIO_ACCOUNT_SID') && !has('TWILIO_FROM') && !has('TWILIO_MESSAGING_SERVICE_SID')) {
    out.push('TWILIO_FROM: set TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID with the Twilio credentials');
  }
  if (has('REDIS_CLUSTER_NODES') && has('REDIS_SENTINELS')) out.push('REDIS_SENTINELS: set REDIS_CLUSTER_NODES or REDIS_SENTINELS, not both');
  if (has('REDIS_SENTINELS') !== has('REDIS_SENTINEL_NAME')) out.push('REDIS_SENTINEL_NAME: REDIS_SENTINELS and REDIS_SENTINEL_NAME go together');
  return out;
}

export type Env = z.infer<typeof EnvSchema>;

/** The default sender: either real credentials or, when none are configured, the built-in emulator. */
export interface SenderConfig {
  accountSid: string;
  authToken: string;
  from?: string;
  messagingServiceSid?: string;
  /** Absent → api.twilio.com. */
  apiBase?: string;
}

export interface Config {
  env: Env['NODE_ENV'];
  port: number;
  host: string;
  redisUrl: string;
  /** Where Redis is: REDIS_URL alone, or a cluster (REDIS_CLUSTER_NODES) or a sentinel-watched master (REDIS_SENTINELS). */
  redis: RedisTarget;
  databaseUrl: string;
  databasePoolSize: number;
  queuePrefix: string;
  secretKey: Buffer | undefined;
  /** Configured Twilio credentials, or undefined (then `npm start` mounts the emulator). */
  twilio: SenderConfig | undefined;
  publicBaseUrl: string | undefined;
  calendarsDir: string | undefined;
  horizonMs: number;
  pumpIntervalMs: number;
  reconcileIntervalMs: number;
  leaseMs: number;
  lostSendGraceMs: number;
  jobLockMs: number;
  overdueGraceMs: number;
  dispatchConcurrency: number;
  /** Most timers judged and claimed in one transaction. */
  dispatchBatch: number;
  planConcurrency: number;
  journeyTtlMs: number;
  federalDnc: 'enforce' | 'off';
  /** The Reassigned Numbers Database: a file or a URL (and its token); undefined: not asked. */
  rnd: { kind: 'file'; path: string } | { kind: 'http'; url: string; token?: string } | undefined;
  rndCacheTtlMs: number;
  webhookTimeoutMs: number;
  /** How long a provider request may go unanswered; a send with no answer becomes `unknown`, never resent blindly. */
  twilioTimeoutMs: number;
  webhookIntervalMs: number;
  webhookConcurrency: number;
  metricsToken: string | undefined;
  metricsPort: number | undefined;
  metricsHost: string;
  bodyLimit: string;
  logLevel: Env['LOG_LEVEL'];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Validates `env` (default: process.env). Throws ConfigError listing every problem; never echoes a secret's value. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  const problems = [...(parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`)), ...pairProblems(env)];
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    redisUrl: e.REDIS_URL,
    redis: e.REDIS_CLUSTER_NODES
      ? { kind: 'cluster', nodes: e.REDIS_CLUSTER_NODES, auth: authOfUrl(e.REDIS_URL) }
      : e.REDIS_SENTINELS && e.REDIS_SENTINEL_NAME
        ? { kind: 'sentinel', sentinels: e.REDIS_SENTINELS, name: e.REDIS_SENTINEL_NAME, auth: authOfUrl(e.REDIS_URL) }
        : { kind: 'single', url: e.REDIS_URL },
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    queuePrefix: e.QUEUE_PREFIX,
    secretKey: e.TCPA_SECRET_KEY,
    twilio:
      e.TWILIO_ACCOUNT_SID && e.TWILIO_AUTH_TOKEN
        ? {
            accountSid: e.TWILIO_ACCOUNT_SID,
            authToken: e.TWILIO_AUTH_TOKEN,
            ...(e.TWILIO_FROM ? { from: e.TWILIO_FROM } : {}),
            ...(e.TWILIO_MESSAGING_SERVICE_SID ? { messagingServiceSid: e.TWILIO_MESSAGING_SERVICE_SID } : {}),
            ...(e.TWILIO_API_BASE ? { apiBase: e.TWILIO_API_BASE } : {}),
          }
        : undefined,
    publicBaseUrl: e.PUBLIC_BASE_URL?.replace(/\/+$/, ''),
    calendarsDir: e.CALENDARS_DIR,
    horizonMs: e.HORIZON,
    pumpIntervalMs: e.PUMP_INTERVAL,
    reconcileIntervalMs: e.RECONCILE_INTERVAL,
    leaseMs: e.LEASE,
    lostSendGraceMs: e.LOST_SEND_GRACE,
    jobLockMs: e.JOB_LOCK,
    overdueGraceMs: e.OVERDUE_GRACE,
    dispatchConcurrency: e.DISPATCH_CONCURRENCY,
    dispatchBatch: e.DISPATCH_BATCH,
    planConcurrency: e.PLAN_CONCURRENCY,
    journeyTtlMs: e.JOURNEY_TTL,
    federalDnc: e.FEDERAL_DNC,
    rnd: e.RND_SOURCE
      ? e.RND_SOURCE.startsWith('file:')
        ? { kind: 'file', path: e.RND_SOURCE.slice('file:'.length) }
        : { kind: 'http', url: e.RND_SOURCE, ...(e.RND_TOKEN ? { token: e.RND_TOKEN } : {}) }
      : undefined,
    rndCacheTtlMs: e.RND_CACHE_TTL,
    webhookTimeoutMs: e.WEBHOOK_TIMEOUT,
    twilioTimeoutMs: e.TWILIO_TIMEOUT,
    webhookIntervalMs: e.WEBHOOK_INTERVAL,
    webhookConcurrency: e.WEBHOOK_CONCURRENCY,
    metricsToken: e.METRICS_TOKEN,
    metricsPort: e.METRICS_PORT,
    metricsHost: e.METRICS_HOST,
    bodyLimit: e.BODY_LIMIT,
    logLevel: e.LOG_LEVEL,
  };
}
