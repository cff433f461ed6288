/**
 * Raw SQL on the hot paths goes through the pg pool under the Prisma client (pgPoolOf): the
 * few helpers every query family shares.
 */
import pg from 'pg';

/** A pg client or pool (pg.PoolClient inside a transaction). */
export interface Queryable {
  query<R = unknown>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

/** What `inTransaction` needs of a pool. */
export interface ClientPool {
  connect(): Promise<Queryable & { release(err?: Error | boolean): void }>;
}

/** Runs `fn` in a transaction on one pooled client (BEGIN … COMMIT, ROLLBACK on error). */
export async function inTransaction<T>(pool: ClientPool, fn: (client: Queryable) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    try {
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw err;
    }
  } finally {
    client.release(broken ?? false);
  }
}

/** The pool as the hot paths use it (typed for `inTransaction` and plain queries). */
export function sqlPool(pool: pg.Pool): ClientPool & Queryable {
  return pool as unknown as ClientPool & Queryable;
}

/** Postgres' SQLSTATE for a deadlock: the transaction was rolled back and may simply be tried again. */
export const DEADLOCK = '40P01';

export function isDeadlock(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === DEADLOCK;
}
