/**
 * The console in a real browser (headless Chromium through playwright-core; Debian's `chromium`
 * package, which .ci/run installs when it is missing) against the real engine on Redis and
 * Postgres, its clock at Tuesday 2026-12-08 12:00 in New York:
 *
 * - each role signs in and sees only what its key may call (the API's matrix);
 * - a campaign from a CSV file: preview, the charts' numbers equal to the API's stats, bad rows by
 *   line, launch, live progress to planned, cancel after a confirmation;
 * - a timer's explanation page; an audit export download; a write without a CSRF token refused;
 * - a tampered audit row shown as the chain's first break.
 *
 * Every page is photographed into test-results/console/ (the README shows three of them).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/adapters/auth/api-keys.ts';
import { offsetTo, startEngine, until, type TestEngine } from '../helpers/engine.ts';

const SHOTS = fileURLToPath(new URL('../../test-results/console/', import.meta.url));
const CHROMIUM = process.env['CHROMIUM_PATH'] || '/usr/bin/chromium';

let e: TestEngine;
let browser: Browser;
const keys: Record<string, string> = {};

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  e = await startEngine({ clockOffsetMs: offsetTo('2026-12-08T17:00:00Z'), parts: ['pump', 'dispatcher', 'reconciler', 'planner'] });
  expect((await e.api('PATCH', '/v1/org/settings', { requireConsentForMarketing: false })).status).toBe(200);
  keys['admin'] = e.key;
  for (const role of ['ops', 'auditor', 'journey'] as const) keys[role] = (await createApiKey(e.rt.prisma, { orgId: e.orgId, role })).key;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await e?.stop();
});

async function signIn(role: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  await page.goto(`${e.url}/console`);
  expect(new URL(page.url()).pathname).toBe('/console/sign-in');
  await page.getByLabel('API key').fill(keys[role]!);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/console/sign-in'));
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
/** Every visible form control has a label (its own <label> or aria-label): forms are usable by screen readers. */
async function expectLabelled(page: Page): Promise<void> {
  const unlabelled = await page.locator('input:not([type=hidden]), select, textarea').evaluateAll((els) =>
    els.filter((el) => !((el as unknown as { labels: { length: number } | null }).labels?.length || el.getAttribute('aria-label'))).map((el) => el.outerHTML.slice(0, 80)),
  );
  expect(unlabelled, page.url()).toEqual([]);
}
const navOf = (page: Page) => page.locator('nav[aria-label="Sections"] a').allTextContents();
const barsOf = async (page: Page, chart: string) =>
  page.locator(`#${chart} g.bar`).evaluateAll((gs) => gs.map((g) => [g.getAttribute('data-label')!, Number(g.getAttribute('data-value'))] as const));

describe('console', () => {
  it('signs in with each role and shows only what that role may do', async () => {
    const anon = await browser.newPage();
    await anon.goto(`${e.url}/console/sign-in`);
    await shot(anon, 'sign-in');
    await anon.getByLabel('API key').fill('tcpa_not_a_real_key');
    await anon.getByRole('button', { name: 'Sign in' }).click();
    await expect(anon.getByRole('alert').textContent()).resolves.toContain('not valid');
    await anon.close();

    const expected: Record<string, string[]> = {
      admin: ['Campaigns', 'Timers', 'Audit log', 'Compliance', 'Queues'],
      ops: ['Campaigns', 'Timers', 'Compliance'],
      auditor: ['Campaigns', 'Timers', 'Audit log', 'Compliance'],
      journey: ['Timers'],
    };
    for (const [role, sections] of Object.entries(expected)) {
      const page = await signIn(role);
      expect(await navOf(page), role).toEqual(sections);
      expect(await page.locator('[data-role]').textContent()).toBe(role);
      // A section it does not see is refused when opened directly.
      const hidden = ['/console/campaigns', '/console/audit', '/console/compliance', '/console/queues'].filter((p) => !sections.some((s) => p.includes(s.toLowerCase().split(' ')[0]!)));
      for (const path of hidden) {
        const res = await page.goto(`${e.url}${path}`);
        expect(res?.status(), `${role} ${path}`).toBe(403);
      }
      await page.context().close();
    }

    // Writes follow the role too: ops may create campaigns and suppress numbers, an auditor may not.
    const ops = await signIn('ops');
    await ops.goto(`${e.url}/console/compliance`);
    expect(await ops.getByRole('button', { name: 'Add to the do-not-contact list' }).count()).toBe(1);
    expect(await ops.getByRole('heading', { name: 'Kill switches' }).count()).toBe(0);
    await ops.context().close();
    const auditor = await signIn('auditor');
    await auditor.goto(`${e.url}/console/campaigns`);
    expect(await auditor.getByRole('heading', { name: 'New campaign from a CSV file' }).count()).toBe(0);
    await auditor.goto(`${e.url}/console/compliance`);
    expect(await auditor.getByRole('button', { name: 'Add to the do-not-contact list' }).count()).toBe(0);
    await shot(auditor, 'compliance-auditor');
    await auditor.context().close();
    const admin = await signIn('admin');
    await admin.goto(`${e.url}/console/compliance`);
    expect(await admin.getByRole('heading', { name: 'Kill switches' }).count()).toBe(1);
    await shot(admin, 'compliance');
    for (const path of ['/console/campaigns', '/console/timers', '/console/audit', '/console/compliance']) {
      await admin.goto(`${e.url}${path}`);
      await expectLabelled(admin);
      // The keyboard reaches the page: the first Tab lands on the skip link, Enter jumps to the content.
      await admin.keyboard.press('Tab');
      expect(await admin.locator(':focus').textContent()).toBe('Skip to content');
    }
    await admin.goto(`${e.url}/console/queues`);
    await admin.waitForSelector('text=timers', { timeout: 20_000 });
    await shot(admin, 'queues');
    await admin.context().close();
  }, 120_000);

  it('a campaign from a CSV file: preview, charts equal to the API stats, bad rows by line, launch, cancel', async () => {
    const page = await signIn('ops');
    await page.goto(`${e.url}/console/campaigns`);
    // New York, Los Angeles and Chicago numbers, one bad phone and one unknown zip.
    const places = [['212', '10001'], ['310', '90012'], ['312', '60601']] as const;
    const lines = ['phone,zip,externalId', ...Array.from({ length: 60 }, (_, k) => `+1${places[k % 3]![0]}555${String(1000 + k).slice(-4)},${places[k % 3]![1]},c-${k}`), 'not-a-phone,10001,bad-1', '+12125559999,00000,bad-2'];
    await page.getByLabel('Name').fill('December reminder');
    await page.getByLabel('Message (SMS)').fill('Your appointment is on Thursday at 10:00. Reply STOP to opt out.');
    await page.getByLabel('Send at').fill('2026-12-09T07:30');
    await page.getByLabel('Window from').fill('09:00');
    await page.getByLabel('Window to').fill('17:00');
    await page.getByLabel(/Audience/).setInputFiles({ name: 'audience.csv', mimeType: 'text/csv', buffer: Buffer.from(lines.join('\n') + '\n') });
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.waitForURL(/\/console\/campaigns\/[0-9a-f-]{36}$/);
    const previewId = new URL(page.url()).pathname.split('/').pop()!;
    // The page follows the planning by itself, until the plan is there.
    await page.waitForSelector('[data-status="planned"]', { timeout: 60_000 });
    await page.waitForSelector('#by-local-hour');

    const api = (await e.api('GET', `/v1/campaigns/${previewId}`)).body;
    expect(api.preview).toBe(true);
    const stats = api.stats;
    expect(await barsOf(page, 'by-local-hour')).toEqual(stats.sendTimes.byLocalHour.map((n: number, h: number) => [String(h).padStart(2, '0'), n]));
    expect(Object.fromEntries(await barsOf(page, 'by-zone'))).toEqual(stats.sendTimes.byZone);
    expect(Object.fromEntries(await barsOf(page, 'by-instant-hour'))).toEqual(stats.sendTimes.byInstantHour);
    expect(Object.fromEntries(await barsOf(page, 'by-decision'))).toEqual(stats.decisions);
    expect(Object.fromEntries(await barsOf(page, 'by-reason'))).toEqual(stats.reasons);
    expect(stats.rows).toBe(60);
    expect(Object.keys(stats.sendTimes.byZone).sort()).toEqual(['America/Chicago', 'America/Los_Angeles', 'America/New_York']);
    expect(await page.locator('[data-stat="rows"]').textContent()).toBe('60');
    // 07:30 is before the window: everyone is moved to 09:00 local, three real hours.
    expect(stats.sendTimes.byLocalHour[9]).toBe(60);
    expect(Object.keys(stats.sendTimes.byInstantHour)).toHaveLength(3);
    const bad = await page.locator('section[aria-labelledby="bad-rows"] tbody tr').evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll('td')].slice(0, 2).map((td) => td.textContent)));
    expect(bad).toEqual([['62', 'INVALID_PHONE'], ['63', 'UNKNOWN_ZIP']]);
    await shot(page, 'campaign-preview');

    // Launch: the real campaign over the same file, planned with the same numbers.
    await page.getByRole('button', { name: /^Launch: schedule 60 sends$/ }).click();
    await page.waitForURL((u) => u.pathname !== `/console/campaigns/${previewId}`);
    const realId = new URL(page.url()).pathname.split('/').pop()!;
    await page.waitForSelector('[data-status="planned"]', { timeout: 60_000 });
    const real = (await e.api('GET', `/v1/campaigns/${realId}`)).body;
    expect(real).toMatchObject({ preview: false, audience: { kind: 'launch', previewOf: previewId } });
    expect(real.stats).toEqual(stats);
    expect(await e.rt.prisma.timer.count({ where: { campaignId: realId, status: 'scheduled' } })).toBe(60);
    await shot(page, 'campaign');

    // Cancel, after a confirmation page.
    await page.getByRole('link', { name: 'Cancel this campaign…' }).click();
    await shot(page, 'campaign-cancel-confirm');
    await page.getByRole('button', { name: 'Yes, cancel the campaign' }).click();
    await page.waitForSelector('[data-status="cancelled"]');
    expect(await e.rt.prisma.timer.count({ where: { campaignId: realId, status: 'cancelled' } })).toBe(60);
    // The list shows both.
    await page.goto(`${e.url}/console/campaigns`);
    expect(await page.locator('table tbody tr').count()).toBeGreaterThanOrEqual(2);
    await shot(page, 'campaigns');
    await page.context().close();
  }, 180_000);

  it("a timer's page tells its explanation as a story, with every rule's citation and no phone number", async () => {
    const phone = '+12125550142';
    const t = await e.api('POST', '/v1/timers', { contact: { phone, zip: '10001' }, channel: 'sms', at: new Date(e.clock.now()).toISOString(), policy: 'next_slot', purpose: 'informational', message: { body: 'Your order shipped' } });
    expect(t.status).toBe(201);
    await until(async () => ((await e.api('GET', `/v1/timers/${t.body.id}`)).body.status === 'delivered' ? true : null), 30_000, 200);
    const page = await signIn('auditor');
    await page.goto(`${e.url}/console/timers`);
    await page.getByLabel("Contact's phone").fill('(212) 555-0142');
    await page.getByRole('button', { name: 'Search' }).click();
    const rows = page.locator('#timers tbody tr');
    expect(await rows.count()).toBe(1);
    await shot(page, 'timers');
    await rows.first().getByRole('link').click();
    await page.waitForSelector('ol.story li');
    const story = await page.locator('ol.story li').allTextContents();
    const api = (await e.api('GET', `/v1/timers/${t.body.id}/explanation`)).body;
    expect(story).toEqual(api.story);
    expect(story.join('\n')).toMatch(/Judged in every place the contact may be: NY in America\/New_York/);
    expect(story.join('\n')).toMatch(/Delivered at/);
    expect(await page.locator('#rules-table').textContent()).toContain('64.1200');
    expect(await page.locator('[data-status]').getAttribute('data-status')).toBe('delivered');
    const text = await page.content();
    expect(text).not.toContain('5550142');
    expect(text).not.toContain('Your order shipped');
    await shot(page, 'timer');
    await page.context().close();
  }, 60_000);

  it('the audit page exports what the API exports (CSV download), verifies the chain, and never shows a full number', async () => {
    await e.rt.ctx.audit.settle(e.orgId);
    const page = await signIn('auditor');
    await page.goto(`${e.url}/console/audit?action=timer.created`);
    expect(await page.locator('#audit tbody tr').count()).toBeGreaterThan(0);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'CSV' }).click()]);
    expect(download.suggestedFilename()).toMatch(/\.csv$/);
    const file = readFileSync((await download.path())!, 'utf8');
    const res = await fetch(`${e.url}/v1/audit/export?action=timer.created&format=csv`, { headers: { authorization: `Bearer ${keys['auditor']}` } });
    expect(file).toBe(await res.text());
    expect(file.split('\n').filter(Boolean).length).toBeGreaterThan(60);
    await page.getByRole('button', { name: 'Verify the chain' }).click();
    await page.waitForSelector('#verify-result');
    expect(await page.locator('#verify-result').getAttribute('data-ok')).toBe('true');
    expect(await page.content()).not.toMatch(/\+1212555\d{4}/);
    await shot(page, 'audit');
    await page.context().close();
  }, 60_000);

  it('a write without the CSRF token (or with a wrong one) is refused, and nothing is written', async () => {
    const page = await signIn('ops');
    await page.goto(`${e.url}/console/compliance`);
    const statuses = await page.evaluate(async () => {
      const post = (body: Record<string, string>) => fetch('/console/compliance/suppressions', { method: 'POST', body: new URLSearchParams(body) }).then((r) => r.status);
      return [await post({ phones: '+12125550177', reason: 'csrf test' }), await post({ phones: '+12125550177', reason: 'csrf test', _csrf: 'forged' })];
    });
    expect(statuses).toEqual([403, 403]);
    // A sign-in posted from another site is refused too (no login CSRF).
    const foreign = await fetch(`${e.url}/console/sign-in`, { method: 'POST', redirect: 'manual', headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' }, body: `key=${encodeURIComponent(keys['ops']!)}` });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('set-cookie')).toBeNull();
    expect((await e.api('GET', '/v1/suppressions?phone=%2B12125550177')).body.items).toEqual([]);
    // The form itself (with its token) works.
    await page.getByLabel('Numbers (one per line)').fill('+12125550177');
    await page.getByLabel('Reason').fill('customer asked by phone');
    await page.getByRole('button', { name: 'Add to the do-not-contact list' }).click();
    await page.waitForURL(`${e.url}/console/compliance`);
    expect((await e.api('GET', '/v1/suppressions?phone=%2B12125550177')).body.items).toHaveLength(1);
    expect(await page.locator('#suppressions-table').textContent()).toContain('•••• 0177');
    await page.context().close();
  }, 60_000);

  it('a tampered audit row shows up as the first break of the chain', async () => {
    await e.rt.ctx.audit.settle(e.orgId);
    const [row] = await e.rt.prisma.$queryRaw<Array<{ seq: number }>>`SELECT seq FROM audit_entries WHERE org_id = ${e.orgId}::uuid AND action = 'timer.created' ORDER BY seq LIMIT 1 OFFSET 5`;
    await e.rt.prisma.$executeRawUnsafe('ALTER TABLE audit_entries DISABLE TRIGGER USER');
    try {
      await e.rt.prisma.$executeRawUnsafe(`UPDATE audit_entries SET decision = 'cancel' WHERE org_id = '${e.orgId}' AND seq = ${row!.seq}`);
    } finally {
      await e.rt.prisma.$executeRawUnsafe('ALTER TABLE audit_entries ENABLE TRIGGER USER');
    }
    const page = await signIn('auditor');
    await page.goto(`${e.url}/console/audit?verify=1`);
    const result = page.locator('#verify-result');
    expect(await result.getAttribute('data-ok')).toBe('false');
    expect(await result.getAttribute('data-broken-at')).toBe(String(row!.seq));
    expect(await result.textContent()).toContain(`broken at seq ${row!.seq}`);
    await shot(page, 'audit-broken');
    await page.context().close();
  }, 60_000);
});
