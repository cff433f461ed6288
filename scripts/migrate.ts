/**
 * Applies prisma/migrations to DATABASE_URL (creating the database if needed).
 *
 *   npm run db:migrate            (= tsx scripts/migrate.ts)
 *
 * DATABASE_URL defaults to postgresql://postgres@127.0.0.1:5432/tcpa.
 * Exits 1, changing nothing, when an applied migration's file was edited or an earlier
 * migration failed; see src/adapters/db/migrate.ts.
 */
import { migrate } from '../src/adapters/db/migrate.ts';

const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/tcpa';
const databaseUrl = process.env['DATABASE_URL'] || DEFAULT_DATABASE_URL;

try {
  const { applied } = await migrate(databaseUrl, { log: (msg) => console.error(`db:migrate: ${msg}`) });
  console.log(JSON.stringify({ applied }));
} catch (err) {
  console.error(`db:migrate: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
