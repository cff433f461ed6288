/**
 * Raw SQL on the hot paths goes through the pg pool under the Prisma client (pgPoolOf): the
 * few helpers every query family shares.
 *
 * Every statement sent through `sqlPool` / `inTransaction` is a named (prepared) statement: each
 * connection parses and plans a statement's text once instead of on every call — these are the
 * same few dozen constant texts run thousands of times a second (the batches' unnest()s and CTEs
 * cost Postgres more to plan than to run). Names are derived from the text; past PREPARED_MAX
 * distinct texts (a caller building SQL text dynamically) statements go unnamed, so the server's
 * per-connection statement cache stays bounded.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';

/** A Prisma client or transaction as a Queryable (a query family's SQL run in a Prisma transaction). */
export function viaPrisma(tx: { $queryRawUnsafe<R>(text: string, ...values: unknown[]): PromiseLike<R> }): Queryable {
  return { query: async <R>(text: string, values: unknown[] = []) => ({ rows: await tx.$queryRawUnsafe<R[]>(text, ...values) }) };
}

/** A pg client or pool (pg.PoolClient inside a transaction). */
export interface Queryable {
  query<R = unknown>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

/** What `inTransaction` needs of a pool. */
export interface ClientPool {
  connect(): Promise<Queryable & { release(err?: Error | boolean): void }>;
}

/** Most distinct statement texts that get a prepared statement. */
export const PREPARED_MAX = 200;
const names = new Map<string, string>();

/** The prepared statement's name for a text (undefined past PREPARED_MAX texts, or for a transaction command). */
export function statementName(text: string): string | undefined {
  const known = names.get(text);
  if (known !== undefined || names.size >= PREPARED_MAX || /^\s*(BEGIN|COMMIT|ROLLBACK|SET)\b/i.test(text)) return known;
  const name = `tcpa_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
  names.set(text, name);
  return name;
}

interface RawQueryable {
  query(config: { text: string; name?: string; values?: unknown[] }): Promise<{ rows: unknown[] }>;
}

/** `target.query` sending named statements. */
function namedQuery(target: RawQueryable): Queryable['query'] {
  return ((text: string, values?: unknown[]) => {
    const name = statementName(text);
    return target.query({ text, ...(name === undefined ? {} : { name }), ...(values === undefined ? {} : { values }) });
  }) as Queryable['query'];
}

/** Runs `fn` in a transaction on one pooled client (BEGIN … COMMIT, ROLLBACK on error). */
export async function inTransaction<T>(pool: ClientPool, fn: (client: Queryable) => Promise<T>): Promise<T> {
  const raw = await pool.connect();
  let broken: Error | undefined;
  // A connection lost while checked out: its query rejects (handled below); without a listener the
  // client's 'error' event would be an uncaught exception.
  const emitter = raw as unknown as { on?(e: 'error', f: (err: Error) => void): void; off?(e: 'error', f: (err: Error) => void): void };
  const onError = (err: Error) => (broken = err);
  emitter.on?.('error', onError);
  const client = {
    query: namedQuery(raw as unknown as RawQueryable),
    release: (err?: Error | boolean) => {
      emitter.off?.('error', onError);
      raw.release(err);
    },
  };
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
  return { connect: () => pool.connect() as unknown as ReturnType<ClientPool['connect']>, query: namedQuery(pool as unknown as RawQueryable) };
}

/** Postgres' SQLSTATE for a deadlock: the transaction was rolled back and may simply be tried again. */
export const DEADLOCK = '40P01';

export function isDeadlock(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === DEADLOCK;
}
