import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { afterFailure, buildEvent, DELIVERY_RETRY_MS, redact, retryDelayMs, shouldDisable, signatureHeader, verifySignature, ENDPOINT_DISABLE_MS } from '../../src/domain/webhooks.ts';

describe('webhook signatures', () => {
  it('verifies with either live secret, and rejects a changed body, a wrong secret, a stale timestamp and garbage', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 8 }), fc.string({ minLength: 8 }), (body, a, b) => {
        fc.pre(a !== b);
        const t = 1_800_000_000;
        const h = signatureHeader([a, b], t, body);
        expect(verifySignature(h, body, a, t)).toEqual({ ok: true });
        expect(verifySignature(h, body, b, t + 299)).toEqual({ ok: true });
        expect(verifySignature(h, `${body}x`, a, t)).toEqual({ ok: false, reason: 'mismatch' });
        expect(verifySignature(signatureHeader([a], t, body), body, b, t)).toEqual({ ok: false, reason: 'mismatch' });
        expect(verifySignature(h, body, a, t + 301)).toEqual({ ok: false, reason: 'stale' });
      }),
    );
    expect(verifySignature(undefined, '{}', 's', 0)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifySignature('v1=abc', '{}', 's', 0)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifySignature('t=12', '{}', 's', 12)).toEqual({ ok: false, reason: 'malformed' });
    // The documented shape: t=<unix>,v1=<64 hex>.
    expect(signatureHeader(['whsec_x'], 1_800_000_000, '{}')).toMatch(/^t=1800000000,v1=[0-9a-f]{64}$/);
  });
});

describe('webhook retries', () => {
  it('backs off 5 s, 10 s, 20 s … up to an hour, and gives up 3 days after the event', () => {
    expect([1, 2, 3, 4].map(retryDelayMs)).toEqual([5000, 10_000, 20_000, 40_000]);
    expect(retryDelayMs(50)).toBe(3600_000);
    const t0 = 1_800_000_000_000;
    expect(afterFailure(t0, 1, t0)).toEqual({ status: 'pending', nextAttemptAt: t0 + 5000 });
    expect(afterFailure(t0, 80, t0 + DELIVERY_RETRY_MS - 3600_000)).toEqual({ status: 'pending', nextAttemptAt: t0 + DELIVERY_RETRY_MS });
    expect(afterFailure(t0, 80, t0 + DELIVERY_RETRY_MS - 3599_999)).toEqual({ status: 'dead' });
    expect(shouldDisable(null, t0)).toBe(false);
    expect(shouldDisable(t0, t0 + ENDPOINT_DISABLE_MS - 1)).toBe(false);
    expect(shouldDisable(t0, t0 + ENDPOINT_DISABLE_MS)).toBe(true);
  });
});

describe('webhook events', () => {
  const entry = { id: '42', orgId: 'o', action: 'inbound.message', createdAt: 0, timerId: null, contactId: 'c', journeyId: 'j', campaignId: null, decision: null, reasonCodes: [], data: { inboundId: 'i', nested: [{ phone: '+12125550123', to: '+1', ok: 1 }], body: 'hi' } };
  it('never carries a body or a number unless the endpoint opted in, and then only an inbound message\'s', () => {
    expect(redact({ a: { body: 'x', from: '+1', keep: [{ phoneE164: '+1', k: 2 }] } })).toEqual({ a: { keep: [{ k: 2 }] } });
    const plain = buildEvent(entry, 'inbound.message', { includeBodies: false, inbound: { body: 'hi', from: '+12125550123' } });
    expect(JSON.stringify(plain)).not.toMatch(/5550123|"hi"/);
    expect(plain).toMatchObject({ id: 'evt_42', type: 'inbound.message', createdAt: '1970-01-01T00:00:00.000Z', data: { inboundId: 'i', nested: [{ ok: 1 }] } });
    const full = buildEvent(entry, 'inbound.message', { includeBodies: true, inbound: { body: 'hi', from: '+12125550123' } });
    expect(full.data).toMatchObject({ body: 'hi', from: '+12125550123' });
    expect(JSON.stringify(buildEvent({ ...entry, action: 'timer.sent' }, 'timer.sent', { includeBodies: true }))).not.toMatch(/5550123|"hi"/);
  });
});
