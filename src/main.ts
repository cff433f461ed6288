/**
 * `npm start`: the whole engine in one process, for the quick start — migrations, the API, the
 * pump, a dispatcher, the reconciler and a campaign planner. With no Twilio credentials configured, the Twilio
 * emulator is mounted under /_emulator on the API's own port and the engine sends through it.
 */
import type { AddressInfo } from 'node:net';
import { createEmulatorRouter } from './adapters/twilio/emulator.ts';
import { createApp } from './api/app.ts';
import { answerClientErrors } from './api/errors.ts';
import { loadConfig } from './config.ts';
import { createLogger } from './adapters/log.ts';
import { createRuntime, emulatorCredentials, migrateDatabase, onSignals, startCampaignPlanner, startDispatcher, startMetricsEndpoint, startPump, startReconciler, startWebhooks } from './runtime.ts';
import { bootOrExit } from './boot.ts';

process.env.TZ = 'UTC';

await bootOrExit(async () => {
  const config = loadConfig();
  const log = createLogger({ level: config.logLevel, name: 'tcpa' });
  await migrateDatabase(config, log);

  const base = config.publicBaseUrl ?? `http://127.0.0.1:${config.port}`;
  const fallback = config.twilio ? undefined : emulatorCredentials(`${base}/_emulator`);
  const emulator = fallback
    ? createEmulatorRouter({ accounts: { [fallback.accountSid]: fallback.authToken }, logger: log.child({ name: 'twilio-emulator' }) })
    : undefined;
  const rt = createRuntime(config, { log, ...(fallback ? { fallbackSender: fallback } : {}) });
  const app = createApp({
    ctx: rt.ctx,
    redis: rt.redis,
    log,
    bodyLimit: config.bodyLimit,
    queuePrefix: config.queuePrefix, ...(config.secretKey ? { secretKey: config.secretKey } : {}),
    ...(config.publicBaseUrl ? { publicBaseUrl: config.publicBaseUrl } : {}),
    ...(emulator ? { mounts: [{ path: '/_emulator', router: emulator }] } : {}),
    ...(config.metricsToken ? { metrics: { token: config.metricsToken, registry: rt.metrics } } : {}),
  });
  const server = app.listen(config.port, config.host);
  answerClientErrors(server);
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  // Streamed uploads (contact imports, campaign audiences of up to 1,000,000 rows) outlast Node's 300 s default.
  server.requestTimeout = 30 * 60_000;
  const metricsEndpoint = await startMetricsEndpoint(rt);
  const parts = [startPump(rt), startDispatcher(rt), startReconciler(rt), startCampaignPlanner(rt), startWebhooks(rt), ...(metricsEndpoint ? [metricsEndpoint] : [])];
  onSignals({ rt, server, parts: [...parts, ...(emulator ? [{ stop: async () => emulator.emulator.dispose() }] : [])] });

  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  log.info({ url, emulator: emulator ? `${url}/_emulator` : null }, 'tcpa engine up: API, pump, dispatcher, reconciler, campaign planner, webhooks');
  process.stderr.write(quickStart(url, Boolean(emulator)));
});

function quickStart(url: string, emulator: boolean): string {
  return `
  TCPA engine listening on ${url}${emulator ? ` (Twilio emulator at ${url}/_emulator)` : ''}

  1. Create an API key (in another terminal):
       npm run -s tcpa -- keys create --org acme
  2. Schedule a first text (put the key in KEY):
       curl -s -X POST ${url}/v1/timers -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \\
         -d '{"contact":{"phone":"+12145550123","zip":"75201"},"channel":"sms","at":"'$(date -u +%Y-%m-%dT%H:%M:%SZ)'","policy":"next_slot","purpose":"informational","message":{"body":"Hello from tcpa"}}'
  3. Follow it:  curl -s ${url}/v1/timers/<id> -H "Authorization: Bearer $KEY"
${emulator ? `     What the emulator received:  curl -s ${url}/_emulator/messages\n` : ''}  4. Or open the console, ${url}/console, and sign in with the key
     (campaigns from a CSV file with a preview first, timers, audit log, compliance controls).
`;
}
