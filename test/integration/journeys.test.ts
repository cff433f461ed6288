/**
 * Journeys on the real engine: start (default TTLs), read, extend, end (cancelling pending
 * timers in the same transaction), expiry on time by the reconciler with no API call, the
 * dispatcher's refusal at fire time, 409 for timers on a closed journey, previous_slot aimed
 * before the expiry, roles and org isolation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/adapters/auth/api-keys.ts';
import type { Stoppable } from '../../src/runtime.ts';
import { offsetTo, smsBody, startEngine, until, type TestEngine } from '../helpers/engine.ts';

// Tuesday 2026-12-08 12:00 in New York (17:00Z).
const NOON_NY = '2026-12-08T17:00:00Z';
const DAY = 86_400_000;

let e: TestEngine;
let reconciler: Stoppable;
const inMs = (ms: number) => new Date(e.clock.now() + ms).toISOString();
const timer = async (id: string) => (await e.api('GET', `/v1/timers/${id}`)).body;
const sentTo = (phone: string) => e.emulator.emulator.messages().filter((m) => m.params['To'] === phone);
const as = (key: string) => async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${e.url}${path}`, { method, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
};
const start = async (phone: string, extra: Record<string, unknown> = {}) => {
  const res = await e.api('POST', '/v1/journeys', { contact: { phone, zip: '10001' }, ...extra });
  expect(res.status).toBe(201);
  return res.body;
};
const actions = (events: Array<{ action: string; reasonCodes: string[] }>) => events.map((ev) => [ev.action, ev.reasonCodes]);

beforeAll(async () => {
  e = await startEngine({ env: { RECONCILE_INTERVAL: '200ms' }, parts: ['pump', 'dispatcher'], clockOffsetMs: offsetTo(NOON_NY) });
  reconciler = e.start('reconciler');
});
afterAll(async () => {
  await e?.stop();
});

describe('start, read, extend, end', () => {
  it('starts with the deployment TTL (30 days), the request TTL, or the org setting', async () => {
    const j = await start('+12125550301');
    expect(j).toMatchObject({ status: 'active', endedAt: null, endReason: null });
    expect(Date.parse(j.expiresAt) - Date.parse(j.createdAt)).toBe(30 * DAY);

    const short = await start('+12125550301', { ttl: 3600 });
    expect(short.contactId).toBe(j.contactId);
    expect(Date.parse(short.expiresAt) - Date.parse(short.createdAt)).toBe(3600_000);

    expect((await e.api('PATCH', '/v1/org/settings', { journeyTtlSeconds: 7200 })).status).toBe(200);
    const byOrg = await e.api('POST', '/v1/journeys', { contactId: j.contactId });
    expect(byOrg.status).toBe(201);
    expect(Date.parse(byOrg.body.expiresAt) - Date.parse(byOrg.body.createdAt)).toBe(7200_000);

    const audit = await e.api('GET', `/v1/audit?journeyId=${j.id}`);
    expect(audit.body.items.map((a: { action: string }) => a.action)).toEqual(['journey.started']);

    // Validation: exactly one of contact / contactId; TTL bounds; unknown contact.
    expect((await e.api('POST', '/v1/journeys', { ttl: 3600 })).status).toBe(400);
    expect((await e.api('POST', '/v1/journeys', { contactId: j.contactId, ttl: 59 })).status).toBe(400);
    expect((await e.api('POST', '/v1/journeys', { contactId: j.contactId, ttl: 31_536_001 })).status).toBe(400);
    expect((await e.api('POST', '/v1/journeys', { contactId: '00000000-0000-4000-8000-000000000000' })).status).toBe(404);
  });

  it('extends by seconds or to an instant, never to now or earlier; audited', async () => {
    const j = await start('+12125550302', { ttl: 3600 });
    const by = await e.api('POST', `/v1/journeys/${j.id}/extend`, { by: 600 });
    expect(by.status).toBe(200);
    expect(Date.parse(by.body.expiresAt) - Date.parse(j.expiresAt)).toBe(600_000);
    const target = new Date(Date.parse(j.expiresAt) + DAY).toISOString();
    const to = await e.api('POST', `/v1/journeys/${j.id}/extend`, { until: target });
    expect(to.body.expiresAt).toBe(target);

    expect((await e.api('POST', `/v1/journeys/${j.id}/extend`, {})).status).toBe(400);
    expect((await e.api('POST', `/v1/journeys/${j.id}/extend`, { by: 60, until: target })).status).toBe(400);
    const past = await e.api('POST', `/v1/journeys/${j.id}/extend`, { until: inMs(-1000) });
    expect(past.status).toBe(400);
    expect(past.body.error.code).toBe('INVALID_ARGUMENT');

    const audit = await e.api('GET', `/v1/audit?journeyId=${j.id}&action=journey.extended`);
    expect(audit.body.items).toHaveLength(2);
    expect(audit.body.items[0].data).toMatchObject({ from: j.expiresAt, by: 600 });
  });

  it('end cancels the pending timers of the journey (JOURNEY_ENDED) and no others; a closed journey refuses timers (409)', async () => {
    const phone = '+12125550303';
    const j = await start(phone, { ttl: 86_400 });
    const far = await e.api('POST', '/v1/timers', smsBody({ contactId: j.contactId, contact: undefined, journeyId: j.id, at: inMs(2 * 3600_000) }));
    const near = await e.api('POST', '/v1/timers', smsBody({ contactId: j.contactId, contact: undefined, journeyId: j.id, at: inMs(60_000) }));
    const outside = await e.api('POST', '/v1/timers', smsBody({ contactId: j.contactId, contact: undefined, at: inMs(2 * 3600_000) }));
    expect([far.status, near.status, outside.status]).toEqual([201, 201, 201]);
    await until(async () => (await timer(near.body.id)).status === 'queued');

    const got = await e.api('GET', `/v1/journeys/${j.id}`);
    expect(got.body.timers).toEqual([
      { id: far.body.id, status: 'scheduled' },
      { id: near.body.id, status: 'queued' },
    ]);

    const ended = await e.api('POST', `/v1/journeys/${j.id}/end`, { reason: 'customer converted' });
    expect(ended.status).toBe(200);
    expect(ended.body).toMatchObject({ status: 'ended', endReason: 'customer converted', cancelledTimers: 2 });
    expect(ended.body.endedAt).not.toBeNull();
    for (const id of [far.body.id, near.body.id]) {
      const t = await timer(id);
      expect(t.status).toBe('cancelled');
      expect(t.reasons.map((r: { code: string }) => r.code)).toEqual(['JOURNEY_ENDED']);
      expect(actions(t.events)).toEqual([
        ['timer.created', ['ALLOWED']],
        ['timer.cancelled', ['JOURNEY_ENDED']],
      ]);
    }
    expect((await timer(outside.body.id)).status).toBe('scheduled');
    expect((await e.api('GET', `/v1/journeys/${j.id}`)).body.timers.map((t: { status: string }) => t.status)).toEqual(['cancelled', 'cancelled']);

    // The journey's entries: started, its timers created, ended, then the two cancellations (one batch).
    const audit = await e.api('GET', `/v1/audit?journeyId=${j.id}`);
    expect(audit.body.items.map((a: { action: string }) => a.action)).toEqual(['journey.started', 'timer.created', 'timer.created', 'journey.ended', 'timer.cancelled', 'timer.cancelled']);
    expect((await e.api('GET', '/v1/audit/verify')).body.ok).toBe(true);

    // Closed: no new timer, no extension; ending again answers the ended journey.
    const refused = await e.api('POST', '/v1/timers', smsBody({ contactId: j.contactId, contact: undefined, journeyId: j.id, at: inMs(3600_000) }));
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('CONFLICT');
    expect((await e.api('POST', `/v1/journeys/${j.id}/extend`, { by: 60 })).status).toBe(409);
    const again = await e.api('POST', `/v1/journeys/${j.id}/end`);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ status: 'ended', endReason: 'customer converted', cancelledTimers: 0 });

    // The near timer's job fires and finds it cancelled: nothing is sent.
    await new Promise((r) => setTimeout(r, 500));
    expect(sentTo(phone)).toHaveLength(0);
    await e.api('DELETE', `/v1/timers/${outside.body.id}`);
  });

  it('roles: auditors read only; another org sees 404', async () => {
    const j = await start('+12125550304', { ttl: 3600 });
    const auditor = as((await createApiKey(e.rt.prisma, { orgId: e.orgId, role: 'auditor' })).key);
    const journeyRole = as((await createApiKey(e.rt.prisma, { orgId: e.orgId, role: 'journey' })).key);
    expect((await auditor('GET', `/v1/journeys/${j.id}`)).status).toBe(200);
    expect((await auditor('POST', '/v1/journeys', { contactId: j.contactId })).status).toBe(403);
    expect((await auditor('POST', `/v1/journeys/${j.id}/end`)).status).toBe(403);
    expect((await journeyRole('POST', `/v1/journeys/${j.id}/extend`, { by: 60 })).status).toBe(200);

    const other = as((await createApiKey(e.rt.prisma, { orgName: `other-${e.prefix}`, role: 'admin' })).key);
    expect((await other('GET', `/v1/journeys/${j.id}`)).status).toBe(404);
    expect((await other('POST', `/v1/journeys/${j.id}/extend`, { by: 60 })).status).toBe(404);
    expect((await other('POST', `/v1/journeys/${j.id}/end`)).status).toBe(404);
    expect((await other('POST', '/v1/journeys', { contactId: j.contactId })).status).toBe(404);
    expect((await e.api('GET', `/v1/journeys/${j.id}`)).body.status).toBe('active');
  });
});

describe('expiry', () => {
  it('a journey expiring in ~1.5 s cancels its pending timers on time, with no API call; the queued one is never sent', async () => {
    const phone = '+12125550311';
    const j = await start(phone, { ttl: 3 * 3600 });
    const queued = await e.api('POST', '/v1/timers', smsBody({ contactId: j.contactId, contact: undefined, journeyId: j.id, at: inMs(4000) }));
    const later = await e.api('POST', '/v1/timers', smsBody({ contactId: j.contactId, contact: undefined, journeyId: j.id, at: inMs(2 * 3600_000) }));
    await until(async () => (await timer(queued.body.id)).status === 'queued');
    // Shorten it: it now ends before the queued timer is due.
    const shortened = await e.api('POST', `/v1/journeys/${j.id}/extend`, { until: inMs(1500) });
    const expiresAt = Date.parse(shortened.body.expiresAt);

    const cancelled = await until(async () => {
      const ts = await Promise.all([timer(queued.body.id), timer(later.body.id)]);
      return ts.every((t) => t.status === 'cancelled') ? ts : null;
    }, 10_000);
    for (const t of cancelled) {
      const ev = t.events[t.events.length - 1];
      expect(ev).toMatchObject({ action: 'timer.cancelled', reasonCodes: ['JOURNEY_EXPIRED'] });
      // On time: within a couple of reconcile intervals of the expiry (engine clock).
      expect(Date.parse(ev.at)).toBeGreaterThanOrEqual(expiresAt);
      expect(Date.parse(ev.at) - expiresAt).toBeLessThan(1500);
    }
    const got = (await e.api('GET', `/v1/journeys/${j.id}`)).body;
    expect(got).toMatchObject({ status: 'expired', endReason: 'JOURNEY_EXPIRED' });
    expect((await e.rt.prisma.journey.findUniqueOrThrow({ where: { id: j.id } })).status).toBe('expired');
    const audit = await e.api('GET', `/v1/audit?journeyId=${j.id}&action=journey.expired`);
    expect(audit.body.items).toHaveLength(1);

    // Past the queued timer's due time: never sent. Timers on the expired journey are refused.
    await until(() => e.clock.now() > Date.parse(queued.body.sendAt) + 1500, 10_000);
    expect(sentTo(phone)).toHaveLength(0);
    const refused = await e.api('POST', '/v1/timers', smsBody({ contactId: j.contactId, contact: undefined, journeyId: j.id, at: inMs(60_000) }));
    expect(refused.status).toBe(409);
    expect((await e.api('POST', `/v1/journeys/${j.id}/end`)).status).toBe(409);
  });

  it('without the reconciler the dispatcher refuses at fire time a timer past the expiry (JOURNEY_EXPIRED)', async () => {
    await reconciler.stop();
    try {
      const phone = '+12125550312';
      const j = await start(phone, { ttl: 3600 });
      const t = await e.api('POST', '/v1/timers', smsBody({ contactId: j.contactId, contact: undefined, journeyId: j.id, at: inMs(3000) }));
      await e.api('POST', `/v1/journeys/${j.id}/extend`, { until: inMs(1500) });
      const done = await until(async () => {
        const x = await timer(t.body.id);
        return x.status === 'cancelled' ? x : null;
      }, 10_000);
      expect(done.events[done.events.length - 1]).toMatchObject({ action: 'timer.cancelled', reasonCodes: ['JOURNEY_EXPIRED'], data: { phase: 'fire' } });
      expect(sentTo(phone)).toHaveLength(0);
      // Not recorded yet (no reconciler), but shown as expired.
      expect((await e.rt.prisma.journey.findUniqueOrThrow({ where: { id: j.id } })).status).toBe('active');
      expect((await e.api('GET', `/v1/journeys/${j.id}`)).body.status).toBe('expired');
    } finally {
      reconciler = e.start('reconciler');
    }
  });

  it('previous_slot aims before the expiry; next_slot past it is cancelled', async () => {
    // The journey expires at 22:00 New York; a reminder asked for 09:00 the next day goes out before 21:00.
    const expiry = Date.parse('2026-12-09T03:00:00Z');
    const j = await start('+12125550313', { ttl: Math.round((expiry - e.clock.now()) / 1000) });
    const prev = await e.api('POST', '/v1/timers', smsBody({ contactId: j.contactId, contact: undefined, journeyId: j.id, at: '2026-12-09T14:00:00Z', policy: 'previous_slot' }));
    expect(prev.status).toBe(201);
    expect(prev.body).toMatchObject({ status: 'scheduled', decision: 'reschedule' });
    expect(Date.parse(prev.body.sendAt)).toBeLessThan(Date.parse(j.expiresAt));
    expect(Date.parse(prev.body.sendAt)).toBeLessThanOrEqual(Date.parse('2026-12-09T02:00:00Z'));
    expect(Date.parse(prev.body.sendAt)).toBeGreaterThan(Date.parse('2026-12-09T01:00:00Z'));

    const next = await e.api('POST', '/v1/timers', smsBody({ contactId: j.contactId, contact: undefined, journeyId: j.id, at: '2026-12-09T14:00:00Z', policy: 'next_slot' }));
    expect(next.body).toMatchObject({ status: 'cancelled', decision: 'cancel' });
    expect(next.body.reasons.map((r: { code: string }) => r.code)).toContain('AFTER_NOT_AFTER');
    await e.api('POST', `/v1/journeys/${j.id}/end`);
  });
});
