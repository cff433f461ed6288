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
 *     Second baseline, the minimal peer: N BullMQ delayed jobs due at one instant, each doing one
 *     HTTP POST to a local sink and one Postgres UPDATE, concurrency 50, in a worker process of its
 *     own (as the engine's dispatcher process is). By default the engine runs with 1 and with 2
 *     dispatcher processes (workers/dispatcher.ts); reported per round: messages/s, p50/p99
 *     lateness, CPU per message (the bench process + the worker processes, and the whole machine
 *     with Postgres and Redis), SQL statements per message (every statement sent by a pg client of
 *     the engine or the peer while dispatching, BEGIN/COMMIT included).
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
 * Options: --quick; --timers=N; --procs=1,2 (one round per count of dispatcher processes);
 * --concurrency=N (the engine's DISPATCH_CONCURRENCY, default the config's); --peer-concurrency=50;
 * --pool=N (DATABASE_POOL_SIZE, default the config's); --in-process=N (also a round with N
 * dispatchers inside the bench process); --events-round (also the first round again with outbound
 * events on: an endpoint subscribed to every event, to a local receiver; reports events/s beside
 * the round's messages/s); --sink-round (also a diagnostic round whose status
 * callbacks go to a no-op sink instead of the API); --callback-delay=MS (emulator, default 10);
 * --skip-dispatch; --skip-memory.
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
import { bullPrefix } from '../src/adapters/queue/keys.ts';
import { phoneHash } from '../src/app/timers/context.ts';
import { Pump } from '../src/app/timers/pump.ts';
import { formatUtc } from '../src/domain/time.ts';
import { parsePhone, resolveLocation } from '../src/domain/location/resolve.ts';
import { DEFAULT_DATABASE_POOL_SIZE, DEFAULT_DISPATCH_CONCURRENCY, loadConfig } from '../src/config.ts';
import { createRuntime, onSignals, startDispatcher, type Stoppable } from '../src/runtime.ts';
import { offsetTo, smsBody, startEngine, type TestEngine } from '../test/helpers/engine.ts';
import { freshDatabase } from '../test/helpers/db.ts';

// ---- options ------------------------------------------------------------------------------------

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const opt = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const QUICK = flag('quick');
const N_DISPATCH = Number(opt('timers') ?? (QUICK ? 2_000 : 20_000));
const N_MEMORY = Number(opt('memory-timers') ?? (QUICK ? 100_000 : 1_000_000));
const CONCURRENCY = opt('concurrency') ? Number(opt('concurrency')) : undefined;
const PEER_CONCURRENCY = Number(opt('peer-concurrency') ?? 50);
const POOL = opt('pool');
/** One round per value: the dispatchers in that many child processes (workers/dispatcher.ts), as deployed. */
const PROCS = (opt('procs') ?? '1,2').split(',').filter(Boolean).map(Number);
/** > 0: also a round with this many dispatchers inside the bench process. */
const IN_PROCESS = Number(opt('in-process') ?? 0);
const SINK_ROUND = flag('sink-round');
const EVENTS_ROUND = flag('events-round');
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

// ---- what a process sends to Postgres ------------------------------------------------------------

/** Statements sent by every pg client of this process (BEGIN/COMMIT included), except the bench's own. */
let statements = 0;
const ownClients = new WeakSet<object>();
const clientQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  if (!ownClients.has(this)) statements++;
  return (clientQuery as (...a: unknown[]) => unknown).apply(this, args);
} as typeof clientQuery;
/** A pg client of the bench itself (polling, sampling): not counted. */
function benchClient(connectionString: string): pg.Client {
  const c = new pg.Client({ connectionString });
  ownClients.add(c);
  c.on('error', () => {});
  return c;
}

interface ProcStats {
  statements: number;
  /** CPU time used so far, user + system, ms. */
  cpuMs: number;
}
const ownStats = (): ProcStats => {
  const c = process.cpuUsage();
  return { statements, cpuMs: (c.user + c.system) / 1000 };
};
const STATS_LINE = 'BENCH_STATS ';
/** BENCH_CPU_PROF=<dir>: the worker processes write V8 CPU profiles there (run the bench itself with node --cpu-prof for its own). */
const profileArgs = (): string[] => (process.env['BENCH_CPU_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_CPU_PROF']}`] : []);
/** In a child: answer SIGUSR2 with this process's stats on stderr. */
function answerStats(): void {
  process.on('SIGUSR2', () => process.stderr.write(`${STATS_LINE}${JSON.stringify(ownStats())}\n`));
}
/** A child's stats, asked with SIGUSR2 (see answerStats). */
function childStats(child: ChildProcess): Promise<ProcStats> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      const at = buf.lastIndexOf(STATS_LINE);
      const end = at >= 0 ? buf.indexOf('\n', at) : -1;
      if (end < 0) return;
      child.stderr!.off('data', onData);
      clearTimeout(timer);
      resolve(JSON.parse(buf.slice(at + STATS_LINE.length, end)) as ProcStats);
    };
    const timer = setTimeout(() => {
      child.stderr!.off('data', onData);
      reject(new Error('child did not answer SIGUSR2'));
    }, 10_000);
    child.stderr!.on('data', onData);
    child.kill('SIGUSR2');
  });
}
const diff = (a: ProcStats, b: ProcStats): ProcStats => ({ statements: b.statements - a.statements, cpuMs: b.cpuMs - a.cpuMs });
const sum = (list: readonly ProcStats[]): ProcStats => list.reduce((a, b) => ({ statements: a.statements + b.statements, cpuMs: a.cpuMs + b.cpuMs }), { statements: 0, cpuMs: 0 });

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
  /** Outbound events on: an endpoint subscribed to every event (a local receiver) and the webhook part in the bench process. */
  events?: boolean;
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
  /** CPU of the whole machine (every process: Postgres, Redis, the bench, its children) while dispatching, ms. */
  machineCpuMs: number;
  /** The bench process (API, emulator, pump, reconciler, in-process dispatchers) while dispatching. */
  mainStats: ProcStats;
  /** The dispatcher processes while dispatching. */
  workerStats: ProcStats;
  pgSamples: Record<string, number>;
  poolSize: number;
  events?: { received: number; perSec: number; lastAfterDueMs: number };
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
  const db = benchClient(e.env['DATABASE_URL']!);
  await db.connect();
  const parts: Stoppable[] = [];
  const children: ChildProcess[] = [];
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
    // Events on: every event of the round to a local receiver, delivered by the webhook part (in this process).
    const eventTimes: number[] = [];
    let receiver: Server | undefined;
    if (round.events) {
      receiver = createHttpServer((req, res) => {
        req.resume();
        req.on('end', () => {
          eventTimes.push(Date.now());
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((r) => receiver!.listen(0, '127.0.0.1', r));
      const hook = await e.api('POST', '/v1/webhooks', { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/events`, events: ['*'] });
      if (hook.status !== 201) throw new Error(`could not register the webhook: ${JSON.stringify(hook.body)}`);
      e.start('webhooks');
    }
    // Dispatchers first (idle until the jobs are due), then the due instant is set.
    // Observers: first pickup of each job id, outcomes, failures.
    let dueReal = 0;
    const firstPickup = new Map<string, { pickup: number; skew: number }>();
    let reAdded = 0;
    const outcomes: Record<string, number> = {};
    const failureMessages: Record<string, number> = {};
    let failedJobs = 0;
    for (let i = 0; i < round.procs; i++) {
      const d = await dispatcherProcess(e, round.concurrency);
      parts.push(d);
      children.push(d.child);
    }
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
    const sampler = benchClient(e.env['DATABASE_URL']!);
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
    const main0 = ownStats();
    const kids0 = await Promise.all(children.map(childStats));
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
        await describeUnsent(e, db);
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
    const main1 = ownStats();
    const kids1 = await Promise.all(children.map(childStats));
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

    let events: { received: number; perSec: number; lastAfterDueMs: number } | undefined;
    if (round.events) {
      let seen = -1;
      let lastChange = Date.now();
      while (Date.now() - lastChange < 5000 && Date.now() < dueReal + 300_000) {
        if (eventTimes.length !== seen) lastChange = Date.now();
        seen = eventTimes.length;
        await sleep(250);
      }
      const span = eventTimes.length > 1 ? (eventTimes.at(-1)! - eventTimes[0]!) / 1000 : NaN;
      events = { received: eventTimes.length, perSec: eventTimes.length / span, lastAfterDueMs: (eventTimes.at(-1) ?? NaN) - dueReal };
      log(`${round.label}: ${fmt(events.received)} events received, ${fmt(events.perSec)} events/s (first to last), the last ${fmt(events.lastAfterDueMs)} ms after the due instant`);
      await new Promise<void>((r) => receiver!.close(() => r()));
    }
    await describeSlowest(db, times.map((r) => r.late));
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
      machineCpuMs: ((mach1.busy - mach0.busy) / (mach1.total - mach0.total)) * os.cpus().length * wallMs,
      mainStats: diff(main0, main1),
      workerStats: sum(kids1.map((k, i) => diff(kids0[i]!, k))),
      pgSamples,
      poolSize: e.rt.config.databasePoolSize,
      ...(events ? { events } : {}),
    };
  } finally {
    await Promise.all(parts.map((p) => p.stop().catch(() => undefined)));
    await db.end().catch(() => undefined);
    await e.done();
    if (sink) await new Promise<void>((r) => sink!.close(() => r()));
  }
}

/** When a round gives up: what the (first 20) unsent timers and their jobs look like, so a stuck timer can be told from a slow one. */
async function describeUnsent(e: TestEngine, db: pg.Client): Promise<void> {
  const { rows } = await db.query<{ id: string; status: string; sendAt: Date | null; attempts: number; leaseUntil: Date | null; lastError: string | null }>(
    `SELECT id::text AS id, status::text AS status, send_at AS "sendAt", attempts, lease_until AS "leaseUntil", last_error AS "lastError"
     FROM timers WHERE sent_at IS NULL ORDER BY id LIMIT 20`,
  );
  for (const r of rows) {
    const job = r.sendAt ? await e.rt.queue.queue.getJob(timerJobId(r.id, r.sendAt.getTime())) : undefined;
    const state = job ? await job.getState() : 'no job';
    log(`  unsent ${r.id}: ${r.status}, sendAt ${r.sendAt?.toISOString() ?? '-'}, attempts ${r.attempts}, lease until ${r.leaseUntil?.toISOString() ?? '-'}, last error ${r.lastError ?? '-'}; job ${state}${job?.failedReason ? ` (${job.failedReason})` : ''}`);
  }
}

/**
 * A tail far behind the rest (the latest send more than twice the p99 late): the five latest timers'
 * audit trails, each entry's instant after the timer's sendAt, so a stall shows where it happened.
 */
async function describeSlowest(db: pg.Client, lates: readonly number[]): Promise<void> {
  const l = lateness([...lates]);
  if (!(l.max > 2 * l.p99)) return;
  const { rows } = await db.query<{ id: string; late: number; trail: string }>(
    `SELECT t.id::text AS id, (extract(epoch FROM t.sent_at - t.send_at) * 1000)::float8 AS late,
            (SELECT string_agg(a.action || ' +' || round(extract(epoch FROM a.created_at - t.send_at) * 1000) || 'ms' || coalesce(' ' || (a.data->>'worker'), ''), ', ' ORDER BY a.seq)
               FROM audit_entries a WHERE a.timer_id = t.id AND a.org_id = t.org_id) AS trail
       FROM timers t WHERE t.sent_at IS NOT NULL ORDER BY t.sent_at - t.send_at DESC LIMIT 5`,
  );
  log(`  a tail: the latest send ${fmt(l.max)} ms late against p99 ${fmt(l.p99)} ms; the five latest:`);
  for (const r of rows) log(`  slow ${r.id}: ${fmt(r.late)} ms late; ${r.trail ?? 'no audit entries'}`);
}

/**
 * A dispatcher in its own process, on the engine's env: what workers/dispatcher.ts does, plus the
 * engine's clock offset (which workers/dispatcher.ts cannot take), so it is this file re-run with
 * BENCH_DISPATCHER_CHILD set (see the end of the file).
 */
async function dispatcherProcess(e: TestEngine, concurrency: number): Promise<Stoppable & { child: ChildProcess }> {
  const child = spawn(process.execPath, [...profileArgs(), '--import', 'tsx', new URL(import.meta.url).pathname], {
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
    child,
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

/**
 * The minimal peer: N BullMQ delayed jobs due at one instant, each doing one HTTP POST to a local
 * sink (a Twilio-like 201 with a small JSON body) and one Postgres UPDATE of its row, in a worker
 * process of its own at concurrency `concurrency`, over a pg pool of the engine's size.
 */
interface PeerResult {
  concurrency: number;
  n: number;
  sent: number;
  ratePerSec: number;
  spanMs: number;
  late: Lateness;
  mainStats: ProcStats;
  workerStats: ProcStats;
  machineCpuMs: number;
}

async function peerDispatch(redis: PrivateRedis, concurrency: number, n: number, poolSize: number): Promise<PeerResult> {
  await redis.admin.flushall();
  const dbh = await freshDatabase();
  const sink = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(201, { 'content-type': 'application/json' }).end('{"sid":"SM00000000000000000000000000000000","status":"queued"}'));
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/Messages.json`;
  const db = benchClient(dbh.url);
  await db.connect();
  const prefix = 'peerbench';
  const producer = new Redis(redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue('peer', { connection: producer, prefix });
  let child: ChildProcess | undefined;
  try {
    await db.query('CREATE TABLE peer_messages (id int PRIMARY KEY, phone text NOT NULL, status text NOT NULL, sent_at timestamptz, due_at timestamptz NOT NULL)');
    const nums = phones(n);
    const due = Date.now() + LEAD_MS;
    await db.query(`INSERT INTO peer_messages SELECT i, p, 'queued', NULL, $2 FROM unnest($1::text[]) WITH ORDINALITY AS x(p, i)`, [nums, new Date(due)]);
    await db.query('ANALYZE peer_messages');
    child = spawn(process.execPath, [...profileArgs(), '--import', 'tsx', new URL(import.meta.url).pathname], {
      env: { ...process.env, BENCH_PEER_CHILD: '1', PEER_DB: dbh.url, PEER_REDIS: redis.url, PEER_SINK: sinkUrl, PEER_CONCURRENCY: String(concurrency), PEER_POOL: String(poolSize), PEER_PREFIX: prefix },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    const until = Date.now() + 30_000;
    while ((await queue.getWorkersCount()) < 1) {
      if (child.exitCode !== null || Date.now() > until) throw new Error(`peer worker did not start: ${stderr}`);
      await sleep(100);
    }
    for (let i = 0; i < n; i += ADD_CHUNK) {
      const now = Date.now();
      await queue.addBulk(
        Array.from({ length: Math.min(ADD_CHUNK, n - i) }, (_, k) => ({ name: 'send', data: { id: i + k + 1 }, opts: { jobId: `m${i + k + 1}`, timestamp: now, delay: Math.max(0, due - now), removeOnComplete: true } })),
      );
    }
    if (Date.now() > due) log('peer baseline: adding took longer than the lead; lateness includes it');
    await sleep(Math.max(0, due - Date.now()));
    const mach0 = cpuTimes();
    const wall0 = performance.now();
    const main0 = ownStats();
    const kid0 = await childStats(child);
    let sent = 0;
    const deadline = Date.now() + Math.max(120_000, n * 20);
    while (Date.now() < deadline) {
      const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM peer_messages WHERE sent_at IS NOT NULL');
      sent = Number(rows[0]!.n);
      if (sent >= n) break;
      await sleep(250);
    }
    const wallMs = performance.now() - wall0;
    const mach1 = cpuTimes();
    const main1 = ownStats();
    const kid1 = await childStats(child);
    const { rows } = await db.query<{ late: number; sent: number }>(`SELECT (extract(epoch FROM sent_at - due_at) * 1000)::float8 AS late, (extract(epoch FROM sent_at) * 1000)::float8 AS sent FROM peer_messages WHERE sent_at IS NOT NULL`);
    const sentTimes = rows.map((r) => r.sent);
    const spanMs = Math.max(...sentTimes) - Math.min(...sentTimes);
    return {
      concurrency,
      n,
      sent,
      ratePerSec: rows.length / (spanMs / 1000),
      spanMs,
      late: lateness(rows.map((r) => r.late)),
      mainStats: diff(main0, main1),
      workerStats: diff(kid0, kid1),
      machineCpuMs: ((mach1.busy - mach0.busy) / (mach1.total - mach0.total)) * os.cpus().length * wallMs,
    };
  } finally {
    if (child && child.exitCode === null) {
      const exited = new Promise<void>((r) => child!.once('exit', () => r()));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await queue.close();
    producer.disconnect();
    await db.end().catch(() => undefined);
    await new Promise<void>((r) => sink.close(() => r()));
    await dbh.drop();
  }
}

/** Child mode: the peer's worker (see peerDispatch). */
function peerChild(): void {
  answerStats();
  const env = (k: string) => process.env[k] ?? '';
  const pool = new pg.Pool({ connectionString: env('PEER_DB'), max: Number(env('PEER_POOL')) });
  pool.on('error', () => {});
  const conn = new Redis(env('PEER_REDIS'), { maxRetriesPerRequest: null });
  const worker = new Worker(
    'peer',
    async (job: Job<{ id: number }>) => {
      const res = await fetch(env('PEER_SINK'), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `To=%2B1212555${String(job.data.id % 10_000).padStart(4, '0')}&From=%2B15005550006&Body=Your+appointment+is+tomorrow+at+10%3A00.` });
      await res.text();
      await pool.query(`UPDATE peer_messages SET status = 'sent', sent_at = now() WHERE id = $1`, [job.data.id]);
    },
    { connection: conn, prefix: env('PEER_PREFIX'), concurrency: Number(env('PEER_CONCURRENCY')) },
  );
  worker.on('error', () => {});
  process.once('SIGTERM', () => void worker.close().finally(() => void pool.end().finally(() => process.exit(0))));
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
  const [delayed, wait] = await Promise.all([redis.zcard(`${bullPrefix(prefix, TIMERS_QUEUE)}:${TIMERS_QUEUE}:delayed`), redis.llen(`${bullPrefix(prefix, TIMERS_QUEUE)}:${TIMERS_QUEUE}:wait`)]);
  return delayed + wait;
}

async function memoryPart(redis: PrivateRedis, m: number): Promise<MemoryResult> {
  await redis.admin.flushall();
  const e = await engine({ parts: [], redisUrl: redis.url, env: { PUMP_INTERVAL: '5s', RECONCILE_INTERVAL: '15s' } });
  const db = benchClient(e.env['DATABASE_URL']!);
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
    const queue = new Queue(TIMERS_QUEUE, { connection: producer, prefix: bullPrefix(e.prefix, TIMERS_QUEUE) });
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
    console.log(`the bench process holds the API, the Twilio emulator (status callbacks every ${CALLBACK_DELAY_MS} ms: queued→sent→delivered = 2 callbacks per message), the pump and the reconciler; dispatchers run in their own processes (workers/dispatcher.ts); Postgres and a private redis-server are shared\n`);

    const dispatch: DispatchResult[] = [];
    const raw: RawResult[] = [];
    let peer: PeerResult | undefined;
    // Memory first (short), then the baselines, then the dispatch rounds. Each part's figures also
    // go to stderr as soon as they exist, so a run cut short still leaves them.
    const memory = flag('skip-memory') ? undefined : await memoryPart(privateRedis, N_MEMORY);
    if (memory) log(`result memory ${JSON.stringify(memory)}`);
    const poolSize = POOL ? Number(POOL) : DEFAULT_DATABASE_POOL_SIZE;
    const concurrency = CONCURRENCY ?? DEFAULT_DISPATCH_CONCURRENCY;
    if (!flag('skip-dispatch')) {
      raw.push(await rawDispatch(privateRedis, PEER_CONCURRENCY, N_DISPATCH));
      log(`raw BullMQ C=${PEER_CONCURRENCY}: ${fmt(raw.at(-1)!.ratePerSec)} jobs/s, lateness ${showLate(raw.at(-1)!.late)}`);
      peer = await peerDispatch(privateRedis, PEER_CONCURRENCY, N_DISPATCH, poolSize);
      log(`peer C=${PEER_CONCURRENCY}: ${fmt(peer.ratePerSec)} msg/s, lateness ${showLate(peer.late)}`);
      const base = { concurrency, dispatchers: 1, pool: POOL ? Number(POOL) : undefined, callbacks: 'api' as const, orgs: ORGS, procs: 0 };
      const orgsLabel = ORGS > 1 ? `, ${ORGS} orgs` : '';
      const rounds: DispatchRound[] = PROCS.map((p) => ({ ...base, label: `${p} dispatcher process${p === 1 ? '' : 'es'}${orgsLabel}`, procs: p }));
      if (IN_PROCESS > 0) rounds.push({ ...base, label: `${IN_PROCESS} in-process dispatcher(s)${orgsLabel}`, dispatchers: IN_PROCESS });
      if (EVENTS_ROUND && rounds[0]) rounds.push({ ...rounds[0], label: `${rounds[0].label}, events on`, events: true });
      if (SINK_ROUND && rounds[0]) rounds.push({ ...rounds[0], label: `${rounds[0].label}, callbacks to a sink`, callbacks: 'sink' });
      for (const r of rounds) {
        dispatch.push(await dispatchRound(privateRedis, r, N_DISPATCH));
        const d = dispatch.at(-1)!;
        log(`${r.label}: ${fmt(d.ratePerSec)} timers/s, lateness ${showLate(d.late)}; statuses ${JSON.stringify(d.statuses)}`);
        log(`result dispatch ${JSON.stringify(d)}`);
      }
    }

    // ---- report ----
    const perMsg = (st: ProcStats, n: number) => `${fmt(st.cpuMs / n, 2)} ms CPU, ${fmt(st.statements / n, 2)} SQL statements`;
    console.log('| figure | engine | baselines (same run) |');
    console.log('| --- | ---: | ---: |');
    const b = raw[0];
    if (peer) {
      console.log(`| minimal peer: ${fmt(peer.n)} BullMQ jobs due at one instant, each one HTTP POST to a local sink + one Postgres UPDATE, concurrency ${peer.concurrency}, one worker process | — | **${fmt(peer.ratePerSec)} msg/s** (${fmt(peer.spanMs / 1000, 1)} s), lateness ${showLate(peer.late)} |`);
      console.log(`| … per message: worker process / + bench process (sink) / whole machine | — | ${perMsg(peer.workerStats, peer.sent)} / ${fmt((peer.workerStats.cpuMs + peer.mainStats.cpuMs) / peer.sent, 2)} ms / ${fmt(peer.machineCpuMs / peer.sent, 2)} ms CPU |`);
    }
    if (b) console.log(`| raw BullMQ: ${fmt(b.n)} no-op jobs due at one instant, concurrency ${b.concurrency} | — | **${fmt(b.ratePerSec)} jobs/s**, lateness ${showLate(b.late)} |`);
    for (const d of dispatch) {
      const where = `${d.round.procs > 0 ? `${d.round.procs} dispatcher process${d.round.procs === 1 ? '' : 'es'} (workers/dispatcher.ts)` : `${d.round.dispatchers} in-process dispatcher(s)`} × concurrency ${d.round.concurrency}, DB pool ${d.poolSize} each${d.round.orgs > 1 ? `, ${d.round.orgs} orgs` : ', one org'}${d.round.callbacks === 'sink' ? ', status callbacks to a no-op sink (diagnostic)' : ', status callbacks on'}${d.round.events ? ', outbound events on (every event to a local receiver)' : ''}`;
      const partial = d.sent < d.n ? `; only ${fmt(d.sent)} of ${fmt(d.n)} sent when the bench gave up` : '';
      const vsPeer = peer ? ` — **${fmt(d.ratePerSec / peer.ratePerSec, 2)}× the peer**` : '';
      if (d.events) console.log(`| … events delivered (claimed, sent, delivered per timer) | **${fmt(d.events.received)} events, ${fmt(d.events.perSec)} events/s** (first to last), the last ${fmt(d.events.lastAfterDueMs / 1000, 1)} s after the due instant | — |`);
      console.log(`| dispatch ${fmt(d.n)} SMS due at one instant (${where}): throughput, first send → last | **${fmt(d.ratePerSec)} msg/s** (${fmt(d.spanMs / 1000, 1)} s${partial})${vsPeer} | peer ${peer ? fmt(peer.ratePerSec) : '—'} msg/s; raw BullMQ ${b ? fmt(b.ratePerSec) : '—'} jobs/s |`);
      console.log(`| … lateness sentAt − sendAt | ${showLate(d.late)} | peer: ${peer ? showLate(peer.late) : '—'} |`);
      if (d.pickupLate.n > 0) console.log(`| … job pickup (processedOn − sendAt) / BullMQ due − sendAt (enqueue skew) | ${showLate(d.pickupLate)} / max ${fmt(d.enqueueSkew.max)} ms | — |`);
      const sentN = Math.max(1, d.sent);
      console.log(`| … per message: dispatcher process(es) / + bench process (API, emulator, callbacks) / whole machine | ${perMsg(d.workerStats, sentN)} / ${perMsg(sum([d.workerStats, d.mainStats]), sentN)} / ${fmt(d.machineCpuMs / sentN, 2)} ms CPU | peer: ${peer ? `${perMsg(peer.workerStats, peer.sent)} / — / ${fmt(peer.machineCpuMs / peer.sent, 2)} ms CPU` : '—'} |`);
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
    console.log(JSON.stringify({ bench: 'engine', env, dispatch, peer, rawBullmq: raw, memory }));
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
  answerStats();
  const offset = Number(process.env['BENCH_CLOCK_OFFSET_MS'] ?? 0);
  const rt = createRuntime(loadConfig(), { clock: { now: () => Date.now() + offset } });
  onSignals({ rt, parts: [startDispatcher(rt)] });
}

if (process.env['BENCH_DISPATCHER_CHILD']) dispatcherChild();
else if (process.env['BENCH_PEER_CHILD']) peerChild();
else await main();
