/** Send-rate smoothing, the pure part: does a reserved slot fit the window, and what happens if not. */
import { describe, expect, it } from 'vitest';
import { loadCalendarSet } from '../../src/adapters/calendars/fs-loader.ts';
import type { DecideInput } from '../../src/domain/decide.ts';
import { resolveLocation } from '../../src/domain/location/resolve.ts';
import { fitSlot, judgeAfterWindow, judgeTimer, RATE_SLOT_TOLERANCE_MS, RATE_WINDOW_MARGIN_MS, type ContactState } from '../../src/domain/timer-rules.ts';

const T = (iso: string) => Date.parse(iso);
const NOW = T('2026-12-08T13:00:00Z'); // 08:00 in New York
const END = T('2026-12-09T02:00:00Z'); // 21:00 in New York

describe('fitSlot', () => {
  it('a slot that has come (or is within the tolerance) goes now', () => {
    expect(fitSlot(NOW, NOW, END, 'next_slot')).toEqual({ kind: 'now' });
    expect(fitSlot(NOW - 5000, NOW, END, 'cancel')).toEqual({ kind: 'now' });
    expect(fitSlot(NOW + RATE_SLOT_TOLERANCE_MS, NOW, END, 'next_slot')).toEqual({ kind: 'now' });
  });

  it('a later slot that leaves the margin before the window closes waits for it', () => {
    expect(fitSlot(NOW + RATE_SLOT_TOLERANCE_MS + 1, NOW, END, 'next_slot')).toEqual({ kind: 'wait', until: NOW + RATE_SLOT_TOLERANCE_MS + 1 });
    expect(fitSlot(END - RATE_WINDOW_MARGIN_MS, NOW, END, 'cancel')).toEqual({ kind: 'wait', until: END - RATE_WINDOW_MARGIN_MS });
  });

  it('a slot inside the margin or past the window follows the fire-time policy, with the reason', () => {
    for (const slot of [END - RATE_WINDOW_MARGIN_MS + 1, END, END + 3600_000]) {
      const moved = fitSlot(slot, NOW, END, 'next_slot');
      expect(moved.kind).toBe('next_slot');
      expect(moved).toMatchObject({ reason: { code: 'RATE_LIMITED_PAST_WINDOW' } });
      // previous_slot cannot move earlier than now at fire time: like cancel.
      expect(fitSlot(slot, NOW, END, 'previous_slot').kind).toBe('cancel');
      expect(fitSlot(slot, NOW, END, 'cancel').kind).toBe('cancel');
    }
    const r = fitSlot(END, NOW, END, 'next_slot');
    if (r.kind !== 'next_slot') throw new Error('expected next_slot');
    expect(r.reason.message).toContain('2026-12-09T02:00:00Z');
  });

  it('the tolerance and margin can be given', () => {
    expect(fitSlot(NOW + 100, NOW, END, 'next_slot', { toleranceMs: 100 })).toEqual({ kind: 'now' });
    expect(fitSlot(END - 1000, NOW, END, 'next_slot', { marginMs: 1000 })).toEqual({ kind: 'wait', until: END - 1000 });
    expect(fitSlot(END - 999, NOW, END, 'next_slot', { marginMs: 1000 }).kind).toBe('next_slot');
  });
});

describe('judgeAfterWindow', () => {
  const set = loadCalendarSet();
  const none: ContactState = { suppressions: [], journey: null };
  const at = T('2026-12-09T01:59:30Z'); // 20:59:30 in New York
  const input: DecideInput = { location: resolveLocation({ zip: '10001', phone: '+12125550123' }), channel: 'sms', purpose: 'informational', at, now: at, policy: 'next_slot' };

  it("moves a send pushed out of tonight's window to tomorrow's opening", () => {
    const v = judgeTimer(set, input, none, 'fire');
    if (v.kind !== 'send') throw new Error(`expected send, got ${v.kind}`);
    expect(v.windowEnd).toBe(T('2026-12-09T02:00:00Z'));
    const after = judgeAfterWindow(set, input, none, v.windowEnd);
    expect(after).toMatchObject({ kind: 'reschedule', sendAt: T('2026-12-09T13:00:00Z') });
  });

  it('cancels when the journey ends before the next window', () => {
    const state: ContactState = { suppressions: [], journey: { status: 'active', expiresAt: T('2026-12-09T05:00:00Z') } };
    const v = judgeTimer(set, input, state, 'fire');
    if (v.kind !== 'send') throw new Error(`expected send, got ${v.kind}`);
    expect(judgeAfterWindow(set, input, state, v.windowEnd).kind).toBe('cancel');
  });
});
