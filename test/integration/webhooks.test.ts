/**
 * Outbound events end to end on the real Redis and Postgres, with a local receiver: signed
 * events from the audit log (the outbox), retries after 500s and timeouts, order per timer, an
 * engine whose webhook part died between the change and the delivery (stopped, and SIGKILLed in
 * its own process mid-delivery), a slow endpoint that holds up no one else, a dead endpoint,
 * inbound conversation messages, and one org never reaching another's endpoints.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/adapters/auth/api-keys.ts';
import { SIGNATURE_HEADER, verifySignature, type WebhookEvent } from '../../src/domain/webhooks.ts';
import type { Stoppable } from '../../src/runtime.ts';
import { AUTH_TOKEN, startEngine, until, type TestEngine } from '../helpers/engine.ts';
import { alive, captureOutput, stopChild } from '../helpers/processes.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PART_FIXTURE = fileURLToPath(new URL('../fixtures/part-with-offset.ts', import.meta.url));

interface Received {
  path: string;
  at: number;
  raw: string;
  event: WebhookEvent;
  signature: string | undefined;
  status: number;
}

/**
 * Per path: the answers to give in turn (then 200): a status, 'hang' (answered after the
 * engine's 1 s timeout) or 'slow' (200 after 800 ms, in time). Every request is in `received`
 * from the moment it arrives, with the status it is going to get.
 */
const plans = new Map<string, Array<number | 'hang' | 'slow'>>();
const received: Received[] = [];
let receiver: Server;
let base: string;
let e: TestEngine;
let webhooks: Stoppable;

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    void bodyOf(req).then((raw) => {
      const path = req.url ?? '/';
      const next = plans.get(path)?.shift() ?? 200;
      if (next === 'hang') {
        setTimeout(() => res.writeHead(200).end(), 2500);
        return;
      }
      const status = next === 'slow' ? 200 : next;
      received.push({ path, at: Date.now(), raw, event: JSON.parse(raw) as WebhookEvent, signature: req.headers[SIGNATURE_HEADER.toLowerCase()] as string | undefined, status });
      setTimeout(() => res.writeHead(status).end(), next === 'slow' ? 800 : 0);
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  // The engine stands at 10:00 in New York on a Tuesday to Thursday, so texts to 10001 go out now.
  const target = new Date();
  target.setUTCHours(15, 0, 0, 0);
  while (target.getTime() < Date.now() || ![2, 3, 4].includes(target.getUTCDay())) target.setUTCDate(target.getUTCDate() + 1);
  // JOB_LOCK 3 s: a job held by a killed process is taken over after seconds, not the default 30.
  e = await startEngine({ env: { WEBHOOK_INTERVAL: '100', WEBHOOK_TIMEOUT: '1000', JOB_LOCK: '3s' }, clockOffsetMs: target.getTime() - Date.now() });
  webhooks = e.start('webhooks');
}, 60_000);

afterAll(async () => {
  await e?.stop();
  await new Promise<void>((r) => receiver?.close(() => r()));
});

let phoneSeq = 0;
const nextPhone = () => `+1212555${String(1000 + ++phoneSeq).slice(-4)}`;
const smsTimer = (phone: string) => ({ contact: { phone, zip: '10001' }, channel: 'sms', at: new Date(e.clock.now()).toISOString(), policy: 'next_slot', purpose: 'informational', message: { body: 'Your appointment is tomorrow at 10' } });

async function register(path: string, events: string[] = ['*'], extra: Record<string, unknown> = {}, key = e.key) {
  const res = await fetch(`${e.url}/v1/webhooks`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ url: `${base}${path}`, events, ...extra }) });
  const body = (await res.json()) as { id: string; secret: string };
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body;
}

const eventsAt = (path: string, timerId?: string) => received.filter((r) => r.path === path && r.status === 200 && (timerId === undefined || r.event.timerId === timerId));

describe('outbound events', () => {
  it('a timer\'s events arrive signed, in order, without the phone number or the body', async () => {
    const hook = await register('/all');
    const phone = nextPhone();
    const t = await e.api('POST', '/v1/timers', smsTimer(phone));
    expect(t.status).toBe(201);
    const id = t.body.id as string;
    const got = await until(async () => {
      const mine = eventsAt('/all', id);
      return mine.some((r) => r.event.type === 'timer.delivered') ? mine : null;
    }, 30_000, 100);
    expect(got.map((r) => r.event.type)).toEqual(['timer.created', 'timer.claimed', 'timer.sent', 'timer.delivered']);
    const now = Math.floor(e.clock.now() / 1000);
    for (const r of got) {
      expect(verifySignature(r.signature, r.raw, hook.secret, now)).toEqual({ ok: true });
      expect(verifySignature(r.signature, r.raw.replace('"timer.', '"timer.x'), hook.secret, now)).toEqual({ ok: false, reason: 'mismatch' });
      expect(verifySignature(r.signature, r.raw, 'whsec_not-the-secret-at-all-000000', now)).toEqual({ ok: false, reason: 'mismatch' });
      expect(r.raw).not.toContain(phone.slice(2));
      expect(r.raw).not.toContain('appointment');
      expect(r.event).toMatchObject({ orgId: e.orgId, timerId: id, contactId: t.body.contactId });
    }
    expect(got[0]!.event.decision).toBe('send');
    // Every one is recorded as delivered, with its attempt.
    // (The receiver records an event as it arrives, before its 200 is back at the engine.)
    const forTimer = await until(async () => {
      const d = await e.api('GET', `/v1/webhooks/${hook.id}/deliveries?status=delivered`);
      expect(d.status).toBe(200);
      const mine = (d.body.items as Array<{ eventId: string; attempts: number; history: Array<{ statusCode: number }> }>).filter((x) => got.some((r) => r.event.id === x.eventId));
      return mine.length === 4 ? mine : null;
    }, 10_000, 100);
    expect(forTimer).toHaveLength(4);
    for (const x of forTimer) expect(x.history.map((h) => h.statusCode)).toEqual([200]);
    await e.api('DELETE', `/v1/webhooks/${hook.id}`);
  }, 60_000);

  it('retries after 500s and a timeout, and keeps a timer\'s later events behind its first', async () => {
    const hook = await register('/flaky', ['timer.created', 'timer.sent', 'timer.delivered']);
    plans.set('/flaky', [500, 'hang', 503]); // the first event fails three times (one of them a timeout)
    const t = await e.api('POST', '/v1/timers', smsTimer(nextPhone()));
    const id = t.body.id as string;
    // Each failure waits 5 s, 10 s, 20 s on the engine's clock: move it on instead of waiting.
    const got = await until(async () => {
      e.clock.offset += 30_000;
      const mine = eventsAt('/flaky', id);
      return mine.some((r) => r.event.type === 'timer.delivered') ? mine : null;
    }, 40_000, 400);
    expect(got.map((r) => r.event.type)).toEqual(['timer.created', 'timer.sent', 'timer.delivered']);
    const d = await e.api('GET', `/v1/webhooks/${hook.id}/deliveries`);
    const created = (d.body.items as Array<{ eventType: string; attempts: number; history: Array<{ statusCode: number | null; error: string | null }> }>).find((x) => x.eventType === 'timer.created')!;
    expect(created.attempts).toBe(4);
    expect(created.history.map((h) => h.statusCode)).toEqual([500, null, 503, 200]);
    expect(created.history[1]!.error).toMatch(/no answer in 1000 ms/);
    await e.api('DELETE', `/v1/webhooks/${hook.id}`);
  }, 60_000);

  it('nothing is lost when the webhook part dies between the change and the delivery, and Redis loses its jobs', async () => {
    const hook = await register('/late', ['timer.created']);
    await webhooks.stop(); // the deliverer is gone: state changes commit, nothing is delivered
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await e.api('POST', '/v1/timers', smsTimer(nextPhone()))).body.id as string);
    await new Promise((r) => setTimeout(r, 500));
    expect(eventsAt('/late')).toHaveLength(0);
    // Redis forgets every webhook job; Postgres still holds the outbox.
    const keys = await e.rt.redis.keys(`${e.prefix}:*webhook*`);
    if (keys.length) await e.rt.redis.del(...keys);
    webhooks = e.start('webhooks');
    const got = await until(async () => (eventsAt('/late').length >= 5 ? eventsAt('/late') : null), 20_000, 100);
    expect(got.map((r) => r.event.timerId).sort()).toEqual([...ids].sort());
    await e.api('DELETE', `/v1/webhooks/${hook.id}`);
  }, 60_000);

  it('nothing is lost when the webhook worker is SIGKILLed mid-delivery: every event arrives at least once, in order per timer', async () => {
    const types = ['timer.created', 'timer.claimed', 'timer.sent'];
    const hook = await register('/killed', types);
    plans.set('/killed', Array.from({ length: 100 }, () => 'slow' as const));
    await webhooks.stop(); // the deliverer runs in a process of its own instead, on the same clock
    const child = spawn(process.execPath, ['--import', 'tsx', PART_FIXTURE, 'webhooks'], {
      cwd: ROOT,
      env: { ...process.env, ...e.env, TEST_CLOCK_OFFSET_MS: String(e.clock.offset), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const childOutput = captureOutput(child);
    const ids: string[] = [];
    let inFlight: Received[];
    try {
      for (let i = 0; i < 6; i++) ids.push((await e.api('POST', '/v1/timers', smsTimer(nextPhone()))).body.id as string);
      // Killed while the receiver holds its first POSTs (each answered after 800 ms): the state
      // changes are committed, the deliveries are leased by the dead process and never recorded.
      inFlight = await until(() => {
        if (!alive(child)) throw new Error(`the webhook process exited early (code ${child.exitCode}): ${childOutput()}`);
        const got = eventsAt('/killed');
        return got.length ? got : null;
      }, 30_000, 10);
      child.kill('SIGKILL');
      if (alive(child)) await once(child, 'exit');
      expect(child.signalCode).toBe('SIGKILL');
    } finally {
      await stopChild(child);
    }
    const heldIds = inFlight.map((r) => r.event.id);
    expect(await e.rt.prisma.webhookDelivery.count({ where: { endpointId: hook.id, status: 'delivered' } })).toBe(0);
    const leased = await e.rt.prisma.webhookDelivery.count({ where: { endpointId: hook.id, status: 'pending', leasedUntil: { not: null } } });
    expect(leased).toBeGreaterThanOrEqual(1);

    // A new deliverer, once the dead one's leader lease (30 s in Redis) and delivery leases
    // (2 × timeout + 30 s on the engine's clock) have run out.
    plans.set('/killed', []);
    webhooks = e.start('webhooks');
    e.clock.offset += 60_000;
    // A timer created after the kill: its events are fanned out once the new process leads.
    ids.push((await e.api('POST', '/v1/timers', smsTimer(nextPhone()))).body.id as string);
    const rows = await until(async () => {
      const statuses = await e.rt.prisma.timer.findMany({ where: { id: { in: ids } }, select: { status: true } });
      if (!statuses.every((t) => t.status === 'sent' || t.status === 'delivered')) return null;
      await e.rt.ctx.audit.settle(e.orgId);
      const d = await e.rt.prisma.webhookDelivery.findMany({ where: { endpointId: hook.id } });
      return d.length === ids.length * types.length && d.every((x) => x.status === 'delivered') ? d : null;
    }, 75_000, 250);
    expect(rows).toHaveLength(21);
    const got = eventsAt('/killed');
    // At least once: every event arrived, the ones held at the kill again (same id, to dedupe on).
    const byId = new Map<string, number>();
    for (const r of got) byId.set(r.event.id, (byId.get(r.event.id) ?? 0) + 1);
    expect(byId.size).toBe(21);
    for (const id of heldIds) expect(byId.get(id)).toBeGreaterThanOrEqual(2);
    // In order per timer: by first arrival, each timer's events came as they happened.
    for (const id of ids) {
      const firsts = [...new Set(got.filter((r) => r.event.timerId === id).map((r) => r.event.id))].map((eid) => got.find((r) => r.event.id === eid)!.event.type);
      expect(firsts).toEqual(types);
    }
    await e.api('DELETE', `/v1/webhooks/${hook.id}`);
  }, 120_000);

  it('a slow endpoint holds up neither another org\'s events nor the dispatcher', async () => {
    const stuck = await register('/stuck', ['timer.created']);
    plans.set('/stuck', Array.from({ length: 200 }, () => 'hang' as const)); // every attempt times out
    const other = await createApiKey(e.rt.prisma, { orgName: `prompt-${e.prefix}`, role: 'admin' });
    const prompt = await register('/prompt', ['timer.created'], {}, other.key);
    const mine: string[] = [];
    for (let i = 0; i < 5; i++) mine.push((await e.api('POST', '/v1/timers', smsTimer(nextPhone()))).body.id as string);
    // The stuck endpoint is being tried before the other org's timer exists.
    await until(async () => ((await e.rt.prisma.webhookDelivery.count({ where: { endpointId: stuck.id, attempts: { gt: 0 } } })) > 0 ? true : null), 20_000, 50);
    const theirs = await fetch(`${e.url}/v1/timers`, { method: 'POST', headers: { authorization: `Bearer ${other.key}`, 'content-type': 'application/json' }, body: JSON.stringify(smsTimer(nextPhone())) });
    const theirId = ((await theirs.json()) as { id: string }).id;
    const [event] = await until(() => (eventsAt('/prompt').length ? eventsAt('/prompt') : null), 10_000, 50);
    expect(event!.event).toMatchObject({ type: 'timer.created', orgId: other.orgId, timerId: theirId });
    // This org's own timers went out meanwhile, while none of its events got through.
    const sent = await until(async () => {
      const rows = await e.rt.prisma.timer.findMany({ where: { id: { in: mine } }, select: { status: true } });
      return rows.every((t) => t.status === 'sent' || t.status === 'delivered') ? rows : null;
    }, 20_000, 100);
    expect(sent).toHaveLength(5);
    expect(await e.rt.prisma.webhookDelivery.count({ where: { endpointId: stuck.id, status: 'delivered' } })).toBe(0);
    expect(await e.rt.prisma.webhookDelivery.count({ where: { endpointId: stuck.id, status: 'pending', attempts: { gt: 0 } } })).toBeGreaterThan(0);
    plans.set('/stuck', []);
    await e.api('DELETE', `/v1/webhooks/${stuck.id}`);
    await fetch(`${e.url}/v1/webhooks/${prompt.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${other.key}` } });
  }, 60_000);

  it('an endpoint failing for 3 days: its deliveries die, it is disabled and that is audited; a retry resends a dead one', async () => {
    const hook = await register('/dead', ['timer.created']);
    plans.set('/dead', Array.from({ length: 500 }, () => 500));
    const t = await e.api('POST', '/v1/timers', smsTimer(nextPhone()));
    await until(async () => ((await e.rt.prisma.webhookDelivery.count({ where: { endpointId: hook.id, attempts: { gt: 0 } } })) > 0 ? true : null), 20_000, 100);
    const row = await until(async () => {
      e.clock.offset += 6 * 3600_000; // six hours per step: past the 3 days in about a dozen steps
      const r = await e.rt.prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: hook.id } });
      return r.status === 'disabled' ? r : null;
    }, 40_000, 300);
    expect(row.disabledReason).toMatch(/failed without a success since/);
    const dead = await e.rt.prisma.webhookDelivery.findFirstOrThrow({ where: { endpointId: hook.id } });
    expect(dead.status).toBe('dead');
    await e.rt.ctx.audit.settle(e.orgId);
    expect(await e.rt.prisma.auditEntry.count({ where: { orgId: e.orgId, action: 'webhook.disabled', data: { path: ['webhookId'], equals: hook.id } } })).toBe(1);
    expect(eventsAt('/dead')).toHaveLength(0);
    // Back on, and the dead delivery sent again by hand.
    plans.set('/dead', []);
    expect((await e.api('POST', `/v1/webhooks/${hook.id}/enable`)).status).toBe(200);
    const retried = await e.api('POST', `/v1/webhooks/${hook.id}/deliveries/${dead.id}/retry`);
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    expect(retried.body.status).toBe('pending');
    const got = await until(async () => (eventsAt('/dead').length ? eventsAt('/dead') : null), 20_000, 100);
    expect(got[0]!.event.timerId).toBe(t.body.id);
    await e.api('DELETE', `/v1/webhooks/${hook.id}`);
  }, 90_000);

  it('a reply that is not a keyword becomes inbound.message: the body only for an endpoint that opted in, never in the audit log', async () => {
    const withBodies = await register('/inbound-bodies', ['inbound.message'], { includeBodies: true });
    const without = await register('/inbound-plain', ['inbound.message']);
    const phone = nextPhone();
    const c = await e.api('POST', '/v1/journeys', { contact: { phone, zip: '10001' } });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const url = `${e.url}/webhooks/twilio/inbound?orgId=${e.orgId}`;
    const params = { From: phone, To: '+15005550006', Body: 'Can we move it to Friday?', MessageSid: `SM${'7'.repeat(32)}`, AccountSid: 'AC0' };
    for (let i = 0; i < 2; i++) {
      // Twilio redelivers: the same MessageSid is one message.
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(AUTH_TOKEN, url, params) }, body: new URLSearchParams(params).toString() });
      expect(res.status).toBe(200);
    }
    const a = await until(async () => (eventsAt('/inbound-bodies').length && eventsAt('/inbound-plain').length ? true : null), 20_000, 100);
    expect(a).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    const [full] = eventsAt('/inbound-bodies');
    const [plain] = eventsAt('/inbound-plain');
    expect(eventsAt('/inbound-bodies')).toHaveLength(1);
    expect(full!.event).toMatchObject({ type: 'inbound.message', journeyId: c.body.id, contactId: c.body.contactId, data: { body: 'Can we move it to Friday?', from: phone } });
    expect(plain!.event).toMatchObject({ type: 'inbound.message', journeyId: c.body.id });
    expect(plain!.raw).not.toContain('Friday');
    expect(plain!.raw).not.toContain(phone.slice(2));
    await e.rt.ctx.audit.settle(e.orgId);
    const entries = await e.rt.prisma.auditEntry.findMany({ where: { orgId: e.orgId, action: 'inbound.message' } });
    expect(entries).toHaveLength(1);
    expect(JSON.stringify({ ...entries[0], id: String(entries[0]!.id) })).not.toContain("Friday");
    await e.api('DELETE', `/v1/webhooks/${withBodies.id}`);
    await e.api('DELETE', `/v1/webhooks/${without.id}`);
  }, 60_000);

  it('one org cannot read, remove or retry another org\'s endpoints, nor see their deliveries', async () => {
    const hook = await register('/mine', ['timer.created']);
    const other = await createApiKey(e.rt.prisma, { orgName: `other-${e.prefix}`, role: 'admin' });
    const as = (method: string, path: string) => fetch(`${e.url}${path}`, { method, headers: { authorization: `Bearer ${other.key}` } });
    expect((await as('GET', `/v1/webhooks/${hook.id}`)).status).toBe(404);
    expect((await as('DELETE', `/v1/webhooks/${hook.id}`)).status).toBe(404);
    expect((await as('POST', `/v1/webhooks/${hook.id}/rotate-secret`)).status).toBe(404);
    expect((await as('GET', `/v1/webhooks/${hook.id}/deliveries`)).status).toBe(404);
    expect((await as('POST', `/v1/webhooks/${hook.id}/deliveries/1/retry`)).status).toBe(404);
    expect(((await (await as('GET', '/v1/webhooks')).json()) as { items: unknown[] }).items).toEqual([]);
    expect((await e.api('GET', `/v1/webhooks/${hook.id}`)).status).toBe(200);
  });

  it('a rotated secret: both secrets sign for the overlap, the new one is shown once', async () => {
    const hook = await register('/rotate', ['timer.created']);
    const rotated = await e.api('POST', `/v1/webhooks/${hook.id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).not.toBe(hook.secret);
    expect((await e.api('GET', `/v1/webhooks/${hook.id}`)).body.secret).toBeUndefined();
    await e.api('POST', '/v1/timers', smsTimer(nextPhone()));
    const [r] = await until(async () => (eventsAt('/rotate').length ? eventsAt('/rotate') : null), 20_000, 100);
    const now = Math.floor(e.clock.now() / 1000);
    expect(r!.signature!.split(',').filter((p) => p.startsWith('v1='))).toHaveLength(2);
    expect(verifySignature(r!.signature, r!.raw, hook.secret, now)).toEqual({ ok: true });
    expect(verifySignature(r!.signature, r!.raw, rotated.body.secret as string, now)).toEqual({ ok: true });
    await e.api('DELETE', `/v1/webhooks/${hook.id}`);
  });

  it('a timer whose action is a webhook: judged like a send, POSTed signed to the platform with the window end, retried after a 500, counted by the caps', async () => {
    const hook = await register('/bot', ['timer.sent'], { includeBodies: true });
    plans.set('/bot/start', [500]); // the first call fails: retried like a provider 5xx
    const action = (flow: string) => ({ webhook: { url: `${base}/bot/start`, payload: { flow } } });
    // Florida: at most 3 sends per contact per 24 h (Fla. Stat. 501.059(8)(b)); actions count as sends.
    const phone = nextPhone();
    const ids: string[] = [];
    const j = await e.api('POST', '/v1/journeys', { contact: { phone, zip: '33101' } });
    const consent = await e.api('POST', `/v1/contacts/${j.body.contactId}/consents`, { type: 'express_written', channel: 'sms', purpose: 'marketing', source: 'web-form:signup', capturedAt: new Date(e.clock.now() - 86_400_000).toISOString() });
    expect(consent.status, JSON.stringify(consent.body)).toBe(201);
    for (let i = 0; i < 4; i++) {
      const res = await e.api('POST', '/v1/timers', { contact: { phone, zip: '33101' }, channel: 'sms', at: new Date(e.clock.now() + i * 1000).toISOString(), policy: 'cancel', purpose: 'marketing', action: action(`f${i}`) });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      ids.push(res.body.id as string);
    }
    const calls = await until(async () => {
      const rows = await e.rt.prisma.timer.findMany({ where: { id: { in: ids } } });
      const settled = rows.every((r) => ['sent', 'cancelled', 'failed'].includes(r.status));
      return settled ? received.filter((r) => r.path === '/bot/start' && r.status === 200) : null;
    }, 40_000, 200);
    const statuses = (await e.rt.prisma.timer.findMany({ where: { id: { in: ids } }, orderBy: { requestedAt: 'asc' } })).map((t) => t.status);
    expect(statuses.filter((s) => s === 'sent')).toHaveLength(3);
    expect(statuses.filter((s) => s === 'cancelled')).toHaveLength(1);
    expect(calls).toHaveLength(3);
    expect(received.filter((r) => r.path === '/bot/start' && r.status === 500)).toHaveLength(1);
    const now = Math.floor(e.clock.now() / 1000);
    for (const c of calls) {
      expect(verifySignature(c.signature, c.raw, hook.secret, now)).toEqual({ ok: true });
      const a = JSON.parse(c.raw) as { type: string; timerId: string; windowEnd: string; to: string; channel: string; payload: { flow: string } };
      expect(a).toMatchObject({ type: 'timer.action', channel: 'sms', to: phone });
      expect(ids).toContain(a.timerId);
      expect(Date.parse(a.windowEnd)).toBeGreaterThan(e.clock.now());
      expect(a.payload.flow).toMatch(/^f[0-3]$/);
    }
    await e.rt.ctx.audit.settle(e.orgId);
    const sent = await e.rt.prisma.auditEntry.findMany({ where: { timerId: { in: ids }, action: 'timer.sent' } });
    expect(sent.map((x) => (x.data as { providerId: string }).providerId).sort()).toEqual(calls.map((c) => `act_${(JSON.parse(c.raw) as { timerId: string }).timerId}`).sort());
    // The audit log and the explanation tell an action from a provider send, with the bot's deadline.
    const first = JSON.parse(calls[0]!.raw) as { timerId: string; windowEnd: string };
    expect(sent.find((x) => x.timerId === first.timerId)!.data).toMatchObject({ via: 'platform-action', windowEnd: first.windowEnd });
    const story = (await e.api('GET', `/v1/timers/${first.timerId}/explanation`)).body.story as string[];
    expect(story.join('\n')).toMatch(new RegExp(`Triggered the platform's bot \\(action act_${first.timerId}\\) at .*: its endpoint answered 2xx; the bot may talk until .+, when the allowed window ends\\.`));
    // An origin the org never registered is never called: the timer fails.
    const stray = await e.api('POST', '/v1/timers', { contact: { phone: nextPhone(), zip: '10001' }, channel: 'sms', at: new Date(e.clock.now()).toISOString(), policy: 'cancel', purpose: 'informational', action: { webhook: { url: 'http://127.0.0.1:9/elsewhere' } } });
    const failed = await until(async () => {
      const t = await e.rt.prisma.timer.findUniqueOrThrow({ where: { id: stray.body.id as string } });
      return t.status === 'failed' ? t : null;
    }, 20_000, 200);
    expect(failed.lastError).toMatch(/no enabled webhook endpoint/);
    await e.api('DELETE', `/v1/webhooks/${hook.id}`);
  }, 60_000);

  it('a campaign may carry an action too: each recipient\'s timer triggers the platform, judged and signed as a timer\'s', async () => {
    const planner = e.start('planner');
    const hook = await register('/campaign-bot', ['campaign.planned']);
    const phones = [nextPhone(), nextPhone(), nextPhone()];
    const res = await e.api('POST', '/v1/campaigns', {
      name: 'bot follow-up',
      channel: 'voice',
      purpose: 'informational',
      policy: 'cancel',
      sendAt: new Date(e.clock.now()).toISOString(),
      audience: { contacts: phones.map((phone) => ({ phone, zip: '10001' })) },
      action: { webhook: { url: `${base}/campaign-bot/call`, payload: { flow: 'follow-up' } } },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const calls = await until(async () => {
      const got = received.filter((r) => r.path === '/campaign-bot/call');
      return got.length >= 3 ? got : null;
    }, 40_000, 200);
    const now = Math.floor(e.clock.now() / 1000);
    for (const c of calls) {
      expect(verifySignature(c.signature, c.raw, hook.secret, now)).toEqual({ ok: true });
      expect(JSON.parse(c.raw)).toMatchObject({ type: 'timer.action', channel: 'voice', campaignId: res.body.id, to: null, payload: { flow: 'follow-up' } });
    }
    // The receiver records a call as it arrives, before its 200 is back at the engine.
    const timers = await until(async () => {
      const rows = await e.rt.prisma.timer.findMany({ where: { campaignId: res.body.id as string } });
      return rows.length === 3 && rows.every((t) => t.status === 'sent') ? rows : null;
    }, 20_000, 100);
    expect(timers.map((t) => t.status)).toEqual(['sent', 'sent', 'sent']);
    await planner.stop();
    await e.api('DELETE', `/v1/webhooks/${hook.id}`);
  }, 60_000);
});
