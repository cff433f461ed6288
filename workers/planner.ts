/** A campaign planner: run as many as you like (docker compose up --scale planner=N); chunks are planned in parallel across them. */
import { loadConfig } from '../src/config.ts';
import { createRuntime, onSignals, startMetricsEndpoint, startCampaignPlanner } from '../src/runtime.ts';
import { bootOrExit } from '../src/boot.ts';

process.env.TZ = 'UTC';

await bootOrExit(async () => {
  const config = loadConfig();
  const rt = createRuntime(config);
  const part = startCampaignPlanner(rt);
  rt.log.info({ worker: rt.ctx.workerId, concurrency: config.planConcurrency }, 'campaign planner started');
  const metrics = await startMetricsEndpoint(rt); // METRICS_PORT: this process's own /metrics
  onSignals({ rt, parts: [part, ...(metrics ? [metrics] : [])] });
});
