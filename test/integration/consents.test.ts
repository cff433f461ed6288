/**
 * Consent records on the real engine: a marketing timer needs express written consent on record
 * for its channel (the org default), at creation and again at fire time; revoking a consent
 * cancels the waiting marketing timers on that channel at once (NO_CONSENT); the history keeps
 * revoked records. Roles, validation and org isolation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/adapters/auth/api-keys.ts';
import { offsetTo, startEngine, until, type TestEngine } from '../helpers/engine.ts';

// Tuesday 2026-12-08 12:00 in New York (17:00Z).
const NOON_NY = '2026-12-08T17:00:00Z';

let e: TestEngine;
const inMs = (ms: number) => new Date(e.clock.now() + ms).toISOString();
const timer = async (id: string) => (await e.api('GET', `/v1/timers/${id}`)).body;
const sentTo = (phone: string) => e.emulator.emulator.messages().filter((m) => m.params['To'] === phone && m.sid !== null);
const codes = (t: { reasons: Array<{ code: string }> }) => t.reasons.map((r) => r.code);
const as = (key: string) => async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${e.url}${path}`, { method, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
};
const marketing = (over: Record<string, unknown>) => ({ channel: 'sms', policy: 'next_slot', purpose: 'marketing', message: { body: 'Winter sale: 20% off' }, ...over });
const consent = (over: Record<string, unknown> = {}) => ({ type: 'express_written', channel: 'sms', purpose: 'marketing', source: 'web-form:signup', capturedAt: inMs(-7 * 86_400_000), ...over });

beforeAll(async () => {
  e = await startEngine({ clockOffsetMs: offsetTo(NOON_NY) });
});
afterAll(async () => {
  await e?.stop();
});

describe('consent at creation and on revocation', () => {
  it('no consent → cancelled (NO_CONSENT); with consent → scheduled; revoked → the waiting timer is cancelled at once; history keeps both', async () => {
    const phone = '+12125550401';
    const without = await e.api('POST', '/v1/timers', marketing({ contact: { phone, zip: '10001' }, at: inMs(3600_000) }));
    expect(without.status).toBe(201);
    expect(without.body).toMatchObject({ status: 'cancelled', decision: 'cancel' });
    expect(codes(without.body)).toEqual(['NO_CONSENT']);
    const contactId = without.body.contactId as string;

    const sms = await e.api('POST', `/v1/contacts/${contactId}/consents`, consent({ evidence: { ip: '203.0.113.7', checkbox: 'I agree to marketing texts' } }));
    expect(sms.status).toBe(201);
    expect(sms.body).toMatchObject({ contactId, type: 'express_written', channel: 'sms', purpose: 'marketing', revokedAt: null, evidence: { ip: '203.0.113.7' } });
    const voice = await e.api('POST', `/v1/contacts/${contactId}/consents`, consent({ channel: 'voice', source: 'ivr' }));
    expect(voice.status).toBe(201);

    const withConsent = await e.api('POST', '/v1/timers', marketing({ contactId, at: inMs(3600_000) }));
    expect(withConsent.body).toMatchObject({ status: 'scheduled', decision: 'send' });
    const call = await e.api('POST', '/v1/timers', marketing({ contactId, channel: 'voice', message: undefined, voice: { twiml: '<Response><Say>Sale</Say></Response>' }, at: inMs(3600_000) }));
    expect(call.body).toMatchObject({ status: 'scheduled' });
    const info = await e.api('POST', '/v1/timers', marketing({ contactId, purpose: 'informational', at: inMs(3600_000) }));
    expect(info.body).toMatchObject({ status: 'scheduled' });

    const revoked = await e.api('POST', `/v1/contacts/${contactId}/consents/${sms.body.id}/revoke`, { reason: 'asked by email' });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: sms.body.id, revokeReason: 'asked by email', cancelledTimers: 1 });
    expect(revoked.body.revokedAt).not.toBeNull();

    const t = await timer(withConsent.body.id);
    expect(t.status).toBe('cancelled');
    expect(codes(t)).toEqual(['NO_CONSENT']);
    expect(t.events.map((ev: { action: string; reasonCodes: string[] }) => [ev.action, ev.reasonCodes])).toEqual([
      ['timer.created', ['ALLOWED']],
      ['timer.cancelled', ['NO_CONSENT']],
    ]);
    // Other channel and informational purpose: untouched.
    expect((await timer(call.body.id)).status).toBe('scheduled');
    expect((await timer(info.body.id)).status).toBe('scheduled');
    // A new marketing SMS is refused again.
    expect((await e.api('POST', '/v1/timers', marketing({ contactId, at: inMs(3600_000) }))).body.status).toBe('cancelled');

    const again = await e.api('POST', `/v1/contacts/${contactId}/consents/${sms.body.id}/revoke`);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ revokeReason: 'asked by email', cancelledTimers: 0 });

    const history = await e.api('GET', `/v1/contacts/${contactId}/consents`);
    expect(history.body.items).toHaveLength(2);
    expect(history.body.items.map((c: { channel: string; revokedAt: string | null }) => [c.channel, c.revokedAt !== null])).toEqual([
      ['sms', true],
      ['voice', false],
    ]);

    // Audited; the audit log keeps a digest of the evidence, not the evidence.
    const audit = await e.api('GET', `/v1/audit?contactId=${contactId}`);
    const byAction = (a: string) => audit.body.items.filter((x: { action: string }) => x.action === a);
    expect(byAction('consent.recorded')).toHaveLength(2);
    expect(byAction('consent.recorded')[0].data.evidence).toMatchObject({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(JSON.stringify(audit.body.items)).not.toContain('203.0.113.7');
    expect(byAction('consent.revoked')).toHaveLength(1);
    expect((await e.api('GET', '/v1/audit/verify')).body.ok).toBe(true);

    for (const id of [call.body.id, info.body.id]) await e.api('DELETE', `/v1/timers/${id}`);
  });
});

describe('consent at fire time', () => {
  it('a marketing timer with consent is sent', async () => {
    const phone = '+12125550411';
    const j = await e.api('POST', '/v1/journeys', { contact: { phone, zip: '10001' } });
    await e.api('POST', `/v1/contacts/${j.body.contactId}/consents`, consent());
    const t = await e.api('POST', '/v1/timers', marketing({ contactId: j.body.contactId, at: inMs(1000) }));
    expect(t.body.status).toBe('scheduled');
    await until(async () => ['sent', 'delivered'].includes((await timer(t.body.id)).status), 20_000);
    expect(sentTo(phone)).toHaveLength(1);
  });

  it('a timer created while the org did not require consent is cancelled when it fires once it does (NO_CONSENT)', async () => {
    const phone = '+12125550412';
    expect((await e.api('PATCH', '/v1/org/settings', { requireConsentForMarketing: false })).status).toBe(200);
    try {
      const t = await e.api('POST', '/v1/timers', marketing({ contact: { phone, zip: '10001' }, at: inMs(2500) }));
      expect(t.body).toMatchObject({ status: 'scheduled', decision: 'send' });
      expect((await e.api('PATCH', '/v1/org/settings', { requireConsentForMarketing: true })).status).toBe(200);
      const done = await until(async () => {
        const x = await timer(t.body.id);
        return x.status === 'cancelled' ? x : null;
      }, 20_000);
      expect(done.events[done.events.length - 1]).toMatchObject({ action: 'timer.cancelled', reasonCodes: ['NO_CONSENT'], data: { phase: 'fire' } });
      expect(sentTo(phone)).toHaveLength(0);
    } finally {
      await e.api('PATCH', '/v1/org/settings', { requireConsentForMarketing: true });
    }
  });
});

describe('validation, roles, isolation', () => {
  it('validates the body; ops record, auditors read, other orgs see 404', async () => {
    const j = await e.api('POST', '/v1/journeys', { contact: { phone: '+12125550421', zip: '10001' } });
    const contactId = j.body.contactId as string;
    const path = `/v1/contacts/${contactId}/consents`;
    expect((await e.api('POST', path, consent({ type: 'implied' }))).status).toBe(400);
    expect((await e.api('POST', path, consent({ capturedAt: '2026-12-01 10:00' }))).status).toBe(400);
    expect((await e.api('POST', path, consent({ capturedAt: inMs(3600_000) }))).status).toBe(400);
    expect((await e.api('POST', path, consent({ evidence: 'a string' }))).status).toBe(400);
    const big = await e.api('POST', path, consent({ evidence: { blob: 'x'.repeat(17 * 1024) } }));
    expect(big.status).toBe(400);
    expect(big.body.error.details).toContainEqual(expect.objectContaining({ path: 'body.evidence' }));
    expect((await e.api('POST', path, consent({ evidence: { blob: 'x'.repeat(15 * 1024) } }))).status).toBe(201);
    expect((await e.api('POST', '/v1/contacts/00000000-0000-4000-8000-000000000000/consents', consent())).status).toBe(404);

    const ops = as((await createApiKey(e.rt.prisma, { orgId: e.orgId, role: 'ops' })).key);
    const auditor = as((await createApiKey(e.rt.prisma, { orgId: e.orgId, role: 'auditor' })).key);
    const journey = as((await createApiKey(e.rt.prisma, { orgId: e.orgId, role: 'journey' })).key);
    const rec = await ops('POST', path, consent());
    expect(rec.status).toBe(201);
    const seen = await auditor('GET', path);
    expect(seen.status).toBe(200);
    // Auditors get a digest of each evidence object, never its content (it may hold personal data).
    expect(JSON.stringify(seen.body)).not.toContain('x'.repeat(100));
    expect(seen.body.items.find((c: { evidence: unknown }) => c.evidence !== null).evidence).toMatchObject({ digest: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    expect(JSON.stringify((await ops('GET', path)).body)).toContain('x'.repeat(100));
    expect((await auditor('POST', path, consent())).status).toBe(403);
    expect((await journey('POST', path, consent())).status).toBe(403);
    expect((await journey('GET', path)).status).toBe(403);

    const other = as((await createApiKey(e.rt.prisma, { orgName: `other-${e.prefix}`, role: 'admin' })).key);
    expect((await other('GET', path)).status).toBe(404);
    expect((await other('POST', path, consent())).status).toBe(404);
    expect((await other('POST', `${path}/${rec.body.id}/revoke`)).status).toBe(404);
    expect((await e.api('POST', `${path}/00000000-0000-4000-8000-000000000000/revoke`)).status).toBe(404);
  });
});
