/**
 * Reading the audit log: filtered, cursor-paginated (by the per-org sequence number, which is
 * the chain's own order), and exported as CSV or JSON lines in constant memory.
 *
 * Filters (all optional, combined with AND): timerId, contactId, phone (a hashed look-up: the
 * number's E.164 form → sha256 → the org's contacts with that phone_hash), campaignId, journeyId,
 * action, decision, reasonCode (one or more codes, comma-separated: entries carrying all of them,
 * `reason_codes @> ARRAY[...]`), jurisdiction (entries whose decision judged that jurisdiction
 * among its candidates: jsonb containment on data.decision.candidates), from/to (entry time,
 * [from, to)).
 *
 * Reads are raw SQL through the pg pool (pgPoolOf): the list in keyset pages by seq; the export
 * in windows of seq values, asking Postgres for text it can paste into the output (jsonb as text,
 * the time as ISO-8601), writing with back-pressure and stopping when the client goes away.
 * Answers to auditors have every
 * E.164 number in the entries' data masked to its last four digits (the log is designed never to
 * hold one, but provider error texts may quote a number).
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type pg from 'pg';
import { z } from 'zod';
import { bySeq, maxSeq } from '../adapters/audit/chain-reader.ts';
import { pgPoolOf } from '../adapters/db/client.ts';
import { quoteString } from '../domain/audit/canonical.ts';
import { AppError } from '../domain/errors.ts';
import { maskPhone } from '../domain/privacy.ts';
import { parseInstant } from '../domain/time.ts';
import { queryPhoneHash, type EngineContext } from './timers/context.ts';

const Instant = z.string().max(40).refine((v) => parseInstant(v) !== undefined, 'ISO-8601 instant with Z or an offset');

/** The filters shared by the list and the export. */
const FILTERS = {
  timerId: z.uuid().optional(),
  contactId: z.uuid().optional(),
  phone: z.string().min(3).max(40).optional().describe('Any form of the number; matched by its sha256 (contacts.phone_hash), never stored or echoed'),
  campaignId: z.uuid().optional(),
  journeyId: z.uuid().optional(),
  action: z.string().min(1).max(64).optional(),
  decision: z.string().min(1).max(32).optional().describe('send, reschedule or cancel'),
  reasonCode: z
    .string()
    .max(300)
    .regex(/^[A-Z][A-Z0-9_]*(,[A-Z][A-Z0-9_]*)*$/, 'reason codes in capitals, comma-separated (e.g. OUTSIDE_HOURS,HOLIDAY)')
    .optional()
    .describe('Entries carrying every listed code'),
  jurisdiction: z
    .string()
    .regex(/^[A-Za-z]{2}$/, 'a two-letter state or territory code')
    .transform((s) => s.toUpperCase())
    .optional()
    .describe('Entries whose decision judged this jurisdiction among its candidates'),
  from: Instant.optional(),
  to: Instant.optional(),
};

export const ListAuditQuery = z
  .object({
    ...FILTERS,
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    cursor: z.string().regex(/^\d{1,12}$/, 'use nextCursor from a previous page').optional(),
  })
  .strict();
export type ListAuditInput = z.infer<typeof ListAuditQuery>;

export const ExportAuditQuery = z
  .object({
    ...FILTERS,
    format: z.enum(['csv', 'jsonl']).default('jsonl'),
  })
  .strict();
export type ExportAuditInput = z.infer<typeof ExportAuditQuery>;

type AuditFilters = Omit<ListAuditInput, 'limit' | 'cursor'>;

export interface AuditEntryView {
  seq: number;
  at: string;
  action: string;
  timerId: string | null;
  contactId: string | null;
  journeyId: string | null;
  campaignId: string | null;
  decision: string | null;
  reasonCodes: string[];
  data: unknown;
  prevHash: string;
  hash: string;
}

/** Columns of the export, in order (CSV header). */
export const EXPORT_COLUMNS = ['seq', 'at', 'action', 'timer_id', 'contact_id', 'journey_id', 'campaign_id', 'decision', 'reason_codes', 'data', 'prev_hash', 'hash'] as const;

const E164_IN_TEXT = /\+\d{8,15}\b/g;

/** Masks every E.164 number in a text (JSON text included: a `+` followed by digits can only be inside a string there). */
export function maskPhonesIn(text: string): string {
  return text.includes('+') ? text.replace(E164_IN_TEXT, (m) => maskPhone(m)) : text;
}

/** A SQL WHERE clause over audit_entries with its parameters ($1 is the org). */
export interface AuditWhere {
  sql: string;
  params: unknown[];
}

const ISO_AT = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

export class AuditQueries {
  constructor(private readonly ctx: EngineContext) {}

  private pool(): pg.Pool {
    const pool = this.ctx.audit.pool ?? pgPoolOf(this.ctx.prisma);
    if (!pool) throw new Error('audit queries need the pg pool of a client made by createPrisma');
    return pool;
  }

  /** The WHERE clause for the filters, or null when they can match nothing (a phone no contact has). */
  async where(orgId: string, q: AuditFilters): Promise<AuditWhere | null> {
    const from = q.from === undefined ? undefined : parseInstant(q.from)!;
    const to = q.to === undefined ? undefined : parseInstant(q.to)!;
    if (from !== undefined && to !== undefined && from > to) throw new AppError('INVALID_ARGUMENT', 'from is after to', [{ path: 'query.from', message: 'must not be after to' }]);
    const params: unknown[] = [orgId];
    const clauses = ['org_id = $1::uuid'];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      clauses.push(sql.replace('?', `$${params.length}`));
    };
    if (q.timerId) add('timer_id = ?::uuid', q.timerId);
    if (q.contactId) add('contact_id = ?::uuid', q.contactId);
    if (q.phone !== undefined) {
      const ids = await this.pool().query<{ id: string }>('SELECT id::text AS id FROM contacts WHERE org_id = $1::uuid AND phone_hash = $2', [orgId, queryPhoneHash(q.phone)]);
      if (ids.rows.length === 0) return null;
      add('contact_id = ANY(?::uuid[])', ids.rows.map((r) => r.id));
    }
    if (q.campaignId) add('campaign_id = ?::uuid', q.campaignId);
    if (q.journeyId) add('journey_id = ?::uuid', q.journeyId);
    if (q.action) add('action = ?', q.action);
    if (q.decision) add('decision = ?', q.decision);
    if (q.reasonCode) add('reason_codes @> ?::text[]', [...new Set(q.reasonCode.split(','))]);
    if (q.jurisdiction) add('data @> ?::jsonb', JSON.stringify({ decision: { candidates: [{ jurisdiction: q.jurisdiction }] } }));
    if (from !== undefined) add('created_at >= ?::timestamptz', new Date(from).toISOString());
    if (to !== undefined) add('created_at < ?::timestamptz', new Date(to).toISOString());
    return { sql: clauses.join(' AND '), params };
  }

  async list(orgId: string, q: ListAuditInput, opts: { maskPhones?: boolean } = {}): Promise<{ items: AuditEntryView[]; nextCursor: string | null }> {
    await this.ctx.audit.settle(orgId);
    const where = await this.where(orgId, q);
    if (!where) return { items: [], nextCursor: null };
    const params = [...where.params, q.cursor ? Number(q.cursor) : 0, q.limit + 1];
    const sql = `SELECT seq, ${ISO_AT} AS at, action, timer_id::text AS "timerId", contact_id::text AS "contactId", journey_id::text AS "journeyId",
        campaign_id::text AS "campaignId", decision, reason_codes AS "reasonCodes", data::text AS data, prev_hash AS "prevHash", hash
      FROM audit_entries WHERE ${where.sql} AND seq > $${params.length - 1} ORDER BY seq LIMIT $${params.length}`;
    const rows = (await this.pool().query<Omit<AuditEntryView, 'data'> & { data: string }>(sql, params)).rows;
    const more = rows.length > q.limit;
    const items = rows.slice(0, q.limit).map((r) => ({ ...r, data: JSON.parse(opts.maskPhones ? maskPhonesIn(r.data) : r.data) as unknown }));
    const last = items[items.length - 1];
    return { items, nextCursor: more && last ? String(last.seq) : null };
  }

  /**
   * Streams every matching entry to `out` (CSV with a header, or one JSON object per line, the
   * list's item shape), in seq order, up to the head when it starts, in constant memory: pages of
   * seq windows (the next one read while the current one is written), `write` → false waits for
   * 'drain'. Stops at once if `out` closes (the client went away). Does not end `out`.
   */
  async export(orgId: string, q: ExportAuditInput, out: Writable, opts: { maskPhones?: boolean; pageSize?: number } = {}): Promise<{ rows: number; aborted: boolean }> {
    await this.ctx.audit.settle(orgId);
    const pageSize = opts.pageSize ?? 2000;
    const csv = q.format === 'csv';
    let closed = out.destroyed || out.writableEnded;
    const onClose = () => {
      closed = true;
    };
    out.on('close', onClose);
    out.on('error', onClose);
    let rows = 0;
    let next: Promise<unknown[][]> | null = null;
    try {
      // The filters first: a bad one is an error answer, not a broken download.
      const where = await this.where(orgId, q);
      if (csv && !(await write(out, `${EXPORT_COLUMNS.join(',')}\r\n`, () => closed))) return { rows, aborted: true };
      if (!where) return { rows, aborted: closed };
      const pool = this.pool();
      const max = await maxSeq(pool, orgId);
      if (max === null) return { rows, aborted: closed };
      const n = where.params.length;
      const sql = `SELECT seq, ${ISO_AT}, action, timer_id::text, contact_id::text, journey_id::text, campaign_id::text, decision,
          ${csv ? `array_to_string(reason_codes, '|')` : 'array_to_json(reason_codes)::text'}, data::text, prev_hash, hash
        FROM audit_entries WHERE ${where.sql} AND seq > $${n + 1} AND seq <= $${n + 2}`;
      // Windows of seq values (each query reads at most pageSize rows whatever the planner thinks),
      // up to the head as it was when the export started; an empty window jumps to the next match.
      // No ORDER BY: a window is sorted here (Postgres would sort the wide rows beyond work_mem, on disk).
      const fetchWindow = (after: number) => pool.query<unknown[]>({ text: sql, values: [...where.params, after, Math.min(max, after + pageSize)], rowMode: 'array' }).then((r) => bySeq(r.rows));
      let lo = 0;
      next = fetchWindow(lo);
      const line = csv ? csvLine : jsonLine;
      while (next && !closed) {
        const page: unknown[][] = await next;
        if (page.length === 0) {
          const r = await pool.query<[number | null]>({ text: `SELECT min(seq) FROM audit_entries WHERE ${where.sql} AND seq > $${n + 1} AND seq <= $${n + 2}`, values: [...where.params, lo + pageSize, max], rowMode: 'array' });
          const found = r.rows[0]?.[0] ?? null;
          if (found === null) break;
          lo = found - 1;
          next = fetchWindow(lo);
          continue;
        }
        lo += pageSize;
        next = lo < max ? fetchWindow(lo) : null;
        let chunk = '';
        for (const r of page) {
          if (opts.maskPhones) r[9] = maskPhonesIn(r[9] as string);
          chunk += line(r);
          if (chunk.length >= 65_536) {
            if (!(await write(out, chunk, () => closed))) return { rows, aborted: true };
            chunk = '';
          }
          rows++;
        }
        if (chunk && !(await write(out, chunk, () => closed))) return { rows, aborted: true };
      }
      return { rows, aborted: closed };
    } finally {
      out.off('close', onClose);
      out.off('error', onClose);
      await next?.catch(() => undefined);
    }
  }
}

/** Writes with back-pressure; false when the stream closed instead of draining. */
async function write(out: Writable, chunk: string, isClosed: () => boolean): Promise<boolean> {
  if (isClosed()) return false;
  if (out.write(chunk)) return true;
  const ac = new AbortController();
  // Whichever comes first: the buffer drained, or the stream closed/failed.
  await Promise.race([once(out, 'drain', { signal: ac.signal }), once(out, 'close', { signal: ac.signal })]).catch(() => undefined);
  ac.abort();
  return !isClosed();
}

const jsonText = (v: unknown) => (v === null ? 'null' : quoteString(v as string));

/** One JSON line from an export row (jsonb, the reason codes' JSON and the ISO time pasted as Postgres wrote them). */
function jsonLine(r: unknown[]): string {
  return (
    `{"seq":${r[0] as number},"at":"${r[1] as string}","action":${jsonText(r[2])},"timerId":${jsonText(r[3])},"contactId":${jsonText(r[4])}` +
    `,"journeyId":${jsonText(r[5])},"campaignId":${jsonText(r[6])},"decision":${jsonText(r[7])},"reasonCodes":${r[8] as string}` +
    `,"data":${r[9] as string},"prevHash":${jsonText(r[10])},"hash":${jsonText(r[11])}}\n`
  );
}

const CSV_SPECIAL = /[",\r\n]/;
function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return CSV_SPECIAL.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One RFC 4180 record (CRLF). */
function csvLine(r: unknown[]): string {
  let out = csvField(r[0]);
  for (let i = 1; i < r.length; i++) out += `,${csvField(r[i])}`;
  return `${out}\r\n`;
}
