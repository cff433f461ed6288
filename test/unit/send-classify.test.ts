/**
 * A send's failure: retried only when the request cannot have reached the provider; a timeout or a
 * cut connection after it may have is `SendOutcomeUnknown` (never resent blindly). Checked against
 * real sockets: a closed port (refused, nothing sent) and a server that takes the request and
 * never answers.
 */
import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { SendFailure, SendOutcomeUnknown } from '../../src/app/ports.ts';
import { createTwilioClient } from '../../src/adapters/twilio/client.ts';
import { classifySend } from '../../src/adapters/twilio/sender.ts';

const SID = `AC${'0'.repeat(32)}`;

async function failureOf(apiBase: string): Promise<unknown> {
  const client = createTwilioClient({ accountSid: SID, authToken: 'x'.repeat(32), apiBase, timeoutMs: 300 });
  try {
    await client.messages.create({ to: '+12125550123', from: '+15005550006', body: 'hi' });
  } catch (err) {
    return err;
  }
  throw new Error('the create did not fail');
}

describe('classifySend', () => {
  it('a refused connection is transient (retried): nothing can have been sent', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    const f = classifySend(await failureOf(`http://127.0.0.1:${port}`));
    expect(f).toBeInstanceOf(SendFailure);
    expect((f as SendFailure).kind).toBe('transient');
  });

  it('a request the server took but never answered is SendOutcomeUnknown', async () => {
    const sockets: import('node:net').Socket[] = [];
    const server = createServer((s) => sockets.push(s.on('data', () => {}))); // reads, never answers
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const f = classifySend(await failureOf(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
      expect(f).toBeInstanceOf(SendOutcomeUnknown);
      expect(f.message).toMatch(/may have sent/);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('provider answers keep their meaning: 5xx/429 transient, 4xx permanent', () => {
    expect(classifySend({ status: 503, message: 'busy' })).toMatchObject({ kind: 'transient', httpStatus: 503 });
    expect(classifySend({ status: 429, code: 20429, message: 'slow down' })).toMatchObject({ kind: 'transient' });
    expect(classifySend({ status: 400, code: 21211, message: 'bad number' })).toMatchObject({ kind: 'permanent', providerCode: 21211 });
    // A network error without our marker: ambiguous unless its code says no connection was made.
    expect(classifySend(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBeInstanceOf(SendOutcomeUnknown);
    expect(classifySend(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }))).toMatchObject({ kind: 'transient' });
  });
});
