/**
 * Prometheus metrics (prom-client), one registry per process (MetricsPort): what operators alert
 * on — decisions by kind and reason, dispatch lateness, sends by outcome, provider errors, send-rate
 * waits, loop ticks — plus gauges read when scraped: timers by status (one grouped count from
 * Postgres, cached for a few seconds) and BullMQ queue depths. Labels never hold a phone number, an
 * org name or a body: codes, statuses and channels only.
 *
 * Served by `metricsHandler` — on the API's port behind METRICS_TOKEN, and/or on an internal port
 * of every process (METRICS_PORT, bound to METRICS_HOST) — see src/runtime.ts.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { MetricsPort } from '../app/ports.ts';

export interface MetricsSources {
  /** Timers per status (a grouped count; cached by the caller's cadence). */
  timersByStatus?: () => Promise<Array<{ status: string; count: number }>>;
  /** Jobs per queue and state (BullMQ getJobCounts). */
  queueDepths?: () => Promise<Array<{ queue: string; state: string; count: number }>>;
}

/** How long the timers-by-status count is reused between scrapes. */
const STATUS_CACHE_MS = 5_000;

export class PromMetrics implements MetricsPort {
  readonly registry = new Registry();
  private readonly decisions: Counter<'phase' | 'decision' | 'reason'>;
  private readonly lateness: Histogram;
  private readonly sends: Counter<'channel' | 'outcome'>;
  private readonly providerErrors: Counter<'code' | 'kind'>;
  private readonly rateWaits: Histogram;
  private readonly ticks: Histogram<'loop'>;
  private readonly webhookAttempts: Counter<'outcome'>;
  private readonly webhookLatency: Histogram;

  constructor(sources: MetricsSources = {}, opts: { process?: string } = {}) {
    if (opts.process) this.registry.setDefaultLabels({ process: opts.process });
    collectDefaultMetrics({ register: this.registry, prefix: 'tcpa_' });
    const registers = [this.registry];
    this.decisions = new Counter({ name: 'tcpa_decisions_total', help: 'Timer judgements, by phase (create, fire), decision (send, reschedule, cancel, suppress) and first reason code', labelNames: ['phase', 'decision', 'reason'], registers });
    this.lateness = new Histogram({ name: 'tcpa_dispatch_lateness_seconds', help: 'How late a claimed send was against its send instant (the send-rate wait excluded)', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300], registers });
    this.sends = new Counter({ name: 'tcpa_sends_total', help: 'Provider requests, by channel and outcome (accepted, deferred, failed, unsubscribed)', labelNames: ['channel', 'outcome'], registers });
    this.providerErrors = new Counter({ name: 'tcpa_provider_errors_total', help: 'Provider errors, by provider code (or HTTP status, or network) and kind', labelNames: ['code', 'kind'], registers });
    this.rateWaits = new Histogram({ name: 'tcpa_send_rate_wait_seconds', help: 'How long the send rate held a send back (0: not at all)', buckets: [0, 0.1, 0.5, 1, 5, 15, 60, 300, 1800], registers });
    this.ticks = new Histogram({ name: 'tcpa_loop_tick_seconds', help: 'Duration of the singleton loops (pump, reconciler, campaign sweep) and planner chunks', labelNames: ['loop'], buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60], registers });
    this.webhookAttempts = new Counter({ name: 'tcpa_webhook_attempts_total', help: 'Webhook delivery attempts, by outcome (delivered, failed: retried later, dead: given up)', labelNames: ['outcome'], registers });
    this.webhookLatency = new Histogram({ name: 'tcpa_webhook_attempt_seconds', help: "How long webhook endpoints took to answer (or to time out)", buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers });
    if (sources.timersByStatus) {
      const read = sources.timersByStatus;
      let cache: { at: number; rows: Array<{ status: string; count: number }> } | undefined;
      new Gauge({
        name: 'tcpa_timers',
        help: 'Timers by status (from Postgres, refreshed at most every 5 s)',
        labelNames: ['status'],
        registers,
        async collect() {
          const now = Date.now();
          if (!cache || now - cache.at > STATUS_CACHE_MS) cache = { at: now, rows: await read() };
          this.reset();
          for (const r of cache.rows) this.set({ status: r.status }, r.count);
        },
      });
    }
    if (sources.queueDepths) {
      const read = sources.queueDepths;
      new Gauge({
        name: 'tcpa_queue_jobs',
        help: 'BullMQ jobs by queue and state',
        labelNames: ['queue', 'state'],
        registers,
        async collect() {
          this.reset();
          for (const r of await read()) this.set({ queue: r.queue, state: r.state }, r.count);
        },
      });
    }
  }

  decision(phase: 'create' | 'fire', decision: string, reason: string | undefined): void {
    this.decisions.inc({ phase, decision, reason: reason ?? 'none' });
  }

  dispatchLateness(ms: number): void {
    this.lateness.observe(Math.max(0, ms) / 1000);
  }

  send(channel: string, outcome: 'accepted' | 'deferred' | 'failed' | 'unsubscribed' | 'unknown'): void {
    this.sends.inc({ channel, outcome });
  }

  providerError(code: string, kind: string): void {
    this.providerErrors.inc({ code, kind });
  }

  rateWait(ms: number): void {
    this.rateWaits.observe(Math.max(0, ms) / 1000);
  }

  tick(loop: string, ms: number): void {
    this.ticks.observe({ loop }, ms / 1000);
  }

  webhookAttempt(outcome: 'delivered' | 'failed' | 'dead', ms: number): void {
    this.webhookAttempts.inc({ outcome });
    this.webhookLatency.observe(ms / 1000);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** A bare HTTP server answering GET /metrics (an internal port: no token). */
export async function startMetricsServer(metrics: PromMetrics, host: string, port: number): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    metrics.text().then(
      (body) => res.writeHead(200, { 'content-type': metrics.contentType }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  const a = server.address() as AddressInfo;
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${a.port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
