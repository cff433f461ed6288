/**
 * The one Redis connection factory: a single Redis (REDIS_URL), a Redis Cluster
 * (REDIS_CLUSTER_NODES) or a master found through Sentinel (REDIS_SENTINELS +
 * REDIS_SENTINEL_NAME), as src/config.ts chose. Everything that talks to Redis — BullMQ's queues
 * and workers, the send-rate limiter, the leader loops, the API's rate limit, the readiness check
 * — gets its connection here, so every deployment shape is one setting away.
 *
 * Connections follow BullMQ's production guide: workers use `maxRetriesPerRequest: null` (they
 * wait out a Redis restart or a failover; BullMQ refuses a worker connection without it);
 * producers on a request path fail fast (`enableOfflineQueue: false`) so an API call never hangs
 * on a dead Redis — the timer is safe in Postgres anyway and the pump retries. On a cluster these
 * per-node options go in `redisOptions`, where BullMQ looks for them.
 *
 * Keys must be cluster-safe wherever they run: src/adapters/queue/keys.ts.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisAuth, RedisTarget } from '../../config.ts';

export type { RedisTarget };

export type RedisClient = Redis | Cluster;
export type RedisRole = 'worker' | 'producer';

function roleOptions(role: RedisRole): RedisOptions {
  return role === 'worker' ? { maxRetriesPerRequest: null } : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 };
}

function authOptions(auth: RedisAuth): RedisOptions {
  return {
    ...(auth.username === undefined ? {} : { username: auth.username }),
    ...(auth.password === undefined ? {} : { password: auth.password }),
    ...(auth.tls ? { tls: {} } : {}),
  };
}

/** A connection for `role` to `target` (a plain URL means a single Redis). */
export function redisConnection(target: RedisTarget | string, role: RedisRole): RedisClient {
  const t: RedisTarget = typeof target === 'string' ? { kind: 'single', url: target } : target;
  let conn: RedisClient;
  switch (t.kind) {
    case 'single':
      conn = new Redis(t.url, roleOptions(role));
      break;
    case 'sentinel':
      conn = new Redis({
        sentinels: t.sentinels,
        name: t.name,
        ...authOptions(t.auth),
        ...(t.auth.db === undefined ? {} : { db: t.auth.db }),
        ...(t.auth.tls ? { enableTLSForSentinelMode: true } : {}),
        ...roleOptions(role),
      });
      break;
    case 'cluster': {
      const { enableOfflineQueue, ...perNode } = roleOptions(role);
      const options: ClusterOptions = {
        redisOptions: { ...perNode, ...authOptions(t.auth) },
        ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
        // TLS certificates name the nodes' hosts, not the addresses they resolve to (managed clusters).
        ...(t.auth.tls ? { dnsLookup: (address: string, callback: (err: Error | null, address: string) => void) => callback(null, address) } : {}),
      };
      conn = new Cluster(t.nodes, options);
      break;
    }
  }
  // Errors surface on the calls that fail; an unhandled 'error' event would crash the process.
  conn.on('error', () => {});
  return conn;
}

/** Resolves once `conn` can take commands (a fail-fast producer refuses them before). */
export async function redisReady(conn: RedisClient, timeoutMs = 10_000): Promise<void> {
  if (conn.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      conn.off('ready', onReady);
      reject(new Error(`Redis not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    conn.once('ready', onReady);
  });
}
