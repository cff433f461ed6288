// Applies the hand-written SQL migrations in prisma/migrations through the `pg` driver.
//
// Prisma's schema engine (which `prisma migrate` needs) cannot be downloaded on every machine,
// so this module does what `prisma migrate deploy` does, and keeps Prisma's bookkeeping
// exactly as Prisma does so that `prisma migrate deploy` / `migrate status` keep working where
// the engine exists:
//   - the `_prisma_migrations` table, created with Prisma's own DDL;
//   - one row per migration: checksum = sha256 hex of the migration.sql bytes, started_at on
//     start, finished_at + applied_steps_count = 1 on success, logs on failure;
//   - the same session advisory lock Prisma takes (72707369), so this runner and Prisma's
//     never migrate the same database at once.
// Unlike `migrate deploy` it refuses to run when an applied migration's file has changed.
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/** The key Prisma's schema engine uses for its migration advisory lock. */
export const PRISMA_MIGRATE_LOCK_KEY = 72707369;

export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../../../prisma/migrations', import.meta.url));

/** Prisma's DDL for its bookkeeping table (PostgreSQL), verbatim in substance. */
const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

export interface MigrateOptions {
  log?: (msg: string) => void;
  /** Defaults to the repository's prisma/migrations. */
  migrationsDir?: string;
  /** How long to wait for another migrator's advisory lock. Default 60 s. */
  lockTimeoutMs?: number;
}

export interface LocalMigration {
  name: string;
  sql: string;
  /** sha256 hex of the migration.sql bytes, as Prisma computes it. */
  checksum: string;
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

export function checksumOf(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Reads `<dir>/<name>/migration.sql` for every migration folder, in Prisma's (lexicographic) order. */
export async function readMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Promise<LocalMigration[]> {
  const lockFile = await readFile(path.join(dir, 'migration_lock.toml'), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (lockFile !== undefined) {
    const provider = /^\s*provider\s*=\s*"([^"]*)"/m.exec(lockFile)?.[1];
    if (provider !== 'postgresql') {
      throw new MigrationError(`${path.join(dir, 'migration_lock.toml')} names provider "${provider ?? '?'}", expected "postgresql"`);
    }
  }
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const migrations: LocalMigration[] = [];
  for (const name of names) {
    let bytes: Buffer;
    try {
      bytes = await readFile(path.join(dir, name, 'migration.sql'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // Prisma ignores folders without a script
      throw err;
    }
    migrations.push({ name, sql: bytes.toString('utf8'), checksum: checksumOf(bytes) });
  }
  return migrations;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The database named in a postgres URL. */
export function databaseName(databaseUrl: string): string {
  const name = decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, ''));
  if (name === '') throw new MigrationError(`no database name in ${redact(databaseUrl)}`);
  return name;
}

/** The same URL pointed at another database on the same server (default: `postgres`). */
export function withDatabase(databaseUrl: string, database = 'postgres'): string {
  const url = new URL(databaseUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

function redact(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '<invalid url>';
  }
}

function newClient(connectionString: string): pg.Client {
  const client = new pg.Client({ connectionString });
  // An idle client that loses its connection emits 'error'; the next query reports it.
  client.on('error', () => {});
  return client;
}

/** Creates the database named in the URL if it does not exist (connecting to `postgres` to do it). */
export async function ensureDatabase(databaseUrl: string): Promise<{ created: boolean }> {
  const name = databaseName(databaseUrl);
  const admin = newClient(withDatabase(databaseUrl, 'postgres'));
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return { created: false };
    try {
      await admin.query(`CREATE DATABASE ${quoteIdent(name)}`);
      return { created: true };
    } catch (err) {
      // Lost a race with another creator: 42P04 duplicate_database, or 23505 on pg_database's index.
      const code = (err as { code?: string }).code;
      if (code === '42P04' || code === '23505') return { created: false };
      throw err;
    }
  } finally {
    await admin.end();
  }
}

interface AppliedRow {
  id: string;
  checksum: string;
  migration_name: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

/**
 * Brings the database up to date with prisma/migrations, like `prisma migrate deploy`.
 * Creates the database if needed. Returns the names of the migrations it applied.
 */
export async function migrate(databaseUrl: string, opts: MigrateOptions = {}): Promise<{ applied: string[] }> {
  const log = opts.log ?? (() => {});
  const local = await readMigrations(opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR);
  const { created } = await ensureDatabase(databaseUrl);
  if (created) log(`created database ${databaseName(databaseUrl)}`);

  const client = newClient(databaseUrl);
  await client.connect();
  try {
    await client.query(`SET lock_timeout = ${Math.max(1, Math.trunc(opts.lockTimeoutMs ?? 60_000))}`);
    try {
      await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK_KEY]);
    } catch (err) {
      if ((err as { code?: string }).code === '55P03') {
        throw new MigrationError('timed out waiting for the migration advisory lock: another migration is running', { cause: err });
      }
      throw err;
    }
    await client.query('RESET lock_timeout');
    try {
      return { applied: await migrateLocked(client, local, log) };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK_KEY]).catch(() => {});
    }
  } finally {
    await client.end();
  }
}

async function migrateLocked(client: pg.Client, local: LocalMigration[], log: (msg: string) => void): Promise<string[]> {
  await client.query(CREATE_MIGRATIONS_TABLE);
  const { rows } = await client.query<AppliedRow>(
    'SELECT id, checksum, migration_name, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at, migration_name',
  );

  const failed = rows.filter((r) => r.finished_at === null && r.rolled_back_at === null);
  if (failed.length > 0) {
    throw new MigrationError(
      `migration ${failed.map((r) => `"${r.migration_name}"`).join(', ')} failed earlier and was never resolved ` +
        '(Prisma P3009): inspect the database and the logs column of _prisma_migrations, fix it, then mark it ' +
        'with `prisma migrate resolve --rolled-back|--applied <name>` (or set rolled_back_at) and run again',
    );
  }
  const applied = new Map<string, AppliedRow>();
  for (const row of rows) if (row.finished_at !== null && row.rolled_back_at === null) applied.set(row.migration_name, row);

  const changed = local.filter((m) => {
    const row = applied.get(m.name);
    return row !== undefined && row.checksum !== m.checksum;
  });
  if (changed.length > 0) {
    throw new MigrationError(
      'applied migrations were modified after they were applied (checksum mismatch): ' +
        changed.map((m) => `${m.name} (database ${applied.get(m.name)?.checksum}, file ${m.checksum})`).join('; ') +
        '. Never edit an applied migration: revert the file and add a new migration.',
    );
  }
  const localNames = new Set(local.map((m) => m.name));
  for (const name of applied.keys()) {
    if (!localNames.has(name)) log(`warning: migration ${name} is applied in the database but missing from prisma/migrations`);
  }

  const done: string[] = [];
  for (const m of local) {
    if (applied.has(m.name)) continue;
    const id = randomUUID();
    await client.query(
      'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, now(), 0)',
      [id, m.checksum, m.name],
    );
    log(`applying migration ${m.name}`);
    try {
      // One simple-protocol query: PostgreSQL runs the whole script as one implicit transaction,
      // exactly as Prisma's engine sends it.
      await client.query(m.sql);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      await client.query('UPDATE "_prisma_migrations" SET logs = $2 WHERE id = $1', [id, `${m.name} failed: ${message}`]);
      throw new MigrationError(`migration ${m.name} failed: ${message}`, { cause: err });
    }
    await client.query(
      'UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = applied_steps_count + 1 WHERE id = $1',
      [id],
    );
    done.push(m.name);
  }
  log(done.length === 0 ? 'database is up to date' : `applied ${done.length} migration(s)`);
  return done;
}
