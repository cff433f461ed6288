/** Timer-level rules (pure): life cycle, suppressions, journeys, consent, kill switches, SMS validity. */
import { describe, expect, it } from 'vitest';
import { loadCalendarSet } from '../../src/adapters/calendars/fs-loader.ts';
import type { DecideInput } from '../../src/domain/decide.ts';
import { resolveLocation } from '../../src/domain/location/resolve.ts';
import {
  canTransition,
  judgeTimer,
  killSwitchesFor,
  sourcesOf,
  validitySeconds,
  type ContactState,
  type KillSwitch,
} from '../../src/domain/timer-rules.ts';

const set = loadCalendarSet();
const T = (iso: string) => Date.parse(iso);
const iso = (ms: number | null | undefined) => (ms == null ? null : new Date(ms).toISOString());
const NOON_NY = '2026-12-08T17:00:00Z';
const none: ContactState = { suppressions: [], journey: null };

function input(over: Partial<DecideInput> = {}, zip = '10001'): DecideInput {
  return { location: resolveLocation({ zip, phone: '+12125550123' }), channel: 'sms', purpose: 'marketing', at: T(NOON_NY), now: T(NOON_NY), policy: 'next_slot', ...over };
}

describe('life cycle', () => {
  it('never leaves a final state, and an unknown send is never re-queued', () => {
    for (const final of ['delivered', 'failed', 'cancelled', 'suppressed', 'undelivered'] as const) expect(sourcesOf('queued')).not.toContain(final);
    expect(canTransition('unknown', 'queued')).toBe(false);
    expect(canTransition('unknown', 'sending')).toBe(false);
    expect(canTransition('sending', 'queued')).toBe(true);
    expect(canTransition('delivered', 'sent')).toBe(false);
    expect(sourcesOf('sending')).toEqual(['queued']);
  });
});

describe('judgeTimer', () => {
  it('sends now when allowed, with the window end', () => {
    const v = judgeTimer(set, input(), none, 'create');
    expect(v.kind).toBe('send');
    expect(v.kind === 'send' && iso(v.windowEnd)).toBe('2026-12-09T02:00:00.000Z');
  });

  it('a live suppression wins over everything; an expired or other-channel one does not', () => {
    const v = judgeTimer(set, input(), { ...none, suppressions: [{ channel: null, expiresAt: null, reason: 'STOP' }] }, 'create');
    expect(v.kind).toBe('suppress');
    expect(judgeTimer(set, input(), { ...none, suppressions: [{ channel: 'voice', expiresAt: null, reason: 'x' }] }, 'create').kind).toBe('send');
    expect(judgeTimer(set, input(), { ...none, suppressions: [{ channel: null, expiresAt: T(NOON_NY) - 1, reason: 'x' }] }, 'create').kind).toBe('send');
  });

  it('an ended or expired journey cancels; next_slot never moves past the expiry; previous_slot aims before it', () => {
    expect(judgeTimer(set, input(), { ...none, journey: { status: 'ended', expiresAt: T('2027-01-01T00:00:00Z') } }, 'create')).toMatchObject({ kind: 'cancel', reasons: [{ code: 'JOURNEY_ENDED' }] });
    expect(judgeTimer(set, input(), { ...none, journey: { status: 'active', expiresAt: T(NOON_NY) } }, 'fire')).toMatchObject({ kind: 'cancel', reasons: [{ code: 'JOURNEY_EXPIRED' }] });
    // 22:00 New York; the journey expires at 07:00 the next morning: no slot before expiry.
    const late = input({ at: T('2026-12-09T03:00:00Z'), now: T('2026-12-09T03:00:00Z') });
    const j = { status: 'active' as const, expiresAt: T('2026-12-09T12:00:00Z') };
    expect(judgeTimer(set, late, { ...none, journey: j }, 'create')).toMatchObject({ kind: 'cancel', reasons: expect.arrayContaining([expect.objectContaining({ code: 'AFTER_NOT_AFTER' })]) });
    // A reminder for 10:00 the day after expiry, previous_slot: the last allowed instant before expiry (20:59:59 the day before).
    const reminder = input({ at: T('2026-12-10T15:00:00Z'), now: T(NOON_NY), policy: 'previous_slot' });
    const v = judgeTimer(set, reminder, { ...none, journey: { status: 'active', expiresAt: T('2026-12-09T12:00:00Z') } }, 'create');
    expect(v.kind).toBe('reschedule');
    expect(v.kind === 'reschedule' && v.sendAt).toBeLessThan(T('2026-12-09T12:00:00Z'));
    expect(v.kind === 'reschedule' && iso(v.sendAt)).toBe('2026-12-09T01:59:00.000Z');
  });

  it('marketing needs express written consent for the channel when required; informational does not', () => {
    const consent = (records: ContactState['consent'] extends infer C ? C extends { records: infer R } ? R : never : never) => ({ ...none, consent: { requiredForMarketing: true, records } });
    expect(judgeTimer(set, input(), consent([]), 'create')).toMatchObject({ kind: 'cancel', reasons: [{ code: 'NO_CONSENT' }] });
    expect(judgeTimer(set, input({ purpose: 'informational' }), consent([]), 'create').kind).toBe('send');
    const written = { type: 'express_written' as const, channel: 'sms' as const, purpose: 'marketing' as const, capturedAt: T('2026-01-01T00:00:00Z'), revokedAt: null };
    expect(judgeTimer(set, input(), consent([written]), 'create').kind).toBe('send');
    expect(judgeTimer(set, input({ channel: 'voice' }), consent([written]), 'create').kind).toBe('cancel');
    expect(judgeTimer(set, input(), consent([{ ...written, revokedAt: T('2026-06-01T00:00:00Z') }]), 'create').kind).toBe('cancel');
    expect(judgeTimer(set, input(), consent([{ ...written, type: 'express' }]), 'create').kind).toBe('cancel');
    expect(judgeTimer(set, input(), { ...none, consent: { requiredForMarketing: false, records: [] } }, 'create').kind).toBe('send');
  });

  it('a kill switch on a jurisdiction or zip blocks its contacts for the period; policy decides', () => {
    const hurricane: KillSwitch = { id: 'k1', from: T('2026-12-08T00:00:00Z'), to: T('2026-12-10T00:00:00Z'), reason: 'hurricane', jurisdictions: ['LA'], zips: null };
    const la = input({}, '70112');
    const moved = judgeTimer(set, la, { ...none, killSwitches: [hurricane] }, 'create');
    expect(moved.kind).toBe('reschedule');
    // Louisiana: the switch ends at 18:00 local on the 9th; the next allowed instant is the 10th at 08:00 CST (LA's own window).
    expect(moved.kind === 'reschedule' && moved.sendAt).toBeGreaterThanOrEqual(hurricane.to);
    expect(moved.kind === 'reschedule' && moved.decision.reasons.map((r) => r.code)).toContain('BLACKOUT');
    expect(judgeTimer(set, { ...la, policy: 'cancel' }, { ...none, killSwitches: [hurricane] }, 'create')).toMatchObject({ kind: 'cancel' });
    expect(judgeTimer(set, input(), { ...none, killSwitches: [hurricane] }, 'create').kind).toBe('send');
    const byZip: KillSwitch = { ...hurricane, jurisdictions: null, zips: ['10001'] };
    expect(judgeTimer(set, input(), { ...none, killSwitches: [byZip] }, 'create').kind).toBe('reschedule');
    expect(killSwitchesFor([{ ...hurricane, jurisdictions: ['US'] }], resolveLocation({ zip: '10001' }))).toHaveLength(1);
  });
});

describe('validitySeconds', () => {
  it('is the time left in the window, between 1 s and 4 h', () => {
    expect(validitySeconds(0, 90_500)).toBe(90);
    expect(validitySeconds(0, 10 * 3600_000)).toBe(14_400);
    expect(validitySeconds(1000, 1000)).toBe(1);
  });
});
