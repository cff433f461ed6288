/**
 * Reads `calendars/*.json` from disk and hands them to the pure compiler. A file that is not
 * JSON, or that fails the schema, throws a CalendarFileError naming the file and field.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CalendarFileError, compileCalendarSet, type CalendarSet } from '../../domain/calendar/compile.ts';

export const DEFAULT_CALENDAR_DIR = fileURLToPath(new URL('../../../calendars/', import.meta.url));

export function readCalendarFiles(dir: string = DEFAULT_CALENDAR_DIR): Array<{ name: string; content: unknown }> {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((name) => {
      const text = readFileSync(join(dir, name), 'utf8');
      try {
        return { name, content: JSON.parse(text) as unknown };
      } catch (e) {
        throw new CalendarFileError(name, '', `not valid JSON: ${(e as Error).message}`);
      }
    });
}

export function loadCalendarSet(dir: string = DEFAULT_CALENDAR_DIR): CalendarSet {
  return compileCalendarSet(readCalendarFiles(dir));
}
