/**
 * The engine under failure, end to end on real processes:
 *
 * 1. A dispatcher process SIGKILLed while its sends are in flight: its claimed timers expire into
 *    `unknown` and are settled by the provider's status callbacks, never resent; the rest are sent
 *    by another dispatcher. Exactly one message per contact, nothing lost.
 * 1b. The same kill with the status callbacks lost too: the reconciler finds each send in the
 *    provider's list (by body hash, sender and time) and settles it `delivered`; killed before the
 *    requests left, the provider has nothing, so each timer is queued once more and sent once.
 * 2. Redis loses its data (FLUSHALL on a private redis-server): the reconciler notices the missing
 *    marker and re-adds every queued timer; all are sent once, on time.
 * 3. Postgres unreachable (the engine's DATABASE_URL goes through a TCP proxy the test takes down):
 *    the API answers 503 UNAVAILABLE with Retry-After, jobs fail and retry with backoff, and once
 *    Postgres is back every timer is sent once.
 *
 * The engine's clock is pinned to a Tuesday noon in New York (real clock + offset), and the child
 * dispatcher gets the same offset, so the calendars allow every send whenever the suite runs.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { queueMarkerKey } from '../../src/adapters/queue/keys.ts';
import { serverUrl, withClient } from '../helpers/db.ts';
import { freePort, offsetTo, smsBody, startEngine, until, type TestEngine } from '../helpers/engine.ts';
import { alive, captureOutput, stopChild } from '../helpers/processes.ts';

// Tuesday 2026-12-08 12:00 in New York (17:00Z): inside every window for zip 10001.
const NOON_NY = '2026-12-08T17:00:00Z';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PART_FIXTURE = fileURLToPath(new URL('../fixtures/part-with-offset.ts', import.meta.url));

// ---------------------------------------------------------------------------------------------
// Clean-up: every resource registers its release; they run in reverse order, even on failure.
// ---------------------------------------------------------------------------------------------

const cleanups: Array<() => Promise<unknown> | unknown> = [];
const onCleanup = (fn: () => Promise<unknown> | unknown) => cleanups.push(fn);

afterEach(async () => {
  const errors: unknown[] = [];
  while (cleanups.length) {
    const fn = cleanups.pop()!;
    try {
      await fn();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length) throw new AggregateError(errors, 'clean-up failed');
});

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function phoneNumbers(n: number, block: number): string[] {
  // +1 212 555 01xx / 02xx …: the fictional 555-0100..0199 range, one number per timer.
  return Array.from({ length: n }, (_, i) => `+1212555${String(block * 100 + i).padStart(4, '0')}`);
}

/** Creates one SMS timer per phone; `at(i)` gives each one's due instant. Returns timerId → phone. */
async function createTimers(e: TestEngine, phones: readonly string[], at: (i: number) => number): Promise<Map<string, string>> {
  const created = await Promise.all(
    phones.map((phone, i) => e.api('POST', '/v1/timers', smsBody({ contact: { phone, zip: '10001' }, at: new Date(at(i)).toISOString() }))),
  );
  const byId = new Map<string, string>();
  created.forEach((res, i) => {
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ status: 'scheduled', decision: 'send' });
    byId.set(res.body.id as string, phones[i]!);
  });
  return byId;
}

async function timerRows(e: TestEngine, ids: readonly string[]) {
  return e.rt.prisma.timer.findMany({
    where: { id: { in: [...ids] } },
    select: { id: true, status: true, attempts: true, leaseOwner: true, lastError: true, sendAt: true, sentAt: true, providerId: true },
  });
}

function countBy<T>(items: readonly T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const it of items) out[key(it)] = (out[key(it)] ?? 0) + 1;
  return out;
}

/** Waits until every timer is in one of `statuses`; on timeout the error lists where they are. */
async function waitForStatuses(e: TestEngine, ids: readonly string[], statuses: readonly string[], timeoutMs: number) {
  let last: Awaited<ReturnType<typeof timerRows>> = [];
  try {
    return await until(async () => {
      last = await timerRows(e, ids);
      return last.length === ids.length && last.every((t) => statuses.includes(t.status)) ? last : null;
    }, timeoutMs, 250);
  } catch {
    throw new Error(`timers not all ${statuses.join('/')} within ${timeoutMs} ms: ${JSON.stringify(countBy(last, (t) => `${t.status}${t.lastError ? `(${t.lastError})` : ''}`))}`);
  }
}

/** Messages the emulator created (rejected requests excluded), per recipient; idempotent replays counted apart. */
function emulatorTally(e: TestEngine) {
  const records = e.emulator.emulator.messages();
  const created = records.filter((m) => m.sid !== null);
  return {
    createdPerTo: countBy(created, (m) => String(m.params['To'])),
    created,
    rejected: records.filter((m) => m.sid === null),
    replays: records.reduce((n, m) => n + m.replays, 0),
  };
}

/** The invariant every scenario ends with: one message per timer, to its own number, nothing else. */
function expectExactlyOneMessageEach(e: TestEngine, timers: Map<string, string>) {
  const tally = emulatorTally(e);
  expect(tally.rejected).toHaveLength(0);
  const expected = Object.fromEntries([...timers.values()].map((p) => [p, 1]));
  expect(tally.createdPerTo).toEqual(expected);
  // The send carries the timer id as its idempotency token: each timer produced its own message.
  expect(new Set(tally.created.map((m) => m.idempotencyToken))).toEqual(new Set(timers.keys()));
  if (tally.replays > 0) {
    // A replay is the same request answered again from the first one: not a second send.
    console.info(`note: the emulator answered ${tally.replays} idempotent replay(s)`);
  }
  return tally;
}

/** A timer's audit actions in chain order, as a reader sees them (staged entries linked first). */
async function auditActions(e: TestEngine, timerId: string): Promise<string[]> {
  await e.rt.ctx.audit.settle(e.orgId);
  const rows = await e.rt.prisma.auditEntry.findMany({ where: { timerId }, orderBy: { seq: 'asc' }, select: { action: true } });
  return rows.map((r) => r.action);
}

async function expectAuditChainOk(e: TestEngine) {
  const verify = await e.api('GET', '/v1/audit/verify');
  expect(verify.status).toBe(200);
  expect(verify.body).toMatchObject({ ok: true });
}

/** A redis-server of the test's own (FLUSHALL must not touch the shared one). */
async function startPrivateRedis(): Promise<{ url: string; stop: () => Promise<void> }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const output = captureOutput(proc);
    const url = `redis://127.0.0.1:${port}`;
    try {
      await until(async () => {
        if (!alive(proc)) throw new Error(`redis-server exited: ${output()}`);
        const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        c.on('error', () => {});
        try {
          await c.connect();
          return (await c.ping()) === 'PONG';
        } catch {
          return false;
        } finally {
          c.disconnect();
        }
      }, 10_000, 100);
      return { url, stop: () => stopChild(proc, 5000) };
    } catch (err) {
      await stopChild(proc, 2000);
      if (attempt >= 3) throw err; // the port was taken between freePort() and the bind: try another
    }
  }
}

/** A TCP proxy to `target` on a port of its own; `down()` refuses and cuts every connection, `up()` restores it. */
async function startTcpProxy(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = connect(target.port, target.host);
        for (const sock of [client, upstream]) {
          sockets.add(sock);
          sock.on('error', () => {});
          sock.on('close', () => {
            sockets.delete(sock);
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream);
        upstream.pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        s.off('error', reject);
        port = (s.address() as AddressInfo).port;
        server = s;
        resolve();
      });
    });

  const down = async () => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  await listen();
  return {
    get port() {
      return port;
    },
    get isUp() {
      return server !== undefined;
    },
    up: async () => {
      if (!server) await listen();
    },
    down,
  };
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

describe('engine resilience', () => {
  it('dispatcher killed with SIGKILL mid-send: no duplicate, nothing lost', async () => {
    const CHILD_CONCURRENCY = 5;
    const e = await startEngine({
      parts: ['pump', 'reconciler'],
      env: { LEASE: '3s', JOB_LOCK: '3s' },
      // Each create is answered after 1.5 s, so the child dies with its requests in flight; the
      // messages then wait 8 s at the "provider" before their first status callback, so the
      // leases (3 s) run out first and the callbacks settle `unknown` timers.
      emulator: { latencyMs: 1500, queueTimeMs: 8000, callbackDelayMs: 100 },
      clockOffsetMs: offsetTo(NOON_NY),
    });
    onCleanup(() => e.stop());

    const phones = phoneNumbers(20, 1);
    const timers = await createTimers(e, phones, () => e.clock.now());
    const ids = [...timers.keys()];
    await until(async () => (await timerRows(e, ids)).every((t) => t.status === 'queued'), 15_000);

    // A dispatcher in its own process, on the same clock offset, taking 5 jobs at a time.
    const child = spawn(process.execPath, ['--import', 'tsx', PART_FIXTURE, 'dispatcher'], {
      cwd: ROOT,
      env: { ...process.env, ...e.env, TEST_CLOCK_OFFSET_MS: String(e.clock.offset), DISPATCH_CONCURRENCY: String(CHILD_CONCURRENCY), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const childOutput = captureOutput(child);
    onCleanup(() => stopChild(child));

    // Kill it once it holds a full batch of claims and every claimed timer's request has reached
    // the provider (so nothing is claimed-but-never-sent), while the responses are still pending.
    const atKill = await until(async () => {
      if (!alive(child)) throw new Error(`the child dispatcher exited early (code ${child.exitCode}): ${childOutput()}`);
      const claimed = (await timerRows(e, ids)).filter((t) => t.status !== 'queued' && t.status !== 'scheduled');
      const received = new Set(e.emulator.emulator.messages().map((m) => m.idempotencyToken));
      return claimed.length >= CHILD_CONCURRENCY && claimed.every((t) => received.has(t.id)) ? claimed : null;
    }, 60_000, 25);
    child.kill('SIGKILL');
    if (alive(child)) await once(child, 'exit');
    expect(child.signalCode).toBe('SIGKILL');

    // Mid-flight: the provider got the requests, the dispatcher never heard back, so the timers are
    // still `sending` under the dead process's lease.
    const inFlight = atKill.filter((t) => t.status === 'sending' && t.leaseOwner?.includes(`:${child.pid}:`));
    expect(inFlight.length).toBeGreaterThanOrEqual(1);
    const receivedAtKill = emulatorTally(e).created.length;
    expect(receivedAtKill).toBeLessThan(phones.length); // the rest is still waiting in the queue

    // Another dispatcher takes over the waiting jobs (and the dead one's jobs once their lock expires).
    e.start('dispatcher');
    const final = await waitForStatuses(e, ids, ['delivered'], 60_000);

    // Never resent: one claim per timer, one message per number.
    for (const t of final) {
      expect(t.attempts, `attempts of ${t.id}`).toBe(1);
      expect(t.lastError, `lastError of ${t.id}`).toBeNull(); // not flagged NEEDS_REVIEW
    }
    expectExactlyOneMessageEach(e, timers);

    // The in-flight timers went sending → unknown (lease expired) → settled by the status callback.
    const expired: string[] = [];
    for (const t of inFlight) {
      const actions = await auditActions(e, t.id);
      expect(actions.slice(0, 2)).toEqual(['timer.created', 'timer.claimed']);
      expect(actions).not.toContain('timer.needs_review');
      expect(actions.filter((a) => a === 'timer.claimed')).toHaveLength(1);
      expect(actions.at(-1)).toBe('timer.delivered');
      if (actions.includes('timer.lease_expired')) expired.push(t.id);
    }
    expect(expired.length).toBeGreaterThanOrEqual(1);
    // Whatever the killed dispatcher staged but never linked is in the chain now (linked by a later pass or the reconciler).
    await until(async () => ((await e.rt.prisma.auditPending.count()) === 0 ? true : null), 10_000, 200);
    // Settled by the status callback or, if the reconciler asked first, from the provider's list.
    const moves = await e.rt.prisma.auditEntry.findMany({ where: { timerId: { in: expired }, action: { in: ['timer.sent', 'timer.delivered'] } }, select: { timerId: true, data: true } });
    const settledBy = moves.filter((a) => (a.data as { via?: string }).via !== undefined);
    expect(new Set(settledBy.map((a) => a.timerId))).toEqual(new Set(expired));
    for (const a of settledBy) expect(['status-callback', 'provider-list']).toContain((a.data as { via?: string }).via);

    await expectAuditChainOk(e);
  }, 90_000);

  it('the provider takes each message but answers after the client gave up: `unknown`, settled by the callbacks, never resent', async () => {
    // Each create is stored at once and answered after 2.5 s, its first callback after 4 s; the engine waits 1 s (TWILIO_TIMEOUT).
    // Retrying such a send would send it twice (Twilio's create takes no idempotency key).
    const e = await startEngine({ env: { TWILIO_TIMEOUT: '1s' }, emulator: { latencyMs: 2500, queueTimeMs: 4000, callbackDelayMs: 100 }, clockOffsetMs: offsetTo(NOON_NY) });
    onCleanup(() => e.stop());
    const phones = phoneNumbers(8, 6);
    const timers = await createTimers(e, phones, () => e.clock.now());
    const ids = [...timers.keys()];
    const final = await waitForStatuses(e, ids, ['delivered'], 60_000);
    for (const t of final) expect(t.attempts, `attempts of ${t.id}`).toBe(1);
    const tally = expectExactlyOneMessageEach(e, timers);
    expect(tally.replays).toBe(0);
    for (const id of ids) {
      const actions = await auditActions(e, id);
      expect(actions).toContain('timer.unknown');
      expect(actions).not.toContain('timer.send_deferred');
      expect(actions.filter((a) => a === 'timer.claimed')).toHaveLength(1);
      expect(actions.at(-1)).toBe('timer.delivered');
    }
    const story = (await e.api('GET', `/v1/timers/${ids[0]}/explanation`)).body.story as string[];
    expect(story.join('\n')).toMatch(/the provider did not answer after the request may have reached it; its outcome became unknown \(never sent again blindly/);
    await expectAuditChainOk(e);
  }, 90_000);

  it('killed between the provider\'s acceptance and the database write, status callbacks lost: settled `delivered` from the provider\'s list, one message each', async () => {
    const CHILD_CONCURRENCY = 5;
    const e = await startEngine({
      parts: ['pump', 'reconciler'],
      env: { LEASE: '3s', JOB_LOCK: '3s', LOST_SEND_GRACE: '2s' },
      // Each create is answered after 1.5 s (the child dies waiting); the messages are delivered at the provider within ~0.3 s.
      emulator: { latencyMs: 1500, callbackDelayMs: 100 },
      clockOffsetMs: offsetTo(NOON_NY),
    });
    onCleanup(() => e.stop());
    const phones = phoneNumbers(12, 4);
    const timers = await createTimers(e, phones, () => e.clock.now());
    const ids = [...timers.keys()];
    await until(async () => (await timerRows(e, ids)).every((t) => t.status === 'queued'), 15_000);

    // The child's sends name a status callback URL where nothing listens: every callback for them is lost.
    const deadUrl = `http://127.0.0.1:${await freePort()}`;
    const child = spawn(process.execPath, ['--import', 'tsx', PART_FIXTURE, 'dispatcher'], {
      cwd: ROOT,
      env: { ...process.env, ...e.env, PUBLIC_BASE_URL: deadUrl, TEST_CLOCK_OFFSET_MS: String(e.clock.offset), DISPATCH_CONCURRENCY: String(CHILD_CONCURRENCY), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const childOutput = captureOutput(child);
    onCleanup(() => stopChild(child));
    const atKill = await until(async () => {
      if (!alive(child)) throw new Error(`the child dispatcher exited early (code ${child.exitCode}): ${childOutput()}`);
      const claimed = (await timerRows(e, ids)).filter((t) => t.status === 'sending');
      const received = new Set(e.emulator.emulator.messages().map((m) => m.idempotencyToken));
      return claimed.length >= CHILD_CONCURRENCY && claimed.every((t) => received.has(t.id)) ? claimed : null;
    }, 60_000, 25);
    child.kill('SIGKILL');
    if (alive(child)) await once(child, 'exit');
    const lost = atKill.filter((t) => t.leaseOwner?.includes(`:${child.pid}:`) && t.providerId === null);
    expect(lost.length).toBeGreaterThanOrEqual(1);

    e.start('dispatcher');
    const final = await waitForStatuses(e, ids, ['delivered'], 60_000);
    for (const t of final) expect(t.attempts, `attempts of ${t.id}`).toBe(1);
    const tally = expectExactlyOneMessageEach(e, timers);

    for (const t of lost) {
      const message = tally.created.find((m) => m.idempotencyToken === t.id)!;
      // Its callbacks went to the dead URL and were lost: nothing but the provider's list could settle it.
      expect(message.callbacks.length).toBeGreaterThan(0);
      expect(message.callbacks.every((c) => c.url.startsWith(deadUrl) && c.responseStatus === null)).toBe(true);
      expect(final.find((f) => f.id === t.id)!.providerId).toBe(message.sid);
      const actions = await auditActions(e, t.id);
      expect(actions.filter((a) => a !== 'timer.queued')).toEqual(['timer.created', 'timer.claimed', 'timer.lease_expired', 'timer.delivered']);
      const settled = await e.rt.prisma.auditEntry.findFirstOrThrow({ where: { timerId: t.id, action: 'timer.delivered' } });
      expect(settled.data).toMatchObject({ providerId: message.sid, providerStatus: 'delivered', via: 'provider-list', matchedBy: 'body-hash+sender+time' });
    }
    await until(async () => ((await e.rt.prisma.auditPending.count()) === 0 ? true : null), 10_000, 200);
    await expectAuditChainOk(e);
    const story = await e.api('GET', `/v1/timers/${lost[0]!.id}/explanation`);
    expect(story.body.story.join(' ')).toMatch(/found in the provider's list of sends by body-hash\+sender\+time/);
  }, 120_000);

  it('killed before its requests left: the provider has nothing, so each lost timer is queued once more and sent exactly once', async () => {
    const CHILD_CONCURRENCY = 8;
    const e = await startEngine({
      parts: ['pump', 'reconciler'],
      env: { LEASE: '3s', JOB_LOCK: '3s', LOST_SEND_GRACE: '2s' },
      clockOffsetMs: offsetTo(NOON_NY),
    });
    onCleanup(() => e.stop());
    // The child's provider is a black hole: connections are accepted and never answered, nothing reaches the emulator.
    const held = new Set<Socket>();
    const hole = createServer((sock) => {
      held.add(sock);
      sock.on('error', () => {});
      sock.on('close', () => held.delete(sock));
    });
    await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise<void>((resolve) => { for (const s of held) s.destroy(); hole.close(() => resolve()); }));

    const phones = phoneNumbers(CHILD_CONCURRENCY, 5);
    const timers = await createTimers(e, phones, () => e.clock.now());
    const ids = [...timers.keys()];
    await until(async () => (await timerRows(e, ids)).every((t) => t.status === 'queued'), 15_000);
    const child = spawn(process.execPath, ['--import', 'tsx', PART_FIXTURE, 'dispatcher'], {
      cwd: ROOT,
      env: { ...process.env, ...e.env, TWILIO_API_BASE: `http://127.0.0.1:${(hole.address() as AddressInfo).port}`, TEST_CLOCK_OFFSET_MS: String(e.clock.offset), DISPATCH_CONCURRENCY: String(CHILD_CONCURRENCY), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const childOutput = captureOutput(child);
    onCleanup(() => stopChild(child));
    // Every timer claimed by the child, its request stuck before reaching any provider.
    await until(async () => {
      if (!alive(child)) throw new Error(`the child dispatcher exited early (code ${child.exitCode}): ${childOutput()}`);
      const rows = await timerRows(e, ids);
      return rows.every((t) => t.status === 'sending' && t.leaseOwner?.includes(`:${child.pid}:`)) && held.size > 0 ? true : null;
    }, 60_000, 25);
    child.kill('SIGKILL');
    if (alive(child)) await once(child, 'exit');
    expect(e.emulator.emulator.messages()).toHaveLength(0);

    e.start('dispatcher');
    const final = await waitForStatuses(e, ids, ['delivered'], 60_000);
    expectExactlyOneMessageEach(e, timers);
    for (const t of final) {
      expect(t.attempts, `attempts of ${t.id}`).toBe(2);
      const actions = (await auditActions(e, t.id)).filter((a) => a !== 'timer.queued');
      expect(actions).toEqual(['timer.created', 'timer.claimed', 'timer.lease_expired', 'timer.requeued', 'timer.claimed', 'timer.sent', 'timer.delivered']);
    }
    const requeued = await e.rt.prisma.auditEntry.findFirstOrThrow({ where: { timerId: ids[0]!, action: 'timer.requeued' } });
    expect(requeued.data).toMatchObject({ via: 'provider-list', graceMs: 2000 });
    await until(async () => ((await e.rt.prisma.auditPending.count()) === 0 ? true : null), 10_000, 200);
    await expectAuditChainOk(e);
  }, 120_000);

  it('a batch of claims cut by SIGKILL mid-send, then Redis FLUSHALL: no duplicate, nothing lost', async () => {
    const redis = await startPrivateRedis();
    onCleanup(() => redis.stop());
    const e = await startEngine({
      redisUrl: redis.url,
      parts: ['pump', 'reconciler'],
      // A short grace: a claim the child made after the kill condition held, whose request never left, is tried once more soon.
      env: { LEASE: '3s', JOB_LOCK: '3s', LOST_SEND_GRACE: '2s' },
      // Creates answered after 1.5 s (the child dies with them in flight), first callback after 8 s (after the leases ran out).
      emulator: { latencyMs: 1500, queueTimeMs: 8000, callbackDelayMs: 100 },
      clockOffsetMs: offsetTo(NOON_NY),
    });
    onCleanup(() => e.stop());
    const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    admin.on('error', () => {});
    onCleanup(() => admin.disconnect());
    await until(async () => (await admin.exists(queueMarkerKey(e.prefix))) === 1, 15_000);

    const phones = phoneNumbers(60, 3);
    const due = e.clock.now() + 3000;
    const timers = await createTimers(e, phones, () => due);
    const ids = [...timers.keys()];
    await until(async () => (await timerRows(e, ids)).every((t) => t.status === 'queued'), 15_000);

    // One dispatcher process taking 25 jobs at a time, judged and claimed together.
    const child = spawn(process.execPath, ['--import', 'tsx', PART_FIXTURE, 'dispatcher'], {
      cwd: ROOT,
      env: { ...process.env, ...e.env, TEST_CLOCK_OFFSET_MS: String(e.clock.offset), DISPATCH_CONCURRENCY: '25', DISPATCH_BATCH: '25', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const childOutput = captureOutput(child);
    onCleanup(() => stopChild(child));
    const atKill = await until(async () => {
      if (!alive(child)) throw new Error(`the child dispatcher exited early (code ${child.exitCode}): ${childOutput()}`);
      const claimed = (await timerRows(e, ids)).filter((t) => t.status === 'sending');
      const received = new Set(e.emulator.emulator.messages().map((m) => m.idempotencyToken));
      return claimed.length >= 10 && claimed.every((t) => received.has(t.id)) ? claimed : null;
    }, 60_000, 25);
    child.kill('SIGKILL');
    if (alive(child)) await once(child, 'exit');
    // The claims came in batches: several timers claimed in one transaction (one instant).
    const { rows } = await withClient(e.env['DATABASE_URL']!, (c) =>
      c.query<{ n: string }>(`SELECT count(*) AS n FROM audit_pending WHERE action = 'timer.claimed' GROUP BY created_at UNION ALL SELECT count(*) FROM audit_entries WHERE action = 'timer.claimed' GROUP BY created_at`),
    );
    expect(Math.max(...rows.map((r) => Number(r.n)))).toBeGreaterThan(1);
    expect(atKill.length).toBeLessThan(phones.length);
    // The child may have claimed more between the last look and the kill (a loaded machine widens that gap): once every
    // claim's lease has run out (seconds after the child's sockets closed), the emulator holds every request that left.
    // No other dispatcher has run yet: a timer with an attempt was claimed by the child.
    const claimedByChild = await until(async () => {
      const rows = await timerRows(e, ids);
      return rows.some((t) => t.status === 'sending') ? null : rows.filter((t) => t.attempts > 0);
    }, 30_000, 100);
    const reached = new Set(e.emulator.emulator.messages().map((m) => m.idempotencyToken));
    const neverLeft = new Set(claimedByChild.filter((t) => !reached.has(t.id)).map((t) => t.id));
    if (neverLeft.size > 0) console.info(`note: ${neverLeft.size} claim(s) made after the last look never reached the provider`);

    // Redis loses everything, including the dead dispatcher's active jobs and the waiting ones.
    expect(await admin.flushall()).toBe('OK');
    e.start('dispatcher');
    const final = await waitForStatuses(e, ids, ['delivered'], 60_000);
    for (const t of final) {
      // A send that reached the provider is settled from it, never repeated; one that never left is tried once more.
      expect(t.attempts, `attempts of ${t.id}`).toBe(neverLeft.has(t.id) ? 2 : 1);
      expect(t.lastError, `lastError of ${t.id}`).toBeNull();
    }
    expectExactlyOneMessageEach(e, timers);
    await until(async () => ((await e.rt.prisma.auditPending.count()) === 0 ? true : null), 10_000, 200);
    await expectAuditChainOk(e);
  }, 120_000);

  it('Redis FLUSHALL mid-run: the reconciler restores every waiting timer', async () => {
    const redis = await startPrivateRedis();
    onCleanup(() => redis.stop());
    const e = await startEngine({
      redisUrl: redis.url,
      // A long overdue grace: only the lost-marker path can bring the jobs back in time.
      env: { OVERDUE_GRACE: '10m' },
      clockOffsetMs: offsetTo(NOON_NY),
    });
    onCleanup(() => e.stop());
    const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    admin.on('error', () => {});
    onCleanup(() => admin.disconnect());
    const markerKey = queueMarkerKey(e.prefix);

    // The reconciler has run once (it set its marker), so a later loss is a real loss.
    await until(async () => (await admin.exists(markerKey)) === 1, 15_000);

    const phones = phoneNumbers(30, 2);
    const base = e.clock.now();
    const timers = await createTimers(e, phones, (i) => base + 4000 + i * 100); // due in 4.0–6.9 s
    const ids = [...timers.keys()];
    await until(async () => (await timerRows(e, ids)).every((t) => t.status === 'queued'), 10_000);
    const before = await e.rt.queue.queue.getJobCounts();
    expect(before.delayed).toBe(30);

    const [[flushErr, flushed], [, dbsize]] = (await admin.multi().flushall().dbsize().exec())! as [[Error | null, unknown], [Error | null, number]];
    expect(flushErr).toBeNull();
    expect(flushed).toBe('OK');
    expect(dbsize).toBe(0);
    const after = await e.rt.queue.queue.getJobCounts();
    expect(Object.values(after).reduce((a, b) => a + b, 0)).toBe(0);
    // Postgres still holds every one of them as queued: nothing fired yet.
    expect((await timerRows(e, ids)).every((t) => t.status === 'queued')).toBe(true);

    // The reconciler notices the lost marker and adds the jobs again (same ids, same delays).
    await until(async () => {
      const c = await e.rt.queue.queue.getJobCounts();
      return (await admin.exists(markerKey)) === 1 && (c.delayed ?? 0) + (c.waiting ?? 0) + (c.active ?? 0) > 0;
    }, 10_000, 50);

    const final = await waitForStatuses(e, ids, ['delivered'], 60_000);
    for (const t of final) {
      expect(t.attempts, `attempts of ${t.id}`).toBe(1);
      // Not early (the restored job kept its delay) and long before the overdue path could act.
      expect(t.sentAt!.getTime()).toBeGreaterThanOrEqual(t.sendAt!.getTime());
      expect(t.sentAt!.getTime() - t.sendAt!.getTime()).toBeLessThan(30_000);
    }
    expectExactlyOneMessageEach(e, timers);
    await expectAuditChainOk(e);
  }, 90_000);

  it('Postgres unreachable: the API answers 503, workers retry, nothing lost', async () => {
    const pgServer = new URL(serverUrl());
    const proxy = await startTcpProxy({ host: pgServer.hostname, port: Number(pgServer.port || 5432) });
    onCleanup(() => proxy.down());
    let directUrl = '';
    const e = await startEngine({
      databaseUrl: (fresh) => {
        directUrl = fresh;
        const u = new URL(fresh);
        u.hostname = '127.0.0.1';
        u.port = String(proxy.port);
        return u.toString();
      },
      clockOffsetMs: offsetTo(NOON_NY),
    });
    onCleanup(() => e.stop());
    // If the test fails with the proxy down, bring it back first so the engine shuts down cleanly.
    onCleanup(() => proxy.up());
    expect(e.env['DATABASE_URL']).toContain(`:${proxy.port}/`);

    const ready = await fetch(`${e.url}/readyz`);
    expect(ready.status).toBe(200);

    const phones = phoneNumbers(3, 3);
    const base = e.clock.now();
    const timers = await createTimers(e, phones, () => base + 3000);
    const ids = [...timers.keys()];
    const rows = await timerRows(e, ids);
    expect(rows.every((t) => t.status === 'queued')).toBe(true);
    const jobIds = rows.map((t) => `${t.id}_${t.sendAt!.getTime()}`);

    await proxy.down();

    // Readiness: 503 with the error shape, naming the dependency.
    const notReady = await fetch(`${e.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(notReady.headers.get('retry-after')).toBe('5');
    expect(await notReady.json()).toEqual({ error: { code: 'UNAVAILABLE', message: expect.any(String), details: { postgres: 'unreachable', redis: 'ok' } } });

    // API calls: 503 UNAVAILABLE with Retry-After, never a 500.
    const create = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: '+12125550399', zip: '10001' }, at: new Date(e.clock.now()).toISOString() }));
    expect(create.status, JSON.stringify(create.body)).toBe(503);
    expect(create.body.error.code).toBe('UNAVAILABLE');
    expect(create.headers.get('retry-after')).toBe('5');
    const get = await e.api('GET', `/v1/timers/${ids[0]}`);
    expect(get.status, JSON.stringify(get.body)).toBe(503);
    expect(get.body.error.code).toBe('UNAVAILABLE');

    // Past their due time the jobs fire, fail on the database and are retried with backoff.
    await until(async () => {
      const jobs = await Promise.all(jobIds.map((id) => e.rt.queue.queue.getJob(id)));
      return jobs.every((j) => j !== undefined && j.attemptsMade >= 2);
    }, 30_000, 250);
    for (const id of jobIds) expect(await e.rt.queue.queue.getJobState(id)).toBe('delayed');
    // Nothing was sent, nothing moved in Postgres (read directly, not through the proxy).
    expect(emulatorTally(e).created).toHaveLength(0);
    const during = await withClient(directUrl, (c) => c.query<{ status: string; attempts: number }>('SELECT status, attempts FROM timers WHERE id = ANY($1::uuid[])', [ids]));
    expect(during.rows.map((r) => [r.status, r.attempts])).toEqual(ids.map(() => ['queued', 0]));

    await proxy.up();

    const final = await waitForStatuses(e, ids, ['delivered'], 60_000);
    for (const t of final) expect(t.attempts, `attempts of ${t.id}`).toBe(1);
    expectExactlyOneMessageEach(e, timers);

    await until(async () => (await fetch(`${e.url}/readyz`)).status === 200, 15_000, 250);
    const late = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: '+12125550399', zip: '10001' }, at: new Date(e.clock.now() + 3600_000).toISOString() }));
    expect(late.status, JSON.stringify(late.body)).toBe(201);
    await expectAuditChainOk(e);
  }, 90_000);

  it('audit entries staged by a process that died before linking them: the reconciler links them', async () => {
    const e = await startEngine({ parts: [] });
    onCleanup(() => e.stop());
    // What a dispatcher leaves when it is killed between its claim's commit and the link.
    const staged = [1, 2, 3].map((i) => ({ action: 'timer.claimed', createdAt: new Date(e.clock.now()), data: { i } }));
    await e.rt.prisma.$transaction((tx) => e.rt.ctx.audit.stage(e.orgId, staged, tx));
    const before = await e.rt.prisma.auditEntry.count({ where: { orgId: e.orgId } });
    expect(await e.rt.prisma.auditPending.count({ where: { orgId: e.orgId } })).toBe(3);

    e.start('reconciler');
    await until(async () => ((await e.rt.prisma.auditPending.count({ where: { orgId: e.orgId } })) === 0 ? true : null), 10_000, 100);
    const linked = await e.rt.prisma.auditEntry.findMany({ where: { orgId: e.orgId, action: 'timer.claimed' }, orderBy: { seq: 'asc' }, select: { seq: true, data: true } });
    expect(linked.map((r) => (r.data as { i: number }).i)).toEqual([1, 2, 3]);
    expect(linked.map((r) => r.seq)).toEqual([before + 1, before + 2, before + 3]);
    await expectAuditChainOk(e);
  }, 60_000);
});
