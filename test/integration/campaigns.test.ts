/**
 * Campaigns end to end on the real Postgres and Redis, with the engine's clock pinned to Tuesday
 * 2026-12-08 12:00 in New York (17:00Z): an audience file with bad rows, the preview against the
 * real plan, a planner process SIGKILLed mid-planning, cancellation, and local wall times in each
 * recipient's own zone. The campaigns send on Wednesday 2026-12-09, so nothing is sent meanwhile.
 *
 * No planner runs in the engine's process unless a test starts one (`e.start('planner')`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadContactStates } from '../../src/app/campaigns/bulk-state.ts';
import { loadOrgSettings } from '../../src/app/org-settings.ts';
import { loadContactState, loadHistory } from '../../src/app/timers/context.ts';
import type { Stoppable } from '../../src/runtime.ts';
import { offsetTo, startEngine, until, type TestEngine } from '../helpers/engine.ts';
import { alive, captureOutput, stopChild } from '../helpers/processes.ts';

const NOON_NY = '2026-12-08T17:00:00Z';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PART_FIXTURE = fileURLToPath(new URL('../fixtures/part-with-offset.ts', import.meta.url));

let e: TestEngine;

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

beforeAll(async () => {
  // JOB_LOCK 2 s: a job held by a killed planner is taken over quickly.
  e = await startEngine({ clockOffsetMs: offsetTo(NOON_NY), parts: [], env: { JOB_LOCK: '2s' } });
  expect((await e.api('PATCH', '/v1/org/settings', { requireConsentForMarketing: false })).status).toBe(200);
});

afterAll(async () => {
  await e?.stop();
});

function planner(): Stoppable {
  const p = e.start('planner');
  cleanups.push(() => p.stop());
  return p;
}

/** Zips and area codes that go together, across zones. */
const PLACES = [
  { zip: '10001', npa: '212', zone: 'America/New_York' },
  { zip: '90012', npa: '310', zone: 'America/Los_Angeles' },
  { zip: '60601', npa: '312', zone: 'America/Chicago' },
  { zip: '85001', npa: '602', zone: 'America/Phoenix' },
  { zip: '02903', npa: '401', zone: 'America/New_York' },
  { zip: '75201', npa: '214', zone: 'America/Chicago' },
];

/** A distinct, valid NANP number per (block, k). */
function phone(npa: string, block: number, k: number): string {
  return `+1${npa}${200 + block * 10 + Math.floor(k / 10_000)}${String(k % 10_000).padStart(4, '0')}`;
}

const campaignBody = (over: Record<string, unknown> = {}) => ({
  name: 'December reminder',
  channel: 'sms',
  purpose: 'informational',
  policy: 'next_slot',
  message: { body: 'Your appointment is tomorrow' },
  sendAt: '2026-12-09T10:00',
  ...over,
});

async function waitForStatus(id: string, statuses: string[], timeoutMs = 120_000) {
  let last: unknown;
  try {
    return await until(async () => {
      const res = await e.api('GET', `/v1/campaigns/${id}`);
      last = res.body;
      return statuses.includes(res.body?.status) ? res.body : null;
    }, timeoutMs, 200);
  } catch {
    throw new Error(`campaign ${id} not ${statuses.join('/')} within ${timeoutMs} ms: ${JSON.stringify(last).slice(0, 500)}`);
  }
}

async function upload(id: string, lines: Iterable<string>, contentType = 'text/csv') {
  const stream = Readable.toWeb(Readable.from((function* () {
    let buf = '';
    for (const l of lines) {
      buf += `${l}\n`;
      if (buf.length > 64_000) {
        yield buf;
        buf = '';
      }
    }
    if (buf) yield buf;
  })()));
  const res = await fetch(`${e.url}/v1/campaigns/${id}/audience`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${e.key}`, 'content-type': contentType },
    body: stream as unknown as ReadableStream,
    duplex: 'half',
  } as RequestInit);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers asserted by each test
  return { status: res.status, body: (await res.json()) as any };
}

/** A CSV of `n` data rows, with bad rows at known places; returns the lines and the expected bad rows by line. */
function audienceCsv(n: number, block: number): { lines: string[]; bad: Map<number, string>; good: number } {
  const lines = ['phone,zip,externalId,segment'];
  const bad = new Map<number, string>();
  for (let k = 0; k < n; k++) {
    const line = k + 2; // the header is line 1
    const place = PLACES[k % PLACES.length]!;
    if (k % 1000 === 7) {
      lines.push(`12345,${place.zip},,a`);
      bad.set(line, 'INVALID_PHONE');
    } else if (k % 1000 === 99) {
      lines.push(`${phone(place.npa, block, k)},00000,,a`);
      bad.set(line, 'UNKNOWN_ZIP');
    } else if (k % 1000 === 500) {
      lines.push(`${phone(place.npa, block, k)},${place.zip}`); // 2 columns of 4
      bad.set(line, 'INVALID_ROW');
    } else if (k % 1000 === 501) {
      lines.push(`${phone(PLACES[(k - 2) % PLACES.length]!.npa, block, k - 2)},${place.zip},,b`); // the number of row k-2
      bad.set(line, 'DUPLICATE_PHONE');
    } else {
      lines.push(`${phone(place.npa, block, k)},${place.zip},ext-${block}-${k},a`);
    }
  }
  return { lines, bad, good: n - bad.size };
}

async function auditCount(where: { campaignId: string; action: string }): Promise<number> {
  return e.rt.prisma.auditEntry.count({ where: { orgId: e.orgId, ...where } });
}

describe('campaigns', () => {
  it('a 20,000-row CSV with bad rows: counts and line numbers; every good row gets one timer and one audit entry', async () => {
    const created = await e.api('POST', '/v1/campaigns', campaignBody({ audience: { upload: true } }));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ status: 'draft', audience: { kind: 'upload' }, sendAt: '2026-12-09T10:00', sendAtKind: 'local' });
    const id = created.body.id as string;

    const { lines, bad, good } = audienceCsv(20_000, 0);
    const up = await upload(id, lines);
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    expect(up.body).toMatchObject({ status: 'planning', audience: { kind: 'upload', format: 'csv' }, progress: { rows: 20_000, errors: bad.size, chunksTotal: Math.ceil(good / 1000), chunksDone: 0 } });

    // A second upload is refused once planning started.
    expect((await upload(id, ['phone', '+12125550123'])).status).toBe(409);

    // Bad rows, by line, in pages.
    const seen: Array<{ line: number; code: string }> = [];
    let cursor: string | null = null;
    do {
      const page = await e.api('GET', `/v1/campaigns/${id}/errors?limit=7${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      seen.push(...page.body.items);
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(new Map(seen.map((s) => [s.line, s.code]))).toEqual(bad);

    planner();
    const done = await waitForStatus(id, ['planned']);
    expect(done.progress).toMatchObject({ chunksDone: done.progress.chunksTotal, rows: 20_000, planned: good, errors: bad.size });
    expect(done.stats.rows).toBe(good);
    expect(done.stats.decisions).toEqual({ send: good });
    expect(done.stats.statuses).toEqual({ scheduled: good });
    // 10:00 local everywhere.
    expect(done.stats.sendTimes.byLocalHour[10]).toBe(good);
    expect(Object.keys(done.stats.sendTimes.byZone).sort()).toEqual([...new Set(PLACES.map((p) => p.zone))].sort());

    expect(await e.rt.prisma.timer.count({ where: { campaignId: id } })).toBe(good);
    expect(await auditCount({ campaignId: id, action: 'timer.created' })).toBe(good);
    expect(await auditCount({ campaignId: id, action: 'campaign.planned' })).toBe(1);
    // Rows are numbered 0..good-1 (the index among good rows).
    const rows = await e.rt.prisma.$queryRaw<Array<{ min: number; max: number; n: number }>>`
      SELECT min(campaign_row)::int AS min, max(campaign_row)::int AS max, count(DISTINCT campaign_row)::int AS n FROM timers WHERE campaign_id = ${id}::uuid`;
    expect(rows[0]).toEqual({ min: 0, max: good - 1, n: good });

    const list = await e.api('GET', '/v1/campaigns?status=planned');
    expect(list.body.items.map((c: { id: string }) => c.id)).toContain(id);
  }, 180_000);

  it('the preview plans the same as the real plan: identical stats (before and after the contacts exist)', async () => {
    // Something for every branch: a kill switch over Arizona on the day, suppressed numbers, a window, a 07:30 start.
    const ks = await e.api('POST', '/v1/kill-switches', { jurisdictions: ['AZ'], from: '2026-12-09T00:00:00Z', to: '2026-12-10T00:00:00Z', reason: 'test emergency' });
    expect(ks.status, JSON.stringify(ks.body)).toBe(201);
    cleanups.push(() => e.api('DELETE', `/v1/kill-switches/${ks.body.id}`));
    const contacts = Array.from({ length: 1_800 }, (_, k) => {
      const place = PLACES[k % PLACES.length]!;
      // Every 7th contact's area code is another place's: two states, two zones.
      const npa = k % 7 === 0 ? PLACES[(k + 1) % PLACES.length]!.npa : place.npa;
      return { phone: phone(npa, 3, k), zip: place.zip };
    });
    const suppressed = contacts.filter((_, k) => k % 50 === 3).map((c) => c.phone);
    expect((await e.api('POST', '/v1/suppressions', { entries: suppressed.map((p) => ({ phone: p, reason: 'test' })) })).status).toBe(201);
    const body = campaignBody({ name: 'preview parity', sendAt: '2026-12-09T07:30', window: { start: '09:00', end: '18:00' }, audience: { contacts } });

    planner();
    const preview = await e.api('POST', '/v1/campaigns', { ...body, preview: true });
    expect(preview.status, JSON.stringify(preview.body)).toBe(201);
    const previewed = await waitForStatus(preview.body.id, ['planned']);

    const real = await e.api('POST', '/v1/campaigns', body);
    expect(real.status).toBe(201);
    const planned = await waitForStatus(real.body.id, ['planned']);

    const again = await e.api('POST', `/v1/campaigns/${real.body.id}/preview`);
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body).toMatchObject({ preview: true, audience: { kind: 'preview', previewOf: real.body.id } });
    const repreviewed = await waitForStatus(again.body.id, ['planned']);

    expect(previewed.stats).toEqual(planned.stats);
    expect(repreviewed.stats).toEqual(planned.stats);
    expect(planned.stats.rows).toBe(contacts.length);
    expect(planned.stats.statuses.suppressed).toBe(suppressed.length);
    expect(planned.stats.reasons).toMatchObject({ SUPPRESSED: suppressed.length, BLACKOUT: expect.any(Number), REQUEST_WINDOW: expect.any(Number) });
    expect(planned.stats.decisions.reschedule).toBeGreaterThan(0);

    // The previews wrote nothing but their own stats.
    for (const p of [preview.body.id, again.body.id]) {
      expect(await e.rt.prisma.timer.count({ where: { campaignId: p } })).toBe(0);
      expect(await e.rt.prisma.auditEntry.count({ where: { campaignId: p } })).toBe(0);
    }
    expect(await e.rt.prisma.timer.count({ where: { campaignId: real.body.id } })).toBe(contacts.length);
  }, 480_000);

  it('a file previewed first, then launched: the real campaign plans the same audience with the same stats, once', async () => {
    planner();
    const csv = ['phone,zip', ...Array.from({ length: 300 }, (_, k) => `${phone(PLACES[k % PLACES.length]!.npa, 5, k)},${PLACES[k % PLACES.length]!.zip}`), 'not-a-phone,10001', ''].join('\n');
    const draft = await e.api('POST', '/v1/campaigns', campaignBody({ name: 'launch me', audience: { upload: true }, preview: true }));
    expect(draft.status, JSON.stringify(draft.body)).toBe(201);
    // Not planned yet (a draft still waiting for its file): nothing to launch.
    const early = await e.api('POST', `/v1/campaigns/${draft.body.id}/launch`);
    expect(early.status).toBe(409);
    expect(early.body.error.message).toMatch(/the preview is draft/);
    expect((await e.api('PUT', `/v1/campaigns/${draft.body.id}/audience`, csv, { 'content-type': 'text/csv' })).status).toBe(200);
    const previewed = await waitForStatus(draft.body.id, ['planned']);

    const launched = await e.api('POST', `/v1/campaigns/${draft.body.id}/launch`);
    expect(launched.status, JSON.stringify(launched.body)).toBe(201);
    expect(launched.body).toMatchObject({ name: 'launch me', preview: false, audience: { kind: 'launch', previewOf: draft.body.id } });
    const real = await waitForStatus(launched.body.id, ['planned']);
    expect(real.stats).toEqual(previewed.stats);
    expect(real.stats.rows).toBe(300);
    expect(real.progress.errors).toBe(1);
    expect((await e.api('GET', `/v1/campaigns/${launched.body.id}/errors`)).body.items).toEqual([expect.objectContaining({ line: 302, code: 'INVALID_PHONE' })]);
    expect(await e.rt.prisma.timer.count({ where: { campaignId: launched.body.id } })).toBe(300);
    await e.rt.ctx.audit.settle(e.orgId);
    expect(await e.rt.prisma.auditEntry.count({ where: { campaignId: launched.body.id, action: 'campaign.created' } })).toBe(1);

    // Once only; and a real campaign is not a preview to launch.
    const twice = await e.api('POST', `/v1/campaigns/${draft.body.id}/launch`);
    expect(twice.status).toBe(409);
    expect(twice.body.error.message).toContain(launched.body.id);
    expect((await e.api('POST', `/v1/campaigns/${launched.body.id}/launch`)).status).toBe(409);
  }, 120_000);

  it('a planner process SIGKILLed mid-planning: another one resumes, with no duplicate timer or audit entry', async () => {
    const created = await e.api('POST', '/v1/campaigns', campaignBody({ name: 'crash', audience: { upload: true } }));
    const id = created.body.id as string;
    const { lines, bad, good } = audienceCsv(10_000, 1);
    expect((await upload(id, lines)).status).toBe(200);

    const spawnPlanner = (): { child: ChildProcess; output: () => string } => {
      const child = spawn(process.execPath, ['--import', 'tsx', PART_FIXTURE, 'planner'], {
        cwd: ROOT,
        env: { ...process.env, ...e.env, TEST_CLOCK_OFFSET_MS: String(e.clock.offset), PLAN_CONCURRENCY: '2', LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      cleanups.push(() => stopChild(child));
      return { child, output: captureOutput(child) };
    };

    const first = spawnPlanner();
    const atKill = await until(async () => {
      if (!alive(first.child)) throw new Error(`the planner exited early (code ${first.child.exitCode}): ${first.output()}`);
      const c = (await e.api('GET', `/v1/campaigns/${id}`)).body;
      return c.progress.chunksDone >= 3 ? c : null;
    }, 120_000, 20);
    first.child.kill('SIGKILL');
    if (alive(first.child)) await once(first.child, 'exit');
    expect(atKill.progress.chunksDone).toBeLessThan(atKill.progress.chunksTotal);
    const stranded = await e.rt.prisma.campaignChunk.count({ where: { campaignId: id, done: false } });
    expect(stranded).toBeGreaterThan(0);

    const second = spawnPlanner();
    const done = await waitForStatus(id, ['planned'], 180_000);
    expect(alive(second.child)).toBe(true);
    expect(done.progress).toMatchObject({ chunksDone: done.progress.chunksTotal, planned: good, errors: bad.size });

    expect(await e.rt.prisma.timer.count({ where: { campaignId: id } })).toBe(good);
    expect(await auditCount({ campaignId: id, action: 'timer.created' })).toBe(good);
    const dup = await e.rt.prisma.$queryRaw<Array<{ n: number }>>`
      SELECT count(*)::int AS n FROM (SELECT timer_id FROM audit_entries WHERE campaign_id = ${id}::uuid AND action = 'timer.created' GROUP BY timer_id HAVING count(*) > 1) d`;
    expect(dup[0]!.n).toBe(0);
    const verify = await e.api('GET', '/v1/audit/verify');
    expect(verify.body).toMatchObject({ ok: true });
  }, 300_000);

  it('cancel: every pending timer is cancelled (audited), and chunks not planned yet are skipped', async () => {
    // A planned campaign.
    const contacts = Array.from({ length: 1_200 }, (_, k) => ({ phone: phone(PLACES[k % PLACES.length]!.npa, 4, k), zip: PLACES[k % PLACES.length]!.zip }));
    const p = planner();
    const created = await e.api('POST', '/v1/campaigns', campaignBody({ name: 'to cancel', audience: { contacts } }));
    const planned = await waitForStatus(created.body.id, ['planned']);
    expect(planned.stats.statuses).toEqual({ scheduled: contacts.length });
    const cancel = await e.api('POST', `/v1/campaigns/${created.body.id}/cancel`);
    expect(cancel.status).toBe(200);
    expect(cancel.body).toMatchObject({ status: 'cancelled', cancelledTimers: contacts.length });
    expect(await e.rt.prisma.timer.count({ where: { campaignId: created.body.id, status: 'cancelled' } })).toBe(contacts.length);
    expect(await auditCount({ campaignId: created.body.id, action: 'timer.cancelled' })).toBe(contacts.length);
    expect(await auditCount({ campaignId: created.body.id, action: 'campaign.cancelled' })).toBe(1);
    const one = await e.rt.prisma.auditEntry.findFirst({ where: { campaignId: created.body.id, action: 'timer.cancelled' } });
    expect(one?.reasonCodes).toEqual(['CANCELLED_BY_REQUEST']);
    // Again: nothing more to cancel.
    expect((await e.api('POST', `/v1/campaigns/${created.body.id}/cancel`)).body).toMatchObject({ status: 'cancelled', cancelledTimers: 0 });

    // Cancelled before any planner took its chunks: they are all skipped, no timer at all.
    await p.stop();
    const later = await e.api('POST', '/v1/campaigns', campaignBody({ name: 'cancelled early', audience: { upload: true } }));
    const { lines } = audienceCsv(3_000, 5);
    expect((await upload(later.body.id, lines)).status).toBe(200);
    expect((await e.api('POST', `/v1/campaigns/${later.body.id}/cancel`)).body).toMatchObject({ status: 'cancelled', cancelledTimers: 0 });
    planner();
    const skipped = await until(async () => {
      const c = (await e.api('GET', `/v1/campaigns/${later.body.id}`)).body;
      return c.progress.chunksSkipped === c.progress.chunksTotal ? c : null;
    }, 60_000, 200);
    expect(skipped.progress.chunksDone).toBe(0);
    expect(await e.rt.prisma.timer.count({ where: { campaignId: later.body.id } })).toBe(0);

    // Cancelled mid-planning: whatever was planned is cancelled, the rest skipped, nothing left pending.
    const mid = await e.api('POST', '/v1/campaigns', campaignBody({ name: 'cancelled mid-way', audience: { upload: true } }));
    expect((await upload(mid.body.id, audienceCsv(6_000, 6).lines)).status).toBe(200);
    await until(async () => (await e.api('GET', `/v1/campaigns/${mid.body.id}`)).body.progress.chunksDone >= 1, 60_000, 20);
    const midCancel = await e.api('POST', `/v1/campaigns/${mid.body.id}/cancel`);
    expect(midCancel.body.status).toBe('cancelled');
    const settled = await until(async () => {
      const c = (await e.api('GET', `/v1/campaigns/${mid.body.id}`)).body;
      return c.progress.chunksDone + c.progress.chunksSkipped === c.progress.chunksTotal ? c : null;
    }, 60_000, 200);
    expect(await e.rt.prisma.timer.count({ where: { campaignId: mid.body.id, status: { in: ['scheduled', 'queued'] } } })).toBe(0);
    expect(await e.rt.prisma.timer.count({ where: { campaignId: mid.body.id } })).toBe(settled.stats.rows);
  }, 180_000);

  it('a local wall time lands at that local time in each recipient\u2019s own zone; an instant is the same for everyone', async () => {
    planner();
    const ny = { phone: phone('212', 7, 1), zip: '10001' };
    const la = { phone: phone('310', 7, 2), zip: '90012' };
    const local = await e.api('POST', '/v1/campaigns', campaignBody({ name: 'local 10:00', sendAt: '2026-12-09T10:00', audience: { contacts: [ny, la] } }));
    const instant = await e.api('POST', '/v1/campaigns', campaignBody({ name: 'instant', sendAt: '2026-12-09T18:00:00Z', audience: { contacts: [ny, la] } }));
    // Now (noon in New York, 09:00 in Los Angeles): near-term timers go straight to the queue.
    const now = await e.api('POST', '/v1/campaigns', campaignBody({ name: 'now', sendAt: NOON_NY, audience: { contacts: [ny, la] } }));
    for (const c of [local, instant, now]) expect(c.status, JSON.stringify(c.body)).toBe(201);
    const byPhone = async (campaignId: string) => {
      await waitForStatus(campaignId, ['planned']);
      const timers = await e.rt.prisma.timer.findMany({ where: { campaignId }, include: { contact: { select: { phoneE164: true } } } });
      return new Map(timers.map((t) => [t.contact.phoneE164, t]));
    };

    const l = await byPhone(local.body.id);
    expect(l.get(ny.phone)!.sendAt!.toISOString()).toBe('2026-12-09T15:00:00.000Z'); // 10:00 EST
    expect(l.get(la.phone)!.sendAt!.toISOString()).toBe('2026-12-09T18:00:00.000Z'); // 10:00 PST
    const view = await e.api('GET', `/v1/timers/${l.get(la.phone)!.id}`);
    expect(view.body.localSendAt).toBe('2026-12-09T10:00:00-08:00');
    const stats = (await e.api('GET', `/v1/campaigns/${local.body.id}`)).body.stats;
    expect(stats.sendTimes.byZoneLocalHour['America/New_York'][10]).toBe(1);
    expect(stats.sendTimes.byZoneLocalHour['America/Los_Angeles'][10]).toBe(1);
    // The same local hour is two real hours: 15:00Z in New York, 18:00Z in Los Angeles.
    expect(stats.sendTimes.byInstantHour).toEqual({ '2026-12-09T15:00Z': 1, '2026-12-09T18:00Z': 1 });

    const i = await byPhone(instant.body.id);
    expect(i.get(ny.phone)!.sendAt!.toISOString()).toBe('2026-12-09T18:00:00.000Z');
    expect(i.get(la.phone)!.sendAt!.toISOString()).toBe('2026-12-09T18:00:00.000Z');

    const n = await byPhone(now.body.id);
    expect(n.get(ny.phone)!.status).toBe('queued');
    // Los Angeles at 09:00 is inside the federal 08:00–21:00 window too.
    expect(n.get(la.phone)!.status).toBe('queued');
  }, 60_000);

  it('the bulk state loader answers as loadContactState + loadHistory, contact by contact', async () => {
    const withState = { phone: phone('212', 8, 1), zip: '10001' };
    const plain = { phone: phone('212', 8, 2), zip: '10001' };
    const t = await e.api('POST', '/v1/timers', { contact: withState, channel: 'sms', at: NOON_NY, policy: 'next_slot', purpose: 'informational', message: { body: 'x' } });
    expect(t.status).toBe(201);
    const contactId = t.body.contactId as string;
    // History: a send counted from what was sent.
    await e.rt.prisma.timer.update({ where: { id: t.body.id }, data: { status: 'sent', sentAt: new Date(e.clock.now() - 3600_000) } });
    expect((await e.api('POST', `/v1/contacts/${contactId}/consents`, { type: 'express_written', channel: 'sms', purpose: 'marketing', source: 'web form', capturedAt: '2026-11-01T00:00:00Z' })).status).toBe(201);
    expect((await e.api('POST', '/v1/suppressions', { phone: withState.phone, reason: 'asked', channel: 'voice' })).status).toBe(201);
    await e.api('PATCH', '/v1/org/settings', { requireConsentForMarketing: true });
    cleanups.push(() => e.api('PATCH', '/v1/org/settings', { requireConsentForMarketing: false }));

    const now = e.clock.now();
    const settings = await loadOrgSettings(e.rt.prisma, e.orgId, now + 10_000); // past the settings cache
    const list = [
      { contactId, phoneE164: withState.phone },
      { contactId: null, phoneE164: plain.phone },
    ];
    const bulk = await loadContactStates(e.rt.prisma, e.orgId, list, settings, now, 'enforce');
    const one = await loadContactState(e.rt.prisma, { orgId: e.orgId, contactId, phoneE164: withState.phone, journeyId: null }, settings, now, 'enforce');
    expect(bulk[0]!.state).toEqual(one);
    expect(bulk[0]!.history).toEqual(await loadHistory(e.rt.prisma, contactId, now));
    expect(bulk[0]!.state.suppressions).toHaveLength(1);
    expect(bulk[0]!.state.consent?.records).toHaveLength(1);
    expect(bulk[0]!.history).toHaveLength(1);
    expect(bulk[1]!.state.suppressions).toHaveLength(0);
    expect(bulk[1]!.history).toHaveLength(0);
  });

  it('rejects what it cannot plan: a bad sendAt, a missing message, an unknown list, a second upload', async () => {
    const bad = await e.api('POST', '/v1/campaigns', campaignBody({ sendAt: '2026-12-09 10:00', audience: { upload: true } }));
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('body.sendAt');
    expect((await e.api('POST', '/v1/campaigns', campaignBody({ message: undefined, audience: { upload: true } }))).status).toBe(400);
    expect((await e.api('POST', '/v1/campaigns', campaignBody({ audience: { contactListId: '00000000-0000-4000-8000-000000000000' } }))).status).toBe(404);
    const inline = await e.api('POST', '/v1/campaigns', campaignBody({ audience: { contacts: [{ phone: '12345' }] } }));
    expect(inline.status).toBe(201);
    expect(inline.body.progress).toMatchObject({ rows: 1, errors: 1, chunksTotal: 0 });
    expect(inline.body.status).toBe('planned');
    expect((await upload(inline.body.id, ['phone', '+12125550123'])).status).toBe(409);
    // JSONL, picked by Content-Type.
    const j = await e.api('POST', '/v1/campaigns', campaignBody({ audience: { upload: true }, preview: true }));
    const up = await upload(j.body.id, ['{"phone":"+12125550177","zip":"10001"}', 'not json', '', '{"phone":"+12125550178","zip":"1234"}'], 'application/x-ndjson');
    expect(up.status).toBe(200);
    expect(up.body.progress).toMatchObject({ rows: 3, errors: 2 });
    const errs = await e.api('GET', `/v1/campaigns/${j.body.id}/errors`);
    expect(errs.body.items).toEqual([
      { line: 2, code: 'INVALID_ROW', message: 'not valid JSON' },
      { line: 4, code: 'INVALID_ZIP', message: expect.any(String) },
    ]);
  });
});
