/**
 * Named holidays computed per year with date-holidays' rule grammar (no hand-written Easter
 * maths). A holiday blocks its actual date and, when it has an observance shift, the observed
 * date too (the stricter reading).
 */
import Holidays from 'date-holidays';
import type { Holiday } from './schema.ts';

const OBSERVANCE_SUFFIX: Record<Holiday['observance'], string | null> = {
  none: null,
  sat_to_fri_sun_to_mon: ' if saturday then previous friday if sunday then next monday',
  sun_to_mon: ' if sunday then next monday',
};

/** Local dates (`YYYY-MM-DD`) → holiday name, for one year. */
export type HolidayDates = ReadonlyMap<string, string>;

/** Thrown when a rule string is not valid date-holidays grammar. */
export class HolidayRuleError extends Error {
  constructor(readonly rule: string) {
    super(`holiday rule "${rule}" is not valid date-holidays grammar`);
    this.name = 'HolidayRuleError';
  }
}

function datesFor(rule: string, name: string, year: number): string[] {
  const hd = new Holidays();
  if (!hd.setHoliday(rule, { name, type: 'public' })) throw new HolidayRuleError(rule);
  return hd.getHolidays(year).map((h) => h.date.slice(0, 10));
}

/** Validate a holiday's rule strings (used when a calendar file is loaded). */
export function checkHoliday(h: Holiday): void {
  datesFor(h.rule, h.name, 2026);
  const suffix = OBSERVANCE_SUFFIX[h.observance];
  if (suffix) datesFor(h.rule + suffix, h.name, 2026);
}

/** Compute the blocked dates of a list of holidays for `year`. */
export function holidayDates(holidays: readonly Holiday[], year: number): HolidayDates {
  const out = new Map<string, string>();
  for (const h of holidays) {
    if (h.fromYear !== undefined && year < h.fromYear) continue;
    if (h.untilYear !== undefined && year > h.untilYear) continue;
    for (const d of datesFor(h.rule, h.name, year)) out.set(d, h.name);
    const suffix = OBSERVANCE_SUFFIX[h.observance];
    if (suffix) {
      for (const d of datesFor(h.rule + suffix, `${h.name} (observed)`, year)) if (!out.has(d)) out.set(d, `${h.name} (observed)`);
    }
  }
  return out;
}
