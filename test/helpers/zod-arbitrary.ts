/**
 * fast-check arbitraries from zod schemas (through `z.toJSONSchema`), for the API fuzz test:
 * values that mostly fit a route's body or query schema, and hostile values to put into them.
 */
import fc from 'fast-check';
import { z } from 'zod';

type JsonSchema = {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
};

/** Valid-looking text: ASCII, any script, emoji, right-to-left. */
const niceText = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ maxLength: 12, unit: 'grapheme' }),
  fc.constantFrom('שלום עולם', 'مرحبا', '😀👍🏽👨‍👩‍👧', '\u202Eevil\u202C', 'Ünïcödé', '10001', '+12125550123', '2026-12-08T17:00:00Z'),
);

function fromJsonSchema(s: JsonSchema, depth: number): fc.Arbitrary<unknown> {
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...s.enum);
  const alts = s.anyOf ?? s.oneOf;
  if (alts && alts.length > 0) return fc.oneof(...alts.map((a) => fromJsonSchema(a, depth)));
  if (s.allOf && s.allOf.length > 0) return fromJsonSchema(s.allOf[0]!, depth);
  const type = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
  if (type.length > 1) return fc.oneof(...type.map((t) => fromJsonSchema({ ...s, type: t }, depth)));
  switch (type[0]) {
    case 'string': {
      if (s.format === 'uuid') return fc.uuid();
      if (s.format === 'date-time') return fc.date({ min: new Date('2020-01-01'), max: new Date('2030-01-01'), noInvalidDate: true }).map((d) => d.toISOString());
      if (s.format === 'email') return fc.emailAddress();
      if (s.format === 'uri') return fc.webUrl();
      if (s.pattern) return fc.stringMatching(new RegExp(s.pattern)).filter((x) => x.length <= (s.maxLength ?? 10_000));
      const min = s.minLength ?? 0;
      return niceText.filter((x) => x.length >= min && x.length <= (s.maxLength ?? 10_000));
    }
    case 'integer':
      return fc.integer({ min: Math.max(s.minimum ?? -1e6, Number.MIN_SAFE_INTEGER), max: Math.min(s.maximum ?? 1e6, Number.MAX_SAFE_INTEGER) });
    case 'number':
      return fc.double({ min: s.minimum ?? s.exclusiveMinimum ?? -1e6, max: s.maximum ?? s.exclusiveMaximum ?? 1e6, noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      if (depth > 4) return fc.constant([]);
      return fc.array(s.items ? fromJsonSchema(s.items, depth + 1) : fc.jsonValue({ maxDepth: 1 }), { minLength: s.minItems ?? 0, maxLength: Math.max(s.minItems ?? 0, Math.min(s.maxItems ?? 3, 3)) });
    case 'object': {
      if (!s.properties || depth > 4) return fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 });
      const props: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, v] of Object.entries(s.properties)) props[k] = fromJsonSchema(v, depth + 1);
      return fc.record(props, { requiredKeys: (s.required ?? []).filter((k) => k in props) });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** Values shaped like `schema`'s input (not always valid: refinements and patterns of strings are approximated). */
export function arbitraryOf(schema: z.ZodType): fc.Arbitrary<unknown> {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return fromJsonSchema(json, 0);
}

/** A few strings of 100,000 characters and more are built once. */
const LONG = 'x'.repeat(70_000);

/** Values that should be refused wherever they land (or accepted harmlessly): the fuzz test's mutations. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  // Characters Postgres or a provider cannot carry.
  fc.constantFrom('a\u0000b', '\u0000', 'x\ud800y', '\udc00', 'bell\u0007', 'esc\u001b[31m', '\uffff', '\ufffe', 'vt\u000b'),
  fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 })).map(([a, b]) => `${a}\u0000${b}`),
  // Wrong types.
  fc.constantFrom(true, false, null, 0, -1, 1.5, '', [], {}, [1, 'a'], { a: 1 }, [[[[]]]]),
  // Huge, tiny and odd numbers.
  fc.constantFrom(1e308, -1e308, 2 ** 53 + 2, 2 ** 63, -(2 ** 63), 2 ** 31, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER, Number.MIN_VALUE, -0),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.bigInt({ min: -(2n ** 100n), max: 2n ** 100n }).map((b) => Number(b)),
  // Very long strings.
  fc.constantFrom('y'.repeat(201), 'z'.repeat(1601), 'w'.repeat(4001), LONG, '😀'.repeat(3000)),
  // Unknown enum values and other words.
  fc.constantFrom('bogus', 'SMS', 'Marketing', 'admin ', 'US', 'ZZ', 'true', 'null', 'undefined', '__proto__', 'constructor'),
  // Bad UUIDs.
  fc.constantFrom('not-a-uuid', '00000000-0000-0000-0000-00000000000g', '00000000000000000000000000000000', '{00000000-0000-0000-0000-000000000000}', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '00000000-0000-0000-0000-000000000000'),
  fc.uuid(),
  // Bad cursors and instants.
  fc.constantFrom('eyJ4IjoxfQ', 'eyJpZCI6bnVsbH0', 'e30', '!!!', '-1', '99999999999999999999', '0', 'MjAyNi0xMi0wOHw', '%', '..%2F..'),
  fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64url')),
  fc.string({ maxLength: 40 }).map((s) => Buffer.from(JSON.stringify({ id: s, at: s, createdAt: s, seq: s })).toString('base64url')),
  fc.constantFrom('2026-13-45T99:99:99Z', '0000-01-01T00:00:00Z', '+275760-09-13T00:00:00.001Z', '-271821-04-20T00:00:00Z', '9999-12-31T23:59:59Z', '1970-01-01T00:00:00Z', '2026-12-08', 'now', '1e400'),
  // Harmless text that must stay allowed.
  niceText,
);

/** Raw request bodies that are not what `JSON.stringify` would make. */
export const hostileRawBody: fc.Arbitrary<string> = fc.constantFrom(
  '1e400',
  '{"limit":1e400}',
  '{',
  '[',
  'null',
  '"\\u0000"',
  '{"a\\u0000":1}',
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  '['.repeat(5000) + ']'.repeat(5000),
  '{"a":'.repeat(2000) + '1' + '}'.repeat(2000),
  // As deep as the default 100 KB BODY_LIMIT allows, a refused character at the bottom (walking it once took O(depth²)).
  '{"x":' + '['.repeat(45_000) + '"\\u0000"' + ']'.repeat(45_000) + '}',
  '\ufeff{}',
  '{"x":"\\ud800"}',
);
