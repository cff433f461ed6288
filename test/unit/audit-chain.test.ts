import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, sha256 } from '../../src/domain/calendar/compile.ts';
import {
  ChainVerifier,
  entryHash,
  GENESIS_HASH,
  verifyChain,
  type AuditEntryCore,
  type ChainEntry,
} from '../../src/domain/audit/chain.ts';

const ORG = '11111111-1111-4111-8111-111111111111';
const T0 = Date.UTC(2026, 2, 1, 12, 0, 0, 123);

type Core = Omit<AuditEntryCore, 'seq' | 'orgId'>;

function buildChain(cores: readonly Core[], orgId = ORG): ChainEntry[] {
  let prevHash = GENESIS_HASH;
  return cores.map((c, i) => {
    const core: AuditEntryCore = { ...c, orgId, seq: i + 1 };
    const hash = entryHash(prevHash, core);
    const entry: ChainEntry = { ...core, prevHash, hash };
    prevHash = hash;
    return entry;
  });
}

function sampleCores(n: number): Core[] {
  return Array.from({ length: n }, (_, i) => ({
    action: i % 2 ? 'timer.fired' : 'decision.made',
    timerId: i % 3 ? `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` : null,
    decision: i % 2 ? null : 'ALLOW',
    reasonCodes: i % 2 ? [] : ['QUIET_HOURS_OK', `R${i}`],
    data: { i, nested: { b: [1, 2, i], a: 'x' } },
    createdAt: new Date(T0 + i * 1000),
  }));
}

function at<T>(xs: readonly T[], i: number): T {
  const x = xs[i];
  if (x === undefined) throw new Error(`no element ${i}`);
  return x;
}

describe('entryHash', () => {
  it('is sha256(prevHash + "\\n" + canonicalJson(core)) with absent values as null', () => {
    const createdAt = new Date(T0);
    const core: AuditEntryCore = { orgId: ORG, seq: 1, action: 'a', data: { z: 1, a: 2 }, createdAt };
    const expected = sha256(
      `${GENESIS_HASH}\n${canonicalJson({
        orgId: ORG,
        seq: 1,
        action: 'a',
        timerId: null,
        contactId: null,
        journeyId: null,
        campaignId: null,
        decision: null,
        reasonCodes: [],
        data: { a: 2, z: 1 },
        createdAt: createdAt.toISOString(),
      })}`,
    );
    expect(entryHash(GENESIS_HASH, core)).toBe(expected);
    expect(GENESIS_HASH).toMatch(/^0{64}$/);
  });

  it('hashes a Date and its ISO string the same, and is independent of data key order', () => {
    const a: AuditEntryCore = { orgId: ORG, seq: 1, action: 'a', data: { x: 1, y: 2 }, createdAt: new Date(T0) };
    const b: AuditEntryCore = { ...a, data: { y: 2, x: 1 }, createdAt: new Date(T0).toISOString() };
    expect(entryHash(GENESIS_HASH, a)).toBe(entryHash(GENESIS_HASH, b));
  });

  it('rejects an invalid createdAt', () => {
    expect(() => entryHash(GENESIS_HASH, { orgId: ORG, seq: 1, action: 'a', data: {}, createdAt: 'nope' })).toThrow(RangeError);
  });
});

describe('verifyChain', () => {
  const chain = buildChain(sampleCores(10));

  it('accepts a valid chain', () => {
    expect(verifyChain(chain)).toEqual({ ok: true, count: 10, lastHash: at(chain, 9).hash, lastSeq: 10 });
  });

  it('accepts an empty chain', () => {
    expect(verifyChain([])).toEqual({ ok: true, count: 0, lastHash: GENESIS_HASH, lastSeq: 0 });
  });

  it('verifies a suffix from a known (prevHash, seq)', () => {
    const r = verifyChain(chain.slice(4), at(chain, 3).hash, 5);
    expect(r).toEqual({ ok: true, count: 6, lastHash: at(chain, 9).hash, lastSeq: 10 });
    expect(verifyChain(chain.slice(4), GENESIS_HASH, 5)).toMatchObject({ ok: false, problem: 'PREV_HASH_MISMATCH', brokenAtSeq: 5 });
  });

  it.each([
    ['data', { data: { i: 4, nested: { b: [1, 2, 5], a: 'x' } } }],
    ['action', { action: 'something.else' }],
    ['createdAt', { createdAt: new Date(T0 + 4 * 1000 + 1) }],
    ['reasonCodes', { reasonCodes: ['QUIET_HOURS_OK'] }],
    ['decision', { decision: 'BLOCK' }],
    ['contactId', { contactId: '22222222-2222-4222-8222-222222222222' }],
    ['orgId', { orgId: '33333333-3333-4333-8333-333333333333' }],
  ])('detects an edited %s as HASH_MISMATCH at that seq', (_name, patch) => {
    const tampered = chain.map((e, i) => (i === 4 ? { ...e, ...patch } : e));
    const r = verifyChain(tampered);
    expect(r).toMatchObject({ ok: false, count: 4, brokenAtSeq: 5, problem: 'HASH_MISMATCH', found: at(chain, 4).hash });
  });

  it('detects an edited row whose hash was recomputed at the next link', () => {
    const edited = { ...at(chain, 4), action: 'forged' };
    const forged = { ...edited, hash: entryHash(edited.prevHash, edited) };
    const r = verifyChain(chain.map((e, i) => (i === 4 ? forged : e)));
    expect(r).toMatchObject({ ok: false, count: 5, brokenAtSeq: 6, problem: 'PREV_HASH_MISMATCH', expected: forged.hash, found: at(chain, 4).hash });
  });

  it('detects a deleted row as SEQ_GAP', () => {
    const r = verifyChain(chain.filter((_, i) => i !== 6));
    expect(r).toEqual({ ok: false, count: 6, brokenAtSeq: 7, problem: 'SEQ_GAP', expected: '7', found: '8' });
  });

  it('detects a deleted first row as SEQ_GAP at seq 1', () => {
    expect(verifyChain(chain.slice(1))).toMatchObject({ ok: false, count: 0, brokenAtSeq: 1, problem: 'SEQ_GAP' });
  });

  it('detects two swapped rows', () => {
    const swapped = [...chain];
    [swapped[3], swapped[4]] = [at(chain, 4), at(chain, 3)];
    expect(verifyChain(swapped)).toMatchObject({ ok: false, count: 3, brokenAtSeq: 4, problem: 'SEQ_GAP' });
  });

  it('detects two rows whose seq values were swapped (renumbered to look in order)', () => {
    const a = at(chain, 3);
    const b = at(chain, 4);
    const swapped = chain.map((e, i) => (i === 3 ? { ...b, seq: 4 } : i === 4 ? { ...a, seq: 5 } : e));
    const r = verifyChain(swapped);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.brokenAtSeq).toBe(4);
  });

  it('stops at the first break and ignores later entries', () => {
    const v = new ChainVerifier();
    expect(v.push(at(chain, 0))).toBe(true);
    expect(v.push(at(chain, 2))).toBe(false);
    expect(v.push(at(chain, 1))).toBe(false);
    expect(v.ok).toBe(false);
    expect(v.result()).toMatchObject({ ok: false, count: 1, brokenAtSeq: 2, problem: 'SEQ_GAP' });
  });

  it('streams a long chain with the same result as verifyChain', () => {
    const long = buildChain(sampleCores(2000));
    const v = new ChainVerifier();
    for (const e of long) v.push(e);
    expect(v.result()).toEqual(verifyChain(long));
    expect(v.result()).toMatchObject({ ok: true, count: 2000, lastSeq: 2000 });
  });
});

// ---- property: any single-field mutation of any entry is detected ----

const uuidArb = fc.uuid();
const jsonArb = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);
const coreArb: fc.Arbitrary<Core> = fc.record({
  action: fc.string({ minLength: 1, maxLength: 20 }),
  timerId: fc.option(uuidArb, { nil: null }),
  contactId: fc.option(uuidArb, { nil: null }),
  journeyId: fc.option(uuidArb, { nil: null }),
  campaignId: fc.option(uuidArb, { nil: null }),
  decision: fc.option(fc.constantFrom('ALLOW', 'BLOCK', 'DEFER'), { nil: null }),
  reasonCodes: fc.array(fc.string({ maxLength: 8 }), { maxLength: 4 }),
  data: jsonArb,
  createdAt: fc.integer({ min: 0, max: 4_102_444_800_000 }).map((ms) => new Date(ms)),
});

const FIELDS = [
  'orgId',
  'seq',
  'action',
  'timerId',
  'contactId',
  'journeyId',
  'campaignId',
  'decision',
  'reasonCodes',
  'data',
  'createdAt',
  'prevHash',
  'hash',
] as const;
type Field = (typeof FIELDS)[number];

/** A value for `field` that differs from the entry's (as hashed). */
function mutate(entry: ChainEntry, field: Field, salt: string): ChainEntry {
  switch (field) {
    case 'seq':
      return { ...entry, seq: entry.seq + 1 + (salt.length % 3) };
    case 'createdAt':
      return { ...entry, createdAt: new Date(new Date(entry.createdAt).getTime() + 1 + salt.length) };
    case 'reasonCodes':
      return { ...entry, reasonCodes: [...(entry.reasonCodes ?? []), salt] };
    case 'data':
      return { ...entry, data: { wrapped: entry.data === undefined ? null : entry.data, salt } };
    case 'prevHash':
    case 'hash': {
      const h = entry[field];
      return { ...entry, [field]: `${h.slice(0, -1)}${h.endsWith('0') ? '1' : '0'}` };
    }
    case 'orgId':
    case 'action':
      return { ...entry, [field]: `${entry[field]}~${salt}` };
    default: {
      const cur = entry[field];
      return { ...entry, [field]: cur == null ? `x${salt}` : cur === `x${salt}` ? null : `x${salt}` };
    }
  }
}

describe('property', () => {
  it('a random chain verifies, and any single-field mutation of any entry is detected', () => {
    fc.assert(
      fc.property(
        fc.array(coreArb, { minLength: 1, maxLength: 12 }),
        fc.nat(),
        fc.constantFrom(...FIELDS),
        fc.string({ maxLength: 5 }),
        (cores, pick, field, salt) => {
          const chain = buildChain(cores);
          expect(verifyChain(chain).ok).toBe(true);
          const idx = pick % chain.length;
          const tampered = chain.map((e, i) => (i === idx ? mutate(e, field, salt) : e));
          const r = verifyChain(tampered);
          expect(r.ok).toBe(false);
          if (!r.ok) {
            expect(r.count).toBe(idx);
            expect(r.brokenAtSeq).toBe(idx + 1);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('deleting any one entry (except the last) or swapping any two is detected', () => {
    fc.assert(
      fc.property(fc.array(coreArb, { minLength: 2, maxLength: 10 }), fc.nat(), fc.nat(), (cores, p, q) => {
        const chain = buildChain(cores);
        const i = p % (chain.length - 1);
        expect(verifyChain(chain.filter((_, k) => k !== i))).toMatchObject({ ok: false, problem: 'SEQ_GAP', brokenAtSeq: i + 1 });
        const j = q % chain.length;
        if (i !== j) {
          const swapped = [...chain];
          [swapped[i], swapped[j]] = [at(chain, j), at(chain, i)];
          expect(verifyChain(swapped)).toMatchObject({ ok: false, brokenAtSeq: Math.min(i, j) + 1 });
        }
      }),
      { numRuns: 300 },
    );
  });
});
