/** Outbound events: the webhook loop (one process at a time) and WEBHOOK_CONCURRENCY endpoint deliveries at once; run as many as you like. */
import { loadConfig } from '../src/config.ts';
import { createRuntime, onSignals, startMetricsEndpoint, startWebhooks } from '../src/runtime.ts';
import { bootOrExit } from '../src/boot.ts';

process.env.TZ = 'UTC';

await bootOrExit(async () => {
  const config = loadConfig();
  const rt = createRuntime(config);
  const part = startWebhooks(rt);
  rt.log.info({ worker: rt.ctx.workerId, concurrency: config.webhookConcurrency }, 'webhook worker started');
  const metrics = await startMetricsEndpoint(rt);
  onSignals({ rt, parts: [part, ...(metrics ? [metrics] : [])] });
});
