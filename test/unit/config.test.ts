import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

const SID = `AC${'a'.repeat(32)}`;

describe('loadConfig', () => {
  it('has local defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 3000,
      redisUrl: 'redis://127.0.0.1:6379',
      databaseUrl: 'postgresql://postgres@127.0.0.1:5432/tcpa',
      queuePrefix: 'tcpa',
      horizonMs: 15 * 60_000,
      journeyTtlMs: 30 * 86_400_000,
      twilio: undefined,
      secretKey: undefined,
    });
  });

  it('parses durations, keys and Twilio settings', () => {
    const key = Buffer.alloc(32, 7);
    const c = loadConfig({
      HORIZON: '90s',
      LEASE: '2m',
      PUMP_INTERVAL: '250ms',
      JOURNEY_TTL: '7d',
      TCPA_SECRET_KEY: key.toString('hex'),
      TWILIO_ACCOUNT_SID: SID,
      TWILIO_AUTH_TOKEN: 'secret-token',
      TWILIO_FROM: '+15005550006',
      PUBLIC_BASE_URL: 'https://tcpa.example.com/',
      TWILIO_API_BASE: '',
    });
    expect(c.horizonMs).toBe(90_000);
    expect(c.leaseMs).toBe(120_000);
    expect(c.pumpIntervalMs).toBe(250);
    expect(c.journeyTtlMs).toBe(7 * 86_400_000);
    expect(c.secretKey?.equals(key)).toBe(true);
    expect(loadConfig({ TCPA_SECRET_KEY: key.toString('base64') }).secretKey?.equals(key)).toBe(true);
    expect(c.twilio).toEqual({ accountSid: SID, authToken: 'secret-token', from: '+15005550006' });
    expect(c.publicBaseUrl).toBe('https://tcpa.example.com');
  });

  it('lists every problem at once and never echoes a secret', () => {
    let err: unknown;
    try {
      loadConfig({ PORT: 'eighty', HORIZON: 'soon', REDIS_URL: 'http://x', TCPA_SECRET_KEY: 'too-short-secret', TWILIO_ACCOUNT_SID: SID });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    for (const name of ['PORT', 'HORIZON', 'REDIS_URL', 'TCPA_SECRET_KEY', 'TWILIO_AUTH_TOKEN']) expect(problems).toContain(name);
    expect(problems).not.toContain('too-short-secret');
  });

  it('requires a sender number or messaging service with Twilio credentials', () => {
    expect(() => loadConfig({ TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: 'secret-token' })).toThrow(/TWILIO_FROM/);
  });
});
