/**
 * The console's pages: each reads (and writes) through the API with the session's key and renders
 * what it answers. What a page offers follows `may`, which reads the API's own authorization
 * matrix (the route declarations): a button is shown only to a role the route would accept, and
 * the route refuses anyone else regardless. Phone numbers are shown masked; message bodies never.
 */
import { barChart, barsOf } from './charts.ts';
import { csrfField, html, maskPhone, raw, table, type Html } from './html.ts';
import { queryOf, type ApiAnswer, type ApiClient, type ApiError } from './api-client.ts';

export interface PageContext {
  api: ApiClient;
  role: string;
  csrf: string;
  /** Whether the session's role may call the API route (from the route declarations). */
  may(method: string, path: string): boolean;
}

export interface Rendered {
  title: string;
  body: Html;
  status?: number;
}

type Json = Record<string, unknown>;
type Campaign = {
  id: string; name: string; status: string; preview: boolean; channel: string; purpose: string; policy: string; sendAt: string; sendAtKind: string;
  window: { start: string; end: string } | null; audience: { kind: string; previewOf?: string };
  progress: { chunksDone: number; chunksTotal: number; rows: number; planned: number; errors: number };
  stats: null | { rows: number; errors: number; decisions: Record<string, number>; statuses: Record<string, number>; reasons: Record<string, number>; sendTimes: { byLocalHour: number[]; byZone: Record<string, number>; byInstantHour?: Record<string, number> } };
  createdAt: string;
};
type Reason = { code: string; rule: string | null; citation: string | null; jurisdiction: string | null; timezone: string | null; local: string | null; message: string };

export function errorText(a: ApiAnswer<unknown>): string {
  const e = (a.body as ApiError | null)?.error;
  if (!e) return `the API answered HTTP ${a.status}`;
  const details = Array.isArray(e.details) ? (e.details as Array<{ path?: string; message?: string }>).map((d) => `${d.path ?? ''}: ${d.message ?? ''}`).join('; ') : '';
  return `${e.code}: ${e.message}${details ? ` (${details})` : ''}`;
}

const fmt = (n: number | undefined) => (n ?? 0).toLocaleString('en-US');
const when = (iso: string | null | undefined) => (iso ? iso.replace('T', ' ').replace(/\.\d{3}Z$/, 'Z') : '—');
const link = (href: string, text: string) => html`<a href="${href}">${text}</a>`;
const short = (id: string | null | undefined) => (id ? id.slice(0, 8) : '—');

/** A page from an API error answer (404 stays a 404). */
function apiFailure(title: string, a: ApiAnswer<unknown>): Rendered {
  return { title, status: a.status >= 400 && a.status < 600 ? a.status : 502, body: html`<p class="notice error" role="alert">${errorText(a)}</p>` };
}

// -------------------------------------------------------------------------------------------
// Campaigns
// -------------------------------------------------------------------------------------------

export async function campaignsPage(c: PageContext, form?: { values: Json; error: string }): Promise<Rendered> {
  const list = await c.api.json<{ items: Campaign[] }>('GET', '/v1/campaigns?limit=50');
  if (list.status !== 200) return apiFailure('Campaigns', list);
  const rows = list.body.items.map((x) => [link(`/console/campaigns/${x.id}`, x.name), html`<span class="status ${x.status}">${x.status}</span>`, x.preview ? 'preview' : 'real', x.channel, x.purpose, x.sendAt, fmt(x.progress.planned), when(x.createdAt)]);
  const v = form?.values ?? {};
  const val = (k: string, d = '') => String(v[k] ?? d);
  const sel = (name: string, label: string, options: string[], d: string) =>
    html`<label>${label} <select name="${name}">${options.map((o) => html`<option${o === val(name, d) ? raw(' selected') : ''}>${o}</option>`)}</select></label>`;
  const create = c.may('post', '/v1/campaigns')
    ? html`<section aria-labelledby="new-campaign"><h2 id="new-campaign">New campaign from a CSV file</h2>
<p>The file is previewed first: every recipient is judged as the real plan would, nothing is scheduled. You launch it from the preview once its charts look right.</p>
${form ? html`<p class="notice error" role="alert">${form.error}</p>` : ''}
<form method="post" action="/console/campaigns" enctype="multipart/form-data" class="grid">
${csrfField(c.csrf)}
<label>Name <input name="name" required maxlength="200" value="${val('name')}"></label>
${sel('channel', 'Channel', ['sms', 'voice'], 'sms')}
${sel('purpose', 'Purpose', ['informational', 'marketing'], 'informational')}
${sel('policy', 'When a time is not allowed', ['next_slot', 'cancel', 'previous_slot'], 'next_slot')}
<label class="wide">Message (SMS) <textarea name="body" rows="3" maxlength="1600">${val('body')}</textarea></label>
<label class="wide">TwiML URL (voice) <input name="twimlUrl" type="url" value="${val('twimlUrl')}"></label>
<label>Send at <input name="sendAt" required placeholder="2026-12-09T10:00" value="${val('sendAt')}" aria-describedby="sendat-help"></label>
<small id="sendat-help">A local wall time (each recipient's own zone) or an instant with Z or an offset.</small>
<label>Window from <input name="windowStart" placeholder="09:00" value="${val('windowStart')}"></label>
<label>Window to <input name="windowEnd" placeholder="17:00" value="${val('windowEnd')}"></label>
<label class="wide">Audience (CSV: phone, zip, externalId) <input name="file" type="file" accept=".csv,text/csv" required></label>
<button type="submit">Preview</button>
</form></section>`
    : '';
  return { title: 'Campaigns', status: form ? 400 : 200, body: html`${create}<section aria-labelledby="all-campaigns"><h2 id="all-campaigns">Campaigns</h2>${table('Newest first', ['Name', 'Status', 'Kind', 'Channel', 'Purpose', 'Send at', 'Planned', 'Created'], rows)}</section>` };
}

/** The body of POST /v1/campaigns from the console's form (the API validates it). */
export function campaignBodyOf(f: Json): Json {
  const s = (k: string) => (typeof f[k] === 'string' ? (f[k] as string).trim() : '');
  return {
    name: s('name'),
    channel: s('channel'),
    purpose: s('purpose'),
    policy: s('policy'),
    ...(s('channel') === 'voice' ? { voice: { twimlUrl: s('twimlUrl') } } : { message: { body: s('body') } }),
    sendAt: s('sendAt'),
    ...(s('windowStart') || s('windowEnd') ? { window: { start: s('windowStart'), end: s('windowEnd') } } : {}),
    audience: { upload: true },
    preview: true,
  };
}

export async function campaignPage(c: PageContext, id: string): Promise<Rendered> {
  const got = await c.api.json<Campaign>('GET', `/v1/campaigns/${encodeURIComponent(id)}`);
  if (got.status !== 200) return apiFailure('Campaign', got);
  const x = got.body;
  const errors = await c.api.json<{ items: Array<{ line: number; code: string; message: string }>; nextCursor: string | null }>('GET', `/v1/campaigns/${x.id}/errors?limit=100`);
  const live = x.status === 'planning' || x.status === 'draft';
  const p = x.progress;
  const st = x.stats;
  const charts = st
    ? html`<section aria-labelledby="charts"><h2 id="charts">${x.preview ? 'What the plan would do' : 'The plan'}</h2>
<dl class="totals"><dt>Rows judged</dt><dd data-stat="rows">${fmt(st.rows)}</dd><dt>Bad rows</dt><dd data-stat="errors">${fmt(p.errors)}</dd>${Object.entries(st.statuses).map(([k, n]) => html`<dt>${k}</dt><dd data-stat="status-${k}">${fmt(n)}</dd>`)}</dl>
${barChart('by-local-hour', "Sends per recipient's local hour", st.sendTimes.byLocalHour.map((n, h) => ({ label: String(h).padStart(2, '0'), value: n })))}
${barChart('by-zone', 'Sends per zone', barsOf(st.sendTimes.byZone))}
${barChart('by-instant-hour', 'Sends per hour of the real send instant (UTC)', barsOf(st.sendTimes.byInstantHour ?? {}, 'key'))}
${barChart('by-decision', 'Decisions', barsOf(st.decisions))}
${barChart('by-reason', 'Reasons (once per recipient)', barsOf(st.reasons))}
</section>`
    : html`<p>No plan yet.</p>`;
  const actions: Html[] = [];
  if (x.preview && x.status === 'planned' && c.may('post', '/v1/campaigns/:id/launch')) {
    actions.push(html`<form method="post" action="/console/campaigns/${x.id}/launch">${csrfField(c.csrf)}<button type="submit" class="primary">Launch: schedule ${fmt(st?.statuses['scheduled'])} sends</button></form>`);
  }
  if (!x.preview && ['planning', 'planned'].includes(x.status) && c.may('post', '/v1/campaigns/:id/cancel')) {
    actions.push(html`<a class="button danger" href="/console/campaigns/${x.id}/cancel">Cancel this campaign…</a>`);
  }
  if (!x.preview && c.may('get', '/v1/timers')) actions.push(link(`/console/timers?campaignId=${x.id}`, 'Its timers'));
  const bad = errors.status === 200 ? errors.body.items.map((r) => [String(r.line), r.code, r.message]) : [];
  return {
    title: `Campaign: ${x.name}`,
    body: html`<dl class="facts">
<dt>Status</dt><dd><span class="status ${x.status}" data-status="${x.status}">${x.status}</span>${x.preview ? ' (preview: nothing is scheduled)' : ''}</dd>
<dt>Channel</dt><dd>${x.channel}, ${x.purpose}, policy ${x.policy}</dd>
<dt>Send at</dt><dd>${x.sendAt} (${x.sendAtKind === 'local' ? "each recipient's own zone" : 'the same instant for everyone'})${x.window ? `, between ${x.window.start} and ${x.window.end}` : ''}</dd>
<dt>Audience</dt><dd>${x.audience.kind}${x.audience.previewOf ? html` of ${link(`/console/campaigns/${x.audience.previewOf}`, short(x.audience.previewOf))}` : ''}</dd>
</dl>
<section id="live" aria-live="polite" ${live ? raw('data-refresh="1500"') : ''}>
<h2>Progress</h2>
<p><progress max="${Math.max(1, p.chunksTotal)}" value="${p.chunksDone}" aria-label="Chunks planned">${p.chunksDone}</progress> ${fmt(p.chunksDone)} of ${fmt(p.chunksTotal)} chunks · ${fmt(p.rows)} rows read · ${fmt(p.planned)} planned · ${fmt(p.errors)} bad rows</p>
${charts}
</section>
${actions.length ? html`<div class="actions">${actions}</div>` : ''}
<section aria-labelledby="bad-rows"><h2 id="bad-rows">Bad rows</h2>${table('By line of the file', ['Line', 'Code', 'Why'], bad)}</section>`,
  };
}

export async function cancelConfirmPage(c: PageContext, id: string): Promise<Rendered> {
  const got = await c.api.json<Campaign>('GET', `/v1/campaigns/${encodeURIComponent(id)}`);
  if (got.status !== 200) return apiFailure('Cancel campaign', got);
  return {
    title: `Cancel “${got.body.name}”?`,
    body: html`<p>Planning stops and every pending timer of this campaign is cancelled (audited). Sends already made are not undone.</p>
<form method="post" action="/console/campaigns/${got.body.id}/cancel">${csrfField(c.csrf)}<button type="submit" class="danger">Yes, cancel the campaign</button> ${link(`/console/campaigns/${got.body.id}`, 'No, keep it')}</form>`,
  };
}

// -------------------------------------------------------------------------------------------
// Timers
// -------------------------------------------------------------------------------------------

type Timer = { id: string; status: string; channel: string; purpose: string; policy: string; contactId: string; journeyId: string | null; decision: string; sendAt: string | null; localSendAt: string | null; requestedAt: string; reasons: Reason[]; calendarVersion: string };
const TIMER_STATUSES = ['', 'scheduled', 'queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'unknown', 'cancelled', 'suppressed'];

export async function timersPage(c: PageContext, q: Record<string, string>): Promise<Rendered> {
  const filters = { status: q['status'], phone: q['phone'], journeyId: q['journeyId'], campaignId: q['campaignId'], contactId: q['contactId'], cursor: q['cursor'] };
  const list = await c.api.json<{ items: Timer[]; nextCursor: string | null }>('GET', `/v1/timers${queryOf({ ...filters, limit: '50' })}`);
  const form = html`<form method="get" action="/console/timers" class="grid filters" role="search">
<label>Status <select name="status">${TIMER_STATUSES.map((s) => html`<option value="${s}"${s === (q['status'] ?? '') ? raw(' selected') : ''}>${s || 'any'}</option>`)}</select></label>
<label>Contact's phone <input name="phone" inputmode="tel" autocomplete="off" value="${q['phone'] ?? ''}" aria-describedby="phone-help"></label>
<small id="phone-help">Matched by its hash, as the API does: the number is never stored or shown.</small>
<label>Journey id <input name="journeyId" value="${q['journeyId'] ?? ''}"></label>
<label>Campaign id <input name="campaignId" value="${q['campaignId'] ?? ''}"></label>
<button type="submit">Search</button></form>`;
  if (list.status !== 200) return { title: 'Timers', status: list.status, body: html`${form}<p class="notice error" role="alert">${errorText(list)}</p>` };
  const rows = list.body.items.map((t) => [link(`/console/timers/${t.id}`, short(t.id)), html`<span class="status ${t.status}">${t.status}</span>`, t.channel, t.purpose, t.decision, t.localSendAt ?? when(t.sendAt), when(t.requestedAt)]);
  const next = list.body.nextCursor ? html`<p>${link(`/console/timers${queryOf({ ...filters, cursor: list.body.nextCursor })}`, 'Next page')}</p>` : '';
  return { title: 'Timers', body: html`${form}${table('Newest first', ['Timer', 'Status', 'Channel', 'Purpose', 'Decision', 'Send at (local)', 'Requested'], rows, raw('id="timers"'))}${next}` };
}

type Explanation = {
  inputs: Json; candidates: Array<{ jurisdiction: string; zone: string; source: string }>;
  decisions: Array<{ seq: number; at: string; action: string; phase: string | null; decision: string; sendAt: string | null; localSendAt: string | null; calendarVersion: string | null; reasons: Reason[] }>;
  rules: Array<Reason & { seq: number; phase: string | null }>;
  events: Array<{ seq: number; at: string; action: string; decision: string | null; reasonCodes: string[]; details: Json }>;
  story: string[];
};

export async function timerPage(c: PageContext, id: string): Promise<Rendered> {
  const got = await c.api.json<Timer>('GET', `/v1/timers/${encodeURIComponent(id)}`);
  if (got.status !== 200) return apiFailure('Timer', got);
  const t = got.body;
  const ex = c.may('get', '/v1/timers/:id/explanation') ? await c.api.json<Explanation>('GET', `/v1/timers/${t.id}/explanation`) : null;
  const cancel = ['scheduled', 'queued'].includes(t.status) && c.may('delete', '/v1/timers/:id')
    ? html`<form method="post" action="/console/timers/${t.id}/cancel">${csrfField(c.csrf)}<button type="submit" class="danger">Cancel this timer</button></form>`
    : '';
  let story: Html = html`<p>The explanation is not open to this role.</p>`;
  if (ex && ex.status === 200) {
    const x = ex.body;
    story = html`<section aria-labelledby="story"><h2 id="story">What happened, in order</h2><ol class="story">${x.story.map((s) => html`<li>${s}</li>`)}</ol></section>
<section aria-labelledby="where"><h2 id="where">Where the contact may be</h2>${table('Every candidate place is judged', ['Jurisdiction', 'Zone', 'From'], x.candidates.map((p) => [p.jurisdiction, p.zone, p.source]))}</section>
<section aria-labelledby="rules"><h2 id="rules">Every rule applied</h2>${table('With its citation', ['Seq', 'Phase', 'Code', 'Rule', 'Citation', 'Where', 'Local time', 'Why'], x.rules.map((r) => [String(r.seq), r.phase ?? '—', r.code, r.rule ?? '—', r.citation ?? '—', r.jurisdiction ?? '—', r.local ?? '—', r.message]), raw('id="rules-table"'))}</section>
<section aria-labelledby="decisions"><h2 id="decisions">Decisions</h2>${table('Each judgement', ['Seq', 'At', 'Phase', 'Decision', 'Send at (local)', 'Calendars'], x.decisions.map((d) => [String(d.seq), when(d.at), d.phase ?? d.action, d.decision, d.localSendAt ?? when(d.sendAt), d.calendarVersion ?? '—']))}</section>
<section aria-labelledby="events"><h2 id="events">Transitions (audit log)</h2>${table('In chain order', ['Seq', 'At', 'Action', 'Decision', 'Reasons'], x.events.map((e) => [String(e.seq), when(e.at), e.action, e.decision ?? '—', e.reasonCodes.join(', ')]))}</section>`;
  } else if (ex) {
    story = html`<p class="notice error" role="alert">${errorText(ex)}</p>`;
  }
  return {
    title: `Timer ${short(t.id)}`,
    body: html`<dl class="facts">
<dt>Status</dt><dd><span class="status ${t.status}" data-status="${t.status}">${t.status}</span></dd>
<dt>Channel</dt><dd>${t.channel}, ${t.purpose}, policy ${t.policy}</dd>
<dt>Decision</dt><dd>${t.decision} under calendars ${t.calendarVersion}</dd>
<dt>Send at</dt><dd>${t.localSendAt ?? when(t.sendAt)}</dd>
<dt>Contact</dt><dd><code>${t.contactId}</code>${t.journeyId ? html` · journey <code>${t.journeyId}</code>` : ''}</dd>
</dl>${cancel}${story}`,
  };
}

// -------------------------------------------------------------------------------------------
// Audit
// -------------------------------------------------------------------------------------------

type Entry = { seq: number; at: string; action: string; timerId: string | null; campaignId: string | null; decision: string | null; reasonCodes: string[]; data: unknown; hash: string };
const AUDIT_FILTERS = ['action', 'timerId', 'campaignId', 'journeyId', 'phone', 'decision', 'reasonCode', 'from', 'to'] as const;

export function auditFilters(q: Record<string, string>): Record<string, string> {
  return Object.fromEntries(AUDIT_FILTERS.filter((k) => q[k]).map((k) => [k, q[k]!]));
}

export async function auditPage(c: PageContext, q: Record<string, string>, verify: boolean): Promise<Rendered> {
  const filters = auditFilters(q);
  const list = await c.api.json<{ items: Entry[]; nextCursor: string | null }>('GET', `/v1/audit${queryOf({ ...filters, limit: '50', cursor: q['cursor'] })}`);
  const input = (k: string, label: string, placeholder = '') => html`<label>${label} <input name="${k}" value="${q[k] ?? ''}" placeholder="${placeholder}"></label>`;
  const form = html`<form method="get" action="/console/audit" class="grid filters" role="search">
${input('action', 'Action', 'timer.sent')}${input('timerId', 'Timer id')}${input('campaignId', 'Campaign id')}${input('phone', "Contact's phone")}${input('decision', 'Decision', 'send')}${input('reasonCode', 'Reason codes', 'OUTSIDE_HOURS')}${input('from', 'From', '2026-12-01T00:00:00Z')}${input('to', 'To', '2026-12-31T00:00:00Z')}
<button type="submit">Filter</button></form>`;
  let verified: Html = html``;
  if (verify) {
    const v = await c.api.json<{ ok: boolean; count: number; lastSeq?: number; lastHash?: string; brokenAtSeq?: number; problem?: string }>('GET', '/v1/audit/verify');
    verified = v.status !== 200
      ? html`<p class="notice error" role="alert">${errorText(v)}</p>`
      : v.body.ok
        ? html`<p class="notice ok" role="status" id="verify-result" data-ok="true">The chain is intact: ${fmt(v.body.count)} entries, up to seq ${v.body.lastSeq ?? 0} (last hash <code>${(v.body.lastHash ?? '').slice(0, 16)}…</code>).</p>`
        : html`<p class="notice error" role="alert" id="verify-result" data-ok="false" data-broken-at="${v.body.brokenAtSeq}">The chain is broken at seq ${v.body.brokenAtSeq}: ${v.body.problem}. ${fmt(v.body.count)} entries verified before it.</p>`;
  }
  const exportLinks = html`<p class="actions">Export these entries: ${link(`/console/audit/export${queryOf({ ...filters, format: 'csv' })}`, 'CSV')} · ${link(`/console/audit/export${queryOf({ ...filters, format: 'jsonl' })}`, 'JSON lines')}
<form method="get" action="/console/audit" class="inline"><input type="hidden" name="verify" value="1"><button type="submit">Verify the chain</button></form></p>`;
  if (list.status !== 200) return { title: 'Audit log', status: list.status, body: html`${form}<p class="notice error" role="alert">${errorText(list)}</p>` };
  const rows = list.body.items.map((e) => [String(e.seq), when(e.at), e.action, e.timerId ? link(`/console/timers/${e.timerId}`, short(e.timerId)) : '—', e.decision ?? '—', e.reasonCodes.join(', '), html`<code class="data">${JSON.stringify(e.data)}</code>`]);
  const next = list.body.nextCursor ? html`<p>${link(`/console/audit${queryOf({ ...filters, cursor: list.body.nextCursor })}`, 'Next page')}</p>` : '';
  return { title: 'Audit log', body: html`${verified}${form}${exportLinks}${table('Newest first', ['Seq', 'At', 'Action', 'Timer', 'Decision', 'Reasons', 'Details'], rows, raw('id="audit"'))}${next}` };
}

// -------------------------------------------------------------------------------------------
// Compliance controls
// -------------------------------------------------------------------------------------------

type Suppression = { id: string; phone: string; reason: string; source: string; channel: string | null; createdAt: string; liftedAt: string | null; active: boolean };
type KillSwitch = { id: string; jurisdictions: string[]; zips: string[]; from: string; to: string; reason: string; active: boolean; liftedAt: string | null };

export async function compliancePage(c: PageContext): Promise<Rendered> {
  const parts: Html[] = [];
  if (c.may('get', '/v1/suppressions')) {
    const s = await c.api.json<{ items: Suppression[] }>('GET', '/v1/suppressions?limit=100&active=true');
    const canLift = c.may('delete', '/v1/suppressions/:id');
    const rows = s.status === 200 ? s.body.items.map((x) => [maskPhone(x.phone), x.reason, x.source, x.channel ?? 'all', when(x.createdAt), canLift ? html`<form method="post" action="/console/compliance/suppressions/${x.id}/lift" class="inline">${csrfField(c.csrf)}<button type="submit">Lift</button></form>` : '']) : [];
    const add = c.may('post', '/v1/suppressions')
      ? html`<form method="post" action="/console/compliance/suppressions" class="grid">${csrfField(c.csrf)}
<label class="wide">Numbers (one per line) <textarea name="phones" rows="3" required inputmode="tel"></textarea></label>
<label>Reason <input name="reason" required maxlength="200" placeholder="customer asked by phone"></label>
<label>Channel <select name="channel"><option value="">all</option><option>sms</option><option>voice</option></select></label>
<button type="submit">Add to the do-not-contact list</button></form>`
      : '';
    parts.push(html`<section aria-labelledby="suppressions"><h2 id="suppressions">Opt-outs and suppressions</h2>${add}${table('Live entries', ['Number', 'Reason', 'Source', 'Channel', 'Since', ''], rows, raw('id="suppressions-table"'))}</section>`);
  }
  if (c.may('get', '/v1/kill-switches')) {
    const k = await c.api.json<{ items: KillSwitch[] }>('GET', '/v1/kill-switches?active=true');
    const rows = k.status === 200 ? k.body.items.map((x) => [[...x.jurisdictions, ...x.zips].join(', '), when(x.from), when(x.to), x.reason, c.may('delete', '/v1/kill-switches/:id') ? html`<form method="post" action="/console/compliance/kill-switches/${x.id}/lift" class="inline">${csrfField(c.csrf)}<button type="submit">Lift</button></form>` : '']) : [];
    const add = c.may('post', '/v1/kill-switches')
      ? html`<form method="post" action="/console/compliance/kill-switches" class="grid">${csrfField(c.csrf)}
<label>States <input name="jurisdictions" placeholder="FL, TX (or US)" required></label>
<label>From <input name="from" required placeholder="2026-12-09T00:00:00Z"></label>
<label>To <input name="to" required placeholder="2026-12-10T00:00:00Z"></label>
<label>Reason <input name="reason" required maxlength="500" placeholder="hurricane warning"></label>
<button type="submit">Stop sends there</button></form>`
      : '';
    parts.push(html`<section aria-labelledby="kill-switches"><h2 id="kill-switches">Kill switches</h2>${add}${table('Active', ['Where', 'From', 'To', 'Reason', ''], rows)}</section>`);
  }
  if (c.may('get', '/v1/org/settings')) {
    const s = await c.api.json<Json>('GET', '/v1/org/settings');
    const edit = c.may('patch', '/v1/org/settings')
      ? html`<form method="post" action="/console/compliance/settings">${csrfField(c.csrf)}<label>Change (JSON, merged into the settings) <textarea name="patch" rows="4" required placeholder='{"requireConsentForMarketing": true}'></textarea></label><button type="submit">Save</button></form>`
      : '';
    parts.push(html`<section aria-labelledby="settings"><h2 id="settings">Org calendar and settings</h2><pre class="json">${JSON.stringify(s.body, null, 2)}</pre>${edit}</section>`);
  }
  if (c.may('get', '/v1/calendars')) {
    const cal = await c.api.json<{ loaded: { version: string; jurisdictions: string[]; rules: number }; versions: Array<{ version: string; firstSeenAt: string; files: number; loaded: boolean }> }>('GET', '/v1/calendars');
    const impact = c.may('get', '/v1/calendars/impact') ? await c.api.json<{ items: Array<{ timerId: string; decidedUnder: string; current: { decision: string; sendAt: string | null }; proposed: { decision: string; sendAt: string | null } }>; scanned: number }>('GET', '/v1/calendars/impact?limit=50') : null;
    const loaded = cal.status === 200 ? cal.body.loaded : null;
    parts.push(html`<section aria-labelledby="calendars"><h2 id="calendars">Calendar versions</h2>
${loaded ? html`<p>Loaded: <code>${loaded.version}</code>, ${loaded.rules} rules over ${loaded.jurisdictions.length} jurisdictions.</p>` : ''}
${table('Every version seen', ['Version', 'First seen', 'Files', 'Loaded'], cal.status === 200 ? cal.body.versions.map((v) => [v.version, when(v.firstSeenAt), String(v.files), v.loaded ? 'yes' : '']) : [])}
${impact && impact.status === 200 ? table(`Impact of the loaded calendars on pending timers (${fmt(impact.body.scanned)} examined)`, ['Timer', 'Decided under', 'Now', 'Under the loaded calendars'], impact.body.items.map((i) => [link(`/console/timers/${i.timerId}`, short(i.timerId)), i.decidedUnder, `${i.current.decision} ${when(i.current.sendAt)}`, `${i.proposed.decision} ${when(i.proposed.sendAt)}`])) : ''}
${impact && impact.status === 200 && impact.body.items.length && c.may('post', '/v1/calendars/impact/apply')
  ? html`<form method="post" action="/console/compliance/calendars/apply">${csrfField(c.csrf)}<button type="submit">Apply the loaded calendars to these timers now</button></form>`
  : ''}
</section>`);
  }
  return { title: 'Compliance controls', body: html`${parts}` };
}

/** POST /v1/suppressions from the console's form: one entry per line. */
export function suppressionBodyOf(f: Json): Json {
  const phones = String(f['phones'] ?? '').split(/[\r\n,]+/).map((p) => p.trim()).filter(Boolean);
  const channel = String(f['channel'] ?? '');
  return { entries: phones.map((phone) => ({ phone, reason: String(f['reason'] ?? '').trim(), ...(channel ? { channel } : {}) })) };
}

export function killSwitchBodyOf(f: Json): Json {
  return {
    jurisdictions: String(f['jurisdictions'] ?? '').split(/[\s,]+/).map((j) => j.trim().toUpperCase()).filter(Boolean),
    from: String(f['from'] ?? '').trim(),
    to: String(f['to'] ?? '').trim(),
    reason: String(f['reason'] ?? '').trim(),
  };
}
