/**
 * Parallel verification: a chain cut into segments verified separately and joined gives exactly
 * the answer of one sequential pass — for intact chains and for every kind of damage, wherever
 * the cuts fall (on a break, just before or after it).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entryHash, GENESIS_HASH, joinSegments, verifyChain, verifySegment, type ChainEntry } from '../../src/domain/audit/chain.ts';

const ORG = '11111111-1111-4111-8111-111111111111';

function chain(n: number): ChainEntry[] {
  let prevHash = GENESIS_HASH;
  return Array.from({ length: n }, (_, i) => {
    const core = { orgId: ORG, seq: i + 1, action: 'timer.created', reasonCodes: ['ALLOWED'], data: { i }, createdAt: new Date(Date.UTC(2026, 11, 8) + i) };
    const hash = entryHash(prevHash, core);
    const e = { ...core, prevHash, hash };
    prevHash = hash;
    return e;
  });
}

type Damage = { kind: 'none' } | { kind: 'edit' | 'delete' | 'relink'; at: number } | { kind: 'swap'; at: number };

function damage(entries: ChainEntry[], d: Damage): ChainEntry[] {
  const out = entries.map((e) => ({ ...e }));
  if (d.kind === 'none' || out.length === 0) return out;
  const i = d.at % out.length;
  switch (d.kind) {
    case 'edit':
      out[i] = { ...out[i]!, data: { tampered: true } };
      return out;
    case 'delete':
      out.splice(i, 1);
      return out;
    case 'relink':
      out[i] = { ...out[i]!, prevHash: 'f'.repeat(64) };
      return out;
    case 'swap': {
      if (i + 1 >= out.length) return out;
      const a = out[i]!;
      const b = out[i + 1]!;
      // Their seq values swapped, then read back in seq order.
      out[i] = { ...b, seq: a.seq };
      out[i + 1] = { ...a, seq: b.seq };
      return out;
    }
  }
}

/** Cuts by seq value (as the verifier cuts [1, max] into ranges), empty ranges included. */
function segmentsOf(entries: ChainEntry[], cuts: number[]) {
  const max = Math.max(0, ...entries.map((e) => e.seq));
  const bounds = [...new Set(cuts.map((c) => c % (max + 1)))].sort((a, b) => a - b);
  const edges = [0, ...bounds, max];
  const segs = [];
  for (let k = 0; k + 1 < edges.length; k++) segs.push(verifySegment(entries.filter((e) => e.seq > edges[k]! && e.seq <= edges[k + 1]!)));
  return segs;
}

describe('joinSegments', () => {
  it('equals one sequential pass, whatever the damage and the cuts', () => {
    const damageArb: fc.Arbitrary<Damage> = fc.oneof(
      fc.constant({ kind: 'none' as const }),
      fc.record({ kind: fc.constantFrom('edit' as const, 'delete' as const, 'relink' as const, 'swap' as const), at: fc.nat(200) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 60 }), damageArb, fc.array(fc.nat(80), { maxLength: 6 }), (n, d, cuts) => {
        const entries = damage(chain(n), d);
        expect(joinSegments(segmentsOf(entries, cuts))).toEqual(verifyChain(entries));
      }),
      { numRuns: 1500 },
    );
  });

  it('a segment that starts on a hole reports the gap from the previous segment', () => {
    const entries = chain(10).filter((e) => e.seq !== 6);
    const segs = [verifySegment(entries.filter((e) => e.seq <= 5)), verifySegment(entries.filter((e) => e.seq > 5))];
    expect(joinSegments(segs)).toEqual({ ok: false, count: 5, brokenAtSeq: 6, problem: 'SEQ_GAP', expected: '6', found: '7' });
  });
});
