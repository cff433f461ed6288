/**
 * Runs an entrypoint's start-up; a configuration error prints its problems (never a secret's
 * value, never a stack trace) and exits 1.
 */
import { ConfigError } from './config.ts';

export async function bootOrExit(start: () => Promise<void>): Promise<void> {
  try {
    await start();
  } catch (err) {
    if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
    else process.stderr.write(`start-up failed: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
