/** Child processes in tests: liveness, graceful stop (SIGTERM, then SIGKILL), captured output. */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';

export function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** SIGTERM (graceful), then SIGKILL if it has not exited after `graceMs`. By pid only. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (!alive(child)) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const force = setTimeout(() => {
    if (alive(child)) child.kill('SIGKILL');
  }, graceMs);
  try {
    await exited;
  } finally {
    clearTimeout(force);
  }
}

/** Keeps the last `max` characters a child wrote (for failure messages). */
export function captureOutput(child: ChildProcess, max = 8000): () => string {
  let out = '';
  const add = (d: Buffer) => {
    out = (out + d.toString('utf8')).slice(-max);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => out;
}
