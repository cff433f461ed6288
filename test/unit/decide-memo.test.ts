/**
 * The decision core memoises a lot for the hot path (plans per location object, interval lists
 * per plan and pair and year, the wording of a rule's verdict per local day, formatted dates and
 * times). None of it may change a decision: a set that has decided many things before gives what
 * a set deciding for the first time gives.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readCalendarFiles } from '../../src/adapters/calendars/fs-loader.ts';
import { compileCalendarSet, type CalendarSet } from '../../src/domain/calendar/compile.ts';
import { OrgCalendarSchema } from '../../src/domain/calendar/schema.ts';
import { decide, isAllowed, planFor, type DecideInput } from '../../src/domain/decide.ts';
import { resolveLocation } from '../../src/domain/location/resolve.ts';

const warm = compileCalendarSet(readCalendarFiles());
/** The same calendars with nothing memoised (plans are kept per set object). */
const fresh = (): CalendarSet => ({ ...warm, cache: new Map(), holidayCache: new Map() });

const ZIPS = ['10001', '33101', '73301', '86045', '96820', '99501', '00601', '70112', '84101', '02903', '97201', '59601', '46391', '58523', '83814', '20001', '00000'];
const org = OrgCalendarSchema.parse({
  id: 'acme',
  weekly: { mon: [['09:00', '17:00']], tue: [['09:00', '17:00']], wed: [['09:00', '12:00'], ['13:00', '17:00']], thu: [['09:00', '17:00']], fri: [['09:00', '16:00']], sat: [], sun: [] },
  closedDates: ['2026-03-10'],
  margins: { startLaterMinutes: 30, stopEarlierMinutes: 45 },
  caps: [{ count: 1, periodHours: 48, scope: 'any', channels: ['sms'] }],
});

/** No phone, or one whose area code adds candidates in another state and zone (NY, HI, FL, CA, AK). */
const PHONES = [undefined, '+12125550123', '+18085550123', '+13055550123', '+14155550123', '+19075550123'];

const input = fc.record({
  zip: fc.constantFrom(...ZIPS),
  phone: fc.constantFrom(...PHONES),
  channel: fc.constantFrom('sms' as const, 'voice' as const),
  purpose: fc.constantFrom('marketing' as const, 'informational' as const),
  policy: fc.constantFrom('cancel' as const, 'next_slot' as const, 'previous_slot' as const),
  unresolved: fc.constantFrom('cancel' as const, 'strictest' as const),
  at: fc.integer({ min: Date.UTC(2025, 11, 1), max: Date.UTC(2028, 0, 1) }),
  back: fc.integer({ min: 0, max: 2 * 86_400_000 }),
  extra: fc.constantFrom('none', 'org', 'window', 'history'),
});

type Row = typeof input extends fc.Arbitrary<infer T> ? T : never;

function toInput(r: Row): DecideInput {
  const history = [{ at: r.at - 3_600_000, channel: 'sms' as const }, { at: r.at - 60_000, channel: 'sms' as const }];
  return {
    location: resolveLocation(r.phone === undefined ? { zip: r.zip } : { zip: r.zip, phone: r.phone }),
    channel: r.channel,
    purpose: r.purpose,
    policy: r.policy,
    unresolved: r.unresolved,
    at: r.at,
    now: r.at - r.back,
    ...(r.extra === 'org' ? { orgCalendar: org } : r.extra === 'window' ? { window: { start: '10:15', end: '15:45' } } : r.extra === 'history' ? { history } : {}),
  };
}

const view = (set: CalendarSet, i: DecideInput) => {
  const d = decide(set, i);
  return JSON.stringify({ decision: d.decision, sendAt: d.sendAt, windowEnd: d.windowEnd, reasons: d.reasons, candidates: d.candidates });
};

describe('memoisation never changes a decision', () => {
  it('a warm set decides as a fresh one', () => {
    fc.assert(
      fc.property(fc.array(input, { minLength: 1, maxLength: 5 }), (rs) => {
        for (const r of rs) {
          const i = toInput(r);
          expect(view(warm, i)).toBe(view(fresh(), i));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('the allowed-check agrees between warm and fresh plans', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ZIPS), fc.integer({ min: Date.UTC(2025, 11, 1), max: Date.UTC(2028, 0, 1) }), (zip, t) => {
        const loc = resolveLocation({ zip });
        if (!loc.resolved) return;
        const cold = fresh();
        expect(isAllowed(warm, planFor(warm, loc, 'sms', 'marketing'), t)).toBe(isAllowed(cold, planFor(cold, loc, 'sms', 'marketing'), t));
      }),
      { numRuns: 300 },
    );
  });

  it('the same states and zones in another order or from other sources keep their own candidates', () => {
    const set = fresh();
    const at = Date.UTC(2026, 2, 10, 19);
    const base = { channel: 'sms' as const, purpose: 'informational' as const, policy: 'next_slot' as const, at, now: at };
    // A New York zip with a Hawaii phone, then a Hawaii zip with a New York phone.
    const nyZip = resolveLocation({ zip: '10001', phone: '+18085550123' });
    const hiZip = resolveLocation({ zip: '96820', phone: '+12125550123' });
    const first = decide(set, { ...base, location: nyZip });
    const second = decide(set, { ...base, location: hiZip });
    expect(first.candidates).toEqual(nyZip.candidates);
    expect(second.candidates).toEqual(hiZip.candidates);
    expect(second.candidates.find((c) => c.source === 'zip')).toMatchObject({ jurisdiction: 'HI', zone: 'Pacific/Honolulu' });
    expect(view(set, { ...base, location: hiZip })).toBe(view(fresh(), { ...base, location: hiZip }));
    // A New York zip alone and with a New York phone: one candidate, or two with their sources.
    const alone = decide(set, { ...base, location: resolveLocation({ zip: '10001' }) });
    const both = decide(set, { ...base, location: resolveLocation({ zip: '10001', phone: '+12125550123' }) });
    expect(alone.candidates.map((c) => c.source)).toEqual(['zip']);
    expect(both.candidates.map((c) => c.source)).toEqual(resolveLocation({ zip: '10001', phone: '+12125550123' }).candidates.map((c) => c.source));
  });
});
