// Prisma 7 CLI configuration: the datasource URL lives here, not in schema.prisma.
// `prisma generate` needs no database; `prisma migrate deploy` (where its schema engine is
// available) uses this URL. Locally, migrations are applied by `npm run db:migrate`.
import { defineConfig } from 'prisma/config';

export const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/tcpa';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env['DATABASE_URL'] ?? DEFAULT_DATABASE_URL },
});
