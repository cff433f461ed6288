/**
 * A periodic task that runs in at most one process at a time across the cluster: each tick, the
 * process holding (or acquiring) a Redis lease runs `task`; the others skip. The lease is a key
 * with a random token and a TTL (SET NX PX; renewed and released only by its holder, via Lua), so
 * a crashed holder is replaced after `ttlMs`, and a Redis that lost its data simply has a free
 * lease again — nothing else to rebuild.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient } from './connection.ts';
import type { Logger } from '../../app/ports.ts';

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export interface LeaderLoopOptions {
  redis: RedisClient;
  /** Full Redis key of the lease (`leaderKey` in src/adapters/queue/keys.ts). */
  key: string;
  intervalMs: number;
  /** Lease lifetime; must exceed the longest tick. Default max(30 s, 3 × interval). */
  ttlMs?: number;
  task: () => Promise<unknown>;
  log: Logger;
  name: string;
}

export class LeaderLoop {
  private readonly token = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly ttlMs: number;

  constructor(private readonly opts: LeaderLoopOptions) {
    this.ttlMs = opts.ttlMs ?? Math.max(30_000, 3 * opts.intervalMs);
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().then(() => undefined).finally(() => {
        this.running = undefined;
        this.schedule(this.opts.intervalMs);
      });
    }, delay);
  }

  /** Runs one tick now if this process holds or can take the lease. Returns whether it ran. */
  async tick(): Promise<boolean> {
    try {
      if (!(await this.acquire())) return false;
      await this.opts.task();
      return true;
    } catch (err) {
      this.opts.log.error({ loop: this.opts.name, err: (err as Error).message }, 'periodic task failed; will retry');
      return false;
    }
  }

  private async acquire(): Promise<boolean> {
    const { redis, key } = this.opts;
    const renewed = (await redis.eval(RENEW, 1, key, this.token, String(this.ttlMs))) as number;
    if (renewed === 1) return true;
    return (await redis.set(key, this.token, 'PX', this.ttlMs, 'NX')) === 'OK';
  }

  /** Stops ticking, waits for a tick in progress and gives the lease up. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await this.opts.redis.eval(RELEASE, 1, this.opts.key, this.token).catch(() => undefined);
  }
}
