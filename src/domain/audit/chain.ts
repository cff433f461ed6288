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
import { hash as oneShotHash } from 'node:crypto';
import { canonicalJson, quoteString } from './canonical.ts';

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

/** The canonical JSON of an entry's core: `canonicalJson(entryCore(entry))`, written field by field in key order. */
export function canonicalCore(entry: AuditEntryCore): string {
  // A missing required field drops its key (canonical JSON skips undefined): take the general path.
  if (entry.orgId === undefined || entry.seq === undefined || entry.action === undefined) return canonicalJson(entryCore(entry));
  const s = (v: string | null | undefined) => (v === undefined || v === null ? 'null' : typeof v === 'string' ? quoteString(v) : canonicalJson(v));
  const codes = entry.reasonCodes;
  return (
    `{"action":${s(entry.action)},"campaignId":${s(entry.campaignId)},"contactId":${s(entry.contactId)}` +
    `,"createdAt":${quoteString(isoOf(entry.createdAt))},"data":${canonicalJson(entry.data === undefined ? null : entry.data)}` +
    `,"decision":${s(entry.decision)},"journeyId":${s(entry.journeyId)},"orgId":${s(entry.orgId)}` +
    `,"reasonCodes":${codes ? canonicalJson(Array.isArray(codes) ? codes : [...codes]) : '[]'},"seq":${canonicalJson(entry.seq)},"timerId":${s(entry.timerId)}}`
  );
}

/**
 * sha256(prevHash + '\n' + canonicalJson(entryCore(entry))). The definition is fixed forever:
 * existing chains must keep verifying (test/unit/audit-canonical.test.ts checks it against the
 * original formulation).
 */
export function entryHash(prevHash: string, entry: AuditEntryCore): string {
  // crypto.hash: the one-shot form (no Hash object), the same digest as createHash().update().digest().
  return oneShotHash('sha256', `${prevHash}\n${canonicalCore(entry)}`, 'hex');
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

/**
 * One contiguous run of a chain (rows with seq in some range, in seq order) verified on its own:
 * its first row's links (seq, prevHash) are taken as given and reported, everything after them
 * is checked. Several segments verified in parallel join into the result one sequential pass
 * would give (`joinSegments`).
 */
export interface ChainSegment {
  /** Rows read; 0 when the range held none. */
  readonly rows: number;
  readonly firstSeq: number | null;
  readonly firstPrevHash: string | null;
  /** ChainVerifier(firstPrevHash, firstSeq) over the segment's rows. */
  readonly result: ChainResult;
}

/** Verifies a segment one entry at a time (in seq order), like ChainVerifier. */
export class SegmentVerifier {
  private verifier: ChainVerifier | undefined;
  private rows = 0;
  private firstSeq: number | null = null;
  private firstPrevHash: string | null = null;

  /** False once the segment is known to be broken (callers may stop reading). */
  get ok(): boolean {
    return this.verifier?.ok ?? true;
  }

  push(entry: ChainEntry): boolean {
    if (!this.verifier) {
      this.verifier = new ChainVerifier(entry.prevHash, entry.seq);
      this.firstSeq = entry.seq;
      this.firstPrevHash = entry.prevHash;
    }
    if (!this.verifier.ok) return false;
    this.rows++;
    return this.verifier.push(entry);
  }

  segment(): ChainSegment {
    const result: ChainResult = this.verifier ? this.verifier.result() : { ok: true, count: 0, lastHash: GENESIS_HASH, lastSeq: 0 };
    return { rows: this.rows, firstSeq: this.firstSeq, firstPrevHash: this.firstPrevHash, result };
  }
}

/** Verifies entries as one segment (see ChainSegment). */
export function verifySegment(entries: Iterable<ChainEntry>): ChainSegment {
  const v = new SegmentVerifier();
  for (const e of entries) if (!v.push(e)) break;
  return v.segment();
}

/**
 * Joins segments (in seq order, together covering the chain) into the result of verifying the
 * whole chain in one pass: each segment's first row must follow the previous segment's last
 * (seq + 1, prevHash = its hash); the first failure wins, with the count of entries before it.
 */
export function joinSegments(segments: Iterable<ChainSegment>, fromPrevHash: string = GENESIS_HASH, fromSeq = 1): ChainResult {
  let prevHash = fromPrevHash;
  let nextSeq = fromSeq;
  let count = 0;
  for (const s of segments) {
    if (s.rows === 0 || s.firstSeq === null || s.firstPrevHash === null) continue;
    if (s.firstSeq !== nextSeq) return { ok: false, count, brokenAtSeq: nextSeq, problem: 'SEQ_GAP', expected: String(nextSeq), found: String(s.firstSeq) };
    if (s.firstPrevHash !== prevHash) return { ok: false, count, brokenAtSeq: s.firstSeq, problem: 'PREV_HASH_MISMATCH', expected: prevHash, found: s.firstPrevHash };
    if (!s.result.ok) return { ...s.result, count: count + s.result.count };
    count += s.result.count;
    prevHash = s.result.lastHash;
    nextSeq = s.result.lastSeq + 1;
  }
  return { ok: true, count, lastHash: prevHash, lastSeq: nextSeq - 1 };
}
