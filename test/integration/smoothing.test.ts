/**
 * Window-open smoothing and throughput limits (README "Throughput and smoothing"): sends that
 * become due together are spread over the following seconds within the org's send rate, across
 * every dispatcher (in-process workers and separate processes), and never pushed out of their
 * window — what cannot fit before the window closes is moved to the next opening (next_slot) or
 * cancelled (cancel) with RATE_LIMITED_PAST_WINDOW.
 *
 * One engine; the clock only moves forward between the scenarios (the rate buckets are on it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offsetTo, smsBody, startEngine, until, type TestEngine } from '../helpers/engine.ts';
import type { Stoppable } from '../../src/runtime.ts';
import { alive, captureOutput, stopChild } from '../helpers/processes.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let e: TestEngine;

/** The test process's own dispatchers (the cross-process test sets them aside for a while). */
const inProcess: Stoppable[] = [];

beforeAll(async () => {
  // A short horizon: timers created minutes ahead stay in Postgres until the clock is moved close to them.
  e = await startEngine({ parts: ['pump', 'reconciler'], env: { DISPATCH_CONCURRENCY: '20', DATABASE_POOL_SIZE: '20', HORIZON: '5s' }, clockOffsetMs: offsetTo('2026-12-08T12:55:00Z') });
  for (let i = 0; i < 3; i++) inProcess.push(e.start('dispatcher'));
});
afterAll(async () => {
  await e?.stop();
});

const phone = (block: number, i: number) => `+1212555${String(block * 100 + i).padStart(4, '0')}`;
/** Reception instants (engine clock, ms: the emulator runs on the engine's clock) of the emulator's accepted messages, by number. */
const received = (phones: readonly string[]) =>
  new Map(
    e.emulator.emulator
      .messages()
      .filter((m) => m.sid !== null && phones.includes(String(m.params['To'])))
      .map((m) => [String(m.params['To']), Date.parse(m.receivedAt)] as const),
  );
const second = (t: number) => Math.floor(t / 1000);
/** The most instants in any one 1-second bucket. */
const busiestSecond = (times: readonly number[]) => {
  const per = new Map<number, number>();
  for (const t of times) per.set(second(t), (per.get(second(t)) ?? 0) + 1);
  return Math.max(...per.values());
};

/**
 * The pacing of the sends of `ids`, from both sides:
 * - the slots the limiter handed out (recorded in each `timer.claimed` entry): strictly one
 *   interval apart across every dispatcher, so never more than `rate` in a second;
 * - what the emulator received: never before its slot (25 ms tolerance), and never more than
 *   `rate` + 1 in a second — not counting sends that reached it more than one interval after their
 *   slot (a dispatcher slowed down by a loaded machine catching up; the slot was still kept).
 */
async function checkPacing(ids: readonly string[], rate: number): Promise<{ slots: number[]; delays: number[] }> {
  const interval = 1000 / rate;
  const timers = await e.rt.prisma.timer.findMany({ where: { id: { in: [...ids] } }, select: { id: true, contact: { select: { phoneE164: true } } } });
  const phoneOf = new Map(timers.map((t) => [t.id, t.contact.phoneE164]));
  // Claims are staged and linked into the chain soon after (any process's linkSoon): link them all now.
  await e.rt.ctx.audit.link(e.orgId);
  const claims = await e.rt.prisma.auditEntry.findMany({ where: { timerId: { in: [...ids] }, action: 'timer.claimed' }, select: { timerId: true, data: true } });
  const got = received([...phoneOf.values()]);
  const sends = claims.map((c) => {
    const d = c.data as { rateSlot: string; rateDelayedMs: number; worker: string; attempt: number };
    return { slot: Date.parse(d.rateSlot), delay: d.rateDelayedMs, at: got.get(phoneOf.get(c.timerId!)!)!, who: `${d.worker.split(':')[1]}#${d.attempt}` };
  });
  expect(sends.every((x) => x.at !== undefined)).toBe(true);
  expect(sends).toHaveLength(ids.length);
  const slots = sends.map((x) => x.slot).sort((a, b) => a - b);
  const trace = `[slot, lateness, delay, pid#attempt]: ${JSON.stringify(sends.map((x) => [x.slot - slots[0]!, x.at - x.slot, x.delay, x.who]).sort((a, b) => (a[0] as number) - (b[0] as number)))}`;
  for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!, trace).toBeGreaterThanOrEqual(Math.floor(interval));
  expect(busiestSecond(slots)).toBeLessThanOrEqual(rate);
  for (const x of sends) expect(x.at, trace).toBeGreaterThanOrEqual(x.slot - 25);
  const onTime = sends.filter((x) => x.at - x.slot <= interval).map((x) => x.at);
  expect(busiestSecond(onTime), trace).toBeLessThanOrEqual(rate + 1);
  expect(Math.max(...sends.map((x) => x.at)) - slots[0]!).toBeGreaterThanOrEqual((ids.length - 1) * interval - 25);
  return { slots, delays: sends.map((x) => x.delay) };
}

async function setRate(perSecond: number, perSenderPerSecond: number): Promise<void> {
  const r = await e.api('PATCH', '/v1/org/settings', { sendRate: { perSecond, perSenderPerSecond } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  expect(r.body.sendRate).toEqual({ perSecond, perSenderPerSecond, unit: 'messages' });
}

async function create(phones: readonly string[], over: (i: number) => Record<string, unknown>): Promise<string[]> {
  const created = await Promise.all(phones.map((p, i) => e.api('POST', '/v1/timers', smsBody({ contact: { phone: p, zip: '10001' }, ...over(i) }))));
  for (const c of created) expect(c.status, JSON.stringify(c.body)).toBe(201);
  return created.map((c) => c.body.id as string);
}

/** Waits until every timer is sent (generous: the test machine may be busy); on timeout, says where they are. */
async function allSent(ids: readonly string[], timeoutMs = 120_000): Promise<void> {
  const statuses = async () => Object.fromEntries((await e.rt.prisma.timer.groupBy({ by: ['status'], where: { id: { in: [...ids] } }, _count: true })).map((g) => [g.status, g._count]));
  try {
    await until(async () => (await e.rt.prisma.timer.count({ where: { id: { in: [...ids] }, status: { in: ['sent', 'delivered'] } } })) === ids.length, timeoutMs, 200);
  } catch (err) {
    const stuck = (await e.rt.prisma.timer.findMany({ where: { id: { in: [...ids] }, status: { notIn: ['sent', 'delivered'] } }, select: { id: true, status: true, lastError: true, providerId: true, contact: { select: { phoneE164: true } } } })).map(
      ({ contact, ...t }) => ({ ...t, atProvider: e.emulator.emulator.messages().filter((m) => m.params['To'] === contact.phoneE164).map((m) => m.receivedAt.slice(11, 23)) }),
    );
    const events = await e.rt.prisma.auditEntry.findMany({ where: { timerId: { in: stuck.map((t) => t.id) } }, select: { timerId: true, action: true, createdAt: true }, orderBy: { seq: 'asc' } });
    const detail = stuck.map((t) => ({ ...t, events: events.filter((x) => x.timerId === t.id).map((x) => `${x.action}@${x.createdAt.toISOString().slice(11, 23)}`) }));
    throw new Error(`${(err as Error).message}; statuses: ${JSON.stringify(await statuses())}; not sent: ${JSON.stringify(detail)}`, { cause: err });
  }
}

async function claimedData(ids: readonly string[]): Promise<Array<{ worker: string; rateDelayedMs: number }>> {
  await e.rt.ctx.audit.settle(e.orgId);
  const rows = await e.rt.prisma.auditEntry.findMany({ where: { timerId: { in: [...ids] }, action: 'timer.claimed' }, select: { data: true } });
  return rows.map((r) => r.data as { worker: string; rateDelayedMs: number });
}

describe('a window opens (08:00 in New York) on 60 waiting texts, org rate 10/s, 3 dispatchers', () => {
  it('spreads them over ≥ 6 s, never more than 10 (+1) in a second, all inside the window', async () => {
    e.clock.offset = offsetTo('2026-12-08T12:55:00Z');
    await setRate(10, 1000);
    const phones = Array.from({ length: 60 }, (_, i) => phone(4, i));
    // 07:55: the window is closed; next_slot moves every one to 08:00:00.
    const ids = await create(phones, () => ({ at: new Date(e.clock.now()).toISOString(), policy: 'next_slot' }));
    const timers = await e.rt.prisma.timer.findMany({ where: { id: { in: ids } }, select: { status: true, sendAt: true } });
    for (const t of timers) expect(t).toMatchObject({ status: 'scheduled', sendAt: new Date('2026-12-08T13:00:00Z') });
    // Then to 07:59:57: the pump hands all 60 to the queue, due together at 08:00:00.
    e.clock.offset = offsetTo('2026-12-08T12:59:57Z');

    await allSent(ids);
    expect(received(phones).size).toBe(60);
    // 60 slots 100 ms apart from 08:00:00: the last one 5.9 s after the first.
    const { slots, delays } = await checkPacing(ids, 10);
    expect(slots[0]).toBeGreaterThanOrEqual(Date.parse('2026-12-08T13:00:00Z'));
    expect(slots[59]! - slots[0]!).toBeGreaterThanOrEqual(5_900);

    const sent = await e.rt.prisma.timer.findMany({ where: { id: { in: ids } }, select: { sentAt: true } });
    for (const t of sent) expect(t.sentAt!.getTime()).toBeGreaterThanOrEqual(Date.parse('2026-12-08T13:00:00Z'));
    // The delay shows in the claim's audit entry: one entry per send, none per delay.
    expect(delays.filter((d) => d === 0).length).toBeGreaterThanOrEqual(1);
    expect(Math.max(...delays)).toBeGreaterThanOrEqual(1_000);
    // (Whether `timer.sent` or the provider's callback is recorded first depends on the race between them.)
    const actions = await e.rt.prisma.auditEntry.groupBy({ by: ['action'], where: { timerId: { in: ids } }, _count: true });
    const count = Object.fromEntries(actions.map((a) => [a.action, a._count]));
    expect(count).toMatchObject({ 'timer.created': 60, 'timer.claimed': 60 });
    for (const a of actions) expect(['timer.created', 'timer.claimed', 'timer.sent', 'timer.delivered']).toContain(a.action);
  }, 240_000);
});

describe('the per-sender limit holds across dispatcher processes', () => {
  const children: ChildProcess[] = [];
  afterAll(async () => {
    await Promise.all(children.map((c) => stopChild(c)));
  });

  it('20 texts due at once, sender 4/s, 2 dispatcher processes of 5 sends each: ≥ 4.5 s, ≤ 5 a second', async () => {
    e.clock.offset = offsetTo('2026-12-08T17:00:00Z');
    await setRate(1000, 4);
    // Only the two processes dispatch, 5 sends at a time each: neither can hold all 20, so both send.
    await Promise.all(inProcess.splice(0).map((s) => s.stop()));
    for (let i = 0; i < 2; i++) {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/part-with-offset.ts', 'dispatcher'], {
        cwd: ROOT,
        env: { ...process.env, ...e.env, DATABASE_POOL_SIZE: '5', DISPATCH_CONCURRENCY: '5', TEST_CLOCK_OFFSET_MS: String(e.clock.offset), LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      const output = captureOutput(child);
      await until(() => {
        if (!alive(child)) throw new Error(`dispatcher exited early: ${output()}`);
        return output().includes('dispatcher started');
      }, 60_000, 50);
    }

    const phones = Array.from({ length: 20 }, (_, i) => phone(6, i));
    const at = new Date(e.clock.now() + 8000).toISOString();
    const ids = await create(phones, () => ({ at, policy: 'next_slot' }));
    await allSent(ids);
    expect(received(phones).size).toBe(20);
    // 20 slots 250 ms apart: 4.75 s.
    const { slots } = await checkPacing(ids, 4);
    expect(slots[19]! - slots[0]!).toBeGreaterThanOrEqual(4_750);
    // The sends were claimed by more than one process (worker ids are host:pid:random).
    const pids = new Set((await claimedData(ids)).map((c) => c.worker.split(':')[1]));
    expect(pids.size).toBe(2);
    expect(pids.has(String(process.pid))).toBe(false);
    await Promise.all(children.splice(0).map((c) => stopChild(c)));
    for (let i = 0; i < 3; i++) inProcess.push(e.start('dispatcher'));
  }, 240_000);
});

describe('a window about to close (20:58:52 in New York), org rate 2/s', () => {
  it('sends what fits by 60 s before 21:00; moves the rest to 08:00 (next_slot) or cancels it (cancel); nothing after 21:00', async () => {
    e.clock.offset = offsetTo('2026-12-09T01:50:00Z');
    await setRate(2, 1000);
    const phones = Array.from({ length: 20 }, (_, i) => phone(5, i));
    const at = '2026-12-09T01:58:55.000Z'; // 20:58:55: slots fit until 20:59:00 (60 s before 21:00)
    const policy = (i: number) => (i % 2 === 0 ? 'next_slot' : 'cancel');
    const ids = await create(phones, (i) => ({ at, policy: policy(i) }));
    e.clock.offset = offsetTo('2026-12-09T01:58:52Z');

    const settled = (t: { status: string; sendAt: Date | null }) => ['sent', 'delivered', 'cancelled'].includes(t.status) || (t.status === 'scheduled' && t.sendAt?.getTime() !== Date.parse(at));
    const timers = await until(async () => {
      const all = await e.rt.prisma.timer.findMany({ where: { id: { in: ids } }, select: { id: true, status: true, sendAt: true, sentAt: true, policy: true, decision: true } });
      return all.length === ids.length && all.every(settled) ? all : null;
    }, 45_000, 200);

    const sent = timers.filter((t) => ['sent', 'delivered'].includes(t.status));
    const moved = timers.filter((t) => t.status === 'scheduled');
    const cancelled = timers.filter((t) => t.status === 'cancelled');
    // 2/s from 20:58:55 to 20:59:00 is at most 11 slots (fewer when the dispatchers start late on a busy machine).
    expect(sent.length).toBeGreaterThanOrEqual(1);
    expect(sent.length).toBeLessThanOrEqual(11);
    expect(moved.length).toBeGreaterThan(0);
    expect(cancelled.length).toBeGreaterThan(0);
    expect(sent.length + moved.length + cancelled.length).toBe(20);

    const windowEnd = Date.parse('2026-12-09T02:00:00Z');
    for (const t of sent) expect(t.sentAt!.getTime()).toBeLessThan(windowEnd);
    for (const t of moved) {
      expect(t.policy).toBe('next_slot');
      expect(t.sendAt?.toISOString()).toBe('2026-12-09T13:00:00.000Z'); // 08:00 the next morning
      expect((t.decision as { reasons: Array<{ code: string }> }).reasons[0]?.code).toBe('RATE_LIMITED_PAST_WINDOW');
    }
    for (const t of cancelled) {
      expect(t.policy).toBe('cancel');
      expect((t.decision as { reasons: Array<{ code: string }> }).reasons.map((r) => r.code)).toEqual(['RATE_LIMITED_PAST_WINDOW']);
    }
    const audits = await e.rt.prisma.auditEntry.findMany({ where: { timerId: { in: [...moved, ...cancelled].map((t) => t.id) }, action: { in: ['timer.rescheduled', 'timer.cancelled'] } }, select: { action: true, reasonCodes: true } });
    expect(audits).toHaveLength(moved.length + cancelled.length);
    for (const a of audits) expect(a.reasonCodes).toContain('RATE_LIMITED_PAST_WINDOW');

    // Nothing reached the provider after 21:00 local, or for the timers that were moved or cancelled.
    await new Promise((r) => setTimeout(r, 1000));
    const times = [...received(phones).values()];
    expect(times).toHaveLength(sent.length);
    for (const t of times) expect(t).toBeLessThan(windowEnd);
    const { slots } = await checkPacing(sent.map((t) => t.id), 2);
    for (const s of slots) expect(s).toBeLessThanOrEqual(windowEnd - 60_000);
  }, 120_000);
});
