/**
 * `npm run bench:timers [-- --quick]`: timer creation through the API, beside a peer measured in
 * the same run. Not a test: it prints a table and one JSON line.
 *
 * The engine: the API alone in its own process (`src/api/main.ts`, what `npm run start:api` runs),
 * on a fresh Postgres database and a private redis-server, with the org's API rate limit raised out
 * of the way. Two rounds:
 *  (1) `POST /v1/timers`, C concurrent clients (50; --clients=C) over kept-alive connections, one
 *      timer per request, N requests (20,000; 4,000 with --quick), each for a distinct contact (new
 *      numbers over 25 cities in 6 zones), every fifth with an Idempotency-Key;
 *  (2) `POST /v1/timers/batch`, B concurrent clients (4; --batch-clients=B), 1,000 timers per
 *      request, M timers (100,000; 20,000 with --quick), every item with an idempotency key.
 * Each request is checked (201 / 200 and every item `scheduled`), so a figure is never one of errors.
 *
 * The peer, same machine, same run, same Postgres: a minimal Express 5 app in its own process, the
 * same JSON body parser, one pg pool of the engine's size, doing what a plain "store a row per
 * request" service does: (1) one INSERT of one row (the timer's columns, a JSON payload) per
 * request, the same clients; (2) one multi-row INSERT (unnest) of the request's 1,000 rows.
 *
 * BENCH_CPU_PROF=<dir>: the API and the peer write V8 CPU profiles there.
 *
 * Options: --quick; --timers=N; --batch-timers=M; --clients=C; --batch-clients=B; --skip-single;
 * --skip-batch.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const opt = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const QUICK = flag('quick');
const N = Number(opt('timers') ?? (QUICK ? 4_000 : 20_000));
const M = Number(opt('batch-timers') ?? (QUICK ? 20_000 : 100_000));
const CLIENTS = Number(opt('clients') ?? 50);
const BATCH_CLIENTS = Number(opt('batch-clients') ?? 4);
const PER_BATCH = 1_000;
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const log = (msg: string) => process.stderr.write(`[bench:timers ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Cities: a zip and an area code of the same place. */
const PLACES: Array<{ zip: string; npa: string }> = [
  { zip: '10001', npa: '212' }, { zip: '90012', npa: '213' }, { zip: '60601', npa: '312' }, { zip: '77002', npa: '713' }, { zip: '85004', npa: '602' },
  { zip: '19103', npa: '215' }, { zip: '78205', npa: '210' }, { zip: '92101', npa: '619' }, { zip: '75201', npa: '214' }, { zip: '78701', npa: '512' },
  { zip: '32202', npa: '904' }, { zip: '43215', npa: '614' }, { zip: '28202', npa: '704' }, { zip: '46204', npa: '317' }, { zip: '98101', npa: '206' },
  { zip: '80202', npa: '303' }, { zip: '02108', npa: '617' }, { zip: '48226', npa: '313' }, { zip: '37203', npa: '615' }, { zip: '97204', npa: '503' },
  { zip: '89101', npa: '702' }, { zip: '33130', npa: '305' }, { zip: '30303', npa: '404' }, { zip: '99501', npa: '907' }, { zip: '96813', npa: '808' },
];

/** Contact k (distinct numbers: exchange 2XX except N11, line from k). `base` keeps the two rounds' numbers apart. */
function contactOf(k: number, base: number): { phone: string; zip: string } {
  const place = PLACES[k % PLACES.length]!;
  const j = base + Math.floor(k / PLACES.length);
  const exchange = 200 + (Math.floor(j / 10_000) % 800);
  const ex = exchange % 100 === 11 ? exchange + 1 : exchange;
  return { phone: `+1${place.npa}${ex}${String(j % 10_000).padStart(4, '0')}`, zip: place.zip };
}

/** A weekday two days ahead at 18:00 UTC: inside every US zone's window but Hawaii's and Alaska's mornings (next_slot moves those). */
function sendInstant(): string {
  const d = new Date();
  d.setUTCDate(d.getUTCDate() + 2);
  while (d.getUTCDay() === 0 || d.getUTCDay() === 6) d.setUTCDate(d.getUTCDate() + 1);
  d.setUTCHours(18, 0, 0, 0);
  return d.toISOString();
}

function timerBody(k: number, base: number, at: string): Record<string, unknown> {
  return { contact: contactOf(k, base), channel: 'sms', at, policy: 'next_slot', purpose: 'informational', message: { body: `Your appointment #${k} is confirmed.` } };
}

// ---- a small keep-alive HTTP client -----------------------------------------------------------------

interface Answer {
  status: number;
  text: string;
}

function post(agent: http.Agent, url: URL, body: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

interface RoundResult {
  timers: number;
  requests: number;
  ms: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/** `requests` requests by `clients` concurrent clients; `make(i)` gives request i's body, headers and how many timers it holds; `check` throws on a wrong answer. */
async function round(
  url: string,
  clients: number,
  requests: number,
  make: (i: number) => { body: string; headers: Record<string, string>; timers: number },
  check: (a: Answer, i: number) => void,
): Promise<RoundResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const target = new URL(url);
  const latencies: number[] = [];
  let next = 0;
  let timers = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = next++; i < requests; i = next++) {
        const r = make(i);
        const s = performance.now();
        const a = await post(agent, target, r.body, r.headers);
        latencies.push(performance.now() - s);
        check(a, i);
        timers += r.timers;
      }
    }),
  );
  const ms = performance.now() - t0;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  return { timers, requests, ms, perSecond: timers / (ms / 1000), p50Ms: q(0.5), p99Ms: q(0.99) };
}

// ---- processes ----------------------------------------------------------------------------------------

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function waitHttp(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const until = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`process exited (${child.exitCode}): ${stderr()}`);
    try {
      const res = await fetch(url);
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`${url} did not answer: ${stderr()}`);
    await sleep(200);
  }
}

function spawnNode(args: string[], env: Record<string, string>): { child: ChildProcess; stderr: () => string; stop: () => Promise<void> } {
  // BENCH_CPU_PROF=<dir>: the child processes write V8 CPU profiles there.
  const prof = process.env['BENCH_CPU_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_CPU_PROF']}`] : [];
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', ...args], { cwd: ROOT, env: { ...process.env, TZ: 'UTC', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  return {
    child,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(15_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

interface PrivateRedis {
  url: string;
  stop: () => Promise<void>;
}

async function privateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const { Redis } = await import('ioredis');
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  probe.on('error', () => {});
  for (let i = 0; ; i++) {
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch {
      if (i > 50) throw new Error('private redis-server did not start');
      await sleep(100);
    }
  }
  probe.disconnect();
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

// ---- the peer (a child process: this file with BENCH_PEER_CHILD=1) ---------------------------------

const PEER_TABLE = `CREATE TABLE IF NOT EXISTS peer_timers (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), org_id uuid NOT NULL, phone text NOT NULL, zip text, channel text NOT NULL, policy text NOT NULL,
  requested_at timestamptz NOT NULL, status text NOT NULL, payload jsonb NOT NULL, idempotency_key text, created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, idempotency_key))`;

async function peerChild(): Promise<void> {
  const express = (await import('express')).default;
  const pool = new pg.Pool({ connectionString: process.env['DATABASE_URL'], max: Number(process.env['DATABASE_POOL_SIZE'] ?? 10) });
  await pool.query(PEER_TABLE);
  const org = '00000000-0000-4000-8000-000000000001';
  const app = express();
  app.use(express.json({ limit: '2mb', strict: true }));
  type Item = { contact: { phone: string; zip: string }; channel: string; policy: string; at: string; message: unknown; idempotencyKey?: string };
  app.post('/peer/timers', async (req, res) => {
    const b = req.body as Item;
    const { rows } = await pool.query(
      `INSERT INTO peer_timers (org_id, phone, zip, channel, policy, requested_at, status, payload, idempotency_key) VALUES ($1, $2, $3, $4, $5, $6, 'scheduled', $7, $8) RETURNING *`,
      [org, b.contact.phone, b.contact.zip, b.channel, b.policy, b.at, JSON.stringify(b.message), req.get('idempotency-key') ?? null],
    );
    res.status(201).json(rows[0]);
  });
  app.post('/peer/timers/batch', async (req, res) => {
    const items = (req.body as { items: Item[] }).items;
    const { rows } = await pool.query(
      `INSERT INTO peer_timers (org_id, phone, zip, channel, policy, requested_at, status, payload, idempotency_key)
       SELECT $1, x.phone, x.zip, x.channel, x.policy, x.at, 'scheduled', x.p::jsonb, x.k
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::text[]) AS x(phone, zip, channel, policy, at, p, k)
       RETURNING *`,
      [org, items.map((i) => i.contact.phone), items.map((i) => i.contact.zip), items.map((i) => i.channel), items.map((i) => i.policy), items.map((i) => i.at), items.map((i) => JSON.stringify(i.message)), items.map((i) => i.idempotencyKey ?? null)],
    );
    res.status(200).json({ results: rows.map((r: unknown, index: number) => ({ index, status: 201, timer: r })) });
  });
  const server = app.listen(Number(process.env['PORT']), '127.0.0.1');
  process.on('SIGTERM', () => server.close(() => void pool.end().then(() => process.exit(0))));
}

// ---- main -------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { freshDatabase } = await import('../test/helpers/db.ts');
  const { createPrisma } = await import('../src/adapters/db/client.ts');
  const { createApiKey } = await import('../src/adapters/auth/api-keys.ts');
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  log(`machine: ${os.cpus().length} cores, load average ${load}; ${N} single requests × ${CLIENTS} clients, ${M} batch timers × ${BATCH_CLIENTS} clients`);

  const db = await freshDatabase();
  const redis = await privateRedis();
  const poolSize = '10';
  const apiPort = await freePort();
  const peerPort = await freePort();
  const prefix = `bt${randomBytes(3).toString('hex')}`;
  const prisma = createPrisma(db.url);
  const { orgId, key } = await createApiKey(prisma, { orgName: 'bench', role: 'admin' });
  await prisma.org.update({ where: { id: orgId }, data: { settings: { rateLimitPerMinute: 1_000_000, requireConsentForMarketing: false } } });
  await prisma.disconnect();

  const api = spawnNode(['src/api/main.ts'], {
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: prefix,
    PORT: String(apiPort),
    HOST: '127.0.0.1',
    DATABASE_POOL_SIZE: poolSize,
    LOG_LEVEL: 'warn',
    TCPA_SECRET_KEY: randomBytes(32).toString('base64'),
    PUBLIC_BASE_URL: `http://127.0.0.1:${apiPort}`,
    // The API sends nothing; a sender must still be configured (pointed at a port nobody listens on).
    TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
    TWILIO_AUTH_TOKEN: randomBytes(16).toString('hex'),
    TWILIO_FROM: '+15005550006',
    TWILIO_API_BASE: `http://127.0.0.1:${peerPort + 1}`,
  });
  const peer = spawnNode([fileURLToPath(import.meta.url)], { BENCH_PEER_CHILD: '1', DATABASE_URL: db.url, PORT: String(peerPort), DATABASE_POOL_SIZE: poolSize });
  const results: Record<string, RoundResult> = {};
  try {
    await waitHttp(`http://127.0.0.1:${apiPort}/healthz`, api.child, api.stderr);
    await waitHttp(`http://127.0.0.1:${peerPort}/`, peer.child, peer.stderr);
    const at = sendInstant();
    const auth = { authorization: `Bearer ${key}` };
    const expectStatus = (want: number[]) => (a: Answer, i: number) => {
      if (!want.includes(a.status)) throw new Error(`request ${i}: HTTP ${a.status} ${a.text.slice(0, 300)}`);
    };
    const expectScheduled = (a: Answer, i: number) => {
      expectStatus([201, 200])(a, i);
      const s = (JSON.parse(a.text) as { status: string }).status;
      if (s !== 'scheduled') throw new Error(`request ${i}: timer ${s}: ${a.text.slice(0, 300)}`);
    };
    const expectBatch = (a: Answer, i: number) => {
      expectStatus([200])(a, i);
      const body = JSON.parse(a.text) as { results: Array<{ status: number; timer?: { status: string }; error?: unknown }> };
      const bad = body.results.find((r) => (r.status !== 201 && r.status !== 200) || (r.timer && r.timer.status !== 'scheduled'));
      if (bad) throw new Error(`batch ${i}: an item answered ${JSON.stringify(bad).slice(0, 300)}`);
    };
    const single = (base: number) => (i: number) => ({ body: JSON.stringify(timerBody(i, base, at)), headers: { ...auth, ...(i % 5 === 0 ? { 'idempotency-key': `s-${base}-${i}` } : {}) }, timers: 1 });
    const batch = (base: number) => (i: number) => ({
      body: JSON.stringify({ items: Array.from({ length: PER_BATCH }, (_, k) => ({ ...timerBody(i * PER_BATCH + k, base, at), idempotencyKey: `b-${base}-${i}-${k}` })) }),
      headers: auth,
      timers: PER_BATCH,
    });
    // Warm-up: both servers' code paths and connections (not measured).
    await round(`http://127.0.0.1:${apiPort}/v1/timers`, 10, 200, single(9_000_000), expectScheduled);
    await round(`http://127.0.0.1:${peerPort}/peer/timers`, 10, 200, single(9_000_000), expectStatus([201]));

    if (!flag('skip-single')) {
      log('round 1: POST /v1/timers');
      results['engine.single'] = await round(`http://127.0.0.1:${apiPort}/v1/timers`, CLIENTS, N, single(0), expectScheduled);
      log(`engine ${fmt(results['engine.single'].perSecond)} timers/s`);
      results['peer.single'] = await round(`http://127.0.0.1:${peerPort}/peer/timers`, CLIENTS, N, single(0), expectStatus([201]));
      log(`peer ${fmt(results['peer.single'].perSecond)} rows/s`);
    }
    if (!flag('skip-batch')) {
      log('round 2: POST /v1/timers/batch');
      await round(`http://127.0.0.1:${apiPort}/v1/timers/batch`, 1, 1, batch(8_000_000), expectBatch);
      results['engine.batch'] = await round(`http://127.0.0.1:${apiPort}/v1/timers/batch`, BATCH_CLIENTS, Math.ceil(M / PER_BATCH), batch(1_000_000), expectBatch);
      log(`engine ${fmt(results['engine.batch'].perSecond)} timers/s`);
      results['peer.batch'] = await round(`http://127.0.0.1:${peerPort}/peer/timers/batch`, BATCH_CLIENTS, Math.ceil(M / PER_BATCH), batch(1_000_000), expectStatus([200]));
      log(`peer ${fmt(results['peer.batch'].perSecond)} rows/s`);
    }
  } finally {
    await Promise.all([api.stop(), peer.stop()]);
    await redis.stop();
    await db.drop();
  }

  const row = (label: string, r: RoundResult | undefined, unit: string) =>
    r ? `| ${label} | **${fmt(r.perSecond)} ${unit}/s** (${fmt(r.timers)} in ${fmt(r.ms / 1000, 1)} s; p50 ${fmt(r.p50Ms)} ms, p99 ${fmt(r.p99Ms)} ms) |` : null;
  const ratio = (a?: RoundResult, b?: RoundResult) => (a && b ? `| engine ÷ peer | ${fmt(a.perSecond / b.perSecond, 2)}× |` : null);
  console.log(`\nenvironment: ${os.cpus().length} cores, node ${process.version}, load average at start ${load}${QUICK ? '; --quick' : ''}\n`);
  console.log('| figure | value |');
  console.log('| --- | --- |');
  for (const line of [
    row(`POST /v1/timers, ${CLIENTS} clients, one timer per request`, results['engine.single'], 'timers'),
    row(`peer: Express + one INSERT per request, ${CLIENTS} clients`, results['peer.single'], 'rows'),
    ratio(results['engine.single'], results['peer.single']),
    row(`POST /v1/timers/batch, ${BATCH_CLIENTS} clients × ${fmt(PER_BATCH)} timers per request`, results['engine.batch'], 'timers'),
    row(`peer: Express + one ${fmt(PER_BATCH)}-row INSERT per request, ${BATCH_CLIENTS} clients`, results['peer.batch'], 'rows'),
    ratio(results['engine.batch'], results['peer.batch']),
  ]) {
    if (line) console.log(line);
  }
  console.log(`\n${JSON.stringify({ bench: 'timers', quick: QUICK, load, clients: CLIENTS, batchClients: BATCH_CLIENTS, results })}`);
}

if (process.env['BENCH_PEER_CHILD']) await peerChild();
else await main();
