/**
 * Contacts import: a CSV or JSONL file of up to 1,000,000 contacts, streamed (never buffered
 * whole), each row placed ONCE (zip → state and zones, area code; `resolveLocation`) and upserted
 * in batches of `BATCH_SIZE` rows with one `INSERT … SELECT FROM unnest(…) ON CONFLICT … DO UPDATE`
 * statement (which also adds the batch to the contact list, when one is named).
 *
 * Memory stays flat: rows are pulled from the stream one at a time; a full batch starts writing
 * while the next one is read, and reading waits (back-pressure down to the socket) until the
 * previous write has finished — at most two batches are held.
 *
 * Upsert rules (the same as `contactFor`, src/app/contacts.ts): by (org, E.164 number); a row's
 * `externalId` already held by a contact with another number is a bad row (`CONFLICT`); an
 * `externalId` given for a known number replaces the stored one; a row without one keeps it.
 * Rows are applied in file order: a number (or externalId) seen twice in a file is written by two
 * successive statements, the later row winning.
 *
 * Bad rows never abort the file; they are counted by code and the first `MAX_ERROR_SAMPLES` (by
 * line) are returned. Codes: `INVALID_ROW` (missing phone, malformed JSON, not an object, a field
 * of the wrong type, wrong column count, broken CSV quoting, a record over 64 KB), `INVALID_PHONE`,
 * `INVALID_ZIP`, `UNKNOWN_ZIP`, `CONFLICT`. Nothing else is stored about them.
 */
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { Prisma } from '../adapters/db/client.ts';
import { AppError } from '../domain/errors.ts';
import { resolveLocation } from '../domain/location/resolve.ts';
import { contactFileFormatOf, contactFileRows, CONTACT_FILE_CONTENT_TYPES, type ContactFileFormat, type RowFields } from './contact-files.ts';
import { phoneHash, type EngineContext } from './timers/context.ts';

export type ImportFormat = ContactFileFormat;

/** Rows per statement. */
export const BATCH_SIZE = 1000;
/** Batches written at once (on separate connections), when they share no number or externalId. */
export const PARALLEL_WRITES = 2;
/** Data rows per file (bad rows included). */
export const MAX_IMPORT_ROWS = 1_000_000;
/** Bad rows reported in the answer (the first ones, by line). */
export const MAX_ERROR_SAMPLES = 100;

// ---------------------------------------------------------------------------------------------
// Schemas (API)
// ---------------------------------------------------------------------------------------------

export const ImportContactsQuery = z
  .strictObject({
    format: z.enum(['csv', 'jsonl']).optional().describe('Default: from Content-Type (`text/csv` → csv; `application/x-ndjson`, `application/jsonl` → jsonl)'),
    list: z.string().trim().min(1).max(200).optional().describe('Add every imported contact to this contact list (created if needed)'),
    mode: z.enum(['upsert']).default('upsert').describe('Only `upsert`: by phone number, or by a known externalId'),
  });

export const RowErrorSchema = z.object({ line: z.number().int().describe('1-based line in the file (the CSV header is line 1)'), code: z.string(), message: z.string() });
export type RowError = z.infer<typeof RowErrorSchema>;

export const ContactImportResultSchema = z.object({
  rows: z.number().int().describe('Data rows read (blank lines and the CSV header excluded)'),
  created: z.number().int(),
  updated: z.number().int().describe('Rows that matched an existing contact by number (one whose fields did not change is left as it is; a number repeated within the file counts once per repeat)'),
  errors: z.number().int().describe('Bad rows (not imported)'),
  errorCodes: z.record(z.string(), z.number().int()).describe('Bad rows per code'),
  errorSamples: z.array(RowErrorSchema).describe(`The first ${MAX_ERROR_SAMPLES} bad rows by line; the full list is not stored`),
  listId: z.uuid().optional(),
});
export type ContactImportResult = z.infer<typeof ContactImportResultSchema>;

/** Content types of the import body → format. */
export const IMPORT_CONTENT_TYPES = CONTACT_FILE_CONTENT_TYPES;
/** `?format=` wins; else the Content-Type; else a 400. */
export const importFormatOf = contactFileFormatOf;

// ---------------------------------------------------------------------------------------------
// Rows → contacts
// ---------------------------------------------------------------------------------------------

interface Prepared {
  line: number;
  phone: string;
  hash: string;
  zip: string | null;
  state: string | null;
  candidates: string;
  issues: string;
  externalId: string | null;
}

/** Validates and places one row (the only `resolveLocation` call for it). */
export function prepareRow(line: number, f: RowFields): Prepared | RowError {
  const phone = f.phone?.trim();
  if (!phone) return { line, code: 'INVALID_ROW', message: 'phone is required' };
  if (phone.length > 40) return { line, code: 'INVALID_PHONE', message: 'not a valid phone number' };
  const zip = f.zip?.trim() || undefined;
  const externalId = f.externalId?.trim() || undefined;
  if (externalId && externalId.length > 200) return { line, code: 'INVALID_ROW', message: 'externalId is longer than 200 characters' };
  const location = resolveLocation({ phone, ...(zip === undefined ? {} : { zip }) });
  if (!location.phone) {
    // Not a number, or not a NANP number: as for a timer's contact (INVALID_PHONE).
    const issue = location.issues.find((i) => i.code === 'INVALID_PHONE' || i.code === 'NON_US_PHONE');
    return { line, code: 'INVALID_PHONE', message: issue?.message ?? 'not a valid phone number' };
  }
  const bad = location.issues.find((i) => i.code === 'INVALID_ZIP' || i.code === 'UNKNOWN_ZIP');
  if (bad) return { line, code: bad.code, message: bad.message };
  const e164 = location.phone.e164;
  return {
    line,
    phone: e164,
    hash: phoneHash(e164),
    zip: location.zip ?? null,
    state: location.state ?? null,
    candidates: JSON.stringify(location.candidates),
    issues: JSON.stringify(location.issues),
    externalId: externalId ?? null,
  };
}

/** Whether a database error is a unique violation (a concurrent writer took an externalId between our look-up and our insert). */
function isUniqueViolation(err: unknown): boolean {
  if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') return true;
  const text = err instanceof Error ? `${err.message} ${JSON.stringify((err as { meta?: unknown }).meta ?? null)}` : '';
  return /23505|unique constraint/i.test(text);
}

export interface ImportOptions {
  format: ImportFormat;
  input: Readable;
  /** Contact list name: every imported contact is added to it (created if needed). */
  list?: string | undefined;
  /** Data rows accepted; more → 413 after the first `maxRows` were imported. Default MAX_IMPORT_ROWS. */
  maxRows?: number;
  batchSize?: number;
  /** Batches written at once (default PARALLEL_WRITES). */
  parallelWrites?: number;
}

export async function importContacts(ctx: EngineContext, orgId: string, opts: ImportOptions): Promise<ContactImportResult> {
  const db = ctx.prisma;
  const maxRows = opts.maxRows ?? MAX_IMPORT_ROWS;
  const batchSize = opts.batchSize ?? BATCH_SIZE;
  const result = { rows: 0, created: 0, updated: 0, errors: 0 };
  const errorCodes: Record<string, number> = {};
  let samples: RowError[] = [];
  const addError = (e: RowError): void => {
    result.errors++;
    errorCodes[e.code] = (errorCodes[e.code] ?? 0) + 1;
    samples.push(e);
    // Keep the first MAX_ERROR_SAMPLES by line (writes report their conflicts after later parse errors).
    if (samples.length >= 4 * MAX_ERROR_SAMPLES) samples = samples.sort((a, b) => a.line - b.line).slice(0, MAX_ERROR_SAMPLES);
  };

  let listId: Promise<string> | undefined;
  const ensureList = (): Promise<string> | undefined =>
    opts.list === undefined
      ? undefined
      : (listId ??= db.contactList
          .upsert({ where: { orgId_name: { orgId, name: opts.list } }, create: { orgId, name: opts.list }, update: {}, select: { id: true } })
          .then((l) => l.id));

  /**
   * Writes one batch (in file order, after the previous one) with ONE statement: rows whose
   * externalId is held by a contact with another number are left out (and reported), the others
   * inserted or updated by number — a contact whose stored fields would not change is not
   * rewritten — and every row's contact is added to the list. CTEs share one snapshot, so the
   * externalId check and the list's existing members are read as of before the insert. The
   * look-ups are per-row LATERAL probes (LIMIT 1 keeps the planner from flattening them) so that
   * they use the unique indexes even when the table's statistics are stale (a fresh bulk load):
   * a hash join over every contact of the org would make each batch O(org size).
   */
  const write = async (rows: Prepared[]): Promise<void> => {
    const list = (await ensureList()) ?? null;
    // One lock order for every writer (no deadlock between concurrent imports).
    rows.sort((a, b) => (a.phone < b.phone ? -1 : a.phone > b.phone ? 1 : 0));
    for (let attempt = 1; ; attempt++) {
      try {
        const [out] = await db.$queryRaw<Array<{ created: number; conflicts: number[] }>>`
          WITH input AS (
            SELECT * FROM unnest(${rows.map((r) => r.line)}::int[], ${rows.map((r) => r.phone)}::text[], ${rows.map((r) => r.hash)}::text[],
                                 ${rows.map((r) => r.zip)}::text[], ${rows.map((r) => r.state)}::text[], ${rows.map((r) => r.candidates)}::text[],
                                 ${rows.map((r) => r.issues)}::text[], ${rows.map((r) => r.externalId)}::text[])
              AS t(line, phone, hash, zip, state, candidates, issues, external_id)
          ), conflicts AS (
            SELECT i.line FROM input i
            CROSS JOIN LATERAL (SELECT phone_e164 FROM contacts WHERE org_id = ${orgId}::uuid AND external_id = i.external_id LIMIT 1) AS k
            WHERE i.external_id IS NOT NULL AND k.phone_e164 <> i.phone
          ), ok AS (
            SELECT * FROM input WHERE line NOT IN (SELECT line FROM conflicts)
          ), up AS (
            INSERT INTO contacts AS c (id, org_id, phone_e164, phone_hash, zip, state, candidates, location_issues, external_id, created_at, updated_at)
            SELECT gen_random_uuid(), ${orgId}::uuid, phone, hash, zip, state, candidates::jsonb, issues::jsonb, external_id, now(), now() FROM ok
            ON CONFLICT (org_id, phone_e164) DO UPDATE SET
              zip = EXCLUDED.zip, state = EXCLUDED.state, candidates = EXCLUDED.candidates, location_issues = EXCLUDED.location_issues,
              external_id = COALESCE(EXCLUDED.external_id, c.external_id), updated_at = now()
            WHERE (c.zip, c.state, c.candidates, c.location_issues, c.external_id)
                  IS DISTINCT FROM (EXCLUDED.zip, EXCLUDED.state, EXCLUDED.candidates, EXCLUDED.location_issues, COALESCE(EXCLUDED.external_id, c.external_id))
            RETURNING c.id, (c.xmax = 0) AS inserted
          ), members AS (
            INSERT INTO contact_list_members (list_id, contact_id)
            SELECT ${list}::uuid, id FROM (
              SELECT id FROM up
              UNION
              SELECT k.id FROM ok CROSS JOIN LATERAL (SELECT id FROM contacts WHERE org_id = ${orgId}::uuid AND phone_e164 = ok.phone LIMIT 1) AS k
            ) AS m
            WHERE ${list}::uuid IS NOT NULL
            ON CONFLICT DO NOTHING
          )
          SELECT (SELECT count(*) FROM up WHERE inserted)::int AS created, ARRAY(SELECT line FROM conflicts ORDER BY line) AS conflicts`;
        const conflicts = new Set(out?.conflicts ?? []);
        const created = out?.created ?? 0;
        result.created += created;
        // Every other row matched a contact by number (changed or not).
        result.updated += rows.length - conflicts.size - created;
        for (const r of rows) {
          if (conflicts.has(r.line)) addError({ line: r.line, code: 'CONFLICT', message: `externalId "${r.externalId}" already belongs to a contact with another phone number` });
        }
        return;
      } catch (err) {
        if (attempt < 3 && isUniqueViolation(err)) continue;
        throw err;
      }
    }
  };

  // Up to `parallel` batches write at once, as long as they share no number and no externalId
  // (then their order does not matter); a batch that shares one with a batch still writing waits
  // for every write in flight first, so rows apply in file order. Reading waits while `parallel`
  // writes are in flight: at most parallel + 1 batches are held.
  const parallel = Math.max(1, opts.parallelWrites ?? PARALLEL_WRITES);
  let batch: Prepared[] = [];
  let phones = new Set<string>();
  let externalIds = new Set<string>();
  /** The current batch shares a key with a batch in flight. */
  let dependsOnInflight = false;
  const inflight = new Map<Promise<void>, { phones: Set<string>; externalIds: Set<string> }>();
  const inFlightKey = (phone: string, externalId: string | null): boolean => {
    for (const keys of inflight.values()) if (keys.phones.has(phone) || (externalId !== null && keys.externalIds.has(externalId))) return true;
    return false;
  };
  let failure: { err: unknown } | undefined;
  /** Waits until at most `max` writes are in flight; rethrows the first failed write. */
  const drain = async (max: number): Promise<void> => {
    while (inflight.size > max) await Promise.race(inflight.keys());
    if (failure) throw failure.err;
  };
  /** Starts writing the current batch (after the writes it depends on; with a free slot). */
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const rows = batch;
    const keys = { phones, externalIds };
    await drain(dependsOnInflight ? 0 : parallel - 1);
    batch = [];
    phones = new Set();
    externalIds = new Set();
    dependsOnInflight = false;
    const p: Promise<void> = write(rows)
      .catch((err: unknown) => void (failure ??= { err }))
      .finally(() => inflight.delete(p));
    inflight.set(p, keys);
  };

  let truncated = false;
  const source = contactFileRows(opts.input, opts.format);
  for await (const raw of source) {
    if (result.rows >= maxRows) {
      truncated = true;
      break;
    }
    result.rows++;
    if ('error' in raw) {
      addError({ line: raw.line, ...raw.error });
      continue;
    }
    const row = prepareRow(raw.line, raw.fields);
    if ('code' in row) {
      addError(row);
      continue;
    }
    // A number or externalId already in this batch: write the batch first (rows apply in file order).
    if (phones.has(row.phone) || (row.externalId !== null && externalIds.has(row.externalId))) await flush();
    if (!dependsOnInflight && inflight.size > 0 && inFlightKey(row.phone, row.externalId)) dependsOnInflight = true;
    batch.push(row);
    phones.add(row.phone);
    if (row.externalId !== null) externalIds.add(row.externalId);
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  await drain(0);
  const id = await ensureList();

  const answer: ContactImportResult = {
    ...result,
    errorCodes,
    errorSamples: samples.sort((a, b) => a.line - b.line).slice(0, MAX_ERROR_SAMPLES),
    ...(id ? { listId: id } : {}),
  };
  // Counts only: never a number or a row.
  await ctx.audit.append(orgId, [
    { action: 'contacts.imported', createdAt: new Date(ctx.clock.now()), data: { format: opts.format, rows: result.rows, created: result.created, updated: result.updated, errors: result.errors, errorCodes, listId: id ?? null, truncated } },
  ]);
  if (truncated) {
    throw new AppError('PAYLOAD_TOO_LARGE', `the file has more than ${maxRows.toLocaleString('en-US')} rows: the first ${maxRows.toLocaleString('en-US')} were imported; split the file (re-importing rows is harmless)`, answer);
  }
  return answer;
}
