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

  it('Redis: a single URL by default, a cluster from REDIS_CLUSTER_NODES, a sentinel-watched master from REDIS_SENTINELS', () => {
    expect(loadConfig({}).redis).toEqual({ kind: 'single', url: 'redis://127.0.0.1:6379' });
    expect(loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis-b.internal:7001,[::1]:7002', REDIS_URL: 'rediss://app:s%3Acret@x:6379' }).redis).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: 'redis-b.internal', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      auth: { username: 'app', password: 's:cret', tls: true },
    });
    expect(loadConfig({ REDIS_SENTINELS: '127.0.0.1:26379,127.0.0.1:26380', REDIS_SENTINEL_NAME: 'mymaster', REDIS_URL: 'redis://:pw@ignored:6379/2' }).redis).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: '127.0.0.1', port: 26379 },
        { host: '127.0.0.1', port: 26380 },
      ],
      name: 'mymaster',
      auth: { password: 'pw', db: 2, tls: false },
    });
  });

  it('Redis: bad node lists and half-set sentinel settings are refused, without echoing a password', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return '';
      } catch (e) {
        return (e as ConfigError).problems.join('\n');
      }
    };
    expect(problems({ REDIS_CLUSTER_NODES: '10.0.0.1' })).toMatch(/REDIS_CLUSTER_NODES: "10.0.0.1" is not host:port/);
    expect(problems({ REDIS_CLUSTER_NODES: '10.0.0.1:70000' })).toMatch(/REDIS_CLUSTER_NODES/);
    expect(problems({ REDIS_CLUSTER_NODES: ' , ' })).toMatch(/REDIS_CLUSTER_NODES: at least one/);
    expect(problems({ REDIS_SENTINELS: '127.0.0.1:26379' })).toMatch(/REDIS_SENTINEL_NAME: REDIS_SENTINELS and REDIS_SENTINEL_NAME go together/);
    expect(problems({ REDIS_SENTINEL_NAME: 'mymaster' })).toMatch(/REDIS_SENTINEL_NAME/);
    expect(problems({ REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_NAME: 'm', REDIS_URL: 'redis://:hunter22@x' })).toMatch(/not both/);
    expect(problems({ REDIS_CLUSTER_NODES: 'x', REDIS_URL: 'redis://:hunter22@x' })).not.toContain('hunter22');
  });
});
