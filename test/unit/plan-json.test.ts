/**
 * `tcpa plan`'s JSON lines (src/cli/plan-json.ts) are built from memoised pieces instead of
 * JSON.stringify: they must be the very same text. Checked against JSON.stringify on views the
 * engine makes (every kind of reason: legal, org, request window, blackout, caps, unresolved
 * contacts) and on random views whose strings need escaping (quotes, backslashes, control
 * characters, lone surrogates, non-ASCII), including values of unexpected types.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readCalendarFiles } from '../../src/adapters/calendars/fs-loader.ts';
import { evaluate, parseCheckRequest, type DecisionView } from '../../src/app/evaluate.ts';
import { compileCalendarSet } from '../../src/domain/calendar/compile.ts';
import { OrgCalendarSchema } from '../../src/domain/calendar/schema.ts';
import type { DecideInput, Reason } from '../../src/domain/decide.ts';
import { AppError } from '../../src/domain/errors.ts';
import { LineBuffer } from '../../src/cli/plan-json.ts';
import { errorLine, viewLine } from '../helpers/plan-lines.ts';

const set = compileCalendarSet(readCalendarFiles());
const reference = (id: unknown, view: DecisionView): string => JSON.stringify({ id, ...view });

const ZIPS = ['10001', '33101', '73301', '86045', '96820', '99501', '00601', '70112', '84101', '02903', '97201', '59601', '00000', '09001', '1234'];
const PHONES = [undefined, '+12125551234', '3055550123', '+442071838750', '9075550100', '4055550100', '12'];
const org = OrgCalendarSchema.parse({
  id: 'acme "west" \\ co',
  weekly: { mon: [['09:00', '17:00']], tue: [['09:00', '17:00']], wed: [['09:00', '12:00'], ['13:00', '17:00']], thu: [['09:00', '17:00']], fri: [['09:00', '16:00']], sat: [], sun: [] },
  holidays: [{ name: 'Día de la “Empresa”', rule: '06-15' }],
  closedDates: ['2026-03-10', '2026-12-24'],
  blackouts: [{ from: '2026-08-01', to: '2026-08-03', reason: 'hurricane\tseason\n"Ida"' }],
  margins: { startLaterMinutes: 30, stopEarlierMinutes: 45 },
  caps: [{ count: 1, periodHours: 48, scope: 'any', channels: ['sms'] }],
});

describe('plan lines are JSON.stringify, byte for byte', () => {
  it('on views the engine makes', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(
        fc.record({
          id: fc.oneof(fc.string(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(null), fc.string({ unit: 'binary' })),
          zip: fc.constantFrom(...ZIPS),
          phone: fc.constantFrom(...PHONES),
          channel: fc.constantFrom('sms', 'voice'),
          policy: fc.constantFrom('cancel', 'next_slot', 'previous_slot'),
          purpose: fc.constantFrom('marketing', 'informational'),
          unresolved: fc.constantFrom('cancel', 'strictest'),
          // Mostly any instant; at times one on the org's closed dates, its holiday or Christmas
          // (a closed date is 2 days in 2 years: drawn at random only, a run could miss it).
          at: fc.oneof(
            { weight: 9, arbitrary: fc.integer({ min: Date.UTC(2025, 11, 1), max: Date.UTC(2028, 0, 1) }) },
            { weight: 1, arbitrary: fc.constantFrom(Date.UTC(2026, 2, 10, 15), Date.UTC(2026, 11, 24, 15), Date.UTC(2026, 5, 15, 15), Date.UTC(2026, 11, 25, 15)) },
          ),
          back: fc.integer({ min: 0, max: 3 * 86_400_000 }),
          extra: fc.constantFrom('none', 'org', 'window', 'blackout', 'history', 'org+history'),
        }),
        (r) => {
          let req;
          try {
            req = parseCheckRequest(
              { zip: r.zip, phone: r.phone, channel: r.channel, policy: r.policy, purpose: r.purpose, unresolved: r.unresolved, at: new Date(r.at).toISOString(), now: new Date(r.at - r.back).toISOString() },
              0,
            );
          } catch {
            return;
          }
          const history = [
            { at: r.at - 3_600_000, channel: 'sms' as const },
            { at: r.at - 7_200_000, channel: 'voice' as const },
            { at: r.at - 60_000, channel: 'sms' as const },
          ];
          const extras: Record<string, Partial<DecideInput>> = {
            none: {},
            org: { orgCalendar: org },
            'org+history': { orgCalendar: org, history },
            window: { window: { start: '10:15', end: '15:45' } },
            blackout: { blackouts: [{ id: 'storm "x"', from: r.at - 3_600_000, to: r.at + 7_200_000, reason: 'storm\\surge' }] },
            history: { history },
          };
          const extra = extras[r.extra]!;
          let view: DecisionView;
          try {
            view = evaluate(set, req, extra);
          } catch (e) {
            if (e instanceof AppError) return;
            throw e;
          }
          expect(viewLine(r.id, view)).toBe(reference(r.id, view));
          for (const x of view.reasons) seen.add(x.code);
        },
      ),
      { numRuns: 3000 },
    );
    // The runs met every kind of reason the engine words.
    for (const code of ['ALLOWED', 'OUTSIDE_HOURS', 'DAY_CLOSED', 'HOLIDAY', 'ORG_HOURS', 'ORG_MARGIN', 'ORG_DAY_CLOSED', 'ORG_CLOSED_DATE', 'ORG_FREQUENCY_CAP', 'REQUEST_WINDOW', 'BLACKOUT', 'FREQUENCY_CAP', 'UNRESOLVED_LOCATION', 'NO_SLOT_IN_HORIZON']) {
      expect(seen).toContain(code);
    }
  });

  const nasty = fc.oneof(
    fc.string(),
    fc.string({ unit: 'grapheme' }),
    fc.string({ unit: 'binary' }), // any code point, lone surrogates included
    fc.constantFrom('', '"', '\\', '\u0000', '\u001f', '\u007f', '\u2028\u2029', '–', '§', 'é', '😀', '\ud800', '\udc00x', 'a"b\\c\nd', '08:00–21:00'),
  );
  const nullable = fc.oneof(nasty, fc.constant(null));
  const reason = fc.record({
    code: fc.oneof(fc.constantFrom('ALLOWED', 'OUTSIDE_HOURS', 'HOLIDAY'), nasty),
    rule: nullable,
    citation: nullable,
    jurisdiction: nullable,
    timezone: nullable,
    local: nullable,
    message: nasty,
  }) as fc.Arbitrary<Reason>;
  const zones = fc.array(nasty, { maxLength: 3 });
  const view = fc.record({
    decision: fc.oneof(fc.constantFrom('send', 'reschedule', 'cancel'), nasty),
    sendAt: nullable,
    localSendAt: nullable,
    state: nullable,
    timezones: fc.oneof(zones, zones.map((z) => Object.freeze(z))),
    reasons: fc.array(reason, { maxLength: 4 }),
    calendarVersion: nasty,
  }) as fc.Arbitrary<DecisionView>;
  // Values of types a view should never hold: the line falls back to JSON.stringify.
  const odd = fc.oneof(fc.constant(undefined), fc.integer(), fc.boolean(), fc.constant({ a: 1 }), fc.constant([1, '2']));

  it('on random views, strings that need escaping included', () => {
    fc.assert(
      fc.property(fc.oneof(nasty, fc.integer(), fc.double(), fc.constant(null)), view, (id, v) => {
        expect(viewLine(id, v)).toBe(reference(id, v));
      }),
      { numRuns: 5000 },
    );
  });

  it('on views holding values of unexpected types', () => {
    const keys = ['decision', 'sendAt', 'localSendAt', 'state', 'timezones', 'reasons', 'calendarVersion', 'reason.code', 'reason.rule', 'reason.local', 'reason.message', 'id', 'zone'] as const;
    fc.assert(
      fc.property(view, fc.constantFrom(...keys), odd, (v, key, value) => {
        const w = { ...v, reasons: v.reasons.map((r) => ({ ...r })), timezones: [...v.timezones] } as DecisionView;
        let id: unknown = 'x';
        if (key === 'id') id = value;
        else if (key === 'zone') (w.timezones as unknown[]).push(value);
        else if (key.startsWith('reason.')) {
          if (w.reasons.length === 0) return;
          (w.reasons[0] as unknown as Record<string, unknown>)[key.slice(7)] = value;
        } else (w as unknown as Record<string, unknown>)[key] = value;
        expect(viewLine(id, w)).toBe(reference(id, w));
      }),
      { numRuns: 3000 },
    );
  });

  it('a memoised zone list is not reused for another state, nor an unfrozen list at all', () => {
    const zonesList = Object.freeze(['America/New_York']);
    const v = (state: string | null, timezones: readonly string[]): DecisionView => ({ decision: 'send', sendAt: null, localSendAt: null, state, timezones, reasons: [], calendarVersion: 'cal-x' });
    for (const state of ['NY', 'NJ', null, 'NY']) expect(viewLine(1, v(state, zonesList))).toBe(reference(1, v(state, zonesList)));
    const mutable = ['America/Chicago'];
    expect(viewLine(1, v('TX', mutable))).toBe(reference(1, v('TX', mutable)));
    mutable[0] = 'America/Denver';
    expect(viewLine(1, v('TX', mutable))).toBe(reference(1, v('TX', mutable)));
  });

  it('error lines', () => {
    fc.assert(
      fc.property(fc.oneof(nasty, fc.integer(), fc.double(), fc.constant(null), odd), fc.oneof(fc.integer({ min: 1, max: 1e9 }), fc.double()), nasty, nasty, (id, line, code, message) => {
        expect(errorLine(id, line, code, message)).toBe(JSON.stringify({ id, line, error: { code, message } }));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('LineBuffer', () => {
  it('cuts whole lines into pieces with buffers of their own, grows for a long line, and takes back an abandoned one', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ text: fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'grapheme', minLength: 100, maxLength: 3000 })), repeat: fc.integer({ min: 1, max: 60 }), abandon: fc.boolean() }), { maxLength: 40 }),
        fc.integer({ min: 16, max: 4096 }),
        (lines, pieceSize) => {
          const out = new LineBuffer(pieceSize);
          let expected = '';
          const taken: Uint8Array[] = [];
          for (const { text, repeat, abandon } of lines) {
            const value = text.repeat(repeat);
            if (abandon) {
              out.json(value);
              out.text(value);
              out.abandonLine();
            }
            out.json(value);
            out.endLine();
            expected += `${JSON.stringify(value)}\n`;
            if (abandon) taken.push(...out.take());
          }
          taken.push(...out.take(true));
          expect(Buffer.concat(taken).toString('utf8')).toBe(expected);
          for (const p of taken) {
            expect(p[p.length - 1]).toBe(10);
            expect(p.byteOffset).toBe(0);
          }
          expect(new Set(taken.map((p) => p.buffer)).size).toBe(taken.length);
          expect(out.take(true)).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
