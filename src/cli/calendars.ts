/** `tcpa calendars`: a readable listing of the calendar set (JSON). */
import type { CalendarSet } from '../domain/calendar/compile.ts';
import { WEEKDAYS, type Weekly } from '../domain/calendar/schema.ts';

function windowsText(weekly: Weekly | undefined): Record<string, string> | null {
  if (!weekly) return null;
  return Object.fromEntries(WEEKDAYS.map((d) => [d, weekly[d].length ? weekly[d].map(([a, b]) => `${a}-${b}`).join(',') : 'closed']));
}

export function describeCalendars(set: CalendarSet): unknown {
  return {
    calendarVersion: set.version,
    jurisdictions: set.files.map((f) => ({
      jurisdiction: f.jurisdiction,
      name: f.name,
      kind: f.kind,
      rules: f.rules.map((r) => ({
        id: r.id,
        channels: r.channels,
        purposes: r.purposes,
        timeBasis: r.timeBasis.type === 'fixed' ? `fixed ${r.timeBasis.zone} (${r.timeBasis.statuteWording})` : 'recipient local',
        windows: windowsText(r.weekly),
        holidays: r.holidays.map((h) => h.name),
        caps: r.caps.map((c) => `${c.count} per ${c.periodHours}h, ${c.scope}, counting ${c.channels.join('+')}`),
        effectiveFrom: r.effectiveFrom ?? null,
        effectiveUntil: r.effectiveUntil ?? null,
        citation: r.citation,
        confidence: r.confidence,
      })),
    })),
  };
}
