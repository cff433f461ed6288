/**
 * The National Do-Not-Call Registry rule (src/domain/federal-dnc.ts) as judgeTimer applies it,
 * the decision record that keeps the copy used, and the registry file's lines
 * (src/adapters/dnc/ftc-file.ts). Every instant is pinned.
 */
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { loadCalendarSet } from '../../src/adapters/calendars/fs-loader.ts';
import { DncFileTransform, parseDncLine } from '../../src/adapters/dnc/ftc-file.ts';
import { decisionRecord } from '../../src/app/timers/records.ts';
import type { DecideInput } from '../../src/domain/decide.ts';
import { checkFederalDnc, DNC_MAX_AGE_MS, nanpNumber, type FederalDncState } from '../../src/domain/federal-dnc.ts';
import { resolveLocation } from '../../src/domain/location/resolve.ts';
import { judgeTimer, type ConsentRecord, type ContactState } from '../../src/domain/timer-rules.ts';

const set = loadCalendarSet();
const T = (iso: string) => Date.parse(iso);
// Tuesday 2026-12-08 17:00Z = 12:00 in New York: the calendars allow it.
const NOW = T('2026-12-08T17:00:00Z');
const COPY = { id: '0b6f0a8e-6a55-4f7e-9d1e-000000000001', asOf: T('2026-12-01T00:00:00Z') };
const LISTED: FederalDncState = { copy: COPY, listedSince: T('2026-06-01T00:00:00Z') };
const NOT_LISTED: FederalDncState = { copy: COPY, listedSince: null };

const ewc = (capturedAt: string, extra: Partial<ConsentRecord> = {}): ConsentRecord => ({ type: 'express_written', channel: 'sms', purpose: 'marketing', capturedAt: T(capturedAt), revokedAt: null, ...extra });

function input(purpose: DecideInput['purpose'] = 'marketing'): DecideInput {
  return { location: resolveLocation({ zip: '10001', phone: '+12125550123' }), channel: 'sms', purpose, at: NOW, now: NOW, policy: 'cancel' };
}

function state(federalDnc: FederalDncState | undefined, records: ConsentRecord[] = []): ContactState {
  return { suppressions: [], journey: null, consent: { requiredForMarketing: false, records }, ...(federalDnc ? { federalDnc } : {}) };
}

describe('the registry rule', () => {
  it('refuses marketing to a listed number, citing the rules, and records the copy', () => {
    const v = judgeTimer(set, input(), state(LISTED), 'create');
    expect(v.kind).toBe('cancel');
    if (v.kind !== 'cancel') return;
    expect(v.reasons.map((r) => r.code)).toEqual(['FEDERAL_DNC']);
    expect(v.reasons[0]!.citation).toContain('47 CFR 64.1200(c)(2)');
    expect(v.reasons[0]!.citation).toContain('16 CFR 310.4(b)(1)(iii)(B)');
    expect(v.reasons[0]!.message).not.toMatch(/555/);
    expect(v.federalDnc).toEqual({ copyId: COPY.id, asOf: '2026-12-01T00:00:00Z', listed: true, outcome: 'listed' });
    expect(decisionRecord(v, set.version, [], 'create', NOW).federalDnc).toEqual(v.federalDnc);
  });

  it('lets informational timers to a listed number go (only solicitations are covered)', () => {
    const v = judgeTimer(set, input('informational'), state(LISTED), 'create');
    expect(v.kind).toBe('send');
    expect(v.federalDnc).toMatchObject({ copyId: COPY.id, listed: true, outcome: 'exempt_informational' });
  });

  it('sends marketing to a number that is not listed, recording the copy it checked', () => {
    const v = judgeTimer(set, input(), state(NOT_LISTED), 'create');
    expect(v.kind).toBe('send');
    expect(v.federalDnc).toEqual({ copyId: COPY.id, asOf: '2026-12-01T00:00:00Z', listed: false, outcome: 'not_listed' });
    expect(decisionRecord(v, set.version, [], 'create', NOW)).toMatchObject({ decision: 'send', federalDnc: { copyId: COPY.id, outcome: 'not_listed' } });
  });

  it('exempts express written consent older than the listing, and (per 64.1200(c)(2)(ii)) one given after it', () => {
    const older = judgeTimer(set, input(), state(LISTED, [ewc('2026-01-10T00:00:00Z')]), 'create');
    expect(older.kind).toBe('send');
    expect(older.federalDnc?.outcome).toBe('exempt_consent');
    const later = checkFederalDnc(LISTED, [ewc('2026-07-01T00:00:00Z')], 'sms', 'marketing', NOW);
    expect(later.block).toBeNull();
    expect(later.check.outcome).toBe('exempt_consent');
  });

  it('does not exempt consent that is revoked, for another channel or purpose, only express, or captured after the send', () => {
    const cases: ConsentRecord[][] = [
      [ewc('2026-01-10T00:00:00Z', { revokedAt: T('2026-12-01T00:00:00Z') })],
      [ewc('2026-01-10T00:00:00Z', { channel: 'voice' })],
      [ewc('2026-01-10T00:00:00Z', { purpose: 'informational' })],
      [ewc('2026-01-10T00:00:00Z', { type: 'express' })],
      [ewc('2026-12-09T00:00:00Z')],
    ];
    for (const records of cases) expect(checkFederalDnc(LISTED, records, 'sms', 'marketing', NOW).block?.code).toBe('FEDERAL_DNC');
  });

  it('stops marketing when the copy is older than 31 days (to the millisecond) or missing', () => {
    const at31 = { copy: { ...COPY, asOf: NOW - DNC_MAX_AGE_MS }, listedSince: null };
    expect(checkFederalDnc(at31, [], 'sms', 'marketing', NOW).block).toBeNull();
    const past = { copy: { ...COPY, asOf: NOW - DNC_MAX_AGE_MS - 1 }, listedSince: null };
    const stale = judgeTimer(set, input(), state(past), 'create');
    expect(stale).toMatchObject({ kind: 'cancel', reasons: [{ code: 'DNC_DATA_STALE' }], federalDnc: { copyId: COPY.id, outcome: 'stale' } });
    const none = judgeTimer(set, input(), state({ copy: null, listedSince: null }), 'fire');
    expect(none).toMatchObject({ kind: 'cancel', reasons: [{ code: 'DNC_DATA_STALE' }], federalDnc: { copyId: null, outcome: 'no_copy' } });
    // A stale copy does not stop informational sends, and consent does not make stale data fresh.
    expect(judgeTimer(set, input('informational'), state(past), 'create').kind).toBe('send');
    expect(checkFederalDnc(past, [ewc('2026-01-10T00:00:00Z')], 'sms', 'marketing', NOW).block?.code).toBe('DNC_DATA_STALE');
  });

  it('is not checked when the state has no registry (FEDERAL_DNC=off), and the contact state decides first', () => {
    const off = judgeTimer(set, input(), state(undefined), 'create');
    expect(off.kind).toBe('send');
    expect(off.federalDnc).toBeUndefined();
    const suppressed = judgeTimer(set, input(), { ...state(LISTED), suppressions: [{ channel: null, expiresAt: null, reason: 'asked' }] }, 'create');
    expect(suppressed.kind).toBe('suppress');
  });

  it('reads the 10-digit NANP number of an E.164 number', () => {
    expect(nanpNumber('+12125550123')).toBe(2125550123);
    expect(nanpNumber('+442071234567')).toBeNull();
    expect(nanpNumber('+11125550123')).toBeNull();
  });
});

describe('registry file lines', () => {
  it('reads the full list forms and the change list forms', () => {
    expect(parseDncLine('2025550123', 'full', 2)).toEqual({ number: 2025550123, op: 'A' });
    expect(parseDncLine(' 202,5550123\r', 'full', 2)).toEqual({ number: 2025550123, op: 'A' });
    expect(parseDncLine('"202","5550123"', 'full', 2)).toEqual({ number: 2025550123, op: 'A' });
    expect(parseDncLine('202,5550123,A', 'changes', 2)).toEqual({ number: 2025550123, op: 'A' });
    expect(parseDncLine('2025550123,2026-12-01,delete', 'changes', 2)).toEqual({ number: 2025550123, op: 'D' });
    expect(parseDncLine('', 'full', 5)).toBeNull();
    expect(parseDncLine('AreaCode,PhoneNumber', 'full', 1)).toBeNull();
  });

  it('refuses what is not a record, without echoing the line', () => {
    for (const [line, kind] of [
      ['AreaCode,PhoneNumber', 'full'],
      ['1025550123', 'full'],
      ['202555012', 'full'],
      ['2021550123', 'full'],
      ['2025550123,A', 'full'],
      ['2025550123', 'changes'],
      ['2025550123,A,D', 'changes'],
    ] as const) {
      const r = parseDncLine(line, kind, 2);
      expect(r, line).toHaveProperty('error');
      expect((r as { error: string }).error).not.toContain('555');
    }
  });

  it('streams a file into COPY rows across chunk boundaries, hashing and counting per area code', async () => {
    const text = 'AreaCode,Number\n202,5550123\r\n2125550124\n\n212555';
    const chunks = [text.slice(0, 7), text.slice(7, 20), text.slice(20), '0125\n'];
    const t = new DncFileTransform('full');
    const out = (await buffer(Readable.from(chunks.map((c) => Buffer.from(c))).pipe(t))).toString();
    expect(out).toBe('2\t2025550123\tA\n3\t2125550124\tA\n5\t2125550125\tA\n');
    expect(t.summary.records).toBe(3);
    expect([...t.summary.areaCodes]).toEqual([[202, 1], [212, 2]]);
    expect(t.summary.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('fails the stream at the first bad line, with its number', async () => {
    const t = new DncFileTransform('full');
    await expect(buffer(Readable.from([Buffer.from('2025550123\nnot a number\n')]).pipe(t))).rejects.toThrow(/line 2: not a telephone number/);
  });
});
