/**
 * The hot-path shortcuts of src/domain/time.ts give what the general code gives: memoised
 * formatting (dates, times of day, offsets), the regex-free instant parser, and offset tables
 * whose daily probe asks Intl whether the offset changed instead of asking luxon for it.
 */
import fc from 'fast-check';
import { IANAZone } from 'luxon';
import { describe, expect, it } from 'vitest';
import { civilKey, describeLocal, formatLocal, formatUtc, localParts, offsetMinutes, parseInstant } from '../../src/domain/time.ts';

const MINUTE = 60_000;
const DAY = 86_400_000;
const ZONES = [
  'America/New_York', 'America/Chicago', 'America/Denver', 'America/Phoenix', 'America/Los_Angeles', 'America/Anchorage', 'America/Adak',
  'Pacific/Honolulu', 'America/Puerto_Rico', 'Pacific/Guam', 'Pacific/Pago_Pago', 'America/Indiana/Knox', 'America/Kentucky/Louisville',
  'America/North_Dakota/Beulah', 'America/Boise', 'Asia/Kolkata', 'Asia/Kathmandu', 'Australia/Lord_Howe', 'Africa/Casablanca', 'Europe/Dublin', 'Etc/GMT+6', 'UTC',
];

// The general code, as it was before the shortcuts.
const WEEKDAY_NAMES = ['', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const pad = (n: number, w = 2) => String(n).padStart(w, '0');
function formatLocalRef(ms: number, zone: string): string {
  const off = offsetMinutes(zone, ms);
  const wall = new Date(ms + off * MINUTE).toISOString().slice(0, 19);
  const abs = Math.abs(off);
  return `${wall}${off < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}
const formatUtcRef = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
const civilKeyRef = (d: { year: number; month: number; day: number }) => `${d.year}-${pad(d.month)}-${pad(d.day)}`;
function describeLocalRef(ms: number, zone: string): string {
  const parts = localParts(ms, zone);
  return `${WEEKDAY_NAMES[parts.weekday]} ${civilKeyRef(parts)} ${pad(Math.floor(parts.minuteOfDay / 60))}:${pad(parts.minuteOfDay % 60)}`;
}
const INSTANT_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;
function parseInstantRef(text: string): number | undefined {
  const m = INSTANT_RE.exec(text.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth || h > 23 || mi > 59 || sec > 59) return undefined;
  const t = Date.parse(text.trim());
  return Number.isNaN(t) ? undefined : t;
}

describe('time: memoised formatting is the general formatting', () => {
  // 1800–2300: local mean time (fractional offsets), both ends of the memo range, far years.
  const instant = fc.oneof(
    fc.integer({ min: Date.UTC(1800, 0, 1), max: Date.UTC(2300, 0, 1) }),
    fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2028, 0, 1) }).map((t) => t - (t % MINUTE)),
    fc.integer({ min: Date.UTC(2168, 11, 25), max: Date.UTC(2169, 0, 5) }),
    fc.integer({ min: -5 * DAY, max: 5 * DAY }),
  );
  it('formatLocal, describeLocal, formatUtc', () => {
    fc.assert(
      fc.property(instant, fc.constantFrom(...ZONES), (t, zone) => {
        expect(formatLocal(t, zone)).toBe(formatLocalRef(t, zone));
        expect(describeLocal(t, zone)).toBe(describeLocalRef(t, zone));
        expect(formatUtc(t)).toBe(formatUtcRef(t));
      }),
      { numRuns: 20_000 },
    );
  });

  it('civilKey', () => {
    fc.assert(
      fc.property(fc.integer({ min: -10, max: 10_000 }), fc.integer({ min: -1, max: 13 }), fc.integer({ min: -1, max: 32 }), (year, month, day) => {
        expect(civilKey({ year, month, day })).toBe(civilKeyRef({ year, month, day }));
      }),
      { numRuns: 20_000 },
    );
    expect(civilKey({ year: 2026.5, month: 3, day: 1 })).toBe(civilKeyRef({ year: 2026.5, month: 3, day: 1 }));
  });
});

describe('time: parseInstant without the regex for the common shapes', () => {
  const digits = (n: number) => fc.array(fc.constantFrom(...'0123456789'), { minLength: n, maxLength: n }).map((d) => d.join(''));
  const shaped = fc
    .tuple(digits(4), digits(2), digits(2), digits(2), digits(2), digits(2), digits(3), fc.constantFrom('Z', 'z', '+00:00', '-05:00', '+0530', ''), fc.constantFrom(20, 24, 0))
    .map(([y, mo, d, h, mi, s, ms, zone, len]) => {
      const base = `${y}-${mo}-${d}T${h}:${mi}:${s}`;
      return len === 24 ? `${base}.${ms}${zone}` : len === 20 ? `${base}${zone}` : `${base.slice(0, 16)}${zone}`;
    });
  const realistic = fc.integer({ min: Date.UTC(1890, 0, 1), max: Date.UTC(2200, 0, 1) }).map((t) => new Date(t).toISOString());
  const mangled = fc.tuple(realistic, fc.integer({ min: 0, max: 23 }), fc.constantFrom('x', ' ', '-', ':', '.', '9', '')).map(([s, i, c]) => s.slice(0, i) + c + s.slice(i + 1));
  it('same value, or undefined, as the general parser', () => {
    fc.assert(
      fc.property(fc.oneof(shaped, realistic, mangled, fc.string()), (text) => {
        expect(parseInstant(text)).toBe(parseInstantRef(text));
      }),
      { numRuns: 30_000 },
    );
  });
});

describe('time: offset tables', () => {
  // The tables as they were built before: luxon's offset probed every day, a change located to the minute.
  function findTransition(z: IANAZone, lo: number, hi: number): number {
    const first = z.offset(lo);
    while (hi - lo > MINUTE) {
      const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE;
      if (z.offset(mid) === first) lo = mid;
      else hi = mid;
    }
    return hi;
  }
  function tableRef(zone: string, year: number): { starts: number[]; offsets: number[] } {
    const z = IANAZone.create(zone);
    const t0 = Date.UTC(year, 0, 1);
    const t1 = Date.UTC(year + 1, 0, 1);
    const starts = [t0];
    const offsets = [z.offset(t0)];
    for (let t = t0 + DAY; t <= t1; t += DAY) {
      const off = z.offset(t);
      if (off !== offsets[offsets.length - 1]) {
        starts.push(findTransition(z, t - DAY, t));
        offsets.push(off);
      }
    }
    return { starts, offsets };
  }
  it('give the offsets the luxon-probed tables gave, at every change and in between', () => {
    for (const zone of ZONES) {
      for (const year of [1883, 1918, 1945, 1974, 2007, 2026, 2027, 2038, 2100]) {
        const { starts, offsets } = tableRef(zone, year);
        starts.forEach((s, i) => {
          for (const t of [s, s + MINUTE, s - MINUTE, s + 12 * 3_600_000]) {
            if (t < Date.UTC(year, 0, 1) || t >= Date.UTC(year + 1, 0, 1)) continue;
            let j = starts.length - 1;
            while (j > 0 && starts[j]! > t) j--;
            expect(offsetMinutes(zone, t), `${zone} ${new Date(t).toISOString()}`).toBe(offsets[j]);
          }
          expect(offsetMinutes(zone, s)).toBe(offsets[i]);
        });
      }
    }
  });
});
