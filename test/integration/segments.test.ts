/**
 * SMS segments on the real engine: every timer records its segments (GSM-7 against UCS-2; none for
 * calls; a campaign's timers too), and an org whose send rate counts segments (10DLC, toll-free)
 * has its multi-segment texts paced by their segments: 4 texts of 2 segments at 4 segments/s leave
 * 500 ms apart, where 4 single-segment texts at the same rate leave 250 ms apart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offsetTo, startEngine, until, type TestEngine } from '../helpers/engine.ts';

let e: TestEngine;
const inMs = (ms: number) => new Date(e.clock.now() + ms).toISOString();
const text = (phone: string, body: string, at = inMs(3600_000)) => ({ contact: { phone, zip: '10001' }, channel: 'sms', policy: 'next_slot', purpose: 'informational', message: { body }, at });

beforeAll(async () => {
  e = await startEngine({ clockOffsetMs: offsetTo('2026-12-08T17:00:00Z'), parts: ['pump', 'dispatcher', 'reconciler', 'planner'] });
}, 60_000);
afterAll(async () => {
  await e?.stop();
});

describe('segments', () => {
  it('each timer records its segments: GSM-7 160 / 153, UCS-2 70 / 67, none for a call, the campaign message for its timers', async () => {
    const cases: Array<[string, number]> = [
      ['a'.repeat(160), 1],
      ['a'.repeat(161), 2],
      ['a'.repeat(306), 2],
      ['a'.repeat(307), 3],
      ['€'.repeat(80), 1], // extension characters: two septets each
      ['é'.repeat(70), 1], // é is GSM-7
      ['ą'.repeat(70), 1], // UCS-2
      ['ą'.repeat(71), 2],
      ['😀'.repeat(35), 1], // two UTF-16 units each: 70 units
      ['😀'.repeat(36), 2], // 72 units
    ];
    for (const [k, [body, segments]] of cases.entries()) {
      const t = await e.api('POST', '/v1/timers', text(`+1212555${String(800 + k).padStart(4, '0')}`, body));
      expect(t.status, body.slice(0, 10)).toBe(201);
      expect(t.body.segments, `${body.length} × ${body[0]}`).toBe(segments);
      expect((await e.api('GET', `/v1/timers/${t.body.id}`)).body.segments).toBe(segments);
    }
    const call = await e.api('POST', '/v1/timers', { contact: { phone: '+12125550899', zip: '10001' }, channel: 'voice', policy: 'next_slot', purpose: 'informational', voice: { twiml: '<Response><Say>Hello</Say></Response>' }, at: inMs(3600_000) });
    expect(call.body.segments).toBeNull();

    const campaign = await e.api('POST', '/v1/campaigns', { name: 'long', channel: 'sms', purpose: 'informational', policy: 'next_slot', message: { body: 'b'.repeat(200) }, sendAt: '2026-12-09T10:00', audience: { contacts: [{ phone: '+12125550898', zip: '10001' }] } });
    expect(campaign.status).toBe(201);
    await until(async () => (await e.api('GET', `/v1/campaigns/${campaign.body.id}`)).body.status === 'planned' || null, 60_000, 200);
    expect((await e.rt.prisma.timer.findMany({ where: { campaignId: campaign.body.id }, select: { segments: true } })).map((t) => t.segments)).toEqual([2]);
  }, 90_000);

  it('a send rate in segments paces 2-segment texts at twice the interval of single-segment ones', async () => {
    const pace = async (unit: 'messages' | 'segments', body: string, base: number) => {
      const r = await e.api('PATCH', '/v1/org/settings', { sendRate: { perSecond: 4, perSenderPerSecond: 100, unit } });
      expect(r.body.sendRate).toEqual({ perSecond: 4, perSenderPerSecond: 100, unit });
      const at = inMs(2_000);
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push((await e.api('POST', '/v1/timers', text(`+1212555${base + i}`, body, at))).body.id);
      await until(async () => ((await e.rt.prisma.timer.count({ where: { id: { in: ids }, status: { in: ['sent', 'delivered'] } } })) === 4 ? true : null), 30_000, 200);
      await e.rt.ctx.audit.link(e.orgId);
      const claims = await e.rt.prisma.auditEntry.findMany({ where: { timerId: { in: ids }, action: 'timer.claimed' }, select: { data: true } });
      const slots = claims.map((c) => Date.parse((c.data as { rateSlot: string }).rateSlot)).sort((a, b) => a - b);
      return slots.slice(1).map((s, i) => s - slots[i]!);
    };
    const two = 'c'.repeat(200);
    expect(await pace('messages', two, 9100)).toEqual([250, 250, 250]);
    // The clock moves on between the runs: the org's bucket is free again.
    e.clock.offset += 5_000;
    expect(await pace('segments', two, 9200)).toEqual([500, 500, 500]);
    e.clock.offset += 5_000;
    expect(await pace('segments', 'short', 9300)).toEqual([250, 250, 250]);
  }, 120_000);
});
