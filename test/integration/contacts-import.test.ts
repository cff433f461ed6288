/**
 * Contacts import on the real engine (Postgres, Redis): a 20,000-row CSV with bad rows of every
 * kind (reported by line, never aborting the file), re-import (updates, no duplicates), a JSONL
 * file with malformed lines and externalId conflicts, location candidates with their sources,
 * contact lists, GET /v1/contacts/:id (masked for auditors, 404 for another org), and memory:
 * 200,000 rows streamed from a generator with the server in this process, RSS growth bounded.
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/adapters/auth/api-keys.ts';
import { importContacts } from '../../src/app/contacts-import.ts';
import { startEngine, type ApiAnswer, type TestEngine } from '../helpers/engine.ts';

let e: TestEngine;
let auditorKey: string;
let journeyKey: string;
let otherOrgKey: string;

beforeAll(async () => {
  e = await startEngine({ parts: [] });
  auditorKey = (await createApiKey(e.rt.prisma, { orgId: e.orgId, role: 'auditor' })).key;
  journeyKey = (await createApiKey(e.rt.prisma, { orgId: e.orgId, role: 'journey' })).key;
  otherOrgKey = (await createApiKey(e.rt.prisma, { orgName: `other-${e.prefix}`, role: 'admin' })).key;
});
afterAll(async () => {
  await e?.stop();
});

async function* bytes(chunks: AsyncIterable<string>): AsyncGenerator<Buffer> {
  for await (const c of chunks) yield Buffer.from(c);
}

/** POSTs a file (a string or a stream of chunks) to the import route. */
async function importFile(body: string | AsyncIterable<string>, query: string, contentType?: string, key = e.key): Promise<ApiAnswer> {
  const res = await fetch(`${e.url}/v1/contacts/import${query}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, ...(contentType ? { 'content-type': contentType } : {}) },
    ...(typeof body === 'string' ? { body } : { body: Readable.toWeb(Readable.from(bytes(body))) as ReadableStream, duplex: 'half' }),
  } as RequestInit);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

const as = (key: string) => async (path: string) => {
  const res = await fetch(`${e.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
};

const NPAS = ['212', '305', '415', '312', '713', '602', '404', '206', '617', '303'];
const ZIPS = ['10001', '33130', '94103', '60601', '77002', '85004', '30303', '98101', '02108', '80202'];
/** A valid, unique US number per i (i < 200,000), in `prefix`'s exchange block. */
const phoneOf = (i: number, block = 0) => `+1${NPAS[i % 10]}${String(200 + block * 100 + Math.floor(i / 10_000) * 3).padStart(3, '0')}${String(i % 10_000).padStart(4, '0')}`;

describe('CSV import: 20,000 rows with bad ones', () => {
  const ROWS = 20_000;
  const expectedErrors = new Map<number, string>(); // line → code
  let csv = '';
  const build = () => {
    const lines = ['phone,zip,externalId,name'];
    // Bad rows of every kind, 5 each (50), spread over the file.
    const kinds: Array<[string, (i: number) => string]> = [
      ['INVALID_PHONE', (i) => `not-a-phone,10001,,Bad ${i}`],
      ['INVALID_PHONE', (i) => `12345,10001,,Short ${i}`],
      ['INVALID_PHONE', (i) => `+442071838750,10001,,Abroad ${i}`],
      ['INVALID_ZIP', (i) => `${phoneOf(i, 5)},1234,,Zip ${i}`],
      ['UNKNOWN_ZIP', (i) => `${phoneOf(i, 5)},99999,,Unknown ${i}`],
      ['INVALID_ROW', (i) => `,10001,ext-missing-${i},No phone ${i}`],
      ['INVALID_ROW', (i) => `${phoneOf(i, 5)},10001`],
      ['INVALID_ROW', (i) => `${phoneOf(i, 5)},10001,,Too,many`],
      ['INVALID_ROW', (i) => `   ,   ,,Blank phone ${i}`],
      ['INVALID_ZIP', (i) => `${phoneOf(i, 5)},ABCDE,,Letters ${i}`],
    ];
    const badAt = new Map<number, [string, (i: number) => string]>();
    for (let k = 0; k < 50; k++) badAt.set(17 + k * 397, kinds[k % kinds.length]!);
    for (let i = 0; i < ROWS; i++) {
      const line = i + 2; // the header is line 1
      const bad = badAt.get(i);
      if (bad) {
        expectedErrors.set(line, bad[0]);
        lines.push(bad[1](i));
      } else if (i === 0) {
        lines.push('+12125550123,33130,miami-212,"Ada, Miami"'); // a Miami zip with a New York number
      } else {
        lines.push(`${phoneOf(i)},${ZIPS[(i * 7) % 10]},${i % 3 === 0 ? `ext-${i}` : ''},Person ${i}`);
      }
    }
    csv = `${lines.join('\r\n')}\r\n`;
  };

  it('imports the good rows, reports each bad row with its line and code, fills the list', async () => {
    build();
    const t0 = performance.now();
    const a = await importFile(csv, '?list=import-a', 'text/csv');
    const ms = performance.now() - t0;
    console.log(`CSV ${ROWS} rows in ${ms.toFixed(0)} ms: ${Math.round(ROWS / (ms / 1000))} rows/s`);
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ rows: ROWS, created: ROWS - 50, updated: 0, errors: 50 });
    expect(a.body.listId).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.body.errorSamples).toHaveLength(50);
    expect(a.body.errorSamples.map((s: { line: number; code: string }) => [s.line, s.code])).toEqual([...expectedErrors.entries()].sort((x, y) => x[0] - y[0]));
    expect(a.body.errorCodes).toEqual({ INVALID_PHONE: 15, INVALID_ZIP: 10, UNKNOWN_ZIP: 5, INVALID_ROW: 20 });
    const wrongCount = a.body.errorSamples.find((s: { message: string }) => /columns/.test(s.message));
    expect(wrongCount.message).toMatch(/expected 4 columns \(as in the header\), got [25]/);
    expect(a.body.errorSamples.find((s: { message: string }) => s.message === 'phone is required')).toBeDefined();

    expect(await e.rt.prisma.contact.count({ where: { orgId: e.orgId } })).toBe(ROWS - 50);
    const lists = await e.api('GET', '/v1/contact-lists');
    expect(lists.status).toBe(200);
    expect(lists.body.items).toEqual([{ id: a.body.listId, name: 'import-a', members: ROWS - 50, createdAt: expect.any(String) }]);

    // One audit entry, counts only.
    const audit = await e.rt.prisma.auditEntry.findMany({ where: { orgId: e.orgId, action: 'contacts.imported' } });
    expect(audit).toHaveLength(1);
    // Exactly these fields: counts, never a number or a row.
    expect(audit[0]!.data).toEqual({ format: 'csv', rows: ROWS, created: ROWS - 50, updated: 0, errors: 50, errorCodes: a.body.errorCodes, listId: a.body.listId, truncated: false });
  });

  it('contacts carry their candidates with sources (zip + area code); GET /v1/contacts/:id; auditor sees a masked number; another org gets 404', async () => {
    const c = await e.rt.prisma.contact.findFirstOrThrow({ where: { orgId: e.orgId, externalId: 'miami-212' } });
    const got = await e.api('GET', `/v1/contacts/${c.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual({
      id: c.id,
      externalId: 'miami-212',
      phone: '+12125550123',
      zip: '33130',
      state: 'FL',
      timezones: ['America/New_York'],
      candidates: [
        { jurisdiction: 'FL', zone: 'America/New_York', source: 'zip' },
        { jurisdiction: 'NY', zone: 'America/New_York', source: 'area-code' },
      ],
      locationIssues: [],
      lists: ['import-a'],
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const masked = await as(auditorKey)(`/v1/contacts/${c.id}`);
    expect(masked.status).toBe(200);
    expect(masked.body.phone).toBe('+1******0123');
    expect((await as(journeyKey)(`/v1/contacts/${c.id}`)).status).toBe(200);
    expect((await as(otherOrgKey)(`/v1/contacts/${c.id}`)).status).toBe(404);
    const otherList = await as(otherOrgKey)('/v1/contacts?limit=500');
    expect(otherList.body.items).toEqual([]);
    expect((await as(otherOrgKey)('/v1/contacts?list=import-a')).status).toBe(404);
    expect((await as(otherOrgKey)('/v1/contact-lists')).body.items).toEqual([]);
    expect((await as(journeyKey)('/v1/contact-lists')).status).toBe(403);
  });

  it('the list pages through every member once (cursor pagination)', async () => {
    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await as(auditorKey)(`/v1/contacts?list=import-a&limit=500${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      for (const c of page.body.items) {
        expect(c.phone).toMatch(/^\+1\*{6}\d{4}$/);
        seen.add(c.id);
      }
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor && pages < 100);
    expect(seen.size).toBe(ROWS - 50);
    expect((await e.api('GET', '/v1/contacts?cursor=bogus')).status).toBe(400);
  });

  it('re-importing the same file updates: no duplicates, created 0', async () => {
    const a = await importFile(csv, '?format=csv&list=import-a&mode=upsert');
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ rows: ROWS, created: 0, updated: ROWS - 50, errors: 50 });
    expect(await e.rt.prisma.contact.count({ where: { orgId: e.orgId } })).toBe(ROWS - 50);
    expect(await e.rt.prisma.contactListMember.count({ where: { listId: a.body.listId } })).toBe(ROWS - 50);
  });
});

describe('JSONL import', () => {
  it('malformed lines, wrong types, externalId conflicts and repeats are reported by line; the rest applies in file order', async () => {
    const known = await e.rt.prisma.contact.findFirstOrThrow({ where: { orgId: e.orgId, externalId: 'ext-3' } });
    const lines = [
      JSON.stringify({ phone: '+13055550190', zip: '33130', externalId: 'ext-3' }), // 1: ext-3 belongs to another number
      '{"phone": "+13055550191", "zip": ', // 2: malformed
      '', // 3: blank
      JSON.stringify({ phone: known.phoneE164, zip: '10001', externalId: 'ext-3', name: 'Moved' }), // 4: same number → update
      JSON.stringify({ phone: '(305) 555-0192', zip: '33130', externalId: 'j-1' }), // 5: new
      '[1, 2]', // 6: not an object
      JSON.stringify({ phone: 3055550193, zip: 33130 }), // 7: numbers accepted → new
      JSON.stringify({ phone: '+13055550194', zip: { nested: true } }), // 8: wrong type
      JSON.stringify({ phone: '+13055550195', externalId: 'j-2' }), // 9: new (no zip: area code only)
      JSON.stringify({ phone: '+13055550196', externalId: 'j-2' }), // 10: j-2 was just given to another number
      JSON.stringify({ phone: '+13055550195', zip: '33130' }), // 11: repeat of line 9 → update, keeps j-2
      JSON.stringify({ zip: '33130' }), // 12: no phone
    ];
    const a = await importFile(`${lines.join('\n')}\n`, '?list=jsonl-b', 'application/x-ndjson');
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ rows: 11, created: 3, updated: 2, errors: 6 });
    expect(a.body.errorSamples.map((s: { line: number; code: string }) => [s.line, s.code])).toEqual([
      [1, 'CONFLICT'],
      [2, 'INVALID_ROW'],
      [6, 'INVALID_ROW'],
      [8, 'INVALID_ROW'],
      [10, 'CONFLICT'],
      [12, 'INVALID_ROW'],
    ]);
    expect(a.body.errorSamples[1].message).toBe('not valid JSON');
    const moved = await e.rt.prisma.contact.findUniqueOrThrow({ where: { id: known.id } });
    expect(moved).toMatchObject({ zip: '10001', state: 'NY', externalId: 'ext-3' });
    const j2 = await e.rt.prisma.contact.findFirstOrThrow({ where: { orgId: e.orgId, externalId: 'j-2' } });
    expect(j2).toMatchObject({ phoneE164: '+13055550195', zip: '33130', state: 'FL' });
    const view = await e.api('GET', `/v1/contacts/${j2.id}`);
    expect(view.body.candidates).toEqual([
      { jurisdiction: 'FL', zone: 'America/New_York', source: 'zip' },
      { jurisdiction: 'FL', zone: 'America/New_York', source: 'area-code-presumption' },
    ]);
    expect(view.body.lists).toEqual(['jsonl-b']);
    const shared = await e.api('GET', `/v1/contacts/${known.id}`);
    expect(shared.body.lists).toEqual(['import-a', 'jsonl-b']);
    const lists = await e.api('GET', '/v1/contact-lists');
    expect(lists.body.items.map((l: { name: string; members: number }) => [l.name, l.members])).toEqual([
      ['import-a', 19_950],
      ['jsonl-b', 4],
    ]);
  });

  it('a file without a trailing newline, with a BOM and CRLF, and an over-long line', async () => {
    const a = await importFile(`\uFEFF${JSON.stringify({ phone: '+14155550100', zip: '94103' })}\r\n${JSON.stringify({ phone: '+14155550101', zip: 'x'.repeat(70_000) })}\r\n${JSON.stringify({ phone: '+14155550102' })}`, '?format=jsonl');
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ rows: 3, created: 2, errors: 1, errorSamples: [{ line: 2, code: 'INVALID_ROW', message: 'line longer than 65536 characters' }] });
    expect(a.body.listId).toBeUndefined();
  });
});

describe('file order with small batches written in parallel', () => {
  it('repeated numbers across batches in flight: the last row wins, counts exact', async () => {
    const zips = ['10001', '33130', '94103', '60601', '77002'];
    const phones = ['+16175550101', '+16175550102', '+16175550103', '+16175550104', '+16175550105'];
    const lines: string[] = [];
    for (let i = 0; i < 300; i++) lines.push(JSON.stringify({ phone: phones[(i * 7) % 5], zip: zips[(i * 3 + Math.floor(i / 5)) % 5] }));
    const last = new Map<string, string>();
    for (const l of lines) last.set(JSON.parse(l).phone, JSON.parse(l).zip);
    const r = await importContacts(e.rt.ctx, e.orgId, { format: 'jsonl', input: Readable.from([lines.join('\n')]), batchSize: 2, parallelWrites: 2 });
    expect(r).toMatchObject({ rows: 300, created: 5, updated: 295, errors: 0 });
    const stored = await e.rt.prisma.contact.findMany({ where: { orgId: e.orgId, phoneE164: { in: phones } } });
    expect(Object.fromEntries(stored.map((c) => [c.phoneE164, c.zip]))).toEqual(Object.fromEntries(last));
  });
});

describe('requests the import refuses', () => {
  it('unknown format, a CSV without a phone column, roles that may not import', async () => {
    const none = await importFile('phone\n+12125550100\n', '');
    expect(none.status).toBe(400);
    expect(none.body.error.code).toBe('INVALID_ARGUMENT');
    const noPhone = await importFile('name,zip\nAda,10001\n', '', 'text/csv');
    expect(noPhone.status).toBe(400);
    expect(noPhone.body.error.message).toMatch(/no "phone" column/);
    expect((await importFile('phone\n', '?format=xml', 'text/csv')).status).toBe(400);
    expect((await importFile('phone\n', '?mode=replace', 'text/csv')).status).toBe(400);
    expect((await importFile('phone\n+12125550100\n', '', 'text/csv', auditorKey)).status).toBe(403);
    expect((await importFile('phone\n+12125550100\n', '', 'text/csv', journeyKey)).status).toBe(403);
    const empty = await importFile('', '', 'text/csv');
    expect(empty.body).toMatchObject({ rows: 0, created: 0, updated: 0, errors: 0 });
  });
});

describe('memory stays flat', () => {
  it('200,000 rows streamed from a generator: RSS growth bounded', async () => {
    const ROWS = 200_000;
    async function* file(): AsyncGenerator<string> {
      yield 'phone,zip,externalId,name\n';
      let chunk = '';
      for (let i = 0; i < ROWS; i++) {
        chunk += `${phoneOf(i, 6)},${ZIPS[(i * 3) % 10]},big-${i},Someone with a longer name ${i}\n`;
        if (chunk.length > 64_000) {
          yield chunk;
          chunk = '';
        }
      }
      yield chunk;
    }
    (globalThis as { gc?: () => void }).gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    const t0 = performance.now();
    const a = await importFile(file(), '?list=big', 'text/csv').finally(() => clearInterval(sampler));
    const ms = performance.now() - t0;
    peak = Math.max(peak, process.memoryUsage().rss);
    const growthMb = (peak - before) / 1024 / 1024;
    console.log(`streamed CSV ${ROWS} rows in ${ms.toFixed(0)} ms: ${Math.round(ROWS / (ms / 1000))} rows/s; RSS ${Math.round(before / 1048576)} → peak ${Math.round(peak / 1048576)} MB (+${growthMb.toFixed(0)} MB)`);
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ rows: ROWS, created: ROWS, updated: 0, errors: 0 });
    expect(growthMb).toBeLessThan(300);
    const lists = await e.api('GET', '/v1/contact-lists');
    expect(lists.body.items.find((l: { name: string }) => l.name === 'big').members).toBe(ROWS);
  }, 300_000);
});
