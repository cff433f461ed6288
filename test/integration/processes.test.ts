/**
 * The engine as processes: `npm start`'s entrypoint on a database that does not exist yet (it is
 * created and migrated), the quick start's steps against it, and graceful shutdown — a dispatcher
 * told to stop (SIGTERM) in the middle of sends finishes them before it exits.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { unusedDatabase } from '../helpers/db.ts';
import { dropQueueKeys, freePort, offsetTo, REDIS_URL, smsBody, startEngine, until, type TestEngine } from '../helpers/engine.ts';
import { alive, captureOutput, stopChild } from '../helpers/processes.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

describe('npm start (src/main.ts)', () => {
  it('creates and migrates its database, serves the API and the emulator, and stops cleanly on SIGTERM', async () => {
    const db = unusedDatabase();
    cleanups.push(() => db.drop());
    const port = await freePort();
    const prefix = `qs${process.pid}${Date.now() % 100000}`;
    cleanups.push(() => dropQueueKeys(REDIS_URL, prefix));
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), DATABASE_URL: db.url, REDIS_URL, QUEUE_PREFIX: prefix, LOG_LEVEL: 'warn', TZ: 'UTC' };
    for (const k of ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM', 'TWILIO_API_BASE', 'PUBLIC_BASE_URL']) delete env[k];
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const output = captureOutput(child);
    cleanups.push(() => stopChild(child));
    await until(() => {
      if (!alive(child)) throw new Error(`npm start exited: ${output()}`);
      return output().includes('TCPA engine listening');
    }, 60_000);
    const url = `http://127.0.0.1:${port}`;
    expect(output()).toContain(`${url}/_emulator`);
    expect(output()).toContain('keys create --org acme');

    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${url}/readyz`)).json()).toMatchObject({ ok: true, checks: { postgres: 'ok', redis: 'ok' } });

    // Step 1 of the printed quick start: a key from the CLI.
    const cli = spawn(process.execPath, ['bin/tcpa.mjs', 'keys', 'create', '--org', 'acme'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    cli.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const [code] = (await once(cli, 'exit')) as [number];
    expect(code).toBe(0);
    const { key, orgId } = JSON.parse(out) as { key: string; orgId: string };
    expect(orgId).toMatch(/^[0-9a-f-]{36}$/);

    // Step 2: a timer through the API (its decision depends on the real time of day, so only its shape is asserted).
    const res = await fetch(`${url}/v1/timers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(smsBody({ at: new Date().toISOString() })),
    });
    expect(res.status).toBe(201);
    const timer = (await res.json()) as { id: string; status: string; decision: string };
    expect(['scheduled', 'cancelled']).toContain(timer.status);
    const got = (await (await fetch(`${url}/v1/timers/${timer.id}`, { headers: { authorization: `Bearer ${key}` } })).json()) as { events: Array<{ action: string }> };
    expect(got.events[0]?.action).toBe('timer.created');
    expect((await fetch(`${url}/_emulator/messages`)).status).toBe(200);

    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [exitCode] = (await exited) as [number | null];
    expect(exitCode).toBe(0);
  }, 120_000);
});

describe('graceful shutdown', () => {
  let e: TestEngine | undefined;
  afterEach(async () => {
    await e?.stop();
    e = undefined;
  });

  it('a dispatcher stopped with SIGTERM mid-send finishes its in-flight sends, then exits 0', async () => {
    e = await startEngine({ parts: ['pump', 'reconciler'], clockOffsetMs: offsetTo('2026-12-08T17:00:00Z'), env: { LEASE: '10m' }, emulator: { latencyMs: 1500 } });
    const engine = e;
    const phones = ['+12125550301', '+12125550302', '+12125550303'];
    const ids: string[] = [];
    for (const phone of phones) ids.push((await engine.api('POST', '/v1/timers', smsBody({ contact: { phone, zip: '10001' }, at: new Date(engine.clock.now()).toISOString() }))).body.id);

    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/part-with-offset.ts', 'dispatcher'], {
      cwd: ROOT,
      env: { ...process.env, ...engine.env, TEST_CLOCK_OFFSET_MS: String(engine.clock.offset), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = captureOutput(child);
    cleanups.push(() => stopChild(child));
    // Every send has reached the provider, whose answer is still 1.5 s away.
    await until(() => {
      if (!alive(child)) throw new Error(`dispatcher exited early: ${output()}`);
      return engine.emulator.emulator.messages().length === phones.length;
    }, 30_000, 20);
    const statuses = await engine.rt.prisma.timer.findMany({ where: { id: { in: ids } }, select: { status: true } });
    expect(statuses.every((t) => t.status === 'sending')).toBe(true);

    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code, output()).toBe(0);
    // It exited only after recording every send: nothing left in `sending`, nothing `unknown`.
    const after = await engine.rt.prisma.timer.findMany({ where: { id: { in: ids } }, select: { status: true, providerId: true } });
    for (const t of after) {
      expect(['sent', 'delivered']).toContain(t.status);
      expect(t.providerId).toMatch(/^SM/);
    }
    expect(engine.emulator.emulator.messages()).toHaveLength(phones.length);
  }, 90_000);
});
