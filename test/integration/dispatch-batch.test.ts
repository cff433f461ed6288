/**
 * What batched dispatch could break, on the real Redis and Postgres: many timers due at one
 * instant are judged, claimed and recorded together (src/app/timers/dispatch.ts), and every
 * guarantee of the one-at-a-time path still holds — caps that count each other within a batch,
 * cancellations and suppressions that land after queueing, per-message provider errors, and a
 * STOP or a kill switch that commits while a batch waits for its contacts' locks.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offsetTo, smsBody, startEngine, until, type TestEngine } from '../helpers/engine.ts';

// Tuesday 2026-12-08 12:00 in New York and Miami (17:00Z): inside NY's and FL's windows.
const NOON_ET = '2026-12-08T17:00:00Z';

let e: TestEngine;
let db: pg.Client;
const inMs = (ms: number) => new Date(e.clock.now() + ms).toISOString();
const sentTo = (phone: string) => e.emulator.emulator.messages().filter((m) => m.params['To'] === phone && m.sid !== null);

beforeAll(async () => {
  // One dispatcher with room for big batches (the point of these tests).
  e = await startEngine({ env: { DISPATCH_CONCURRENCY: '100', DISPATCH_BATCH: '100' }, clockOffsetMs: offsetTo(NOON_ET) });
  db = new pg.Client({ connectionString: e.env['DATABASE_URL'] });
  db.on('error', () => {});
  await db.connect();
});
afterAll(async () => {
  await db?.end();
  await e?.stop();
});

async function timers(ids: readonly string[]) {
  return Promise.all(ids.map(async (id) => (await e.api('GET', `/v1/timers/${id}`)).body as { id: string; status: string; sendAt: string | null; reasons: Array<{ code: string }> }));
}

async function settled(ids: readonly string[], done: (t: { status: string; sendAt: string | null }) => boolean, timeoutMs = 20_000) {
  return until(async () => {
    const all = await timers(ids);
    return all.every(done) ? all : null;
  }, timeoutMs, 200);
}

/** The instants at which claims were made, with how many timers each claimed (one instant per batch transaction). */
async function claimBatches(ids: readonly string[]): Promise<number[]> {
  await e.rt.ctx.audit.settle(e.orgId);
  const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM audit_entries WHERE action = 'timer.claimed' AND timer_id = ANY($1::uuid[]) GROUP BY created_at ORDER BY 1 DESC`, [ids]);
  return rows.map((r) => Number(r.n));
}

async function consentingContact(phone: string, zip: string): Promise<string> {
  const j = await e.api('POST', '/v1/journeys', { contact: { phone, zip }, ttl: 7 * 86_400 });
  expect(j.status).toBe(201);
  const c = await e.api('POST', `/v1/contacts/${j.body.contactId}/consents`, { type: 'express_written', channel: 'sms', purpose: 'marketing', source: 'web-form:test', capturedAt: inMs(-86_400_000) });
  expect(c.status).toBe(201);
  return j.body.contactId as string;
}

describe('batched dispatch', () => {
  it('Florida 3 per 24 h: 2 contacts × 5 timers and 20 others due at once — 3 sent per contact, the others all sent, in shared batches', async () => {
    const at = inMs(2500);
    const capped = ['+13055550201', '+13055550202'];
    const contactIds = await Promise.all(capped.map((p) => consentingContact(p, '33101')));
    const cappedIds: string[] = [];
    for (const contactId of contactIds) {
      for (let i = 0; i < 5; i++) {
        const r = await e.api('POST', '/v1/timers', { contactId, channel: 'sms', at, policy: 'next_slot', purpose: 'marketing', message: { body: `Sale ${i}` } });
        expect(r.body).toMatchObject({ status: 'scheduled', decision: 'send' });
        cappedIds.push(r.body.id as string);
      }
    }
    const others = Array.from({ length: 20 }, (_, i) => `+1212555${String(300 + i).padStart(4, '0')}`);
    const otherIds = (await Promise.all(others.map((phone) => e.api('POST', '/v1/timers', smsBody({ contact: { phone, zip: '10001' }, at }))))).map((r) => r.body.id as string);

    const all = await settled([...cappedIds, ...otherIds], (t) => ['sent', 'delivered'].includes(t.status) || (t.status === 'scheduled' && t.sendAt !== at));
    for (const phone of capped) expect(sentTo(phone)).toHaveLength(3);
    for (const phone of others) expect(sentTo(phone)).toHaveLength(1);
    const moved = all.filter((t) => t.status === 'scheduled');
    expect(moved).toHaveLength(4);
    for (const t of moved) expect(t.reasons.map((r) => r.code)).toContain('FREQUENCY_CAP');
    // Batched for real: some transaction claimed several timers at once.
    expect(Math.max(...(await claimBatches([...cappedIds, ...otherIds])))).toBeGreaterThan(1);
  });

  it('timers cancelled or suppressed after they were queued are not sent; the rest of their batch is', async () => {
    const at = inMs(4000);
    const phones = Array.from({ length: 12 }, (_, i) => `+1212555${String(400 + i).padStart(4, '0')}`);
    const ids = (await Promise.all(phones.map((phone) => e.api('POST', '/v1/timers', smsBody({ contact: { phone, zip: '10001' }, at }))))).map((r) => r.body.id as string);
    await until(async () => ((await timers(ids)).every((t) => t.status === 'queued') ? true : null), 10_000);
    for (const id of ids.slice(0, 3)) expect((await e.api('DELETE', `/v1/timers/${id}`)).status).toBe(200);
    for (const phone of phones.slice(3, 5)) expect((await e.api('POST', '/v1/suppressions', { phone, reason: 'asked by phone' })).status).toBe(201);

    const final = await settled(ids, (t) => ['delivered', 'cancelled', 'suppressed'].includes(t.status));
    expect(final.map((t) => t.status)).toEqual([...Array(3).fill('cancelled'), ...Array(2).fill('suppressed'), ...Array(7).fill('delivered')]);
    phones.forEach((phone, i) => expect(sentTo(phone), phone).toHaveLength(i < 5 ? 0 : 1));
  });

  it('a provider error on some messages of a batch fails or suppresses only those', async () => {
    const at = inMs(2500);
    const good = Array.from({ length: 10 }, (_, i) => `+1212555${String(500 + i).padStart(4, '0')}`);
    const bad = { invalid: '+15005550001', unsubscribed: '+15005550004' };
    const body = (phone: string) => smsBody({ contact: { phone, zip: '10001' }, at, purpose: 'informational' });
    const goodIds = (await Promise.all(good.map((p) => e.api('POST', '/v1/timers', body(p))))).map((r) => r.body.id as string);
    const invalid = (await e.api('POST', '/v1/timers', body(bad.invalid))).body.id as string;
    const unsub = (await e.api('POST', '/v1/timers', body(bad.unsubscribed))).body.id as string;

    const final = await settled([...goodIds, invalid, unsub], (t) => ['delivered', 'failed', 'suppressed'].includes(t.status));
    const byId = new Map(final.map((t) => [t.id, t]));
    for (const id of goodIds) expect(byId.get(id)!.status).toBe('delivered');
    expect(byId.get(invalid)!.status).toBe('failed');
    expect(byId.get(unsub)!.status).toBe('suppressed');
    expect(Math.max(...(await claimBatches([...goodIds, invalid, unsub])))).toBeGreaterThan(1);
  });

  it('a STOP and a kill switch that commit while a batch waits for its contacts: both are obeyed', async () => {
    const at = e.clock.now() + 3000;
    const phones = Array.from({ length: 10 }, (_, i) => `+1212555${String(600 + i).padStart(4, '0')}`);
    // The last contact is in zip 10002, which the kill switch will name; the others in 10001.
    const zips = phones.map((_, i) => (i === phones.length - 1 ? '10002' : '10001'));
    const created = await Promise.all(phones.map((phone, i) => e.api('POST', '/v1/timers', smsBody({ contact: { phone, zip: zips[i] }, at: new Date(at).toISOString(), policy: 'next_slot' }))));
    const ids = created.map((r) => r.body.id as string);
    const contacts = created.map((r) => r.body.contactId as string);
    await until(async () => ((await timers(ids)).every((t) => t.status === 'queued') ? true : null), 10_000);

    // Hold the row locks of the contact that will text STOP and of the one in the kill switch's zip:
    // whichever batch holds their timers waits for this transaction (batches may split the ten).
    const first = contacts[0]!;
    const blackedContact = contacts.at(-1)!;
    const stopped = phones[0]!;
    const lock = new pg.Client({ connectionString: e.env['DATABASE_URL'] });
    lock.on('error', () => {});
    await lock.connect();
    try {
      await lock.query('BEGIN');
      await lock.query('SELECT id FROM contacts WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE', [[first, blackedContact]]);
      await until(async () => {
        const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
        return Number(rows[0]!.n) > 0 ? true : null;
      }, 15_000, 50);
      expect(e.emulator.emulator.messages().filter((m) => m.params['To'] === stopped || m.params['To'] === phones.at(-1))).toHaveLength(0);
      // What a STOP and an admin's kill switch write, committed while the batch waits.
      await lock.query(
        `INSERT INTO suppressions (id, org_id, phone_e164, phone_hash, reason, source) SELECT gen_random_uuid(), org_id, phone_e164, phone_hash, 'STOP', 'inbound' FROM contacts WHERE id = $1::uuid`,
        [first],
      );
      await lock.query(`INSERT INTO kill_switches (id, org_id, zips, starts_at, ends_at, reason) VALUES (gen_random_uuid(), $1::uuid, ARRAY['10002'], $2, $3, 'storm')`, [e.orgId, new Date(at - 60_000), new Date(at + 3600_000)]);
      await lock.query('COMMIT');
    } finally {
      await lock.end();
    }

    const final = await settled(ids, (t) => ['delivered', 'suppressed'].includes(t.status) || (t.status === 'scheduled' && t.sendAt !== new Date(at).toISOString()));
    const byPhone = new Map(final.map((t, i) => [phones[i]!, t]));
    expect(byPhone.get(stopped)!.status).toBe('suppressed');
    const blacked = byPhone.get(phones.at(-1)!)!;
    expect(blacked.status).toBe('scheduled');
    expect(blacked.reasons.map((r) => r.code)).toContain('BLACKOUT');
    expect(Date.parse(blacked.sendAt!)).toBeGreaterThanOrEqual(at + 3600_000);
    for (const phone of phones) expect(sentTo(phone), phone).toHaveLength(phone === stopped || phone === phones.at(-1) ? 0 : 1);
    const verify = await e.api('GET', '/v1/audit/verify');
    expect(verify.body).toMatchObject({ ok: true });
  });
});
