// AuditLog over a real Postgres: batches, concurrent appenders from separate clients,
// round-tripping of createdAt/data, and detection of rows tampered with behind the trigger.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, AuditOrgNotFoundError, type AuditInput } from '../../src/adapters/audit/audit-log.ts';
import { createPrisma, type Db } from '../../src/adapters/db/client.ts';
import { GENESIS_HASH, verifyChain } from '../../src/domain/audit/chain.ts';
import { freshDatabase } from '../helpers/db.ts';

let db: Awaited<ReturnType<typeof freshDatabase>>;
let prisma: Db;
const extraClients: Db[] = [];
const T0 = Date.UTC(2026, 2, 1, 12, 0, 0, 123);

beforeAll(async () => {
  db = await freshDatabase();
  prisma = createPrisma(db.url, { maxConnections: 4 });
});

afterAll(async () => {
  await Promise.all(extraClients.map((c) => c.disconnect()));
  await prisma?.disconnect();
  await db?.drop();
});

let orgCounter = 0;
async function newOrg(): Promise<string> {
  const org = await prisma.org.create({ data: { name: `audit-org-${++orgCounter}-${Math.random().toString(36).slice(2)}` } });
  return org.id;
}

function inputs(n: number, tag: string, offsetMs = 0): AuditInput[] {
  return Array.from({ length: n }, (_, i) => ({
    action: `${tag}.action`,
    createdAt: new Date(T0 + offsetMs + i * 7),
    decision: i % 2 ? 'ALLOW' : null,
    reasonCodes: i % 2 ? ['R1', `R${i}`] : [],
    data: { tag, i, nested: { z: [1, 2.5, 'x'], a: null }, when: new Date(T0) },
  }));
}

/** Runs `sql` with the append-only triggers disabled (test-only tampering). */
async function tamper(...statements: string[]): Promise<void> {
  await prisma.$executeRawUnsafe('ALTER TABLE audit_entries DISABLE TRIGGER USER');
  try {
    for (const sql of statements) await prisma.$executeRawUnsafe(sql);
  } finally {
    await prisma.$executeRawUnsafe('ALTER TABLE audit_entries ENABLE TRIGGER USER');
  }
}

describe('AuditLog', () => {
  it('appends batches onto one chain and verifies it', async () => {
    const orgId = await newOrg();
    const log = new AuditLog(prisma);
    expect(await log.verify(orgId)).toEqual({ ok: true, count: 0, lastHash: GENESIS_HASH, lastSeq: 0 });

    const first = await log.append(orgId, inputs(3, 'a'));
    expect(first.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(first[0]?.prevHash).toBe(GENESIS_HASH);
    const second = await log.append(orgId, inputs(4, 'b', 1000));
    expect(second.map((e) => e.seq)).toEqual([4, 5, 6, 7]);
    expect(second[0]?.prevHash).toBe(first[2]?.hash);
    expect(await log.append(orgId, [])).toEqual([]);

    const r = await log.verify(orgId);
    expect(r).toEqual({ ok: true, count: 7, lastHash: second[3]?.hash, lastSeq: 7 });

    // What is stored is what was hashed: createdAt to the millisecond, data as JSON.
    const rows = await prisma.auditEntry.findMany({ where: { orgId }, orderBy: { seq: 'asc' } });
    expect(rows[0]?.createdAt.toISOString()).toBe(new Date(T0).toISOString());
    expect(rows[1]?.data).toEqual({ tag: 'a', i: 1, nested: { z: [1, 2.5, 'x'], a: null }, when: new Date(T0).toISOString() });
    expect(verifyChain(rows).ok).toBe(true);
  });

  it('keeps chains of different orgs independent', async () => {
    const [a, b] = [await newOrg(), await newOrg()];
    const log = new AuditLog(prisma);
    await log.append(a, inputs(2, 'a'));
    await log.append(b, inputs(5, 'b'));
    await log.append(a, inputs(2, 'a2'));
    expect(await log.verify(a)).toMatchObject({ ok: true, count: 4, lastSeq: 4 });
    expect(await log.verify(b)).toMatchObject({ ok: true, count: 5, lastSeq: 5 });
  });

  it('pages through the chain in verify', async () => {
    const orgId = await newOrg();
    const log = new AuditLog(prisma, { pageSize: 7 });
    await log.append(orgId, inputs(30, 'p'));
    await log.append(orgId, inputs(5, 'q'));
    expect(await log.verify(orgId)).toMatchObject({ ok: true, count: 35, lastSeq: 35 });
  });

  it('appends inside a caller transaction and rolls back with it', async () => {
    const orgId = await newOrg();
    const log = new AuditLog(prisma);
    await prisma.$transaction((tx) => log.append(orgId, inputs(2, 'tx'), tx));
    await expect(
      prisma.$transaction(async (tx) => {
        await log.append(orgId, inputs(2, 'rolled-back'), tx);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await log.append(orgId, inputs(1, 'after'));
    expect(await log.verify(orgId)).toMatchObject({ ok: true, count: 3, lastSeq: 3 });
  });

  it('rejects an unknown org and an invalid createdAt', async () => {
    const log = new AuditLog(prisma);
    await expect(log.append('99999999-9999-4999-8999-999999999999', inputs(1, 'x'))).rejects.toBeInstanceOf(AuditOrgNotFoundError);
    const orgId = await newOrg();
    await expect(log.append(orgId, [{ action: 'x', createdAt: new Date(NaN) }])).rejects.toThrow(RangeError);
    expect(await log.verify(orgId)).toMatchObject({ ok: true, count: 0 });
  });

  it('8 concurrent appenders from separate clients never fork the chain or duplicate a seq', async () => {
    const orgId = await newOrg();
    const clients = Array.from({ length: 8 }, () => createPrisma(db.url, { maxConnections: 2 }));
    extraClients.push(...clients);
    await Promise.all(clients.map((c) => c.$queryRaw`SELECT 1`));
    const results = await Promise.all(clients.map((c, k) => new AuditLog(c).append(orgId, inputs(25, `w${k}`, k * 10_000))));

    const seqs = results.flat().map((e) => e.seq).sort((x, y) => x - y);
    expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    // Each batch is contiguous (one transaction, one lock).
    for (const batch of results) {
      const s = batch.map((e) => e.seq);
      expect(s).toEqual(Array.from({ length: 25 }, (_, i) => (s[0] ?? 0) + i));
    }
    const stored = await prisma.auditEntry.findMany({ where: { orgId }, select: { seq: true }, orderBy: { seq: 'asc' } });
    expect(stored.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(await new AuditLog(prisma, { pageSize: 64 }).verify(orgId)).toMatchObject({ ok: true, count: 200, lastSeq: 200 });
  });

  it('the append-only trigger rejects UPDATE and DELETE', async () => {
    const orgId = await newOrg();
    await new AuditLog(prisma).append(orgId, inputs(1, 't'));
    await expect(prisma.$executeRaw`UPDATE audit_entries SET action = 'x' WHERE org_id = ${orgId}::uuid`).rejects.toThrow(/append-only/);
    await expect(prisma.$executeRaw`DELETE FROM audit_entries WHERE org_id = ${orgId}::uuid`).rejects.toThrow(/append-only/);
  });

  it('detects an edited row as HASH_MISMATCH at that seq', async () => {
    const orgId = await newOrg();
    const log = new AuditLog(prisma, { pageSize: 4 });
    await log.append(orgId, inputs(10, 'e'));
    await tamper(`UPDATE audit_entries SET data = jsonb_set(data, '{i}', '999') WHERE org_id = '${orgId}' AND seq = 6`);
    expect(await log.verify(orgId)).toMatchObject({ ok: false, count: 5, brokenAtSeq: 6, problem: 'HASH_MISMATCH' });
  });

  it('detects an edited createdAt as HASH_MISMATCH', async () => {
    const orgId = await newOrg();
    const log = new AuditLog(prisma);
    await log.append(orgId, inputs(5, 'c'));
    await tamper(`UPDATE audit_entries SET created_at = created_at + interval '1 millisecond' WHERE org_id = '${orgId}' AND seq = 2`);
    expect(await log.verify(orgId)).toMatchObject({ ok: false, count: 1, brokenAtSeq: 2, problem: 'HASH_MISMATCH' });
  });

  it('detects a deleted row as SEQ_GAP', async () => {
    const orgId = await newOrg();
    const log = new AuditLog(prisma, { pageSize: 3 });
    await log.append(orgId, inputs(10, 'd'));
    await tamper(`DELETE FROM audit_entries WHERE org_id = '${orgId}' AND seq = 4`);
    expect(await log.verify(orgId)).toEqual({ ok: false, count: 3, brokenAtSeq: 4, problem: 'SEQ_GAP', expected: '4', found: '5' });
  });

  it('detects two rows whose seq values were swapped', async () => {
    const orgId = await newOrg();
    const log = new AuditLog(prisma);
    await log.append(orgId, inputs(6, 's'));
    const where = `WHERE org_id = '${orgId}'`;
    await tamper(
      `UPDATE audit_entries SET seq = -3 ${where} AND seq = 3`,
      `UPDATE audit_entries SET seq = 3 ${where} AND seq = 4`,
      `UPDATE audit_entries SET seq = 4 ${where} AND seq = -3`,
    );
    expect(await log.verify(orgId)).toMatchObject({ ok: false, count: 2, brokenAtSeq: 3 });
  });
});

describe('staged entries (AuditLog.stage + link)', () => {
  const chainOf = (orgId: string) => prisma.auditEntry.findMany({ where: { orgId }, orderBy: { seq: 'asc' }, select: { seq: true, action: true, data: true, createdAt: true, reasonCodes: true, decision: true } });
  const pendingOf = (orgId: string) => prisma.auditPending.count({ where: { orgId } });

  it('are in no chain until linked, then join it in staging order with what was staged', async () => {
    const orgId = await newOrg();
    const log = new AuditLog(prisma);
    await log.append(orgId, inputs(2, 'before'));
    await prisma.$transaction((tx) => log.stage(orgId, inputs(3, 'staged', 1000), tx));
    await prisma.$transaction((tx) => log.stage(orgId, inputs(2, 'staged-again', 2000), tx));
    expect((await chainOf(orgId)).map((e) => e.action)).toEqual(['before.action', 'before.action']);
    expect(await pendingOf(orgId)).toBe(5);

    await log.link(orgId);
    const chain = await chainOf(orgId);
    expect(chain.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(chain.slice(2).map((e) => (e.data as { tag: string; i: number }).tag + (e.data as { i: number }).i)).toEqual(['staged0', 'staged1', 'staged2', 'staged-again0', 'staged-again1']);
    // The same values as an append would store (data normalised as JSON, ms-precision time, codes).
    const expected = inputs(3, 'staged', 1000);
    expect(chain[3]).toMatchObject({ decision: 'ALLOW', reasonCodes: ['R1', 'R1'], createdAt: expected[1]!.createdAt, data: JSON.parse(JSON.stringify(expected[1]!.data)) as unknown });
    expect(await pendingOf(orgId)).toBe(0);
    expect(await log.verify(orgId)).toMatchObject({ ok: true, count: 7, lastSeq: 7 });
  });

  it('link in staging order across a change in the ids\' number of digits (ids were once sorted as text: 10 before 9)', async () => {
    const orgId = await newOrg();
    const log = new AuditLog(prisma);
    const [row] = await prisma.$queryRaw<Array<{ n: bigint }>>`SELECT nextval(pg_get_serial_sequence('audit_pending', 'id')) AS n`;
    const boundary = 10 ** String(row!.n).length; // the next id with one more digit
    await prisma.$queryRaw`SELECT setval(pg_get_serial_sequence('audit_pending', 'id'), ${boundary - 4})`;
    for (let i = 0; i < 8; i++) await prisma.$transaction((tx) => log.stage(orgId, inputs(1, `s${i}-`), tx));
    await log.link(orgId);
    expect((await chainOf(orgId)).map((e) => (e.data as { tag: string }).tag)).toEqual(['s0-', 's1-', 's2-', 's3-', 's4-', 's5-', 's6-', 's7-']);
    expect(await log.verify(orgId)).toMatchObject({ ok: true, count: 8 });
  });

  it('a staging transaction that rolls back leaves nothing; append links what is staged first', async () => {
    const orgId = await newOrg();
    const log = new AuditLog(prisma);
    await expect(
      prisma.$transaction(async (tx) => {
        await log.stage(orgId, inputs(2, 'rolled-back'), tx);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await prisma.$transaction((tx) => log.stage(orgId, inputs(1, 'claimed'), tx));
    // Not linked (the process "died"): the next append puts it before its own entries.
    const appended = await log.append(orgId, inputs(1, 'cancelled', 500));
    expect(appended.map((e) => e.seq)).toEqual([2]);
    expect((await chainOf(orgId)).map((e) => e.action)).toEqual(['claimed.action', 'cancelled.action']);
    expect(await log.verify(orgId)).toMatchObject({ ok: true, count: 2 });
  });

  it('verify, and linkAllPending (the reconciler), link what a crash left staged', async () => {
    const a = await newOrg();
    const b = await newOrg();
    const log = new AuditLog(prisma);
    await prisma.$transaction((tx) => log.stage(a, inputs(3, 'a'), tx));
    await prisma.$transaction((tx) => log.stage(b, inputs(4, 'b'), tx));
    expect(await log.verify(a)).toMatchObject({ ok: true, count: 3 });
    expect(await pendingOf(b)).toBe(4);
    expect(await log.linkAllPending()).toBe(1);
    expect(await pendingOf(b)).toBe(0);
    expect(await log.verify(b)).toMatchObject({ ok: true, count: 4 });
    expect(await log.linkAllPending()).toBe(0);
  });

  it('many stagers and appenders in 4 processes at once: one chain, each stager\u2019s entries in its order, nothing lost', async () => {
    const orgId = await newOrg();
    const clients = Array.from({ length: 4 }, () => createPrisma(db.url, { maxConnections: 4 }));
    extraClients.push(...clients);
    const logs = clients.map((c) => new AuditLog(c));
    // 4 "processes" × 10 timers, each timer: claimed → sent → delivered, staged in 3 transactions, linked after each
    // (link requests pile up and are served together), plus a synchronous append now and then.
    await Promise.all(
      clients.flatMap((c, k) =>
        Array.from({ length: 10 }, async (_, t) => {
          for (const step of ['claimed', 'sent', 'delivered']) {
            await c.$transaction((tx) => logs[k]!.stage(orgId, [{ action: `timer.${step}`, createdAt: new Date(T0), timerId: null, data: { timer: `${k}-${t}`, step } }], tx));
            await logs[k]!.link(orgId);
          }
          if (t % 3 === 0) await logs[k]!.append(orgId, [{ action: 'other', createdAt: new Date(T0), data: { k, t } }]);
        }),
      ),
    );
    expect(await pendingOf(orgId)).toBe(0);
    const chain = await chainOf(orgId);
    expect(chain.map((e) => e.seq)).toEqual(Array.from({ length: 4 * 10 * 3 + 4 * 4 }, (_, i) => i + 1));
    const byTimer = new Map<string, string[]>();
    for (const e of chain) {
      const d = e.data as { timer?: string; step?: string };
      if (d.timer) byTimer.set(d.timer, [...(byTimer.get(d.timer) ?? []), d.step!]);
    }
    expect(byTimer.size).toBe(40);
    for (const steps of byTimer.values()) expect(steps).toEqual(['claimed', 'sent', 'delivered']);
    expect(await verifyPaged(orgId)).toMatchObject({ ok: true, count: 136, lastSeq: 136 });
  });

  const verifyPaged = (orgId: string) => new AuditLog(prisma, { pageSize: 50 }).verify(orgId);
});
