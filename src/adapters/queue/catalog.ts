/**
 * The job catalog: every BullMQ job the engine runs, with its queue, payload schema and retry
 * options, in one place (the shape of trigger.dev's workerCatalog). Producers add jobs only
 * through `jobOptions`/`parsePayload`, and a worker's processors are a mapped type over the
 * catalog, so a job without a handler does not compile.
 *
 * Payloads carry ids only — never a phone number or a message body (BullMQ's production guide:
 * no sensitive data in job payloads). Postgres holds everything else.
 */
import type { Job, JobsOptions } from 'bullmq';
import { z } from 'zod';

export const TIMERS_QUEUE = 'timers';
/** Campaign planning (src/app/campaigns): its own queue and workers (`npm run worker:planner`). */
export const CAMPAIGNS_QUEUE = 'campaigns';
/** Outbound events (src/app/webhooks.ts): one job per endpoint with deliveries due. */
export const WEBHOOKS_QUEUE = 'webhooks';

export const JOB_CATALOG = {
  /** Fire one timer: judge it again at the real instant, then claim and send, or apply its policy. */
  'timer.fire': {
    queue: TIMERS_QUEUE,
    schema: z
      .object({
        timerId: z.uuid(),
        sendAt: z.number().int().nonnegative(),
        /** A send-rate slot reserved by an earlier run of this attempt (the job was parked until it; src/app/timers/dispatch.ts). */
        rate: z.object({ slot: z.number().int().nonnegative(), reservedAt: z.number().int().nonnegative(), attempt: z.number().int().positive() }).strict().optional(),
      })
      .strict(),
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
  /** Plan one chunk of a campaign's audience (idempotent: a done chunk is skipped, timers are unique per campaign row). */
  'campaign.plan_chunk': {
    queue: CAMPAIGNS_QUEUE,
    schema: z.object({ campaignId: z.uuid(), seq: z.number().int().nonnegative() }).strict(),
    options: {
      // Postgres unreachable, a deadlock with another writer, a planner killed mid-chunk (stalled):
      // the chunk's transaction rolled back, so trying again is always safe.
      attempts: 10,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: true,
      removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
    } satisfies JobsOptions,
  },
  /** Deliver an endpoint's due events (leased in Postgres, so a duplicate job only finds nothing due). */
  'webhook.deliver': {
    queue: WEBHOOKS_QUEUE,
    schema: z.object({ endpointId: z.uuid() }).strict(),
    options: {
      // Failed HTTP attempts are retried from Postgres (next_attempt_at), not by BullMQ: a job
      // fails only when Postgres does, and the webhook loop adds the endpoint's job again.
      attempts: 3,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: true,
      removeOnFail: { age: 24 * 3600, count: 1000 },
    } satisfies JobsOptions,
  },
} as const;

export type JobName = keyof typeof JOB_CATALOG;
export type QueueName = (typeof JOB_CATALOG)[JobName]['queue'];
/** The jobs that run on queue `Q`. */
export type JobsOf<Q extends QueueName> = { [N in JobName]: (typeof JOB_CATALOG)[N]['queue'] extends Q ? N : never }[JobName];
export type JobPayload<N extends JobName> = z.infer<(typeof JOB_CATALOG)[N]['schema']>;

/** What a processor gets besides its payload. `job` and `token` let it park the job (`moveToDelayed` + DelayedError). */
export interface JobContext {
  attempt: number;
  maxAttempts: number;
  job: Job;
  token: string | undefined;
}

/** Handlers for every job of queue `Q`; the compiler rejects a missing one. */
export type QueueProcessors<Q extends QueueName> = { [N in JobsOf<Q>]: (payload: JobPayload<N>, ctx: JobContext) => Promise<unknown> };
/** Handlers for every job of the timers queue (the dispatcher). */
export type JobProcessors = QueueProcessors<typeof TIMERS_QUEUE>;

export function parsePayload<N extends JobName>(name: N, data: unknown): JobPayload<N> {
  return JOB_CATALOG[name].schema.parse(data) as JobPayload<N>;
}

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(JOB_CATALOG, name);
}

/** `campaign_<campaignId>_<seq>`: one job per chunk (adding it again while it exists is a no-op). */
export function campaignChunkJobId(campaignId: string, seq: number): string {
  return `campaign_${campaignId}_${seq}`;
}

/** `webhook_<endpointId>`: at most one job per endpoint waits or runs at a time. */
export function webhookJobId(endpointId: string): string {
  return `webhook_${endpointId}`;
}

/** `<timerId>_<sendAt>`: the same timer at the same instant is one job; a rescheduled timer is a new one. */
export function timerJobId(timerId: string, sendAt: number): string {
  return `${timerId}_${sendAt}`;
}
