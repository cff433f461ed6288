/**
 * `tcpa plan`'s row path (src/cli/plan-rows.ts) replaces readline, JSON.parse and zod for the
 * common cases; each shortcut must give what it replaces: the same lines (numbering included),
 * the same values, the same output line and counts (error lines included).
 */
import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { readCalendarFiles } from '../../src/adapters/calendars/fs-loader.ts';
import { evaluate, parseCheckRequest, RawCheckSchema, type RawCheck } from '../../src/app/evaluate.ts';
import { compileCalendarSet } from '../../src/domain/calendar/compile.ts';
import { AppError } from '../../src/domain/errors.ts';
import { lineText } from '../helpers/plan-lines.ts';
import { emptySummary, jsonlValue, LineSplitter, parseFlatObject, RowDecider, type PlanSummary } from '../../src/cli/plan-rows.ts';

/** `JSON.parse` result or the error's absence: a value with its key order (and prototype) spelled out. */
function shape(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return Object.is(v, -0) ? '-0' : v;
  if (Array.isArray(v)) return v.map(shape);
  return { proto: Object.getPrototypeOf(v) === Object.prototype, entries: Object.entries(v).map(([k, x]) => [k, shape(x)]) };
}

describe('parseFlatObject is JSON.parse on the lines it takes', () => {
  const token = fc.constantFrom('{', '}', '"', ':', ',', ' ', '\t', '\\', 'true', 'false', 'null', '-', '0', '1', '9', '.', 'e', 'E', '+', 'a', 'é', '–', '\u0000', '\u001f', '\u2028', '\ud800', '__proto__', 'constructor', '[', ']', 'x');
  const value = fc.oneof(fc.string({ unit: 'binary' }), fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.constantFrom(0, -0, 1e21, 1e-7, 5e-324, 1.7976931348623157e308));
  const flat = fc.array(fc.tuple(fc.oneof(fc.string({ unit: 'binary' }), fc.constantFrom('id', 'zip', 'at', '__proto__', 'constructor', '0', '10', 'toString')), value), { maxLength: 6 });
  const text = fc.oneof(
    // well-formed flat objects, spaced in every way, keys repeated at times
    fc.tuple(flat, fc.constantFrom('', ' ', '\t', '  \t')).map(([entries, sp]) => `${sp}{${sp}${entries.map(([k, v]) => `${JSON.stringify(k)}${sp}:${sp}${JSON.stringify(v)}`).join(`${sp},${sp}`)}${sp}}${sp}`),
    fc.tuple(flat, flat).map(([a, b]) => JSON.stringify(Object.fromEntries([...a, ...b, ...a]))),
    // number spellings, valid or not
    fc.array(fc.constantFrom('-', '0', '1', '9', '.', 'e', 'E', '+', '00'), { minLength: 1, maxLength: 8 }).map((p) => `{"n":${p.join('')}}`),
    // nested values and anything else go to JSON.parse
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.array(token, { maxLength: 20 }).map((t) => t.join('')),
    fc.string({ unit: 'binary' }),
  );

  it('same value, same key order, or no answer', () => {
    let answered = 0;
    fc.assert(
      fc.property(text, (t) => {
        const fast = parseFlatObject(t);
        if (fast === undefined) return;
        answered++;
        let parsed: unknown;
        expect(() => (parsed = JSON.parse(t))).not.toThrow();
        expect(shape(fast)).toEqual(shape(parsed));
      }),
      { numRuns: 20_000 },
    );
    expect(answered).toBeGreaterThan(2000);
  });

  it('answers for the usual rows', () => {
    for (const line of ['{"id":"c1","zip":"10001","at":"2026-03-01T10:00:00.000Z"}', ' { "id" : 7 , "zip" : 2134, "x": null, "y": true, "z": -1.5e3 } ', '{}']) {
      expect(shape(parseFlatObject(line))).toEqual(shape(JSON.parse(line)));
    }
    for (const line of ['{"a":"\\n"}', '{"a":{}}', '{"__proto__":1}', '{"a":01}', '{"a":1,}', '{"a":1} x']) expect(parseFlatObject(line)).toBeUndefined();
  });
});

describe('LineSplitter splits like readline (crlfDelay: Infinity)', () => {
  async function viaReadline(chunks: Buffer[]): Promise<string[]> {
    const out: string[] = [];
    for await (const line of createInterface({ input: Readable.from(chunks), crlfDelay: Infinity })) out.push(line);
    return out;
  }
  const piece = fc.oneof(
    fc.constantFrom('\n', '\r', '\r\n', '\r\r\n', '\n\r', '', ' ', '{"a":1}', 'é', '–', '😀'),
    fc.string({ unit: 'binary', maxLength: 8 }),
  );
  // Raw bytes too: invalid UTF-8 and sequences cut anywhere.
  const bytes = fc.oneof(
    fc.array(piece, { maxLength: 12 }).map((p) => Buffer.from(p.join(''), 'utf8')),
    fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
    fc.array(fc.constantFrom(0x0a, 0x0d, 0x41, 0xc3, 0xa9, 0xe2, 0x80, 0x93, 0xf0, 0x9f, 0xff), { maxLength: 30 }).map((a) => Buffer.from(a)),
  );

  it('same lines, whatever the chunks', async () => {
    await fc.assert(
      fc.asyncProperty(bytes, fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 6 }), async (buf, cuts) => {
        const at = [...new Set(cuts.map((c) => Math.min(c, buf.length)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let prev = 0;
        for (const c of [...at, buf.length]) {
          if (c > prev) chunks.push(buf.subarray(prev, c));
          prev = Math.max(prev, c);
        }
        const mine: string[] = [];
        const splitter = new LineSplitter();
        for (const chunk of chunks) splitter.write(chunk, (l) => mine.push(l));
        splitter.end((l) => mine.push(l));
        expect(mine).toEqual(await viaReadline(chunks));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('RowDecider gives the line and counts of the zod path', () => {
  const set = compileCalendarSet(readCalendarFiles());
  const RowSchema = RawCheckSchema.extend({ id: z.union([z.string(), z.number()]).optional() });
  const inc = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);

  /** The row path as it was: zod, merge, evaluate, JSON.stringify. */
  function reference(line: number, raw: unknown, defaults: RawCheck, summary: PlanSummary): string {
    summary.rows++;
    let id: unknown = null;
    try {
      if (raw instanceof AppError) throw raw;
      const row = RowSchema.safeParse(raw);
      if (!row.success) throw new AppError('INVALID_ROW', row.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      id = row.data.id ?? null;
      const merged: RawCheck = { ...defaults };
      for (const [k, v] of Object.entries(row.data)) if (v !== undefined && v !== '' && k !== 'id') (merged as Record<string, unknown>)[k] = v;
      const view = evaluate(set, parseCheckRequest(merged, 1_767_225_600_000));
      inc(summary.decisions, view.decision);
      for (const r of view.reasons) if (r.code !== 'ALLOWED') inc(summary.reasons, r.code);
      if (view.localSendAt) summary.localSendHour[Number(view.localSendAt.slice(11, 13))]!++;
      return `${JSON.stringify({ id, ...view })}\n`;
    } catch (e) {
      if (!(e instanceof AppError)) throw e;
      summary.errors++;
      inc(summary.errorCodes, e.code);
      return `${JSON.stringify({ id, line, error: { code: e.code, message: e.message } })}\n`;
    }
  }

  const odd = fc.constantFrom(null, true, 0, 12.5, -0, Infinity, NaN, [], {}, ['a'], '', ' ');
  const field = <T,>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 12, arbitrary: good }, { weight: 1, arbitrary: odd }, { weight: 3, arbitrary: fc.constant(undefined) });
  const instant = fc.oneof(
    fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2028, 0, 1) }).map((t) => new Date(t).toISOString()),
    fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2028, 0, 1) }).map((t) => new Date(t - (t % 1000)).toISOString().replace('.000Z', 'Z')),
    fc.constantFrom('2026-13-01T00:00:00Z', 'soon', '2026-02-30T10:00:00Z', '2026-03-08T07:30:00-05:00', '2026-03-08T07:30+0530', '2026-03-08t07:30:00z', ' 2026-03-08T07:30:00Z '),
  );
  const row = fc.record(
    {
      id: field(fc.oneof(fc.string({ unit: 'binary' }), fc.integer())),
      zip: field(fc.oneof(fc.constantFrom('10001', '33101', '96820', '00000', '09001', '1234', '10001-1234', ' 02134 '), fc.constantFrom(2134, 10001))),
      phone: field(fc.constantFrom('+12125551234', '3055550123', '+442071838750', '12', 9075550100)),
      channel: field(fc.constantFrom('sms', 'voice', 'fax', '')),
      purpose: field(fc.constantFrom('marketing', 'informational', 'sales')),
      policy: field(fc.constantFrom('next_slot', 'cancel', 'previous_slot', 'later')),
      at: field(instant),
      now: field(instant),
      notAfter: field(instant),
      unresolved: field(fc.constantFrom('cancel', 'strictest', 'maybe')),
      subject: field(fc.constantFrom('promo', 'x"y')),
      other: field(fc.string()),
    },
    { requiredKeys: [] },
  );
  const raw = fc.oneof({ weight: 10, arbitrary: row }, { weight: 1, arbitrary: fc.jsonValue() }, { weight: 1, arbitrary: fc.constant(new AppError('INVALID_ROW', 'not valid JSON')) });
  const defaults = fc.record({ channel: fc.constantFrom(undefined, 'sms', 'voice', 'fax'), policy: fc.constantFrom(undefined, 'cancel'), purpose: fc.constantFrom(undefined, 'informational'), at: fc.constantFrom(undefined, '2026-06-01T12:00:00Z'), now: fc.constantFrom(undefined, '2026-01-01T00:00:00Z', 'x'), unresolved: fc.constantFrom(undefined, 'strictest') });

  it('row by row', () => {
    fc.assert(
      fc.property(defaults, fc.array(raw, { minLength: 1, maxLength: 8 }), (d, rows) => {
        const decider = new RowDecider(set, d, 1_767_225_600_000);
        const mine = emptySummary();
        const theirs = emptySummary();
        rows.forEach((r, i) => expect(`${lineText((out) => decider.row(i + 1, r, mine, out))}\n`).toBe(reference(i + 1, r, d, theirs)));
        expect(JSON.stringify(mine)).toBe(JSON.stringify(theirs));
      }),
      { numRuns: 2000 },
    );
  });

  it('JSONL lines: blank lines skipped, bad JSON an INVALID_ROW', () => {
    expect(jsonlValue('')).toBeUndefined();
    expect(jsonlValue(' \t\ufeff')).toBeUndefined();
    expect(jsonlValue('\ufeff{"a":1}')).toEqual(new AppError('INVALID_ROW', 'not valid JSON'));
    expect(jsonlValue('{oops')).toEqual(new AppError('INVALID_ROW', 'not valid JSON'));
    expect(jsonlValue(' {"a":[1]} ')).toEqual({ a: [1] });
  });
});
