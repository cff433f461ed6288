/** A dispatcher: run as many as you like (docker compose up --scale dispatcher=N). */
import { loadConfig } from '../src/config.ts';
import { createRuntime, onSignals, startMetricsEndpoint, startDispatcher } from '../src/runtime.ts';
import { bootOrExit } from '../src/boot.ts';

process.env.TZ = 'UTC';

await bootOrExit(async () => {
  const config = loadConfig();
  const rt = createRuntime(config);
  const part = startDispatcher(rt);
  rt.log.info({ worker: rt.ctx.workerId }, 'dispatcher started');
  const metrics = await startMetricsEndpoint(rt); // METRICS_PORT: this process's own /metrics
  onSignals({ rt, parts: [part, ...(metrics ? [metrics] : [])] });
});
