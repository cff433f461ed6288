/** `tcpa keys create`, `tcpa audit verify` and `tcpa emulator` as a user runs them: child processes. */
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/adapters/audit/audit-log.ts';
import { authenticateApiKey } from '../../src/adapters/auth/api-keys.ts';
import { createPrisma, type Db } from '../../src/adapters/db/client.ts';
import { createTwilioClient } from '../../src/adapters/twilio/client.ts';
import { freshDatabase } from '../helpers/db.ts';

const BIN = join(import.meta.dirname, '../../bin/tcpa.mjs');
/** Each CLI run compiles and loads the adapters (~2-4 s on a busy machine); some tests run three. */
const SLOW = 90_000;

let db: Awaited<ReturnType<typeof freshDatabase>>;
let prisma: Db;

beforeAll(async () => {
  db = await freshDatabase();
  prisma = createPrisma(db.url, { maxConnections: 2 });
});

afterAll(async () => {
  await prisma?.disconnect();
  await db?.drop();
});

function tcpa(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, DATABASE_URL: db.url, ...env } });
  const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code: r.status, lines, json: lines[0], stderr: r.stderr };
}

describe('tcpa keys create', () => {
  it('creates the org and a key; a second run reuses the org with a new key', async () => {
    const first = tcpa(['keys', 'create', '--org', 'acme']);
    expect(first.code).toBe(0);
    expect(first.lines).toHaveLength(1);
    expect(first.json).toEqual({ orgId: expect.any(String), keyId: expect.any(String), key: expect.stringMatching(/^tcpa_/), role: 'admin' });

    const second = tcpa(['keys', 'create', '--org', 'acme', '--role', 'auditor', '--name', 'ci']);
    expect(second.code).toBe(0);
    expect(second.json!.orgId).toBe(first.json!.orgId);
    expect(second.json!.key).not.toBe(first.json!.key);
    expect(second.json!.role).toBe('auditor');

    expect(await authenticateApiKey(prisma, first.json!.key as string)).toEqual({ orgId: first.json!.orgId, keyId: first.json!.keyId, role: 'admin' });
    expect(await prisma.apiKey.findUnique({ where: { id: second.json!.keyId as string }, select: { name: true } })).toEqual({ name: 'ci' });
  }, SLOW);

  it('rejects an unknown role with exit 2 and a JSON error', () => {
    const r = tcpa(['keys', 'create', '--org', 'acme', '--role', 'root']);
    expect(r.code).toBe(2);
    expect(r.json).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
  }, SLOW);
});

describe('tcpa audit verify', () => {
  it('ok on an empty chain, then exit 1 once an entry is tampered with', async () => {
    const org = await prisma.org.create({ data: { name: 'audited' } });
    const empty = tcpa(['audit', 'verify', '--org', org.id]);
    expect(empty.code).toBe(0);
    expect(empty.json).toMatchObject({ ok: true, count: 0 });

    await new AuditLog(prisma).append(org.id, [
      { action: 'timer.created', createdAt: new Date('2026-03-01T12:00:00Z'), data: { n: 1 } },
      { action: 'timer.sent', createdAt: new Date('2026-03-01T12:01:00Z'), decision: 'send', data: { n: 2 } },
    ]);
    const intact = tcpa(['audit', 'verify', '--org', 'audited']); // by name
    expect(intact.code).toBe(0);
    expect(intact.json).toMatchObject({ ok: true, count: 2, lastSeq: 2 });

    // A DBA with the triggers off can edit the row; the chain shows it.
    await prisma.$executeRawUnsafe('ALTER TABLE audit_entries DISABLE TRIGGER USER');
    try {
      await prisma.$executeRaw`UPDATE audit_entries SET decision = 'cancel' WHERE org_id = ${org.id}::uuid AND seq = 2`;
    } finally {
      await prisma.$executeRawUnsafe('ALTER TABLE audit_entries ENABLE TRIGGER USER');
    }
    const broken = tcpa(['audit', 'verify', '--org', org.id]);
    expect(broken.code).toBe(1);
    expect(broken.json).toMatchObject({ ok: false, count: 1, brokenAtSeq: 2, problem: 'HASH_MISMATCH' });
  }, SLOW);

  it('an unknown org exits 2 with NOT_FOUND', () => {
    const r = tcpa(['audit', 'verify', '--org', 'no-such-org']);
    expect(r.code).toBe(2);
    expect(r.json).toMatchObject({ error: { code: 'NOT_FOUND' } });
  }, SLOW);
});

describe('tcpa emulator', () => {
  it('serves the Twilio API until SIGTERM, then exits 0', async () => {
    const sid = `AC${'0123456789abcdef'.repeat(2)}`;
    const token = 'emulator-test-token';
    const child = spawn(process.execPath, [BIN, 'emulator', '--port', '0', '--accounts', `${sid}:${token}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr.resume();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const first = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`emulator exited early with ${code}`)));
      });
      const { url } = JSON.parse(first) as { url: string };
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

      const client = createTwilioClient({ accountSid: sid, authToken: token, apiBase: url });
      const msg = await client.messages.create({ to: '+15555550100', from: '+15005550006', body: 'hello' });
      expect(msg.sid).toMatch(/^SM/);
      expect(msg.accountSid).toBe(sid);

      const wrong = createTwilioClient({ accountSid: sid, authToken: 'wrong-token', apiBase: url });
      await expect(wrong.messages.create({ to: '+15555550100', from: '+15005550006', body: 'x' })).rejects.toMatchObject({ status: 401 });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, SLOW);

  it('rejects a bad --failure-rate with exit 2', () => {
    const r = tcpa(['emulator', '--port', '0', '--failure-rate', '2']);
    expect(r.code).toBe(2);
    expect(r.json).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
  }, SLOW);
});
