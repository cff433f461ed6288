// The database layer: the hand-written migrations, the migration runner, the append-only audit
// table, the generated Prisma client, and, above all, that prisma/schema.prisma and
// prisma/migrations describe the same database.
//
// The schema side is read from schema.prisma's DMMF (the data model Prisma derives from the
// schema: tables, columns, native types, ids, uniques, indexes, relations, enums), computed
// offline by @prisma/prisma-schema-wasm (the same WASM build of Prisma's schema parser that
// @prisma/internals' getDMMF wraps). The database side is read from pg_catalog after the
// migrations are applied. Both are turned into the same shape and compared; a mismatch fails
// with one readable line per difference.
//
// Deliberately not compared: CHECK constraints, triggers and functions (Prisma cannot express
// them; the audit trigger is tested on its own below), and @relation(map: ...) foreign key names
// (the DMMF does not expose them: foreign keys are expected under Prisma's default names).
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { get_dmmf } from '@prisma/prisma-schema-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma, type Db } from '../../src/adapters/db/client.ts';
import {
  checksumOf,
  DEFAULT_MIGRATIONS_DIR,
  migrate,
  MigrationError,
  readMigrations,
} from '../../src/adapters/db/migrate.ts';
import { freshDatabase, unusedDatabase, withClient } from '../helpers/db.ts';

const SCHEMA_PATH = fileURLToPath(new URL('../../prisma/schema.prisma', import.meta.url));
const INIT = '20261129000000_init';


// ---------------------------------------------------------------------------------------------
// One normalised description of a database, built from either side.

interface ColumnSpec {
  type: string; // PostgreSQL type as format_type() prints it, enums by name, lists end in []
  list: boolean;
  nullable: boolean;
  default: string | null; // as pg_get_expr() prints it
}
interface IndexSpec {
  columns: string[]; // "col" or "col DESC"
  primary: boolean;
  unique: boolean;
  method: string;
  where: string | null;
}
interface ForeignKeySpec {
  columns: string[];
  references: string; // table(col, ...)
  onDelete: string;
  onUpdate: string;
}
interface TableSpec {
  columns: Record<string, ColumnSpec>;
  indexes: Record<string, IndexSpec>;
  foreignKeys: Record<string, ForeignKeySpec>;
}
interface DatabaseSpec {
  tables: Record<string, TableSpec>;
  enums: Record<string, string[]>;
}

// ---------------------------------------------------------------------------------------------
// Schema side: the DMMF.

interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: 'scalar' | 'object' | 'enum' | 'unsupported';
  isList: boolean;
  isRequired: boolean;
  isUpdatedAt?: boolean;
  type: string;
  nativeType?: [string, string[]] | null;
  default?: unknown;
  relationFromFields?: string[];
  relationToFields?: string[];
  relationOnDelete?: string;
  relationOnUpdate?: string;
}
interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
}
interface DmmfIndex {
  model: string;
  type: 'id' | 'normal' | 'unique' | 'fulltext';
  dbName?: string | null;
  algorithm?: string;
  fields: { name: string; sortOrder?: 'asc' | 'desc' }[];
}
interface DmmfEnum {
  name: string;
  dbName?: string | null;
  values: { name: string; dbName?: string | null }[];
}
interface DmmfDatamodel {
  models: DmmfModel[];
  enums: DmmfEnum[];
  indexes: DmmfIndex[];
}

function readDmmf(schemaText: string): DmmfDatamodel {
  const raw = get_dmmf(JSON.stringify({ prismaSchema: schemaText, noColor: true }));
  return (JSON.parse(raw) as { datamodel: DmmfDatamodel }).datamodel;
}

const SCALAR_DEFAULT_TYPES: Record<string, string> = {
  String: 'text',
  Int: 'integer',
  BigInt: 'bigint',
  Float: 'double precision',
  Decimal: 'numeric(65,30)',
  Boolean: 'boolean',
  DateTime: 'timestamp(3) without time zone',
  Json: 'jsonb',
  Bytes: 'bytea',
};

function nativeTypeToPg(name: string, args: string[]): string {
  const mod = args.length > 0 ? `(${args.join(',')})` : '';
  const simple: Record<string, string> = {
    Text: 'text', Uuid: 'uuid', Integer: 'integer', SmallInt: 'smallint', BigInt: 'bigint', Real: 'real',
    DoublePrecision: 'double precision', Money: 'money', Boolean: 'boolean', Date: 'date', Json: 'json',
    JsonB: 'jsonb', ByteA: 'bytea', Inet: 'inet', Xml: 'xml', Citext: 'citext', Oid: 'oid',
  };
  const known = simple[name];
  if (known !== undefined) return known;
  switch (name) {
    case 'VarChar': return `character varying${mod}`;
    case 'Char': return `character${mod}`;
    case 'Decimal': return `numeric${mod}`;
    case 'Bit': return `bit${mod}`;
    case 'VarBit': return `bit varying${mod}`;
    case 'Timestamp': return `timestamp${mod} without time zone`;
    case 'Timestamptz': return `timestamp${mod} with time zone`;
    case 'Time': return `time${mod} without time zone`;
    case 'Timetz': return `time${mod} with time zone`;
    default: return `<native type @db.${name} not known to this test: extend nativeTypeToPg>`;
  }
}

function sqlLiteral(value: unknown, castTo: string): string {
  if (typeof value === 'string') return `'${value.replace(/'/g, "''")}'::${castTo}`;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return String(value);
  return `<default ${JSON.stringify(value)} not known to this test>`;
}

function expectedDefault(field: DmmfField, table: string, column: string, baseType: string): string | null {
  const d = field.default;
  if (d === undefined || field.isUpdatedAt) return null;
  if (Array.isArray(d)) {
    const items = d.map((v) => sqlLiteral(v, baseType));
    return items.length === 0 ? `ARRAY[]::${baseType}[]` : `ARRAY[${items.join(', ')}]`;
  }
  if (d !== null && typeof d === 'object' && 'name' in d) {
    const fn = d as { name: string; args: unknown[] };
    switch (fn.name) {
      case 'now': return 'CURRENT_TIMESTAMP';
      case 'autoincrement': return `nextval('${table}_${column}_seq'::regclass)`;
      case 'uuid': case 'cuid': case 'nanoid': case 'ulid': return null; // generated by the client
      case 'dbgenerated': return typeof fn.args[0] === 'string' ? fn.args[0] : null;
      default: return `<default ${fn.name}() not known to this test>`;
    }
  }
  // The DMMF gives BigInt (and Decimal) defaults as strings; PostgreSQL prints numbers bare.
  if (['Int', 'BigInt', 'Float', 'Decimal'].includes(field.type) && (typeof d === 'string' || typeof d === 'number')) return String(d);
  return sqlLiteral(d, baseType);
}

/** Prisma's default constraint names: <table>_<columns>_<suffix>, cut to PostgreSQL's 63 bytes. */
function prismaName(table: string, columns: string[], suffix: 'pkey' | 'key' | 'idx' | 'fkey'): string {
  const base = suffix === 'pkey' ? table : `${table}_${columns.join('_')}`;
  const tail = `_${suffix}`;
  return base.length + tail.length > 63 ? `${base.slice(0, 63 - tail.length)}${tail}` : `${base}${tail}`;
}

const REFERENTIAL_ACTIONS: Record<string, string> = {
  Cascade: 'CASCADE', Restrict: 'RESTRICT', NoAction: 'NO ACTION', SetNull: 'SET NULL', SetDefault: 'SET DEFAULT',
};

function specFromSchema(schemaText: string): DatabaseSpec {
  const dm = readDmmf(schemaText);
  const enumDbName = new Map(dm.enums.map((e) => [e.name, e.dbName ?? e.name]));
  const models = new Map(dm.models.map((m) => [m.name, m]));
  const tableOf = (m: DmmfModel): string => m.dbName ?? m.name;
  const columnOf = (m: DmmfModel, fieldName: string): string => {
    const f = m.fields.find((x) => x.name === fieldName);
    return f ? (f.dbName ?? f.name) : `<unknown field ${m.name}.${fieldName}>`;
  };

  const spec: DatabaseSpec = { tables: {}, enums: {} };
  for (const e of dm.enums) spec.enums[e.dbName ?? e.name] = e.values.map((v) => v.dbName ?? v.name);

  for (const m of dm.models) {
    const table = tableOf(m);
    const t: TableSpec = { columns: {}, indexes: {}, foreignKeys: {} };
    spec.tables[table] = t;
    for (const f of m.fields) {
      if (f.kind === 'object') continue;
      const column = f.dbName ?? f.name;
      let base: string;
      if (f.kind === 'enum') base = enumDbName.get(f.type) ?? f.type;
      else if (f.nativeType) base = nativeTypeToPg(f.nativeType[0], f.nativeType[1]);
      else base = SCALAR_DEFAULT_TYPES[f.type] ?? `<scalar ${f.type} not known to this test>`;
      t.columns[column] = {
        type: f.isList ? `${base}[]` : base,
        list: f.isList,
        // Prisma creates scalar-list columns without NOT NULL.
        nullable: f.isList || !f.isRequired,
        default: expectedDefault(f, table, column, base.replace(/\(.*\)/, '')),
      };
    }
    for (const f of m.fields) {
      if (f.kind !== 'object' || !f.relationFromFields || f.relationFromFields.length === 0) continue;
      const target = models.get(f.type);
      if (!target) throw new Error(`relation ${m.name}.${f.name} points at unknown model ${f.type}`);
      const columns = f.relationFromFields.map((n) => columnOf(m, n));
      const anyOptional = f.relationFromFields.some((n) => m.fields.find((x) => x.name === n)?.isRequired === false);
      const onDelete = f.relationOnDelete ?? (anyOptional ? 'SetNull' : 'Restrict');
      const onUpdate = f.relationOnUpdate ?? 'Cascade';
      t.foreignKeys[prismaName(table, columns, 'fkey')] = {
        columns,
        references: `${tableOf(target)}(${(f.relationToFields ?? []).map((n) => columnOf(target, n)).join(', ')})`,
        onDelete: REFERENTIAL_ACTIONS[onDelete] ?? onDelete,
        onUpdate: REFERENTIAL_ACTIONS[onUpdate] ?? onUpdate,
      };
    }
  }

  for (const ix of dm.indexes) {
    const m = models.get(ix.model);
    if (!m) throw new Error(`index on unknown model ${ix.model}`);
    const table = tableOf(m);
    const t = spec.tables[table];
    if (!t) continue;
    const columns = ix.fields.map((f) => columnOf(m, f.name));
    const suffix = ix.type === 'id' ? 'pkey' : ix.type === 'unique' ? 'key' : 'idx';
    t.indexes[ix.dbName ?? prismaName(table, columns, suffix)] = {
      columns: ix.fields.map((f, i) => `${columns[i]}${f.sortOrder === 'desc' ? ' DESC' : ''}`),
      primary: ix.type === 'id',
      unique: ix.type === 'id' || ix.type === 'unique',
      method: (ix.algorithm ?? 'btree').toLowerCase(),
      where: null,
    };
  }
  return spec;
}

// ---------------------------------------------------------------------------------------------
// Database side: pg_catalog.

async function specFromDatabase(url: string): Promise<DatabaseSpec> {
  return withClient(url, async (c) => {
    const spec: DatabaseSpec = { tables: {}, enums: {} };

    const enums = await c.query<{ name: string; labels: string[] }>(`
      SELECT t.typname AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
      FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE n.nspname = 'public' GROUP BY t.typname`);
    for (const r of enums.rows) spec.enums[r.name] = r.labels;

    const tables = await c.query<{ name: string }>(`
      SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> '_prisma_migrations'`);
    for (const r of tables.rows) spec.tables[r.name] = { columns: {}, indexes: {}, foreignKeys: {} };

    const columns = await c.query<{ table: string; column: string; type: string; is_array: boolean; not_null: boolean; default: string | null }>(`
      SELECT c.relname AS table, a.attname AS column,
             CASE WHEN et.typtype = 'e' THEN et.typname || '[]'
                  WHEN t.typtype = 'e' THEN t.typname
                  ELSE format_type(a.atttypid, a.atttypmod) END AS type,
             t.typcategory = 'A' AS is_array, a.attnotnull AS not_null,
             pg_get_expr(d.adbin, d.adrelid) AS default
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY c.relname, a.attnum`);
    for (const r of columns.rows) {
      const t = spec.tables[r.table];
      if (t) t.columns[r.column] = { type: r.type, list: r.is_array, nullable: !r.not_null, default: r.default };
    }

    const indexes = await c.query<{ table: string; name: string; columns: string[]; primary: boolean; unique: boolean; method: string; where: string | null; expressions: boolean }>(`
      SELECT t.relname AS table, i.relname AS name, ix.indisprimary AS primary, ix.indisunique AS unique,
             am.amname AS method, pg_get_expr(ix.indpred, ix.indrelid) AS where, ix.indexprs IS NOT NULL AS expressions,
             ARRAY(SELECT a.attname || CASE WHEN (ix.indoption[k.i - 1] & 1) = 1 THEN ' DESC' ELSE '' END
                   FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, i)
                   JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum
                   ORDER BY k.i) AS columns
      FROM pg_index ix
      JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace JOIN pg_am am ON am.oid = i.relam
      WHERE n.nspname = 'public' AND t.relname <> '_prisma_migrations'`);
    for (const r of indexes.rows) {
      const t = spec.tables[r.table];
      if (!t) continue;
      t.indexes[r.name] = {
        columns: r.expressions ? [...r.columns, '<expression>'] : r.columns,
        primary: r.primary,
        unique: r.unique,
        method: r.method,
        where: r.where,
      };
    }

    const actions: Record<string, string> = { a: 'NO ACTION', r: 'RESTRICT', c: 'CASCADE', n: 'SET NULL', d: 'SET DEFAULT' };
    const fks = await c.query<{ table: string; name: string; columns: string[]; ref_table: string; ref_columns: string[]; on_delete: string; on_update: string }>(`
      SELECT t.relname::text AS table, con.conname::text AS name, rt.relname::text AS ref_table,
             ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, i)
                   JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.i) AS columns,
             ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, i)
                   JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.i) AS ref_columns,
             con.confdeltype AS on_delete, con.confupdtype AS on_update
      FROM pg_constraint con
      JOIN pg_class t ON t.oid = con.conrelid JOIN pg_class rt ON rt.oid = con.confrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE con.contype = 'f' AND n.nspname = 'public'`);
    for (const r of fks.rows) {
      const t = spec.tables[r.table];
      if (!t) continue;
      t.foreignKeys[r.name] = {
        columns: r.columns,
        references: `${r.ref_table}(${r.ref_columns.join(', ')})`,
        onDelete: actions[r.on_delete] ?? r.on_delete,
        onUpdate: actions[r.on_update] ?? r.on_update,
      };
    }
    return spec;
  });
}

// ---------------------------------------------------------------------------------------------
// The comparison: one line per difference.

function show(v: unknown): string {
  return JSON.stringify(v);
}

function diffRecords<T extends object>(
  where: string,
  kind: string,
  expected: Record<string, T>,
  actual: Record<string, T>,
  out: string[],
): void {
  for (const name of Object.keys(expected).sort()) {
    const e = expected[name] as T;
    const a = actual[name];
    if (a === undefined) {
      out.push(`${where}${kind} ${name}: in schema.prisma, missing from the migrated database (expected ${show(e)})`);
      continue;
    }
    for (const key of Object.keys(e) as (keyof T)[]) {
      if (show(e[key]) !== show(a[key])) {
        out.push(`${where}${kind} ${name}: ${String(key)}: schema.prisma says ${show(e[key])}, database has ${show(a[key])}`);
      }
    }
  }
  for (const name of Object.keys(actual).sort()) {
    if (!(name in expected)) {
      out.push(`${where}${kind} ${name}: in the migrated database, not in schema.prisma (${show(actual[name])})`);
    }
  }
}

function diffSpecs(expected: DatabaseSpec, actual: DatabaseSpec): string[] {
  const out: string[] = [];
  for (const name of Object.keys(expected.enums).sort()) {
    const e = expected.enums[name];
    const a = actual.enums[name];
    if (a === undefined) out.push(`enum ${name}: in schema.prisma, missing from the migrated database (expected ${show(e)})`);
    else if (show(e) !== show(a)) out.push(`enum ${name}: values: schema.prisma says ${show(e)}, database has ${show(a)}`);
  }
  for (const name of Object.keys(actual.enums).sort()) {
    if (!(name in expected.enums)) out.push(`enum ${name}: in the migrated database, not in schema.prisma (${show(actual.enums[name])})`);
  }
  for (const table of Object.keys(expected.tables).sort()) {
    const e = expected.tables[table] as TableSpec;
    const a = actual.tables[table];
    if (!a) {
      out.push(`table ${table}: in schema.prisma, missing from the migrated database`);
      continue;
    }
    diffRecords(`table ${table}: `, 'column', e.columns, a.columns, out);
    diffRecords(`table ${table}: `, 'index', e.indexes, a.indexes, out);
    diffRecords(`table ${table}: `, 'foreign key', e.foreignKeys, a.foreignKeys, out);
  }
  for (const table of Object.keys(actual.tables).sort()) {
    if (!(table in expected.tables)) out.push(`table ${table}: in the migrated database, not in schema.prisma`);
  }
  return out;
}

function expectNoDiff(diff: string[]): void {
  expect(diff, `schema.prisma and prisma/migrations disagree:\n  ${diff.join('\n  ')}\n`).toEqual([]);
}

// ---------------------------------------------------------------------------------------------

describe('migrate()', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  async function copyMigrations(): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), 'tcpa-migrations-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await copyFile(path.join(DEFAULT_MIGRATIONS_DIR, 'migration_lock.toml'), path.join(dir, 'migration_lock.toml'));
    for (const m of await readMigrations()) {
      await mkdir(path.join(dir, m.name));
      await copyFile(path.join(DEFAULT_MIGRATIONS_DIR, m.name, 'migration.sql'), path.join(dir, m.name, 'migration.sql'));
    }
    return dir;
  }

  function newDatabase(): { url: string } {
    const db = unusedDatabase();
    cleanups.push(db.drop);
    return db;
  }

  it('creates the database, applies every migration, and is idempotent', async () => {
    const { url } = newDatabase();
    const logs: string[] = [];
    const first = await migrate(url, { log: (m) => logs.push(m) });
    const local = await readMigrations();
    expect(first.applied).toEqual(local.map((m) => m.name));
    expect(first.applied).toContain(INIT);
    expect(logs[0]).toMatch(/^created database tcpa_test_/);

    const second = await migrate(url);
    expect(second.applied).toEqual([]);

    const rows = await withClient(url, (c) =>
      c.query<{ id: string; checksum: string; migration_name: string; finished_at: Date | null; rolled_back_at: Date | null; logs: string | null; applied_steps_count: number }>(
        'SELECT * FROM _prisma_migrations ORDER BY migration_name',
      ),
    );
    expect(rows.rows).toHaveLength(local.length);
    for (const [i, m] of local.entries()) {
      const row = rows.rows[i];
      const bytes = await readFile(path.join(DEFAULT_MIGRATIONS_DIR, m.name, 'migration.sql'));
      expect(row).toMatchObject({ migration_name: m.name, checksum: checksumOf(bytes), rolled_back_at: null, logs: null, applied_steps_count: 1 });
      expect(row?.checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(row?.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(row?.finished_at).toBeInstanceOf(Date);
    }
  });

  it("keeps _prisma_migrations exactly as Prisma's schema engine creates it", async () => {
    const { url } = newDatabase();
    await migrate(url);
    const cols = await withClient(url, (c) =>
      c.query<{ column_name: string; data_type: string; len: number | null; is_nullable: string; column_default: string | null }>(`
        SELECT column_name, data_type, character_maximum_length AS len, is_nullable, column_default
        FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '_prisma_migrations'
        ORDER BY ordinal_position`),
    );
    expect(cols.rows).toEqual([
      { column_name: 'id', data_type: 'character varying', len: 36, is_nullable: 'NO', column_default: null },
      { column_name: 'checksum', data_type: 'character varying', len: 64, is_nullable: 'NO', column_default: null },
      { column_name: 'finished_at', data_type: 'timestamp with time zone', len: null, is_nullable: 'YES', column_default: null },
      { column_name: 'migration_name', data_type: 'character varying', len: 255, is_nullable: 'NO', column_default: null },
      { column_name: 'logs', data_type: 'text', len: null, is_nullable: 'YES', column_default: null },
      { column_name: 'rolled_back_at', data_type: 'timestamp with time zone', len: null, is_nullable: 'YES', column_default: null },
      { column_name: 'started_at', data_type: 'timestamp with time zone', len: null, is_nullable: 'NO', column_default: 'now()' },
      { column_name: 'applied_steps_count', data_type: 'integer', len: null, is_nullable: 'NO', column_default: '0' },
    ]);
  });

  it('refuses to run when an applied migration file has changed, and changes nothing', async () => {
    const { url } = newDatabase();
    await migrate(url);
    const dir = await copyMigrations();
    await writeFile(path.join(dir, INIT, 'migration.sql'), `${await readFile(path.join(dir, INIT, 'migration.sql'), 'utf8')}\n-- edited\n`);
    await mkdir(path.join(dir, '29990101000000_later'));
    await writeFile(path.join(dir, '29990101000000_later', 'migration.sql'), 'CREATE TABLE "later" ("id" INTEGER);\n');

    const err = await migrate(url, { migrationsDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toMatch(new RegExp(`checksum mismatch.*${INIT}`));
    const state = await withClient(url, async (c) => ({
      rows: (await c.query('SELECT migration_name FROM _prisma_migrations')).rowCount,
      later: (await c.query("SELECT to_regclass('public.later') AS t")).rows[0] as { t: string | null },
    }));
    expect(state).toEqual({ rows: (await readMigrations()).length, later: { t: null } });
  });

  it('applies a new migration on top, records a failed one, and then refuses until it is resolved', async () => {
    const { url } = newDatabase();
    await migrate(url);
    const dir = await copyMigrations();
    await mkdir(path.join(dir, '29990101000000_later'));
    await writeFile(path.join(dir, '29990101000000_later', 'migration.sql'), 'CREATE TABLE "later" ("id" INTEGER);\n');
    expect((await migrate(url, { migrationsDir: dir })).applied).toEqual(['29990101000000_later']);

    await mkdir(path.join(dir, '29990102000000_broken'));
    await writeFile(path.join(dir, '29990102000000_broken', 'migration.sql'), 'CREATE TABLE "half" ("id" INTEGER);\nSELECT * FROM "no_such_table";\n');
    await expect(migrate(url, { migrationsDir: dir })).rejects.toThrow(/29990102000000_broken failed: .*no_such_table/);
    const broken = await withClient(url, async (c) => ({
      row: (await c.query('SELECT finished_at, logs FROM _prisma_migrations WHERE migration_name = $1', ['29990102000000_broken'])).rows[0] as { finished_at: Date | null; logs: string },
      half: ((await c.query("SELECT to_regclass('public.half') AS t")).rows[0] as { t: string | null }).t,
    }));
    expect(broken.row.finished_at).toBeNull();
    expect(broken.row.logs).toMatch(/no_such_table/);
    expect(broken.half).toBeNull(); // the script ran as one transaction
    await expect(migrate(url, { migrationsDir: dir })).rejects.toThrow(/failed earlier.*P3009/);
  });

  it('serialises concurrent runs on one database (advisory lock)', async () => {
    const { url } = newDatabase();
    const results = await Promise.all([migrate(url), migrate(url), migrate(url)]);
    expect(results.flatMap((r) => r.applied).sort()).toEqual((await readMigrations()).map((m) => m.name));
    const count = await withClient(url, (c) => c.query('SELECT 1 FROM _prisma_migrations'));
    expect(count.rowCount).toBe((await readMigrations()).length);
  });
});

describe('schema.prisma and prisma/migrations agree', () => {
  let db: { url: string; drop: () => Promise<void> };
  let actual: DatabaseSpec;
  let schemaText: string;
  beforeAll(async () => {
    db = await freshDatabase();
    actual = await specFromDatabase(db.url);
    schemaText = await readFile(SCHEMA_PATH, 'utf8');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('every model, column, key, index, foreign key and enum matches the migrated database', () => {
    const expected = specFromSchema(schemaText);
    expect(Object.keys(expected.tables).sort()).toEqual([
      'api_keys', 'audit_entries', 'audit_pending', 'calendar_versions', 'campaign_chunks', 'campaign_row_errors', 'campaigns', 'consents', 'contact_list_members', 'contact_lists', 'contacts', 'federal_dnc_area_codes', 'federal_dnc_copies', 'federal_dnc_numbers', 'idempotency_records', 'inbound_messages', 'journeys', 'kill_switches', 'orgs', 'rnd_checks', 'suppressions', 'timers', 'webhook_attempts', 'webhook_deliveries', 'webhook_endpoints',
    ]);
    expectNoDiff(diffSpecs(expected, actual));
  });

  it('reports a readable difference when they do not agree (the comparison can fail)', () => {
    let mutated = schemaText;
    const edits: [RegExp, string][] = [
      // a column made required
      [/sendAt(\s+)DateTime\?(\s+)@map\("send_at"\)/, 'sendAt$1DateTime $2@map("send_at")'],
      // a column's type changed
      [/attempts(\s+)Int(\s+)@default\(0\)/, 'attempts$1BigInt$2@default(0)'],
      // an index dropped
      [/\n\s*@@index\(\[providerId\]\)/, ''],
      // an enum value added
      [/\n(\s*)unknown\n/, '\n$1unknown\n$1expired\n'],
      // a relation's referential action changed
      [/journey Journey\? @relation\(fields: \[journeyId\], references: \[id\], onDelete: SetNull\)/, 'journey Journey? @relation(fields: [journeyId], references: [id], onDelete: Cascade)'],
    ];
    for (const [re, replacement] of edits) {
      const next = mutated.replace(re, replacement);
      expect(next, `edit ${re} did not apply: update this test`).not.toBe(mutated);
      mutated = next;
    }
    const diff = diffSpecs(specFromSchema(mutated), actual);
    expect(diff).toEqual([
      expect.stringMatching(/^enum timer_status: values: schema\.prisma says \[.*,"unknown","expired"\], database has \[.*,"unknown"\]$/),
      'table timers: column attempts: type: schema.prisma says "bigint", database has "integer"',
      'table timers: column send_at: nullable: schema.prisma says false, database has true',
      'table timers: index timers_provider_id_idx: in the migrated database, not in schema.prisma ({"columns":["provider_id"],"primary":false,"unique":false,"method":"btree","where":null})',
      'table timers: foreign key timers_journey_id_fkey: onDelete: schema.prisma says "CASCADE", database has "SET NULL"',
    ]);
  });
});

describe('audit_entries is append-only', () => {
  let db: { url: string; drop: () => Promise<void> };
  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('accepts INSERT and rejects UPDATE, DELETE and TRUNCATE', async () => {
    await withClient(db.url, async (c) => {
      const org = '00000000-0000-4000-8000-000000000001';
      await c.query("INSERT INTO orgs (id, name) VALUES ($1, 'audit-org')", [org]);
      await c.query(
        `INSERT INTO audit_entries (org_id, seq, action, reason_codes, data, prev_hash, hash)
         VALUES ($1, 1, 'timer.created', ARRAY['ok'], '{}', '0000', 'abcd')`,
        [org],
      );
      await expect(c.query("UPDATE audit_entries SET action = 'tampered'")).rejects.toThrow(/append-only: UPDATE/);
      await expect(c.query('DELETE FROM audit_entries')).rejects.toThrow(/append-only: DELETE/);
      await expect(c.query('TRUNCATE audit_entries')).rejects.toThrow(/append-only: TRUNCATE/);
      // The org cannot be deleted out from under its audit trail either.
      await expect(c.query('DELETE FROM orgs WHERE id = $1', [org])).rejects.toThrow(/audit_entries_org_id_fkey/);
      const { rows } = await c.query<{ action: string; reason_codes: string[] }>('SELECT action, reason_codes FROM audit_entries');
      expect(rows).toEqual([{ action: 'timer.created', reason_codes: ['ok'] }]);
    });
  });
});

describe('generated Prisma client over the pg adapter', () => {
  let db: { url: string; drop: () => Promise<void> };
  let prisma: Db;
  beforeAll(async () => {
    db = await freshDatabase();
    prisma = createPrisma(db.url);
  });
  afterAll(async () => {
    await prisma?.disconnect();
    await db?.drop();
  });

  it('creates and reads an Org and a Timer', async () => {
    const org = await prisma.org.create({ data: { name: 'Acme Health' } });
    expect(org.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(org.settings).toEqual({});
    expect(org.createdAt).toBeInstanceOf(Date);

    const contact = await prisma.contact.create({
      data: {
        orgId: org.id,
        phoneE164: '+15555550123',
        phoneHash: 'a'.repeat(64),
        zip: '10001',
        state: 'NY',
        candidates: [{ jurisdiction: 'US-NY', zone: 'America/New_York', source: 'zip' }],
      },
    });
    expect(contact.locationIssues).toEqual([]);

    const sendAt = new Date('2026-12-01T15:30:00.123Z');
    const timer = await prisma.timer.create({
      data: {
        orgId: org.id,
        contactId: contact.id,
        channel: 'sms',
        purpose: 'marketing',
        policy: 'next_slot',
        requestedAt: new Date('2026-12-01T03:00:00.000Z'),
        sendAt,
        payload: { body: 'Your appointment is tomorrow' },
        idempotencyKey: 'req-1',
        calendarVersion: 'cal-2026.1',
        decision: { verdict: 'deferred', reasons: ['QUIET_HOURS'] },
      },
    });
    expect(timer.status).toBe('scheduled');
    expect(timer.attempts).toBe(0);

    const read = await prisma.timer.findUniqueOrThrow({
      where: { orgId_idempotencyKey: { orgId: org.id, idempotencyKey: 'req-1' } },
      include: { org: true, contact: true },
    });
    expect(read.id).toBe(timer.id);
    expect(read.sendAt?.toISOString()).toBe(sendAt.toISOString());
    expect(read.payload).toEqual({ body: 'Your appointment is tomorrow' });
    expect(read.decision).toEqual({ verdict: 'deferred', reasons: ['QUIET_HOURS'] });
    expect(read.org.name).toBe('Acme Health');
    expect(read.contact.phoneE164).toBe('+15555550123');
    expect(read.updatedAt).toBeInstanceOf(Date);

    const due = await prisma.timer.findMany({ where: { status: 'scheduled', sendAt: { lte: new Date('2026-12-02T00:00:00Z') } } });
    expect(due.map((t) => t.id)).toEqual([timer.id]);

    const entry = await prisma.auditEntry.create({
      data: { orgId: org.id, seq: 1, timerId: timer.id, action: 'timer.created', data: {}, prevHash: '', hash: 'h1' },
    });
    expect(typeof entry.id).toBe('bigint');
    expect(entry.reasonCodes).toEqual([]);
  });
});
