/**
 * The tamper-evident audit log over Postgres (table audit_entries, append-only by trigger).
 *
 * `append` writes a batch in one transaction: it locks the org row (FOR NO KEY UPDATE, which
 * serialises appenders of the same org across processes but does not block foreign-key inserts
 * elsewhere, which only take FOR KEY SHARE), reads the chain head, links the batch onto it and
 * inserts it with one createMany. The unique (org_id, seq) index is the last line of defence.
 *
 * `verify` streams an org's entries in seq order (keyset pages) through a ChainVerifier.
 */
import { ChainVerifier, entryHash, GENESIS_HASH, type ChainResult } from '../../domain/audit/chain.ts';
import { Prisma, type PrismaClient } from '../db/client.ts';

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

/** The JSON value exactly as Postgres will hand it back (undefined dropped, Dates as strings, ...). */
function normaliseData(data: unknown): unknown {
  if (data === undefined) return {};
  const text = JSON.stringify(data);
  if (text === undefined) throw new TypeError('audit entry data is not JSON-serialisable');
  return JSON.parse(text) as unknown;
}

function normaliseDate(d: Date): Date {
  const ms = d instanceof Date ? d.getTime() : NaN;
  if (!Number.isFinite(ms)) throw new RangeError('audit entry createdAt must be a valid Date');
  return new Date(ms);
}

export class AuditLog {
  private readonly pageSize: number;
  private readonly txOptions: { timeout: number; maxWait: number };

  constructor(
    private readonly prisma: PrismaClient,
    opts: AuditLogOptions = {},
  ) {
    this.pageSize = opts.pageSize ?? 5000;
    this.txOptions = { timeout: opts.transactionTimeoutMs ?? 30_000, maxWait: opts.maxWaitMs ?? 10_000 };
  }

  /**
   * Appends `entries` (in order) to the org's chain, atomically. With `tx`, runs inside the
   * caller's transaction (which must be READ COMMITTED, or must not have read audit_entries
   * before, so that the head read after the lock is current); the lock is held until it commits.
   */
  async append(orgId: string, entries: readonly AuditInput[], tx?: Tx): Promise<AppendedEntry[]> {
    if (entries.length === 0) return [];
    if (tx) return this.appendIn(tx, orgId, entries);
    return this.prisma.$transaction((t) => this.appendIn(t, orgId, entries), this.txOptions);
  }

  private async appendIn(tx: Tx, orgId: string, entries: readonly AuditInput[]): Promise<AppendedEntry[]> {
    const locked = await tx.$queryRaw<{ id: string }[]>`SELECT id::text AS id FROM orgs WHERE id = ${orgId}::uuid FOR NO KEY UPDATE`;
    if (locked.length === 0) throw new AuditOrgNotFoundError(orgId);

    const head = await tx.auditEntry.findFirst({
      where: { orgId },
      orderBy: { seq: 'desc' },
      select: { seq: true, hash: true },
    });
    let seq = head?.seq ?? 0;
    let prevHash = head?.hash ?? GENESIS_HASH;

    const rows: Prisma.AuditEntryCreateManyInput[] = [];
    const out: AppendedEntry[] = [];
    for (const input of entries) {
      seq += 1;
      const data = normaliseData(input.data);
      const createdAt = normaliseDate(input.createdAt);
      const core = {
        orgId,
        seq,
        action: input.action,
        timerId: input.timerId ?? null,
        contactId: input.contactId ?? null,
        journeyId: input.journeyId ?? null,
        campaignId: input.campaignId ?? null,
        decision: input.decision ?? null,
        reasonCodes: [...(input.reasonCodes ?? [])],
        data,
        createdAt,
      };
      const hash = entryHash(prevHash, core);
      rows.push({
        ...core,
        data: data === null ? Prisma.JsonNull : (data as Prisma.InputJsonValue),
        prevHash,
        hash,
      });
      out.push({ seq, prevHash, hash });
      prevHash = hash;
    }
    await tx.auditEntry.createMany({ data: rows });
    return out;
  }

  /** Verifies the org's whole chain from genesis, reading `pageSize` rows at a time. */
  async verify(orgId: string): Promise<ChainResult> {
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
