import { describe, expect, it } from 'vitest';
import { formatLocal, isValidZone, localParts, localToUtc, parseInstant, parseLocalWallTime } from '../../src/domain/time.ts';

const iso = (ms: number) => new Date(ms).toISOString();

describe('time: local wall time → UTC with the DST policy', () => {
  it('maps 08:00 in New York to 13:00Z in winter and 12:00Z in summer', () => {
    expect(iso(localToUtc({ year: 2026, month: 1, day: 15 }, 480, 'America/New_York', 'start'))).toBe('2026-01-15T13:00:00.000Z');
    expect(iso(localToUtc({ year: 2026, month: 7, day: 15 }, 480, 'America/New_York', 'start'))).toBe('2026-07-15T12:00:00.000Z');
  });

  it('on the spring-forward Sunday 08:00 EDT is 12:00Z and a time in the gap maps to the transition', () => {
    const d = { year: 2026, month: 3, day: 8 };
    expect(iso(localToUtc(d, 480, 'America/New_York', 'start'))).toBe('2026-03-08T12:00:00.000Z');
    expect(iso(localToUtc(d, 150, 'America/New_York', 'start'))).toBe('2026-03-08T07:00:00.000Z');
    expect(iso(localToUtc(d, 150, 'America/New_York', 'end'))).toBe('2026-03-08T07:00:00.000Z');
    // Chicago changes at its own 02:00 local: 08:00Z.
    expect(iso(localToUtc(d, 150, 'America/Chicago', 'start'))).toBe('2026-03-08T08:00:00.000Z');
  });

  it('in the repeated fall-back hour a start takes the later instant and an end the earlier', () => {
    const d = { year: 2026, month: 11, day: 1 };
    expect(iso(localToUtc(d, 90, 'America/New_York', 'start'))).toBe('2026-11-01T06:30:00.000Z');
    expect(iso(localToUtc(d, 90, 'America/New_York', 'end'))).toBe('2026-11-01T05:30:00.000Z');
    expect(iso(localToUtc(d, 480, 'America/New_York', 'start'))).toBe('2026-11-01T13:00:00.000Z');
    expect(iso(localToUtc(d, 90, 'America/Los_Angeles', 'start'))).toBe('2026-11-01T09:30:00.000Z');
  });

  it('zones without DST keep one offset all year (Phoenix, Honolulu, Puerto Rico, Guam)', () => {
    for (const [zone, h] of [['America/Phoenix', 15], ['Pacific/Honolulu', 18], ['America/Puerto_Rico', 12]] as const) {
      expect(new Date(localToUtc({ year: 2026, month: 1, day: 10 }, 480, zone, 'start')).getUTCHours()).toBe(h);
      expect(new Date(localToUtc({ year: 2026, month: 7, day: 10 }, 480, zone, 'start')).getUTCHours()).toBe(h);
    }
    expect(iso(localToUtc({ year: 2026, month: 7, day: 10 }, 480, 'Pacific/Guam', 'start'))).toBe('2026-07-09T22:00:00.000Z');
  });

  it('reads local parts and formats with the offset', () => {
    const t = Date.parse('2026-03-08T12:00:00Z');
    expect(localParts(t, 'America/New_York')).toMatchObject({ year: 2026, month: 3, day: 8, minuteOfDay: 480, weekday: 7 });
    expect(formatLocal(t, 'America/New_York')).toBe('2026-03-08T08:00:00-04:00');
    expect(formatLocal(t, 'Asia/Kolkata')).toBe('2026-03-08T17:30:00+05:30');
    expect(formatLocal(t, 'Etc/GMT+6')).toBe('2026-03-08T06:00:00-06:00');
  });

  it('refuses instants without a zone designator and unknown zones', () => {
    expect(parseInstant('2026-03-08T12:00:00')).toBeUndefined();
    expect(parseInstant('yesterday')).toBeUndefined();
    expect(parseInstant('2026-02-30T12:00:00Z')).toBeUndefined();
    expect(parseInstant('2026-03-08T08:00:00-04:00')).toBe(Date.parse('2026-03-08T12:00:00Z'));
    expect(isValidZone('Europa/Copenhaguen')).toBe(false);
    expect(isValidZone('America/Chicago')).toBe(true);
    expect(parseLocalWallTime('2026-12-03T10:00', 'America/Denver')).toBe(Date.parse('2026-12-03T17:00:00Z'));
  });
});
