/**
 * `npm run bench:campaign [-- --quick]`: a campaign of N contacts (1,000,000; 50,000 with --quick)
 * planned end to end, beside baselines measured in the same run. Not a test: it prints a table
 * and one JSON line.
 *
 * The campaign: POST /v1/campaigns { audience: { upload: true } }, then the audience streamed as a
 * CSV to PUT /v1/campaigns/:id/audience (generated on the fly: N distinct numbers over 25 cities
 * in 6 zones, a bad row every 1,000), planned by P planner processes (test/fixtures/planner-with-
 * offset.ts, the same code as workers/planner.ts; default 2, --planners=P): for every row its
 * location, the decision, its timer row, its `timer.created` audit entry, and the near-term timers
 * handed to BullMQ. The engine's clock stands at Tuesday 2026-12-08 12:00 in New York and the
 * campaign sends at 12:05 local time, so New York's recipients are inside the 15-minute horizon
 * (queued at once) and everyone else waits in Postgres. Reported: contacts/s from the first byte
 * uploaded to `planned`, the upload and planning phases apart, peak Redis memory (INFO) and the
 * peak RSS of the API process (this one) and of each planner (VmHWM).
 *
 * Baselines, same machine, same run, same Postgres and private Redis:
 *  - raw BullMQ `addBulk` of N jobs (batches of 1,000) — what enqueuing everything would cost;
 *  - raw Postgres COPY of the same rows the plan wrote (its contacts, timers and audit entries,
 *    copied as they are) into empty tables LIKE the real ones (same indexes): each table's rows
 *    read first with `COPY (SELECT …) TO STDOUT` into a temporary file (not timed), then written
 *    with one `COPY … FROM STDIN` (text format, pg-copy-streams) per table; timed: the writes only,
 *    up to the server's acknowledgement (see postgresCopy).
 *
 * Everything runs against a private redis-server started here (`--save "" --appendonly no`) and a
 * fresh Postgres database (test/helpers/db.ts); both are removed at the end.
 *
 * BENCH_CPU_PROF=<dir>: the planners write V8 CPU profiles there.
 *
 * Options: --quick; --contacts=N; --planners=P; --plan-concurrency=C (per planner, default 2);
 * --baselines-only=<database url>: only the two baselines, against the planned campaign of a
 * database left by an earlier run (e.g. one that was interrupted after planning).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { TIMERS_QUEUE } from '../src/adapters/queue/catalog.ts';
import { bullPrefix } from '../src/adapters/queue/keys.ts';
import { Redis } from 'ioredis';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { resolveLocation } from '../src/domain/location/resolve.ts';
import { offsetTo, startEngine, type TestEngine } from '../test/helpers/engine.ts';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const opt = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const QUICK = flag('quick');
const N = Number(opt('contacts') ?? (QUICK ? 50_000 : 1_000_000));
const PLANNERS = Number(opt('planners') ?? 2);
const PLAN_CONCURRENCY = Number(opt('plan-concurrency') ?? 2);
const ENGINE_INSTANT = '2026-12-08T17:00:00Z'; // Tuesday 12:00 in New York
const SEND_AT = '2026-12-08T12:05'; // 5 minutes ahead in New York: inside the horizon there only
const BATCH = 1000;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PLANNER = fileURLToPath(new URL('../test/fixtures/part-with-offset.ts', import.meta.url));

const log = (msg: string) => process.stderr.write(`[bench:campaign ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mb = (bytes: number) => `${fmt(bytes / 1024 / 1024)} MB`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Cities: a zip and an area code of the same place. */
const PLACES: Array<{ zip: string; npa: string }> = [
  { zip: '10001', npa: '212' }, { zip: '90012', npa: '213' }, { zip: '60601', npa: '312' }, { zip: '77002', npa: '713' }, { zip: '85004', npa: '602' },
  { zip: '19103', npa: '215' }, { zip: '78205', npa: '210' }, { zip: '92101', npa: '619' }, { zip: '75201', npa: '214' }, { zip: '78701', npa: '512' },
  { zip: '32202', npa: '904' }, { zip: '43215', npa: '614' }, { zip: '28202', npa: '704' }, { zip: '46204', npa: '317' }, { zip: '98101', npa: '206' },
  { zip: '80202', npa: '303' }, { zip: '02108', npa: '617' }, { zip: '48226', npa: '313' }, { zip: '37203', npa: '615' }, { zip: '97204', npa: '503' },
  { zip: '89101', npa: '702' }, { zip: '33130', npa: '305' }, { zip: '30303', npa: '404' }, { zip: '99501', npa: '907' }, { zip: '96813', npa: '808' },
];

/** Row k of the audience: a distinct number per row (exchange 2XX except N11), or a bad row every 1,000. */
function csvLine(k: number): string {
  if (k % 1000 === 999) return `not-a-phone,10001,bad-${k}`;
  const place = PLACES[k % PLACES.length]!;
  const j = Math.floor(k / PLACES.length);
  let exchange = 200 + Math.floor(j / 10_000);
  if (exchange % 100 === 11) exchange += 1;
  return `+1${place.npa}${exchange}${String(j % 10_000).padStart(4, '0')},${place.zip},c${k}`;
}

async function* csv(n: number): AsyncGenerator<string> {
  let buf = 'phone,zip,externalId\n';
  for (let k = 0; k < n; k++) {
    buf += `${csvLine(k)}\n`;
    if (buf.length >= 256 * 1024) {
      yield buf;
      buf = '';
    }
  }
  if (buf) yield buf;
}

// ---- environment -------------------------------------------------------------------------------

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function startPrivateRedis(): Promise<{ url: string; admin: Redis; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const admin = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
  admin.on('error', () => {});
  await Promise.race([admin.ping(), sleep(10_000).then(() => Promise.reject(new Error('private redis-server did not start')))]);
  return {
    url,
    admin,
    stop: async () => {
      admin.disconnect();
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await Promise.race([new Promise((r) => child.once('exit', r)), sleep(3000)]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    },
  };
}

async function redisMemory(redis: Redis): Promise<{ used: number; peak: number }> {
  const info = await redis.info('memory');
  return { used: Number(/^used_memory:(\d+)/m.exec(info)?.[1]), peak: Number(/^used_memory_peak:(\d+)/m.exec(info)?.[1]) };
}

/** Peak RSS of a process (VmHWM), bytes. */
function peakRss(pid: number): number {
  try {
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Samples a value every `ms` and keeps the largest. */
function sampler(read: () => Promise<number> | number, ms = 250): { stop(): Promise<number> } {
  let max = 0;
  let live = true;
  const loop = (async () => {
    while (live) {
      try {
        max = Math.max(max, await read());
      } catch {
        // a failed sample is skipped
      }
      await sleep(ms);
    }
  })();
  return { stop: async () => ((live = false), await loop, max) };
}

// ---- the campaign ------------------------------------------------------------------------------

interface CampaignFigures {
  rows: number;
  good: number;
  errors: number;
  uploadMs: number;
  planMs: number;
  totalMs: number;
  nearTerm: number;
  stats: { decisions: Record<string, number>; statuses: Record<string, number>; byZone: Record<string, number> };
  redisPeak: number;
  apiPeakRss: number;
  plannerPeakRss: number[];
  checks: { timers: number; audited: number; queued: number; jobs: number };
}

async function runCampaign(e: TestEngine, redis: Redis): Promise<CampaignFigures> {
  const created = await e.api('POST', '/v1/campaigns', {
    name: `bench ${fmt(N)}`,
    channel: 'sms',
    purpose: 'informational',
    policy: 'next_slot',
    message: { body: 'Your appointment is tomorrow at 10:00. Reply STOP to opt out.' },
    sendAt: SEND_AT,
    audience: { upload: true },
  });
  if (created.status !== 201) throw new Error(`create: ${created.status} ${JSON.stringify(created.body)}`);
  const id = created.body.id as string;

  const planners: ChildProcess[] = [];
  for (let i = 0; i < PLANNERS; i++) {
    // BENCH_CPU_PROF=<dir>: the planner processes write V8 CPU profiles there.
    const prof = process.env['BENCH_CPU_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_CPU_PROF']}`] : [];
    const child = spawn(process.execPath, [...prof, '--import', 'tsx', PLANNER, 'planner'], {
      cwd: ROOT,
      env: { ...process.env, ...e.env, TEST_CLOCK_OFFSET_MS: String(e.clock.offset), PLAN_CONCURRENCY: String(PLAN_CONCURRENCY), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    planners.push(child);
  }
  const redisPeak = sampler(async () => (await redisMemory(redis)).used);
  const apiRss = sampler(() => process.memoryUsage().rss);
  const plannerRss = planners.map((p) => sampler(() => peakRss(p.pid!), 1000));
  try {
    const t0 = performance.now();
    const res = await fetch(`${e.url}/v1/campaigns/${id}/audience`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${e.key}`, 'content-type': 'text/csv' },
      body: Readable.toWeb(Readable.from(csv(N))) as unknown as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    const uploaded = (await res.json()) as { status: string; progress: { rows: number; errors: number; chunksTotal: number } };
    if (res.status !== 200) throw new Error(`upload: ${res.status} ${JSON.stringify(uploaded)}`);
    const t1 = performance.now();
    log(`uploaded ${fmt(uploaded.progress.rows)} rows (${fmt(uploaded.progress.errors)} bad) in ${fmt((t1 - t0) / 1000, 1)} s; ${uploaded.progress.chunksTotal} chunks`);
    let last = 0;
    let view: { status: string; progress: { chunksDone: number; chunksTotal: number; planned: number; errors: number; rows: number }; stats: { decisions: Record<string, number>; statuses: Record<string, number>; sendTimes: { byZone: Record<string, number> } } };
    for (;;) {
      view = (await e.api('GET', `/v1/campaigns/${id}`)).body;
      if (view.status === 'planned') break;
      if (view.status !== 'planning') throw new Error(`campaign ${view.status}`);
      for (const p of planners) if (p.exitCode !== null) throw new Error(`a planner exited (${p.exitCode})`);
      if (performance.now() - last > 10_000) {
        last = performance.now();
        log(`planning: ${view.progress.chunksDone}/${view.progress.chunksTotal} chunks, ${fmt(view.progress.planned)} rows, ${fmt(view.progress.planned / ((performance.now() - t1) / 1000))} rows/s`);
      }
      await sleep(250);
    }
    const t2 = performance.now();
    // `planned` is committed just before the last chunks hand their near-term timers to BullMQ (after their commit): let them finish.
    const jobCount = () => new Queue(TIMERS_QUEUE, { connection: redis, prefix: bullPrefix(e.prefix, TIMERS_QUEUE) }).getJobCountByTypes('delayed', 'waiting', 'active');
    for (let i = 0, last = -1; i < 40; i++) {
      const queuedNow = await e.rt.prisma.timer.count({ where: { campaignId: id, status: 'queued' } });
      if (queuedNow === last) break;
      last = queuedNow;
      await sleep(250);
    }
    const [timers, audited, queued] = await Promise.all([
      e.rt.prisma.timer.count({ where: { campaignId: id } }),
      e.rt.prisma.auditEntry.count({ where: { orgId: e.orgId, campaignId: id, action: 'timer.created' } }),
      e.rt.prisma.timer.count({ where: { campaignId: id, status: 'queued' } }),
    ]);
    const jobs = await jobCount();
    return {
      rows: view.progress.rows,
      good: view.progress.planned - (view.stats as unknown as { errors: number }).errors,
      errors: view.progress.errors,
      uploadMs: t1 - t0,
      planMs: t2 - t1,
      totalMs: t2 - t0,
      nearTerm: queued,
      stats: { decisions: view.stats.decisions, statuses: view.stats.statuses, byZone: view.stats.sendTimes.byZone },
      redisPeak: Math.max(await redisPeak.stop(), (await redisMemory(redis)).peak),
      apiPeakRss: Math.max(await apiRss.stop(), peakRss(process.pid)),
      plannerPeakRss: await Promise.all(plannerRss.map((s, i) => s.stop().then((m) => Math.max(m, peakRss(planners[i]!.pid!))))),
      checks: { timers, audited, queued, jobs },
    };
  } finally {
    for (const p of planners) {
      if (p.exitCode === null) {
        p.kill('SIGTERM');
        await Promise.race([new Promise((r) => p.once('exit', r)), sleep(10_000)]);
        if (p.exitCode === null) p.kill('SIGKILL');
      }
    }
  }
}

// ---- baselines ---------------------------------------------------------------------------------

async function bullmqAddBulk(redisUrl: string, n: number): Promise<{ ms: number; memory: number }> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(`baseline-${Date.now()}`, { connection, prefix: 'bench' });
  const before = (await redisMemory(connection)).used;
  const t0 = performance.now();
  for (let i = 0; i < n; i += BATCH) {
    const size = Math.min(BATCH, n - i);
    await queue.addBulk(Array.from({ length: size }, (_, k) => ({ name: 'timer.fire', data: { timerId: `00000000-0000-4000-8000-${String(i + k).padStart(12, '0')}`, sendAt: 1796821500000 }, opts: { jobId: `b${i + k}`, delay: 3_600_000, removeOnComplete: true } })));
  }
  const ms = performance.now() - t0;
  const memory = (await redisMemory(connection)).used - before;
  await queue.obliterate({ force: true });
  await queue.close();
  connection.disconnect();
  return { ms, memory };
}

/**
 * Writes the rows the plan wrote (its contacts, timers and `timer.created` audit entries, as they
 * are) into empty copies of the tables (LIKE the real ones, same defaults and indexes) with one
 * `COPY bench_<table> (…) FROM STDIN` (text format) per table, over one connection.
 *
 * Read first, untimed: each table's rows are read with `COPY (SELECT …) TO STDOUT` (heap order,
 * i.e. roughly the order the plan wrote them) and spooled to a temporary file (removed at the end).
 * Timed, per table, summed: from sending `COPY … FROM STDIN` until the server has acknowledged the
 * end of the copy (CommandComplete, ReadyForQuery: the rows are committed), with the spooled file
 * streamed into it meanwhile (read from the local disk, normally the page cache). Not timed:
 * creating the tables, the reads, the spooling.
 */
async function postgresCopy(databaseUrl: string, campaignId: string): Promise<{ ms: number; rows: number; byTable: Record<string, number> }> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-campaign-copy-'));
  try {
    for (const t of ['contacts', 'timers', 'audit_entries']) {
      await db.query(`DROP TABLE IF EXISTS bench_${t}; CREATE TABLE bench_${t} (LIKE ${t} INCLUDING DEFAULTS INCLUDING INDEXES)`);
    }
    const id = `${db.escapeLiteral(campaignId)}::uuid`;
    const byTable: Record<string, number> = {};
    let rows = 0;
    let ms = 0;
    /** Reads `from … where` (these columns) to a file, then COPYs that file into bench_<table>. */
    const copy = async (table: string, columns: string[], fromWhere: string) => {
      const file = path.join(dir, `${table}.tsv`);
      const out = db.query(copyTo(`COPY (SELECT ${columns.join(', ')} ${fromWhere}) TO STDOUT`));
      await pipeline(out, createWriteStream(file));
      const t0 = performance.now();
      const into = db.query(copyFrom(`COPY bench_${table} (${columns.join(', ')}) FROM STDIN`));
      await pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), into);
      ms += performance.now() - t0;
      if (into.rowCount !== out.rowCount) throw new Error(`COPY ${table}: read ${out.rowCount} rows, wrote ${into.rowCount}`);
      rows += into.rowCount;
      byTable[table] = into.rowCount;
      await rm(file);
    };
    await copy(
      'contacts',
      ['id', 'org_id', 'external_id', 'phone_e164', 'phone_hash', 'zip', 'state', 'candidates', 'location_issues', 'created_at', 'updated_at'],
      // The bench's org has this one campaign: its contacts are the campaign's.
      `FROM contacts WHERE org_id = (SELECT org_id FROM campaigns WHERE id = ${id})`,
    );
    await copy(
      'timers',
      ['id', 'org_id', 'contact_id', 'campaign_id', 'campaign_row', 'channel', 'purpose', 'policy', 'subject', 'requested_at', 'send_at', 'not_after', 'status', 'payload', 'calendar_version', 'decision', 'created_at', 'updated_at'],
      `FROM timers WHERE campaign_id = ${id}`,
    );
    await copy(
      'audit_entries',
      ['org_id', 'seq', 'timer_id', 'contact_id', 'campaign_id', 'action', 'decision', 'data', 'prev_hash', 'hash', 'created_at'],
      `FROM audit_entries WHERE campaign_id = ${id} AND action = 'timer.created'`,
    );
    return { ms, rows, byTable };
  } finally {
    for (const t of ['contacts', 'timers', 'audit_entries']) await db.query(`DROP TABLE IF EXISTS bench_${t}`).catch(() => undefined);
    await db.end();
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- main --------------------------------------------------------------------------------------

async function baselinesOnly(databaseUrl: string): Promise<void> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const { rows } = await db.query<{ id: string; n: number }>(`SELECT c.id::text AS id, (SELECT count(*)::int FROM timers t WHERE t.campaign_id = c.id) AS n FROM campaigns c WHERE c.status = 'planned' ORDER BY c.created_at DESC LIMIT 1`);
  await db.end();
  const c = rows[0];
  if (!c) throw new Error('no planned campaign in that database');
  const redis = await startPrivateRedis();
  try {
    log(`baselines for campaign ${c.id} (${fmt(c.n)} timers)`);
    const bull = await bullmqAddBulk(redis.url, c.n);
    log(`BullMQ addBulk: ${fmt(c.n / (bull.ms / 1000))} jobs/s (${fmt(bull.ms / 1000, 1)} s, +${mb(bull.memory)} Redis)`);
    const pgBase = await postgresCopy(databaseUrl, c.id);
    log(`Postgres COPY: ${fmt(c.n / (pgBase.ms / 1000))} contacts/s (${fmt(pgBase.rows)} rows in ${fmt(pgBase.ms / 1000, 1)} s, ${fmt(pgBase.rows / (pgBase.ms / 1000))} rows/s)`);
    process.stdout.write(`${JSON.stringify({ bench: 'campaign-baselines', timers: c.n, bullmqAddBulkJobsPerSecond: Math.round(c.n / (bull.ms / 1000)), bullmqRedisBytes: bull.memory, postgresCopyContactsPerSecond: Math.round(c.n / (pgBase.ms / 1000)), postgresRows: pgBase.rows, postgresRowsPerSecond: Math.round(pgBase.rows / (pgBase.ms / 1000)) })}\n`);
  } finally {
    await redis.stop();
  }
}

async function main(): Promise<void> {
  const only = opt('baselines-only');
  if (only) return baselinesOnly(only);
  for (const p of PLACES) if (!resolveLocation({ zip: p.zip, phone: `+1${p.npa}2015550` }).resolved) throw new Error(`bench place ${p.zip}/${p.npa} does not resolve`);
  log(`${fmt(N)} contacts, ${PLANNERS} planner process(es) × concurrency ${PLAN_CONCURRENCY}; ${os.cpus().length} cores, node ${process.version}`);
  const redis = await startPrivateRedis();
  const e = await startEngine({ redisUrl: redis.url, parts: [], clockOffsetMs: offsetTo(ENGINE_INSTANT), env: { LOG_LEVEL: 'warn' } });
  let figures: CampaignFigures | undefined;
  try {
    figures = await runCampaign(e, redis.admin);
    const rate = (ms: number, n = figures!.rows) => n / (ms / 1000);
    log(`planned ${fmt(figures.good)} timers in ${fmt(figures.totalMs / 1000, 1)} s; baselines…`);
    const bull = await bullmqAddBulk(redis.url, figures.good);
    const campaignId = (await e.rt.prisma.campaign.findFirstOrThrow({ where: { orgId: e.orgId } })).id;
    const pgBase = await postgresCopy(e.env['DATABASE_URL']!, campaignId);

    const rowsOut = [
      ['campaign end to end (upload → planned)', `${fmt(rate(figures.totalMs))} contacts/s`, `${fmt(figures.totalMs / 1000, 1)} s`],
      ['  upload (stream, validate, place, chunk)', `${fmt(rate(figures.uploadMs))} rows/s`, `${fmt(figures.uploadMs / 1000, 1)} s`],
      [`  planning (${PLANNERS} planners × ${PLAN_CONCURRENCY})`, `${fmt(rate(figures.planMs, figures.good))} contacts/s`, `${fmt(figures.planMs / 1000, 1)} s`],
      ['baseline: BullMQ addBulk, same number of jobs', `${fmt(figures.good / (bull.ms / 1000))} jobs/s`, `${fmt(bull.ms / 1000, 1)} s, +${mb(bull.memory)} Redis`],
      [`baseline: Postgres COPY of the same rows (${fmt(pgBase.rows)}: contacts, timers, audit)`, `${fmt(figures.good / (pgBase.ms / 1000))} contacts/s`, `${fmt(pgBase.ms / 1000, 1)} s (${fmt(pgBase.rows / (pgBase.ms / 1000))} rows/s)`],
      ['peak Redis used_memory (campaign)', mb(figures.redisPeak), `${fmt(figures.nearTerm)} near-term timers queued`],
      ['peak RSS: API process (upload)', mb(figures.apiPeakRss), ''],
      ['peak RSS: planners', figures.plannerPeakRss.map(mb).join(', '), ''],
    ];
    const w0 = Math.max(...rowsOut.map((r) => r[0]!.length));
    const w1 = Math.max(...rowsOut.map((r) => r[1]!.length));
    process.stdout.write(`\ncampaign of ${fmt(N)} contacts (${fmt(figures.errors)} bad rows) on ${os.cpus().length} cores; calendar decisions, timers, audit entries, near-term enqueue\n\n`);
    for (const r of rowsOut) process.stdout.write(`${r[0]!.padEnd(w0)}  ${r[1]!.padStart(w1)}   ${r[2]}\n`);
    process.stdout.write(`\ndecisions ${JSON.stringify(figures.stats.decisions)}  statuses ${JSON.stringify(figures.stats.statuses)}\n`);
    process.stdout.write(`checks: timers ${fmt(figures.checks.timers)} = audit timer.created ${fmt(figures.checks.audited)} = good rows ${fmt(figures.good)}; queued ${fmt(figures.checks.queued)}, BullMQ jobs ${fmt(figures.checks.jobs)}\n`);
    if (figures.checks.timers !== figures.good || figures.checks.audited !== figures.good) process.stdout.write('CHECK FAILED: timers/audit entries differ from the good rows\n');
    process.stdout.write(
      `${JSON.stringify({
        bench: 'campaign',
        contacts: N,
        good: figures.good,
        errors: figures.errors,
        planners: PLANNERS,
        planConcurrency: PLAN_CONCURRENCY,
        contactsPerSecond: Math.round(rate(figures.totalMs)),
        uploadRowsPerSecond: Math.round(rate(figures.uploadMs)),
        planningContactsPerSecond: Math.round(rate(figures.planMs, figures.good)),
        bullmqAddBulkJobsPerSecond: Math.round(figures.good / (bull.ms / 1000)),
        postgresCopyContactsPerSecond: Math.round(figures.good / (pgBase.ms / 1000)),
        postgresBaseline: 'COPY … FROM STDIN (text format, one per table, one connection); writes timed, reads not',
        redisPeakBytes: figures.redisPeak,
        apiPeakRssBytes: figures.apiPeakRss,
        plannerPeakRssBytes: figures.plannerPeakRss,
        nearTerm: figures.nearTerm,
      })}\n`,
    );
  } finally {
    await e.stop();
    await redis.stop();
  }
}

await main();
