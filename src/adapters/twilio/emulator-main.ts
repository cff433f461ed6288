/**
 * Standalone Twilio emulator server: `startEmulator({ port, accounts, ... })` → `{ url, close }`.
 * The `tcpa emulator --port <p>` command calls it. Run directly for a quick local instance:
 *   TWILIO_ACCOUNT_SID=AC… TWILIO_AUTH_TOKEN=… npx tsx src/adapters/twilio/emulator-main.ts [port]
 * Logs go to stderr (pino), with phone numbers masked and no message bodies.
 */
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { createEmulatorApp, type EmulatorControl, type EmulatorLogger, type EmulatorOptions } from './emulator.ts';

export interface StartEmulatorOptions extends Omit<EmulatorOptions, 'logger' | 'accounts'> {
  /** 0 (or absent) picks a free port. */
  port?: number;
  /** Interface to bind. Default 127.0.0.1. */
  host?: string;
  /** AccountSid → AuthToken. Empty: every API request is answered 401 / 20003. */
  accounts?: Record<string, string>;
  /** A logger, `false` for none; default pino to stderr at `logLevel`. */
  logger?: EmulatorLogger | false;
  logLevel?: string;
}

export interface RunningEmulator {
  /** Base URL to use as TWILIO_API_BASE, e.g. http://127.0.0.1:4010 */
  url: string;
  port: number;
  emulator: EmulatorControl;
  close(): Promise<void>;
}

export async function startEmulator(opts: StartEmulatorOptions = {}): Promise<RunningEmulator> {
  const { port = 0, host = '127.0.0.1', accounts = {}, logger, logLevel = 'info', ...rest } = opts;
  const log: EmulatorLogger | undefined =
    logger === false ? undefined : (logger ?? pino({ name: 'twilio-emulator', level: logLevel }, pino.destination(2)));
  const app = createEmulatorApp({ ...rest, accounts, ...(log ? { logger: log } : {}) });
  const server = await new Promise<import('node:http').Server>((resolve, reject) => {
    const s = app.listen(port, host, (err?: Error) => (err ? reject(err) : resolve(s)));
    s.once('error', reject);
  });
  const bound = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const url = `http://${urlHost}:${bound}`;
  if (Object.keys(accounts).length === 0) log?.warn({}, 'no accounts configured: every API request will be answered 401');
  log?.info({ url, accounts: Object.keys(accounts).length }, 'twilio emulator listening');
  let closing: Promise<void> | undefined;
  return {
    url,
    port: bound,
    emulator: app.emulator,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        app.emulator.dispose();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** `AC1:token1,AC2:token2` → `{ AC1: 'token1', AC2: 'token2' }` (for CLI flags / env). */
export function parseAccounts(spec: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = pair.indexOf(':');
    if (i <= 0 || i === pair.length - 1) throw new Error(`expected AccountSid:AuthToken, got "${pair.slice(0, 6)}…"`);
    out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const accounts = process.env.TWILIO_EMULATOR_ACCOUNTS
    ? parseAccounts(process.env.TWILIO_EMULATOR_ACCOUNTS)
    : process.env.TWILIO_ACCOUNT_SID && process.env.TWILIO_AUTH_TOKEN
      ? { [process.env.TWILIO_ACCOUNT_SID]: process.env.TWILIO_AUTH_TOKEN }
      : {};
  const port = Number(process.argv[2] ?? process.env.TWILIO_EMULATOR_PORT ?? 4010);
  const running = await startEmulator({ port, accounts });
  process.stdout.write(`${JSON.stringify({ url: running.url })}\n`);
  const stop = () => void running.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
