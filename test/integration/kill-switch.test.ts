/**
 * Kill switches on the real engine: switching Louisiana off for a period re-judges its pending
 * timers at once under their own policy (next_slot → after the period, previous_slot → before it,
 * cancel → cancelled; reason BLACKOUT, each audited), leaves New York alone, applies to new timers
 * while live, and stops applying once lifted. Validation, admin only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/adapters/auth/api-keys.ts';
import { offsetTo, smsBody, startEngine, type TestEngine } from '../helpers/engine.ts';

// Tuesday 2026-12-08 11:00 in New Orleans, 12:00 in New York (17:00Z).
const NOW = '2026-12-08T17:00:00Z';
const FROM = '2026-12-08T18:00:00.000Z'; // 12:00 CST
const TO = '2026-12-09T00:00:00.000Z'; // 18:00 CST

let e: TestEngine;
const timer = async (id: string) => (await e.api('GET', `/v1/timers/${id}`)).body;
const codes = (t: { reasons: Array<{ code: string }> }) => t.reasons.map((r) => r.code);
const la = (phone: string, over: Record<string, unknown>) => smsBody({ contact: { phone, zip: '70112' }, ...over });

beforeAll(async () => {
  e = await startEngine({ clockOffsetMs: offsetTo(NOW) });
});
afterAll(async () => {
  await e?.stop();
});

describe('a kill switch on Louisiana', () => {
  it('moves or cancels the pending LA timers in the period, leaves NY alone, applies to new timers, and stops when lifted', async () => {
    const next = await e.api('POST', '/v1/timers', la('+15045550501', { at: '2026-12-08T20:00:00Z', policy: 'next_slot' }));
    const cancel = await e.api('POST', '/v1/timers', la('+15045550502', { at: '2026-12-08T20:00:00Z', policy: 'cancel' }));
    const prev = await e.api('POST', '/v1/timers', la('+15045550503', { at: '2026-12-08T22:00:00Z', policy: 'previous_slot' }));
    const before = await e.api('POST', '/v1/timers', la('+15045550504', { at: '2026-12-08T17:30:00Z', policy: 'next_slot' }));
    const ny = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: '+12125550505', zip: '10001' }, at: '2026-12-08T20:00:00Z', policy: 'next_slot' }));
    for (const t of [next, cancel, prev, before, ny]) expect(t.body).toMatchObject({ status: 'scheduled', decision: 'send' });

    const sw = await e.api('POST', '/v1/kill-switches', { jurisdictions: ['LA'], from: FROM, to: TO, reason: 'Hurricane emergency declaration' });
    expect(sw.status).toBe(201);
    expect(sw.body).toMatchObject({ jurisdictions: ['LA'], zips: [], from: FROM, to: TO, active: true, liftedAt: null, affected: { rescheduled: 2, cancelled: 1, suppressed: 0 } });

    const moved = await timer(next.body.id);
    expect(moved).toMatchObject({ status: 'scheduled', decision: 'reschedule', sendAt: TO });
    expect(codes(moved)).toContain('BLACKOUT');
    expect(moved.events[moved.events.length - 1]).toMatchObject({ action: 'timer.rescheduled', reasonCodes: expect.arrayContaining(['BLACKOUT']), data: { phase: 'kill_switch', killSwitchId: sw.body.id } });

    const cancelled = await timer(cancel.body.id);
    expect(cancelled.status).toBe('cancelled');
    expect(codes(cancelled)).toContain('BLACKOUT');
    expect(cancelled.events[cancelled.events.length - 1]).toMatchObject({ action: 'timer.cancelled', reasonCodes: ['BLACKOUT'] });

    // previous_slot: the latest allowed instant before the period (still after now).
    const earlier = await timer(prev.body.id);
    expect(earlier).toMatchObject({ status: 'scheduled', decision: 'reschedule' });
    expect(Date.parse(earlier.sendAt)).toBeLessThan(Date.parse(FROM));
    expect(Date.parse(earlier.sendAt)).toBeGreaterThan(Date.parse(FROM) - 120_000);
    expect(earlier.events[earlier.events.length - 1]).toMatchObject({ action: 'timer.rescheduled', reasonCodes: expect.arrayContaining(['BLACKOUT']) });

    // Outside the period, or outside Louisiana: untouched.
    for (const id of [before.body.id, ny.body.id]) {
      const t = await timer(id);
      expect(t.status).toMatch(/^(scheduled|queued)$/);
      expect(t.events.map((ev: { action: string }) => ev.action)).toEqual(['timer.created']);
    }

    const audit = await e.api('GET', '/v1/audit?action=killswitch.created');
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0].data).toMatchObject({ killSwitchId: sw.body.id, jurisdictions: ['LA'], from: FROM, to: TO });

    // A new LA timer during the period moves past it; a zip in another state is not covered.
    const during = await e.api('POST', '/v1/timers', la('+15045550506', { at: '2026-12-08T19:00:00Z', policy: 'next_slot' }));
    expect(during.body).toMatchObject({ status: 'scheduled', decision: 'reschedule', sendAt: TO });
    expect(codes(during.body)).toContain('BLACKOUT');
    const fine = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: '+12125550507', zip: '10001' }, at: '2026-12-08T19:00:00Z' }));
    expect(fine.body).toMatchObject({ decision: 'send', sendAt: '2026-12-08T19:00:00.000Z' });

    const list = await e.api('GET', '/v1/kill-switches?active=true');
    expect(list.body.items.map((k: { id: string }) => k.id)).toEqual([sw.body.id]);

    const lifted = await e.api('DELETE', `/v1/kill-switches/${sw.body.id}`);
    expect(lifted.status).toBe(200);
    expect(lifted.body).toMatchObject({ id: sw.body.id, active: false });
    expect(lifted.body.liftedAt).not.toBeNull();
    expect((await e.api('DELETE', `/v1/kill-switches/${sw.body.id}`)).status).toBe(200);
    expect((await e.api('GET', '/v1/kill-switches?active=true')).body.items).toEqual([]);
    expect((await e.api('GET', '/v1/kill-switches')).body.items).toHaveLength(1);
    expect((await e.api('GET', '/v1/audit?action=killswitch.lifted')).body.items).toHaveLength(1);

    const after = await e.api('POST', '/v1/timers', la('+15045550508', { at: '2026-12-08T19:00:00Z', policy: 'next_slot' }));
    expect(after.body).toMatchObject({ status: 'scheduled', decision: 'send', sendAt: '2026-12-08T19:00:00.000Z' });
    expect((await e.api('GET', '/v1/audit/verify')).body.ok).toBe(true);
  });

  it('by zip: only that zip; "US" covers everyone', async () => {
    const inZip = await e.api('POST', '/v1/timers', la('+15045550511', { at: '2026-12-10T20:00:00Z', policy: 'cancel' }));
    const otherZip = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: '+12255550512', zip: '70802' }, at: '2026-12-10T20:00:00Z', policy: 'cancel' }));
    const sw = await e.api('POST', '/v1/kill-switches', { zips: ['70112'], from: '2026-12-10T19:00:00Z', to: '2026-12-10T21:00:00Z', reason: 'flooding' });
    expect(sw.body.affected).toEqual({ rescheduled: 0, cancelled: 1, suppressed: 0 });
    expect((await timer(inZip.body.id)).status).toBe('cancelled');
    expect((await timer(otherZip.body.id)).status).toBe('scheduled');

    const all = await e.api('POST', '/v1/kill-switches', { jurisdictions: ['US'], from: '2026-12-10T19:30:00Z', to: '2026-12-10T20:30:00Z', reason: 'carrier outage' });
    expect(all.body.affected).toEqual({ rescheduled: 0, cancelled: 1, suppressed: 0 });
    expect((await timer(otherZip.body.id)).status).toBe('cancelled');
    for (const k of [sw.body.id, all.body.id]) await e.api('DELETE', `/v1/kill-switches/${k}`);
  });

  it('works through many pending timers in pages', async () => {
    const first = await e.api('POST', '/v1/timers', la('+15045550521', { at: '2026-12-14T20:00:00Z', policy: 'next_slot' }));
    const row = await e.rt.prisma.timer.findUniqueOrThrow({ where: { id: first.body.id } });
    const { id: _id, createdAt: _c, updatedAt: _u, idempotencyKey: _k, ...copy } = row;
    await e.rt.prisma.timer.createMany({ data: Array.from({ length: 450 }, () => ({ ...copy, payload: copy.payload as object, decision: copy.decision as object })) });
    const sw = await e.api('POST', '/v1/kill-switches', { jurisdictions: ['LA'], from: '2026-12-14T19:00:00Z', to: '2026-12-14T21:00:00Z', reason: 'storm' });
    expect(sw.status).toBe(201);
    expect(sw.body.affected).toEqual({ rescheduled: 451, cancelled: 0, suppressed: 0 });
    expect(await e.rt.prisma.timer.count({ where: { contactId: row.contactId, sendAt: new Date('2026-12-14T21:00:00Z'), status: 'scheduled' } })).toBe(451);
    expect((await e.api('GET', `/v1/audit?action=timer.rescheduled&contactId=${row.contactId}&limit=1000`)).body.items).toHaveLength(451);
    expect((await e.api('GET', '/v1/audit/verify')).body.ok).toBe(true);
    await e.api('DELETE', `/v1/kill-switches/${sw.body.id}`);
  });

  it('validates the body and is for admins only', async () => {
    const ok = { jurisdictions: ['LA'], from: '2026-12-11T18:00:00Z', to: '2026-12-11T20:00:00Z', reason: 'drill' };
    const bad = async (body: unknown) => (await e.api('POST', '/v1/kill-switches', body)).status;
    expect(await bad({ ...ok, jurisdictions: ['XX'] })).toBe(400);
    expect(await bad({ ...ok, jurisdictions: ['la'] })).toBe(400);
    expect(await bad({ from: ok.from, to: ok.to, reason: ok.reason })).toBe(400);
    expect(await bad({ ...ok, jurisdictions: [] })).toBe(400);
    expect(await bad({ ...ok, zips: ['7011'] })).toBe(400);
    expect(await bad({ ...ok, to: ok.from })).toBe(400);
    expect(await bad({ ...ok, from: '2026-12-01T00:00:00Z', to: '2026-12-02T00:00:00Z' })).toBe(400);
    expect(await bad({ ...ok, reason: undefined })).toBe(400);
    expect((await e.api('DELETE', '/v1/kill-switches/00000000-0000-4000-8000-000000000000')).status).toBe(404);

    for (const role of ['ops', 'journey', 'auditor'] as const) {
      const { key } = await createApiKey(e.rt.prisma, { orgId: e.orgId, role });
      const res = await fetch(`${e.url}/v1/kill-switches`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(ok) });
      expect(res.status).toBe(403);
      expect((await fetch(`${e.url}/v1/kill-switches`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(403);
    }
    const other = await createApiKey(e.rt.prisma, { orgName: `other-${e.prefix}`, role: 'admin' });
    const mine = await e.api('POST', '/v1/kill-switches', ok);
    expect(mine.status).toBe(201);
    expect((await fetch(`${e.url}/v1/kill-switches/${mine.body.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${other.key}` } })).status).toBe(404);
    await e.api('DELETE', `/v1/kill-switches/${mine.body.id}`);
  });
});
