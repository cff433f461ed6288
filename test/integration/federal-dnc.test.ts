/**
 * The National Do-Not-Call Registry on the real engine (FEDERAL_DNC=enforce), with the engine's
 * clock pinned to Tuesday 2026-12-08 12:00 in New York (17:00Z) and an org that does not require
 * consent for marketing (so the registry is what decides):
 *
 * - a generated full list of 1,000,000 numbers for area code 212, streamed in; its speed printed
 * - marketing to a listed number refused (FEDERAL_DNC) at creation, at fire time, in a campaign;
 *   informational and express-written-consent exempt; every decision keeps the copy it used
 * - change lists (adds, deletes, last record wins), a full list replacing the area code
 * - refused files leave the registry as it was; older copies and change lists without a full
 *   list are refused; the CLI
 * - no copy / a copy older than 31 days: marketing stops (DNC_DATA_STALE) and /readyz warns
 */
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgPoolOf } from '../../src/adapters/db/client.ts';
import { sqlPool } from '../../src/adapters/db/sql.ts';
import { loadContactStates } from '../../src/app/campaigns/bulk-state.ts';
import { importFederalDnc, type DncImportInput } from '../../src/app/federal-dnc.ts';
import { loadOrgSettings } from '../../src/app/org-settings.ts';
import { loadBatchStates } from '../../src/app/timers/batch-state.ts';
import { loadContactState } from '../../src/app/timers/context.ts';
import { offsetTo, startEngine, until, type TestEngine } from '../helpers/engine.ts';

const NOON_NY = '2026-12-08T17:00:00Z';
const DAY = 86_400_000;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

let e: TestEngine;
let dir: string;
let fullCopyId: string;

const inMs = (ms: number) => new Date(e.clock.now() + ms).toISOString();
const marketing = (phone: string, over: Record<string, unknown> = {}) => ({ contact: { phone, zip: '10001' }, channel: 'sms', policy: 'cancel', purpose: 'marketing', message: { body: 'Winter sale' }, at: inMs(3600_000), ...over });
const codes = (t: { reasons: Array<{ code: string }> }) => t.reasons.map((r) => r.code);
const count = async (sql: string) => Number(((await e.rt.prisma.$queryRawUnsafe(sql)) as Array<{ n: bigint }>)[0]!.n);
const pool = () => pgPoolOf(e.rt.prisma)!;
const dnc = (input: Omit<DncImportInput, 'source'> & { lines: string[] }) =>
  importFederalDnc(pool(), { kind: input.kind, asOf: input.asOf, ...(input.areaCodes ? { areaCodes: input.areaCodes } : {}), source: Readable.from([`${input.lines.join('\n')}\n`]) }, e.clock.now());

/** 212-200-0000 + i: the generated full list holds i in [0, 1,000,000). */
const n212 = (i: number) => `+1${2122000000 + i}`;
const LISTED = n212(123);
const UNLISTED = '+12129990000';

beforeAll(async () => {
  e = await startEngine({ clockOffsetMs: offsetTo(NOON_NY), env: { FEDERAL_DNC: 'enforce' }, parts: ['pump', 'dispatcher', 'reconciler', 'planner'] });
  expect((await e.api('PATCH', '/v1/org/settings', { requireConsentForMarketing: false })).status).toBe(200);
  dir = await mkdtemp(path.join(tmpdir(), 'tcpa-dnc-'));
}, 60_000);
afterAll(async () => {
  await e?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('no copy of the registry', () => {
  it('refuses marketing (DNC_DATA_STALE), lets informational go, and /readyz warns', async () => {
    const m = await e.api('POST', '/v1/timers', marketing(UNLISTED));
    expect(m.body).toMatchObject({ status: 'cancelled', federalDnc: { copyId: null, outcome: 'no_copy', listed: false } });
    expect(codes(m.body)).toEqual(['DNC_DATA_STALE']);
    const info = await e.api('POST', '/v1/timers', marketing(UNLISTED, { purpose: 'informational' }));
    expect(info.body).toMatchObject({ status: 'scheduled', federalDnc: { outcome: 'exempt_informational' } });
    const ready = await fetch(`${e.url}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { warnings: Array<{ message: string }> };
    expect(body).toMatchObject({ ok: true, checks: { postgres: 'ok', redis: 'ok', federalDnc: 'empty' }, warnings: [{ code: 'DNC_DATA_STALE' }] });
  });
});

describe('a full list of 1,000,000 numbers', () => {
  it('is streamed in, and marketing to a listed number is refused with the copy recorded', async () => {
    const file = path.join(dir, 'dnc-212-full.txt');
    // The registry's "area code, number" form for half the lines, 10 digits for the other half.
    await pipeline(
      Readable.from((function* () {
        for (let i = 0; i < 1_000_000; i += 10_000) {
          let block = '';
          for (let k = i; k < i + 10_000; k++) block += k % 2 ? `212,${2000000 + k}\n` : `${2122000000 + k}\n`;
          yield block;
        }
      })()),
      createWriteStream(file),
    );
    const asOf = e.clock.now() - 2 * DAY;
    const started = performance.now();
    const r = await importFederalDnc(pool(), { kind: 'full', asOf, source: createReadStream(file) }, e.clock.now());
    const seconds = (performance.now() - started) / 1000;
    console.log(`DNC import: 1,000,000 numbers (full list, one area code) in ${seconds.toFixed(1)} s = ${Math.round(1_000_000 / seconds).toLocaleString('en-US')} numbers/s`);
    expect(r).toMatchObject({ kind: 'full', areaCodes: [212], records: 1_000_000, added: 1_000_000, deleted: 0 });
    fullCopyId = r.copyId;
    expect(await count('SELECT count(*) AS n FROM federal_dnc_numbers')).toBe(1_000_000);
    expect(await e.rt.prisma.federalDncAreaCode.findUnique({ where: { areaCode: 212 } })).toMatchObject({ copyId: r.copyId, asOf: new Date(asOf) });

    const listed = await e.api('POST', '/v1/timers', marketing(LISTED));
    expect(listed.status).toBe(201);
    expect(listed.body).toMatchObject({ status: 'cancelled', decision: 'cancel', federalDnc: { copyId: r.copyId, listed: true, outcome: 'listed' } });
    expect(codes(listed.body)).toEqual(['FEDERAL_DNC']);
    expect(listed.body.reasons[0].citation).toContain('47 CFR 64.1200(c)(2)');
    // The audit entry of the decision names the copy too (linked into the chain first: the creation stages it).
    await e.rt.ctx.audit.link(e.orgId);
    const created = await e.rt.prisma.auditEntry.findFirst({ where: { timerId: listed.body.id, action: 'timer.created' } });
    expect(created?.reasonCodes).toEqual(['FEDERAL_DNC']);
    expect((created!.data as { decision: { federalDnc: unknown } }).decision.federalDnc).toEqual(listed.body.federalDnc);

    const last = await e.api('POST', '/v1/timers', marketing(n212(999_999)));
    expect(codes(last.body)).toEqual(['FEDERAL_DNC']);
    const unlisted = await e.api('POST', '/v1/timers', marketing(UNLISTED));
    expect(unlisted.body).toMatchObject({ status: 'scheduled', federalDnc: { copyId: r.copyId, listed: false, outcome: 'not_listed' } });
    // Another area code has no copy.
    const other = await e.api('POST', '/v1/timers', marketing('+16465550100'));
    expect(codes(other.body)).toEqual(['DNC_DATA_STALE']);
    // Exempt: informational, and express written consent for marketing by SMS.
    const info = await e.api('POST', '/v1/timers', marketing(LISTED, { purpose: 'informational' }));
    expect(info.body).toMatchObject({ status: 'scheduled', federalDnc: { listed: true, outcome: 'exempt_informational' } });
    const consent = await e.api('POST', `/v1/contacts/${listed.body.contactId}/consents`, { type: 'express_written', channel: 'sms', purpose: 'marketing', source: 'web form', capturedAt: inMs(-300 * DAY) });
    expect(consent.status).toBe(201);
    const consented = await e.api('POST', '/v1/timers', marketing(LISTED));
    expect(consented.body).toMatchObject({ status: 'scheduled', federalDnc: { listed: true, outcome: 'exempt_consent' } });
    // …but not for calls: the consent is for texts.
    const call = await e.api('POST', '/v1/timers', marketing(LISTED, { channel: 'voice', message: undefined, voice: { twiml: '<Response><Say>Sale</Say></Response>' } }));
    expect(codes(call.body)).toEqual(['FEDERAL_DNC']);

    const ready = (await (await fetch(`${e.url}/readyz`)).json()) as { warnings?: unknown };
    expect(ready).toMatchObject({ checks: { federalDnc: 'ok' }, federalDnc: { status: 'ok', areaCodes: 1, staleAreaCodes: [] } });
    expect(ready.warnings).toBeUndefined();
  }, 180_000);

  it('gives the same registry state through the one-contact, the batch and the campaign loaders', async () => {
    const now = e.clock.now();
    const settings = await loadOrgSettings(e.rt.prisma, e.orgId, now + 10_000);
    const contacts = await e.rt.prisma.contact.findMany({ where: { orgId: e.orgId, phoneE164: { in: [LISTED, UNLISTED, '+16465550100'] } } });
    expect(contacts).toHaveLength(3);
    const keys = contacts.map((c) => ({ orgId: e.orgId, contactId: c.id, phoneE164: c.phoneE164, journeyId: null }));
    const batch = await loadBatchStates(sqlPool(pool()), keys, new Map([[e.orgId, settings]]), now, 'enforce');
    const bulk = await loadContactStates(e.rt.prisma, e.orgId, contacts.map((c) => ({ contactId: c.id, phoneE164: c.phoneE164 })), settings, now, 'enforce');
    for (const [k, key] of keys.entries()) {
      const one = await loadContactState(e.rt.prisma, key, settings, now, 'enforce');
      expect(one.federalDnc).toBeDefined();
      expect(batch.of(key).federalDnc).toEqual(one.federalDnc);
      expect(bulk[k]!.state.federalDnc).toEqual(one.federalDnc);
      expect(bulk[k]!.state.consent?.records).toEqual(one.consent?.records);
    }
    const listed = await loadContactState(e.rt.prisma, keys[contacts.findIndex((c) => c.phoneE164 === LISTED)]!, settings, now, 'enforce');
    expect(listed.federalDnc).toEqual({ copy: { id: fullCopyId, asOf: expect.any(Number) }, listedSince: Date.parse(new Date(listed.federalDnc!.copy!.asOf).toISOString().slice(0, 10)) });
    expect((await loadContactState(e.rt.prisma, keys[0]!, settings, now, 'off')).federalDnc).toBeUndefined();
  });

  it('refuses a bad file at its line and keeps the registry as it was; refuses older copies and change lists without a full list', async () => {
    const before = await count('SELECT count(*) AS n FROM federal_dnc_numbers');
    const copies = await count('SELECT count(*) AS n FROM federal_dnc_copies');
    await expect(dnc({ kind: 'full', asOf: e.clock.now(), lines: ['2125550100', '2125550101', '212555010'] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^line 3: /) });
    await expect(dnc({ kind: 'full', asOf: e.clock.now() - 10 * DAY, lines: ['2125550100'] })).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('a newer copy is in force for area codes 212') });
    await expect(dnc({ kind: 'changes', asOf: e.clock.now(), lines: ['3125550100,A'] })).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('import the full list first for area codes 312') });
    await expect(dnc({ kind: 'full', asOf: e.clock.now(), areaCodes: [646], lines: ['2125550100'] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('212') });
    await expect(dnc({ kind: 'full', asOf: e.clock.now() + DAY, lines: ['2125550100'] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('future') });
    expect(await count('SELECT count(*) AS n FROM federal_dnc_numbers')).toBe(before);
    expect(await count('SELECT count(*) AS n FROM federal_dnc_copies')).toBe(copies);
    expect((await e.rt.prisma.federalDncAreaCode.findUnique({ where: { areaCode: 212 } }))?.copyId).toBe(fullCopyId);
  });
});

describe('change lists and fire time', () => {
  it('adds and deletes numbers (the last record of a number wins), and a timer to a number listed since it was created is cancelled when it fires', async () => {
    // Created while not listed, due in 4 s: it fires after the change list below lists it.
    const target = '+12129990001';
    const due = await e.api('POST', '/v1/timers', marketing(target, { at: inMs(4_000) }));
    expect(due.body).toMatchObject({ status: 'scheduled', decision: 'send', federalDnc: { outcome: 'not_listed' } });

    const asOf = e.clock.now() - DAY;
    const r = await dnc({ kind: 'changes', asOf, lines: ['AreaCode,Number,Change', `212,${2000123},D`, '2129990001,A', '2129990002,2026-12-06,A', '2129990002,D', '2129990003,D', '2129990003,A'] });
    expect(r).toMatchObject({ kind: 'changes', areaCodes: [212], records: 6, added: 2, deleted: 1 });
    expect(await count('SELECT count(*) AS n FROM federal_dnc_numbers')).toBe(1_000_001);
    expect(codes((await e.api('POST', '/v1/timers', marketing('+12129990003'))).body)).toEqual(['FEDERAL_DNC']);
    expect((await e.api('POST', '/v1/timers', marketing('+12129990002'))).body.federalDnc).toMatchObject({ copyId: r.copyId, outcome: 'not_listed' });
    // Deleted from the registry: the consent is not needed any more — a voice call goes.
    const call = await e.api('POST', '/v1/timers', marketing(LISTED, { channel: 'voice', message: undefined, voice: { twiml: '<Response><Say>Sale</Say></Response>' } }));
    expect(call.body).toMatchObject({ status: 'scheduled', federalDnc: { copyId: r.copyId, listed: false } });

    const fired = await until(async () => {
      const t = (await e.api('GET', `/v1/timers/${due.body.id}`)).body;
      return t.status === 'cancelled' ? t : null;
    }, 30_000, 200);
    expect(codes(fired)).toEqual(['FEDERAL_DNC']);
    expect(fired.federalDnc).toEqual({ copyId: r.copyId, asOf: new Date(asOf).toISOString().replace('.000Z', 'Z'), listed: true, outcome: 'listed' });
    expect(e.emulator.emulator.messages().filter((m) => m.params['To'] === target)).toHaveLength(0);
    await e.rt.ctx.audit.link(e.orgId);
    const cancelled = await e.rt.prisma.auditEntry.findFirst({ where: { timerId: due.body.id, action: 'timer.cancelled' } });
    expect(cancelled?.data).toMatchObject({ decision: { phase: 'fire', federalDnc: { copyId: r.copyId, outcome: 'listed' } } });
  }, 60_000);

  it('a campaign refuses its listed rows and plans the others', async () => {
    const contacts = [{ phone: '+12129990003', zip: '10001' }, { phone: '+12129990004', zip: '10001' }, { phone: n212(5), zip: '10001' }];
    const created = await e.api('POST', '/v1/campaigns', { name: 'dnc', channel: 'sms', purpose: 'marketing', policy: 'next_slot', message: { body: 'Sale' }, sendAt: '2026-12-09T10:00', audience: { contacts } });
    expect(created.status).toBe(201);
    const planned = await until(async () => {
      const c = (await e.api('GET', `/v1/campaigns/${created.body.id}`)).body;
      return c.status === 'planned' ? c : null;
    }, 60_000, 200);
    expect(planned.stats.statuses).toEqual({ scheduled: 1, cancelled: 2 });
    const timers = await e.rt.prisma.timer.findMany({ where: { campaignId: created.body.id }, include: { contact: true }, orderBy: { campaignRow: 'asc' } });
    expect(timers.map((t) => [t.contact.phoneE164, t.status, (t.decision as { reasons: Array<{ code: string }> }).reasons[0]?.code, (t.decision as { federalDnc?: { outcome: string } }).federalDnc?.outcome])).toEqual([
      ['+12129990003', 'cancelled', 'FEDERAL_DNC', 'listed'],
      ['+12129990004', 'scheduled', 'ALLOWED', 'not_listed'],
      [n212(5), 'cancelled', 'FEDERAL_DNC', 'listed'],
    ]);
  }, 90_000);

  it('a full list replaces the area code: numbers it no longer lists go, the others keep their listing date', async () => {
    const before = await e.rt.prisma.federalDncNumber.findUnique({ where: { number: 2122000005n } });
    const r = await dnc({ kind: 'full', asOf: e.clock.now() - DAY / 2, lines: ['2122000005', '2122000006', '2125550177'] });
    expect(r).toMatchObject({ added: 1, deleted: 1_000_001 - 2 });
    expect(await count('SELECT count(*) AS n FROM federal_dnc_numbers')).toBe(3);
    expect((await e.rt.prisma.federalDncNumber.findUnique({ where: { number: 2122000005n } }))?.listedSince).toEqual(before!.listedSince);
    expect(codes((await e.api('POST', '/v1/timers', marketing('+12129990003'))).body)).toEqual(['ALLOWED']);
  });
});

describe('the CLI', () => {
  it('imports a file and reports the status, as JSON; bad input exits 2 with a code and no number echoed', async () => {
    const file = path.join(dir, 'dnc-646.txt');
    await writeFile(file, '646,5550100\n6465550101\n');
    const env = { ...process.env, DATABASE_URL: e.env['DATABASE_URL'], TZ: 'UTC' };
    // The CLI runs on the real clock (a day before the engine's): the file is of today.
    const asOf = new Date().toISOString().slice(0, 10);
    const { stdout } = await run(process.execPath, [path.join(ROOT, 'bin/tcpa.mjs'), 'dnc', 'import', file, '--kind', 'full', '--as-of', asOf], { env });
    expect(JSON.parse(stdout)).toMatchObject({ kind: 'full', areaCodes: [646], records: 2, added: 2, deleted: 0, asOf: `${asOf}T00:00:00Z` });
    const status = JSON.parse((await run(process.execPath, [path.join(ROOT, 'bin/tcpa.mjs'), 'dnc', 'status'], { env })).stdout);
    expect(status).toMatchObject({ areaCodes: 2 });
    expect(status.latestImports).toContainEqual(expect.objectContaining({ kind: 'full', areaCodes: [646], added: 2, deleted: 0 }));

    await writeFile(file, '6465550101\n646555010x\n');
    const bad = await run(process.execPath, [path.join(ROOT, 'bin/tcpa.mjs'), 'dnc', 'import', file, '--kind', 'full', '--as-of', asOf], { env }).then(
      () => null,
      (err: { code: number; stdout: string }) => err,
    );
    expect(bad?.code).toBe(2);
    expect(JSON.parse(bad!.stdout)).toEqual({ error: { code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^line 2: not a telephone number/) } });
    expect(bad!.stdout).not.toContain('5550101');
  }, 60_000);
});

describe('a copy older than 31 days', () => {
  it('stops marketing (DNC_DATA_STALE) and /readyz warns with the area codes', async () => {
    const copy = await e.rt.prisma.federalDncAreaCode.findUnique({ where: { areaCode: 212 } });
    e.clock.offset += copy!.asOf.getTime() + 31 * DAY + 60_000 - e.clock.now();
    const stale = await e.api('POST', '/v1/timers', marketing(UNLISTED));
    expect(stale.body).toMatchObject({ status: 'cancelled', federalDnc: { copyId: copy!.copyId, outcome: 'stale' } });
    expect(codes(stale.body)).toEqual(['DNC_DATA_STALE']);
    const info = await e.api('POST', '/v1/timers', marketing(UNLISTED, { purpose: 'informational', policy: 'next_slot' }));
    expect(info.body).toMatchObject({ status: 'scheduled', federalDnc: { outcome: 'exempt_informational' } });
    const ready = await fetch(`${e.url}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { warnings: Array<{ message: string }> };
    expect(body).toMatchObject({ ok: true, checks: { federalDnc: 'stale' }, federalDnc: { status: 'stale', staleAreaCodes: [646, 212] }, warnings: [{ code: 'DNC_DATA_STALE' }] });
    expect(body.warnings[0]!.message).toContain('212');
  });
});
