/**
 * The fast canonical JSON and entry hash of the audit chain are the original definitions, byte for
 * byte: existing chains (hashed with `canonicalJson` from calendar/compile.ts over `entryCore`)
 * must keep verifying.
 */
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson as referenceCanonical } from '../../src/domain/calendar/compile.ts';
import { canonicalJson } from '../../src/domain/audit/canonical.ts';
import { canonicalCore, entryCore, entryHash, GENESIS_HASH, type AuditEntryCore } from '../../src/domain/audit/chain.ts';

/** The hash exactly as it was first defined. */
function referenceHash(prevHash: string, entry: AuditEntryCore): string {
  return createHash('sha256').update(`${prevHash}\n${referenceCanonical(entryCore(entry))}`).digest('hex');
}

const nasty = fc.constantFrom('', 'a"b', 'back\\slash', 'line\nbreak', '\u0000\u001f', '\u2028\u2029', '\ud800', 'x\udfffy', '😀', 'é', '__proto__', 'constructor', '10', '2', 'B', 'a');
const key = fc.oneof(fc.string(), nasty);
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    nasty,
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(key, tie('value'), { maxKeys: 6 }),
  ),
})).value;

describe('canonical JSON (fast) = the reference', () => {
  it('on arbitrary JSON-like values', () => {
    fc.assert(fc.property(json, (v) => canonicalJson(v) === referenceCanonical(v)), { numRuns: 3000 });
  });

  it('on what JSON.parse gives back (the stored form)', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => canonicalJson(JSON.parse(JSON.stringify(v))) === referenceCanonical(JSON.parse(JSON.stringify(v)))), { numRuns: 2000 });
  });

  it('on the odd cases: undefined members, holes, Dates, functions', () => {
    const odd: unknown[] = [
      { a: undefined, b: 1 },
      [undefined, 1, , 3], // eslint-disable-line no-sparse-arrays
      { d: new Date(0) },
      { f: () => 1 },
      [() => 1],
      Object.create(null),
      { z: 1, a: { y: [1, { c: 2, b: 3 }] } },
      -0,
      Number.NaN,
      1e21,
    ];
    for (const v of odd) expect(canonicalJson(v)).toBe(referenceCanonical(v));
  });
});

describe('entryHash = the original definition', () => {
  const uuid = fc.uuid();
  const entry = fc.record({
    orgId: uuid,
    seq: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    action: fc.oneof(fc.constantFrom('timer.created', 'timer.sent'), fc.string()),
    timerId: fc.option(uuid, { nil: undefined }),
    contactId: fc.option(uuid),
    journeyId: fc.option(uuid, { nil: undefined }),
    campaignId: fc.option(uuid),
    decision: fc.option(fc.constantFrom('send', 'reschedule', 'cancel')),
    reasonCodes: fc.option(fc.array(fc.oneof(fc.constantFrom('ALLOWED', 'OUTSIDE_HOURS'), fc.string()), { maxLength: 4 }), { nil: undefined }),
    data: fc.oneof(json, fc.constant(undefined)),
    createdAt: fc.oneof(
      fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }),
      fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
    ),
  });

  it('on arbitrary entries', () => {
    fc.assert(
      fc.property(entry, fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }), (e, prev) => {
        expect(canonicalCore(e)).toBe(referenceCanonical(entryCore(e)));
        return entryHash(prev, e) === referenceHash(prev, e);
      }),
      { numRuns: 3000 },
    );
  });

  it('a known vector stays fixed', () => {
    const e: AuditEntryCore = {
      orgId: '11111111-1111-4111-8111-111111111111',
      seq: 1,
      action: 'timer.created',
      timerId: '22222222-2222-4222-8222-222222222222',
      reasonCodes: ['ALLOWED'],
      decision: 'send',
      data: { b: [1, 2.5, 'x'], a: { z: null, y: 'é' } },
      createdAt: new Date(Date.UTC(2026, 11, 8, 17, 0, 0, 123)),
    };
    expect(entryHash(GENESIS_HASH, e)).toBe(referenceHash(GENESIS_HASH, e));
    expect(canonicalCore(e)).toBe(
      '{"action":"timer.created","campaignId":null,"contactId":null,"createdAt":"2026-12-08T17:00:00.123Z","data":{"a":{"y":"é","z":null},"b":[1,2.5,"x"]},"decision":"send","journeyId":null,"orgId":"11111111-1111-4111-8111-111111111111","reasonCodes":["ALLOWED"],"seq":1,"timerId":"22222222-2222-4222-8222-222222222222"}',
    );
  });

  it('entries missing a required field take the general path', () => {
    const e = { seq: 3, action: 'x', data: {}, createdAt: new Date(0) } as unknown as AuditEntryCore;
    expect(entryHash(GENESIS_HASH, e)).toBe(referenceHash(GENESIS_HASH, e));
  });
});
