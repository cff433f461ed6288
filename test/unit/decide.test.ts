/**
 * Decisions with exact expected instants, against the real calendars in calendars/.
 * Every instant is pinned; nothing reads the clock.
 */
import { mkdtempSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CALENDAR_DIR, loadCalendarSet } from '../../src/adapters/calendars/fs-loader.ts';
import { CalendarFileError } from '../../src/domain/calendar/compile.ts';
import { OrgCalendarSchema, type Channel, type OrgCalendarInput } from '../../src/domain/calendar/schema.ts';
import { decide, type DecideInput, type HistoryEntry } from '../../src/domain/decide.ts';
import { resolveLocation } from '../../src/domain/location/resolve.ts';

const set = loadCalendarSet();
const T = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function run(zip: string, at: string, opts: Partial<DecideInput> & { phone?: string; channel?: Channel } = {}) {
  const { phone, ...rest } = opts;
  return decide(set, {
    location: resolveLocation({ zip, phone }),
    channel: 'sms',
    purpose: 'marketing',
    at: T(at),
    now: T(at),
    policy: 'next_slot',
    ...rest,
  });
}

const codes = (d: ReturnType<typeof run>) => d.reasons.map((r) => `${r.code}:${r.rule ?? ''}`);

describe('windows and DST (exact instants)', () => {
  it('New York: 07:00 EST Saturday moves to 08:00 EST', () => {
    const d = run('10001', '2026-03-07T12:00:00Z');
    expect(d.decision).toBe('reschedule');
    expect(iso(d.sendAt)).toBe('2026-03-07T13:00:00.000Z');
    expect(codes(d)).toContain('OUTSIDE_HOURS:US.quiet-hours');
    expect(d.reasons.find((r) => r.code === 'OUTSIDE_HOURS')).toMatchObject({ jurisdiction: 'US', timezone: 'America/New_York', local: '2026-03-07T07:00:00-05:00' });
  });

  it('spring-forward Sunday: 08:00 EDT is 12:00Z in New York, 15:00Z in Los Angeles', () => {
    expect(iso(run('10001', '2026-03-08T11:30:00Z').sendAt)).toBe('2026-03-08T12:00:00.000Z');
    expect(iso(run('90210', '2026-03-08T14:30:00Z').sendAt)).toBe('2026-03-08T15:00:00.000Z');
    // 20:59 EDT on the same day is still allowed; 21:00 EDT (01:00Z) is not.
    expect(run('10001', '2026-03-09T00:59:00Z').decision).toBe('send');
    expect(iso(run('10001', '2026-03-09T01:00:00Z').sendAt)).toBe('2026-03-09T12:00:00.000Z');
  });

  it('fall-back Sunday: 08:00 EST is 13:00Z in New York and 14:00Z in Chicago', () => {
    expect(iso(run('10001', '2026-11-01T12:30:00Z').sendAt)).toBe('2026-11-01T13:00:00.000Z');
    expect(iso(run('60601', '2026-11-01T13:30:00Z').sendAt)).toBe('2026-11-01T14:00:00.000Z');
    expect(iso(run('60601', '2026-11-01T13:59:59Z').sendAt)).toBe('2026-11-01T14:00:00.000Z');
  });

  it('Arizona keeps 08:00 = 15:00Z all year; Tuba City (Navajo, DST) also needs Denver', () => {
    expect(iso(run('85001', '2026-07-01T14:30:00Z').sendAt)).toBe('2026-07-01T15:00:00.000Z');
    expect(iso(run('85001', '2026-01-05T14:30:00Z').sendAt)).toBe('2026-01-05T15:00:00.000Z');
    // July: Denver (MDT) closes at 21:00 = 03:00Z, Phoenix at 04:00Z: the intersection closes at 03:00Z.
    expect(run('86045', '2026-07-02T02:59:00Z').decision).toBe('send');
    const d = run('86045', '2026-07-02T03:30:00Z');
    expect(iso(d.sendAt)).toBe('2026-07-02T15:00:00.000Z');
    expect(d.reasons.filter((r) => r.code === 'OUTSIDE_HOURS').map((r) => r.timezone)).toEqual(['America/Denver']);
  });

  it('Hawaii, Puerto Rico and Guam use their own offsets with no DST', () => {
    expect(iso(run('96813', '2026-07-01T17:30:00Z').sendAt)).toBe('2026-07-01T18:00:00.000Z');
    expect(iso(run('00901', '2026-07-01T11:00:00Z').sendAt)).toBe('2026-07-01T12:00:00.000Z');
    expect(iso(run('96910', '2026-07-01T21:00:00Z').sendAt)).toBe('2026-07-01T22:00:00.000Z');
  });
});

describe('state rules', () => {
  it('Texas: Sunday opens at noon', () => {
    const d = run('75201', '2026-03-15T15:00:00Z');
    expect(iso(d.sendAt)).toBe('2026-03-15T17:00:00.000Z');
    expect(codes(d)).toContain('OUTSIDE_HOURS:TX.hours');
    expect(codes(d)).not.toContain('OUTSIDE_HOURS:US.quiet-hours');
  });

  it('Rhode Island: Saturday 10:00–17:00, no Sunday', () => {
    expect(iso(run('02903', '2026-03-14T13:30:00Z').sendAt)).toBe('2026-03-14T14:00:00.000Z');
    const late = run('02903', '2026-03-14T21:30:00Z');
    expect(iso(late.sendAt)).toBe('2026-03-16T13:00:00.000Z'); // Monday 09:00 EDT
    const sunday = run('02903', '2026-03-15T15:00:00Z');
    expect(codes(sunday)).toContain('DAY_CLOSED:RI.hours');
  });

  it('Utah: Pioneer Day is a holiday, then Sunday is closed', () => {
    const d = run('84101', '2026-07-24T16:00:00Z');
    expect(d.reasons.find((r) => r.code === 'HOLIDAY')).toMatchObject({ rule: 'UT.holidays', jurisdiction: 'UT', timezone: 'America/Denver' });
    expect(iso(d.sendAt)).toBe('2026-07-25T14:00:00.000Z'); // Saturday 08:00 MDT
    expect(iso(run('84101', '2026-07-26T16:00:00Z').sendAt)).toBe('2026-07-27T14:00:00.000Z'); // Monday 08:00 MDT
  });

  it('Mississippi: "Central Standard Time" is a fixed UTC−6, so summer opens at 09:00 CDT', () => {
    const d = run('39201', '2026-07-06T13:30:00Z');
    expect(iso(d.sendAt)).toBe('2026-07-06T14:00:00.000Z');
    expect(d.reasons.find((r) => r.rule === 'MS.cst-hours' && r.code === 'OUTSIDE_HOURS')).toMatchObject({ timezone: 'Etc/GMT+6', local: '2026-07-06T07:30:00-06:00' });
    // Winter: CST is the local time, 08:00 CST = 14:00Z.
    expect(iso(run('39201', '2026-01-05T13:30:00Z').sendAt)).toBe('2026-01-05T14:00:00.000Z');
  });

  it('Pennsylvania SB 992 binds from its effective date only (Sunday closed after 2026-10-18)', () => {
    expect(run('19103', '2026-10-11T15:00:00Z').decision).toBe('send');
    const after = run('19103', '2026-10-25T15:00:00Z');
    expect(codes(after)).toContain('DAY_CLOSED:PA.sb992-hours');
  });

  it('informational messages are judged by the federal window only in Texas', () => {
    expect(run('75201', '2026-03-15T15:00:00Z', { purpose: 'informational' }).decision).toBe('send');
  });
});

describe('location: every candidate must allow the send', () => {
  it('a Los Angeles zip with a New York area code needs both zones (11:00 ET = 08:00 PT)', () => {
    const d = run('90210', '2026-03-10T14:30:00Z', { phone: '+1 212 555 0100' });
    expect(d.candidates.map((c) => `${c.jurisdiction}@${c.zone}:${c.source}`)).toEqual(['CA@America/Los_Angeles:zip', 'NY@America/New_York:area-code']);
    expect(iso(d.sendAt)).toBe('2026-03-10T15:00:00.000Z');
    expect(run('90210', '2026-03-11T00:59:00Z', { phone: '+12125550100' }).decision).toBe('send');
    expect(iso(run('90210', '2026-03-11T01:00:00Z', { phone: '+12125550100' }).sendAt)).toBe('2026-03-11T15:00:00.000Z');
  });

  it('a Florida area code brings Florida\'s 20:00 close to a New York zip', () => {
    const d = run('10001', '2026-03-10T00:30:00Z', { phone: '305-555-0100' });
    expect(codes(d)).toContain('OUTSIDE_HOURS:FL.hours');
    expect(iso(d.sendAt)).toBe('2026-03-10T12:00:00.000Z');
  });

  it('unresolved contacts are cancelled by default, or judged in every US zone under "strictest"', () => {
    const d = run('09001', '2026-03-10T16:00:00Z');
    expect(d).toMatchObject({ decision: 'cancel', sendAt: null });
    expect(d.reasons[0]!.code).toBe('UNRESOLVED_LOCATION');
    const s = run('09001', '2026-03-10T16:00:00Z', { unresolved: 'strictest' });
    expect(s.candidates.length).toBeGreaterThan(30);
    // Whatever it decides, a slot must be one every jurisdiction allows in every zone.
    if (s.sendAt !== null) {
      for (const zip of ['10001', '90210', '96813', '96910', '02903', '75201', '39201']) {
        expect(run(zip, new Date(s.sendAt).toISOString()).decision).toBe('send');
      }
    }
  });
});

describe('policies', () => {
  it('cancel: a blocked request is cancelled with its reasons and no sendAt', () => {
    const d = run('10001', '2026-03-07T12:00:00Z', { policy: 'cancel' });
    expect(d).toMatchObject({ decision: 'cancel', sendAt: null, calendarVersion: set.version });
    expect(codes(d)).toEqual(['OUTSIDE_HOURS:US.quiet-hours']);
  });

  it('next_slot respects notAfter', () => {
    const d = run('10001', '2026-03-07T06:00:00Z', { notAfter: T('2026-03-07T12:00:00Z') });
    expect(d.decision).toBe('cancel');
    expect(codes(d)).toContain('AFTER_NOT_AFTER:');
    expect(iso(run('10001', '2026-03-07T06:00:00Z', { notAfter: T('2026-03-07T13:00:00Z') }).sendAt)).toBe('2026-03-07T13:00:00.000Z');
  });

  it('previous_slot: a reminder due at 22:00 EDT goes out at 20:59 EDT; a past deadline cancels', () => {
    const d = run('10001', '2026-03-10T02:00:00Z', { policy: 'previous_slot', now: T('2026-03-09T12:00:00Z') });
    expect(d.decision).toBe('reschedule');
    expect(iso(d.sendAt)).toBe('2026-03-10T00:59:00.000Z');
    const none = run('10001', '2026-03-10T02:00:00Z', { policy: 'previous_slot', now: T('2026-03-10T01:30:00Z') });
    expect(none.decision).toBe('cancel');
    expect(codes(none)).toContain('NO_SLOT_BEFORE_DEADLINE:');
    const past = run('10001', '2026-03-10T02:00:00Z', { policy: 'previous_slot', now: T('2026-03-10T03:00:00Z') });
    expect(codes(past)).toEqual(['DEADLINE_PASSED:']);
  });

  it('a request in the past is judged at now', () => {
    const d = run('10001', '2026-03-07T12:00:00Z', { now: T('2026-03-07T14:00:00Z') });
    expect(d.decision).toBe('send');
    expect(iso(d.sendAt)).toBe('2026-03-07T14:00:00.000Z');
  });

  it('the search is bounded: no slot in the horizon cancels with NO_SLOT_IN_HORIZON', () => {
    const org = OrgCalendarSchema.parse({ id: 'acme', blackouts: [{ from: '2026-03-01', to: '2026-04-30', reason: 'declared emergency' }] } satisfies OrgCalendarInput);
    const d = run('10001', '2026-03-10T15:00:00Z', { orgCalendar: org });
    expect(d.decision).toBe('cancel');
    expect(codes(d)).toEqual(['ORG_BLACKOUT:ORG.acme.blackout-1', 'NO_SLOT_IN_HORIZON:']);
  });
});

describe('frequency caps (rolling, from history)', () => {
  const history: HistoryEntry[] = [
    { at: T('2026-03-10T13:00:00Z'), channel: 'sms', subject: 'spring-sale' },
    { at: T('2026-03-10T15:00:00Z'), channel: 'voice', subject: 'spring-sale' },
    { at: T('2026-03-10T17:00:00Z'), channel: 'sms', subject: 'spring-sale' },
  ];

  it('Florida: a 4th send on the same subject in 24 h waits until the oldest leaves the window', () => {
    const d = run('33101', '2026-03-10T19:00:00Z', { history, subject: 'spring-sale' });
    expect(codes(d)).toContain('FREQUENCY_CAP:FL.cap');
    expect(iso(d.sendAt)).toBe('2026-03-11T13:00:00.000Z');
    expect(run('33101', '2026-03-10T19:00:00Z', { history, subject: 'other' }).decision).toBe('send');
    expect(run('33101', '2026-03-10T19:00:00Z', { history, subject: 'spring-sale', policy: 'cancel' }).decision).toBe('cancel');
  });

  it('the cap does not bind outside Florida/Oklahoma/Maryland', () => {
    expect(run('10001', '2026-03-10T19:00:00Z', { history, subject: 'spring-sale' }).decision).toBe('send');
  });
});

describe('organisation calendars narrow, never widen', () => {
  const org = (input: Omit<OrgCalendarInput, 'id'>) => OrgCalendarSchema.parse({ id: 'acme', ...input });
  const weekdays = { mon: [['09:00', '18:00']], tue: [['09:00', '18:00']], wed: [['09:00', '18:00']], thu: [['09:00', '18:00']], fri: [['09:00', '18:00']], sat: [], sun: [] } as const;

  it('Mon–Fri 09:00–18:00 moves a Saturday send to Monday 09:00', () => {
    const d = run('10001', '2026-03-07T15:00:00Z', { orgCalendar: org({ weekly: weekdays as never }) });
    expect(codes(d)).toContain('ORG_DAY_CLOSED:ORG.acme.hours');
    expect(iso(d.sendAt)).toBe('2026-03-09T13:00:00.000Z');
  });

  it('an org window wider than the law still starts at the legal 08:00', () => {
    const all = [['06:00', '23:00']];
    const wide = { mon: all, tue: all, wed: all, thu: all, fri: all, sat: all, sun: all };
    expect(iso(run('10001', '2026-03-10T10:30:00Z', { orgCalendar: org({ weekly: wide as never }) }).sendAt)).toBe('2026-03-10T12:00:00.000Z');
  });

  it('margins start later and stop earlier than every legal window', () => {
    const o = org({ margins: { startLaterMinutes: 30, stopEarlierMinutes: 15 } });
    const d = run('10001', '2026-03-10T12:10:00Z', { orgCalendar: o });
    expect(codes(d)).toContain('ORG_MARGIN:US.quiet-hours');
    expect(iso(d.sendAt)).toBe('2026-03-10T12:30:00.000Z');
    expect(iso(run('10001', '2026-03-11T00:50:00Z', { orgCalendar: o }).sendAt)).toBe('2026-03-11T12:30:00.000Z');
  });

  it('company holidays and state-scoped blackouts', () => {
    const o = org({ closedDates: ['2026-03-10'], blackouts: [{ from: '2026-03-12', to: '2026-03-12', jurisdictions: ['LA'], reason: 'hurricane' }] });
    expect(codes(run('10001', '2026-03-10T15:00:00Z', { orgCalendar: o, policy: 'cancel' }))).toEqual(['ORG_CLOSED_DATE:ORG.acme.holidays']);
    expect(codes(run('70112', '2026-03-12T15:00:00Z', { orgCalendar: o, policy: 'cancel' }))).toEqual(['ORG_BLACKOUT:ORG.acme.blackout-1']);
    expect(run('10001', '2026-03-12T15:00:00Z', { orgCalendar: o }).decision).toBe('send');
  });

  it('a per-request window applies in the recipient zone', () => {
    const d = run('60601', '2026-03-10T14:00:00Z', { window: { start: '10:00', end: '12:00' } });
    expect(codes(d)).toContain('REQUEST_WINDOW:REQUEST.window');
    expect(iso(d.sendAt)).toBe('2026-03-10T15:00:00.000Z');
  });
});

describe('calendar files', () => {
  it('a malformed file fails loudly, naming the file and the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cal-'));
    cpSync(DEFAULT_CALENDAR_DIR, dir, { recursive: true });
    const tx = JSON.parse(readFileSync(join(dir, 'TX.json'), 'utf8'));
    tx.rules[0].weekly.sun = [['21:00', '12:00']];
    writeFileSync(join(dir, 'TX.json'), JSON.stringify(tx));
    expect(() => loadCalendarSet(dir)).toThrow(CalendarFileError);
    expect(() => loadCalendarSet(dir)).toThrow(/TX\.json: rules\[0\]\.weekly\.sun\[0\]: a range must start before it ends/);
    writeFileSync(join(dir, 'TX.json'), '{ not json');
    expect(() => loadCalendarSet(dir)).toThrow(/TX\.json: \(file\): not valid JSON/);
    tx.rules[0].weekly.sun = [['12:00', '21:00']];
    tx.rules[0].holidays = [{ name: 'Bogus', rule: 'the second blue moon' }];
    writeFileSync(join(dir, 'TX.json'), JSON.stringify(tx));
    expect(() => loadCalendarSet(dir)).toThrow(/TX\.json: rules\[0\]\.holidays\[0\]\.rule/);
  });

  it('the version is a content hash: it changes with the content, not with formatting', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cal-'));
    cpSync(DEFAULT_CALENDAR_DIR, dir, { recursive: true });
    const tx = JSON.parse(readFileSync(join(dir, 'TX.json'), 'utf8'));
    writeFileSync(join(dir, 'TX.json'), JSON.stringify(tx));
    expect(loadCalendarSet(dir).version).toBe(set.version);
    tx.rules[0].weekly.sun = [['13:00', '21:00']];
    writeFileSync(join(dir, 'TX.json'), JSON.stringify(tx));
    const changed = loadCalendarSet(dir);
    expect(changed.version).not.toBe(set.version);
    expect(decide(changed, { location: resolveLocation({ zip: '75201' }), channel: 'sms', purpose: 'marketing', at: T('2026-03-15T17:30:00Z'), now: T('2026-03-15T17:30:00Z'), policy: 'cancel' }).calendarVersion).toBe(changed.version);
  });
});

describe('windowEnd: when the allowed stretch closes', () => {
  it('New York weekday: a send at 10:00 EST may go until 21:00 EST', () => {
    const d = run('10001', '2026-12-07T15:00:00Z');
    expect(d.decision).toBe('send');
    expect(iso(d.windowEnd)).toBe('2026-12-08T02:00:00.000Z');
  });

  it('a rescheduled send carries the end of its new window; a cancel has none', () => {
    const moved = run('10001', '2026-12-07T03:00:00Z');
    expect(iso(moved.sendAt)).toBe('2026-12-07T13:00:00.000Z');
    expect(iso(moved.windowEnd)).toBe('2026-12-08T02:00:00.000Z');
    expect(run('10001', '2026-12-07T03:00:00Z', { policy: 'cancel' }).windowEnd).toBeNull();
  });

  it('Florida cap: after 3 sends in 24 h the next stretch opens when the 1st ages out and runs to 20:00', () => {
    const history: HistoryEntry[] = ['13', '14', '15'].map((h) => ({ at: T(`2026-12-07T${h}:00:00Z`), channel: 'sms', purpose: 'marketing' }));
    expect(iso(run('33101', '2026-12-07T16:00:00Z').windowEnd)).toBe('2026-12-08T01:00:00.000Z');
    const capped = run('33101', '2026-12-07T16:00:00Z', { history });
    expect(capped.decision).toBe('reschedule');
    expect(iso(capped.sendAt)).toBe('2026-12-08T13:00:00.000Z');
    expect(iso(capped.windowEnd)).toBe('2026-12-09T01:00:00.000Z');
  });
});
