/**
 * Property tests: random candidates across every US zone and random instants 2026–2030, checked
 * against an independent brute-force oracle that reads the raw calendar JSON and steps minute by
 * minute with luxon and date-holidays (none of the engine's interval code).
 */
import Holidays from 'date-holidays';
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { readCalendarFiles } from '../../src/adapters/calendars/fs-loader.ts';
import { compileCalendarSet } from '../../src/domain/calendar/compile.ts';
import type { CalendarFile, Channel, Purpose, Rule } from '../../src/domain/calendar/schema.ts';
import { decide, type Policy } from '../../src/domain/decide.ts';
import { STATE_ZONES } from '../../src/domain/location/state-zones.ts';
import { withCandidates, type Candidate, type Location } from '../../src/domain/location/resolve.ts';

const files = readCalendarFiles();
const set = compileCalendarSet(files);
const raw = files.map((f) => f.content as CalendarFile);
const MIN = 60_000;
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

// ---- the oracle -------------------------------------------------------------------------
const holidayMemo = new Map<string, Set<string>>();
function oracleHolidays(rule: Rule, year: number): Set<string> {
  const key = `${rule.id}|${year}`;
  let set = holidayMemo.get(key);
  if (set) return set;
  set = new Set();
  for (const h of rule.holidays ?? []) {
    if (h.fromYear && year < h.fromYear) continue;
    if (h.untilYear && year > h.untilYear) continue;
    const hd = new Holidays();
    hd.setHoliday(h.rule, { name: h.name, type: 'public' });
    for (const x of hd.getHolidays(year)) {
      const d = DateTime.fromISO(x.date.slice(0, 10), { zone: 'UTC' });
      set.add(d.toISODate()!);
      const shiftSat = h.observance === 'sat_to_fri_sun_to_mon' && d.weekday === 6;
      const shiftSun = (h.observance === 'sat_to_fri_sun_to_mon' || h.observance === 'sun_to_mon') && d.weekday === 7;
      if (shiftSat) set.add(d.minus({ days: 1 }).toISODate()!);
      if (shiftSun) set.add(d.plus({ days: 1 }).toISODate()!);
    }
  }
  holidayMemo.set(key, set);
  return set;
}

function oracleRuleAllows(rule: Rule, zone: string, t: number): boolean {
  const z = rule.timeBasis?.type === 'fixed' ? rule.timeBasis.zone : zone;
  const local = DateTime.fromMillis(t, { zone: z });
  const date = local.toISODate()!;
  if (rule.effectiveFrom && date < rule.effectiveFrom) return true;
  if (rule.effectiveUntil && date >= rule.effectiveUntil) return true;
  // A holiday observed on Dec 31 belongs to next year's list.
  if (oracleHolidays(rule, local.year).has(date) || oracleHolidays(rule, local.year + 1).has(date)) return false;
  if (!rule.weekly) return true;
  const minute = local.hour * 60 + local.minute;
  return rule.weekly[DAYS[local.weekday - 1]!].some(([a, b]) => {
    const [ah, am] = a.split(':').map(Number);
    const [bh, bm] = b.split(':').map(Number);
    return minute >= ah! * 60 + am! && minute < bh! * 60 + bm!;
  });
}

function oracleAllows(cands: readonly Candidate[], channel: Channel, purpose: Purpose, t: number): boolean {
  for (const c of cands) {
    for (const file of raw) {
      if (file.jurisdiction !== 'US' && file.jurisdiction !== c.jurisdiction) continue;
      for (const rule of file.rules) {
        if (!rule.channels.includes(channel) || !rule.purposes.includes(purpose)) continue;
        if (!oracleRuleAllows(rule, c.zone, t)) return false;
      }
    }
  }
  return true;
}

function oracleNext(cands: readonly Candidate[], channel: Channel, purpose: Purpose, from: number, limit: number): number | undefined {
  for (let t = from; t < limit; t += MIN) if (oracleAllows(cands, channel, purpose, t)) return t;
  return undefined;
}

// ---- generators ---------------------------------------------------------------------------
const pairs: Candidate[] = Object.entries(STATE_ZONES).flatMap(([state, zones]) => zones.map((zone) => ({ jurisdiction: state, zone, source: 'zip' as const })));
const candidateArb = fc.uniqueArray(fc.constantFrom(...pairs), { minLength: 1, maxLength: 3, selector: (c) => `${c.jurisdiction}@${c.zone}` });
const FROM = Date.parse('2026-01-01T00:00:00Z');
const TO = Date.parse('2030-12-31T00:00:00Z');
const instantArb = fc.integer({ min: FROM / MIN, max: TO / MIN }).map((m) => m * MIN);
const channelArb = fc.constantFrom<Channel>('sms', 'voice');
const purposeArb = fc.constantFrom<Purpose>('marketing', 'informational');

function location(cands: Candidate[]): Location {
  const base: Location = { key: '', zones: [], candidates: [], resolved: false, issues: [] };
  return withCandidates(base, cands);
}

describe('decide against a brute-force oracle (all US zones, 2026–2030)', () => {
  it('send/reschedule instants are allowed for every candidate; reschedule is the earliest; cancel has no sendAt', () => {
    fc.assert(
      fc.property(candidateArb, instantArb, channelArb, purposeArb, fc.constantFrom<Policy>('cancel', 'next_slot'), (cands, at, channel, purpose, policy) => {
        const d = decide(set, { location: location(cands), channel, purpose, at, now: at, policy, horizonDays: 14 });
        if (d.decision === 'cancel') {
          expect(d.sendAt).toBeNull();
          if (policy === 'next_slot') expect(oracleNext(cands, channel, purpose, at, at + 14 * 86_400_000)).toBeUndefined();
          else expect(oracleAllows(cands, channel, purpose, at)).toBe(false);
          return;
        }
        expect(d.sendAt).not.toBeNull();
        expect(oracleAllows(cands, channel, purpose, d.sendAt!)).toBe(true);
        if (d.decision === 'send') expect(d.sendAt).toBe(at);
        else expect(d.sendAt).toBe(oracleNext(cands, channel, purpose, at, d.sendAt! + MIN));
      }),
      { numRuns: 300, seed: 20261129 },
    );
  });

  it('previous_slot is the latest allowed minute in [now, at]', () => {
    fc.assert(
      fc.property(candidateArb, instantArb, channelArb, fc.integer({ min: 1, max: 72 * 60 }), (cands, at, channel, backMinutes) => {
        const now = at - backMinutes * MIN;
        const d = decide(set, { location: location(cands), channel, purpose: 'marketing', at, now, policy: 'previous_slot' });
        let expected: number | undefined;
        for (let t = at; t >= now; t -= MIN) {
          if (oracleAllows(cands, channel, 'marketing', t)) {
            expected = t;
            break;
          }
        }
        expect(d.sendAt ?? undefined).toBe(expected);
        expect(d.decision).toBe(expected === undefined ? 'cancel' : expected === at ? 'send' : 'reschedule');
      }),
      { numRuns: 150, seed: 11292026 },
    );
  });
});
