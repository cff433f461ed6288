/**
 * Per-org Twilio credentials: sealed at rest (AES-256-GCM), never shown back, used for that org's
 * sends and for validating its status callbacks.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApiKey } from '../../src/adapters/auth/api-keys.ts';
import { ACCOUNT_SID, offsetTo, smsBody, startEngine, until, type TestEngine } from '../helpers/engine.ts';

const ORG_SID = `AC${randomBytes(16).toString('hex')}`;
const ORG_TOKEN = randomBytes(16).toString('hex');
let e: TestEngine;

beforeAll(async () => {
  e = await startEngine({ clockOffsetMs: offsetTo('2026-12-08T17:00:00Z'), emulator: { accounts: { [ORG_SID]: ORG_TOKEN } } });
});
afterAll(async () => {
  await e?.stop();
});

it('stores the credentials sealed, sends and validates callbacks with them, and can clear them', async () => {
  expect((await e.api('GET', '/v1/org/twilio-credentials')).body).toEqual({ configured: false, accountSid: null, from: null, messagingServiceSid: null });
  expect((await e.api('PUT', '/v1/org/twilio-credentials', { accountSid: ORG_SID, authToken: ORG_TOKEN })).status).toBe(400);
  const put = await e.api('PUT', '/v1/org/twilio-credentials', { accountSid: ORG_SID, authToken: ORG_TOKEN, from: '+15005550006' });
  expect(put.status).toBe(200);
  expect(put.body).toEqual({ configured: true, accountSid: ORG_SID, from: '+15005550006', messagingServiceSid: null });
  expect(JSON.stringify((await e.api('GET', '/v1/org/twilio-credentials')).body)).not.toContain(ORG_TOKEN);

  const stored = (await e.rt.prisma.org.findUniqueOrThrow({ where: { id: e.orgId } })).twilioCredentials!;
  expect(stored).toMatch(/^v1\./);
  expect(stored).not.toContain(ORG_TOKEN);
  expect(stored).not.toContain(ORG_SID);

  const created = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: '+12125550201', zip: '10001' }, at: new Date(e.clock.now()).toISOString() }));
  // Delivered means the status callback, signed with the org's own token, was accepted.
  await until(async () => (await e.api('GET', `/v1/timers/${created.body.id}`)).body.status === 'delivered', 20_000);
  expect(e.emulator.emulator.messages().find((m) => m.params['To'] === '+12125550201')?.accountSid).toBe(ORG_SID);

  const ops = await createApiKey(e.rt.prisma, { orgId: e.orgId, role: 'ops' });
  const asOps = await fetch(`${e.url}/v1/org/twilio-credentials`, { headers: { authorization: `Bearer ${ops.key}` } });
  expect(asOps.status).toBe(403);

  expect((await e.api('DELETE', '/v1/org/twilio-credentials')).body.configured).toBe(false);
  const again = await e.api('POST', '/v1/timers', smsBody({ contact: { phone: '+12125550202', zip: '10001' }, at: new Date(e.clock.now()).toISOString() }));
  await until(async () => (await e.api('GET', `/v1/timers/${again.body.id}`)).body.status === 'delivered', 20_000);
  expect(e.emulator.emulator.messages().find((m) => m.params['To'] === '+12125550202')?.accountSid).toBe(ACCOUNT_SID);

  const actions = (await e.api('GET', '/v1/audit?action=org.credentials_set')).body.items;
  expect(actions).toHaveLength(1);
  expect(JSON.stringify(actions)).not.toContain(ORG_TOKEN);
});
