import { describe, expect, it } from 'vitest';
import { createLogger, REDACT_PATHS, REDACTED } from '../../src/adapters/log.ts';

/** An in-memory pino destination: one parsed JSON object per line written. */
function memoryStream() {
  const chunks: string[] = [];
  return {
    stream: { write: (chunk: string) => void chunks.push(chunk) },
    text: () => chunks.join(''),
    lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** One distinct, greppable secret value per sensitive field name. */
const FIELDS = ['authToken', 'key', 'apiKey', 'secret', 'password', 'body', 'twiml', 'phone', 'to', 'from', 'To', 'From', 'Body', 'phoneE164'];
const secretFor = (field: string, where: string) => `SECRET-${where}-${field}-${field.length}`;
const fieldsWith = (where: string) => Object.fromEntries(FIELDS.map((f) => [f, secretFor(f, where)]));

describe('createLogger redaction', () => {
  it('lists every required path', () => {
    for (const p of ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-twilio-signature"]', '*.message.body']) {
      expect(REDACT_PATHS).toContain(p);
    }
    for (const f of FIELDS) expect(REDACT_PATHS).toContain(`*.${f}`);
  });

  it('removes secrets and personal data at the top level, one level down and in request headers', () => {
    const mem = memoryStream();
    const log = createLogger({ name: 'test', level: 'debug', destination: mem.stream });
    log.info(
      {
        ...fieldsWith('top'),
        creds: fieldsWith('nested'),
        params: { To: '+15551230001', From: '+15551230002', Body: 'hello from the body', MessageSid: 'SM123' },
        contact: { phoneE164: '+15551230003', id: 'contact_7' },
        job: { message: { body: 'nested message body text' }, id: 'job_42' },
        req: {
          method: 'POST',
          url: '/v1/webhooks/twilio',
          headers: {
            authorization: 'Bearer tok-abcdef',
            cookie: 'session=cookie-value-xyz',
            'x-twilio-signature': 'sig-base64-value==',
            'content-type': 'application/x-www-form-urlencoded',
          },
        },
        ordinary: 'visible-value',
        count: 3,
      },
      'event logged',
    );

    const out = mem.text();
    for (const where of ['top', 'nested']) for (const f of FIELDS) expect(out).not.toContain(secretFor(f, where));
    for (const secret of ['+15551230001', '+15551230002', '+15551230003', 'hello from the body', 'nested message body text', 'tok-abcdef', 'cookie-value-xyz', 'sig-base64-value==']) {
      expect(out).not.toContain(secret);
    }

    const [line] = mem.lines();
    expect(line).toMatchObject({
      name: 'test',
      msg: 'event logged',
      ordinary: 'visible-value',
      count: 3,
      authToken: REDACTED,
      phone: REDACTED,
      creds: { password: REDACTED, To: REDACTED },
      params: { To: REDACTED, From: REDACTED, Body: REDACTED, MessageSid: 'SM123' },
      contact: { phoneE164: REDACTED, id: 'contact_7' },
      job: { message: { body: REDACTED }, id: 'job_42' },
      req: {
        method: 'POST',
        url: '/v1/webhooks/twilio',
        headers: { authorization: REDACTED, cookie: REDACTED, 'x-twilio-signature': REDACTED, 'content-type': 'application/x-www-form-urlencoded' },
      },
    });
  });

  it('redacts child-logger bindings too', () => {
    const mem = memoryStream();
    const log = createLogger({ destination: mem.stream }).child({ phone: '+15551239999', orgId: 'org_1' });
    log.info({ attempt: 2 }, 'retry');
    expect(mem.text()).not.toContain('+15551239999');
    expect(mem.lines()[0]).toMatchObject({ orgId: 'org_1', attempt: 2, phone: REDACTED });
  });

  it('defaults to level info', () => {
    const mem = memoryStream();
    const log = createLogger({ destination: mem.stream });
    log.debug('hidden');
    log.info('shown');
    expect(mem.lines().map((l) => l['msg'])).toEqual(['shown']);
  });
});
