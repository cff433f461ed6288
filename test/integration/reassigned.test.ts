/**
 * The Reassigned Numbers Database on the real engine, through the HTTP adapter against a stub
 * server (RND_SOURCE=<url>), clock pinned to Tuesday 2026-12-08 12:00 in New York: at fire time a
 * marketing text relying on a consent is checked for the consent's date; `yes` suppresses the
 * number (source `reassigned`) and the timer; `no` sends with the safe harbor in the audit entry;
 * answers are cached (asked once); a send relying on no consent is not asked about; a database
 * that cannot answer holds the send back (retried) rather than guess.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offsetTo, startEngine, until, type TestEngine } from '../helpers/engine.ts';

const NOON_NY = '2026-12-08T17:00:00Z';
const CONSENT_AT = '2024-03-01T12:00:00Z';
const REASSIGNED = '+12125550710';
const KEPT = '+12125550711';
const FLAKY = '+12125550712';

let e: TestEngine;
let stub: Server;
const asked: Array<{ tn: string; date: string }> = [];
let failing = false;

const inMs = (ms: number) => new Date(e.clock.now() + ms).toISOString();
const timer = async (id: string) => (await e.api('GET', `/v1/timers/${id}`)).body;
const settled = (id: string, statuses: string[], ms = 30_000) => until(async () => {
  const t = await timer(id);
  return statuses.includes(t.status) ? t : null;
}, ms, 200);

async function consentedTimer(phone: string, at = inMs(1500)): Promise<{ id: string; contactId: string }> {
  // Without consent the first marketing timer is refused (NO_CONSENT): it creates the contact.
  const first = await e.api('POST', '/v1/timers', { contact: { phone, zip: '10001' }, channel: 'sms', policy: 'cancel', purpose: 'marketing', message: { body: 'Sale' }, at: inMs(3600_000) });
  expect(first.body.reasons.map((r: { code: string }) => r.code)).toEqual(['NO_CONSENT']);
  const contactId = first.body.contactId as string;
  expect((await e.api('POST', `/v1/contacts/${contactId}/consents`, { type: 'express_written', channel: 'sms', purpose: 'marketing', source: 'web form', capturedAt: CONSENT_AT })).status).toBe(201);
  const t = await e.api('POST', '/v1/timers', { contactId, channel: 'sms', policy: 'next_slot', purpose: 'marketing', message: { body: 'Sale' }, at });
  expect(t.body).toMatchObject({ status: 'scheduled', decision: 'send' });
  return { id: t.body.id, contactId };
}

beforeAll(async () => {
  stub = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      const { queries } = JSON.parse(body) as { queries: Array<{ tn: string; date: string }> };
      asked.push(...queries);
      if (failing && queries.some((q) => `+1${q.tn}` === FLAKY)) {
        res.writeHead(503).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ results: queries.map((q) => ({ ...q, result: `+1${q.tn}` === REASSIGNED && q.date <= '2025-01-01' ? 'yes' : 'no' })) }));
    });
  });
  await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
  e = await startEngine({ clockOffsetMs: offsetTo(NOON_NY), env: { RND_SOURCE: `http://127.0.0.1:${(stub.address() as AddressInfo).port}/rnd` } });
}, 60_000);
afterAll(async () => {
  await e?.stop();
  await new Promise((resolve) => stub?.close(resolve));
});

describe('the Reassigned Numbers Database at fire time', () => {
  it('yes: the timer is suppressed and the number suppressed with source reassigned; no: sent with the safe harbor recorded', async () => {
    const gone = await consentedTimer(REASSIGNED);
    const kept = await consentedTimer(KEPT);
    const g = await settled(gone.id, ['suppressed']);
    expect(g.reasons.map((r: { code: string }) => r.code)).toEqual(['REASSIGNED_NUMBER']);
    expect(g.reassigned).toMatchObject({ since: '2024-03-01T00:00:00Z', answer: 'yes', safeHarbor: false });
    const k = await settled(kept.id, ['sent', 'delivered']);
    expect(k.reassigned).toMatchObject({ since: '2024-03-01T00:00:00Z', answer: 'no', cached: false, safeHarbor: true });
    expect(asked).toEqual(expect.arrayContaining([{ tn: '2125550710', date: '2024-03-01' }, { tn: '2125550711', date: '2024-03-01' }]));

    const suppressions = await e.rt.prisma.suppression.findMany({ where: { orgId: e.orgId, phoneE164: REASSIGNED } });
    expect(suppressions).toHaveLength(1);
    expect(suppressions[0]).toMatchObject({ source: 'reassigned', channel: null, liftedAt: null });
    expect(suppressions[0]!.reason).toContain('Reassigned Numbers Database');
    expect(e.emulator.emulator.messages().filter((m) => m.params['To'] === REASSIGNED)).toHaveLength(0);

    await e.rt.ctx.audit.link(e.orgId);
    const suppressedEntry = await e.rt.prisma.auditEntry.findFirst({ where: { timerId: gone.id, action: 'timer.suppressed' } });
    expect(suppressedEntry?.data).toMatchObject({ phase: 'fire', decision: { reassigned: { answer: 'yes' } } });
    const claimed = await e.rt.prisma.auditEntry.findFirst({ where: { timerId: kept.id, action: 'timer.claimed' } });
    expect(claimed?.data).toMatchObject({ decision: { reassigned: { answer: 'no', safeHarbor: true, since: '2024-03-01T00:00:00Z' } } });
  }, 60_000);

  it('answers are cached: a second send on the same consent is not asked about again; a send relying on no consent is not asked about', async () => {
    const before = asked.length;
    const again = await e.api('POST', '/v1/timers', { contactId: (await e.rt.prisma.contact.findFirstOrThrow({ where: { orgId: e.orgId, phoneE164: KEPT } })).id, channel: 'sms', policy: 'next_slot', purpose: 'marketing', message: { body: 'Sale 2' }, at: inMs(1000) });
    const t = await settled(again.body.id, ['sent', 'delivered']);
    expect(t.reassigned).toMatchObject({ answer: 'no', cached: true, safeHarbor: true });
    const info = await e.api('POST', '/v1/timers', { contact: { phone: '+12125550713', zip: '10001' }, channel: 'sms', policy: 'next_slot', purpose: 'informational', message: { body: 'Your order shipped' }, at: inMs(1000) });
    const i = await settled(info.body.id, ['sent', 'delivered']);
    expect(i.reassigned).toBeNull();
    expect(asked.length).toBe(before);
  }, 60_000);

  it('a database that cannot answer holds the send back (retried), never judged on a guess', async () => {
    failing = true;
    const flaky = await consentedTimer(FLAKY, inMs(500));
    await until(() => asked.some((q) => q.tn === '2125550712') || null, 20_000, 100);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await timer(flaky.id)).status).toMatch(/^(queued|scheduled)$/);
    expect(e.emulator.emulator.messages().filter((m) => m.params['To'] === FLAKY)).toHaveLength(0);
    failing = false;
    const t = await settled(flaky.id, ['sent', 'delivered'], 60_000);
    expect(t.reassigned).toMatchObject({ answer: 'no', safeHarbor: true });
  }, 90_000);
});
