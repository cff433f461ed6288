/**
 * Timer creation in batches, on the real Redis and Postgres: `POST /v1/timers/batch` (each item
 * validated, judged and answered on its own, with its own idempotency key) and `POST /v1/timers`
 * under concurrency (the requests that arrive together are judged in one transaction). What a
 * batch must not change: the decision an item gets alone, the audit chain, idempotency, the
 * contact upsert, and the order of items that share a contact or a key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/adapters/auth/api-keys.ts';
import { CreateTimersBatchDoc, MAX_BATCH_TIMERS } from '../../src/app/timers/schemas.ts';
import { apiRoutes } from '../../src/api/app.ts';
import { offsetTo, smsBody, startEngine, type TestEngine } from '../helpers/engine.ts';

// Tuesday 2026-12-08 12:00 in New York (17:00Z).
const NOON_NY = '2026-12-08T17:00:00Z';

let e: TestEngine;
const batch = (items: unknown[]) => e.api('POST', '/v1/timers/batch', { items });
const phone = (n: number) => `+1212555${String(n).padStart(4, '0')}`;
const timersOf = (where: object) => e.rt.prisma.timer.findMany({ where: { orgId: e.orgId, ...where } });

beforeAll(async () => {
  // No pump or dispatcher: the timers stay as created (HORIZON far beyond: near-term enqueue is tested apart).
  e = await startEngine({ parts: [], clockOffsetMs: offsetTo(NOON_NY) });
});
afterAll(async () => {
  await e?.stop();
});

describe('POST /v1/timers/batch', () => {
  it('answers every item on its own: created, cancelled by its policy, or its own error; the others are stored', async () => {
    const { body: journey } = await e.api('POST', '/v1/journeys', { contact: { phone: phone(9001), zip: '10001' } });
    const items = [
      smsBody({ contact: { phone: phone(1), zip: '10001' }, at: '2026-12-08T18:00:00Z' }), // 13:00 NY: allowed
      { ...smsBody({ contact: { phone: phone(2), zip: '10001' }, at: '2026-12-09T03:00:00Z', policy: 'cancel' }) }, // 22:00 NY: cancelled
      smsBody({ contact: { phone: phone(3), zip: '10001' }, at: 'tomorrow' }), // INVALID_INSTANT
      smsBody({ contact: { phone: '12', zip: '10001' }, at: '2026-12-08T18:00:00Z' }), // INVALID_PHONE
      smsBody({ contact: { phone: phone(5), zip: '00000' }, at: '2026-12-08T18:00:00Z' }), // UNKNOWN_ZIP
      smsBody({ contactId: '00000000-0000-4000-8000-000000000000', contact: undefined, at: '2026-12-08T18:00:00Z' }), // contact not found
      smsBody({ contact: { phone: phone(7), zip: '10001' }, journeyId: journey.id, at: '2026-12-08T18:00:00Z' }), // journey of another contact
      { ...smsBody({ contact: { phone: phone(8), zip: '10001' } }), at: '2026-12-08T18:00:00Z', colour: 'red' }, // unknown field
      'not an object',
      { contact: { phone: phone(10), zip: '60601' }, channel: 'voice', at: '2026-12-08T19:00:00Z', policy: 'next_slot', purpose: 'informational', voice: { twiml: '<Response><Say>Hi</Say></Response>' } },
      smsBody({ contact: { phone: phone(9001), zip: '10001' }, journeyId: journey.id, at: '2026-12-08T18:00:00Z' }), // the journey's own contact
    ];
    const res = await batch(items);
    expect(res.status).toBe(200);
    const r = res.body.results as Array<{ index: number; status: number; timer?: { status: string; id: string; reasons: Array<{ code: string }> }; error?: { code: string; details?: Array<{ path: string }> } }>;
    expect(r.map((x) => x.index)).toEqual(items.map((_, i) => i));
    expect(r.map((x) => x.status)).toEqual([201, 201, 400, 400, 422, 404, 409, 400, 400, 201, 201]);
    expect(r[0]!.timer!.status).toBe('scheduled');
    expect(r[1]!.timer!.status).toBe('cancelled');
    expect(r[1]!.timer!.reasons.map((x) => x.code)).toContain('OUTSIDE_HOURS');
    expect(r[2]!.error).toMatchObject({ code: 'INVALID_INSTANT', details: [{ path: 'body.items[2].at' }] });
    expect(r[3]!.error).toMatchObject({ code: 'INVALID_PHONE', details: [{ path: 'body.items[3].contact.phone' }] });
    expect(r[4]!.error!.code).toBe('UNKNOWN_ZIP');
    expect(r[5]!.error!.code).toBe('NOT_FOUND');
    expect(r[6]!.error!.code).toBe('CONFLICT');
    expect(r[7]!.error).toMatchObject({ code: 'INVALID_ARGUMENT', details: [{ path: 'body.items[7].colour' }] });
    expect(r[8]!.error!.code).toBe('INVALID_ARGUMENT');
    expect(r[9]!.timer!.status).toBe('scheduled');
    expect(res.body).toMatchObject({ created: 4, replayed: 0, failed: 7 });

    // Exactly the answered timers are stored, each with its timer.created entry, in a valid chain.
    const ids = r.flatMap((x) => (x.timer ? [x.timer.id] : []));
    expect((await timersOf({ id: { in: ids } })).length).toBe(4);
    // A refused item writes nothing, not even its contact.
    expect(await e.rt.prisma.contact.count({ where: { orgId: e.orgId, phoneE164: { in: [phone(3), phone(5), phone(7), phone(8)] } } })).toBe(0);
    for (const id of ids) {
      const t = await e.api('GET', `/v1/timers/${id}`);
      expect(t.body.events.map((ev: { action: string }) => ev.action)).toEqual(['timer.created']);
    }
    expect((await e.api('GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });

  it('answers each created timer with the view a later GET reads from the stored row', async () => {
    // The creation answer is built from what was inserted (only the id and the stored instant come
    // back from Postgres): it must be the stored row, field for field.
    const { body: journey } = await e.api('POST', '/v1/journeys', { contact: { phone: phone(9101), zip: '10001' } });
    const items = [
      smsBody({ contact: { phone: phone(9102), zip: '10001' }, at: '2026-12-08T18:00:00Z', subject: 'appointment-1' }),
      smsBody({ contact: { phone: phone(9103), zip: '90012' }, at: '2026-12-09T15:00:00Z', notAfter: '2026-12-09T20:00:00Z' }), // moved to 08:00 LA
      smsBody({ contact: { phone: phone(9104), zip: '10001' }, at: '2026-12-09T03:00:00Z', policy: 'cancel' }),
      smsBody({ contact: { phone: phone(9101), zip: '10001' }, journeyId: journey.id, at: '2026-12-08T18:00:00Z' }),
      { contact: { phone: phone(9105), zip: '60601' }, channel: 'voice', at: '2026-12-08T19:00:00Z', policy: 'next_slot', purpose: 'informational', voice: { twiml: '<Response><Say>Hi</Say></Response>' } },
    ];
    const res = await batch(items);
    const single = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: phone(9106), zip: '33130' }, at: '2026-12-08T18:00:00Z' }));
    expect(single.status).toBe(201);
    const answers = [...(res.body.results as Array<{ status: number; timer: Record<string, unknown> }>).map((x) => (expect(x.status).toBe(201), x.timer)), single.body as Record<string, unknown>];
    expect(new Set(answers.map((a) => a['status']))).toEqual(new Set(['scheduled', 'cancelled']));
    for (const answer of answers) {
      const { body: stored } = await e.api('GET', `/v1/timers/${String(answer['id'])}`);
      const { events: _events, ...view } = stored as Record<string, unknown>;
      expect(answer).toEqual(view);
    }
  });

  it('gives each item the decision it gets alone through POST /v1/timers', async () => {
    const cases = [
      // Wednesday 2026-12-09 and later: all ahead of the engine's clock.
      { zip: '10001', at: '2026-12-09T18:00:00Z', policy: 'next_slot' },
      { zip: '33130', at: '2026-12-10T01:30:00Z', policy: 'next_slot', purpose: 'marketing' }, // FL 20:30: after its 20:00 end; marketing needs consent
      { zip: '90012', at: '2026-12-09T15:00:00Z', policy: 'next_slot' }, // 07:00 LA: moved to 08:00
      { zip: '78701', at: '2026-12-13T16:00:00Z', policy: 'previous_slot' }, // Sunday 10:00 in Texas
      { zip: '96813', at: '2026-12-09T17:00:00Z', policy: 'cancel' }, // 07:00 Honolulu
      { zip: '60601', at: '2026-12-09T20:00:00Z', policy: 'next_slot', notAfter: '2026-12-09T20:30:00Z' },
    ];
    const body = (i: number, base: number) => {
      const c = cases[i]!;
      return smsBody({ contact: { phone: phone(base + i), zip: c.zip }, at: c.at, policy: c.policy, ...(c.purpose ? { purpose: c.purpose } : {}), ...(c.notAfter ? { notAfter: c.notAfter } : {}) });
    };
    const alone = await Promise.all(cases.map((_, i) => e.api('POST', '/v1/timers', body(i, 2000))));
    const together = await batch(cases.map((_, i) => body(i, 2100)));
    const decisionOf = (t: Record<string, unknown>) => ({ status: t['status'], decision: t['decision'], sendAt: t['sendAt'], localSendAt: t['localSendAt'], reasons: t['reasons'], calendarVersion: t['calendarVersion'] });
    expect(alone.map((a) => a.status)).toEqual(cases.map(() => 201));
    expect(together.body.results.map((x: { timer: Record<string, unknown> }) => decisionOf(x.timer))).toEqual(alone.map((a) => decisionOf(a.body)));
    // Not all the same verdict: the cases cover moves and cancellations.
    expect(new Set(alone.map((a) => `${a.body.status}/${a.body.decision}`)).size).toBeGreaterThanOrEqual(3);
  });

  it('idempotency keys per item: a resent batch replays, another body is refused, a key twice in one batch is created once', async () => {
    const items = [1, 2, 3].map((n) => ({ ...smsBody({ contact: { phone: phone(3000 + n), zip: '10001' }, at: '2026-12-08T18:00:00Z' }), idempotencyKey: `k-${n}` }));
    const first = await batch(items);
    expect(first.body.results.map((x: { status: number }) => x.status)).toEqual([201, 201, 201]);
    const again = await batch(items);
    expect(again.body.results.map((x: { status: number }) => x.status)).toEqual([200, 200, 200]);
    expect(again.body.results.map((x: { timer: { id: string } }) => x.timer.id)).toEqual(first.body.results.map((x: { timer: { id: string } }) => x.timer.id));
    expect(again.body).toMatchObject({ created: 0, replayed: 3, failed: 0 });

    const changed = await batch([{ ...items[0]!, at: '2026-12-08T19:00:00Z' }]);
    expect(changed.body.results[0]).toMatchObject({ status: 422, error: { code: 'IDEMPOTENCY_MISMATCH' } });

    const twice = { ...smsBody({ contact: { phone: phone(3010), zip: '10001' }, at: '2026-12-08T18:00:00Z' }), idempotencyKey: 'k-twice' };
    const dup = await batch([twice, { ...twice, contact: { phone: phone(3011), zip: '10001' } }, twice]);
    expect(dup.body.results.map((x: { status: number }) => x.status)).toEqual([201, 422, 200]);
    expect(dup.body.results[2].timer.id).toBe(dup.body.results[0].timer.id);
    expect((await timersOf({ idempotencyKey: 'k-twice' })).length).toBe(1);
    // The single route shares the keys: it replays a batch item's answer.
    const single = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: phone(3001), zip: '10001' }, at: '2026-12-08T18:00:00Z' }), { 'Idempotency-Key': 'k-1' });
    expect(single.status).toBe(201);
    expect(single.headers.get('idempotent-replayed')).toBe('true');
    expect(single.body.id).toBe(first.body.results[0].timer.id);
    const badKey = await batch([{ ...items[0]!, idempotencyKey: 'has space' }]);
    expect(badKey.body.results[0]).toMatchObject({ status: 400, error: { code: 'INVALID_ARGUMENT', details: [{ path: 'body.items[0].idempotencyKey' }] } });
  });

  it('items of one contact apply in request order: the contact ends with the last zip, each timer judged with its own', async () => {
    const p = phone(4000);
    const res = await batch([
      smsBody({ contact: { phone: p, zip: '10001' }, at: '2026-12-09T14:00:00Z', policy: 'cancel' }), // Wednesday 09:00 NY: allowed
      smsBody({ contact: { phone: p, zip: '90012' }, at: '2026-12-09T14:00:00Z', policy: 'cancel' }), // 06:00 LA: cancelled
    ]);
    expect(res.body.results.map((x: { timer: { status: string } }) => x.timer.status)).toEqual(['scheduled', 'cancelled']);
    const contacts = await e.rt.prisma.contact.findMany({ where: { orgId: e.orgId, phoneE164: p } });
    expect(contacts.map((c) => c.zip)).toEqual(['90012']);
    expect(new Set(res.body.results.map((x: { timer: { contactId: string } }) => x.timer.contactId))).toEqual(new Set([contacts[0]!.id]));
    // By id and by number in one batch: the same contact, both stored.
    const byId = await batch([smsBody({ contact: undefined, contactId: contacts[0]!.id, at: '2026-12-08T20:00:00Z' }), smsBody({ contact: { phone: p, zip: '10001' }, at: '2026-12-08T20:00:00Z' })]);
    expect(byId.body.results.map((x: { status: number }) => x.status)).toEqual([201, 201]);
  });

  it('refuses a malformed envelope as a whole (400) and more than the maximum items; a role without the right gets 403', async () => {
    expect((await batch([])).status).toBe(400);
    expect((await e.api('POST', '/v1/timers/batch', { items: [], extra: 1 })).status).toBe(400);
    expect((await e.api('POST', '/v1/timers/batch', { timers: [] })).status).toBe(400);
    const tooMany = await batch(Array.from({ length: MAX_BATCH_TIMERS + 1 }, () => ({})));
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.code).toBe('INVALID_ARGUMENT');
    const auditor = await createApiKey(e.rt.prisma, { orgId: e.orgId, role: 'auditor' });
    const res = await fetch(`${e.url}/v1/timers/batch`, { method: 'POST', headers: { authorization: `Bearer ${auditor.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ items: [smsBody()] }) });
    expect(res.status).toBe(403);
  });

  it('a full batch of 1,000 items is stored with 1,000 audit entries and a valid chain', async () => {
    const items = Array.from({ length: MAX_BATCH_TIMERS }, (_, i) => ({ ...smsBody({ contact: { phone: `+1312555${String(i).padStart(4, '0')}`, zip: '60601' }, at: '2026-12-08T19:00:00Z' }), idempotencyKey: `full-${i}` }));
    const res = await batch(items);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ created: MAX_BATCH_TIMERS, failed: 0 });
    const ids = res.body.results.map((x: { timer: { id: string } }) => x.timer.id);
    expect(await e.rt.prisma.timer.count({ where: { id: { in: ids } } })).toBe(MAX_BATCH_TIMERS);
    await e.rt.ctx.audit.settle(e.orgId);
    expect(await e.rt.prisma.auditEntry.count({ where: { orgId: e.orgId, timerId: { in: ids }, action: 'timer.created' } })).toBe(MAX_BATCH_TIMERS);
    expect((await e.api('GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });

  it('the documented example is a valid batch', () => {
    const route = apiRoutes({ ctx: e.rt.ctx }).find((r) => r.method === 'post' && r.path === '/v1/timers/batch')!;
    expect(CreateTimersBatchDoc.safeParse(route.example).success).toBe(true);
  });
});

describe('POST /v1/timers under concurrency (judged in batches)', () => {
  it('50 concurrent requests for 50 contacts: 50 timers, each audited, the chain valid', async () => {
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => e.api('POST', '/v1/timers', smsBody({ contact: { phone: phone(5000 + i), zip: '10001' }, at: '2026-12-08T18:00:00Z' }))));
    expect(answers.map((a) => a.status)).toEqual(Array(50).fill(201));
    const ids = answers.map((a) => a.body.id as string);
    expect(new Set(ids).size).toBe(50);
    await e.rt.ctx.audit.settle(e.orgId);
    expect(await e.rt.prisma.auditEntry.count({ where: { timerId: { in: ids }, action: 'timer.created' } })).toBe(50);
    expect((await e.api('GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });

  it('concurrent requests for one new number create one contact and every timer; errors stay with their request', async () => {
    const p = phone(6000);
    const answers = await Promise.all([
      ...Array.from({ length: 8 }, () => e.api('POST', '/v1/timers', smsBody({ contact: { phone: p, zip: '10001' }, at: '2026-12-08T18:00:00Z' }))),
      e.api('POST', '/v1/timers', smsBody({ contact: { phone: p, zip: '10001' }, at: 'not-an-instant' })),
    ]);
    expect(answers.map((a) => a.status)).toEqual([...Array(8).fill(201), 400]);
    expect(answers[8]!.body.error).toMatchObject({ code: 'INVALID_INSTANT', details: [{ path: 'body.at' }] });
    expect(await e.rt.prisma.contact.count({ where: { orgId: e.orgId, phoneE164: p } })).toBe(1);
    expect(new Set(answers.slice(0, 8).map((a) => a.body.contactId)).size).toBe(1);
    expect((await timersOf({ contact: { phoneE164: p } })).length).toBe(8);
  });

  it('a key raced by a single request and a batch item creates one timer; both answer with it', async () => {
    const body = smsBody({ contact: { phone: phone(7000), zip: '10001' }, at: '2026-12-08T18:00:00Z' });
    const [a, b] = await Promise.all([e.api('POST', '/v1/timers', body, { 'Idempotency-Key': 'race-1' }), batch([{ ...body, idempotencyKey: 'race-1' }])]);
    expect([201]).toContain(a.status);
    expect(b.body.results[0].timer.id).toBe(a.body.id);
    expect((await timersOf({ idempotencyKey: 'race-1' })).length).toBe(1);
  });
});
