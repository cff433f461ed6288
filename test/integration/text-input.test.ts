/**
 * The character policy (src/domain/text.ts) on the real engine: NUL and the other refused
 * characters answer 400 INVALID_ARGUMENT with the field's path in a body field, an object key, a
 * query parameter and a path parameter, and write nothing; in uploaded rows (contacts import, a
 * campaign audience in CSV and JSONL) the row is INVALID_ROW with its line and the file goes on;
 * Unicode, emoji and right-to-left text reach the provider byte for byte.
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offsetTo, smsBody, startEngine, until, type ApiAnswer, type TestEngine } from '../helpers/engine.ts';

// Tuesday 2026-12-08 12:00 in New York (17:00Z): inside every window for zip 10001.
const NOON_NY = '2026-12-08T17:00:00Z';

let e: TestEngine;
const inMs = (ms: number) => new Date(e.clock.now() + ms).toISOString();

beforeAll(async () => {
  e = await startEngine({ clockOffsetMs: offsetTo(NOON_NY), parts: ['pump', 'dispatcher', 'reconciler', 'planner'] });
});
afterAll(async () => {
  await e?.stop();
});

/** Sends a raw JSON text (so that lone surrogates survive: JSON.stringify would escape them the same way, but this is explicit). */
async function rawPost(path: string, json: string): Promise<ApiAnswer> {
  const res = await fetch(`${e.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${e.key}`, 'content-type': 'application/json' }, body: json });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

async function rows(): Promise<{ timers: number; contacts: number; audit: number }> {
  const [timers, contacts, audit] = await Promise.all([
    e.rt.prisma.timer.count({ where: { orgId: e.orgId } }),
    e.rt.prisma.contact.count({ where: { orgId: e.orgId } }),
    e.rt.prisma.auditEntry.count({ where: { orgId: e.orgId } }),
  ]);
  return { timers, contacts, audit };
}

async function upload(method: 'PUT' | 'POST', path: string, body: string, contentType: string): Promise<ApiAnswer> {
  const res = await fetch(`${e.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${e.key}`, 'content-type': contentType },
    body: Readable.toWeb(Readable.from([Buffer.from(body)])) as unknown as ReadableStream,
    duplex: 'half',
  } as RequestInit);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

describe('refused characters in API input', () => {
  // Each as a JSON string escape, so the request carries the character itself once parsed.
  const refused: Array<[string, string]> = [
    ['NUL', '\\u0000'],
    ['BEL', '\\u0007'],
    ['ESC', '\\u001b'],
    ['a lone high surrogate', '\\ud800'],
    ['a lone low surrogate', '\\udfff'],
    ['U+FFFE', '\\ufffe'],
  ];

  it.each(refused)('%s in message.body, contact.externalId or an object key: 400 with the path, nothing written', async (_name, esc) => {
    const before = await rows();
    const base = smsBody({ contact: { phone: '+12125550140', zip: '10001' }, at: inMs(60_000) }) as Record<string, unknown>;
    const cases: Array<[string, string, string]> = [
      [JSON.stringify({ ...base, message: { body: 'a__X__b' } }), 'body.message.body', ''],
      [JSON.stringify({ ...base, contact: { phone: '+12125550140', zip: '10001', externalId: 'ext-__X__' } }), 'body.contact.externalId', ''],
      // A key is named with each refused character shown as U+FFFD (never echoed as it came).
      [JSON.stringify({ ...base, ['k__X__']: 1 }), 'body.k\ufffd', 'field name '],
    ];
    for (const [json, path, prefix] of cases) {
      const res = await rawPost('/v1/timers', json.replace('__X__', esc));
      expect(res.status, json).toBe(400);
      expect(res.body.error.code).toBe('INVALID_ARGUMENT');
      expect(res.body.error.details[0].path).toBe(path);
      expect(res.body.error.details[0].message.startsWith(prefix)).toBe(true);
      expect(res.body.error.details[0].message.slice(prefix.length)).toMatch(/^contains U\+[0-9A-F]{4} \(.+\) at position \d+, which is not allowed in text$/);
      expect(JSON.stringify(res.body)).not.toMatch(/\bat .+\.ts:\d+/); // no stack
    }
    expect(await rows()).toEqual(before);
  });

  it('a body nested as deep as the size limit allows is walked in linear time (it once took O(depth²), blocking the event loop)', async () => {
    const depth = 45_000; // 90 KB of brackets, under the 100 KB default BODY_LIMIT
    const json = `{"x":${'['.repeat(depth)}"\\u0000"${']'.repeat(depth)}}`;
    const res = await rawPost('/v1/timers', json);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('INVALID_ARGUMENT');
    // The path is shown by its ends: "x" and 15 indices, the count left out, the last 8 indices.
    expect(res.body.error.details[0].path).toBe(`body.x${'[0]'.repeat(15)}.…${depth + 1 - 24} more…${'[0]'.repeat(8)}`);
    expect(JSON.stringify(res.body).length).toBeLessThan(2_000);
  });

  it('in a query parameter and a path parameter', async () => {
    const q = await e.api('GET', '/v1/contacts?externalId=a%00b');
    expect(q.status).toBe(400);
    expect(q.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', details: [{ path: 'query.externalId' }] });
    const p = await e.api('GET', '/v1/timers/a%01b');
    expect(p.status).toBe(400);
    expect(p.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', details: [{ path: 'params.id' }] });
  });

  it('an Idempotency-Key with a control character or non-ASCII is refused, never stored', async () => {
    const before = await rows();
    const res = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: '+12125550141', zip: '10001' }, at: inMs(60_000) }), { 'idempotency-key': 'clé' });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].path).toBe('headers.idempotency-key');
    expect(await rows()).toEqual(before);
  });
});

describe('Unicode kept byte for byte', () => {
  it('emoji (with joiners and skin tones), right-to-left text and bidi marks reach the provider unchanged', async () => {
    const body = 'שלום 👩🏽‍💻 مرحبا \u200F(RTL mark) \u202Bembedded\u202C e\u0301 ﷺ 🇺🇸 tab\there\r\nnext line';
    const phone = '+12125550142';
    const created = await e.api('POST', '/v1/timers', smsBody({ contact: { phone, zip: '10001' }, message: { body }, at: inMs(0) }));
    expect(created.status).toBe(201);
    await until(async () => ((await e.api('GET', `/v1/timers/${created.body.id}`)).body.status === 'delivered' ? true : null), 20_000);
    const sent = e.emulator.emulator.messages().filter((m) => m.params['To'] === phone && m.sid !== null);
    expect(sent).toHaveLength(1);
    const sentBody = sent[0]!.params['Body'];
    expect(typeof sentBody).toBe('string');
    expect(Buffer.from(sentBody as string, 'utf8').equals(Buffer.from(body, 'utf8'))).toBe(true);
    // Stored as received too.
    const row = await e.rt.prisma.timer.findUniqueOrThrow({ where: { id: created.body.id } });
    expect(JSON.stringify(row)).toContain(JSON.stringify(body).slice(1, -1));
  });
});

describe('refused characters in uploaded rows: INVALID_ROW with the line, the file goes on', () => {
  it('contacts import, CSV and JSONL', async () => {
    const csv = ['phone,zip,externalId,name', '+12125550150,10001,ok-1,Ann', '+12125550151,10001,bad\u0000id,Bob', '+12125550152,10001,ok\u0007-3,Cécile', '+12125550153,10001,ok-4,😀 Dana\u0007'].join('\n');
    const a = await upload('POST', '/v1/contacts/import', csv, 'text/csv');
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ rows: 4, created: 2, errors: 2, errorCodes: { INVALID_ROW: 2 } });
    expect(a.body.errorSamples).toEqual([
      { line: 3, code: 'INVALID_ROW', message: expect.stringMatching(/externalId contains U\+0000 \(NUL\) at position 3/) },
      { line: 4, code: 'INVALID_ROW', message: expect.stringMatching(/U\+0007/) },
    ]);
    // No message carries the refused value itself.
    expect(JSON.stringify(a.body.errorSamples)).not.toContain('bad');
    // A column the import does not read (here `name`, U+0007 on line 5) is neither checked nor stored.

    const jsonl = ['{"phone":"+12125550154","zip":"10001"}', '{"phone":"+12125550155","zip":"10001","externalId":"x\\u0000y"}', '{"phone":"+12125550156","zip":"10001","externalId":"\\ud83d"}', '{"phone":"+12125550157","zip":"10001"}'].join('\n');
    const b = await upload('POST', '/v1/contacts/import', jsonl, 'application/x-ndjson');
    expect(b.status).toBe(200);
    expect(b.body).toMatchObject({ rows: 4, created: 2, errors: 2, errorCodes: { INVALID_ROW: 2 } });
    expect(b.body.errorSamples.map((s: { line: number }) => s.line)).toEqual([2, 3]);
    const dana = await e.rt.prisma.contact.findFirstOrThrow({ where: { orgId: e.orgId, externalId: 'ok-4' } });
    expect(dana).toBeDefined();
  });

  it('a campaign audience (CSV): the bad row is reported, the others are planned', async () => {
    const created = await e.api('POST', '/v1/campaigns', {
      name: 'unicode audience',
      channel: 'sms',
      purpose: 'informational',
      policy: 'next_slot',
      message: { body: 'Rappel : votre rendez-vous est demain 📅' },
      sendAt: '2026-12-09T10:00',
      audience: { upload: true },
    });
    expect(created.status).toBe(201);
    const csv = ['phone,zip,externalId', '+12125550160,10001,a-1', '+12125550161,10001,a\u00002', '+12125550162,10001,a-3\ud800'.replace('\ud800', '\u0008')].join('\n');
    const up = await upload('PUT', `/v1/campaigns/${created.body.id}/audience`, csv, 'text/csv');
    expect(up.status).toBe(200);
    const done = await until(async () => {
      const c = (await e.api('GET', `/v1/campaigns/${created.body.id}`)).body;
      return c.status === 'planned' ? c : null;
    }, 30_000);
    expect(done.progress).toMatchObject({ rows: 3, planned: 1, errors: 2 });
    const errs = await e.api('GET', `/v1/campaigns/${created.body.id}/errors`);
    expect(errs.body.items.map((i: { line: number; code: string }) => [i.line, i.code])).toEqual([[3, 'INVALID_ROW'], [4, 'INVALID_ROW']]);
  });
});
