/**
 * The engine end to end on the real Redis and Postgres: API → Postgres → pump → BullMQ →
 * dispatcher → emulator → signed status callback → audit chain. The engine's clock is pinned to
 * a known weekday (real clock + offset), so windows do not depend on when the suite runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import twilio from 'twilio';
import { createApiKey } from '../../src/adapters/auth/api-keys.ts';
import { AUTH_TOKEN, offsetTo, smsBody, startEngine, until, type TestEngine } from '../helpers/engine.ts';

// Tuesday 2026-12-08 12:00 in New York (17:00Z): inside every window for zip 10001.
const NOON_NY = '2026-12-08T17:00:00Z';

let e: TestEngine;
const inMs = (ms: number) => new Date(e.clock.now() + ms).toISOString();
const timer = async (id: string) => (await e.api('GET', `/v1/timers/${id}`)).body;
const sentTo = (phone: string) => e.emulator.emulator.messages().filter((m) => m.params['To'] === phone && m.sid !== null);

beforeAll(async () => {
  e = await startEngine({ env: { HORIZON: '3s' }, clockOffsetMs: offsetTo(NOON_NY) });
});
afterAll(async () => {
  await e?.stop();
});

describe('end to end', () => {
  it('create → pump → dispatch → emulator → status callback → audit verify', async () => {
    // Due in 5 s, beyond the 3 s horizon: it waits in Postgres until the pump moves it.
    const created = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: '+12125550101', zip: '10001' }, at: inMs(5000) }));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: 'scheduled', decision: 'send', reasons: [{ code: 'ALLOWED' }] });
    expect(created.body.localSendAt).toMatch(/-05:00$/);
    const id = created.body.id as string;
    expect((await e.rt.prisma.timer.findUniqueOrThrow({ where: { id } })).status).toBe('scheduled');

    const done = await until(async () => {
      const t = await timer(id);
      return t.status === 'delivered' ? t : null;
    }, 20_000);
    expect(done.providerId).toMatch(/^SM/);
    expect(done.events.map((ev: { action: string }) => ev.action)).toEqual(['timer.created', 'timer.claimed', 'timer.sent', 'timer.delivered']);
    // Not sent before it was due.
    expect(Date.parse(done.sentAt)).toBeGreaterThanOrEqual(Date.parse(created.body.sendAt));

    const [msg] = sentTo('+12125550101');
    expect(msg).toBeDefined();
    expect(msg!.params['StatusCallback']).toBe(`${e.url}/webhooks/twilio/status?timerId=${id}`);
    // ValidityPeriod: the message may not wait at the provider past 21:00 New York (9 h away, capped at 4 h).
    expect(Number(msg!.params['ValidityPeriod'])).toBe(14_400);
    expect(msg!.idempotencyToken).toBe(id);

    const verify = await e.api('GET', '/v1/audit/verify');
    expect(verify.body).toMatchObject({ ok: true });
    expect(verify.body.count).toBeGreaterThanOrEqual(4);
  });

  it('voice timers go through the Calls API and settle on the call status', async () => {
    const created = await e.api('POST', '/v1/timers', {
      contact: { phone: '+12125550102', zip: '10001' },
      channel: 'voice',
      at: inMs(0),
      policy: 'cancel',
      purpose: 'informational',
      voice: { twiml: '<Response><Say>Your appointment is tomorrow</Say></Response>' },
    });
    expect(created.status).toBe(201);
    const done = await until(async () => {
      const t = await timer(created.body.id);
      return t.status === 'delivered' ? t : null;
    }, 20_000);
    expect(done.providerId).toMatch(/^CA/);
    const call = e.emulator.emulator.calls().find((c) => c.params['To'] === '+12125550102');
    expect(call?.params['Twiml']).toContain('<Say>');
  });
});

describe('the horizon keeps Redis small', () => {
  it('only timers due within the horizon become BullMQ jobs', async () => {
    const far = await Promise.all([1, 2, 3].map((i) => e.api('POST', '/v1/timers', smsBody({ contact: { phone: `+1212555011${i}`, zip: '10001' }, at: inMs(3600_000) }))));
    const near = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: '+12125550119', zip: '10001' }, at: inMs(2000) }));
    await until(async () => (await e.rt.prisma.timer.findUniqueOrThrow({ where: { id: near.body.id } })).status !== 'scheduled');
    // Let the pump run a few more times: the far timers must stay in Postgres only.
    await new Promise((r) => setTimeout(r, 800));
    for (const f of far) {
      const row = await e.rt.prisma.timer.findUniqueOrThrow({ where: { id: f.body.id } });
      expect(row.status).toBe('scheduled');
      expect(await e.rt.queue.queue.getJob(`${f.body.id}_${row.sendAt!.getTime()}`)).toBeUndefined();
    }
    await until(async () => (await timer(near.body.id)).status === 'delivered', 20_000);
  });
});

describe('cancel', () => {
  it('a cancelled timer is never sent; a sent one cannot be cancelled (409)', async () => {
    const phone = '+12125550121';
    const created = await e.api('POST', '/v1/timers', smsBody({ contact: { phone, zip: '10001' }, at: inMs(2500) }));
    const del = await e.api('DELETE', `/v1/timers/${created.body.id}`);
    expect(del.status).toBe(200);
    expect(del.body.status).toBe('cancelled');
    expect((await e.api('DELETE', `/v1/timers/${created.body.id}`)).status).toBe(200);
    const got = await timer(created.body.id);
    expect(got.events.map((ev: { action: string; reasonCodes: string[] }) => [ev.action, ev.reasonCodes])).toContainEqual(['timer.cancelled', ['CANCELLED_BY_REQUEST']]);

    const other = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: '+12125550122', zip: '10001' }, at: inMs(0) }));
    await until(async () => ['sent', 'delivered'].includes((await timer(other.body.id)).status), 20_000);
    const late = await e.api('DELETE', `/v1/timers/${other.body.id}`);
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('CONFLICT');

    // Well past its due time, the cancelled timer was never sent.
    await new Promise((r) => setTimeout(r, 3000));
    expect(sentTo(phone)).toHaveLength(0);
    expect((await timer(created.body.id)).status).toBe('cancelled');
  });
});

describe('idempotent create', () => {
  it('the same key and body replay the first answer; another body is refused; races create one timer', async () => {
    const body = smsBody({ contact: { phone: '+12125550131', zip: '10001' }, at: inMs(3600_000) });
    const first = await e.api('POST', '/v1/timers', body, { 'idempotency-key': 'order-1' });
    const again = await e.api('POST', '/v1/timers', body, { 'idempotency-key': 'order-1' });
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    const changed = await e.api('POST', '/v1/timers', { ...body, policy: 'cancel' }, { 'idempotency-key': 'order-1' });
    expect(changed.status).toBe(422);
    expect(changed.body.error.code).toBe('IDEMPOTENCY_MISMATCH');

    const raceBody = smsBody({ contact: { phone: '+12125550132', zip: '10001' }, at: inMs(3600_000) });
    const answers = await Promise.all(Array.from({ length: 8 }, () => e.api('POST', '/v1/timers', raceBody, { 'idempotency-key': 'race-1' })));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(201));
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect(await e.rt.prisma.timer.count({ where: { idempotencyKey: 'race-1' } })).toBe(1);
  });
});

describe('policy applied at fire time', () => {
  it('a window that closed while the timer waited: next_slot moves it to 08:00, cancel cancels it', async () => {
    // Stand at 20:59:57 New York; timers due at 20:59:59 are allowed when created…
    e.clock.offset = offsetTo('2026-12-09T01:59:57Z');
    const moveMe = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: '+12125550141', zip: '10001' }, at: inMs(2000), policy: 'next_slot' }));
    const dropMe = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: '+12125550142', zip: '10001' }, at: inMs(2000), policy: 'cancel' }));
    expect(moveMe.body.decision).toBe('send');
    expect(dropMe.body.decision).toBe('send');
    // …but the clock jumps past 21:00 before they fire.
    e.clock.offset = offsetTo('2026-12-09T02:00:30Z') - 1000;

    const moved = await until(async () => {
      const t = await timer(moveMe.body.id);
      return t.events.some((ev: { action: string }) => ev.action === 'timer.rescheduled') ? t : null;
    });
    expect(moved.status).toBe('scheduled');
    expect(moved.sendAt).toBe('2026-12-09T13:00:00.000Z');
    expect(moved.localSendAt).toBe('2026-12-09T08:00:00-05:00');
    expect(moved.reasons.map((r: { code: string }) => r.code)).toContain('OUTSIDE_HOURS');

    const dropped = await until(async () => {
      const t = await timer(dropMe.body.id);
      return t.status === 'cancelled' ? t : null;
    });
    expect(dropped.events.at(-1)).toMatchObject({ action: 'timer.cancelled', decision: 'cancel' });
    expect(dropped.events.at(-1).reasonCodes).toContain('OUTSIDE_HOURS');
    expect(sentTo('+12125550141')).toHaveLength(0);
    expect(sentTo('+12125550142')).toHaveLength(0);
    e.clock.offset = offsetTo(NOON_NY);
  });

  it('a number suppressed while the timer waited is not sent (status suppressed)', async () => {
    const phone = '+12125550151';
    const created = await e.api('POST', '/v1/timers', smsBody({ contact: { phone, zip: '10001' }, at: inMs(1500) }));
    await e.rt.prisma.suppression.create({ data: { orgId: e.orgId, phoneE164: phone, phoneHash: 'x', reason: 'STOP', source: 'test' } });
    const t = await until(async () => {
      const x = await timer(created.body.id);
      return x.status === 'suppressed' ? x : null;
    });
    expect(t.events.at(-1).reasonCodes).toEqual(['SUPPRESSED']);
    expect(sentTo(phone)).toHaveLength(0);
  });
});

describe('provider errors', () => {
  it('21610 (unsubscribed) suppresses the number; 21211 (invalid) fails the timer; neither is retried', async () => {
    const unsub = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: '+15005550004', zip: '10001' }, at: inMs(0), purpose: 'informational' }));
    const invalid = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: '+15005550001', zip: '10001' }, at: inMs(0), purpose: 'informational' }));
    expect(unsub.status).toBe(201);
    const u = await until(async () => ((await timer(unsub.body.id)).status === 'suppressed' ? timer(unsub.body.id) : null));
    const i = await until(async () => ((await timer(invalid.body.id)).status === 'failed' ? timer(invalid.body.id) : null));
    expect(u.attempts).toBe(1);
    expect(i.attempts).toBe(1);
    expect(i.lastError).toMatch(/^21211/);
    expect(await e.rt.prisma.suppression.count({ where: { orgId: e.orgId, phoneE164: '+15005550004', source: 'provider' } })).toBe(1);
    expect(e.emulator.emulator.messages().filter((m) => m.params['To'] === '+15005550001')).toHaveLength(1);
  });

  it('a 5xx is retried with backoff and then succeeds (same idempotency token)', async () => {
    e.emulator.emulator.addFault({ status: 503, code: 20503, times: 1, resource: 'messages' });
    const created = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: '+12125550161', zip: '10001' }, at: inMs(0) }));
    const t = await until(async () => {
      const x = await timer(created.body.id);
      return x.status === 'delivered' ? x : null;
    }, 20_000);
    expect(t.attempts).toBe(2);
    expect(t.events.map((ev: { action: string }) => ev.action)).toContain('timer.send_deferred');
  });
});

describe('status webhook', () => {
  it('rejects a missing or wrong X-Twilio-Signature with 403 and accepts a valid one', async () => {
    const created = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: '+12125550171', zip: '10001' }, at: inMs(3600_000) }));
    const url = `${e.url}/webhooks/twilio/status?timerId=${created.body.id}`;
    const params = { MessageSid: 'SM00000000000000000000000000000001', MessageStatus: 'delivered' };
    const post = (headers: Record<string, string>) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(params).toString() });
    expect((await post({})).status).toBe(403);
    expect((await post({ 'x-twilio-signature': 'bm9wZQ==' })).status).toBe(403);
    const wrongKey = twilio.getExpectedTwilioSignature('another-token', url, params);
    expect((await post({ 'x-twilio-signature': wrongKey })).status).toBe(403);
    // A valid signature for a scheduled (never sent) timer: accepted, but the life cycle refuses scheduled → delivered.
    const good = twilio.getExpectedTwilioSignature(AUTH_TOKEN, url, params);
    expect((await post({ 'x-twilio-signature': good })).status).toBe(204);
    expect((await timer(created.body.id)).status).toBe('scheduled');
  });
});

describe('API boundaries', () => {
  it('validates bodies and queries, rejects unknown fields, answers 404 for other orgs, never 500', async () => {
    const unknownField = await e.api('POST', '/v1/timers', { ...smsBody({ at: inMs(0) }), colour: 'red' });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.error.code).toBe('INVALID_ARGUMENT');
    const badJson = await e.api('POST', '/v1/timers', '{"contact":');
    expect(badJson.status).toBe(400);
    const badInstant = await e.api('POST', '/v1/timers', smsBody({ at: '2026-12-08 12:00' }));
    expect(badInstant.status).toBe(400);
    expect(badInstant.body.error.code).toBe('INVALID_INSTANT');
    const badPhone = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: '12', zip: '10001' }, at: inMs(0) }));
    expect(badPhone.status).toBe(400);
    expect(badPhone.body.error.code).toBe('INVALID_PHONE');
    const unknownZip = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: '+12125550181', zip: '00000' }, at: inMs(0) }));
    expect(unknownZip.status).toBe(422);
    const smsWithoutBody = await e.api('POST', '/v1/timers', { ...smsBody({ at: inMs(0) }), message: undefined });
    expect(smsWithoutBody.status).toBe(400);
    const huge = await e.api('POST', '/v1/timers', smsBody({ at: inMs(0), message: { body: 'x'.repeat(200_000) } }));
    expect(huge.status).toBe(413);
    expect((await e.api('GET', '/v1/timers?limit=0')).status).toBe(400);
    expect((await e.api('GET', '/v1/timers?colour=red')).status).toBe(400);
    expect((await e.api('GET', '/v1/timers/not-a-uuid')).status).toBe(400);
    expect((await fetch(`${e.url}/v1/timers`)).status).toBe(401);

    const mine = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: '+12125550182', zip: '10001' }, at: inMs(3600_000) }));
    const other = await createApiKey(e.rt.prisma, { orgName: `other-${e.prefix}`, role: 'admin' });
    const asOther = (method: string, path: string) => fetch(`${e.url}${path}`, { method, headers: { authorization: `Bearer ${other.key}` } });
    expect((await asOther('GET', `/v1/timers/${mine.body.id}`)).status).toBe(404);
    expect((await asOther('DELETE', `/v1/timers/${mine.body.id}`)).status).toBe(404);
    const list = (await (await asOther('GET', '/v1/timers')).json()) as { items: unknown[] };
    expect(list.items).toHaveLength(0);
    const audit = (await (await asOther('GET', `/v1/audit?timerId=${mine.body.id}`)).json()) as { items: unknown[] };
    expect(audit.items).toHaveLength(0);
  });

  it('lists timers and audit entries with cursors', async () => {
    const seen = new Set<string>();
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { items: Array<{ id: string }>; nextCursor: string | null } } = await e.api('GET', `/v1/timers?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      for (const t of page.body.items) seen.add(t.id);
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen.size).toBe(await e.rt.prisma.timer.count({ where: { orgId: e.orgId } }));

    const a1 = await e.api('GET', '/v1/audit?limit=3');
    expect(a1.body.items).toHaveLength(3);
    const a2 = await e.api('GET', `/v1/audit?limit=3&cursor=${a1.body.nextCursor}`);
    expect(a2.body.items[0].seq).toBe(a1.body.items[2].seq + 1);
    expect(JSON.stringify(a1.body)).not.toContain('+1212555');
  });
});
