/**
 * The National Do-Not-Call Registry's SQL (src/app/federal-dnc.ts): lookups for a batch of
 * numbers (one statement per kind, as on every hot path), the registry's freshness, and the
 * set-based merge of an import staged by COPY.
 *
 *   copiesFor / listedAmong – the copy in force per area code, the listed numbers, for a batch
 *   registryStatus           – area codes held, oldest and newest copy (for /readyz)
 *   createStage … recordCopy – an import: staging table, merge of a full or a change list, the copy
 */
import type { Queryable } from './sql.ts';

export interface CopyRow {
  areaCode: number;
  copyId: string;
  asOf: Date;
}

export async function copiesFor(db: Queryable, areaCodes: readonly number[]): Promise<CopyRow[]> {
  if (areaCodes.length === 0) return [];
  const { rows } = await db.query<CopyRow>(
    `SELECT area_code::int AS "areaCode", copy_id::text AS "copyId", as_of AS "asOf" FROM federal_dnc_area_codes WHERE area_code = ANY($1::smallint[])`,
    [areaCodes],
  );
  return rows;
}

export interface ListedRow {
  number: number;
  listedSince: Date;
}

export async function listedAmong(db: Queryable, numbers: readonly number[]): Promise<ListedRow[]> {
  if (numbers.length === 0) return [];
  // The date as days since the epoch: no session time zone involved.
  const { rows } = await db.query<{ number: string; days: number }>(
    `SELECT number::text AS number, (listed_since - DATE '1970-01-01')::int AS days FROM federal_dnc_numbers WHERE number = ANY($1::bigint[])`,
    [numbers],
  );
  return rows.map((r) => ({ number: Number(r.number), listedSince: new Date(r.days * 86_400_000) }));
}

export interface RegistryStatusRow {
  areaCodes: number;
  oldestAsOf: Date | null;
  newestAsOf: Date | null;
}

export async function registryStatus(db: Queryable): Promise<RegistryStatusRow> {
  const { rows } = await db.query<RegistryStatusRow>(`SELECT count(*)::int AS "areaCodes", min(as_of) AS "oldestAsOf", max(as_of) AS "newestAsOf" FROM federal_dnc_area_codes`);
  return rows[0]!;
}

/** Area codes whose copy in force is older than `before` (the stale ones), oldest first. */
export async function staleAreaCodes(db: Queryable, before: Date, limit: number): Promise<CopyRow[]> {
  const { rows } = await db.query<CopyRow>(
    `SELECT area_code::int AS "areaCode", copy_id::text AS "copyId", as_of AS "asOf" FROM federal_dnc_area_codes WHERE as_of < $1 ORDER BY as_of, area_code LIMIT $2`,
    [before, limit],
  );
  return rows;
}

// ---- Import (one transaction on one client) ------------------------------------------------

/** One import at a time, deployment-wide (two merges of the same area code would interleave). */
export async function lockRegistry(db: Queryable): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtextextended('tcpa:federal_dnc', 0))`);
}

/** The staging table COPY fills: one row per record, `line` to keep a change list's order. */
export const STAGE_TABLE = 'federal_dnc_stage';
export const STAGE_COPY_SQL = `COPY ${STAGE_TABLE} (line, number, op) FROM STDIN`;

export async function createStage(db: Queryable): Promise<void> {
  await db.query(`CREATE TEMP TABLE ${STAGE_TABLE} (line bigint NOT NULL, number bigint NOT NULL, op "char" NOT NULL) ON COMMIT DROP`);
}

/** After COPY: statistics for the planner (a hash anti-join over a million rows, not a nested loop). */
export async function analyzeStage(db: Queryable): Promise<void> {
  await db.query(`ANALYZE ${STAGE_TABLE}`);
}

/** Copies in force for these area codes, locked until the import commits. */
export async function copiesForUpdate(db: Queryable, areaCodes: readonly number[]): Promise<CopyRow[]> {
  const { rows } = await db.query<CopyRow>(
    `SELECT area_code::int AS "areaCode", copy_id::text AS "copyId", as_of AS "asOf" FROM federal_dnc_area_codes WHERE area_code = ANY($1::smallint[]) ORDER BY area_code FOR UPDATE`,
    [areaCodes],
  );
  return rows;
}

export async function heldAreaCodes(db: Queryable): Promise<number[]> {
  const { rows } = await db.query<{ areaCode: number }>(`SELECT area_code::int AS "areaCode" FROM federal_dnc_area_codes ORDER BY area_code`);
  return rows.map((r) => r.areaCode);
}

/**
 * A full list replaces the area codes' numbers: numbers no longer listed go, new ones come with
 * `listedSince` = the copy's date; numbers still listed keep theirs.
 */
export async function mergeFull(db: Queryable, areaCodes: readonly number[], asOf: Date): Promise<{ added: number; deleted: number }> {
  const del = await db.query<{ n: number }>(
    `WITH gone AS (
       DELETE FROM federal_dnc_numbers n
       USING unnest($1::int[]) AS ac(code)
       WHERE n.number >= ac.code::bigint * 10000000 AND n.number < (ac.code::bigint + 1) * 10000000
         AND NOT EXISTS (SELECT 1 FROM ${STAGE_TABLE} s WHERE s.number = n.number)
       RETURNING 1)
     SELECT count(*)::int AS n FROM gone`,
    [areaCodes],
  );
  const ins = await db.query<{ n: number }>(
    // An anti-join, not ON CONFLICT: a speculative insertion per row cost 2.6× as much over a
    // million numbers, and lockRegistry makes this import the only writer.
    `WITH added AS (
       INSERT INTO federal_dnc_numbers (number, listed_since)
       SELECT DISTINCT s.number, $1::date FROM ${STAGE_TABLE} s
       WHERE NOT EXISTS (SELECT 1 FROM federal_dnc_numbers n WHERE n.number = s.number)
       ORDER BY 1
       RETURNING 1)
     SELECT count(*)::int AS n FROM added`,
    [utcDate(asOf)],
  );
  return { added: ins.rows[0]!.n, deleted: del.rows[0]!.n };
}

/** YYYY-MM-DD of an instant in UTC (a date parameter that no session time zone can shift). */
function utcDate(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** A change list: each number's last record wins (an add after a delete is an add). */
export async function mergeChanges(db: Queryable, asOf: Date): Promise<{ added: number; deleted: number }> {
  await db.query(`CREATE TEMP TABLE federal_dnc_net ON COMMIT DROP AS SELECT DISTINCT ON (number) number, op FROM ${STAGE_TABLE} ORDER BY number, line DESC`);
  const del = await db.query<{ n: number }>(
    `WITH gone AS (DELETE FROM federal_dnc_numbers n USING federal_dnc_net c WHERE c.op = 'D' AND n.number = c.number RETURNING 1) SELECT count(*)::int AS n FROM gone`,
  );
  const ins = await db.query<{ n: number }>(
    `WITH added AS (
       INSERT INTO federal_dnc_numbers (number, listed_since) SELECT c.number, $1::date FROM federal_dnc_net c
       WHERE c.op = 'A' AND NOT EXISTS (SELECT 1 FROM federal_dnc_numbers n WHERE n.number = c.number)
       ORDER BY 1 RETURNING 1)
     SELECT count(*)::int AS n FROM added`,
    [utcDate(asOf)],
  );
  return { added: ins.rows[0]!.n, deleted: del.rows[0]!.n };
}

export interface CopyRecord {
  id: string;
  kind: 'full' | 'changes';
  asOf: Date;
  areaCodes: readonly number[];
  added: number;
  deleted: number;
  fileSha256: string;
  importedAt: Date;
}

/** The import's copy, and the copy in force for each of its area codes. */
export async function recordCopy(db: Queryable, c: CopyRecord): Promise<void> {
  await db.query(
    `INSERT INTO federal_dnc_copies (id, kind, as_of, area_codes, added, deleted, file_sha256, imported_at) VALUES ($1::uuid, $2, $3, $4::int[], $5, $6, $7, $8)`,
    [c.id, c.kind, c.asOf, c.areaCodes, c.added, c.deleted, c.fileSha256, c.importedAt],
  );
  await db.query(
    `INSERT INTO federal_dnc_area_codes (area_code, copy_id, as_of) SELECT code, $1::uuid, $2 FROM unnest($3::smallint[]) AS code
     ON CONFLICT (area_code) DO UPDATE SET copy_id = EXCLUDED.copy_id, as_of = EXCLUDED.as_of`,
    [c.id, c.asOf, c.areaCodes],
  );
}

export interface CopyListRow {
  id: string;
  kind: string;
  asOf: Date;
  areaCodes: number[];
  added: number;
  deleted: number;
  fileSha256: string;
  importedAt: Date;
}

export async function recentCopies(db: Queryable, limit: number): Promise<CopyListRow[]> {
  const { rows } = await db.query<CopyListRow>(
    `SELECT id::text AS id, kind, as_of AS "asOf", area_codes AS "areaCodes", added, deleted, file_sha256 AS "fileSha256", imported_at AS "importedAt"
     FROM federal_dnc_copies ORDER BY imported_at DESC, id LIMIT $1`,
    [limit],
  );
  return rows;
}
