/**
 * Settling a lost send from the provider's list (src/domain/provider-match.ts): found, absent,
 * ambiguous or wait — and, as a property, absence is never concluded while anything that could
 * be this send is listed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { settleLostSend, type ListedSend, type LostSend } from '../../src/domain/provider-match.ts';

const CLAIM = Date.parse('2026-12-08T17:00:00Z');
const LEASE_END = CLAIM + 60_000;
const OPTS = { skewMs: 60_000, graceMs: 120_000 };
const AFTER_GRACE = LEASE_END + OPTS.graceMs;
const BODY = 'a'.repeat(64);
const OTHER_BODY = 'b'.repeat(64);

const sms: LostSend = { channel: 'sms', sender: '+15005550006', bodySha256: BODY, idempotencyToken: 'timer-1', claimedAt: CLAIM, leaseEndedAt: LEASE_END };
const voice: LostSend = { ...sms, channel: 'voice', bodySha256: null };

function send(over: Partial<ListedSend> = {}): ListedSend {
  return { providerId: `SM${Math.random().toString(16).slice(2)}`, from: '+15005550006', messagingServiceSid: null, bodySha256: BODY, idempotencyToken: null, createdAt: CLAIM + 1000, ...over };
}

describe('settleLostSend', () => {
  it('found by body hash, sender and time (what Twilio allows: it echoes no token)', () => {
    const s = send();
    expect(settleLostSend(sms, [s], true, new Set(), CLAIM + 2000, OPTS)).toEqual({ kind: 'found', send: s, method: 'body-hash+sender+time' });
    // Through a messaging service: the sender is the service, the number is the one it picked.
    const viaService = send({ from: '+15005550099', messagingServiceSid: 'MG1' });
    expect(settleLostSend({ ...sms, sender: 'MG1' }, [viaService], true, new Set(), CLAIM + 2000, OPTS)).toMatchObject({ kind: 'found', send: viaService });
  });

  it('found by the idempotency token where the provider echoes it, whatever the body', () => {
    const s = send({ idempotencyToken: 'timer-1', bodySha256: OTHER_BODY });
    expect(settleLostSend(sms, [send({ bodySha256: OTHER_BODY }), s], true, new Set(), CLAIM, OPTS)).toEqual({ kind: 'found', send: s, method: 'idempotency-token' });
  });

  it('voice: found by sender and time', () => {
    const c = send({ providerId: 'CA1', bodySha256: null });
    expect(settleLostSend(voice, [c], true, new Set(), CLAIM, OPTS)).toEqual({ kind: 'found', send: c, method: 'sender+time' });
  });

  it('ignores sends recorded on other timers and sends outside the window', () => {
    const mine = send();
    const recorded = send();
    const early = send({ createdAt: CLAIM - OPTS.skewMs - 1 });
    const late = send({ createdAt: LEASE_END + OPTS.skewMs + 1 });
    expect(settleLostSend(sms, [recorded, early, mine, late], true, new Set([recorded.providerId]), CLAIM, OPTS)).toMatchObject({ kind: 'found', send: mine });
  });

  it('two matching sends, or one with another body or sender in the window: ambiguous (after the grace), never a resend', () => {
    expect(settleLostSend(sms, [send(), send()], true, new Set(), CLAIM, OPTS)).toMatchObject({ kind: 'ambiguous', candidates: 2 });
    // e.g. a body the provider rewrote (a trial account's prefix): cannot be tied to this timer, cannot be ruled out either.
    expect(settleLostSend(sms, [send({ bodySha256: OTHER_BODY })], true, new Set(), LEASE_END, OPTS)).toEqual({ kind: 'wait' });
    expect(settleLostSend(sms, [send({ bodySha256: OTHER_BODY })], true, new Set(), AFTER_GRACE, OPTS)).toMatchObject({ kind: 'ambiguous', candidates: 1 });
    expect(settleLostSend(sms, [send({ from: '+15005550077' })], true, new Set(), AFTER_GRACE, OPTS)).toMatchObject({ kind: 'ambiguous', candidates: 1 });
  });

  it('absent only when nothing is listed, the listing is complete and the grace after the lease is over', () => {
    expect(settleLostSend(sms, [], true, new Set(), AFTER_GRACE - 1, OPTS)).toEqual({ kind: 'wait' });
    expect(settleLostSend(sms, [], true, new Set(), AFTER_GRACE, OPTS)).toEqual({ kind: 'absent' });
    expect(settleLostSend(sms, [], false, new Set(), AFTER_GRACE, OPTS)).toMatchObject({ kind: 'ambiguous', candidates: 0 });
    // What is recorded on another timer, or outside the window, does not hold absence back.
    const recorded = send();
    expect(settleLostSend(sms, [recorded, send({ createdAt: CLAIM - 3_600_000 })], true, new Set([recorded.providerId]), AFTER_GRACE, OPTS)).toEqual({ kind: 'absent' });
  });

  it('property: absent implies that no listed send unknown to the engine lies in the window', () => {
    const listed = fc.record({
      providerId: fc.constantFrom('S1', 'S2', 'S3', 'S4', 'S5'),
      from: fc.constantFrom('+15005550006', '+15005550077', null),
      messagingServiceSid: fc.constantFrom(null, 'MG1'),
      bodySha256: fc.constantFrom(BODY, OTHER_BODY, null),
      idempotencyToken: fc.constantFrom(null, 'timer-1', 'timer-2'),
      createdAt: fc.integer({ min: CLAIM - 200_000, max: LEASE_END + 200_000 }),
    });
    fc.assert(
      fc.property(fc.array(listed, { maxLength: 6 }), fc.boolean(), fc.subarray(['S1', 'S2', 'S3', 'S4', 'S5']), fc.integer({ min: CLAIM, max: AFTER_GRACE + 10_000 }), fc.constantFrom(sms, voice, { ...sms, sender: null }), (sends, complete, known, now, lost) => {
        const out = settleLostSend(lost, sends, complete, new Set(known), now, OPTS);
        const inWindow = sends.filter((s) => !known.includes(s.providerId) && s.createdAt >= CLAIM - OPTS.skewMs && s.createdAt <= LEASE_END + OPTS.skewMs);
        if (out.kind === 'absent') {
          expect(inWindow).toEqual([]);
          expect(complete).toBe(true);
          expect(now).toBeGreaterThanOrEqual(AFTER_GRACE);
        }
        if (out.kind === 'found') expect(inWindow).toContain(out.send);
      }),
      { seed: 8_122_026, numRuns: 3_000 },
    );
  });
});
