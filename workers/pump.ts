/** The pump: one active instance at a time (a Redis lease); run two for fail-over. */
import { loadConfig } from '../src/config.ts';
import { createRuntime, onSignals, startMetricsEndpoint, startPump } from '../src/runtime.ts';
import { bootOrExit } from '../src/boot.ts';

process.env.TZ = 'UTC';

await bootOrExit(async () => {
  const config = loadConfig();
  const rt = createRuntime(config);
  const part = startPump(rt);
  rt.log.info({ worker: rt.ctx.workerId }, 'pump started');
  const metrics = await startMetricsEndpoint(rt); // METRICS_PORT: this process's own /metrics
  onSignals({ rt, parts: [part, ...(metrics ? [metrics] : [])] });
});
