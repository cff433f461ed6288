/**
 * Frequency caps under concurrency: several dispatchers fire many timers for one contact at the
 * same instant. The fire-time judgement and the claim happen in one transaction holding the
 * contact's lock, so each dispatcher counts the claims before it: Florida's 3 marketing contacts
 * per rolling 24 h lets exactly 3 through; the rest move to when the window frees (next_slot) or
 * are cancelled (cancel), with reason FREQUENCY_CAP. Maine: 1 automated marketing call per 8 h.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offsetTo, startEngine, until, type TestEngine } from '../helpers/engine.ts';

// Tuesday 2026-12-08 12:00 in Miami and Portland ME (17:00Z): inside FL's 08–20 and ME's 09–17.
const NOON_ET = '2026-12-08T17:00:00Z';
const DAY = 24 * 3600_000;

let e: TestEngine;
const inMs = (ms: number) => new Date(e.clock.now() + ms).toISOString();
const sentSms = (phone: string) => e.emulator.emulator.messages().filter((m) => m.params['To'] === phone && m.sid !== null);
const sentCalls = (phone: string) => e.emulator.emulator.calls().filter((m) => m.params['To'] === phone && m.sid !== null);

beforeAll(async () => {
  // No dispatcher from the helper: the test runs four at once, each with a high concurrency.
  e = await startEngine({ env: { DISPATCH_CONCURRENCY: '50' }, parts: ['pump', 'reconciler'], clockOffsetMs: offsetTo(NOON_ET) });
  for (let i = 0; i < 4; i++) e.start('dispatcher');
});
afterAll(async () => {
  await e?.stop();
});

/** A contact with express written consent for marketing on `channel`; returns its id. */
async function consentingContact(phone: string, zip: string, channel: 'sms' | 'voice'): Promise<string> {
  const j = await e.api('POST', '/v1/journeys', { contact: { phone, zip }, ttl: 7 * 86_400 });
  expect(j.status).toBe(201);
  const c = await e.api('POST', `/v1/contacts/${j.body.contactId}/consents`, { type: 'express_written', channel, purpose: 'marketing', source: 'web-form:test', capturedAt: inMs(-86_400_000) });
  expect(c.status).toBe(201);
  return j.body.contactId as string;
}

const FINAL_OR_MOVED = (sendAt: string) => (t: { status: string; sendAt: string | null }) => ['sent', 'delivered', 'cancelled'].includes(t.status) || (t.status === 'scheduled' && t.sendAt !== sendAt);

describe('Florida: 3 marketing contacts per rolling 24 h', () => {
  it('8 timers due at once, 4 dispatchers: exactly 3 are sent, 5 move to when the window frees', async () => {
    const phone = '+13055550101';
    const contactId = await consentingContact(phone, '33101', 'sms');
    const at = inMs(3000);
    const created = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        e.api('POST', '/v1/timers', { contactId, channel: 'sms', at, policy: 'next_slot', purpose: 'marketing', message: { body: `Holiday sale ${i}` } }),
      ),
    );
    for (const c of created) expect(c.body).toMatchObject({ status: 'scheduled', decision: 'send', sendAt: new Date(at).toISOString() });
    const ids = created.map((c) => c.body.id as string);

    const timers = await until(async () => {
      const all = await Promise.all(ids.map(async (id) => (await e.api('GET', `/v1/timers/${id}`)).body));
      return all.every(FINAL_OR_MOVED(new Date(at).toISOString())) ? all : null;
    }, 20_000);
    const sent = timers.filter((t) => ['sent', 'delivered'].includes(t.status));
    const moved = timers.filter((t) => t.status === 'scheduled');
    expect(sent).toHaveLength(3);
    expect(moved).toHaveLength(5);

    // The window frees 24 h after the first of the three went out.
    const firstSent = Math.min(...sent.map((t) => Date.parse(t.sentAt)));
    for (const t of moved) {
      expect(t.reasons.map((r: { code: string }) => r.code)).toContain('FREQUENCY_CAP');
      expect(Math.abs(Date.parse(t.sendAt) - (firstSent + DAY))).toBeLessThan(10_000);
      const last = t.events[t.events.length - 1];
      expect(last).toMatchObject({ action: 'timer.rescheduled', reasonCodes: expect.arrayContaining(['FREQUENCY_CAP']) });
    }
    // Let any straggler run: the provider got exactly three messages for the number.
    await new Promise((r) => setTimeout(r, 1500));
    expect(sentSms(phone)).toHaveLength(3);
  });

  it('with policy cancel the extra timers are cancelled', async () => {
    const phone = '+13055550102';
    const contactId = await consentingContact(phone, '33101', 'sms');
    const at = inMs(2500);
    const created = await Promise.all(
      Array.from({ length: 6 }, () => e.api('POST', '/v1/timers', { contactId, channel: 'sms', at, policy: 'cancel', purpose: 'marketing', message: { body: 'Flash sale' } })),
    );
    const ids = created.map((c) => c.body.id as string);
    const timers = await until(async () => {
      const all = await Promise.all(ids.map(async (id) => (await e.api('GET', `/v1/timers/${id}`)).body));
      return all.every(FINAL_OR_MOVED(new Date(at).toISOString())) ? all : null;
    }, 20_000);
    expect(timers.filter((t) => ['sent', 'delivered'].includes(t.status))).toHaveLength(3);
    const cancelled = timers.filter((t) => t.status === 'cancelled');
    expect(cancelled).toHaveLength(3);
    for (const t of cancelled) expect(t.reasons.map((r: { code: string }) => r.code)).toContain('FREQUENCY_CAP');
    await new Promise((r) => setTimeout(r, 1000));
    expect(sentSms(phone)).toHaveLength(3);
  });
});

describe('Maine: 1 automated marketing call per 8 h', () => {
  it('3 voice timers at once: one call, the others cancelled', async () => {
    const phone = '+12075550101';
    const contactId = await consentingContact(phone, '04101', 'voice');
    const at = inMs(2500);
    const created = await Promise.all(
      Array.from({ length: 3 }, () =>
        e.api('POST', '/v1/timers', { contactId, channel: 'voice', at, policy: 'cancel', purpose: 'marketing', voice: { twiml: '<Response><Say>Winter offer</Say></Response>' } }),
      ),
    );
    for (const c of created) expect(c.body).toMatchObject({ status: 'scheduled', decision: 'send' });
    const ids = created.map((c) => c.body.id as string);
    const timers = await until(async () => {
      const all = await Promise.all(ids.map(async (id) => (await e.api('GET', `/v1/timers/${id}`)).body));
      return all.every(FINAL_OR_MOVED(new Date(at).toISOString())) ? all : null;
    }, 20_000);
    expect(timers.filter((t) => ['sent', 'delivered'].includes(t.status))).toHaveLength(1);
    const cancelled = timers.filter((t) => t.status === 'cancelled');
    expect(cancelled).toHaveLength(2);
    for (const t of cancelled) expect(t.reasons).toContainEqual(expect.objectContaining({ code: 'FREQUENCY_CAP', rule: 'ME.cap' }));
    await new Promise((r) => setTimeout(r, 1000));
    expect(sentCalls(phone)).toHaveLength(1);
  });
});

describe("An org's own cap (org settings calendar layer)", () => {
  it('2 informational texts per 24 h across channels, set by an admin: the third waits for the window', async () => {
    const patch = await e.api('PATCH', '/v1/org/settings', { calendar: { id: 'acme', caps: [{ count: 2, periodHours: 24, scope: 'any', channels: ['sms', 'voice'] }] } });
    expect(patch.status).toBe(200);
    try {
      const phone = '+12125550191';
      const at = inMs(2500);
      const created = await Promise.all(
        Array.from({ length: 3 }, (_, i) =>
          e.api('POST', '/v1/timers', { contact: { phone, zip: '10001' }, channel: 'sms', at, policy: 'next_slot', purpose: 'informational', message: { body: `Reminder ${i}` } }),
        ),
      );
      const ids = created.map((c) => c.body.id as string);
      const timers = await until(async () => {
        const all = await Promise.all(ids.map(async (id) => (await e.api('GET', `/v1/timers/${id}`)).body));
        return all.every(FINAL_OR_MOVED(new Date(at).toISOString())) ? all : null;
      }, 20_000);
      expect(timers.filter((t) => ['sent', 'delivered'].includes(t.status))).toHaveLength(2);
      const moved = timers.filter((t) => t.status === 'scheduled');
      expect(moved).toHaveLength(1);
      expect(moved[0].reasons).toContainEqual(expect.objectContaining({ code: 'ORG_FREQUENCY_CAP' }));
      expect(Date.parse(moved[0].sendAt)).toBeGreaterThanOrEqual(Date.parse(at) + DAY - 60_000);
      expect(sentSms(phone)).toHaveLength(2);
    } finally {
      await e.api('PATCH', '/v1/org/settings', { calendar: { id: 'acme' } });
    }
  });
});
