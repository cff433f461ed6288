/** The API on its own (docker-compose `api`; scale it behind a load balancer). Workers run elsewhere. */
import { createApp } from './app.ts';
import { answerClientErrors } from './errors.ts';
import { loadConfig } from '../config.ts';
import { createRuntime, onSignals, startMetricsEndpoint } from '../runtime.ts';
import { bootOrExit } from '../boot.ts';

process.env.TZ = 'UTC';

await bootOrExit(async () => {
  const config = loadConfig();
  const rt = createRuntime(config);
  const app = createApp({ ctx: rt.ctx, redis: rt.redis, log: rt.log, bodyLimit: config.bodyLimit, queuePrefix: config.queuePrefix, ...(config.secretKey ? { secretKey: config.secretKey } : {}), ...(config.publicBaseUrl ? { publicBaseUrl: config.publicBaseUrl } : {}), ...(config.metricsToken ? { metrics: { token: config.metricsToken, registry: rt.metrics } } : {}) });
  const server = app.listen(config.port, config.host);
  answerClientErrors(server);
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  // Streamed uploads (contact imports, campaign audiences of up to 1,000,000 rows) outlast Node's 300 s default.
  server.requestTimeout = 30 * 60_000;
  rt.log.info({ port: config.port }, 'api listening');
  const metrics = await startMetricsEndpoint(rt);
  onSignals({ rt, server, parts: metrics ? [metrics] : [] });
});
