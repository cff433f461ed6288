/**
 * `npm run bench:engine [-- --quick]`: the engine's moving parts under load, each figure beside a
 * baseline measured in the same run. Not a test: it prints a table and one JSON line.
 *
 * (a) Dispatch: N SMS timers (20,000; 2,000 with --quick) for N distinct contacts, all due at the
 *     same instant a few seconds ahead, fired by the engine (pump → BullMQ → dispatcher → Twilio
 *     emulator, whose status callbacks come back through the API, as in production). Reported:
 *     timers/s from first send to last, lateness of sentAt − sendAt, plus where the time went.
 *     Baseline: raw BullMQ, N no-op delayed jobs due at one instant, one Worker of the same
 *     concurrency, on the same Redis.
 * (b) Redis memory: M timers (1,000,000; 100,000 with --quick) spread uniformly over the next 30
 *     days, inserted into Postgres as `scheduled`, then a few pump ticks: only those inside the
 *     horizon reach Redis. Baseline: the same M timers added straight to BullMQ as delayed jobs.
 *
 * Everything runs against a private redis-server started here (clean used_memory figures, no
 * interference with other users of the shared Redis) and fresh Postgres databases made by
 * test/helpers/db.ts; all are removed at the end.
 *
 * How the timers get into Postgres (the API at one request per timer is not what is measured):
 * one template timer per engine is created through POST /v1/timers (so its contact, payload and
 * decision JSON are exactly what TimerService.create writes); the other rows are copied from it
 * in bulk with SQL (contacts with their own phone, hash and resolved location; timers with
 * status `scheduled`, the template's payload/decision, and their own send_at). Bulk-copied
 * timers have no `timer.created` audit entry; everything after that (claim, sent, callbacks) is
 * the engine's own path.
 *
 * Options: --quick; --concurrency=50,100 (one dispatch round per value); --pool=N
 * (DATABASE_POOL_SIZE, default the config's); --dispatchers=N (in-process dispatcher instances,
 * default 1); --no-sink-round (skip the diagnostic round whose status callbacks go to a no-op
 * sink instead of the API); --callback-delay=MS (emulator, default 10); --skip-dispatch;
 * --skip-memory.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createApiKey } from '../src/adapters/auth/api-keys.ts';
import { JOB_CATALOG, TIMERS_QUEUE, timerJobId } from '../src/adapters/queue/catalog.ts';
import { phoneHash } from '../src/app/timers/context.ts';
import { Pump } from '../src/app/timers/pump.ts';
import { formatUtc } from '../src/domain/time.ts';
import { parsePhone, resolveLocation } from '../src/domain/location/resolve.ts';
import { loadConfig } from '../src/config.ts';
import { createRuntime, onSignals, startDispatcher, type Stoppable } from '../src/runtime.ts';
import { offsetTo, smsBody, startEngine, type TestEngine } from '../test/helpers/engine.ts';

// ---- options ------------------------------------------------------------------------------------

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const opt = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const QUICK = flag('quick');
const N_DISPATCH = Number(opt('timers') ?? (QUICK ? 2_000 : 20_000));
const N_MEMORY = Number(opt('memory-timers') ?? (QUICK ? 100_000 : 1_000_000));
const CONCURRENCIES = (opt('concurrency') ?? '50,100').split(',').map(Number);
const POOL = opt('pool');
const DISPATCHERS = Number(opt('dispatchers') ?? 1);
/** Extra round(s) with the dispatchers in N child processes (workers/dispatcher.ts), as deployed. 0: none. */
const PROCS = Number(opt('procs') ?? 0);
const SINK_ROUND = !flag('no-sink-round');
const CALLBACK_DELAY_MS = Number(opt('callback-delay') ?? 10);
/** Spread the dispatch timers over this many orgs (diagnostic: the audit chain is per org). */
const ORGS = Number(opt('orgs') ?? 1);
/** How far ahead of "now" the dispatch timers are due (the pump must have queued them all by then). */
const LEAD_MS = Number(opt('lead') ?? (QUICK ? 4_000 : 12_000));
/** Cap on a dispatch round's sending phase; a round that has not sent everything by then reports what it sent. */
const MAX_DISPATCH_MS = 1000 * Number(opt('max-dispatch-s') ?? (QUICK ? 600 : 1_500));
const ENGINE_INSTANT = '2026-12-08T17:00:00Z'; // a Tuesday, 12:00 in New York: inside every NY window
const MEMORY_SPAN_MS = 30 * 86_400_000;
const ADD_CHUNK = 5_000;

const log = (msg: string) => process.stderr.write(`[bench:engine ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Engines running now (stopped — database dropped — on SIGINT too). */
const liveEngines = new Set<TestEngine>();
async function engine(opts: Parameters<typeof startEngine>[0]): Promise<TestEngine & { done(): Promise<void> }> {
  const e = await startEngine(opts);
  liveEngines.add(e);
  return Object.assign(e, { done: () => e.stop().finally(() => liveEngines.delete(e)) });
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

interface Lateness {
  n: number;
  min: number;
  p50: number;
  p99: number;
  max: number;
}
function lateness(values: number[]): Lateness {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, min: s[0] ?? NaN, p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN };
}
const showLate = (l: Lateness) => `p50 ${fmt(l.p50)} / p99 ${fmt(l.p99)} / max ${fmt(l.max)} ms`;

/** Distinct valid NYC numbers: 212, 646, 917, 347, 718, 929 × 555-0000..9999 (libphonenumber-checked). */
function phones(n: number): string[] {
  const out: string[] = [];
  for (const ac of ['212', '646', '917', '347', '718', '929']) {
    for (let i = 0; i < 10_000 && out.length < n; i++) {
      const p = parsePhone(`+1${ac}555${String(i).padStart(4, '0')}`);
      if (!('code' in p)) out.push(p.e164);
    }
  }
  if (out.length < n) throw new Error(`only ${out.length} valid phone numbers for ${n} contacts`);
  return out;
}

// ---- environment: private redis-server, CPU sampling ---------------------------------------------

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface PrivateRedis {
  url: string;
  admin: Redis;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const admin = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
  admin.on('error', () => {});
  await Promise.race([admin.ping(), sleep(10_000).then(() => Promise.reject(new Error('private redis-server did not start')))]);
  let stopped: Promise<void> | undefined;
  return {
    url,
    admin,
    child,
    stop: () =>
      (stopped ??= (async () => {
        admin.disconnect();
        if (child.exitCode === null && child.pid) {
          const exited = new Promise<void>((r) => child.once('exit', () => r()));
          child.kill('SIGTERM');
          await Promise.race([exited, sleep(3_000)]);
          if (child.exitCode === null) child.kill('SIGKILL');
        }
      })()),
  };
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1]);
}

function cpuTimes(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (line[3] ?? 0) + (line[4] ?? 0);
  const total = line.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

function version(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return (r.stdout || r.stderr || '?').trim().split('\n')[0] ?? '?';
}

// ---- bulk data ------------------------------------------------------------------------------------

/** Creates `contactPhones.length` contacts like TimerService.contactFor would (zip 10001). */
async function insertContacts(db: pg.Client, orgId: string, contactPhones: readonly string[]): Promise<void> {
  for (let i = 0; i < contactPhones.length; i += 10_000) {
    const chunk = contactPhones.slice(i, i + 10_000);
    const locs = chunk.map((p) => resolveLocation({ phone: p, zip: '10001' }));
    await db.query(
      `INSERT INTO contacts (id, org_id, phone_e164, phone_hash, zip, state, candidates, location_issues, updated_at)
       SELECT gen_random_uuid(), $1::uuid, x.p, x.h, x.z, x.s, x.c::jsonb, x.i::jsonb, now()
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS x(p, h, z, s, c, i)
       ON CONFLICT (org_id, phone_e164) DO NOTHING`,
      [
        orgId,
        chunk,
        chunk.map(phoneHash),
        locs.map((l) => l.zip ?? null),
        locs.map((l) => l.state ?? null),
        locs.map((l) => JSON.stringify(l.candidates)),
        locs.map((l) => JSON.stringify(l.issues)),
      ],
    );
  }
}

/** A timer created through the API, far enough ahead to stay in Postgres; the template for bulk copies. */
async function templateTimer(e: TestEngine, phone: string, at: number, key = e.key): Promise<{ id: string; contactId: string }> {
  const body = smsBody({ contact: { phone, zip: '10001' }, at: new Date(at).toISOString(), message: { body: 'Your appointment is tomorrow at 10:00. Reply STOP to opt out.' } });
  const res = await e.api('POST', '/v1/timers', body, { authorization: `Bearer ${key}` });
  if (res.status !== 201 || res.body.status !== 'scheduled') throw new Error(`template timer: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.id as string, contactId: res.body.contactId as string };
}

// ---- (a) dispatch ---------------------------------------------------------------------------------

interface DispatchRound {
  label: string;
  concurrency: number;
  dispatchers: number;
  pool: number | undefined;
  /** 'api': callbacks reach the engine's API (the real path); 'sink': a no-op server answers them. */
  callbacks: 'api' | 'sink';
  orgs: number;
  /** > 0: the dispatchers run as this many child processes (workers/dispatcher.ts), `dispatchers` is ignored. */
  procs: number;
}

interface DispatchResult {
  round: DispatchRound;
  n: number;
  sent: number;
  statuses: Record<string, number>;
  outcomes: Record<string, number>;
  failedJobs: number;
  failureMessages: Record<string, number>;
  /** Jobs that ran again under the same id (re-added by the reconciler after the first had completed). */
  reAdded: number;
  /** Distinct messages the emulator created, and create requests it answered from its idempotency record. */
  providerMessages: number;
  providerReplays: number;
  /** Status callbacks by the API's HTTP answer (or the fetch error). */
  callbackAnswers: Record<string, number>;
  pumpMs: number;
  pumpQueuedBeforeDue: boolean;
  ratePerSec: number;
  spanMs: number;
  late: Lateness;
  pickupLate: Lateness;
  /** timestamp + delay − sendAt of each job: how late BullMQ itself was told to run it. */
  enqueueSkew: Lateness;
  deliveredAllAfterMs: number | null;
  elu: number;
  nodeCpuCores: number;
  machineCpuBusy: number;
  pgSamples: Record<string, number>;
  poolSize: number;
}

interface RawResult {
  concurrency: number;
  n: number;
  ratePerSec: number;
  late: Lateness;
}

async function dispatchRound(redis: PrivateRedis, round: DispatchRound, n: number): Promise<DispatchResult> {
  await redis.admin.flushall();
  let sink: Server | undefined;
  let sinkUrl: string | undefined;
  if (round.callbacks === 'sink') {
    sink = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((r) => sink!.listen(0, '127.0.0.1', r));
    sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
  }
  const e = await engine({
    parts: [],
    redisUrl: redis.url,
    clockOffsetMs: offsetTo(ENGINE_INSTANT),
    emulator: { callbackDelayMs: CALLBACK_DELAY_MS },
    env: {
      DISPATCH_CONCURRENCY: String(round.concurrency),
      PUMP_INTERVAL: '5s',
      RECONCILE_INTERVAL: '15s',
      ...(round.pool ? { DATABASE_POOL_SIZE: String(round.pool) } : {}),
      ...(sinkUrl ? { PUBLIC_BASE_URL: sinkUrl } : {}),
    },
  });
  const db = new pg.Client({ connectionString: e.env['DATABASE_URL'] });
  db.on('error', () => {});
  await db.connect();
  const parts: Stoppable[] = [];
  try {
    log(`${round.label}: preparing ${fmt(n)} contacts and timers`);
    const nums = phones(n);
    const far = e.clock.now() + 2 * 86_400_000;
    const tpl = await templateTimer(e, nums[0]!, far);
    const templates = [tpl.id];
    // Contacts round-robin over the orgs; each extra org gets its own key and template timer.
    for (let o = 0; o < round.orgs; o++) {
      let orgId = e.orgId;
      let mine = nums.filter((_, i) => i % round.orgs === o);
      if (o > 0) {
        const created = await createApiKey(e.rt.prisma, { orgName: `org-${e.prefix}-${o}`, role: 'admin' });
        orgId = created.orgId;
        templates.push((await templateTimer(e, mine[0]!, far, created.key)).id);
      }
      mine = mine.slice(1);
      await insertContacts(db, orgId, mine);
    }
    await db.query(
      `INSERT INTO timers (id, org_id, contact_id, channel, purpose, policy, subject, requested_at, send_at, not_after, status, payload, calendar_version, decision, updated_at)
       SELECT gen_random_uuid(), t.org_id, c.id, t.channel, t.purpose, t.policy, t.subject, t.requested_at, t.send_at, t.not_after, 'scheduled', t.payload, t.calendar_version, t.decision, now()
       FROM timers t JOIN contacts c ON c.org_id = t.org_id AND c.id <> t.contact_id
       WHERE t.id = ANY($1::uuid[])`,
      [templates],
    );
    // Dispatchers first (idle until the jobs are due), then the due instant is set.
    // Observers: first pickup of each job id, outcomes, failures.
    let dueReal = 0;
    const firstPickup = new Map<string, { pickup: number; skew: number }>();
    let reAdded = 0;
    const outcomes: Record<string, number> = {};
    const failureMessages: Record<string, number> = {};
    let failedJobs = 0;
    for (let i = 0; i < round.procs; i++) parts.push(await dispatcherProcess(e, round.concurrency));
    for (let i = 0; i < (round.procs > 0 ? 0 : round.dispatchers); i++) {
      const d = startDispatcher(e.rt, round.concurrency);
      parts.push(d);
      d.worker.on('active', (job: Job) => {
        if (job.attemptsMade > 0) return; // a retry of a failed attempt
        if (firstPickup.has(job.id!)) {
          reAdded++;
          return;
        }
        firstPickup.set(job.id!, { pickup: (job.processedOn ?? Date.now()) - dueReal, skew: job.timestamp + (job.opts.delay ?? 0) - dueReal });
      });
      d.worker.on('completed', (_job: Job, result: unknown) => {
        const k = String(result);
        outcomes[k] = (outcomes[k] ?? 0) + 1;
      });
      d.worker.on('failed', (_job: Job | undefined, err: Error) => {
        failedJobs++;
        const k = err.message.replace(/[0-9a-f-]{36}/g, '<id>').slice(0, 120);
        failureMessages[k] = (failureMessages[k] ?? 0) + 1;
      });
    }

    // All due at one instant, LEAD_MS ahead (engine time), with the decision record to match.
    const { rows: tplRows } = await db.query<{ send_at: Date; decision: { windowEnd: string | null } }>('SELECT send_at, decision FROM timers WHERE id = $1::uuid', [tpl.id]);
    const tplSendAt = tplRows[0]!.send_at.getTime();
    const tplWindowEnd = tplRows[0]!.decision.windowEnd ? Date.parse(tplRows[0]!.decision.windowEnd) : null;
    const dueEngine = Math.ceil((e.clock.now() + LEAD_MS) / 1000) * 1000;
    await db.query(
      `UPDATE timers SET requested_at = $1, send_at = $1,
         decision = jsonb_set(jsonb_set(decision, '{sendAt}', to_jsonb($2::text)), '{windowEnd}', coalesce(to_jsonb($3::text), 'null'::jsonb)),
         updated_at = now()`,
      [new Date(dueEngine), formatUtc(dueEngine), tplWindowEnd === null ? null : formatUtc(dueEngine + (tplWindowEnd - tplSendAt))],
    );
    await db.query('ANALYZE timers; ANALYZE contacts');
    const { rows: cnt } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM timers WHERE status = 'scheduled'`);
    if (Number(cnt[0]!.n) !== n) throw new Error(`expected ${n} scheduled timers, found ${cnt[0]!.n}`);
    dueReal = dueEngine - e.clock.offset;

    // The pump's first pass, timed here (the same Pump.tick the leader loop runs), then the loops.
    const pumpT0 = performance.now();
    const queued = await new Pump(e.rt.ctx).tick();
    const pumpMs = performance.now() - pumpT0;
    const pumpQueuedBeforeDue = Date.now() < dueReal;
    log(`${round.label}: pump queued ${fmt(queued)} in ${fmt(pumpMs)} ms (${pumpQueuedBeforeDue ? `${fmt(dueReal - Date.now())} ms before` : 'AFTER'} the due instant)`);
    // Stopped by e.stop() (startEngine keeps the parts it started).
    e.start('pump');
    e.start('reconciler');

    // Samplers during the dispatch window.
    const pgSamples: Record<string, number> = {};
    const sampler = new pg.Client({ connectionString: e.env['DATABASE_URL'] });
    sampler.on('error', () => {});
    await sampler.connect();
    let sampling = true;
    const sampleLoop = (async () => {
      while (sampling) {
        if (Date.now() >= dueReal) {
          const { rows } = await sampler.query<{ state: string | null; wt: string | null; we: string | null }>(
            `SELECT state, wait_event_type AS wt, wait_event AS we FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
          );
          for (const r of rows) {
            const k = r.state === 'active' ? (r.wt ? `active, waiting ${r.wt}:${r.we}` : 'active (running)') : (r.state ?? 'null');
            pgSamples[k] = (pgSamples[k] ?? 0) + 1;
          }
          pgSamples['#samples'] = (pgSamples['#samples'] ?? 0) + 1;
        }
        await sleep(200);
      }
    })();

    await sleep(Math.max(0, dueReal - Date.now()));
    const elu0 = performance.eventLoopUtilization();
    const cpu0 = process.cpuUsage();
    const mach0 = cpuTimes();
    const wall0 = performance.now();
    log(`${round.label}: due instant reached; dispatching (concurrency ${round.concurrency} × ${round.procs > 0 ? `${round.procs} dispatcher process(es)` : `${round.dispatchers} in-process dispatcher(s)`}, pool ${e.rt.config.databasePoolSize})`);

    const deadline = Date.now() + Math.min(MAX_DISPATCH_MS, Math.max(180_000, n * 100));
    let sent = 0;
    let lastReport = Date.now();
    let lastChange = Date.now();
    while (Date.now() < deadline) {
      const { rows } = await db.query<{ sent: string }>('SELECT count(*) AS sent FROM timers WHERE sent_at IS NOT NULL');
      const now = Number(rows[0]!.sent);
      if (now !== sent) lastChange = Date.now();
      sent = now;
      if (sent >= n) break;
      // Long enough for a lease to expire (60 s) and the reconciler to settle the timer from the provider.
      if (Date.now() - lastChange > 120_000) {
        log(`${round.label}: no progress for 120 s at ${fmt(sent)} sent; giving up`);
        break;
      }
      if (Date.now() - lastReport > 10_000) {
        log(`${round.label}: ${fmt(sent)} / ${fmt(n)} sent`);
        lastReport = Date.now();
      }
      await sleep(250);
    }
    const wallMs = performance.now() - wall0;
    const elu = performance.eventLoopUtilization(elu0).utilization;
    const cpu = process.cpuUsage(cpu0);
    const mach1 = cpuTimes();
    sampling = false;
    await sampleLoop;
    await sampler.end();

    // Callbacks settle every timer to delivered (only when they reach the API).
    let deliveredAllAfterMs: number | null = null;
    const { rows: times } = await db.query<{ late: number; sent: number }>(
      `SELECT (extract(epoch FROM sent_at - send_at) * 1000)::float8 AS late, (extract(epoch FROM sent_at) * 1000)::float8 AS sent FROM timers WHERE sent_at IS NOT NULL`,
    );
    let delivered = 0;
    if (round.callbacks === 'api') {
      let lastChange = Date.now();
      const capAt = Date.now() + 120_000;
      while (Date.now() - lastChange < 20_000 && Date.now() < capAt) {
        const { rows } = await db.query<{ d: string }>(`SELECT count(*) AS d FROM timers WHERE status = 'delivered'`);
        const now = Number(rows[0]!.d);
        if (now !== delivered) lastChange = Date.now();
        delivered = now;
        if (delivered >= n) {
          deliveredAllAfterMs = Date.now() - dueReal;
          break;
        }
        await sleep(250);
      }
    }

    const { rows: st } = await db.query<{ status: string; n: string }>('SELECT status::text AS status, count(*) AS n FROM timers GROUP BY 1 ORDER BY 1');
    const sentTimes = times.map((r) => r.sent);
    // What the provider saw: messages created (one per timer means no double send) and callback answers.
    const msgs = e.emulator.emulator.messages();
    const callbackAnswers: Record<string, number> = {};
    for (const m of msgs) for (const c of m.callbacks) callbackAnswers[String(c.responseStatus ?? c.error ?? 'pending')] = (callbackAnswers[String(c.responseStatus ?? c.error ?? 'pending')] ?? 0) + 1;
    const providerMessages = new Set(msgs.map((m) => m.sid).filter(Boolean)).size;
    const providerReplays = msgs.reduce((a, m) => a + m.replays, 0);
    const spanMs = sentTimes.length > 1 ? Math.max(...sentTimes) - Math.min(...sentTimes) : NaN;
    return {
      round,
      n,
      sent,
      statuses: Object.fromEntries(st.map((r) => [r.status, Number(r.n)])),
      outcomes,
      failedJobs,
      failureMessages,
      reAdded,
      providerMessages,
      providerReplays,
      callbackAnswers,
      pumpMs,
      pumpQueuedBeforeDue,
      ratePerSec: times.length / (spanMs / 1000),
      spanMs,
      late: lateness(times.map((r) => r.late)),
      // Not observable from here when the dispatchers are child processes (then n = 0).
      pickupLate: lateness([...firstPickup.values()].map((p) => p.pickup)),
      enqueueSkew: lateness([...firstPickup.values()].map((p) => p.skew)),
      deliveredAllAfterMs,
      elu,
      nodeCpuCores: (cpu.user + cpu.system) / 1000 / wallMs,
      machineCpuBusy: (mach1.busy - mach0.busy) / (mach1.total - mach0.total),
      pgSamples,
      poolSize: e.rt.config.databasePoolSize,
    };
  } finally {
    await Promise.all(parts.map((p) => p.stop().catch(() => undefined)));
    await db.end().catch(() => undefined);
    await e.done();
    if (sink) await new Promise<void>((r) => sink!.close(() => r()));
  }
}

/**
 * A dispatcher in its own process, on the engine's env: what workers/dispatcher.ts does, plus the
 * engine's clock offset (which workers/dispatcher.ts cannot take), so it is this file re-run with
 * BENCH_DISPATCHER_CHILD set (see the end of the file).
 */
async function dispatcherProcess(e: TestEngine, concurrency: number): Promise<Stoppable> {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname], {
    env: { ...process.env, ...e.env, DISPATCH_CONCURRENCY: String(concurrency), LOG_LEVEL: 'warn', BENCH_DISPATCHER_CHILD: '1', BENCH_CLOCK_OFFSET_MS: String(e.clock.offset) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const before = await e.rt.queue.queue.getWorkersCount();
  const until = Date.now() + 30_000;
  while ((await e.rt.queue.queue.getWorkersCount()) <= before) {
    if (child.exitCode !== null || Date.now() > until) throw new Error(`dispatcher process did not start: ${stderr}`);
    await sleep(100);
  }
  return {
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(35_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** Baseline: N no-op delayed jobs due at one instant, one Worker of the given concurrency. */
async function rawDispatch(redis: PrivateRedis, concurrency: number, n: number): Promise<RawResult> {
  await redis.admin.flushall();
  const prefix = 'rawbench';
  const producer = new Redis(redis.url, { maxRetriesPerRequest: null });
  const wconn = new Redis(redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue('raw', { connection: producer, prefix });
  const processedOn: number[] = [];
  const late: number[] = [];
  const worker = new Worker(
    'raw',
    async (job: Job) => {
      const p = job.processedOn ?? Date.now();
      processedOn.push(p);
      late.push(p - (job.timestamp + (job.opts.delay ?? 0)));
    },
    { connection: wconn, prefix, concurrency, autorun: true },
  );
  worker.on('error', () => {});
  try {
    const due = Date.now() + (QUICK ? 2_000 : 4_000);
    for (let i = 0; i < n; i += 1_000) {
      const now = Date.now();
      await queue.addBulk(
        Array.from({ length: Math.min(1_000, n - i) }, (_, k) => ({
          name: 'noop',
          data: { i: i + k },
          opts: { jobId: `j${i + k}`, timestamp: now, delay: Math.max(0, due - now), removeOnComplete: true },
        })),
      );
    }
    if (Date.now() > due) log('raw baseline: adding took longer than the lead; lateness includes it');
    const deadline = Date.now() + 120_000;
    while (processedOn.length < n && Date.now() < deadline) await sleep(50);
    const span = Math.max(...processedOn) - Math.min(...processedOn);
    return { concurrency, n: processedOn.length, ratePerSec: processedOn.length / (span / 1000), late: lateness(late) };
  } finally {
    await worker.close();
    await queue.close();
    producer.disconnect();
    wconn.disconnect();
  }
}

// ---- (b) Redis memory -----------------------------------------------------------------------------

interface MemoryResult {
  timers: number;
  insertMs: number;
  tableMb: number;
  pumpTicks: Array<{ ms: number; queued: number }>;
  withinHorizon: number;
  expectedWithinHorizon: number;
  engineJobs: number;
  engineKeys: number;
  engineBytes: number;
  baselineJobs: number;
  baselineKeys: number;
  baselineBytes: number;
  baselineAddRate: number;
}

/** Jobs held by the timers queue: delayed, plus those already due and waiting (no worker runs here). */
async function jobsInRedis(redis: Redis, prefix: string): Promise<number> {
  const [delayed, wait] = await Promise.all([redis.zcard(`${prefix}:${TIMERS_QUEUE}:delayed`), redis.llen(`${prefix}:${TIMERS_QUEUE}:wait`)]);
  return delayed + wait;
}

async function memoryPart(redis: PrivateRedis, m: number): Promise<MemoryResult> {
  await redis.admin.flushall();
  const e = await engine({ parts: [], redisUrl: redis.url, env: { PUMP_INTERVAL: '5s', RECONCILE_INTERVAL: '15s' } });
  const db = new pg.Client({ connectionString: e.env['DATABASE_URL'] });
  db.on('error', () => {});
  await db.connect();
  try {
    const nums = phones(1_000);
    const start = e.clock.now();
    const tpl = await templateTimer(e, nums[0]!, start + 2 * 86_400_000);
    await insertContacts(db, e.orgId, nums.slice(1));
    const { rows: cs } = await db.query<{ id: string }>('SELECT id::text AS id FROM contacts WHERE org_id = $1::uuid ORDER BY id', [e.orgId]);
    const contactIds = cs.map((r) => r.id);
    // Uniform over [start, start + 30 d): timer g (0 ≤ g < m) at start + (g + 0.5) · 30 d / m. The template is timer 0.
    const step = MEMORY_SPAN_MS / m;
    await db.query(`UPDATE timers SET send_at = $2, requested_at = $2, updated_at = now() WHERE id = $1::uuid`, [tpl.id, new Date(start + Math.round(0.5 * step))]);
    log(`memory: inserting ${fmt(m)} timers over 30 days`);
    const t0 = performance.now();
    const CHUNK = 100_000;
    for (let g = 1; g < m; g += CHUNK) {
      const last = Math.min(m - 1, g + CHUNK - 1);
      await db.query(
        `INSERT INTO timers (id, org_id, contact_id, channel, purpose, policy, requested_at, send_at, status, payload, calendar_version, decision, updated_at)
         SELECT gen_random_uuid(), t.org_id, ($5::uuid[])[1 + (g % $6::int)], t.channel, t.purpose, t.policy, x.s, x.s, 'scheduled', t.payload, t.calendar_version, t.decision, now()
         FROM timers t
         CROSS JOIN generate_series($2::int, $3::int) AS g
         CROSS JOIN LATERAL (SELECT $4::timestamptz + ((g + 0.5) * $7::float8) * interval '1 millisecond' AS s) AS x
         WHERE t.id = $1::uuid`,
        [tpl.id, g, last, new Date(start), contactIds, contactIds.length, step],
      );
      if ((last + 1) % 500_000 === 0 || last === m - 1) log(`memory: ${fmt(last + 1)} timers in Postgres`);
    }
    const insertMs = performance.now() - t0;
    await db.query('VACUUM ANALYZE timers');
    const { rows: size } = await db.query<{ b: string }>(`SELECT pg_total_relation_size('timers') AS b`);

    // Engine: a few pump ticks; only the horizon's timers go to Redis.
    const before = await usedMemory(redis.admin);
    const keysBefore = await redis.admin.dbsize();
    const pump = new Pump(e.rt.ctx);
    const pumpTicks: Array<{ ms: number; queued: number }> = [];
    for (let i = 0; i < 3; i++) {
      const p0 = performance.now();
      const queued = await pump.tick();
      pumpTicks.push({ ms: performance.now() - p0, queued });
      if (i < 2) await sleep(e.rt.config.pumpIntervalMs);
    }
    const after = await usedMemory(redis.admin);
    const engineKeys = (await redis.admin.dbsize()) - keysBefore;
    const engineJobs = await jobsInRedis(redis.admin, e.prefix);
    const { rows: q } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM timers WHERE status = 'queued'`);
    const withinHorizon = Number(q[0]!.n);
    log(`memory: engine put ${fmt(withinHorizon)} of ${fmt(m)} timers in Redis (${fmt(after - before)} bytes)`);

    // Baseline: the same m timers straight into BullMQ as delayed jobs (same name, payload, options, job id).
    await redis.admin.flushall();
    const producer = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(TIMERS_QUEUE, { connection: producer, prefix: e.prefix });
    await queue.waitUntilReady();
    const bBefore = await usedMemory(redis.admin);
    const bKeysBefore = await redis.admin.dbsize();
    const spec = JOB_CATALOG['timer.fire'];
    log(`memory: baseline, adding ${fmt(m)} delayed jobs to BullMQ (addBulk × ${fmt(ADD_CHUNK)})`);
    const a0 = performance.now();
    let after_ = '00000000-0000-0000-0000-000000000000';
    let added = 0;
    for (;;) {
      const { rows } = await db.query<{ id: string; s: string }>(
        `SELECT id::text AS id, (extract(epoch FROM send_at) * 1000)::bigint::text AS s FROM timers WHERE id > $1::uuid ORDER BY id LIMIT ${ADD_CHUNK}`,
        [after_],
      );
      if (rows.length === 0) break;
      const now = e.clock.now();
      await queue.addBulk(
        rows.map((r) => {
          const sendAt = Number(r.s);
          return { name: 'timer.fire', data: { timerId: r.id, sendAt }, opts: { ...spec.options, jobId: timerJobId(r.id, sendAt), delay: Math.max(0, sendAt - now) } };
        }),
      );
      added += rows.length;
      after_ = rows[rows.length - 1]!.id;
      if (added % 200_000 === 0) log(`memory: baseline ${fmt(added)} jobs`);
    }
    const addMs = performance.now() - a0;
    const bAfter = await usedMemory(redis.admin);
    const baselineKeys = (await redis.admin.dbsize()) - bKeysBefore;
    const baselineJobs = await jobsInRedis(redis.admin, e.prefix);
    await queue.close();
    producer.disconnect();
    await redis.admin.flushall();
    return {
      timers: m,
      insertMs,
      tableMb: Number(size[0]!.b) / 1048576,
      pumpTicks,
      withinHorizon,
      expectedWithinHorizon: Math.floor(m * (e.rt.config.horizonMs / MEMORY_SPAN_MS)),
      engineJobs,
      engineKeys,
      engineBytes: after - before,
      baselineJobs,
      baselineKeys,
      baselineBytes: bAfter - bBefore,
      baselineAddRate: added / (addMs / 1000),
    };
  } finally {
    await db.end().catch(() => undefined);
    await e.done();
  }
}

// ---- main -----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const cpus = os.cpus();
  const env = {
    cores: cpus.length,
    cpu: cpus[0]?.model ?? '?',
    memGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    redis: /v=(\S+)/.exec(version('redis-server', ['--version']))?.[1] ?? '?',
    postgres: '',
    loadavg: os.loadavg().map((l) => l.toFixed(2)).join(' '),
    quick: QUICK,
  };

  let redis: PrivateRedis | undefined;
  let exitCode = 0;
  const onSignal = () => {
    log('interrupted: cleaning up');
    const engines = Promise.all([...liveEngines].map((e) => e.stop().catch(() => undefined)));
    void Promise.race([engines, sleep(15_000)])
      .then(() => redis?.stop())
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    redis = await startPrivateRedis();
    const privateRedis = redis;
    const pgv = new pg.Client({ connectionString: process.env['TEST_DATABASE_URL'] || process.env['DATABASE_URL'] || 'postgresql://postgres@127.0.0.1:5432/postgres' });
    await pgv.connect();
    env.postgres = (await pgv.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v;
    await pgv.end();
    console.log(
      `environment: ${env.cores} cores (${env.cpu}), ${env.memGb} GB, node ${env.node}, redis ${env.redis} (private instance, no persistence), postgres ${env.postgres}; load average at start ${env.loadavg}${QUICK ? '; --quick' : ''}`,
    );
    console.log(`everything in this one process except Postgres and redis-server: API, Twilio emulator (status callbacks every ${CALLBACK_DELAY_MS} ms: queued→sent→delivered = 2 callbacks per message), pump, reconciler, dispatcher(s)\n`);

    const dispatch: DispatchResult[] = [];
    const raw: RawResult[] = [];
    // Memory first (short), then the baselines, then the dispatch rounds: the first concurrency,
    // its sink variant, the other concurrencies. Each part's figures also go to stderr as soon as
    // they exist, so a run cut short still leaves them.
    const memory = flag('skip-memory') ? undefined : await memoryPart(privateRedis, N_MEMORY);
    if (memory) log(`result memory ${JSON.stringify(memory)}`);
    if (!flag('skip-dispatch')) {
      for (const c of [...new Set(CONCURRENCIES)]) {
        raw.push(await rawDispatch(privateRedis, c, N_DISPATCH));
        log(`raw BullMQ C=${c}: ${fmt(raw.at(-1)!.ratePerSec)} jobs/s, lateness ${showLate(raw.at(-1)!.late)}`);
      }
      const base = { dispatchers: DISPATCHERS, pool: POOL ? Number(POOL) : undefined, callbacks: 'api' as const, orgs: ORGS, procs: 0 };
      const orgsLabel = ORGS > 1 ? `, ${ORGS} orgs` : '';
      const [first, ...others] = CONCURRENCIES;
      const rounds: DispatchRound[] = [{ ...base, label: `C=${first}${orgsLabel}`, concurrency: first! }];
      if (SINK_ROUND) rounds.push({ ...rounds[0]!, label: `C=${first}${orgsLabel}, callbacks to a sink`, callbacks: 'sink' });
      if (PROCS > 0) rounds.push({ ...rounds[0]!, label: `C=${first}${orgsLabel}, ${PROCS} dispatcher process(es)`, procs: PROCS });
      for (const c of others) rounds.push({ ...base, label: `C=${c}${orgsLabel}`, concurrency: c });
      for (const r of rounds) {
        dispatch.push(await dispatchRound(privateRedis, r, N_DISPATCH));
        const d = dispatch.at(-1)!;
        log(`${r.label}: ${fmt(d.ratePerSec)} timers/s, lateness ${showLate(d.late)}; statuses ${JSON.stringify(d.statuses)}`);
        log(`result dispatch ${JSON.stringify(d)}`);
      }
    }

    // ---- report ----
    console.log('| figure | engine | baseline (same run) |');
    console.log('| --- | ---: | ---: |');
    for (const d of dispatch) {
      const b = raw.find((r) => r.concurrency === d.round.concurrency);
      const where = `${d.round.procs > 0 ? `${d.round.procs} dispatcher process(es) (workers/dispatcher.ts, own DB pool ${d.poolSize} each)` : `${d.round.dispatchers} in-process dispatcher(s)`} × concurrency ${d.round.concurrency}, DB pool ${d.poolSize}${d.round.orgs > 1 ? `, ${d.round.orgs} orgs` : ', one org'}${d.round.callbacks === 'sink' ? ', status callbacks to a no-op sink (diagnostic)' : ', status callbacks on'}`;
      const partial = d.sent < d.n ? `; only ${fmt(d.sent)} of ${fmt(d.n)} sent when the bench gave up` : '';
    console.log(`| dispatch ${fmt(d.n)} SMS due at one instant (${where}): throughput, first send → last | **${fmt(d.ratePerSec)} timers/s** (${fmt(d.spanMs / 1000, 1)} s${partial}) | raw BullMQ no-op jobs: ${b ? `${fmt(b.ratePerSec)} jobs/s` : '—'} |`);
      console.log(`| … lateness sentAt − sendAt | ${showLate(d.late)} | processedOn − due: ${b ? showLate(b.late) : '—'} |`);
      if (d.pickupLate.n > 0) console.log(`| … job pickup (processedOn − sendAt) / BullMQ due − sendAt (enqueue skew) | ${showLate(d.pickupLate)} / max ${fmt(d.enqueueSkew.max)} ms | — |`);
      console.log(`| … pump, scheduled → queued (first tick) | ${fmt(d.n)} in ${fmt(d.pumpMs)} ms (${fmt(d.n / (d.pumpMs / 1000))} /s)${d.pumpQueuedBeforeDue ? '' : ' — finished AFTER the due instant'} | — |`);
      if (d.round.callbacks === 'api') console.log(`| … all ${fmt(d.n)} delivered (callbacks applied) after the due instant | ${d.deliveredAllAfterMs === null ? `never: ${fmt(d.statuses['delivered'] ?? 0)} delivered, ${fmt(d.statuses['sent'] ?? 0)} left at sent (callbacks lost)` : `${fmt(d.deliveredAllAfterMs / 1000, 1)} s`} | — |`);
      console.log(`| … CPU while dispatching: bench process (API+emulator+pump${d.round.procs > 0 ? '' : '+dispatcher'}) / whole machine | ${fmt(d.nodeCpuCores * 100)} % of a core (event loop ${fmt(d.elu * 100)} % busy) / ${fmt(d.machineCpuBusy * 100)} % of ${env.cores} cores | — |`);
    }
    if (memory) {
      console.log(`| Redis used_memory for ${fmt(memory.timers)} timers over 30 days (engine: Postgres + pump) | **${fmt(memory.engineBytes / 1048576, 2)} MB** (${fmt(memory.engineJobs)} jobs, ${fmt(memory.engineKeys)} keys) | all as BullMQ delayed jobs: **${fmt(memory.baselineBytes / 1048576, 1)} MB** (${fmt(memory.baselineJobs)} jobs, ${fmt(memory.baselineKeys)} keys) |`);
      console.log(`| … bytes per job in Redis | ${fmt(memory.engineBytes / Math.max(1, memory.engineJobs))} B (few jobs: mostly the queue's fixed cost — Lua script cache, meta keys, events stream, client buffers) | ${fmt(memory.baselineBytes / Math.max(1, memory.baselineJobs))} B |`);
      console.log(`| … timers within the 15-minute horizon (the only ones in Redis) | ${fmt(memory.withinHorizon)} (uniform expectation ${fmt(memory.expectedWithinHorizon)}) | ${fmt(memory.timers)} |`);
      console.log(`| … pump ticks over ${fmt(memory.timers)} scheduled rows | ${memory.pumpTicks.map((t) => `${fmt(t.ms)} ms (${t.queued})`).join(', ')} | addBulk: ${fmt(memory.baselineAddRate)} jobs/s |`);
      console.log(`| … Postgres: bulk insert / timers table size | ${fmt(memory.insertMs / 1000, 1)} s / ${fmt(memory.tableMb)} MB | — |`);
    }
    if (dispatch.length) {
      console.log('');
      for (const d of dispatch) {
        const total = d.pgSamples['#samples'] ?? 1;
        const states = Object.entries(d.pgSamples)
          .filter(([k]) => k !== '#samples')
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${k} ${fmt(v / total, 1)}`)
          .join('; ');
        console.log(`${d.round.label}: job outcomes ${JSON.stringify(d.outcomes)}${d.reAdded ? ` (${d.reAdded} jobs re-added by the reconciler after completing: 'stale')` : ''}; final statuses ${JSON.stringify(d.statuses)}`);
        console.log(`  provider: ${fmt(d.providerMessages)} messages created for ${fmt(d.n)} timers (${d.providerReplays} idempotent replays); status callbacks answered ${JSON.stringify(d.callbackAnswers)}`);
        if (d.failedJobs) console.log(`  ${d.failedJobs} failed attempts (retried by BullMQ): ${JSON.stringify(d.failureMessages)}`);
        console.log(`  Postgres backends of the engine, mean per 200 ms sample while dispatching: ${states}`);
      }
    }
    console.log('');
    console.log(JSON.stringify({ bench: 'engine', env, dispatch, rawBullmq: raw, memory }));
  } catch (err) {
    exitCode = 1;
    console.error(err);
  } finally {
    await redis?.stop();
    process.exit(exitCode);
  }
}

/** Child mode: one dispatcher (as workers/dispatcher.ts) on the engine's clock; stops on SIGTERM. */
function dispatcherChild(): void {
  const offset = Number(process.env['BENCH_CLOCK_OFFSET_MS'] ?? 0);
  const rt = createRuntime(loadConfig(), { clock: { now: () => Date.now() + offset } });
  onSignals({ rt, parts: [startDispatcher(rt)] });
}

if (process.env['BENCH_DISPATCHER_CHILD']) dispatcherChild();
else await main();
