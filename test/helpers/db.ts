// Per-test-file PostgreSQL databases.
//
// The migrations are applied once into a template database named after a hash of
// prisma/migrations (`tcpa_tpl_<hash8>`); each test file then gets its own
// `CREATE DATABASE tcpa_test_... TEMPLATE tcpa_tpl_<hash8>` (a file copy: milliseconds).
// A changed migration gives a new hash, hence a new template. Building a template is
// serialised across processes with an advisory lock, and a template only gets its final
// name once it is fully migrated, so a crashed build never leaves a half-built template behind.
//
// The server is the one in TEST_DATABASE_URL, else DATABASE_URL, else
// postgresql://postgres@127.0.0.1:5432 (only its host/port/credentials are used).
import { createHash } from 'node:crypto';
import pg from 'pg';
import { DEFAULT_MIGRATIONS_DIR, migrate, readMigrations, withDatabase } from '../../src/adapters/db/migrate.ts';

const SERVER_URL =
  process.env['TEST_DATABASE_URL'] || process.env['DATABASE_URL'] || 'postgresql://postgres@127.0.0.1:5432/postgres';
/** Serialises template builds across processes (any value unlikely to clash with the app's locks). */
const TEMPLATE_LOCK_KEY = 0x7c9a_0001;
const TEST_DB_PREFIX = 'tcpa_test_';
/** Test databases left behind by killed runs are dropped once they are this old. */
const STALE_AFTER_SECONDS = 6 * 60 * 60;

export function serverUrl(database = 'postgres'): string {
  return withDatabase(SERVER_URL, database);
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Run `fn` with a short-lived pg client on `url`. */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  return withClient(serverUrl('postgres'), fn);
}

/** `tcpa_tpl_<first 8 hex of sha256 over every migration's name and checksum>`. */
export async function templateName(migrationsDir: string = DEFAULT_MIGRATIONS_DIR): Promise<string> {
  const hash = createHash('sha256');
  for (const m of await readMigrations(migrationsDir)) hash.update(`${m.name}\0${m.checksum}\n`);
  return `tcpa_tpl_${hash.digest('hex').slice(0, 8)}`;
}

let templatePromise: Promise<string> | undefined;

/** Builds the migrated template database if it does not exist yet; returns its name. */
export function ensureTemplate(): Promise<string> {
  templatePromise ??= buildTemplate().catch((err: unknown) => {
    templatePromise = undefined;
    throw err;
  });
  return templatePromise;
}

async function buildTemplate(): Promise<string> {
  const name = await templateName();
  return withAdmin(async (admin) => {
    await admin.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK_KEY]);
    try {
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (exists.rowCount) return name;

      // Leftovers of builds that died (we hold the lock, so none is in progress).
      const leftovers = await admin.query<{ datname: string }>(
        "SELECT datname FROM pg_database WHERE datname LIKE 'tcpa\\_tpl\\_%\\_build\\_%'",
      );
      for (const { datname } of leftovers.rows) await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(datname)} WITH (FORCE)`);
      await dropStaleTestDatabases(admin);

      const building = `${name}_build_${process.pid}`;
      await migrate(serverUrl(building));
      // No session may be connected to a database that is renamed or used as a template.
      await admin.query(`ALTER DATABASE ${quoteIdent(building)} RENAME TO ${quoteIdent(name)}`);
      return name;
    } finally {
      await admin.query('SELECT pg_advisory_unlock($1)', [TEMPLATE_LOCK_KEY]);
    }
  });
}

async function dropStaleTestDatabases(admin: pg.Client): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>(
    `SELECT datname FROM pg_database WHERE datname LIKE '${TEST_DB_PREFIX.replace(/_/g, '\\_')}%'`,
  );
  const now = Math.floor(Date.now() / 1000);
  for (const { datname } of rows) {
    const created = Number(/^tcpa_test_(\d+)_/.exec(datname)?.[1]);
    if (Number.isFinite(created) && now - created > STALE_AFTER_SECONDS) {
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(datname)} WITH (FORCE)`);
    }
  }
}

/**
 * A new, fully migrated, empty database for one test file. Call `drop` in `afterAll`
 * (after disconnecting your clients; it force-closes any that remain).
 */
export async function freshDatabase(): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const template = await ensureTemplate();
  const name = `${TEST_DB_PREFIX}${Math.floor(Date.now() / 1000)}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await withAdmin((admin) => admin.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template)}`));
  let dropped: Promise<void> | undefined;
  return {
    url: serverUrl(name),
    name,
    drop: () =>
      (dropped ??= withAdmin(async (admin) => {
        await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
      })),
  };
}

/** A database name that does not exist yet (for tests that create and migrate one themselves). */
export function unusedDatabase(): { url: string; name: string; drop: () => Promise<void> } {
  const name = `${TEST_DB_PREFIX}${Math.floor(Date.now() / 1000)}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  return {
    url: serverUrl(name),
    name,
    drop: () =>
      withAdmin(async (admin) => {
        await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
      }),
  };
}
