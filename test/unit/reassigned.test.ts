/**
 * The Reassigned Numbers Database rule (src/domain/reassigned.ts) as judgeTimer applies it, and
 * the local-file adapter (src/adapters/rnd/file-rnd.ts). Every instant is pinned.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCalendarSet } from '../../src/adapters/calendars/fs-loader.ts';
import { FileRnd } from '../../src/adapters/rnd/file-rnd.ts';
import { decisionRecord } from '../../src/app/timers/records.ts';
import { resolveLocation } from '../../src/domain/location/resolve.ts';
import { rndSince, type ReassignedState } from '../../src/domain/reassigned.ts';
import { judgeTimer, type ConsentRecord, type ContactState } from '../../src/domain/timer-rules.ts';

const set = loadCalendarSet();
const T = (iso: string) => Date.parse(iso);
const NOW = T('2026-12-08T17:00:00Z');
const ewc = (capturedAt: string, extra: Partial<ConsentRecord> = {}): ConsentRecord => ({ type: 'express_written', channel: 'sms', purpose: 'marketing', capturedAt: T(capturedAt), revokedAt: null, ...extra });
const input = { location: resolveLocation({ zip: '10001', phone: '+12125550123' }), channel: 'sms' as const, purpose: 'marketing' as const, at: NOW, now: NOW, policy: 'cancel' as const };
const state = (reassigned: ReassignedState): ContactState => ({ suppressions: [], journey: null, consent: { requiredForMarketing: true, records: [ewc('2024-03-01T12:00:00Z')] }, reassigned });

describe('the Reassigned Numbers Database rule', () => {
  it('asks about the latest consent in force for marketing on the channel; nothing for informational or without consent', () => {
    const records = [ewc('2023-01-01T00:00:00Z'), ewc('2024-03-01T12:00:00Z'), ewc('2025-01-01T00:00:00Z', { revokedAt: T('2025-02-01T00:00:00Z') }), ewc('2026-01-01T00:00:00Z', { channel: 'voice' }), ewc('2027-01-01T00:00:00Z')];
    expect(rndSince(records, 'sms', 'marketing', NOW)).toBe(T('2024-03-01T12:00:00Z'));
    expect(rndSince(records, 'voice', 'marketing', NOW)).toBe(T('2026-01-01T00:00:00Z'));
    expect(rndSince(records, 'sms', 'informational', NOW)).toBeNull();
    expect(rndSince([], 'sms', 'marketing', NOW)).toBeNull();
  });

  it('yes: suppressed (REASSIGNED_NUMBER, cited), the check recorded without a safe harbor', () => {
    const v = judgeTimer(set, input, state({ since: T('2024-03-01T00:00:00Z'), answer: 'yes', checkedAt: NOW, cached: false }), 'fire');
    expect(v).toMatchObject({ kind: 'suppress', reasons: [{ code: 'REASSIGNED_NUMBER', citation: '47 CFR 64.1200(l)-(m)' }] });
    expect(decisionRecord(v, set.version, [], 'fire', NOW).reassigned).toEqual({ since: '2024-03-01T00:00:00Z', answer: 'yes', checkedAt: '2026-12-08T17:00:00Z', cached: false, safeHarbor: false });
  });

  it('no: sent, with the safe harbor recorded; no_data: sent, without it', () => {
    const no = judgeTimer(set, input, state({ since: T('2024-03-01T00:00:00Z'), answer: 'no', checkedAt: NOW - 3600_000, cached: true }), 'fire');
    expect(no.kind).toBe('send');
    expect(decisionRecord(no, set.version, [], 'fire', NOW).reassigned).toMatchObject({ answer: 'no', cached: true, safeHarbor: true });
    const none = judgeTimer(set, input, state({ since: T('2020-03-01T00:00:00Z'), answer: 'no_data', checkedAt: NOW, cached: false }), 'fire');
    expect(none.kind).toBe('send');
    expect(none.reassigned).toMatchObject({ answer: 'no_data', safeHarbor: false });
  });
});

describe('FileRnd', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rnd-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('answers yes for a disconnect on or after the date (the latest line counts), no before it, no_data before 2021-01-27', async () => {
    const file = path.join(dir, 'rnd.csv');
    await writeFile(file, 'number,disconnected\n2125550100,2024-06-01\n+12125550101,2022-01-01\n2125550101,2025-05-05\n\n');
    const rnd = new FileRnd(file);
    const q = (phoneE164: string, since: string) => ({ phoneE164, since: T(since) });
    expect(
      await rnd.check([
        q('+12125550100', '2024-03-01T12:00:00Z'),
        q('+12125550100', '2024-06-01T23:00:00Z'),
        q('+12125550100', '2024-06-02T00:00:00Z'),
        q('+12125550101', '2024-01-01T00:00:00Z'),
        q('+12125550199', '2024-01-01T00:00:00Z'),
        q('+12125550100', '2021-01-26T00:00:00Z'),
      ]),
    ).toEqual(['yes', 'yes', 'no', 'yes', 'no', 'no_data']);
  });

  it('refuses a malformed file with its line number', async () => {
    const file = path.join(dir, 'bad.csv');
    await writeFile(file, '2125550100,2024-06-01\n2125550100\n');
    expect(() => new FileRnd(file)).toThrow(/line 2: expected "number,YYYY-MM-DD"/);
  });
});
