/**
 * Opt-outs end to end on the real Redis and Postgres: signed inbound STOP / START / IVR key
 * presses, the one confirmation text, 500 pending timers suppressed in one transaction (the queued
 * ones never reach the emulator), audit entries per cancelled timer and a verifying chain, the
 * replies to HELP (rate-limited per number) and to a START that lifted an opt-out, and the
 * /v1/suppressions API (single, batch with a bad entry, list masked for auditors, lift).
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import twilio from 'twilio';
import { createApiKey } from '../../src/adapters/auth/api-keys.ts';
import { DEFAULT_CONFIRMATION, DEFAULT_HELP_TEXT, DEFAULT_OPT_IN_CONFIRMATION } from '../../src/app/org-settings.ts';
import { TimerService } from '../../src/app/timers/timer-service.ts';
import type { CreateTimerInput } from '../../src/app/timers/schemas.ts';
import { AUTH_TOKEN, offsetTo, smsBody, startEngine, until, type TestEngine } from '../helpers/engine.ts';

// Tuesday 2026-12-08 12:00 in New York (17:00Z): inside every window for zip 10001.
const NOON_NY = '2026-12-08T17:00:00Z';

let e: TestEngine;
const inMs = (ms: number) => new Date(e.clock.now() + ms).toISOString();
const messagesTo = (phone: string) => e.emulator.emulator.messages().filter((m) => m.params['To'] === phone && m.sid !== null);
const callsTo = (phone: string) => e.emulator.emulator.calls().filter((c) => c.params['To'] === phone && c.sid !== null);

/** POSTs a form to a webhook, signed with `token` over the full URL unless `signature` is given. */
async function webhook(path: string, params: Record<string, string>, opts: { token?: string; signature?: string | null } = {}): Promise<{ status: number; text: string; type: string | null; ms: number }> {
  const url = `${e.url}${path}`;
  const signature = opts.signature === undefined ? twilio.getExpectedTwilioSignature(opts.token ?? AUTH_TOKEN, url, params) : opts.signature;
  const started = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(signature === null ? {} : { 'x-twilio-signature': signature }) },
    body: new URLSearchParams(params).toString(),
  });
  const text = await res.text();
  return { status: res.status, text, type: res.headers.get('content-type'), ms: performance.now() - started };
}

let smsSeq = 0;
const inbound = (from: string, body: string, orgId = e.orgId) =>
  webhook(`/webhooks/twilio/inbound?orgId=${orgId}`, { From: from, To: '+15005550006', Body: body, MessageSid: `SM${String(++smsSeq).padStart(32, '0')}`, AccountSid: 'AC0' });

const timerInput = (phone: string, channel: 'sms' | 'voice', at: string): CreateTimerInput =>
  ({
    contact: { phone, zip: '10001' },
    channel,
    at,
    policy: 'next_slot',
    purpose: 'informational',
    ...(channel === 'sms' ? { message: { body: 'Your appointment is tomorrow' } } : { voice: { twiml: '<Response><Say>Your appointment is tomorrow</Say></Response>' } }),
  }) as CreateTimerInput;

/** Creates timers through the TimerService (no HTTP, no rate limit), a few at a time. */
async function createMany(inputs: CreateTimerInput[], concurrency = 6): Promise<string[]> {
  const svc = new TimerService(e.rt.ctx);
  const ids: string[] = new Array(inputs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < inputs.length) {
        const i = next++;
        ids[i] = (await svc.create(e.orgId, inputs[i]!)).body.id;
      }
    }),
  );
  return ids;
}

const statusesOf = async (ids: string[]) => (await e.rt.prisma.timer.findMany({ where: { id: { in: ids } }, select: { status: true } })).map((t) => t.status);
const liveSuppressions = (phone: string) => e.rt.prisma.suppression.findMany({ where: { orgId: e.orgId, phoneE164: phone, liftedAt: null } });

beforeAll(async () => {
  e = await startEngine({ clockOffsetMs: offsetTo(NOON_NY) });
});
afterAll(async () => {
  await e?.stop();
});

describe('inbound STOP', () => {
  const phones = ['+12125550201', '+12125550202', '+12125550203', '+12125550204', '+12125550205'];
  const target = phones[2]!;

  it('suppresses exactly that number’s 500-timer share on both channels at once; queued sends never go out; one confirmation', async () => {
    // 5 numbers × 100 timers (50 SMS + 50 voice), due in an hour: `scheduled`, in Postgres only.
    const inputs = phones.flatMap((p) => Array.from({ length: 100 }, (_, i) => timerInput(p, i % 2 ? 'voice' : 'sms', inMs(3600_000 + i * 1000))));
    const t0 = performance.now();
    const scheduled = await createMany(inputs);
    console.log(`created ${scheduled.length} scheduled timers in ${Math.round(performance.now() - t0)} ms`);
    // A few due in ~7-9 s: within the horizon, so already BullMQ jobs (`queued`).
    const queuedTarget = await createMany([timerInput(target, 'sms', inMs(7000)), timerInput(target, 'voice', inMs(7500)), timerInput(target, 'sms', inMs(8000)), timerInput(target, 'voice', inMs(9000))]);
    const queuedOther = await createMany([timerInput(phones[0]!, 'sms', inMs(7000)), timerInput(phones[0]!, 'voice', inMs(7000))]);
    await until(async () => (await statusesOf([...queuedTarget, ...queuedOther])).every((s) => s === 'queued'), 5000, 50);
    expect(await statusesOf(scheduled)).toEqual(Array(500).fill('scheduled'));

    const stop = await inbound(target, 'STOP');
    console.log(`inbound STOP suppressed ${100 + queuedTarget.length} of ${500 + queuedTarget.length + queuedOther.length} pending timers; webhook answered in ${Math.round(stop.ms)} ms`);
    expect(stop.status).toBe(200);
    expect(stop.type).toMatch(/^text\/xml/);
    expect(stop.text).toMatch(/<Response\/>$/);
    expect(stop.ms).toBeLessThan(5000);

    // Exactly the target's timers (both channels, scheduled and queued) are suppressed, at once.
    const rows = await e.rt.prisma.timer.findMany({ where: { orgId: e.orgId, id: { in: [...scheduled, ...queuedTarget, ...queuedOther] } }, include: { contact: { select: { phoneE164: true } } } });
    const mine = rows.filter((r) => r.contact.phoneE164 === target);
    const others = rows.filter((r) => r.contact.phoneE164 !== target);
    expect(mine).toHaveLength(104);
    expect(mine.every((r) => r.status === 'suppressed')).toBe(true);
    expect(new Set(mine.map((r) => r.channel))).toEqual(new Set(['sms', 'voice']));
    expect(mine.every((r) => (r.decision as { decision: string; reasons: Array<{ code: string }> }).decision === 'cancel')).toBe(true);
    const view = (await e.api('GET', `/v1/timers/${queuedTarget[0]}`)).body;
    expect(view).toMatchObject({ status: 'suppressed', decision: 'cancel', reasons: [{ code: 'SUPPRESSED', message: 'the number is on the suppression list (keyword: STOP)' }] });
    expect(view.events.map((ev: { action: string }) => ev.action)).toEqual(['timer.created', 'timer.suppressed']);
    expect(others.filter((r) => scheduled.includes(r.id)).every((r) => r.status === 'scheduled')).toBe(true);

    // One suppression, no full number in the audit; one audit entry per cancelled timer.
    const [sup] = await liveSuppressions(target);
    expect(sup).toMatchObject({ source: 'inbound_sms', reason: 'keyword: STOP', channel: null });
    const added = await e.rt.prisma.auditEntry.findMany({ where: { orgId: e.orgId, action: 'suppression.added' } });
    expect(added).toHaveLength(1);
    expect(added[0]!.data).toMatchObject({ source: 'inbound_sms', reason: 'keyword: STOP', channel: null, expiresAt: null, areaCode: '212', cancelledTimers: 104 });
    expect(JSON.stringify(added[0]!.data)).not.toContain('5550203');
    const perTimer = await e.rt.prisma.auditEntry.findMany({ where: { orgId: e.orgId, action: 'timer.suppressed' }, select: { timerId: true, reasonCodes: true, data: true } });
    expect(perTimer).toHaveLength(104);
    expect(new Set(perTimer.map((a) => a.timerId))).toEqual(new Set(mine.map((r) => r.id)));
    expect(perTimer.every((a) => a.reasonCodes.join() === 'SUPPRESSED' && (a.data as { source: string }).source === 'inbound_sms')).toBe(true);

    // The confirmation went straight out; the queued SMS/calls never do (wait past their due time).
    await until(() => messagesTo(target).length === 1, 5000, 50);
    expect(messagesTo(target)[0]!.params['Body']).toBe(DEFAULT_CONFIRMATION);
    // Its status callbacks reach our signed confirmation-status endpoint.
    expect(messagesTo(target)[0]!.params['StatusCallback']).toBe(`${e.url}/webhooks/twilio/confirmation-status?orgId=${e.orgId}`);
    await until(() => messagesTo(target)[0]!.callbacks.some((c) => c.responseStatus === 204), 5000, 50);
    await until(async () => (await statusesOf(queuedOther)).every((s) => s === 'delivered'), 20_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(messagesTo(target)).toHaveLength(1);
    expect(callsTo(target)).toHaveLength(0);
    expect(await statusesOf(queuedTarget)).toEqual(Array(4).fill('suppressed'));

    // A repeated STOP: still 200, no second entry, no second confirmation.
    const again = await inbound(target, 'stop');
    expect(again.status).toBe(200);
    await new Promise((r) => setTimeout(r, 500));
    expect(messagesTo(target)).toHaveLength(1);
    expect(await liveSuppressions(target)).toHaveLength(1);
    expect(await e.rt.prisma.auditEntry.count({ where: { orgId: e.orgId, action: 'optout.confirmation_sent' } })).toBe(1);

    const verify = await e.api('GET', '/v1/audit/verify');
    expect(verify.body).toMatchObject({ ok: true });
  }, 120_000);

  it('one number with 500 pending timers (SMS and voice): all suppressed, and audited, in one webhook call', async () => {
    const phone = '+12125550261';
    // Two timers made by the service, copied to 500 rows (the copies are what matters here: pending rows).
    const [smsId, voiceId] = await createMany([timerInput(phone, 'sms', inMs(3600_000)), timerInput(phone, 'voice', inMs(3600_000))]);
    const models = await e.rt.prisma.timer.findMany({ where: { id: { in: [smsId!, voiceId!] } } });
    await e.rt.prisma.timer.createMany({
      data: Array.from({ length: 498 }, (_, i) => {
        const { id: _id, createdAt: _c, updatedAt: _u, decision, payload, ...rest } = models[i % 2]!;
        return { ...rest, sendAt: new Date(rest.sendAt!.getTime() + i * 1000), decision: decision as object, payload: payload as object };
      }),
    });
    const contact = await e.rt.prisma.contact.findFirstOrThrow({ where: { orgId: e.orgId, phoneE164: phone } });
    expect(await e.rt.prisma.timer.count({ where: { contactId: contact.id, status: 'scheduled' } })).toBe(500);

    const stop = await inbound(phone, 'Please stop texting me');
    console.log(`inbound opt-out of one number with 500 pending timers: webhook answered in ${Math.round(stop.ms)} ms (suppression + 500 CAS moves + 501 audit entries + confirmation send)`);
    expect(stop.status).toBe(200);
    expect(stop.ms).toBeLessThan(3000);
    expect(await e.rt.prisma.timer.count({ where: { contactId: contact.id, status: 'suppressed' } })).toBe(500);
    expect(await e.rt.prisma.auditEntry.count({ where: { orgId: e.orgId, contactId: contact.id, action: 'timer.suppressed' } })).toBe(500);
    expect((await e.api('GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });

  it('START lifts the SMS opt-out (a new timer is scheduled again) but never a manual entry', async () => {
    const before = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: target, zip: '10001' }, at: inMs(3600_000) }));
    expect(before.body.status).toBe('suppressed');
    const start = await inbound(target, 'START');
    expect(start.status).toBe(200);
    expect(await liveSuppressions(target)).toHaveLength(0);
    const after = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: target, zip: '10001' }, at: inMs(3600_000) }));
    expect(after.body.status).toBe('scheduled');
    const lifted = await e.rt.prisma.auditEntry.findFirst({ where: { orgId: e.orgId, action: 'suppression.lifted' }, orderBy: { seq: 'desc' } });
    expect(lifted?.data).toMatchObject({ sources: ['inbound_sms'], areaCode: '212', by: 'inbound_sms: START' });

    const manual = '+12125550211';
    expect((await e.api('POST', '/v1/suppressions', { phone: manual, reason: 'internal do-not-call list', source: 'dnc' })).status).toBe(201);
    expect((await inbound(manual, 'START')).status).toBe(200);
    expect(await liveSuppressions(manual)).toHaveLength(1);
    expect((await e.api('POST', '/v1/timers', smsBody({ contact: { phone: manual, zip: '10001' }, at: inMs(3600_000) }))).body.status).toBe('suppressed');
  });

  it('a bad or missing signature, another org’s token or an unknown org → 403 and nothing changes', async () => {
    const phone = '+12125550221';
    const created = await e.api('POST', '/v1/timers', smsBody({ contact: { phone, zip: '10001' }, at: inMs(3600_000) }));
    const params = { From: phone, To: '+15005550006', Body: 'STOP', MessageSid: 'SM1' };
    const path = `/webhooks/twilio/inbound?orgId=${e.orgId}`;
    expect((await webhook(path, params, { signature: null })).status).toBe(403);
    expect((await webhook(path, params, { signature: 'bm90IGEgc2lnbmF0dXJl' })).status).toBe(403);
    expect((await webhook(path, params, { token: 'another-token' })).status).toBe(403);
    // Signed for another URL (the org id is part of what is signed).
    const other = await createApiKey(e.rt.prisma, { orgName: `other-${e.prefix}`, role: 'admin' });
    const sig = twilio.getExpectedTwilioSignature(AUTH_TOKEN, `${e.url}/webhooks/twilio/inbound?orgId=${other.orgId}`, params);
    expect((await webhook(path, params, { signature: sig })).status).toBe(403);
    expect((await webhook('/webhooks/twilio/inbound?orgId=00000000-0000-4000-8000-000000000000', params)).status).toBe(403);
    expect((await webhook('/webhooks/twilio/inbound', params)).status).toBe(403);
    expect((await webhook(`/webhooks/twilio/voice-optout?orgId=${e.orgId}`, { To: phone, Digits: '9', Direction: 'outbound-api' }, { signature: null })).status).toBe(403);
    expect(await liveSuppressions(phone)).toHaveLength(0);
    expect((await e.rt.prisma.timer.findUniqueOrThrow({ where: { id: created.body.id } })).status).toBe('scheduled');
  });

  it('plain-language Spanish "No me llames más" opts out; ordinary messages do not', async () => {
    const phone = '+12125550231';
    expect((await inbound(phone, "I'll stop by tomorrow")).status).toBe(200);
    expect(await liveSuppressions(phone)).toHaveLength(0);
    expect((await inbound(phone, 'No me llames más')).status).toBe(200);
    expect(await liveSuppressions(phone)).toMatchObject([{ source: 'inbound_sms', reason: 'phrase: "no me llames"' }]);
  });

  it('a confirmation that fails is audited and does not fail the webhook', async () => {
    const phone = '+15005550009'; // the emulator refuses SMS to it (21614)
    const res = await inbound(phone, 'UNSUBSCRIBE');
    expect(res.status).toBe(200);
    expect(await liveSuppressions(phone)).toHaveLength(1);
    const failed = await e.rt.prisma.auditEntry.findFirst({ where: { orgId: e.orgId, action: 'optout.confirmation_failed' } });
    expect(failed?.data).toMatchObject({ kind: 'permanent', providerCode: 21614, areaCode: '500' });
  });
});

describe('voice opt-out (IVR key press)', () => {
  it('the org’s digit (default 9) suppresses the called number; another digit does nothing', async () => {
    const phone = '+12125550241';
    const t = await e.api('POST', '/v1/timers', smsBody({ contact: { phone, zip: '10001' }, at: inMs(3600_000) }));
    const path = `/webhooks/twilio/voice-optout?orgId=${e.orgId}`;
    const call = { CallSid: `CA${'1'.repeat(32)}`, From: '+15005550006', To: phone, Direction: 'outbound-api' };
    const other = await webhook(path, { ...call, Digits: '1' });
    expect(other.status).toBe(200);
    expect(other.text).not.toContain('<Say>');
    expect(await liveSuppressions(phone)).toHaveLength(0);

    const res = await webhook(path, { ...call, Digits: '9' });
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/xml/);
    expect(res.text).toContain('<Response><Say>You will not be called again.</Say></Response>');
    expect(await liveSuppressions(phone)).toMatchObject([{ source: 'inbound_voice', reason: 'keypress: 9', channel: null }]);
    expect((await e.rt.prisma.timer.findUniqueOrThrow({ where: { id: t.body.id } })).status).toBe('suppressed');

    // A call the consumer made to us: the consumer is From (Caller when From is absent).
    const inboundCall = '+12125550242';
    expect((await webhook(path, { CallSid: `CA${'2'.repeat(32)}`, Caller: inboundCall, Called: '+15005550006', Direction: 'inbound', Digits: '9' })).status).toBe(200);
    expect(await liveSuppressions(inboundCall)).toHaveLength(1);
  });
});

describe('replies to HELP and START', () => {
  const orgName = () => `org-${e.prefix}`;
  /** The texts the emulator accepted for `phone`, read at its GET /_emulator/messages. */
  const textsTo = async (phone: string): Promise<string[]> => {
    const all = (await (await fetch(`${e.emulator.url}/_emulator/messages`)).json()) as Array<{ sid: string | null; params: Record<string, string> }>;
    return all.filter((m) => m.params['To'] === phone && m.sid !== null).map((m) => m.params['Body']!);
  };
  const auditOf = (action: string) => e.rt.prisma.auditEntry.findMany({ where: { orgId: e.orgId, action }, orderBy: { seq: 'asc' } });
  const settle = () => new Promise((r) => setTimeout(r, 300));

  it('the settings API has the new settings, with defaults, validated', async () => {
    const got = await e.api('GET', '/v1/org/settings');
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ helpReply: true, helpText: DEFAULT_HELP_TEXT, optInConfirmation: true, optInConfirmationText: DEFAULT_OPT_IN_CONFIRMATION });
    expect(DEFAULT_HELP_TEXT).toContain('{org}');
    expect(DEFAULT_HELP_TEXT).toMatch(/STOP/);
    for (const bad of [{ helpText: '' }, { helpText: 'x'.repeat(321) }, { optInConfirmationText: '' }, { helpReply: 'yes' }, { optInConfirmation: 1 }]) {
      const res = await e.api('PATCH', '/v1/org/settings', bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
    }
    expect((await e.api('GET', '/v1/org/settings')).body).toMatchObject({ helpText: DEFAULT_HELP_TEXT, optInConfirmationText: DEFAULT_OPT_IN_CONFIRMATION });
  });

  it('HELP gets one reply (the org’s helpText, org name filled in); again within 10 minutes none; after 10 minutes one more', async () => {
    const phone = '+12125550301';
    const expected = DEFAULT_HELP_TEXT.replace('{org}', orgName());
    const res = await inbound(phone, 'HELP');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/<Response\/>$/);
    expect(await textsTo(phone)).toEqual([expected]);
    expect(expected.startsWith(`${orgName()}: `)).toBe(true);
    // Audited with the area code and the number's hash, never the number or the text.
    const [sent] = await auditOf('help.reply_sent');
    expect(sent?.data).toMatchObject({ keyword: 'HELP', areaCode: '212', phoneHash: createHash('sha256').update(phone).digest('hex'), providerStatus: 'queued' });
    expect(JSON.stringify(sent?.data)).not.toContain('5550301');
    expect(JSON.stringify(sent?.data)).not.toContain('Msg&data');
    // HELP is no opt-out.
    expect(await liveSuppressions(phone)).toHaveLength(0);

    // Within the 10 minutes: HELP, INFO, AYUDA again → no second reply.
    expect((await inbound(phone, 'help')).status).toBe(200);
    e.clock.offset += 9 * 60_000;
    expect((await inbound(phone, 'INFO')).status).toBe(200);
    expect((await inbound(phone, 'Ayuda')).status).toBe(200);
    await settle();
    expect(await textsTo(phone)).toEqual([expected]);
    expect(await auditOf('help.reply_sent')).toHaveLength(1);
    // Another number is not held back by it.
    expect((await inbound('+12125550302', 'HELP')).status).toBe(200);
    expect(await textsTo('+12125550302')).toEqual([expected]);

    // 10 minutes after the reply: answered again.
    e.clock.offset += 61_000;
    expect((await inbound(phone, 'HELP')).status).toBe(200);
    expect(await textsTo(phone)).toEqual([expected, expected]);
  });

  it('HELPs at the same moment get one reply', async () => {
    const phone = '+12125550303';
    const answers = await Promise.all([inbound(phone, 'HELP'), inbound(phone, 'HELP'), inbound(phone, 'INFO')]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    await settle();
    expect(await textsTo(phone)).toHaveLength(1);
  });

  it('HELP from an opted-out number is still answered', async () => {
    const phone = '+12125550304';
    expect((await inbound(phone, 'STOP')).status).toBe(200);
    expect(await liveSuppressions(phone)).toHaveLength(1);
    expect(await textsTo(phone)).toEqual([DEFAULT_CONFIRMATION]);
    expect((await inbound(phone, 'HELP')).status).toBe(200);
    expect(await textsTo(phone)).toEqual([DEFAULT_CONFIRMATION, DEFAULT_HELP_TEXT.replace('{org}', orgName())]);
    expect(await liveSuppressions(phone)).toHaveLength(1);
  });

  it('helpReply=false: HELP gets no reply', async () => {
    const phone = '+12125550305';
    expect((await e.api('PATCH', '/v1/org/settings', { helpReply: false })).body).toMatchObject({ helpReply: false, helpText: DEFAULT_HELP_TEXT });
    try {
      expect((await inbound(phone, 'HELP')).status).toBe(200);
      await settle();
      expect(await textsTo(phone)).toEqual([]);
    } finally {
      expect((await e.api('PATCH', '/v1/org/settings', { helpReply: true })).status).toBe(200);
    }
  });

  it('a HELP reply that fails is audited, does not fail the webhook, and does not count against the next HELP', async () => {
    const phone = '+15005550009'; // the emulator refuses SMS to it (21614)
    const before = (await auditOf('help.reply_failed')).length;
    expect((await inbound(phone, 'HELP')).status).toBe(200);
    expect((await inbound(phone, 'HELP')).status).toBe(200);
    const failed = (await auditOf('help.reply_failed')).slice(before);
    expect(failed).toHaveLength(2);
    expect(failed[0]?.data).toMatchObject({ kind: 'permanent', providerCode: 21614, areaCode: '500', keyword: 'HELP' });
  });

  it('STOP then START: un-suppressed and one opt-in confirmation; a repeated START sends nothing more', async () => {
    const phone = '+12125550311';
    expect((await inbound(phone, 'STOP')).status).toBe(200);
    expect(await liveSuppressions(phone)).toHaveLength(1);
    expect(await textsTo(phone)).toEqual([DEFAULT_CONFIRMATION]);
    const sentBefore = (await auditOf('optin.confirmation_sent')).length;

    expect((await inbound(phone, 'START')).status).toBe(200);
    expect(await liveSuppressions(phone)).toHaveLength(0);
    const expected = DEFAULT_OPT_IN_CONFIRMATION.replace('{org}', orgName());
    expect(await textsTo(phone)).toEqual([DEFAULT_CONFIRMATION, expected]);
    const sent = (await auditOf('optin.confirmation_sent')).slice(sentBefore);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.data).toMatchObject({ keyword: 'START', areaCode: '212' });
    expect(JSON.stringify(sent[0]?.data)).not.toContain('5550311');

    expect((await inbound(phone, 'START')).status).toBe(200);
    expect((await inbound(phone, 'unstop')).status).toBe(200);
    await settle();
    expect(await textsTo(phone)).toEqual([DEFAULT_CONFIRMATION, expected]);
    expect(await auditOf('optin.confirmation_sent')).toHaveLength(sentBefore + 1);
  });

  it('START from a number that never opted out, or only on a DNC list, gets no reply (and the DNC entry stays)', async () => {
    const never = '+12125550312';
    expect((await inbound(never, 'START')).status).toBe(200);
    expect((await inbound(never, 'YES')).status).toBe(200);

    const dnc = '+12125550313';
    expect((await e.api('POST', '/v1/suppressions', { phone: dnc, reason: 'internal do-not-call list', source: 'dnc' })).status).toBe(201);
    expect((await inbound(dnc, 'START')).status).toBe(200);

    // Opted out by text *and* on the DNC list: START lifts the text opt-out, the number stays suppressed: no "subscribed again".
    const both = '+12125550314';
    expect((await e.api('POST', '/v1/suppressions', { phone: both, reason: 'internal do-not-call list', source: 'dnc' })).status).toBe(201);
    expect((await inbound(both, 'STOP')).status).toBe(200);
    expect(await liveSuppressions(both)).toHaveLength(2);
    expect((await inbound(both, 'START')).status).toBe(200);
    expect(await liveSuppressions(both)).toMatchObject([{ source: 'dnc' }]);

    await settle();
    expect(await textsTo(never)).toEqual([]);
    expect(await textsTo(dnc)).toEqual([]);
    expect(await liveSuppressions(dnc)).toHaveLength(1);
    expect(await textsTo(both)).toEqual([DEFAULT_CONFIRMATION]);
  });

  it('optInConfirmation=false: START lifts the opt-out but sends nothing', async () => {
    const phone = '+12125550315';
    expect((await inbound(phone, 'STOP')).status).toBe(200);
    expect((await e.api('PATCH', '/v1/org/settings', { optInConfirmation: false })).status).toBe(200);
    try {
      expect((await inbound(phone, 'START')).status).toBe(200);
      expect(await liveSuppressions(phone)).toHaveLength(0);
      await settle();
      expect(await textsTo(phone)).toEqual([DEFAULT_CONFIRMATION]);
    } finally {
      expect((await e.api('PATCH', '/v1/org/settings', { optInConfirmation: true })).status).toBe(200);
    }
  });

  it('custom helpText and optInConfirmationText set through the settings API are the texts sent', async () => {
    const helpText = 'Acme reminders ({org}): call 1-800-555-0100 or visit acme.example/help. Msg&data rates may apply. Reply STOP to opt out.';
    const optInConfirmationText = 'Welcome back to Acme reminders. Reply STOP to opt out, HELP for help.';
    const patched = await e.api('PATCH', '/v1/org/settings', { helpText, optInConfirmationText });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ helpReply: true, helpText, optInConfirmation: true, optInConfirmationText });
    expect((await e.api('GET', '/v1/org/settings')).body).toMatchObject({ helpText, optInConfirmationText });
    try {
      const phone = '+12125550321';
      expect((await inbound(phone, 'HELP')).status).toBe(200);
      expect(await textsTo(phone)).toEqual([helpText.replace('{org}', orgName())]);
      expect((await inbound(phone, 'STOP')).status).toBe(200);
      expect((await inbound(phone, 'START')).status).toBe(200);
      expect(await textsTo(phone)).toEqual([helpText.replace('{org}', orgName()), DEFAULT_CONFIRMATION, optInConfirmationText]);
    } finally {
      await e.api('PATCH', '/v1/org/settings', { helpText: DEFAULT_HELP_TEXT, optInConfirmationText: DEFAULT_OPT_IN_CONFIRMATION });
    }
    expect((await e.api('GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });
});

describe('/v1/suppressions', () => {
  it('one entry, a batch with a bad number reported by index, list (masked for auditors), lift, 404 for another org', async () => {
    const phone = '+12125550251';
    const voiceT = await e.api('POST', '/v1/timers', { ...smsBody({ contact: { phone, zip: '10001' }, at: inMs(3600_000) }), channel: 'voice', message: undefined, voice: { twiml: '<Response/>' } });
    const smsT = await e.api('POST', '/v1/timers', smsBody({ contact: { phone, zip: '10001' }, at: inMs(3600_000) }));

    // One entry, voice only: only the voice timer is suppressed.
    const one = await e.api('POST', '/v1/suppressions', { phone: '(212) 555-0251', reason: 'asked by phone', channel: 'voice' });
    expect(one.status).toBe(201);
    expect(one.body).toMatchObject({ added: 1, unchanged: 0, cancelledTimers: 1, errors: [] });
    expect((await e.rt.prisma.timer.findUniqueOrThrow({ where: { id: voiceT.body.id } })).status).toBe('suppressed');
    expect((await e.rt.prisma.timer.findUniqueOrThrow({ where: { id: smsT.body.id } })).status).toBe('scheduled');
    const again = await e.api('POST', '/v1/suppressions', { phone, reason: 'asked by phone', channel: 'voice' });
    expect(again.body).toMatchObject({ added: 0, unchanged: 1 });

    const bad = await e.api('POST', '/v1/suppressions', { phone: '12', reason: 'x' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_PHONE');
    const malformed = await e.api('POST', '/v1/suppressions', { entries: [{ phone: 12, reason: 'x' }] });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.details[0].message).toContain('entries[0].phone');

    const batch = await e.api('POST', '/v1/suppressions', {
      entries: [
        { phone: '+12125550252', reason: 'dnc' },
        { phone: 'not-a-number', reason: 'dnc' },
        { phone: '+12125550253', reason: 'dnc', expiresAt: '2027-06-01T00:00:00Z' },
        { phone: '+12125550254', reason: 'dnc', expiresAt: '2020-01-01T00:00:00Z' },
      ],
    });
    expect(batch.status).toBe(201);
    expect(batch.body).toMatchObject({ added: 2, unchanged: 0 });
    expect(batch.body.items.map((i: { index: number }) => i.index)).toEqual([0, 2]);
    expect(batch.body.errors).toMatchObject([
      { index: 1, path: 'body.entries[1].phone', code: 'INVALID_PHONE' },
      { index: 3, path: 'body.entries[3].expiresAt', code: 'INVALID_INSTANT' },
    ]);
    expect(await e.rt.prisma.suppression.findFirst({ where: { orgId: e.orgId, phoneE164: '+12125550252' } })).toMatchObject({ source: 'import', channel: null });

    // List: admin sees numbers, an auditor only the last 4 digits; cursor pagination.
    const list = await e.api('GET', `/v1/suppressions?phone=${encodeURIComponent('+12125550253')}`);
    expect(list.status).toBe(200);
    expect(list.body.items).toMatchObject([{ phone: '+12125550253', source: 'import', active: true, expiresAt: '2027-06-01T00:00:00.000Z' }]);
    const auditor = await createApiKey(e.rt.prisma, { orgId: e.orgId, role: 'auditor' });
    const asAuditor = await e.api('GET', '/v1/suppressions?limit=2', undefined, { authorization: `Bearer ${auditor.key}` });
    expect(asAuditor.status).toBe(200);
    expect(asAuditor.body.items).toHaveLength(2);
    for (const item of asAuditor.body.items) expect(item.phone).toMatch(/^\+1\*{6}\d{4}$/);
    const page2 = await e.api('GET', `/v1/suppressions?limit=2&cursor=${asAuditor.body.nextCursor}`, undefined, { authorization: `Bearer ${auditor.key}` });
    expect(page2.body.items[0].id).not.toBe(asAuditor.body.items[1].id);
    expect((await e.api('POST', '/v1/suppressions', { phone, reason: 'x' }, { authorization: `Bearer ${auditor.key}` })).status).toBe(403);
    expect((await e.api('DELETE', `/v1/suppressions/${one.body.items[0].id}`, undefined, { authorization: `Bearer ${auditor.key}` })).status).toBe(403);

    // Lift by id: audited, twice is fine, a new voice timer is scheduled again.
    const del = await e.api('DELETE', `/v1/suppressions/${one.body.items[0].id}`);
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ active: false, phone });
    expect((await e.api('DELETE', `/v1/suppressions/${one.body.items[0].id}`)).status).toBe(200);
    expect((await e.api('GET', '/v1/suppressions?active=true&source=api')).body.items.find((s: { id: string }) => s.id === one.body.items[0].id)).toBeUndefined();
    const voiceAgain = await e.api('POST', '/v1/timers', { ...smsBody({ contact: { phone, zip: '10001' }, at: inMs(3600_000) }), channel: 'voice', message: undefined, voice: { twiml: '<Response/>' } });
    expect(voiceAgain.body.status).toBe('scheduled');

    // Another org's id is 404.
    const other = await createApiKey(e.rt.prisma, { orgName: `third-${e.prefix}`, role: 'admin' });
    const otherDel = await e.api('DELETE', `/v1/suppressions/${one.body.items[0].id}`, undefined, { authorization: `Bearer ${other.key}` });
    expect(otherDel.status).toBe(404);

    expect((await e.api('GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });
});
