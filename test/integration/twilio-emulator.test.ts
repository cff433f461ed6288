/**
 * The Twilio emulator driven by the REAL twilio helper library (v6), pointed at it by base URL
 * through createTwilioClient({ apiBase }) — no module mocks. Status callbacks are received by a
 * small express server and their X-Twilio-Signature checked with validateTwilioSignature.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createEmulatorApp,
  createEmulatorRouter,
  type CallRecord,
  type EmulatorOptions,
  type MessageRecord,
} from '../../src/adapters/twilio/emulator.ts';
import { startEmulator } from '../../src/adapters/twilio/emulator-main.ts';
import {
  createTwilioClient,
  IDEMPOTENCY_HEADER,
  validateTwilioSignature,
  withIdempotencyToken,
  type TwilioClient,
} from '../../src/adapters/twilio/client.ts';

const SID = `AC${'0123456789abcdef'.repeat(2)}`;
const TOKEN = 'emulator-test-auth-token';
const FROM = '+15005550006';
const TO = '+15558675310';
const BASIC = `Basic ${Buffer.from(`${SID}:${TOKEN}`).toString('base64')}`;
const RFC2822 = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/;

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

const servers: Array<() => Promise<void>> = [];

async function listen(app: express.Express): Promise<string> {
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  servers.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A standalone emulator on an ephemeral port. */
async function emulator(extra: Partial<EmulatorOptions> = {}) {
  const app = createEmulatorApp({ accounts: { [SID]: TOKEN }, callbackDelayMs: 5, ...extra });
  const url = await listen(app);
  servers.push(async () => app.emulator.dispose());
  return { url, app, client: createTwilioClient({ accountSid: SID, authToken: TOKEN, apiBase: url }) };
}

interface Hit {
  name: string;
  method: string;
  url: string;
  params: Record<string, string>;
  signature: string | undefined;
  idempotencyToken: string | undefined;
  valid: boolean;
}

/** The status-callback receiver: validates every request's signature as a real app would. */
const sink = { url: '', hits: [] as Hit[] };

function hitsFor(name: string): Hit[] {
  return sink.hits.filter((h) => h.name === name);
}

async function waitFor<T>(fn: () => T | undefined | null | false, timeoutMs = 5000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() - start > timeoutMs) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const statuses = (name: string, key: 'MessageStatus' | 'CallStatus') =>
  hitsFor(name).map((h) => h.params[key] ?? new URL(h.url).searchParams.get(key));

async function rejection(p: Promise<unknown>): Promise<InstanceType<typeof twilio.RestException>> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(twilio.RestException);
  return err as InstanceType<typeof twilio.RestException>;
}

async function received(url: string, what: 'messages' | 'calls'): Promise<Array<MessageRecord | CallRecord>> {
  const res = await fetch(`${url}/_emulator/${what}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Array<MessageRecord | CallRecord>;
}

let main: Awaited<ReturnType<typeof emulator>>;

beforeAll(async () => {
  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.all('/cb/:name', (req, res) => {
    const url = sink.url + req.originalUrl;
    const params = req.method === 'POST' ? ({ ...req.body } as Record<string, string>) : {};
    const signature = req.get('X-Twilio-Signature');
    sink.hits.push({
      name: String(req.params.name),
      method: req.method,
      url,
      params,
      signature,
      idempotencyToken: req.get('I-Twilio-Idempotency-Token'),
      valid: validateTwilioSignature(TOKEN, signature, url, params),
    });
    res.status(204).end();
  });
  sink.url = await listen(app);
  main = await emulator();
});

afterAll(async () => {
  for (const close of servers.reverse()) await close();
});

// ---------------------------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------------------------

describe('twilio client → emulator (by base URL)', () => {
  it('creates a message with Twilio’s resource shape, then posts signed callbacks queued → sent → delivered', async () => {
    const msg = await main.client.messages.create({
      to: TO,
      from: FROM,
      body: 'Your appointment is tomorrow at 10:00',
      statusCallback: `${sink.url}/cb/m1`,
    });
    expect(msg.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(msg).toMatchObject({
      accountSid: SID,
      status: 'queued',
      to: TO,
      from: FROM,
      body: 'Your appointment is tomorrow at 10:00',
      numSegments: '1',
      numMedia: '0',
      price: null,
      errorCode: null,
      direction: 'outbound-api',
      apiVersion: '2010-04-01',
      uri: `/2010-04-01/Accounts/${SID}/Messages/${msg.sid}.json`,
    });
    expect(msg.dateCreated).toBeInstanceOf(Date);

    await waitFor(() => hitsFor('m1').length >= 2);
    expect(statuses('m1', 'MessageStatus')).toEqual(['sent', 'delivered']);
    for (const hit of hitsFor('m1')) {
      expect(hit.valid).toBe(true);
      expect(hit.method).toBe('POST');
      expect(hit.idempotencyToken).toMatch(/^[0-9a-f-]{36}$/);
      expect(hit.params).toMatchObject({ MessageSid: msg.sid, SmsSid: msg.sid, AccountSid: SID, From: FROM, To: TO, ApiVersion: '2010-04-01' });
      expect(hit.params.SmsStatus).toBe(hit.params.MessageStatus);
      expect(hit.params.ErrorCode).toBeUndefined();
      // …and not with another token
      expect(validateTwilioSignature('another-token', hit.signature, hit.url, hit.params)).toBe(false);
    }

    const fetched = await main.client.messages(msg.sid).fetch();
    expect(fetched.status).toBe('delivered');
    expect(fetched.dateSent).toBeInstanceOf(Date);

    // Raw JSON: dates are RFC 2822 as on Twilio.
    const raw = (await (await fetch(`${main.url}/2010-04-01/Accounts/${SID}/Messages/${msg.sid}.json`, { headers: { authorization: BASIC } })).json()) as Record<string, unknown>;
    expect(raw.date_created).toMatch(RFC2822);
    expect(raw.status).toBe('delivered');
  });

  it('counts segments like Twilio (GSM-7 153/segment, UCS-2 67/segment)', async () => {
    const long = await main.client.messages.create({ to: TO, from: FROM, body: 'a'.repeat(161) });
    const unicode = await main.client.messages.create({ to: TO, from: FROM, body: '✓'.repeat(71) });
    expect([long.numSegments, unicode.numSegments]).toEqual(['2', '2']);
  });

  it('sends through a Messaging Service: accepted, then queued → sent → delivered callbacks', async () => {
    const msg = await main.client.messages.create({
      to: TO,
      messagingServiceSid: `MG${'a'.repeat(32)}`,
      body: 'hi',
      statusCallback: `${sink.url}/cb/ms`,
    });
    expect(msg.status).toBe('accepted');
    expect(msg.from).toBeNull();
    await waitFor(() => hitsFor('ms').length >= 3);
    expect(statuses('ms', 'MessageStatus')).toEqual(['queued', 'sent', 'delivered']);
    expect(hitsFor('ms').every((h) => h.valid && h.params.MessagingServiceSid === msg.messagingServiceSid)).toBe(true);
  });

  it('creates a call and posts signed callbacks initiated → ringing → in-progress → completed', async () => {
    const call = await main.client.calls.create({
      to: TO,
      from: FROM,
      url: 'https://example.com/twiml',
      statusCallback: `${sink.url}/cb/c1`,
      statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
    });
    expect(call.sid).toMatch(/^CA[0-9a-f]{32}$/);
    expect(call).toMatchObject({ status: 'queued', to: TO, from: FROM, toFormatted: '(555) 867-5310', direction: 'outbound-api', duration: null });

    await waitFor(() => hitsFor('c1').length >= 4);
    expect(statuses('c1', 'CallStatus')).toEqual(['initiated', 'ringing', 'in-progress', 'completed']);
    const hits = hitsFor('c1');
    expect(hits.every((h) => h.valid && h.params.CallSid === call.sid && h.params.AccountSid === SID)).toBe(true);
    expect(hits.map((h) => h.params.SequenceNumber)).toEqual(['0', '1', '2', '3']);
    expect(hits[3]?.params).toMatchObject({ CallDuration: '7', CallbackSource: 'call-progress-events' });

    const fetched = await main.client.calls(call.sid).fetch();
    expect(fetched).toMatchObject({ status: 'completed', duration: '7' });
  });

  it('sends only the `completed` call event when StatusCallbackEvent is absent (Twilio default), and signs GET callbacks over the URL', async () => {
    await main.client.calls.create({ to: TO, from: FROM, twiml: '<Response><Say>Hi</Say></Response>', statusCallback: `${sink.url}/cb/c2` });
    await main.client.calls.create({ to: TO, from: FROM, url: 'https://example.com/t', statusCallback: `${sink.url}/cb/c3?tenant=a`, statusCallbackMethod: 'GET' });
    await waitFor(() => hitsFor('c2').length >= 1 && hitsFor('c3').length >= 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(statuses('c2', 'CallStatus')).toEqual(['completed']);
    const get = hitsFor('c3');
    expect(get).toHaveLength(1);
    expect(get[0]).toMatchObject({ method: 'GET', valid: true });
    expect(new URL(get[0]?.url ?? '').searchParams.get('tenant')).toBe('a');
  });
});

describe('errors', () => {
  it.each([
    ['+15005550001', 21211],
    ['+15005550002', 21612],
    ['+15005550003', 21408],
    ['+15005550004', 21610],
    ['+15005550009', 21614],
  ])('message to magic number %s → RestException 400 / %i', async (to, code) => {
    const err = await rejection(main.client.messages.create({ to, from: FROM, body: 'x' }));
    expect(err).toMatchObject({ status: 400, code, moreInfo: `https://www.twilio.com/docs/errors/${code}` });
  });

  it('rejects a malformed To with 21211 and invalid magic call numbers with Twilio’s voice codes', async () => {
    expect(await rejection(main.client.messages.create({ to: '555-1234', from: FROM, body: 'x' }))).toMatchObject({ status: 400, code: 21211 });
    expect(await rejection(main.client.calls.create({ to: '+15005550001', from: FROM, url: 'https://example.com/t' }))).toMatchObject({ status: 400, code: 21217 });
    expect(await rejection(main.client.messages.create({ to: TO, from: '+15005550001', body: 'x' }))).toMatchObject({ status: 400, code: 21212 });
    expect(await rejection(main.client.messages.create({ to: TO, from: FROM, body: 'x', statusCallback: 'not a url' }))).toMatchObject({ status: 400, code: 21609 });
    const badEvent = main.client.calls.create({ to: TO, from: FROM, url: 'https://e.com', statusCallback: `${sink.url}/cb/x`, statusCallbackEvent: ['hangup'] });
    expect(await rejection(badEvent)).toMatchObject({ status: 400, code: 21626 });
  });

  it('answers missing parameters like Twilio (21604 / 21603 / 21602; calls 21201 / 21213 / 21205)', async () => {
    const post = async (path: string, form: Record<string, string>) => {
      const res = await fetch(`${main.url}/2010-04-01/Accounts/${SID}/${path}`, {
        method: 'POST',
        headers: { authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form),
      });
      return { status: res.status, body: (await res.json()) as { code: number; status: number; more_info: string } };
    };
    expect((await post('Messages.json', { From: FROM, Body: 'x' })).body).toMatchObject({ code: 21604, status: 400 });
    expect((await post('Messages.json', { To: TO, Body: 'x' })).body.code).toBe(21603);
    expect((await post('Messages.json', { To: TO, From: FROM })).body.code).toBe(21602);
    expect((await post('Messages.json', { To: TO, From: FROM, MediaUrl: 'https://example.com/a.png' })).status).toBe(201);
    expect((await post('Calls.json', { From: FROM, Url: 'https://e.com' })).body.code).toBe(21201);
    expect((await post('Calls.json', { To: TO, Url: 'https://e.com' })).body.code).toBe(21213);
    expect((await post('Calls.json', { To: TO, From: FROM })).body.code).toBe(21205);
  });

  it('answers a wrong auth token (and an unknown account) with 401 / 20003', async () => {
    const wrong = createTwilioClient({ accountSid: SID, authToken: 'nope', apiBase: main.url });
    expect(await rejection(wrong.messages.create({ to: TO, from: FROM, body: 'x' }))).toMatchObject({ status: 401, code: 20003 });
    const unknown = createTwilioClient({ accountSid: `AC${'f'.repeat(32)}`, authToken: TOKEN, apiBase: main.url });
    expect(await rejection(unknown.calls.create({ to: TO, from: FROM, url: 'https://e.com' }))).toMatchObject({ status: 401, code: 20003 });
    const res = await fetch(`${main.url}/2010-04-01/Accounts/${SID}/Messages.json`, { method: 'POST' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('Basic');
  });

  it('answers an unknown resource with 404 / 20404', async () => {
    expect(await rejection(main.client.messages(`SM${'0'.repeat(32)}`).fetch())).toMatchObject({ status: 404, code: 20404 });
  });
});

describe('idempotency (I-Twilio-Idempotency-Token)', () => {
  it('returns the first resource for a repeated token instead of creating another', async () => {
    const { url, client } = await emulator();
    const send = () => withIdempotencyToken('reminder-42', () => client.messages.create({ to: TO, from: FROM, body: 'once' }));
    const a = await send();
    const b = await send();
    expect(b.sid).toBe(a.sid);
    const other = await withIdempotencyToken('reminder-43', () => client.messages.create({ to: TO, from: FROM, body: 'once' }));
    expect(other.sid).not.toBe(a.sid);

    const list = (await received(url, 'messages')) as MessageRecord[];
    expect(list).toHaveLength(2);
    expect(list[0]).toMatchObject({ sid: a.sid, idempotencyToken: 'reminder-42', replays: 1 });
    expect(list[0]?.headers.userAgent).toMatch(/^twilio-node\//);
  });

  it('lets a retry after "created, but answered 500" find the created message', async () => {
    const { url, client } = await emulator();
    const fault = await fetch(`${url}/_emulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 500, afterCreate: true, resource: 'messages' }),
    });
    expect(fault.status).toBe(201);
    const send = () => withIdempotencyToken('job-7', () => client.messages.create({ to: TO, from: FROM, body: 'x', statusCallback: `${sink.url}/cb/idem` }));
    expect(await rejection(send())).toMatchObject({ status: 500, code: 20500 });
    const retried = await send();
    const list = (await received(url, 'messages')) as MessageRecord[];
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ sid: retried.sid, replays: 1, response: { status: 500, code: 20500 } });
    await waitFor(() => hitsFor('idem').length >= 2);
    expect(statuses('idem', 'MessageStatus')).toEqual(['sent', 'delivered']);
  });

  it('exports the header name it dedupes on', () => {
    expect(IDEMPOTENCY_HEADER).toBe('I-Twilio-Idempotency-Token');
  });
});

describe('failure injection', () => {
  it('rate 1 / 30008 → sent, then undelivered with ErrorCode 30008', async () => {
    const { client } = await emulator({ failure: { rate: 1, code: 30008 } });
    const msg = await client.messages.create({ to: TO, from: FROM, body: 'x', statusCallback: `${sink.url}/cb/f1` });
    await waitFor(() => hitsFor('f1').length >= 2);
    expect(statuses('f1', 'MessageStatus')).toEqual(['sent', 'undelivered']);
    expect(hitsFor('f1')[1]?.params).toMatchObject({ ErrorCode: '30008', MessageSid: msg.sid });
    expect(hitsFor('f1').every((h) => h.valid)).toBe(true);
    expect(await client.messages(msg.sid).fetch()).toMatchObject({ status: 'undelivered', errorCode: 30008 });
  });

  it('status "failed" → failed with its ErrorCode, never sent; per-recipient call outcomes', async () => {
    const busy = '+15558675399';
    const { client } = await emulator({ failure: { rate: 1, code: 30008, status: 'failed', recipients: { [busy]: { call: 'busy' } } } });
    const msg = await client.messages.create({ to: TO, from: FROM, body: 'x', statusCallback: `${sink.url}/cb/f2` });
    await waitFor(() => hitsFor('f2').length >= 1);
    await new Promise((r) => setTimeout(r, 40));
    expect(statuses('f2', 'MessageStatus')).toEqual(['failed']);
    expect(hitsFor('f2')[0]?.params.ErrorCode).toBe('30008');
    expect(await client.messages(msg.sid).fetch()).toMatchObject({ status: 'failed', errorCode: 30008 });

    await client.calls.create({ to: busy, from: FROM, url: 'https://e.com', statusCallback: `${sink.url}/cb/f3`, statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'] });
    await waitFor(() => statuses('f3', 'CallStatus').includes('busy'));
    expect(statuses('f3', 'CallStatus')).toEqual(['initiated', 'ringing', 'busy']);
    expect(hitsFor('f3')[2]?.params.CallDuration).toBe('0');
  });

  it('ValidityPeriod elapsed while queued → failed with 30036 (Validity Period Expired)', async () => {
    const { client } = await emulator({ queueTimeMs: 1100 });
    const msg = await client.messages.create({ to: TO, from: FROM, body: 'x', validityPeriod: 1, statusCallback: `${sink.url}/cb/vp` });
    await waitFor(() => hitsFor('vp').length >= 1);
    expect(statuses('vp', 'MessageStatus')).toEqual(['failed']);
    expect(hitsFor('vp')[0]?.params.ErrorCode).toBe('30036');
    expect(await client.messages(msg.sid).fetch()).toMatchObject({ status: 'failed', errorCode: 30036 });
    expect(await rejection(client.messages.create({ to: TO, from: FROM, body: 'x', validityPeriod: 36001 }))).toMatchObject({ code: 21624 });
  });

  it('429 / 20429 without retries; twilio-node autoRetry gets through; 500 / 20500 on the magic number', async () => {
    const { url, client } = await emulator({ failure: { http: [{ status: 429, times: 1 }] } });
    expect(await rejection(client.messages.create({ to: TO, from: FROM, body: 'x' }))).toMatchObject({ status: 429, code: 20429 });

    await fetch(`${url}/_emulator/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 429, times: 2 }) });
    const retrying = createTwilioClient({ accountSid: SID, authToken: TOKEN, apiBase: url, autoRetry: true, maxRetries: 3 });
    const ok = await retrying.messages.create({ to: TO, from: FROM, body: 'x' });
    expect(ok.status).toBe('queued');
    const list = (await received(url, 'messages')) as MessageRecord[];
    expect(list.map((r) => r.response.status)).toEqual([429, 429, 429, 201]);
    expect(list.filter((r) => r.sid !== null)).toHaveLength(1);

    expect(await rejection(client.messages.create({ to: '+15005550500', from: FROM, body: 'x' }))).toMatchObject({ status: 500, code: 20500 });
    expect(await rejection(client.calls.create({ to: '+15005550429', from: FROM, url: 'https://e.com' }))).toMatchObject({ status: 429, code: 20429 });
  });

  it('injects API latency', async () => {
    const { client } = await emulator({ latencyMs: [120, 140] });
    const t0 = Date.now();
    await client.messages.create({ to: TO, from: FROM, body: 'x' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(115);
  });
});

describe('lists (GET Messages.json / Calls.json) with Twilio’s filters and paging', () => {
  // The emulator's own clock, moved by the test: resources' dates are exact.
  const T0 = Date.parse('2026-12-08T17:00:00Z');
  let now = T0;
  const at = (iso: string) => (now = Date.parse(iso));
  const OTHER = '+15558675311';

  it('filters messages by To, From and DateSent (an instant or a whole day, on/before/after), newest first, across pages', async () => {
    const { client, url, app } = await emulator({ now: () => now, callbackDelayMs: 1, queueTimeMs: 1 });
    const sent: string[] = [];
    for (const [iso, to, from] of [
      ['2026-12-07T23:59:58Z', TO, FROM],
      ['2026-12-08T17:00:00Z', TO, FROM],
      ['2026-12-08T17:00:05Z', OTHER, FROM],
      ['2026-12-08T17:00:09Z', TO, '+15005550010'],
      ['2026-12-08T18:30:00Z', TO, FROM],
    ] as const) {
      at(iso);
      const m = await client.messages.create({ to, from, body: `at ${iso}` });
      sent.push(m.sid);
      // It reaches `sent` (its DateSent) on this instant, before the clock moves.
      await waitFor(() => (app.emulator.messages().find((r) => r.sid === m.sid)?.resource?.date_sent ? true : null));
    }
    // A rejected request created nothing and is never listed.
    await rejection(client.messages.create({ to: '+15005550001', from: FROM, body: 'x' }));

    const sids = (list: Array<{ sid: string }>) => list.map((m) => sent.indexOf(m.sid));
    expect(sids(await client.messages.list({ to: TO }))).toEqual([4, 3, 1, 0]); // newest first
    expect(sids(await client.messages.list({ to: TO, from: FROM }))).toEqual([4, 1, 0]);
    expect(sids(await client.messages.list({ to: TO, dateSentAfter: new Date('2026-12-08T17:00:00Z') }))).toEqual([4, 3, 1]);
    expect(sids(await client.messages.list({ to: TO, dateSentBefore: new Date('2026-12-08T17:00:09Z') }))).toEqual([3, 1, 0]);
    expect(sids(await client.messages.list({ to: TO, dateSent: new Date('2026-12-08T18:30:00Z') }))).toEqual([4]);
    // A day: `DateSent>=2026-12-08` arrives as key "DateSent>", as in Twilio's documentation.
    const day = await fetch(`${url}/${'2010-04-01'}/Accounts/${SID}/Messages.json?To=${encodeURIComponent(TO)}&DateSent%3E=2026-12-08`, { headers: { authorization: BASIC } });
    expect(day.status).toBe(200);
    const dayBody = (await day.json()) as { messages: Array<{ sid: string; date_sent: string }>; page_size: number; next_page_uri: string | null };
    expect(sids(dayBody.messages)).toEqual([4, 3, 1]);
    expect(dayBody).toMatchObject({ page_size: 50, next_page_uri: null });
    expect(dayBody.messages[0]!.date_sent).toMatch(RFC2822);
    const before = await fetch(`${url}/2010-04-01/Accounts/${SID}/Messages.json?To=${encodeURIComponent(TO)}&DateSent%3C=2026-12-07`, { headers: { authorization: BASIC } });
    expect(sids(((await before.json()) as { messages: Array<{ sid: string }> }).messages)).toEqual([0]);
    // Paging: twilio-node follows next_page_uri (and its PageToken) to the end, or stops at `limit`.
    expect(sids(await client.messages.list({ to: TO, pageSize: 1 }))).toEqual([4, 3, 1, 0]);
    expect(sids(await client.messages.list({ to: TO, pageSize: 1, limit: 2 }))).toEqual([4, 3]);
    const page = await client.messages.page({ to: TO, pageSize: 3 });
    expect(page.instances).toHaveLength(3);
    expect(page.nextPageUrl).toContain('PageToken=PA');
    // A bad date is Twilio's 400.
    const bad = await fetch(`${url}/2010-04-01/Accounts/${SID}/Messages.json?DateSent=yesterday`, { headers: { authorization: BASIC } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 20001, status: 400 });
    // Another account's list is not found.
    const other = await fetch(`${url}/2010-04-01/Accounts/AC${'f'.repeat(32)}/Messages.json`, { headers: { authorization: BASIC } });
    expect(other.status).toBe(404);
  });

  it('a message still queued has no DateSent: a DateSent filter misses it, the unfiltered list has it', async () => {
    const { client } = await emulator({ now: () => now, queueTimeMs: 60_000 });
    at('2026-12-08T17:00:00Z');
    const m = await client.messages.create({ to: TO, from: FROM, body: 'queued' });
    expect(m.status).toBe('queued');
    expect(m.dateSent).toBeNull();
    expect(await client.messages.list({ to: TO, dateSentAfter: new Date('2026-12-08T00:00:00Z') })).toEqual([]);
    expect((await client.messages.list({ to: TO })).map((x) => x.sid)).toEqual([m.sid]);
  });

  it('filters calls by To, Status and StartTime (a call not yet answered has none)', async () => {
    const { client, app } = await emulator({ now: () => now, callbackDelayMs: 1 });
    at('2026-12-08T17:00:00Z');
    const answered = await client.calls.create({ to: TO, from: FROM, twiml: '<Response><Say>Hi</Say></Response>' });
    // queued → initiated → ringing → in-progress (its StartTime) → completed
    await waitFor(() => (app.emulator.calls().find((r) => r.sid === answered.sid)?.resource?.status === 'completed' ? true : null));
    const slow = await emulator({ now: () => now, callbackDelayMs: 60_000 });
    const pending = await slow.client.calls.create({ to: TO, from: FROM, twiml: '<Response/>' });
    expect((await client.calls.list({ to: TO, startTimeAfter: new Date('2026-12-08T16:59:00Z') })).map((c) => c.sid)).toEqual([answered.sid]);
    expect((await client.calls.list({ to: TO, status: 'completed' })).map((c) => c.sid)).toEqual([answered.sid]);
    expect(await slow.client.calls.list({ to: TO, startTimeAfter: new Date('2026-12-08T16:59:00Z') })).toEqual([]);
    expect((await slow.client.calls.list({ to: TO })).map((c) => c.sid)).toEqual([pending.sid]);
  });
});

describe('inspection, mounting and the standalone runner', () => {
  it('GET /_emulator/messages lists what it received; DELETE resets', async () => {
    const { url, client } = await emulator();
    await withIdempotencyToken('tok-1', () => client.messages.create({ to: TO, from: FROM, body: 'hello there', statusCallback: `${sink.url}/cb/list`, validityPeriod: 600 }));
    await rejection(client.messages.create({ to: '+15005550004', from: FROM, body: 'x' }));
    await waitFor(() => hitsFor('list').length >= 2);
    await new Promise((r) => setTimeout(r, 20));

    const list = (await received(url, 'messages')) as MessageRecord[];
    expect(list).toHaveLength(2);
    const [ok, rejected] = list;
    expect(ok).toMatchObject({
      kind: 'message',
      accountSid: SID,
      idempotencyToken: 'tok-1',
      params: { To: TO, From: FROM, Body: 'hello there', StatusCallback: `${sink.url}/cb/list`, ValidityPeriod: '600' },
      response: { status: 201, code: null },
      resource: { status: 'delivered' },
    });
    expect(ok?.statusHistory.map((s) => s.status)).toEqual(['queued', 'sent', 'delivered']);
    expect(ok?.callbacks.map((c) => [c.status, c.responseStatus])).toEqual([['sent', 204], ['delivered', 204]]);
    expect(rejected).toMatchObject({ sid: null, resource: null, response: { status: 400, code: 21610 } });

    expect((await fetch(`${url}/_emulator/messages`, { method: 'DELETE' })).status).toBe(204);
    expect(await received(url, 'messages')).toEqual([]);
  });

  it('works mounted under /_emulator in a host app (TWILIO_API_BASE=http://host/_emulator)', async () => {
    const host = express();
    host.get('/health', (_req, res) => {
      res.json({ ok: true });
    });
    const router = createEmulatorRouter({ accounts: { [SID]: TOKEN }, callbackDelayMs: 5 });
    host.use('/_emulator', router);
    const url = await listen(host);
    servers.push(async () => router.emulator.dispose());
    const client = createTwilioClient({ accountSid: SID, authToken: TOKEN, apiBase: `${url}/_emulator` });
    const msg = await client.messages.create({ to: TO, from: FROM, body: 'x' });
    const call = await client.calls.create({ to: TO, from: FROM, url: 'https://e.com' });
    expect((await received(url, 'messages')).map((r) => r.sid)).toEqual([msg.sid]);
    expect((await received(url, 'calls')).map((r) => r.sid)).toEqual([call.sid]);
    expect((await fetch(`${url}/health`)).status).toBe(200);
    expect((await fetch(`${url}/2010-04-01/Accounts/${SID}/Messages.json`, { method: 'POST' })).status).toBe(404);
  });

  it('keeps working when TWILIO_EDGE / TWILIO_REGION are set (why not `client.api.baseUrl`)', async () => {
    vi.stubEnv('TWILIO_EDGE', 'sydney');
    vi.stubEnv('TWILIO_REGION', 'au1');
    try {
      const client = createTwilioClient({ accountSid: SID, authToken: TOKEN, apiBase: main.url });
      const msg = await client.messages.create({ to: TO, from: FROM, body: 'x' });
      expect(msg.status).toBe('queued');
      // The region/edge rewrite that a plain `api.baseUrl` override would go through:
      expect(client.getHostname('127.0.0.1', 'sydney', 'au1')).not.toBe('127.0.0.1');
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('startEmulator({ port: 0 }) → { url, close }', async () => {
    const running = await startEmulator({ port: 0, accounts: { [SID]: TOKEN }, logger: false, callbackDelayMs: 5 });
    try {
      expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const client: TwilioClient = createTwilioClient({ accountSid: SID, authToken: TOKEN, apiBase: running.url });
      const call = await client.calls.create({ to: TO, from: FROM, url: 'https://e.com', statusCallback: `${sink.url}/cb/run` });
      await waitFor(() => hitsFor('run').length >= 1);
      expect(hitsFor('run')[0]?.params).toMatchObject({ CallSid: call.sid, CallStatus: 'completed' });
      expect((await received(running.url, 'calls')).map((r) => r.sid)).toEqual([call.sid]);
    } finally {
      await running.close();
    }
  });

  it('never logs a full phone number or a message body', async () => {
    const lines: string[] = [];
    const logger = {
      info: (o: object, m?: string) => lines.push(JSON.stringify({ ...o, m })),
      warn: (o: object, m?: string) => lines.push(JSON.stringify({ ...o, m })),
    };
    const { client } = await emulator({ logger });
    const body = 'Confidential: your balance is 1234';
    await client.messages.create({ to: TO, from: FROM, body, statusCallback: `${sink.url}/cb/log` });
    await client.calls.create({ to: TO, from: FROM, url: 'https://e.com' });
    await rejection(client.messages.create({ to: '+15005550004', from: FROM, body }));
    await waitFor(() => hitsFor('log').length >= 2);
    const text = lines.join('\n');
    expect(lines.length).toBeGreaterThan(3);
    expect(text).not.toContain(TO);
    expect(text).not.toContain('15005550004');
    expect(text).not.toContain('Confidential');
    expect(text).toContain('+1******5310');
  });
});

describe("the client's transport (node:http, kept-alive) against twilio-node's own (axios)", () => {
  it('sends the same requests and reads the same answers and errors', async () => {
    const { url } = await emulator();
    const lean = createTwilioClient({ accountSid: SID, authToken: TOKEN, apiBase: url });
    const axios = createTwilioClient({ accountSid: SID, authToken: TOKEN, apiBase: url, autoRetry: true }); // auto-retry is the library's: it keeps axios
    const message = { to: TO, from: FROM, body: 'Ünïcode ✓ 🎉 مرحبا & = + %', statusCallback: `${sink.url}/cb/transport?x=1&y=2`, validityPeriod: 600 };
    const call = { to: TO, from: FROM, twiml: '<Response><Say>Hi &amp; bye</Say></Response>', statusCallback: `${sink.url}/cb/transport-call`, statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'] };
    const sent = await Promise.all(
      [lean, axios].map((c, i) =>
        withIdempotencyToken(`transport-${i}`, async () => ({ m: await c.messages.create(message), c: await c.calls.create(call) })),
      ),
    );
    for (const s of sent) {
      expect(s.m.sid).toMatch(/^SM[0-9a-f]{32}$/);
      expect(s.m.body).toBe(message.body);
      expect(s.c.sid).toMatch(/^CA[0-9a-f]{32}$/);
    }
    const messages = (await received(url, 'messages')) as MessageRecord[];
    const calls = (await received(url, 'calls')) as CallRecord[];
    const byToken = <R extends { idempotencyToken: string | null }>(list: R[], t: string) => list.find((r) => r.idempotencyToken === t)!;
    expect(byToken(messages, 'transport-0').params).toEqual(byToken(messages, 'transport-1').params);
    expect(byToken(messages, 'transport-0').params).toMatchObject({ To: TO, From: FROM, Body: message.body, StatusCallback: message.statusCallback, ValidityPeriod: '600' });
    expect(byToken(calls, 'transport-0').params).toEqual(byToken(calls, 'transport-1').params);
    for (const r of [...messages, ...calls]) {
      expect(r.headers.userAgent).toMatch(/^twilio-node\//);
      expect(r.headers.contentType).toBe('application/x-www-form-urlencoded');
    }
    // Fetches and errors go through the same parsing (twilio-node's Version and RestException).
    expect((await lean.messages(sent[1]!.m.sid).fetch()).sid).toBe(sent[1]!.m.sid);
    const errors = await Promise.all([lean, axios].map((c) => rejection(c.messages.create({ to: '+15005550001', from: FROM, body: 'x' }))));
    for (const err of errors) expect(err).toMatchObject({ status: 400, code: 21211 });
    expect(await rejection(lean.messages(`SM${'0'.repeat(32)}`).fetch())).toMatchObject({ status: 404, code: 20404 });
  });

  it('gives up after the timeout with a network error (no status), as axios does', async () => {
    const { url } = await emulator({ latencyMs: 1000 });
    const lean = createTwilioClient({ accountSid: SID, authToken: TOKEN, apiBase: url, timeoutMs: 100 });
    const err = (await lean.messages.create({ to: TO, from: FROM, body: 'slow' }).catch((e: unknown) => e)) as Error & { status?: number };
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(twilio.RestException);
    expect(err.message).toMatch(/timeout/);
    expect(err.status).toBeUndefined();
  });
});
