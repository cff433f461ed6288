/**
 * An area code the table does not know (a new overlay, a table out of date) is judged
 * conservatively: the number gets the rules of every area-code-presumption state (FL, OK, CT) in
 * each of their zones, with a reason saying why — never no state's rules. Florida's 728 overlay
 * (absent from the table) is the case found; the property covers every NANP area code there is.
 */
import { describe, expect, it } from 'vitest';
import { loadCalendarSet } from '../../src/adapters/calendars/fs-loader.ts';
import { decide } from '../../src/domain/decide.ts';
import { lookupNpa } from '../../src/domain/location/directory.ts';
import { AREA_CODE_PRESUMPTION_STATES, parsePhone, resolveLocation } from '../../src/domain/location/resolve.ts';
import { STATE_ZONES } from '../../src/domain/location/state-zones.ts';

const set = loadCalendarSet();
const T = (iso: string) => Date.parse(iso);
const presumption = [...AREA_CODE_PRESUMPTION_STATES].sort();

describe('unknown US area codes', () => {
  it('728 (a Florida overlay not in the table): every presumption state, in each of its zones, with the reason', () => {
    expect(lookupNpa('728')).toBeUndefined();
    const loc = resolveLocation({ zip: '10001', phone: '+17285550100' });
    expect(loc.resolved).toBe(true);
    expect(loc.candidates).toEqual([
      { jurisdiction: 'NY', zone: 'America/New_York', source: 'zip' },
      ...presumption.flatMap((s) => STATE_ZONES[s]!.map((zone) => ({ jurisdiction: s, zone, source: 'area-code-presumption' }))),
    ]);
    expect(presumption).toEqual(['CT', 'FL', 'OK']);
    expect(loc.issues).toEqual([{ code: 'UNKNOWN_AREA_CODE', message: expect.stringContaining('the rules of CT, FL, OK apply') }]);
  });

  it("applies Florida's 20:00 end and its 3-per-24 h cap to the 728 number in New York", () => {
    const location = resolveLocation({ zip: '10001', phone: '+17285550100' });
    // Tuesday 2026-12-08 20:30 in New York (01:30Z next day): federally allowed, not in Florida (or CT).
    const late = decide(set, { location, channel: 'sms', purpose: 'marketing', at: T('2026-12-09T01:30:00Z'), now: T('2026-12-09T01:30:00Z'), policy: 'cancel' });
    expect(late.decision).toBe('cancel');
    expect(late.reasons.map((r) => r.jurisdiction)).toContain('FL');
    const known = decide(set, { location: resolveLocation({ zip: '10001', phone: '+12125550100' }), channel: 'sms', purpose: 'marketing', at: T('2026-12-09T01:30:00Z'), now: T('2026-12-09T01:30:00Z'), policy: 'cancel' });
    expect(known.decision).toBe('send');
    // Noon in New York with three marketing texts on the same subject in the last 24 h: Florida's cap.
    const noon = T('2026-12-08T17:00:00Z');
    const history = [1, 2, 3].map((h) => ({ at: noon - h * 3600_000, channel: 'sms' as const, purpose: 'marketing' as const, subject: 'sale' }));
    const capped = decide(set, { location, channel: 'sms', purpose: 'marketing', at: noon, now: noon, policy: 'cancel', subject: 'sale', history });
    expect(capped.reasons.map((r) => `${r.code}:${r.jurisdiction}`)).toContain('FREQUENCY_CAP:FL');
  });

  it('every NANP area code with a zip gets its own state from the table or every presumption state: never no area-code rule', () => {
    let unknown = 0;
    let checked = 0;
    for (let npa = 200; npa <= 999; npa++) {
      const phone = `+1${npa}2345678`;
      const p = parsePhone(phone);
      if ('code' in p || (p.country !== undefined && !['US', 'PR', 'VI', 'GU', 'MP', 'AS'].includes(p.country))) continue;
      checked++;
      const loc = resolveLocation({ zip: '10001', phone });
      const fromPhone = loc.candidates.filter((c) => c.source !== 'zip');
      const known = lookupNpa(String(npa));
      if (known) {
        expect(fromPhone.map((c) => c.jurisdiction), String(npa)).toEqual(known.zones.map(() => known.state));
      } else {
        unknown++;
        expect(new Set(fromPhone.map((c) => c.jurisdiction)), String(npa)).toEqual(new Set(presumption));
        expect(loc.issues.map((i) => i.code)).toContain('UNKNOWN_AREA_CODE');
      }
    }
    expect(checked).toBeGreaterThan(300);
    expect(unknown).toBeGreaterThan(0);
  });
});
