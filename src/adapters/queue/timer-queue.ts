/**
 * BullMQ adapters: the near-term timer queue (TimerQueuePort) and the dispatcher's Worker over
 * the job catalog. Connections come from src/adapters/queue/connection.ts (single Redis, Cluster
 * or Sentinel), key names from src/adapters/queue/keys.ts (hash-tagged for Redis Cluster).
 */
import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { QueuedTimer, TimerQueuePort } from '../../app/ports.ts';
import { JOB_CATALOG, TIMERS_QUEUE, isJobName, parsePayload, timerJobId, type JobContext, type JobName, type JobPayload, type QueueName, type QueueProcessors } from './catalog.ts';
import { redisConnection, type RedisClient } from './connection.ts';
import { bullPrefix, queueMarkerKey } from './keys.ts';

export { redisConnection };

const LIVE_STATES = new Set(['waiting', 'delayed', 'active', 'prioritized', 'waiting-children']);

export class BullTimerQueue implements TimerQueuePort {
  readonly queue: Queue;

  constructor(connection: RedisClient, prefix: string) {
    this.queue = new Queue(TIMERS_QUEUE, { connection, prefix: bullPrefix(prefix, TIMERS_QUEUE) });
    this.queue.on('error', () => {});
  }

  async enqueue(items: readonly QueuedTimer[], now: number): Promise<void> {
    if (items.length === 0) return;
    const spec = JOB_CATALOG['timer.fire'];
    await this.queue.addBulk(
      items.map((t) => ({
        name: 'timer.fire',
        data: parsePayload('timer.fire', { timerId: t.timerId, sendAt: t.sendAt }),
        opts: { ...spec.options, jobId: timerJobId(t.timerId, t.sendAt), delay: Math.max(0, t.sendAt - now) },
      })),
    );
  }

  async missing(items: readonly QueuedTimer[]): Promise<QueuedTimer[]> {
    const out: QueuedTimer[] = [];
    for (const t of items) {
      const job = await this.queue.getJob(timerJobId(t.timerId, t.sendAt));
      if (!job) {
        out.push(t);
        continue;
      }
      const state = await job.getState();
      if (LIVE_STATES.has(state)) continue;
      // completed (kept) or failed (retries exhausted): remove it so the id can be used again.
      await job.remove().catch(() => undefined);
      out.push(t);
    }
    return out;
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}

export interface CatalogWorkerOptions {
  connection: RedisClient;
  /** The deployment's QUEUE_PREFIX (the queue's hash-tagged BullMQ prefix is built from it: src/adapters/queue/keys.ts). */
  prefix: string;
  concurrency: number;
  /** Lock duration of an active job (BullMQ renews it while the processor runs). */
  lockDurationMs?: number;
  /** How many times a job may be found stalled (its worker died) before it fails. Default BullMQ's (1). */
  maxStalledCount?: number;
}

/**
 * A Worker on one queue of the catalog (default the timers queue) routing by job name to
 * `processors`. A job whose name or payload is not in the catalog, or that belongs to another
 * queue, fails at once (UnrecoverableError): retrying cannot fix it.
 */
export function createCatalogWorker<Q extends QueueName = typeof TIMERS_QUEUE>(processors: QueueProcessors<Q>, opts: CatalogWorkerOptions & { queue?: Q }): Worker {
  const handlers = processors as unknown as Partial<Record<JobName, (payload: unknown, ctx: JobContext) => Promise<unknown>>>;
  const worker = new Worker(
    opts.queue ?? TIMERS_QUEUE,
    async (job: Job, token?: string) => {
      if (!isJobName(job.name)) throw new UnrecoverableError(`unknown job name ${job.name}`);
      const handler = handlers[job.name];
      if (!handler) throw new UnrecoverableError(`job ${job.name} does not belong on this queue`);
      const parsed = JOB_CATALOG[job.name].schema.safeParse(job.data);
      if (!parsed.success) throw new UnrecoverableError(`invalid payload for ${job.name}`);
      return handler(parsed.data, { attempt: job.attemptsMade + 1, maxAttempts: job.opts.attempts ?? 1, job, token });
    },
    {
      connection: opts.connection,
      prefix: bullPrefix(opts.prefix, opts.queue ?? TIMERS_QUEUE),
      concurrency: opts.concurrency,
      lockDuration: opts.lockDurationMs ?? 30_000,
      // Check for stalled jobs (their worker died) as often as a lock can expire.
      stalledInterval: opts.lockDurationMs ?? 30_000,
      ...(opts.maxStalledCount === undefined ? {} : { maxStalledCount: opts.maxStalledCount }),
      autorun: false,
    },
  );
  worker.on('error', () => {});
  return worker;
}

/**
 * Parks the running job for `delayMs` with new data (BullMQ's "process step jobs" pattern): no
 * worker waits meanwhile, the job keeps its id, and the wait does not count as an attempt. Always
 * throws the DelayedError the processor must end with.
 */
export async function parkJob<N extends JobName>(name: N, ctx: JobContext, data: JobPayload<N>, delayMs: number): Promise<never> {
  await ctx.job.updateData(parsePayload(name, data));
  await ctx.job.moveToDelayed(Date.now() + Math.max(0, delayMs), ctx.token);
  throw new DelayedError();
}

/**
 * A marker key next to the queue's keys. Redis losing its data (restart without persistence,
 * FLUSHALL, failover to an empty replica) loses the marker too: `lost()` then answers true once
 * and sets it again, and the reconciler re-adds every queued timer.
 */
export class RedisQueueMarker {
  private readonly key: string;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.key = queueMarkerKey(prefix);
  }

  async lost(): Promise<boolean> {
    const set = await this.redis.set(this.key, String(Date.now()), 'NX');
    return set === 'OK';
  }
}
