/**
 * The audit log's hash chain (pure).
 *
 * Each org's audit entries form one chain: entry `seq` n carries `prevHash` = the hash of entry
 * n-1 (GENESIS_HASH for n = 1) and `hash` = sha256(prevHash + '\n' + canonicalJson(core)), where
 * the core is every stored field except the row id and the hashes themselves. Editing any field
 * of a row breaks its hash; deleting or re-ordering rows breaks the seq run or the prevHash links.
 * (Deleting the newest rows cannot be seen from the chain alone: compare `lastSeq`/`lastHash`
 * with an anchor kept elsewhere for that.)
 */
import { canonicalJson, sha256 } from '../calendar/compile.ts';

export const GENESIS_HASH = '0'.repeat(64);

/** The hashed fields of an entry. Absent optional fields hash as null. */
export interface AuditEntryCore {
  readonly orgId: string;
  readonly seq: number;
  readonly action: string;
  readonly timerId?: string | null;
  readonly contactId?: string | null;
  readonly journeyId?: string | null;
  readonly campaignId?: string | null;
  readonly decision?: string | null;
  readonly reasonCodes?: readonly string[] | null;
  /** Any JSON value, hashed exactly as stored (see `canonicalJson`). */
  readonly data: unknown;
  /** A Date or an ISO-8601 string; hashed as its millisecond ISO form. */
  readonly createdAt: Date | string;
}

/** A stored entry: the core plus its chain links. */
export interface ChainEntry extends AuditEntryCore {
  readonly prevHash: string;
  readonly hash: string;
}

export type ChainProblem = 'HASH_MISMATCH' | 'PREV_HASH_MISMATCH' | 'SEQ_GAP';

export type ChainResult =
  | { ok: true; count: number; lastHash: string; lastSeq: number }
  | {
      ok: false;
      /** Entries that verified before the break. */
      count: number;
      brokenAtSeq: number;
      problem: ChainProblem;
      /**
       * SEQ_GAP: the expected and found seq, as strings (brokenAtSeq is the expected one);
       * PREV_HASH_MISMATCH: the previous entry's hash and the stored prevHash;
       * HASH_MISMATCH: the recomputed hash and the stored hash.
       */
      expected: string;
      found: string;
    };

function isoOf(createdAt: Date | string): string {
  const d = createdAt instanceof Date ? createdAt : new Date(createdAt);
  const ms = d.getTime();
  if (!Number.isFinite(ms)) throw new RangeError(`audit entry createdAt is not a valid date: ${String(createdAt)}`);
  return d.toISOString();
}

/** The canonical object that is hashed (exported for diagnostics and tests). */
export function entryCore(entry: AuditEntryCore): Record<string, unknown> {
  return {
    orgId: entry.orgId,
    seq: entry.seq,
    action: entry.action,
    timerId: entry.timerId ?? null,
    contactId: entry.contactId ?? null,
    journeyId: entry.journeyId ?? null,
    campaignId: entry.campaignId ?? null,
    decision: entry.decision ?? null,
    reasonCodes: entry.reasonCodes ? [...entry.reasonCodes] : [],
    data: entry.data === undefined ? null : entry.data,
    createdAt: isoOf(entry.createdAt),
  };
}

export function entryHash(prevHash: string, entry: AuditEntryCore): string {
  return sha256(`${prevHash}\n${canonicalJson(entryCore(entry))}`);
}

/**
 * Verifies a chain one entry at a time (entries must be pushed in seq order), holding only the
 * last hash and seq. After the first break further pushes are ignored.
 */
export class ChainVerifier {
  private prevHash: string;
  private nextSeq: number;
  private count = 0;
  private failure: Extract<ChainResult, { ok: false }> | undefined;

  constructor(fromPrevHash: string = GENESIS_HASH, fromSeq = 1) {
    this.prevHash = fromPrevHash;
    this.nextSeq = fromSeq;
  }

  /** False once the chain is known to be broken (callers may stop reading). */
  get ok(): boolean {
    return this.failure === undefined;
  }

  push(entry: ChainEntry): boolean {
    if (this.failure) return false;
    if (entry.seq !== this.nextSeq) {
      return this.fail(this.nextSeq, 'SEQ_GAP', String(this.nextSeq), String(entry.seq));
    }
    if (entry.prevHash !== this.prevHash) return this.fail(entry.seq, 'PREV_HASH_MISMATCH', this.prevHash, entry.prevHash);
    const computed = entryHash(entry.prevHash, entry);
    if (computed !== entry.hash) return this.fail(entry.seq, 'HASH_MISMATCH', computed, entry.hash);
    this.prevHash = entry.hash;
    this.nextSeq = entry.seq + 1;
    this.count++;
    return true;
  }

  result(): ChainResult {
    if (this.failure) return { ...this.failure };
    return { ok: true, count: this.count, lastHash: this.prevHash, lastSeq: this.nextSeq - 1 };
  }

  private fail(brokenAtSeq: number, problem: ChainProblem, expected: string, found: string): false {
    this.failure = { ok: false, count: this.count, brokenAtSeq, problem, expected, found };
    return false;
  }
}

export function verifyChain(entries: Iterable<ChainEntry>, fromPrevHash: string = GENESIS_HASH, fromSeq = 1): ChainResult {
  const verifier = new ChainVerifier(fromPrevHash, fromSeq);
  for (const entry of entries) if (!verifier.push(entry)) break;
  return verifier.result();
}
