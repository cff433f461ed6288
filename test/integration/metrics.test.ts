/**
 * Prometheus metrics after a small dispatch on the real engine (clock at Tuesday 2026-12-08 12:00
 * in New York): the counters match what happened — decisions at creation and at fire time by
 * reason, sends by outcome, provider errors by code, lateness observed per claim, timers by
 * status, webhook attempts by outcome — with no phone number in any label; GET /metrics on the
 * API needs METRICS_TOKEN, and a process's internal metrics port (METRICS_PORT) answers without one.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMetricsEndpoint } from '../../src/runtime.ts';
import { offsetTo, startEngine, until, type TestEngine } from '../helpers/engine.ts';

const TOKEN = 'metrics-token-0123456789';
let e: TestEngine;

/** The value of one sample (`name{labels} value`), 0 if absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',');
    if (want.every((w) => have.includes(w))) return Number(m[3]);
  }
  return 0;
}

beforeAll(async () => {
  e = await startEngine({ clockOffsetMs: offsetTo('2026-12-08T17:00:00Z'), env: { METRICS_TOKEN: TOKEN } });
}, 60_000);
afterAll(async () => {
  await e?.stop();
});

describe('GET /metrics', () => {
  it('counts what a small dispatch did, and holds no phone number', async () => {
    const now = new Date(e.clock.now()).toISOString();
    const info = (phone: string) => ({ contact: { phone, zip: '10001' }, channel: 'sms', policy: 'next_slot', purpose: 'informational', message: { body: 'Your order shipped' }, at: now });
    const ids: string[] = [];
    for (const phone of ['+12125550601', '+12125550602', '+12125550603', '+15005550001']) ids.push((await e.api('POST', '/v1/timers', info(phone))).body.id);
    const refused = await e.api('POST', '/v1/timers', { ...info('+12125550604'), purpose: 'marketing' });
    expect(refused.body.status).toBe('cancelled');
    await until(async () => ((await e.rt.prisma.timer.count({ where: { id: { in: ids }, status: { in: ['sent', 'delivered', 'failed'] } } })) === 4 ? true : null), 30_000, 200);

    expect((await fetch(`${e.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${e.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-000000000' } })).status).toBe(401);
    const res = await fetch(`${e.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();

    expect(sample(text, 'tcpa_decisions_total', { phase: 'create', decision: 'send', reason: 'ALLOWED' })).toBe(4);
    expect(sample(text, 'tcpa_decisions_total', { phase: 'create', decision: 'cancel', reason: 'NO_CONSENT' })).toBe(1);
    expect(sample(text, 'tcpa_decisions_total', { phase: 'fire', decision: 'send', reason: 'ALLOWED' })).toBe(4);
    expect(sample(text, 'tcpa_sends_total', { channel: 'sms', outcome: 'accepted' })).toBe(3);
    expect(sample(text, 'tcpa_sends_total', { channel: 'sms', outcome: 'failed' })).toBe(1);
    expect(sample(text, 'tcpa_provider_errors_total', { code: '21211', kind: 'permanent' })).toBe(1);
    expect(sample(text, 'tcpa_dispatch_lateness_seconds_count')).toBe(4);
    expect(sample(text, 'tcpa_send_rate_wait_seconds_count')).toBe(4);
    expect(sample(text, 'tcpa_loop_tick_seconds_count', { loop: 'pump' })).toBeGreaterThan(0);
    expect(sample(text, 'tcpa_timers', { status: 'cancelled' })).toBe(1);
    expect(sample(text, 'tcpa_timers', { status: 'failed' })).toBe(1);
    expect(sample(text, 'tcpa_timers', { status: 'sent' }) + sample(text, 'tcpa_timers', { status: 'delivered' })).toBe(3);
    expect(text).toContain('tcpa_queue_jobs{');
    expect(text).toContain('tcpa_process_cpu_seconds_total');
    expect(text).not.toMatch(/555060|5005550001|Your order/);
  }, 60_000);

  it('counts webhook attempts by outcome, and times them', async () => {
    // A receiver that fails the first POST with a 500 and takes every other.
    const answers: number[] = [];
    const receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const status = answers.length === 0 ? 500 : 200;
        answers.push(status);
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const webhooks = e.start('webhooks');
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/events`;
      const hook = await e.api('POST', '/v1/webhooks', { url, events: ['timer.created'] });
      expect(hook.status).toBe(201);
      for (const phone of ['+12125550611', '+12125550612']) {
        await e.api('POST', '/v1/timers', { contact: { phone, zip: '10001' }, channel: 'sms', policy: 'next_slot', purpose: 'informational', message: { body: 'Your order shipped' }, at: new Date(e.clock.now()).toISOString() });
      }
      // The failed one is retried 5 s later on the engine's clock: move it on.
      await until(async () => {
        e.clock.offset += 10_000;
        return (await e.rt.prisma.webhookDelivery.count({ where: { endpointId: hook.body.id as string, status: 'delivered' } })) === 2 ? true : null;
      }, 30_000, 300);
      const text = await (await fetch(`${e.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
      expect(answers.filter((s) => s === 500)).toHaveLength(1);
      expect(sample(text, 'tcpa_webhook_attempts_total', { outcome: 'delivered' })).toBe(answers.filter((s) => s === 200).length);
      expect(sample(text, 'tcpa_webhook_attempts_total', { outcome: 'failed' })).toBe(1);
      expect(sample(text, 'tcpa_webhook_attempt_seconds_count')).toBe(answers.length);
      expect(sample(text, 'tcpa_loop_tick_seconds_count', { loop: 'webhooks' })).toBeGreaterThan(0);
    } finally {
      await webhooks.stop();
      await new Promise<void>((r) => receiver.close(() => r()));
    }
  }, 60_000);

  it('a process exposes the same registry on its internal metrics port, without a token', async () => {
    const endpoint = await startMetricsEndpoint({ ...e.rt, config: { ...e.rt.config, metricsPort: 0, metricsHost: '127.0.0.1' } });
    expect(endpoint).not.toBeNull();
    try {
      const text = await (await fetch(`${endpoint!.url}/metrics`)).text();
      expect(sample(text, 'tcpa_sends_total', { channel: 'sms', outcome: 'accepted' })).toBe(sample(await (await fetch(`${e.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text(), 'tcpa_sends_total', { channel: 'sms', outcome: 'accepted' }));
      expect((await fetch(`${endpoint!.url}/other`)).status).toBe(404);
    } finally {
      await endpoint!.stop();
    }
    expect(await startMetricsEndpoint(e.rt)).toBeNull();
  });
});
