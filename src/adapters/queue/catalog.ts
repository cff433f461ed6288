/**
 * The job catalog: every BullMQ job the engine runs, with its queue, payload schema and retry
 * options, in one place (the shape of trigger.dev's workerCatalog). Producers add jobs only
 * through `jobOptions`/`parsePayload`, and a worker's processors are a mapped type over the
 * catalog, so a job without a handler does not compile.
 *
 * Payloads carry ids only — never a phone number or a message body (BullMQ's production guide:
 * no sensitive data in job payloads). Postgres holds everything else.
 */
import type { JobsOptions } from 'bullmq';
import { z } from 'zod';

export const TIMERS_QUEUE = 'timers';

export const JOB_CATALOG = {
  /** Fire one timer: judge it again at the real instant, then claim and send, or apply its policy. */
  'timer.fire': {
    queue: TIMERS_QUEUE,
    schema: z.object({ timerId: z.uuid(), sendAt: z.number().int().nonnegative() }).strict(),
    options: {
      // Transient failures (provider 429/5xx, Postgres unreachable) retry with 1 s, 2 s, 4 s, …
      // (about 68 minutes in all); a timer whose job is exhausted stays in Postgres and the
      // reconciler hands it to a fresh job.
      attempts: 12,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: true,
      removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
    } satisfies JobsOptions,
  },
} as const;

export type JobName = keyof typeof JOB_CATALOG;
export type JobPayload<N extends JobName> = z.infer<(typeof JOB_CATALOG)[N]['schema']>;

/** Handlers for every job of the catalog; the compiler rejects a missing one. */
export type JobProcessors = { [N in JobName]: (payload: JobPayload<N>, ctx: { attempt: number; maxAttempts: number }) => Promise<unknown> };

export function parsePayload<N extends JobName>(name: N, data: unknown): JobPayload<N> {
  return JOB_CATALOG[name].schema.parse(data) as JobPayload<N>;
}

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(JOB_CATALOG, name);
}

/** `<timerId>_<sendAt>`: the same timer at the same instant is one job; a rescheduled timer is a new one. */
export function timerJobId(timerId: string, sendAt: number): string {
  return `${timerId}_${sendAt}`;
}
