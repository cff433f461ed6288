/**
 * Creating timers in batches: `POST /v1/timers` (the requests that arrive together, through a
 * MicroBatcher) and `POST /v1/timers/batch` (up to 1,000 items in one request) run the same code.
 * Each item is judged and answered on its own — a timer, a replayed answer, or its own error — and
 * a batch costs one statement per kind of record, not a transaction per timer:
 *
 *   place every item (number → E.164, zip + area code → candidates; bad input is that item's error)
 *   → the items' Idempotency-Keys: stored answers are replayed (another body → IDEMPOTENCY_MISMATCH)
 *   → rounds: a contact, a number, an externalId or a key appears once per round; a later item that
 *     shares one waits for the next round, so it is handled exactly as if it came after (its
 *     contact updated by the first, its key replaying the first's answer)
 *   → per round, one transaction: contacts upserted in number order, contacts by id, every
 *     contact locked in id order (as the dispatcher locks them), the journeys, the state that can
 *     forbid a send (batch-state.ts), judgeTimer per item, the timers in one INSERT (a key stored
 *     by a concurrent request is skipped and answered with that request's answer), the keys'
 *     answers in one INSERT, and the `timer.created` audit entries staged in one INSERT — linked
 *     into the org's chain right after the commit (AuditLog.stage/link), so creations do not queue
 *     on the org's chain lock
 *   → after the commit: near-term timers handed to the queue in one call (best effort: the pump
 *     takes any left `scheduled`).
 *
 * A deadlock with another writer (a campaign chunk, an opt-out) or a unique violation from a
 * concurrent writer of the same contact rolls the round back; it is tried again (three times).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Timer } from '../../adapters/db/client.ts';
import { pgPoolOf } from '../../adapters/db/client.ts';
import * as sql from '../../adapters/db/create-queries.ts';
import { lockContacts } from '../../adapters/db/dispatch-queries.ts';
import { inTransaction, isDeadlock, sqlPool, type ClientPool, type Queryable } from '../../adapters/db/sql.ts';
import type { AuditInput } from '../../adapters/audit/audit-log.ts';
import type { Channel, Purpose } from '../../domain/calendar/schema.ts';
import type { Policy } from '../../domain/decide.ts';
import { AppError } from '../../domain/errors.ts';
import { parsePhone, type Location } from '../../domain/location/resolve.ts';
import { judgeTimer, type TimerStatus, type Verdict } from '../../domain/timer-rules.ts';
import { parseInstant } from '../../domain/time.ts';
import { MicroBatcher, type BatchAnswer } from '../micro-batcher.ts';
import { locateContact } from '../contacts.ts';
import { loadOrgSettings, type OrgSettings } from '../org-settings.ts';
import type { QueuedTimer } from '../ports.ts';
import { loadBatchStates } from './batch-state.ts';
import { smsSegmentCount } from '../../domain/sms-segments.ts';
import { areaCodeOf, phoneHash, type EngineContext } from './context.ts';
import { enqueueNearTerm } from './pump.ts';
import { decisionRecord, linkStagedSoon, reasonCodes, timerView } from './records.ts';
import type { CreateTimerInput, TimerView } from './schemas.ts';

export interface CreateTimerResult {
  status: 201 | 200;
  body: TimerView;
  /** True when an Idempotency-Key replayed an earlier answer. */
  replayed: boolean;
}

export interface CreateRequest {
  orgId: string;
  input: CreateTimerInput;
  idempotencyKey?: string | undefined;
  /** Where the item is in the request, for error details (default `body`; a batch item `body.items[3]`). */
  path?: string;
}

export interface CreatorOptions {
  /** Most `POST /v1/timers` requests judged in one transaction. Default 100. */
  batchSize?: number;
  /** Transactions of single requests at the same time. Default 2 (measured best of 1, 2, 4, 6 and 8 with 50 clients: larger batches, fewer round trips per timer). */
  concurrentBatches?: number;
}

/** SQLSTATE unique_violation. */
const UNIQUE_VIOLATION = '23505';
const TRIES = 3;
/** A round with this many entries for one org appends them to its chain in the transaction instead of staging them. */
const DIRECT_APPEND_FROM = 200;

function requestHash(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex');
}

function instant(value: string | undefined, field: string, prefix: string): number | undefined {
  if (value === undefined) return undefined;
  const t = parseInstant(value);
  if (t === undefined) throw new AppError('INVALID_INSTANT', `${field} "${value}" is not an ISO-8601 instant with Z or an offset`, [{ path: `${prefix}.${field}`, message: 'ISO-8601 instant with Z or an offset' }]);
  return t;
}

function statusOf(v: Verdict): TimerStatus {
  return v.kind === 'suppress' ? 'suppressed' : v.kind === 'cancel' ? 'cancelled' : 'scheduled';
}

/** An item once its input is read: instants parsed, the number placed. */
interface Prepared {
  k: number;
  req: CreateRequest;
  hash: string;
  at: number;
  notAfter: number | undefined;
  /** Items naming `contact`: the number and where it is. */
  given?: { e164: string; location: Location; externalId: string | null };
}

interface RoundOutcome {
  /** Items answered (created, or their own error). */
  answered: Map<number, BatchAnswer<CreateTimerResult>>;
  /** Items whose key a concurrent request stored first: answered from the stored answer. */
  lost: Prepared[];
  /** Items whose contact (named by id) was also another item's in this round: next round. */
  later: Prepared[];
  nearTerm: QueuedTimer[];
  staged: Set<string>;
}

export class TimerCreator {
  private readonly pool: ClientPool & Queryable;
  private readonly single: MicroBatcher<CreateRequest, CreateTimerResult>;

  constructor(
    private readonly ctx: EngineContext,
    opts: CreatorOptions = {},
  ) {
    const pool = pgPoolOf(ctx.prisma);
    if (!pool) throw new Error('timer creation needs a client made by createPrisma (its pg pool runs the batched SQL)');
    this.pool = sqlPool(pool);
    this.single = new MicroBatcher((items) => this.createMany(items), { maxBatch: opts.batchSize ?? 100, maxConcurrent: opts.concurrentBatches ?? 2 });
  }

  /** One timer (`POST /v1/timers`): judged with the requests that arrive at the same moment. */
  create(req: CreateRequest): Promise<CreateTimerResult> {
    return this.single.submit(req);
  }

  /**
   * Many timers, each answered on its own: a result, or that item's error (an AppError). A failure
   * that is not an item's (Postgres unreachable) throws: items of earlier rounds may be stored, and
   * a retry with the same keys replays them.
   */
  async createMany(reqs: readonly CreateRequest[]): Promise<Array<BatchAnswer<CreateTimerResult>>> {
    const answers: Array<BatchAnswer<CreateTimerResult>> = new Array(reqs.length);
    let pending: Prepared[] = [];
    reqs.forEach((req, k) => {
      try {
        pending.push(this.prepare(req, k, req.path ?? 'body'));
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        answers[k] = { error: err };
      }
    });
    while (pending.length > 0) {
      const { round, rest } = splitRound(pending);
      const out = await this.runRound(round);
      for (const [k, a] of out.answered) answers[k] = a;
      pending = [...out.later, ...rest].sort((a, b) => a.k - b.k);
    }
    return answers;
  }

  private prepare(req: CreateRequest, k: number, prefix: string): Prepared {
    const { input } = req;
    const at = instant(input.at, 'at', prefix)!;
    const notAfter = instant(input.notAfter, 'notAfter', prefix);
    const p: Prepared = { k, req, hash: requestHash(input), at, notAfter };
    if (input.contact) {
      const phone = parsePhone(input.contact.phone);
      if ('code' in phone) throw new AppError('INVALID_PHONE', phone.message, [{ path: `${prefix}.contact.phone`, message: phone.message }]);
      p.given = { e164: phone.e164, location: locateContact(phone.e164, input.contact.zip), externalId: input.contact.externalId ?? null };
    }
    return p;
  }

  private async runRound(round: readonly Prepared[]): Promise<RoundOutcome> {
    const { ctx } = this;
    const answered = new Map<number, BatchAnswer<CreateTimerResult>>();
    // Replays first: a key seen before answers as it did (no transaction needed).
    const fresh = await this.replayKnown(round, answered);
    const out: RoundOutcome = { answered, lost: [], later: [], nearTerm: [], staged: new Set() };
    if (fresh.length === 0) return out;

    const now = ctx.clock.now();
    const orgIds = [...new Set(fresh.map((p) => p.req.orgId))];
    const settings = new Map(await Promise.all(orgIds.map(async (o) => [o, await loadOrgSettings(ctx.prisma, o, now)] as const)));
    for (let tries = 1; ; tries++) {
      try {
        const done = await inTransaction(this.pool, (db) => this.createLocked(db, fresh, settings, now));
        for (const orgId of done.staged) linkStagedSoon(ctx, orgId);
        if (done.nearTerm.length > 0) {
          await enqueueNearTerm(ctx, done.nearTerm, now).catch((err: Error) => ctx.log.warn({ timers: done.nearTerm.length, err: err.message }, 'enqueue after create failed; the pump will retry'));
        }
        for (const [k, a] of done.answered) answered.set(k, a);
        out.later = done.later;
        // A concurrent request stored the key first and has committed (the insert waited for it): its answer.
        if (done.lost.length > 0) {
          const left = await this.replayKnown(done.lost, answered);
          for (const p of left) answered.set(p.k, { error: new AppError('CONFLICT', 'a concurrent request with this Idempotency-Key did not finish; try again') });
        }
        return out;
      } catch (err) {
        const code = (err as { code?: unknown } | null)?.code;
        if (tries >= TRIES || !(isDeadlock(err) || code === UNIQUE_VIOLATION)) throw err;
      }
    }
  }

  /** Answers the items whose key has a stored answer; returns the others. */
  private async replayKnown(items: readonly Prepared[], answered: Map<number, BatchAnswer<CreateTimerResult>>): Promise<Prepared[]> {
    const keyed = items.filter((p) => p.req.idempotencyKey !== undefined);
    if (keyed.length === 0) return [...items];
    const records = new Map((await sql.idempotencyRecords(this.pool, keyed.map((p) => ({ orgId: p.req.orgId, key: p.req.idempotencyKey! })))).map((r) => [`${r.orgId}|${r.key}`, r]));
    return items.filter((p) => {
      const rec = p.req.idempotencyKey === undefined ? undefined : records.get(`${p.req.orgId}|${p.req.idempotencyKey}`);
      if (!rec) return true;
      answered.set(
        p.k,
        rec.requestHash === p.hash
          ? { ok: { status: rec.statusCode as 201, body: rec.response as TimerView, replayed: true } }
          : { error: new AppError('IDEMPOTENCY_MISMATCH', 'this Idempotency-Key was used with a different request body') },
      );
      return false;
    });
  }

  private async createLocked(
    db: Queryable,
    items: readonly Prepared[],
    settings: ReadonlyMap<string, OrgSettings>,
    now: number,
  ): Promise<Omit<RoundOutcome, 'answered'> & { answered: Map<number, BatchAnswer<CreateTimerResult>> }> {
    const { ctx } = this;
    const answered = new Map<number, BatchAnswer<CreateTimerResult>>();
    const fail = (p: Prepared, err: AppError): true => (answered.set(p.k, { error: err }), true);

    // 1. Journeys: the org's, the item's contact's, still active (checked again under the locks: judgeTimer sees the journey's state).
    const journeys = new Map((await sql.journeysByIds(db, [...new Set(items.flatMap((p) => (p.req.input.journeyId ? [p.req.input.journeyId] : [])))])).map((j) => [j.id, j]));
    const journeyOk = (p: Prepared): boolean => {
      const jid = p.req.input.journeyId;
      if (!jid) return true;
      const j = journeys.get(jid);
      if (!j || j.orgId !== p.req.orgId) return !fail(p, new AppError('NOT_FOUND', `journey ${jid} not found`));
      if (p.given ? j.phoneE164 !== p.given.e164 : j.contactId !== p.req.input.contactId) return !fail(p, new AppError('CONFLICT', 'the journey belongs to another contact'));
      if (j.status !== 'active' || j.expiresAt.getTime() <= now) {
        const status = j.status === 'ended' ? 'ended' : 'expired';
        return !fail(p, new AppError('CONFLICT', `the journey has ${status}`, { journeyStatus: status }));
      }
      return true;
    };
    const checked = items.filter(journeyOk);

    // 2. Contacts: upserted by number, or named by id (an item refused above writes nothing).
    const byNumber = checked.filter((p) => p.given);
    const upserted = await sql.upsertContacts(
      db,
      byNumber.map((p) => {
        const { e164, location, externalId } = p.given!;
        return {
          orgId: p.req.orgId,
          phoneE164: e164,
          phoneHash: phoneHash(e164),
          zip: location.zip ?? null,
          state: location.state ?? null,
          candidates: location.candidates,
          issues: location.issues,
          externalId,
        };
      }),
    );
    const byId = new Map((await sql.contactsByIds(db, checked.flatMap((p) => (p.req.input.contactId ? [p.req.input.contactId] : [])))).map((c) => [c.id, c]));
    const contactOf = new Map<number, { id: string; phoneE164: string; zip: string | null; location: Location }>();
    const later: Prepared[] = [];
    const taken = new Set<string>();
    const live: Prepared[] = [];
    for (const p of checked) {
      const { orgId, input } = p.req;
      let c: { id: string; phoneE164: string; zip: string | null; location: Location } | undefined;
      if (p.given) {
        const key = `${orgId}|${p.given.e164}`;
        if (upserted.conflicts.has(key)) {
          fail(p, new AppError('CONFLICT', 'externalId already belongs to a contact with another phone number'));
          continue;
        }
        const id = upserted.ids.get(key);
        if (!id) throw new Error(`contact upsert returned no id for an item of org ${orgId}`);
        c = { id, phoneE164: p.given.e164, zip: p.given.location.zip ?? null, location: p.given.location };
      } else {
        const row = byId.get(input.contactId!);
        if (!row || row.orgId !== orgId) {
          fail(p, new AppError('NOT_FOUND', `contact ${input.contactId} not found`));
          continue;
        }
        try {
          c = { id: row.id, phoneE164: row.phoneE164, zip: row.zip, location: locateContact(row.phoneE164, row.zip ?? undefined) };
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          fail(p, err);
          continue;
        }
      }
      // The same contact by id and by number in one round: the later item goes to the next round.
      if (taken.has(c.id)) later.push(p);
      else {
        taken.add(c.id);
        contactOf.set(p.k, c);
        live.push(p);
      }
    }
    // 3. Every contact's lock (the journey, consent and history below cannot change until the timers
    // are stored): the upsert locked the contacts named by number (ON CONFLICT DO UPDATE locks the
    // row it conflicts with, updated or not); those named by id are locked here, in id order.
    const upsertedIds = new Set(upserted.ids.values());
    await lockContacts(db, [...taken].filter((id) => !upsertedIds.has(id)).sort());

    // 4. The state that can forbid a send, for all of them; judged in memory.
    const keyOf = (p: Prepared) => ({ orgId: p.req.orgId, contactId: contactOf.get(p.k)!.id, phoneE164: contactOf.get(p.k)!.phoneE164, journeyId: p.req.input.journeyId ?? null });
    const states = await loadBatchStates(db, live.map(keyOf), settings, now, ctx.settings.federalDnc);
    const set = ctx.calendars();
    const rows: sql.NewTimer[] = [];
    const audit = new Map<string, AuditInput & { orgId: string }>();
    const itemOf = new Map<string, Prepared>();
    for (const p of live) {
      const { orgId, input } = p.req;
      const c = contactOf.get(p.k)!;
      const s = settings.get(orgId)!;
      const journeyId = input.journeyId ?? null;
      const verdict = judgeTimer(
        set,
        {
          location: c.location,
          channel: input.channel as Channel,
          purpose: input.purpose as Purpose,
          at: p.at,
          now,
          policy: input.policy as Policy,
          ...(p.notAfter === undefined ? {} : { notAfter: p.notAfter }),
          ...(input.subject ? { subject: input.subject } : {}),
          ...(s.calendar ? { orgCalendar: s.calendar } : {}),
          history: states.history.get(c.id) ?? [],
        },
        states.of(keyOf(p)),
        'create',
      );
      const record = decisionRecord(verdict, set.version, c.location.candidates, 'create', now);
      ctx.metrics?.decision('create', verdict.kind === 'suppress' ? 'suppress' : record.decision, record.reasons[0]?.code);
      const status = statusOf(verdict);
      const sendAt = verdict.kind === 'send' || verdict.kind === 'reschedule' ? verdict.sendAt : null;
      const id = randomUUID();
      itemOf.set(id, p);
      rows.push({
        id,
        orgId,
        contactId: c.id,
        journeyId,
        channel: input.channel,
        purpose: input.purpose,
        policy: input.policy,
        subject: input.subject ?? null,
        requestedAt: new Date(p.at),
        sendAt: sendAt === null ? null : new Date(sendAt),
        notAfter: p.notAfter === undefined ? null : new Date(p.notAfter),
        status,
        payload: input.action ? { action: input.action } : input.channel === 'sms' ? { body: input.message!.body } : { ...input.voice! },
        segments: input.action ? (input.channel === 'sms' ? 1 : null) : input.channel === 'sms' ? smsSegmentCount(input.message!.body).segments : null,
        idempotencyKey: p.req.idempotencyKey ?? null,
        calendarVersion: record.calendarVersion,
        decision: record,
      });
      audit.set(id, {
        orgId,
        action: 'timer.created',
        createdAt: new Date(now),
        timerId: id,
        contactId: c.id,
        journeyId,
        decision: record.decision,
        reasonCodes: reasonCodes(record.reasons),
        data: {
          status,
          inputs: {
            zip: c.zip,
            areaCode: areaCodeOf(c.phoneE164),
            channel: input.channel,
            purpose: input.purpose,
            policy: input.policy,
            requestedAt: input.at,
            notAfter: input.notAfter ?? null,
            subject: input.subject ?? null,
          },
          decision: record,
        },
      });
    }

    // 5. The timers, the keys' answers and the audit entries: one statement each.
    const inserted = await sql.insertTimers(db, rows);
    const stored = new Set(inserted.map((t) => t.id));
    const lost = rows.filter((r) => !stored.has(r.id)).map((r) => itemOf.get(r.id)!);
    const records: sql.IdempotencyRow[] = [];
    const nearTerm: QueuedTimer[] = [];
    for (const t of inserted) {
      const p = itemOf.get(t.id)!;
      const body = timerView(t as unknown as Timer);
      answered.set(p.k, { ok: { status: 201, body, replayed: false } });
      if (p.req.idempotencyKey !== undefined) records.push({ orgId: t.orgId, key: p.req.idempotencyKey, requestHash: p.hash, statusCode: 201, response: body });
      if (t.status === 'scheduled' && t.sendAt && t.sendAt.getTime() <= now + ctx.settings.horizonMs) nearTerm.push({ timerId: t.id, sendAt: t.sendAt.getTime() });
    }
    await sql.insertIdempotencyRecords(db, records);
    // The audit entries, last: an org with many in this round appends them to its chain now (its
    // chain lock held only to the commit; one write per entry instead of staging and linking); a
    // few are staged and linked right after the commit, so small rounds never queue on the lock.
    const entries = inserted.map((t) => audit.get(t.id)!);
    const byOrg = new Map<string, Array<AuditInput & { orgId: string }>>();
    for (const en of entries) {
      const list = byOrg.get(en.orgId);
      if (list) list.push(en);
      else byOrg.set(en.orgId, [en]);
    }
    const staged = new Set<string>();
    const toStage: Array<AuditInput & { orgId: string }> = [];
    for (const [orgId, list] of byOrg) {
      if (list.length < DIRECT_APPEND_FROM) {
        toStage.push(...list);
        staged.add(orgId);
      }
    }
    await ctx.audit.stageVia(db, toStage);
    for (const [orgId, list] of byOrg) if (!staged.has(orgId)) await ctx.audit.appendVia(db, orgId, list);
    return { answered, lost, later, nearTerm, staged };
  }
}

/**
 * The items of one round: each contact (by id), number, externalId and Idempotency-Key of an org
 * at most once, in request order; the rest wait for the next round.
 */
function splitRound(items: readonly Prepared[]): { round: Prepared[]; rest: Prepared[] } {
  const used = new Set<string>();
  const round: Prepared[] = [];
  const rest: Prepared[] = [];
  for (const p of items) {
    const { orgId, input, idempotencyKey } = p.req;
    const keys = [
      p.given ? `n|${orgId}|${p.given.e164}` : `c|${input.contactId}`,
      ...(p.given?.externalId ? [`x|${orgId}|${p.given.externalId}`] : []),
      ...(idempotencyKey !== undefined ? [`k|${orgId}|${idempotencyKey}`] : []),
    ];
    if (keys.some((k) => used.has(k))) rest.push(p);
    else {
      for (const k of keys) used.add(k);
      round.push(p);
    }
  }
  return { round, rest };
}
