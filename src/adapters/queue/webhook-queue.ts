/** The webhooks queue: one `webhook.deliver` job per endpoint with deliveries due (deduplicated by job id). */
import { Queue } from 'bullmq';
import type { RedisClient } from './connection.ts';
import { bullPrefix } from './keys.ts';
import { JOB_CATALOG, parsePayload, webhookJobId, WEBHOOKS_QUEUE } from './catalog.ts';

export class BullWebhookQueue {
  readonly queue: Queue;

  constructor(connection: RedisClient, prefix: string) {
    this.queue = new Queue(WEBHOOKS_QUEUE, { connection, prefix: bullPrefix(prefix, WEBHOOKS_QUEUE) });
    this.queue.on('error', () => {});
  }

  /** Adds a job for each endpoint; one that already has a waiting or running job is not added twice. */
  async enqueue(endpointIds: readonly string[]): Promise<void> {
    if (!endpointIds.length) return;
    const spec = JOB_CATALOG['webhook.deliver'];
    await this.queue.addBulk(endpointIds.map((endpointId) => ({ name: 'webhook.deliver', data: parsePayload('webhook.deliver', { endpointId }), opts: { ...spec.options, jobId: webhookJobId(endpointId) } })));
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
