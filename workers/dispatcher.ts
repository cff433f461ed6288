/** A dispatcher: run as many as you like (docker compose up --scale dispatcher=N). */
import { loadConfig } from '../src/config.ts';
import { createRuntime, onSignals, startDispatcher } from '../src/runtime.ts';
import { bootOrExit } from '../src/boot.ts';

process.env.TZ = 'UTC';

await bootOrExit(async () => {
  const config = loadConfig();
  const rt = createRuntime(config);
  const part = startDispatcher(rt);
  rt.log.info({ worker: rt.ctx.workerId }, 'dispatcher started');
  onSignals({ rt, parts: [part] });
});
