/**
 * The producer side of campaign planning: one `campaign.plan_chunk` job per chunk on the
 * `campaigns` queue (workers: `startCampaignPlanner` in src/runtime.ts). Job ids are
 * `campaign_<id>_<seq>`, so adding a chunk's job again while it exists is a no-op.
 */
import { Queue } from 'bullmq';
import type { RedisClient } from './connection.ts';
import type { CampaignQueuePort } from '../../app/ports.ts';
import { CAMPAIGNS_QUEUE, campaignChunkJobId, JOB_CATALOG, parsePayload } from './catalog.ts';
import { bullPrefix } from './keys.ts';

/** Jobs per addBulk call. */
const BULK = 1000;

export class BullCampaignQueue implements CampaignQueuePort {
  readonly queue: Queue;

  constructor(connection: RedisClient, prefix: string) {
    this.queue = new Queue(CAMPAIGNS_QUEUE, { connection, prefix: bullPrefix(prefix, CAMPAIGNS_QUEUE) });
    this.queue.on('error', () => {});
  }

  async enqueueChunks(campaignId: string, seqs: readonly number[]): Promise<void> {
    const spec = JOB_CATALOG['campaign.plan_chunk'];
    for (let i = 0; i < seqs.length; i += BULK) {
      await this.queue.addBulk(
        seqs.slice(i, i + BULK).map((seq) => ({
          name: 'campaign.plan_chunk',
          data: parsePayload('campaign.plan_chunk', { campaignId, seq }),
          opts: { ...spec.options, jobId: campaignChunkJobId(campaignId, seq) },
        })),
      );
    }
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
