// The Prisma client for this service: the Rust-free `prisma-client` generator's output
// (src/generated/prisma, produced by `npm run prisma:generate`) over the node-postgres driver
// adapter. The generated folder is not committed; `npm test` (pretest) and `npm install`
// (postinstall) regenerate it.
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../../generated/prisma/client.ts';

// Model types, enums and the Prisma namespace, for callers that only import this module.
export * from '../../generated/prisma/client.ts';

export type Db = PrismaClient & {
  /** Closes the client and its pg pool. Safe to call more than once. */
  disconnect: () => Promise<void>;
};

export interface CreatePrismaOptions {
  /** Upper bound on the pg pool's connections. Default: pg's default (10). */
  maxConnections?: number;
}

/** The pg pool under each client made by createPrisma (raw streaming reads: audit export and verify). */
const pools = new WeakMap<object, pg.Pool>();

export function createPrisma(databaseUrl: string, opts: CreatePrismaOptions = {}): Db {
  // One pool, shared by Prisma and by the few raw-SQL readers that stream (pgPoolOf).
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    ...(opts.maxConnections === undefined ? {} : { max: opts.maxConnections }),
  });
  pool.on('error', () => {}); // an idle client's connection dropped: the pool replaces it
  const adapter = new PrismaPg(pool);
  const client = new PrismaClient({ adapter });
  let closing: Promise<void> | undefined;
  const db = Object.assign(client, {
    disconnect: () => (closing ??= client.$disconnect().finally(() => pool.end())),
  });
  pools.set(db, pool);
  return db;
}

/** The pg pool of a client made by createPrisma, for raw SQL that must stream; undefined for other clients. */
export function pgPoolOf(client: object): pg.Pool | undefined {
  return pools.get(client);
}
