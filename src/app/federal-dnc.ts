/**
 * The National Do-Not-Call Registry around the domain's rule (src/domain/federal-dnc.ts):
 *
 * - `loadFederalDnc`: for a batch of numbers, the copy in force for each area code and whether
 *   the number is listed — two statements for the whole batch (src/adapters/db/dnc-queries.ts);
 *   every contact-state loader (one timer, a dispatch or creation batch, a campaign chunk) goes
 *   through it, so they agree.
 * - `importFederalDnc`: a registry file (src/adapters/dnc/ftc-file.ts) streamed through COPY into
 *   a staging table and merged set-based, in one transaction: a file that fails half-way leaves
 *   the registry as it was.
 * - `registryHealth`: what /readyz reports (stale or missing copies stop marketing sends).
 *
 * The registry is deployment-wide: the same list for every org.
 */
import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import * as sql from '../adapters/db/dnc-queries.ts';
import type { Queryable } from '../adapters/db/sql.ts';
import { DncFileTransform, type DncFileKind } from '../adapters/dnc/ftc-file.ts';
import { AppError } from '../domain/errors.ts';
import { areaCodeOfNumber, DNC_MAX_AGE_MS, nanpNumber, type FederalDncState } from '../domain/federal-dnc.ts';
import { formatUtc } from '../domain/time.ts';

/** `enforce`: marketing is judged against the registry; `off`: not checked (and /readyz says so). */
export type FederalDncMode = 'enforce' | 'off';

const NO_COPY: FederalDncState = { copy: null, listedSince: null };

/** The registry state of each of these E.164 numbers (a number outside the NANP has no copy). */
export async function loadFederalDnc(db: Queryable, phones: readonly string[]): Promise<(phoneE164: string) => FederalDncState> {
  const numbers = [...new Set(phones.map(nanpNumber).filter((n): n is number => n !== null))];
  const codes = [...new Set(numbers.map(areaCodeOfNumber))];
  const copies = await sql.copiesFor(db, codes);
  const listed = copies.length ? await sql.listedAmong(db, numbers) : [];
  const copyBy = new Map(copies.map((c) => [c.areaCode, { id: c.copyId, asOf: c.asOf.getTime() }]));
  const listedBy = new Map(listed.map((l) => [l.number, l.listedSince.getTime()]));
  return (phone) => {
    const n = nanpNumber(phone);
    if (n === null) return NO_COPY;
    const copy = copyBy.get(areaCodeOfNumber(n)) ?? null;
    return { copy, listedSince: copy ? (listedBy.get(n) ?? null) : null };
  };
}

// ---- Import ---------------------------------------------------------------------------------

export interface DncImportInput {
  kind: DncFileKind;
  /** The registry's date of the file (when it was downloaded), UTC ms. */
  asOf: number;
  /**
   * The area codes the file covers. Full list: default the area codes in the file (a file for an
   * area code with no listed number needs it). Change list: default every area code held (the
   * registry's change list covers the whole subscription).
   */
  areaCodes?: readonly number[];
  source: Readable;
}

export interface DncImportResult {
  copyId: string;
  kind: DncFileKind;
  asOf: string;
  areaCodes: number[];
  records: number;
  added: number;
  deleted: number;
  fileSha256: string;
  ms: number;
}

/** Imports one registry file (COPY streams on a raw pg client of the pool). */
export async function importFederalDnc(pool: pg.Pool, input: DncImportInput, now: number): Promise<DncImportResult> {
  const started = Date.now();
  if (input.asOf > now) throw new AppError('INVALID_ARGUMENT', `--as-of ${formatUtc(input.asOf)} is in the future`);
  const given = input.areaCodes ? [...new Set(input.areaCodes)].sort((a, b) => a - b) : undefined;
  for (const ac of given ?? []) if (!Number.isInteger(ac) || ac < 200 || ac > 999) throw new AppError('INVALID_ARGUMENT', `area code ${ac} is not a NANP area code`);
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    try {
      const result = await importIn(client, input, given, now);
      await client.query('COMMIT');
      return { ...result, ms: Date.now() - started };
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw err;
    }
  } finally {
    client.release(broken ?? false);
  }
}

async function importIn(client: pg.PoolClient, input: DncImportInput, given: number[] | undefined, now: number): Promise<Omit<DncImportResult, 'ms'>> {
  const db = client as unknown as Queryable;
  await sql.lockRegistry(db);
  await sql.createStage(db);
  const parse = new DncFileTransform(input.kind);
  await pipeline(input.source, parse, client.query(copyFrom(sql.STAGE_COPY_SQL)));
  const seen = [...parse.summary.areaCodes.keys()].sort((a, b) => a - b);
  let areaCodes: number[];
  if (input.kind === 'full') {
    areaCodes = given ?? seen;
    const outside = seen.filter((ac) => !areaCodes.includes(ac));
    if (outside.length) throw new AppError('INVALID_ARGUMENT', `the file lists numbers in area codes not given with --area-codes: ${outside.join(', ')}`);
    if (areaCodes.length === 0) throw new AppError('INVALID_ARGUMENT', 'the file has no number: give the area codes it covers (--area-codes)');
  } else {
    const held = await sql.heldAreaCodes(db);
    areaCodes = given ?? held;
    const notHeld = [...new Set([...areaCodes, ...seen])].filter((ac) => !held.includes(ac));
    if (notHeld.length) throw new AppError('CONFLICT', `a change list applies on top of a full list: import the full list first for area codes ${notHeld.join(', ')}`);
    const outside = seen.filter((ac) => !areaCodes.includes(ac));
    if (outside.length) throw new AppError('INVALID_ARGUMENT', `the file changes area codes not given with --area-codes: ${outside.join(', ')}`);
  }
  const inForce = await sql.copiesForUpdate(db, areaCodes);
  const newer = inForce.filter((c) => c.asOf.getTime() > input.asOf);
  if (newer.length) {
    throw new AppError('CONFLICT', `a newer copy is in force for area codes ${newer.map((c) => c.areaCode).join(', ')} (of ${formatUtc(Math.max(...newer.map((c) => c.asOf.getTime())))}): an older file would undo it`);
  }
  await sql.analyzeStage(db);
  const asOf = new Date(input.asOf);
  const { added, deleted } = input.kind === 'full' ? await sql.mergeFull(db, areaCodes, asOf) : await sql.mergeChanges(db, asOf);
  const id = randomUUID();
  await sql.recordCopy(db, { id, kind: input.kind, asOf, areaCodes, added, deleted, fileSha256: parse.summary.sha256, importedAt: new Date(now) });
  return { copyId: id, kind: input.kind, asOf: formatUtc(input.asOf), areaCodes, records: parse.summary.records, added, deleted, fileSha256: parse.summary.sha256 };
}

// ---- Health ---------------------------------------------------------------------------------

export interface RegistryHealth {
  /** `ok`: every area code held has a copy at most 31 days old; `stale`: some do not; `empty`: none imported; `off`: not enforced. */
  status: 'ok' | 'stale' | 'empty' | 'off';
  areaCodes: number;
  oldestAsOf: string | null;
  newestAsOf: string | null;
  /** Up to 20 area codes whose copy is too old. */
  staleAreaCodes: number[];
}

export interface Warning {
  code: 'DNC_DATA_STALE' | 'FEDERAL_DNC_OFF';
  message: string;
}

/** What /readyz warns about the registry. */
export function registryWarnings(h: RegistryHealth): Warning[] {
  switch (h.status) {
    case 'ok':
      return [];
    case 'off':
      return [{ code: 'FEDERAL_DNC_OFF', message: 'FEDERAL_DNC=off: marketing is not checked against the National Do-Not-Call Registry' }];
    case 'empty':
      return [{ code: 'DNC_DATA_STALE', message: 'no copy of the National Do-Not-Call Registry is imported: marketing sends are refused (tcpa dnc import)' }];
    case 'stale':
      return [{ code: 'DNC_DATA_STALE', message: `the National Do-Not-Call Registry copy of some area codes is older than 31 days (${h.staleAreaCodes.join(', ')}, oldest of ${h.oldestAsOf}): marketing to them is refused until a newer copy is imported` }];
  }
}

export async function registryHealth(db: Queryable, mode: FederalDncMode, now: number): Promise<RegistryHealth> {
  const s = await sql.registryStatus(db);
  const base = { areaCodes: s.areaCodes, oldestAsOf: s.oldestAsOf ? formatUtc(s.oldestAsOf.getTime()) : null, newestAsOf: s.newestAsOf ? formatUtc(s.newestAsOf.getTime()) : null };
  if (mode === 'off') return { status: 'off', ...base, staleAreaCodes: [] };
  if (s.areaCodes === 0) return { status: 'empty', ...base, staleAreaCodes: [] };
  const stale = await sql.staleAreaCodes(db, new Date(now - DNC_MAX_AGE_MS), 20);
  return { status: stale.length ? 'stale' : 'ok', ...base, staleAreaCodes: stale.map((c) => c.areaCode) };
}
