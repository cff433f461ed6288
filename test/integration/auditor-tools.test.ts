/**
 * The compliance auditor's tools on the real engine (Postgres, Redis, emulator; the clock pinned
 * to Tuesday 2026-12-08 12:00 New York): audit filters (each narrows, the phone look-up by hash),
 * the streamed export of a large log in bounded memory (CSV and JSON lines), the explanation of a
 * delivered and of a rescheduled timer, replay under a planted calendar change, the calendar
 * change impact (list, apply, audited), fast verification in parallel, and tampering detected —
 * and through all of it, an auditor never sees a message body or a full phone number.
 */
import { once } from 'node:events';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { parse } from 'csv-parse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/adapters/audit/audit-log.ts';
import { DEFAULT_CALENDAR_DIR } from '../../src/adapters/calendars/fs-loader.ts';
import { createApiKey } from '../../src/adapters/auth/api-keys.ts';
import { AuditQueries } from '../../src/app/audit-queries.ts';
import { loadCalendars, recordCalendarVersion } from '../../src/app/calendar-versions.ts';
import type { CalendarSet } from '../../src/domain/calendar/compile.ts';
import { insertChain } from '../helpers/audit-bulk.ts';
import { offsetTo, smsBody, startEngine, until, type ApiAnswer, type TestEngine } from '../helpers/engine.ts';

const NOON_NY = '2026-12-08T17:00:00Z';
const BODY = 'Your appointment is tomorrow';
const CAMPAIGN = '7e1c0c4e-5c55-4c55-8c55-000000000001';
const BULK = 100_000;

const PHONES = {
  ny: '+12125550201',
  tx: '+12145550202',
  fl: '+13055550203',
  journey: '+12125550204',
  txNext: '+12145550206',
  txCancel: '+12145550207',
};

let e: TestEngine;
let auditor: string;
let ops: string;
/** Every answer an auditor (or ops) got, to check for bodies and numbers at the end. */
const seenByAuditor: string[] = [];
const ids = {} as Record<keyof typeof PHONES, string>;
let contactTx: string;
let journeyId: string;
let loadedVersion: string;
let planted: CalendarSet;
let plantedDir: string;
let bulkOrg: string;
let bulkAuditor: string;

async function call(key: string, method: string, path: string, body?: unknown): Promise<ApiAnswer & { text: string }> {
  const res = await fetch(`${e.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (key === auditor || key === ops || key === bulkAuditor) seenByAuditor.push(text);
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, headers: res.headers, text };
}
const asAuditor = (path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST') => call(auditor, method, path, body);
type Entry = { seq: number; action: string; timerId: string | null; contactId: string | null; journeyId: string | null; campaignId: string | null; decision: string | null; reasonCodes: string[]; data: any; at: string }; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Every entry matching `query`, following nextCursor (pages of `limit`). */
async function all(query: string, limit = 1000): Promise<Entry[]> {
  const out: Entry[] = [];
  let cursor: string | null = null;
  do {
    const a = await asAuditor(`/v1/audit?limit=${limit}${query ? `&${query}` : ''}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(a.status, a.text).toBe(200);
    out.push(...(a.body.items as Entry[]));
    cursor = a.body.nextCursor;
  } while (cursor);
  return out;
}

async function create(phone: string, { zip = '10001', ...over }: Record<string, unknown>): Promise<string> {
  const a = await e.api('POST', '/v1/timers', smsBody({ contact: { phone, zip }, message: { body: BODY }, ...over }));
  expect(a.status, JSON.stringify(a.body)).toBe(201);
  return a.body.id as string;
}

/** A copy of calendars/ in which Texas' hours also bind informational messages, 12:00–20:00 on weekdays and Saturday. */
function plantTexasChange(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tcpa-cal-'));
  cpSync(DEFAULT_CALENDAR_DIR, dir, { recursive: true });
  const file = join(dir, 'TX.json');
  const tx = JSON.parse(readFileSync(file, 'utf8')) as { rules: Array<{ id: string; purposes: string[]; weekly: Record<string, string[][]> }> };
  const hours = tx.rules.find((r) => r.id === 'TX.hours')!;
  hours.purposes = ['marketing', 'informational'];
  for (const d of ['mon', 'tue', 'wed', 'thu', 'fri', 'sat']) hours.weekly[d] = [['12:00', '20:00']];
  writeFileSync(file, JSON.stringify(tx, null, 2));
  return dir;
}

beforeAll(async () => {
  e = await startEngine({ env: { HORIZON: '3s' }, clockOffsetMs: offsetTo(NOON_NY) });
  auditor = (await createApiKey(e.rt.prisma, { orgId: e.orgId, role: 'auditor', name: 'auditor' })).key;
  ops = (await createApiKey(e.rt.prisma, { orgId: e.orgId, role: 'ops', name: 'ops' })).key;

  ids.ny = await create(PHONES.ny, { at: new Date(e.clock.now()).toISOString() }); // 12:00 NY: sent at once
  ids.tx = await create(PHONES.tx, { zip: '75201', at: '2026-12-09T03:00:00Z' }); // 21:00 CST: moved to 08:00 CST
  ids.fl = await create(PHONES.fl, { at: '2026-12-08T22:00:00Z' }); // NY zip, Florida area code
  const journey = await e.api('POST', '/v1/journeys', { contact: { phone: PHONES.journey, zip: '10001' } });
  expect(journey.status).toBe(201);
  journeyId = journey.body.id;
  ids.journey = await create(PHONES.journey, { at: '2026-12-09T15:00:00Z', journeyId });
  ids.txNext = await create(PHONES.txNext, { zip: '75201', at: '2026-12-09T16:00:00Z' }); // 10:00 CST Wednesday
  ids.txCancel = await create(PHONES.txCancel, { zip: '75201', at: '2026-12-09T16:00:00Z', policy: 'cancel' });
  contactTx = (await e.api('GET', `/v1/timers/${ids.tx}`)).body.contactId;
  // A campaign entry whose provider text quotes a full number (masked for auditors).
  await e.rt.ctx.audit.append(e.orgId, [{ action: 'campaign.provider_note', createdAt: new Date(e.clock.now()), campaignId: CAMPAIGN, data: { note: "The 'To' number +15005550001 is not a valid phone number" } }]);
  loadedVersion = e.rt.ctx.calendars().version;
  await until(async () => (await e.api('GET', `/v1/timers/${ids.ny}`)).body.status === 'delivered', 20_000);
}, 90_000);

afterAll(async () => {
  await e?.stop();
  if (plantedDir) rmSync(plantedDir, { recursive: true, force: true });
});

describe('GET /v1/audit filters', () => {
  it('each filter narrows the log to what it names', async () => {
    const everything = await all('');
    expect(everything.length).toBeGreaterThanOrEqual(11);
    expect(everything.map((x) => x.seq)).toEqual([...everything.map((x) => x.seq)].sort((a, b) => a - b));

    const byTimer = await all(`timerId=${ids.ny}`);
    expect(byTimer.map((x) => x.action)).toEqual(['timer.created', 'timer.claimed', 'timer.sent', 'timer.delivered']);

    const byContact = await all(`contactId=${contactTx}`);
    expect(byContact.length).toBeGreaterThan(0);
    expect(byContact.every((x) => x.contactId === contactTx)).toBe(true);

    // The phone, in any form, finds the contact through its hash.
    const byPhone = await all(`phone=${encodeURIComponent('(214) 555-0202')}`);
    expect(byPhone.map((x) => x.seq)).toEqual(byContact.map((x) => x.seq));
    expect(await all(`phone=${encodeURIComponent('+1 212 555 0999')}`)).toEqual([]);
    expect((await asAuditor('/v1/audit?phone=12')).status).toBe(400);

    const byCampaign = await all(`campaignId=${CAMPAIGN}`);
    expect(byCampaign.map((x) => x.action)).toEqual(['campaign.provider_note']);

    const byJourney = await all(`journeyId=${journeyId}`);
    expect(byJourney.map((x) => x.action)).toEqual(['journey.started', 'timer.created']);

    const created = await all('action=timer.created');
    expect(created.length).toBe(6);
    expect(created.every((x) => x.action === 'timer.created')).toBe(true);

    const rescheduled = await all('action=timer.created&decision=reschedule');
    expect(rescheduled.map((x) => x.timerId)).toEqual([ids.tx]);

    const outside = await all('reasonCode=OUTSIDE_HOURS');
    expect(outside.map((x) => x.timerId)).toEqual([ids.tx]);
    expect(await all('reasonCode=OUTSIDE_HOURS,ALLOWED')).toHaveLength(1);
    expect(await all('reasonCode=OUTSIDE_HOURS,HOLIDAY')).toHaveLength(0);

    const florida = await all('jurisdiction=FL');
    expect(florida.map((x) => x.timerId)).toEqual([ids.fl]);
    const texas = await all('jurisdiction=tx&action=timer.created');
    expect(texas.map((x) => x.timerId).sort()).toEqual([ids.tx, ids.txNext, ids.txCancel].sort());

    // from/to: [from, to) on the entry time.
    const mid = everything[Math.floor(everything.length / 2)]!;
    const after = await all(`from=${encodeURIComponent(mid.at)}`);
    const before = await all(`to=${encodeURIComponent(mid.at)}`);
    expect(after.length + before.length).toBe(everything.length);
    expect(after.every((x) => x.at >= mid.at) && before.every((x) => x.at < mid.at)).toBe(true);
    expect((await asAuditor(`/v1/audit?from=2026-12-09T00:00:00Z&to=2026-12-08T00:00:00Z`)).status).toBe(400);
    // The export refuses bad filters with a JSON error, not a broken download.
    for (const q of ['format=csv&from=2026-12-09T00:00:00Z&to=2026-12-08T00:00:00Z', 'format=xml', 'format=csv&phone=12']) {
      const bad = await asAuditor(`/v1/audit/export?${q}`);
      expect(bad.status, q).toBe(400);
      expect(bad.headers.get('content-type')).toMatch(/^application\/json/);
      expect(bad.headers.get('content-disposition')).toBeNull();
    }
    // A filtered export holds exactly what the list holds.
    const csv = await asAuditor(`/v1/audit/export?format=csv&contactId=${contactTx}`);
    expect(csv.text.trimEnd().split('\r\n').slice(1).map((l) => Number(l.split(',')[0]))).toEqual(byContact.map((x) => x.seq));
    const jsonl = await asAuditor(`/v1/audit/export?jurisdiction=FL`);
    expect(jsonl.text.trimEnd().split('\n').map((l) => (JSON.parse(l) as Entry).timerId)).toEqual([ids.fl]);

    // Pages of 2 add up to the whole.
    expect((await all('', 2)).map((x) => x.seq)).toEqual(everything.map((x) => x.seq));
  });

  it('masks a full number quoted in the data for auditors (admins see the log as stored)', async () => {
    const [forAuditor] = await all(`campaignId=${CAMPAIGN}`);
    expect(forAuditor!.data.note).toBe("The 'To' number +1******0001 is not a valid phone number");
    const admin = await e.api('GET', `/v1/audit?campaignId=${CAMPAIGN}`);
    expect(admin.body.items[0].data.note).toContain('+15005550001');
  });
});

describe('GET /v1/timers/:id/explanation', () => {
  it('tells the story of a delivered timer, as data and in words', async () => {
    const a = await call(ops, 'GET', `/v1/timers/${ids.ny}/explanation`);
    expect(a.status, a.text).toBe(200);
    const x = a.body;
    expect(x.inputs).toMatchObject({ zip: '10001', areaCode: '212', channel: 'sms', purpose: 'informational', policy: 'next_slot' });
    expect(x.candidates).toEqual([
      { jurisdiction: 'NY', zone: 'America/New_York', source: 'zip' },
      { jurisdiction: 'NY', zone: 'America/New_York', source: 'area-code' },
    ]);
    expect(x.story[1]).toBe('Judged in every place the contact may be: NY in America/New_York (from the zip); NY in America/New_York (from the area code).');
    expect(x.events.map((ev: { action: string }) => ev.action)).toEqual(['timer.created', 'timer.claimed', 'timer.sent', 'timer.delivered']);
    expect(x.decisions.map((d: { phase: string }) => d.phase)).toEqual(['create', 'fire']);
    expect(x.rules[0]).toMatchObject({ code: 'ALLOWED', rule: 'US.quiet-hours', citation: expect.stringContaining('64.1200') });
    const story = (x.story as string[]).join('\n');
    expect(story).toMatch(/2026-12-08 12:0\d EST \(America\/New_York\): allowed by US\.quiet-hours \(47 U\.S\.C\. § 227\(c\); 47 C\.F\.R\. § 64\.1200\(c\)\(1\)/);
    expect(story).toMatch(/Claimed by dispatcher \S+:\d+:\w+ at 2026-12-08 12:0\d:\d\d EST/);
    expect(story).toMatch(/Sent \(SM\w+\) at /);
    expect(story).toMatch(/Delivered at .*reported by status-callback/);
    expect(x.story[x.story.length - 1]).toBe('Now delivered.');
  });

  it('explains a timer moved at creation, with the blocking rule and where it went', async () => {
    const x = (await asAuditor(`/v1/timers/${ids.tx}/explanation`)).body;
    expect(x.decisions[0]).toMatchObject({ decision: 'reschedule', sendAt: '2026-12-09T14:00:00Z', localSendAt: '2026-12-09T08:00:00-06:00' });
    const story = (x.story as string[]).join('\n');
    expect(story).toContain('2026-12-08 21:00 CST (America/Chicago): blocked by US.quiet-hours');
    expect(story).toContain('Decision: rescheduled to 2026-12-09 08:00 CST (America/Chicago)');
    expect((await asAuditor(`/v1/timers/00000000-0000-4000-8000-000000000000/explanation`)).status).toBe(404);
  });
});

describe('replay under a planted calendar change', () => {
  it('reports the timers the change affects, and only those', async () => {
    plantedDir = plantTexasChange();
    planted = loadCalendars(plantedDir);
    expect(planted.version).not.toBe(loadedVersion);
    // The planted set came into force on 2026-12-10 (the loaded one at boot, 2026-12-08).
    await recordCalendarVersion(e.rt.prisma, planted, new Date('2026-12-10T00:00:00Z'));
    const timerIds = Object.values(ids);

    const later = await asAuditor('/v1/audit/replay', { timerIds, asOf: '2026-12-11T00:00:00Z' });
    expect(later.status, later.text).toBe(200);
    expect(later.body).toMatchObject({ calendarVersion: planted.version, compared: timerIds.length, changed: 3, unchanged: timerIds.length - 3, skipped: 0 });
    const diff = Object.fromEntries(later.body.differences.map((d: { timerId: string }) => [d.timerId, d]));
    expect(Object.keys(diff).sort()).toEqual([ids.tx, ids.txNext, ids.txCancel].sort());
    expect(diff[ids.tx]).toEqual({
      timerId: ids.tx,
      recorded: { decision: 'reschedule', sendAt: '2026-12-09T14:00:00Z', reasonCodes: ['ALLOWED', 'OUTSIDE_HOURS'], calendarVersion: loadedVersion },
      replayed: { decision: 'reschedule', sendAt: '2026-12-09T18:00:00Z', reasonCodes: ['ALLOWED', 'OUTSIDE_HOURS'], calendarVersion: planted.version },
    });
    expect(diff[ids.txNext].replayed).toMatchObject({ decision: 'reschedule', sendAt: '2026-12-09T18:00:00Z' });
    expect(diff[ids.txCancel].replayed).toMatchObject({ decision: 'cancel', sendAt: null, reasonCodes: ['OUTSIDE_HOURS'] });

    // Under the version in force before the change (and by default, the loaded one): nothing changes.
    for (const asOf of ['2026-12-09T00:00:00Z', undefined]) {
      const same = await asAuditor('/v1/audit/replay', { timerIds, ...(asOf ? { asOf } : {}) });
      expect(same.body).toMatchObject({ calendarVersion: loadedVersion, compared: timerIds.length, changed: 0, differences: [] });
    }
    // A range of creation times, in pages.
    const p1 = await asAuditor('/v1/audit/replay', { range: { from: '2026-12-08T00:00:00Z', to: '2026-12-09T00:00:00Z' }, asOf: '2026-12-11T00:00:00Z', limit: 4 });
    expect(p1.body).toMatchObject({ compared: 4, nextCursor: expect.stringMatching(/^s:\d+$/) });
    const p2 = await asAuditor('/v1/audit/replay', { range: { from: '2026-12-08T00:00:00Z', to: '2026-12-09T00:00:00Z' }, asOf: '2026-12-11T00:00:00Z', limit: 4, cursor: p1.body.nextCursor });
    expect(p1.body.compared + p2.body.compared).toBe(timerIds.length);
    expect(p1.body.changed + p2.body.changed).toBe(3);

    expect((await asAuditor('/v1/audit/replay', { timerIds, asOf: '2020-01-01T00:00:00Z' })).status).toBe(404);
    expect((await asAuditor('/v1/audit/replay', { timerIds, campaignId: CAMPAIGN })).status).toBe(400);
    const unknown = await asAuditor('/v1/audit/replay', { timerIds: ['00000000-0000-4000-8000-000000000000'] });
    expect(unknown.body).toMatchObject({ compared: 0, skipped: 1, skippedTimers: [{ timerId: '00000000-0000-4000-8000-000000000000' }] });
    expect((await asAuditor('/v1/audit/replay', { campaignId: CAMPAIGN })).body).toMatchObject({ compared: 0, nextCursor: null });
  });
});

describe('calendar change impact', () => {
  it('lists the pending timers the loaded calendars move, applies them on request, audited', async () => {
    const original = e.rt.ctx.calendars;
    e.rt.ctx.calendars = () => planted; // a new deploy loaded the changed calendars
    try {
      const cal = await asAuditor('/v1/calendars');
      expect(cal.status).toBe(200);
      expect(cal.body.loaded).toMatchObject({ version: planted.version, firstSeenAt: '2026-12-10T00:00:00.000Z' });
      expect(cal.body.loaded.jurisdictions).toContain('TX');
      expect(cal.body.versions.map((v: { version: string }) => v.version)).toEqual([loadedVersion, planted.version]);

      const list = await asAuditor('/v1/calendars/impact');
      expect(list.status, list.text).toBe(200);
      expect(list.body.calendarVersion).toBe(planted.version);
      const items = Object.fromEntries(list.body.items.map((i: { timerId: string }) => [i.timerId, i]));
      // The Texas timers still pending; not New York's, not Florida's area code on a New York zip.
      expect(Object.keys(items).sort()).toEqual([ids.tx, ids.txNext, ids.txCancel].sort());
      expect(items[ids.txNext]).toMatchObject({
        decidedUnder: loadedVersion,
        current: { decision: 'send', sendAt: '2026-12-09T16:00:00Z' },
        proposed: { decision: 'reschedule', sendAt: '2026-12-09T18:00:00Z', calendarVersion: planted.version },
      });
      expect(items[ids.txCancel].proposed).toMatchObject({ decision: 'cancel', sendAt: null });
      const first = await asAuditor('/v1/calendars/impact?limit=1');
      expect(first.body.items).toHaveLength(1);
      const rest = await asAuditor(`/v1/calendars/impact?limit=10&cursor=${first.body.nextCursor}`);
      expect([...first.body.items, ...rest.body.items].map((i: { timerId: string }) => i.timerId)).toEqual(list.body.items.map((i: { timerId: string }) => i.timerId));

      expect((await asAuditor('/v1/calendars/impact/apply', {})).status).toBe(403);
      const applied = await e.api('POST', '/v1/calendars/impact/apply', {});
      expect(applied.status, JSON.stringify(applied.body)).toBe(200);
      expect(applied.body).toMatchObject({ calendarVersion: planted.version, rescheduled: 2, cancelled: 1, suppressed: 0 });

      const moved = (await e.api('GET', `/v1/timers/${ids.txNext}`)).body;
      expect(moved).toMatchObject({ status: 'scheduled', sendAt: '2026-12-09T18:00:00.000Z', calendarVersion: planted.version });
      expect(moved.events[moved.events.length - 1]).toMatchObject({
        action: 'timer.rescheduled',
        data: { reason: 'calendar_change', fromVersion: loadedVersion, toVersion: planted.version, from: '2026-12-09T16:00:00.000Z', to: '2026-12-09T18:00:00Z' },
      });
      const cancelled = (await e.api('GET', `/v1/timers/${ids.txCancel}`)).body;
      expect(cancelled.status).toBe('cancelled');
      expect(cancelled.events[cancelled.events.length - 1]).toMatchObject({ action: 'timer.cancelled', data: { reason: 'calendar_change', fromVersion: loadedVersion, toVersion: planted.version } });
      expect(await all('action=calendars.change_applied')).toHaveLength(1);
      expect((await asAuditor('/v1/calendars/impact')).body.items).toEqual([]);

      // The explanation of a timer the change moved.
      const story = ((await asAuditor(`/v1/timers/${ids.txNext}/explanation`)).body.story as string[]).join('\n');
      expect(story).toContain(`(calendar change ${loadedVersion} → ${planted.version})`);
      expect(story).toContain('Rescheduled from 2026-12-09 10:00 CST (America/Chicago) to 2026-12-09 12:00 CST (America/Chicago)');
      expect((await e.api('GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });
    } finally {
      e.rt.ctx.calendars = original;
    }
  });
});

/** Streams a response body through `onText` chunk by chunk (never holding the whole body). */
async function stream(res: Response, onText: (s: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) onText(decoder.decode(chunk, { stream: true }));
  onText(decoder.decode());
}

describe('a large log', () => {
  beforeAll(async () => {
    const k = await createApiKey(e.rt.prisma, { orgName: `bulk-${e.prefix}`, role: 'auditor' });
    bulkOrg = k.orgId;
    bulkAuditor = k.key;
    await insertChain(e.env['DATABASE_URL']!, bulkOrg, BULK);
  }, 300_000);

  it('exports 100,000 entries as JSON lines, twice at once, every line in order', async () => {
    // What the export holds in memory is bounded exactly by the back-pressure test below; an RSS
    // figure taken here would measure this process's own garbage (it parses both answers) and
    // failed CI twice on a busy machine, so it is not asserted.
    const bulkAdmin = (await createApiKey(e.rt.prisma, { orgId: bulkOrg, role: 'admin' })).key;
    const one = async (key: string) => {
      const res = await fetch(`${e.url}/v1/audit/export?format=jsonl`, { headers: { authorization: `Bearer ${key}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
      expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="audit-\d{8}T\d{6}\.jsonl"$/);
      let rest = '';
      let lines = 0;
      let bytes = 0;
      let lastSeq = 0;
      await stream(res, (s) => {
        bytes += s.length;
        const parts = (rest + s).split('\n');
        rest = parts.pop()!;
        for (const line of parts) {
          const row = JSON.parse(line) as { seq: number; hash: string };
          if (row.seq !== lastSeq + 1) throw new Error(`seq ${row.seq} after ${lastSeq}`);
          lastSeq = row.seq;
          lines++;
        }
      });
      expect(rest).toBe('');
      return { lines, bytes };
    };
    const [a, b] = await Promise.all([one(bulkAuditor), one(bulkAdmin)]);
    expect(a.lines).toBe(BULK);
    expect(b.lines).toBe(BULK);
    expect(a.bytes).toBe(b.bytes);
    expect(a.bytes / 2 ** 20).toBeGreaterThan(100);
  }, 180_000);

  it('stops writing at the stream\u2019s limit while the reader is slow, and finishes once it reads', async () => {
    // A reader that reads nothing for a while: the export must stop writing at the stream's limit
    // (plus the chunk in hand), not keep reading pages from Postgres into memory.
    const highWaterMark = 16 * 1024;
    const out = new PassThrough({ highWaterMark });
    let done = false;
    const running = new AuditQueries(e.rt.ctx)
      .export(bulkOrg, { format: 'jsonl' }, out)
      .finally(() => (done = true));
    await new Promise((r) => setTimeout(r, 1_000));
    expect(done).toBe(false);
    // Writable side: a 64 KiB chunk at most past the limit; readable side: its own limit.
    const held = out.writableLength + out.readableLength;
    expect(held).toBeLessThan(2 * highWaterMark + 2 * 65_536 + 8_192);
    await new Promise((r) => setTimeout(r, 500));
    expect(out.writableLength + out.readableLength).toBe(held);
    // Reading resumes the export, to the end.
    let lines = 0;
    out.on('data', (b: Buffer) => {
      for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) lines++;
    });
    const r = await running;
    expect(r).toEqual({ rows: BULK, aborted: false });
    out.end();
    await once(out, 'end');
    expect(lines).toBe(BULK);
  }, 120_000);

  it('exports it as CSV with a header and proper quoting', async () => {
    const res = await fetch(`${e.url}/v1/audit/export?format=csv&action=timer.created`, { headers: { authorization: `Bearer ${bulkAuditor}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(res.headers.get('content-disposition')).toMatch(/\.csv"$/);
    let records = 0;
    let header: string[] | undefined;
    const parser = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>).pipe(parse({ relax_column_count: false }));
    for await (const rec of parser as AsyncIterable<string[]>) {
      if (!header) {
        header = rec;
        continue;
      }
      records++;
      if (records === 1 || records % 25_000 === 0) {
        expect(rec).toHaveLength(12);
        expect(Number(rec[0])).toBe(records);
        expect(rec[8]).toBe('ALLOWED');
        expect(JSON.parse(rec[9]!)).toMatchObject({ inputs: { channel: expect.any(String) } });
        expect(rec[11]).toMatch(/^[0-9a-f]{64}$/);
      }
    }
    expect(header).toEqual(['seq', 'at', 'action', 'timer_id', 'contact_id', 'journey_id', 'campaign_id', 'decision', 'reason_codes', 'data', 'prev_hash', 'hash']);
    expect(records).toBe(BULK);
  }, 120_000);

  it('stops when the client goes away', async () => {
    // The use case: a reader that never drains and then disappears.
    const out = new PassThrough({ highWaterMark: 16 * 1024 });
    const running = new AuditQueries(e.rt.ctx).export(bulkOrg, { format: 'jsonl' }, out);
    setTimeout(() => out.destroy(), 300);
    const r = await running;
    expect(r.aborted).toBe(true);
    expect(r.rows).toBeLessThan(BULK);
    // Over HTTP: abort after the first chunk; the server stays healthy.
    const ac = new AbortController();
    const res = await fetch(`${e.url}/v1/audit/export`, { headers: { authorization: `Bearer ${bulkAuditor}` }, signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    await reader.read().catch(() => undefined);
    expect((await call(bulkAuditor, 'GET', '/v1/audit?limit=1')).status).toBe(200);
  });

  it('verifies in parallel exactly as in one pass, including breaks at range boundaries', async () => {
    const k = await createApiKey(e.rt.prisma, { orgName: `chain-${e.prefix}`, role: 'auditor' });
    const n = 30_000;
    await insertChain(e.env['DATABASE_URL']!, k.orgId, n);
    const parallel = new AuditLog(e.rt.prisma, { verifyWorkers: 3, parallelFrom: 1 });
    const single = new AuditLog(e.rt.prisma, { verifyWorkers: 1 });
    const ok = await parallel.verify(k.orgId);
    expect(ok).toMatchObject({ ok: true, count: n, lastSeq: n });
    // The API's own AuditLog verifies a chain this short on one thread.
    expect((await call(k.key, 'GET', '/v1/audit/verify')).body).toEqual(ok);

    // The ranges of 3 workers: [1, 10000], [10001, 20000], [20001, 30000].
    await tamper(`DELETE FROM audit_entries WHERE org_id = '${k.orgId}' AND seq = 20001`);
    const gap = await parallel.verify(k.orgId);
    expect(gap).toEqual({ ok: false, count: 20000, brokenAtSeq: 20001, problem: 'SEQ_GAP', expected: '20001', found: '20002' });
    expect(await single.verify(k.orgId)).toEqual(gap);

    await tamper(`UPDATE audit_entries SET data = jsonb_set(data, '{status}', '"cancelled"') WHERE org_id = '${k.orgId}' AND seq = 10001`);
    const edited = await parallel.verify(k.orgId);
    expect(edited).toMatchObject({ ok: false, count: 10000, brokenAtSeq: 10001, problem: 'HASH_MISMATCH' });
    expect(await single.verify(k.orgId)).toEqual(edited);
  }, 420_000);
});

/** What a DBA could do: the append-only triggers off, a statement, the triggers on again. */
async function tamper(sql: string): Promise<void> {
  await e.rt.prisma.$executeRawUnsafe('ALTER TABLE audit_entries DISABLE TRIGGER USER');
  try {
    await e.rt.prisma.$executeRawUnsafe(sql);
  } finally {
    await e.rt.prisma.$executeRawUnsafe('ALTER TABLE audit_entries ENABLE TRIGGER USER');
  }
}

describe('tampering with one audit row', () => {
  it('is detected by GET /v1/audit/verify at that seq', async () => {
    const before = await asAuditor('/v1/audit/verify');
    expect(before.body).toMatchObject({ ok: true });
    const [target] = await all(`timerId=${ids.tx}&action=timer.created`);
    await tamper(`UPDATE audit_entries SET data = jsonb_set(data, '{inputs,zip}', '"10001"') WHERE org_id = '${e.orgId}' AND seq = ${target!.seq}`);
    const after = await asAuditor('/v1/audit/verify');
    expect(after.body).toMatchObject({ ok: false, brokenAtSeq: target!.seq, problem: 'HASH_MISMATCH', count: target!.seq - 1 });
  });
});

describe('what an auditor sees', () => {
  it('never a message body nor a full phone number', async () => {
    // Exports of the main org too.
    for (const format of ['csv', 'jsonl']) {
      const res = await fetch(`${e.url}/v1/audit/export?format=${format}`, { headers: { authorization: `Bearer ${auditor}` } });
      seenByAuditor.push(await res.text());
    }
    expect(seenByAuditor.length).toBeGreaterThan(20);
    const national = [...Object.values(PHONES), '+15005550001'].map((p) => p.slice(2));
    for (const text of seenByAuditor) {
      expect(text).not.toContain(BODY);
      for (const digits of national) expect(text).not.toContain(digits);
    }
  });
});
