/**
 * The tamper-evident audit log over Postgres (table audit_entries, append-only by trigger).
 *
 * `append` writes a batch in one transaction: it locks the org row (FOR NO KEY UPDATE, which
 * serialises appenders of the same org across processes but does not block foreign-key inserts
 * elsewhere, which only take FOR KEY SHARE), reads the chain head, links the batch onto it and
 * inserts it with one multi-row INSERT. The unique (org_id, seq) index is the last line of defence.
 *
 * `stage` + `link`, for the hot paths (a message's claim, send and status callbacks): `stage`
 * writes the entries to audit_pending in the caller's transaction — atomically with the state
 * change they record, but without the org's chain lock, so one org's messages are not serialised
 * on it — and `link`, called once that transaction has committed, moves every staged entry of
 * the org into the chain (in staging order, many per transaction). Link requests made while a
 * pass runs are served together by the next pass (which starts after them, so it sees their
 * entries). `append` links what is staged before its own entries (they happened before them),
 * readers call `settle` first, and the reconciler calls `linkAllPending` for entries a crash left
 * between commit and link.
 *
 * `verify` streams an org's entries in seq order through the chain verifier: keyset pages of raw
 * SQL over the client's pg pool (chain-reader.ts); a long chain is cut into seq ranges verified by
 * worker threads in parallel, each over its own connection, and the segments are joined into the
 * result one sequential pass would give. (A client without a pg pool falls back to Prisma pages.)
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type pg from 'pg';
import { ChainVerifier, entryHash, GENESIS_HASH, joinSegments, type ChainResult, type ChainSegment } from '../../domain/audit/chain.ts';
import { pgPoolOf, Prisma, type PrismaClient } from '../db/client.ts';
import { maxSeq, verifyRange } from './chain-reader.ts';
import { inTransaction, sqlPool, viaPrisma, type Queryable } from '../db/sql.ts';

/** One entry as the caller supplies it; seq and hashes are assigned by `append`. */
export interface AuditInput {
  action: string;
  /** The app's clock. Stored at millisecond precision (timestamptz(3)). */
  createdAt: Date;
  timerId?: string | null;
  contactId?: string | null;
  journeyId?: string | null;
  campaignId?: string | null;
  decision?: string | null;
  reasonCodes?: readonly string[];
  /** Any JSON-serialisable value; it is stored (and hashed) as JSON.parse(JSON.stringify(data)). Default {}. */
  data?: unknown;
}

/** What `append` wrote, per entry. */
export interface AppendedEntry {
  seq: number;
  prevHash: string;
  hash: string;
}

export interface AuditLogOptions {
  /** Rows per page in `verify`. Default 5000. */
  pageSize?: number;
  /** Raw reads for `verify` (default: the pool under a client made by createPrisma). */
  pool?: pg.Pool;
  /** Worker threads for a long chain. Default min(4, available cores); 1 = verify in process. */
  verifyWorkers?: number;
  /** Chains shorter than this are verified in process (a worker costs its start-up). Default 200,000. */
  parallelFrom?: number;
  /** Interactive transaction timeout for `append` (ms), including the wait for the chain lock. Default 30000. */
  transactionTimeoutMs?: number;
  /** Max wait for a connection to start the transaction (ms). Default 10000. */
  maxWaitMs?: number;
}

type Tx = Prisma.TransactionClient;

export class AuditOrgNotFoundError extends Error {
  constructor(readonly orgId: string) {
    super(`audit log: org ${orgId} does not exist`);
    this.name = 'AuditOrgNotFoundError';
  }
}

/** The entry's data as JSON text (undefined is {}; Dates as strings, undefined members dropped ...). */
function dataText(data: unknown): string {
  if (data === undefined) return '{}';
  const text = JSON.stringify(data);
  if (text === undefined) throw new TypeError('audit entry data is not JSON-serialisable');
  return text;
}

/** The JSON value exactly as Postgres will hand it back, and its text. */
function normaliseData(data: unknown): { data: unknown; dataJson: string } {
  const dataJson = dataText(data);
  return { data: JSON.parse(dataJson) as unknown, dataJson };
}

function normaliseDate(d: Date): Date {
  const ms = d instanceof Date ? d.getTime() : NaN;
  if (!Number.isFinite(ms)) throw new RangeError('audit entry createdAt must be a valid Date');
  return new Date(ms);
}

/** Staged entries are linked this many per statement. */
const LINK_BATCH = 2000;

interface PendingRow {
  id: string;
  action: string;
  timerId: string | null;
  contactId: string | null;
  journeyId: string | null;
  campaignId: string | null;
  decision: string | null;
  reasonCodes: string[];
  dataJson: string;
  createdAt: number;
}

const PENDING_SQL = `SELECT id::text AS id, action, timer_id::text AS "timerId", contact_id::text AS "contactId", journey_id::text AS "journeyId",
    campaign_id::text AS "campaignId", decision, reason_codes AS "reasonCodes", data AS "dataJson", (extract(epoch from created_at) * 1000)::float8 AS "createdAt"
  FROM audit_pending WHERE org_id = $1::uuid AND id > $2::bigint ORDER BY audit_pending.id LIMIT $3`;

interface LinkerState {
  requested: number;
  running: boolean;
  waiters: Array<{ gen: number; resolve: () => void; reject: (err: unknown) => void }>;
}

/** An entry's references and labels, nulls for the absent ones. */
function refs(input: AuditInput) {
  return {
    action: input.action,
    timerId: input.timerId ?? null,
    contactId: input.contactId ?? null,
    journeyId: input.journeyId ?? null,
    campaignId: input.campaignId ?? null,
    decision: input.decision ?? null,
    reasonCodes: [...(input.reasonCodes ?? [])],
  };
}

/** A JSON string literal, or null. */
const jsonOrNull = (v: string | null): string => (v === null ? 'null' : JSON.stringify(v));

/**
 * One entry as an element of a JSON document: the references and labels as JSON values, `data` as
 * the entry's JSON text itself (no second encoding). The hot paths pass their batches this way:
 * building one document costs about half the Node CPU of thirteen escaped text arrays (a batch of
 * 1,000 ~1.2 KB entries: ~7 ms against ~14 ms), and Postgres takes the same time to read it.
 */
function entryJson(e: ReturnType<typeof refs> & { dataJson: string; createdAt: string }, extra: string): string {
  return (
    `{${extra}"timer_id":${jsonOrNull(e.timerId)},"contact_id":${jsonOrNull(e.contactId)},"journey_id":${jsonOrNull(e.journeyId)},` +
    `"campaign_id":${jsonOrNull(e.campaignId)},"action":${JSON.stringify(e.action)},"decision":${jsonOrNull(e.decision)},` +
    `"codes":${JSON.stringify(e.reasonCodes)},"created_at":"${e.createdAt}","data":${e.dataJson}}`
  );
}

/**
 * Staged entries in the order given (WITH ORDINALITY: audit_pending ids follow it, and so will
 * their seqs). `data` is read as json, which keeps its text exactly as given.
 */
const STAGE_SQL = `
  INSERT INTO audit_pending (org_id, timer_id, contact_id, journey_id, campaign_id, action, decision, reason_codes, data, created_at)
  SELECT x.org_id, x.timer_id, x.contact_id, x.journey_id, x.campaign_id, x.action, x.decision, x.codes, x.data::text, x.created_at
  FROM ROWS FROM (json_to_recordset($1::json) AS (org_id uuid, timer_id uuid, contact_id uuid, journey_id uuid, campaign_id uuid, action text,
                                                   decision text, codes text[], created_at timestamptz, data json))
    WITH ORDINALITY AS x(org_id, timer_id, contact_id, journey_id, campaign_id, action, decision, codes, created_at, data, n)
  ORDER BY x.n`;

function stageParams(entries: ReadonlyArray<AuditInput & { orgId: string }>): unknown[] {
  const doc = entries.map((input) =>
    entryJson({ ...refs(input), dataJson: dataText(input.data), createdAt: normaliseDate(input.createdAt).toISOString() }, `"org_id":${JSON.stringify(input.orgId)},`),
  );
  return [`[${doc.join(',')}]`];
}

type LinkItem = ReturnType<typeof refs> & { data: unknown; dataJson: string; createdAt: Date };

const INSERT_LINKED_SQL = `
  INSERT INTO audit_entries (org_id, seq, timer_id, contact_id, journey_id, campaign_id, action, decision, reason_codes, data, prev_hash, hash, created_at)
  SELECT $1::uuid, x.seq, x.timer_id, x.contact_id, x.journey_id, x.campaign_id, x.action, x.decision, x.codes, x.data, x.prev_hash, x.hash, x.created_at
  FROM json_to_recordset($2::json) AS x(seq int, prev_hash text, hash text, timer_id uuid, contact_id uuid, journey_id uuid, campaign_id uuid,
                                        action text, decision text, codes text[], created_at timestamptz, data jsonb)`;

/**
 * Hashes `items` onto the chain after (seq, prevHash) and inserts them with one multi-row INSERT
 * from one JSON document: what was hashed is what is stored (data as its JSON text, the JSON of
 * the normalised value). Returns the new head and what was written per entry.
 */
async function insertLinked(db: Queryable, orgId: string, seq: number, prevHash: string, items: readonly LinkItem[]): Promise<{ seq: number; prevHash: string; out: AppendedEntry[] }> {
  const rows: Array<LinkItem & { seq: number; prevHash: string; hash: string }> = [];
  for (const item of items) {
    seq += 1;
    const hash = entryHash(prevHash, { orgId, seq, ...item });
    rows.push({ ...item, seq, prevHash, hash });
    prevHash = hash;
  }
  const doc = rows.map((r) => entryJson({ ...r, createdAt: r.createdAt.toISOString() }, `"seq":${r.seq},"prev_hash":"${r.prevHash}","hash":"${r.hash}",`));
  await db.query(INSERT_LINKED_SQL, [orgId, `[${doc.join(',')}]`]);
  return { seq, prevHash, out: rows.map((r) => ({ seq: r.seq, prevHash: r.prevHash, hash: r.hash })) };
}

export class AuditLog {
  private readonly pageSize: number;
  private readonly txOptions: { timeout: number; maxWait: number };
  /** The pg pool raw reads go through (undefined: Prisma only). */
  readonly pool: pg.Pool | undefined;
  private readonly verifyWorkers: number;
  private readonly parallelFrom: number;
  /** Link passes in this process, per org. */
  private readonly linkers = new Map<string, LinkerState>();
  /** Passes scheduled by linkSoon, per org. */
  private readonly soon = new Map<string, { timer: NodeJS.Timeout; onError: (err: unknown) => void }>();

  constructor(
    private readonly prisma: PrismaClient,
    opts: AuditLogOptions = {},
  ) {
    this.pageSize = opts.pageSize ?? 5000;
    this.txOptions = { timeout: opts.transactionTimeoutMs ?? 30_000, maxWait: opts.maxWaitMs ?? 10_000 };
    this.pool = opts.pool ?? pgPoolOf(prisma);
    this.verifyWorkers = Math.max(1, Math.floor(opts.verifyWorkers ?? Math.min(4, availableParallelism())));
    this.parallelFrom = opts.parallelFrom ?? 200_000;
  }

  /**
   * Appends `entries` (in order) to the org's chain, atomically. With `tx`, runs inside the
   * caller's transaction (which must be READ COMMITTED, or must not have read audit_entries
   * before, so that the head read after the lock is current); the lock is held until it commits.
   */
  async append(orgId: string, entries: readonly AuditInput[], tx?: Tx): Promise<AppendedEntry[]> {
    if (entries.length === 0) return [];
    if (tx) return this.appendIn(viaPrisma(tx), orgId, entries);
    return this.prisma.$transaction((t) => this.appendIn(viaPrisma(t), orgId, entries), this.txOptions);
  }

  /**
   * `append` in the caller's pg transaction (a hot path's own client): takes the org's chain lock,
   * held until that transaction ends — call it last, right before the commit.
   */
  appendVia(client: Queryable, orgId: string, entries: readonly AuditInput[]): Promise<AppendedEntry[]> {
    if (entries.length === 0) return Promise.resolve([]);
    return this.appendIn(client, orgId, entries);
  }

  private async appendIn(db: Queryable, orgId: string, entries: readonly AuditInput[]): Promise<AppendedEntry[]> {
    const locked = await db.query<{ id: string }>('SELECT id::text AS id FROM orgs WHERE id = $1::uuid FOR NO KEY UPDATE', [orgId]);
    if (locked.rows.length === 0) throw new AuditOrgNotFoundError(orgId);
    const head = (await db.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_entries WHERE org_id = $1::uuid ORDER BY seq DESC LIMIT 1', [orgId])).rows;
    let seq = head[0]?.seq ?? 0;
    let prevHash = head[0]?.hash ?? GENESIS_HASH;

    // Staged entries first, in staging order: they were committed before this lock was granted.
    let after = '0';
    for (;;) {
      const pending = (await db.query<PendingRow>(PENDING_SQL, [orgId, after, LINK_BATCH])).rows;
      if (pending.length === 0) break;
      const items = pending.map((r) => ({ ...r, data: JSON.parse(r.dataJson) as unknown, createdAt: new Date(r.createdAt) }));
      ({ seq, prevHash } = await insertLinked(db, orgId, seq, prevHash, items));
      after = pending[pending.length - 1]!.id;
      await db.query('DELETE FROM audit_pending WHERE id = ANY($1::bigint[])', [pending.map((r) => r.id)]);
      if (pending.length < LINK_BATCH) break;
    }
    if (entries.length === 0) return [];
    const items = entries.map((input) => ({ ...refs(input), ...normaliseData(input.data), createdAt: normaliseDate(input.createdAt) }));
    return (await insertLinked(db, orgId, seq, prevHash, items)).out;
  }

  /**
   * Stages `entries` in the caller's transaction (no chain lock); call `link(orgId)` once it has
   * committed. Until linked they are in no chain, list or export (readers `settle` first).
   */
  async stage(orgId: string, entries: readonly AuditInput[], tx: Tx): Promise<void> {
    if (entries.length === 0) return;
    await tx.$executeRawUnsafe(STAGE_SQL, ...stageParams(entries.map((input) => ({ ...input, orgId }))));
  }

  /**
   * `stage` for the raw-SQL hot paths: entries of any orgs, in one INSERT, through the pg client
   * of the caller's transaction. Call `link` for each org once it has committed.
   */
  async stageVia(client: Queryable, entries: ReadonlyArray<AuditInput & { orgId: string }>): Promise<void> {
    if (entries.length === 0) return;
    await client.query(STAGE_SQL, stageParams(entries));
  }

  /**
   * Links every entry of the org staged so far into its chain. Resolves once a pass that started
   * after this call has finished: the caller's committed entries are in the chain then.
   */
  link(orgId: string): Promise<void> {
    let s = this.linkers.get(orgId);
    if (!s) this.linkers.set(orgId, (s = { requested: 0, waiters: [], running: false }));
    const gen = ++s.requested;
    const done = new Promise<void>((resolve, reject) => s.waiters.push({ gen, resolve, reject }));
    if (!s.running) void this.linkLoop(orgId, s);
    return done;
  }

  /**
   * Links the org's staged entries within `delayMs` (the hot paths: the entries of every batch
   * committed meanwhile go into one pass, instead of a pass per batch). A failed pass is logged by
   * `onError`; its entries wait for the next pass or the reconciler.
   */
  linkSoon(orgId: string, delayMs: number, onError: (err: unknown) => void): void {
    if (this.soon.has(orgId)) return;
    const timer = setTimeout(() => {
      this.soon.delete(orgId);
      this.link(orgId).catch(onError);
    }, delayMs);
    this.soon.set(orgId, { timer, onError });
  }

  /** Runs the passes `linkSoon` has scheduled, now (graceful shutdown). */
  async flushSoon(): Promise<void> {
    const due = [...this.soon];
    this.soon.clear();
    await Promise.all(
      due.map(([orgId, { timer, onError }]) => {
        clearTimeout(timer);
        return this.link(orgId).catch(onError);
      }),
    );
  }

  private async linkLoop(orgId: string, s: LinkerState): Promise<void> {
    s.running = true;
    while (s.waiters.length > 0) {
      const upTo = s.requested; // every request made before this pass starts is served by it
      let error: unknown = null;
      try {
        // Over the pg pool when there is one (the hot paths link after every batch; Prisma's per-query cost was most of a pass).
        if (this.pool) {
          await inTransaction(sqlPool(this.pool), async (db) => {
            await db.query(`SET LOCAL lock_timeout = '${this.txOptions.timeout}ms'`);
            await this.appendIn(db, orgId, []);
          });
        }
        else await this.prisma.$transaction((tx) => this.appendIn(viaPrisma(tx), orgId, []), this.txOptions);
      } catch (err) {
        error = err;
      }
      const served = s.waiters.filter((w) => w.gen <= upTo);
      s.waiters = s.waiters.filter((w) => w.gen > upTo);
      for (const w of served) {
        if (error === null) w.resolve();
        else w.reject(error);
      }
    }
    s.running = false;
    this.linkers.delete(orgId);
  }

  /** Links the org's staged entries, if it has any (readers call it first). */
  async settle(orgId: string): Promise<void> {
    const any = await this.prisma.$queryRaw<unknown[]>`SELECT 1 FROM audit_pending WHERE org_id = ${orgId}::uuid LIMIT 1`;
    if (any.length > 0) await this.link(orgId);
  }

  /** Links whatever is staged for any org (entries a crash left between commit and link). Returns the orgs linked. */
  async linkAllPending(): Promise<number> {
    const orgs = await this.prisma.$queryRaw<{ orgId: string }[]>`SELECT DISTINCT org_id::text AS "orgId" FROM audit_pending`;
    for (const { orgId } of orgs) await this.link(orgId);
    return orgs.length;
  }

  /** Verifies the org's whole chain from genesis (the entries there are when it starts, staged ones linked first). */
  async verify(orgId: string): Promise<ChainResult> {
    await this.settle(orgId);
    const pool = this.pool;
    if (!pool) return this.verifyWithPrisma(orgId);
    const max = await maxSeq(pool, orgId);
    if (max === null || max < 1) return { ok: true, count: 0, lastHash: GENESIS_HASH, lastSeq: 0 };
    const connectionString = pool.options.connectionString;
    const n = max >= this.parallelFrom && connectionString ? Math.min(this.verifyWorkers, Math.ceil(max / this.pageSize)) : 1;
    if (n <= 1) return joinSegments([await verifyRange(pool, orgId, 1, max, this.pageSize)]);

    // Cut [1, max] into n ranges, one worker thread each; a range whose worker cannot run is verified here.
    const bounds = Array.from({ length: n }, (_, i) => ({ from: Math.floor((max * i) / n) + 1, to: Math.floor((max * (i + 1)) / n) }));
    const workers: Array<Worker | undefined> = [];
    const segments = bounds.map((b, i) =>
      this.verifyInWorker(connectionString!, orgId, b.from, b.to, (w) => (workers[i] = w))
        .catch(() => verifyRange(pool, orgId, b.from, b.to, this.pageSize))
        .then((seg) => {
          // Once a range is broken, the ranges after it cannot change the answer: stop them.
          if (seg && !seg.result.ok) for (let j = i + 1; j < n; j++) void workers[j]?.terminate();
          return seg;
        }),
    );
    const settled = Promise.allSettled(segments); // every range observed, whatever happens below
    const done: ChainSegment[] = [];
    try {
      for (const p of segments) {
        const seg = await p;
        if (!seg) break; // stopped because an earlier range broke
        done.push(seg);
        if (!seg.result.ok) break;
      }
    } catch (err) {
      for (const w of workers) void w?.terminate();
      throw err;
    } finally {
      // Let the stopped workers finish exiting before answering.
      await settled;
    }
    return joinSegments(done);
  }

  /** Verifies one range in a worker thread; resolves null if the worker was terminated. */
  private verifyInWorker(connectionString: string, orgId: string, fromSeq: number, toSeq: number, started: (w: Worker) => void): Promise<ChainSegment | null> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(new URL('./verify-worker.mjs', import.meta.url), { workerData: { connectionString, orgId, fromSeq, toSeq, pageSize: this.pageSize } });
      started(worker);
      let answered = false;
      worker.once('message', (m: { ok: true; segment: ChainSegment } | { ok: false; error: string }) => {
        answered = true;
        if (m.ok) resolve(m.segment);
        else reject(new Error(m.error));
      });
      worker.once('error', (err) => {
        answered = true;
        reject(err);
      });
      worker.once('exit', (code) => {
        if (!answered) {
          if (code === 1) resolve(null); // terminate()
          else reject(new Error(`verify worker exited with code ${code}`));
        }
      });
    });
  }

  /** The same verification through Prisma pages (clients without a pg pool). */
  private async verifyWithPrisma(orgId: string): Promise<ChainResult> {
    const verifier = new ChainVerifier();
    let after = 0;
    for (;;) {
      const page = await this.prisma.auditEntry.findMany({
        where: { orgId, seq: { gt: after } },
        orderBy: { seq: 'asc' },
        take: this.pageSize,
        select: {
          orgId: true,
          seq: true,
          action: true,
          timerId: true,
          contactId: true,
          journeyId: true,
          campaignId: true,
          decision: true,
          reasonCodes: true,
          data: true,
          createdAt: true,
          prevHash: true,
          hash: true,
        },
      });
      for (const row of page) if (!verifier.push(row)) return verifier.result();
      const last = page[page.length - 1];
      if (!last || page.length < this.pageSize) break;
      after = last.seq;
    }
    return verifier.result();
  }
}
