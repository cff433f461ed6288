/**
 * The shipped TCPA calendar files (`calendars/*.json`): each parses with `CalendarFileSchema`, is
 * named after its jurisdiction, rule ids are unique, and every holiday rule string computes the
 * dates we expect with date-holidays (checked directly, independent of the engine).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Holidays from 'date-holidays';
import { describe, it, expect } from 'vitest';
import { CalendarFileSchema, type CalendarFile, type Holiday } from '../../src/domain/calendar/schema.ts';

const CALENDAR_DIR = fileURLToPath(new URL('../../calendars/', import.meta.url));
const YEARS = [2026, 2027, 2028, 2029, 2030];
const EXPECTED_JURISDICTIONS = [
  'US', 'AL', 'CA', 'CT', 'FL', 'IL', 'KY', 'LA', 'ME', 'MD', 'MA', 'MI', 'MN', 'MS', 'NE', 'NV', 'NM', 'OK',
  'PA', 'RI', 'SD', 'TX', 'UT', 'WA', 'WY', 'VA',
];

/** Same suffixes the engine appends for `observance` (src/domain/calendar/holidays.ts). */
const OBSERVANCE_SUFFIX: Record<Holiday['observance'], string | null> = {
  none: null,
  sat_to_fri_sun_to_mon: ' if saturday then previous friday if sunday then next monday',
  sun_to_mon: ' if sunday then next monday',
};

const fileNames = readdirSync(CALENDAR_DIR).filter((f) => f.endsWith('.json')).sort();
const loaded = fileNames.map((fileName) => {
  const raw: unknown = JSON.parse(readFileSync(path.join(CALENDAR_DIR, fileName), 'utf8'));
  return { fileName, result: CalendarFileSchema.safeParse(raw) };
});
const files: CalendarFile[] = loaded.flatMap((l) => (l.result.success ? [l.result.data] : []));
const allHolidays = files.flatMap((f) =>
  f.rules.flatMap((r) => r.holidays.map((h) => ({ jurisdiction: f.jurisdiction, ruleId: r.id, holiday: h }))),
);

/** Dates (YYYY-MM-DD) date-holidays computes for one rule string in one year. */
function datesOf(rule: string, name: string, year: number): string[] {
  const hd = new Holidays();
  if (!hd.setHoliday(rule, { name, type: 'public' })) throw new Error(`date-holidays cannot parse rule "${rule}"`);
  return hd.getHolidays(year).map((h) => h.date.slice(0, 10));
}

/** Expected number of dates per year: parity-limited rules yield nothing in the other years. */
function expectedCount(rule: string, year: number): number {
  if (/\bin even years\b/.test(rule)) return year % 2 === 0 ? 1 : 0;
  if (/\bin odd years\b/.test(rule)) return year % 2 === 1 ? 1 : 0;
  return 1;
}

/** The unique holiday named `name` in `jurisdiction` (narrowed by exact `rule` when names repeat). */
function holiday(jurisdiction: string, name: string, rule?: string): Holiday {
  const found = allHolidays.filter(
    (h) => h.jurisdiction === jurisdiction && h.holiday.name === name && (rule === undefined || h.holiday.rule === rule),
  );
  expect(found, `${jurisdiction} holiday "${name}"${rule ? ` (${rule})` : ''}`).toHaveLength(1);
  return found[0]!.holiday;
}

describe('calendar files', () => {
  it('has one file per expected jurisdiction', () => {
    expect(fileNames).toEqual(EXPECTED_JURISDICTIONS.map((j) => `${j}.json`).sort());
  });

  it.each(fileNames)('%s parses with CalendarFileSchema', (fileName) => {
    const entry = loaded.find((l) => l.fileName === fileName)!;
    if (!entry.result.success) {
      throw new Error(`${fileName}: ${JSON.stringify(entry.result.error.issues, null, 2)}`);
    }
    expect(entry.result.success).toBe(true);
  });

  it('names every file after its jurisdiction', () => {
    expect(files).toHaveLength(fileNames.length);
    for (const [i, f] of files.entries()) expect(fileNames[i]).toBe(`${f.jurisdiction}.json`);
  });

  it('uses rule ids that are unique across all files', () => {
    const ids = files.flatMap((f) => f.rules.map((r) => r.id));
    const dupes = ids.filter((id, i) => ids.indexOf(id) !== i);
    expect(dupes).toEqual([]);
  });

  it('marks only US as federal and gives every file at least one rule', () => {
    for (const f of files) {
      expect(f.kind).toBe(f.jurisdiction === 'US' ? 'federal' : 'state');
      expect(f.rules.length).toBeGreaterThan(0);
    }
  });

  it('uses valid IANA zones for fixed time bases', () => {
    const fixed = files.flatMap((f) => f.rules.flatMap((r) => (r.timeBasis.type === 'fixed' ? [r.timeBasis.zone] : [])));
    expect(fixed.sort()).toEqual(['America/Chicago', 'Etc/GMT+6']);
    for (const zone of fixed) expect(() => new Intl.DateTimeFormat('en-US', { timeZone: zone })).not.toThrow();
  });

  it('is described in calendars/README.md (every rule id appears there)', () => {
    const readme = readFileSync(path.join(CALENDAR_DIR, 'README.md'), 'utf8');
    const missing = files.flatMap((f) => f.rules.map((r) => r.id)).filter((id) => !readme.includes(`\`${id}\``));
    expect(missing).toEqual([]);
  });
});

describe('conventions the engine relies on', () => {
  const rule = (id: string) => {
    const r = files.flatMap((f) => f.rules).find((x) => x.id === id);
    expect(r, id).toBeDefined();
    return r!;
  };

  it('federal quiet hours cover every message 08:00-21:00', () => {
    const us = rule('US.quiet-hours');
    expect(us.channels.sort()).toEqual(['sms', 'voice']);
    expect(us.purposes.sort()).toEqual(['informational', 'marketing']);
    for (const day of Object.values(us.weekly!)) expect(day).toEqual([['08:00', '21:00']]);
  });

  it('Mississippi: recipient-local and fixed CST rules, no Sunday, no holidays', () => {
    const local = rule('MS.hours');
    const cst = rule('MS.cst-hours');
    expect(local.timeBasis).toEqual({ type: 'recipient' });
    expect(cst.timeBasis).toEqual({ type: 'fixed', zone: 'Etc/GMT+6', statuteWording: 'Central Standard Time' });
    for (const r of [local, cst]) {
      expect(r.weekly!.sun).toEqual([]);
      expect(r.weekly!.sat).toEqual([['08:00', '20:00']]);
    }
    expect(allHolidays.filter((h) => h.jurisdiction === 'MS')).toEqual([]);
  });

  it('Pennsylvania SB 992 is a separate low-confidence rule effective 2026-10-18', () => {
    const sb = rule('PA.sb992-hours');
    expect(sb.effectiveFrom).toBe('2026-10-18');
    expect(sb.confidence).toBe('low');
    expect(sb.weekly!.sun).toEqual([]);
    expect(sb.weekly!.mon).toEqual([['09:00', '19:00']]);
    expect(sb.channels.sort()).toEqual(['sms', 'voice']);
  });

  it('FL, OK and MD cap same-subject sends at 3 per 24 h counting both channels; Maine 1 per 8 h', () => {
    for (const id of ['FL.cap', 'OK.cap', 'MD.cap']) {
      expect(rule(id).caps).toEqual([{ count: 3, periodHours: 24, scope: 'subject', channels: ['sms', 'voice'] }]);
    }
    expect(rule('ME.cap').caps).toEqual([{ count: 1, periodHours: 8, scope: 'any', channels: ['voice'] }]);
  });

  it('Illinois securities rule uses Central Time, Sunday from 12:00', () => {
    const il = rule('IL.securities-hours');
    expect(il.timeBasis).toEqual({ type: 'fixed', zone: 'America/Chicago', statuteWording: 'Central Time Zone' });
    expect(il.weekly!.sun).toEqual([['12:00', '21:00']]);
    expect(il.channels).toEqual(['voice']);
  });

  it('voice-only definitions stay voice-only', () => {
    for (const id of ['MI.hours', 'MN.hours', 'CA.adad-hours', 'SD.hours', 'ME.hours', 'NE.adad-hours', 'NV.adad-hours']) {
      expect(rule(id).channels, id).toEqual(['voice']);
    }
  });
});

describe('holiday rules (date-holidays)', () => {
  it('the calendars contain holidays at all', () => {
    expect(allHolidays.length).toBeGreaterThan(50);
  });

  it.each(allHolidays.map((h) => [`${h.ruleId}: ${h.holiday.name} (${h.holiday.rule})`, h.holiday] as const))(
    '%s yields exactly one date in each year 2026-2030',
    (_label, h) => {
      for (const year of YEARS) {
        const dates = datesOf(h.rule, h.name, year);
        expect(dates, `${h.rule} in ${year}`).toHaveLength(expectedCount(h.rule, year));
        for (const d of dates) expect(d.startsWith(`${year}-`), `${h.rule} in ${year} -> ${d}`).toBe(true);
      }
    },
  );

  it.each(
    allHolidays
      .filter((h) => h.holiday.observance !== 'none')
      .map((h) => [`${h.ruleId}: ${h.holiday.name} (${h.holiday.rule} + ${h.holiday.observance})`, h.holiday] as const),
  )('%s has one parseable observed day near the holiday, off the shifted weekend days', (_label, h) => {
    expect(h.rule).toMatch(/^\d\d-\d\d$/); // observance shifts only make sense for fixed dates
    const observedRule = h.rule + OBSERVANCE_SUFFIX[h.observance]!;
    for (const year of YEARS) {
      const [actual] = datesOf(h.rule, h.name, year);
      // A Saturday January 1 is observed on December 31, which date-holidays lists under the year before.
      const observed = [year - 1, year, year + 1]
        .flatMap((y) => datesOf(observedRule, h.name, y))
        .filter((d) => Math.abs(Date.parse(d) - Date.parse(actual!)) <= 2 * 86_400_000);
      expect(observed, `${observedRule} around ${actual}`).toHaveLength(1);
      const weekday = new Date(`${observed[0]}T00:00:00Z`).getUTCDay();
      const allowed = h.observance === 'sun_to_mon' ? [1, 2, 3, 4, 5, 6] : [1, 2, 3, 4, 5];
      expect(allowed, `${observedRule}: ${observed[0]} (day ${weekday})`).toContain(weekday);
    }
  });

  // Each expected date was checked against a calendar by hand (weekday noted) as well as with date-holidays.
  const known: Array<[jurisdiction: string, name: string, year: number, expected: string[], rule?: string]> = [
    ['UT', 'Pioneer Day', 2026, ['2026-07-24']], // Friday
    ['PA', 'Flag Day', 2026, ['2026-06-14']], // Sunday (fixed date, no shift)
    ['LA', 'Mardi Gras', 2026, ['2026-02-17']], // Easter 2026-04-05 minus 47 days, a Tuesday
    ['LA', 'Mardi Gras', 2028, ['2028-02-29']], // Easter 2028-04-16 minus 47 days (leap year)
    ['AL', 'Mardi Gras', 2026, ['2026-02-17']],
    ['PA', 'Good Friday', 2026, ['2026-04-03']], // Easter 2026-04-05 minus 2
    ['LA', 'Good Friday', 2026, ['2026-04-03']],
    ['UT', 'Good Friday', 2027, ['2027-03-26']], // Easter 2027-03-28 minus 2
    ['RI', 'Victory Day', 2026, ['2026-08-10']], // Mondays in Aug 2026: 3, 10
    ['AL', 'Confederate Memorial Day', 2026, ['2026-04-27']], // Mondays in Apr 2026: 6, 13, 20, 27
    ['AL', "Jefferson Davis' Birthday", 2026, ['2026-06-01']],
    ['PA', 'Election Day', 2026, ['2026-11-03']], // 1st Monday Nov 2026 is the 2nd
    ['PA', 'Election Day', 2027, ['2027-11-02']], // every year in PA
    ['RI', 'General Election Day', 2026, ['2026-11-03']],
    ['RI', 'General Election Day', 2027, []], // even years only
    ['RI', 'General Election Day', 2028, ['2028-11-07']],
    ['LA', 'General Election Day', 2029, []],
    ['UT', 'Election Day', 2027, ['2027-11-02']],
    ['PA', 'Thanksgiving Day', 2026, ['2026-11-26']], // Thursdays in Nov 2026: 5, 12, 19, 26
    ['UT', 'Thanksgiving Day', 2026, ['2026-11-26']],
    ['PA', 'Memorial Day', 2026, ['2026-05-25']], // May 31 2026 is a Sunday
    ['PA', 'Memorial Day', 2027, ['2027-05-31']], // May 31 2027 is a Monday
    ['PA', 'Martin Luther King Jr. Day', 2026, ['2026-01-19']],
    ['UT', 'Juneteenth National Freedom Day (observed Monday)', 2026, ['2026-06-15']], // Jun 19 2026 is a Friday
    ['UT', 'Juneteenth National Freedom Day (observed Monday)', 2027, ['2027-06-21']], // Saturday -> next Monday
    ['UT', 'Juneteenth National Freedom Day (observed Monday)', 2028, ['2028-06-19']], // already a Monday
    ['RI', 'Independence Day', 2026, ['2026-07-06'], '07-04 if saturday then next monday'], // Jul 4 2026 is a Saturday
    ['RI', 'Independence Day', 2027, ['2027-07-04'], '07-04 if saturday then next monday'], // a Sunday: this entry yields the date itself
  ];

  it.each(known)('%s %s %i -> %j', (jurisdiction, name, year, expected, rule) => {
    const h = holiday(jurisdiction, name, rule);
    expect(datesOf(h.rule, h.name, year)).toEqual(expected);
  });

  const observed: Array<[jurisdiction: string, name: string, queryYear: number, expected: string]> = [
    ['UT', 'Pioneer Day', 2027, '2027-07-23'], // Jul 24 2027 is a Saturday -> Friday
    ['UT', 'Independence Day', 2026, '2026-07-03'], // Jul 4 2026 is a Saturday -> Friday
    ['RI', 'Independence Day', 2026, '2026-07-03'], // federal observance of a Saturday holiday
    ['RI', 'Independence Day', 2027, '2027-07-05'], // Jul 4 2027 is a Sunday -> Monday
    ['AL', 'Christmas Day', 2027, '2027-12-24'], // Dec 25 2027 is a Saturday -> Friday
    ['AL', "New Year's Day", 2027, '2027-12-31'], // Jan 1 2028 is a Saturday: listed under 2027
    ['RI', 'Rhode Island Independence Day', 2031, '2031-05-05'], // May 4 2031 is a Sunday -> Monday
  ];

  it.each(observed)('%s %s observed in the %i list includes %s', (jurisdiction, name, year, expected) => {
    const h = allHolidays.find(
      (x) => x.jurisdiction === jurisdiction && x.holiday.name === name && x.holiday.observance !== 'none',
    )?.holiday;
    expect(h, `${jurisdiction} ${name}`).toBeDefined();
    expect(datesOf(h!.rule + OBSERVANCE_SUFFIX[h!.observance]!, h!.name, year)).toContain(expected);
  });

  it('rejects a rule date-holidays cannot parse (so the checks above are meaningful)', () => {
    expect(() => datesOf('not a holiday rule', 'x', 2026)).toThrow(/cannot parse/);
  });
});
