// The Prisma client for this service: the Rust-free `prisma-client` generator's output
// (src/generated/prisma, produced by `npm run prisma:generate`) over the node-postgres driver
// adapter. The generated folder is not committed; `npm test` (pretest) and `npm install`
// (postinstall) regenerate it.
import { PrismaPg } from '@prisma/adapter-pg';
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

export function createPrisma(databaseUrl: string, opts: CreatePrismaOptions = {}): Db {
  const adapter = new PrismaPg({
    connectionString: databaseUrl,
    ...(opts.maxConnections === undefined ? {} : { max: opts.maxConnections }),
  });
  const client = new PrismaClient({ adapter });
  let closing: Promise<void> | undefined;
  return Object.assign(client, {
    disconnect: () => (closing ??= client.$disconnect()),
  });
}
