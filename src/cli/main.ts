#!/usr/bin/env node
/**
 * The `tcpa` command line. Output is JSON; bad input exits 2 with
 * `{ "error": { "code", "message" } }` on stdout, never a stack trace.
 */
import { Command, CommanderError, Option } from 'commander';
import type { CalendarSet } from '../domain/calendar/compile.ts';
import { AppError } from '../domain/errors.ts';
import { inputSize, PARALLEL_FROM_BYTES, planFormat, PlanWorkers, planWorkers } from './plan-workers.ts';
import type { ApiRole } from '../adapters/auth/api-keys.ts';
import type { Db } from '../adapters/db/client.ts';

// Every command imports what it needs when it runs (the calendars, zip data and phone metadata
// take most of a second to load): `tcpa plan` starts its worker threads first, so that they
// load in parallel with this thread.

process.env.TZ = 'UTC';

function out(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function fail(code: string, message: string): never {
  out({ error: { code, message } });
  process.exit(2);
}

async function cal(): Promise<CalendarSet> {
  const { loadCalendarSet } = await import('../adapters/calendars/fs-loader.ts');
  const dir = program.opts<{ calendars?: string }>().calendars;
  return dir ? loadCalendarSet(dir) : loadCalendarSet();
}

const program = new Command('tcpa')
  .description('TCPA-compliant outbound scheduling: calendars, contact location and send decisions')
  .option('--calendars <dir>', 'calendar directory (default: the bundled calendars/)')
  .exitOverride()
  .configureOutput({ writeErr: () => undefined });

program
  .command('calendars')
  .description('list jurisdictions, rules, windows and the calendar version')
  .option('--lint', 'validate the calendar files and report problems')
  .action(async (opts: { lint?: boolean }) => {
    const set = await cal();
    const { describeCalendars } = await import('./calendars.ts');
    if (opts.lint) out({ ok: true, files: set.files.length, rules: set.files.reduce((n, f) => n + f.rules.length, 0), calendarVersion: set.version });
    else out(describeCalendars(set));
  });

program
  .command('locate')
  .description('state, time zones and candidate (jurisdiction, zone) pairs of zip codes')
  .argument('<zip...>')
  .option('--phone <number>', 'phone number (its area code adds candidates)')
  .action(async (zips: string[], opts: { phone?: string }) => {
    const { INPUT_ERROR_CODES, resolveLocation, UNRESOLVABLE_CODES } = await import('../domain/location/resolve.ts');
    let failed = false;
    for (const zip of zips) {
      const loc = resolveLocation({ zip, phone: opts.phone });
      const hard = loc.issues.find((i) => INPUT_ERROR_CODES.has(i.code) || UNRESOLVABLE_CODES.has(i.code));
      if (hard) {
        failed = true;
        out({ zip, error: { code: hard.code, message: hard.message } });
        continue;
      }
      out({ zip: loc.zip, state: loc.state ?? null, timezones: loc.zones, candidates: loc.candidates, ...(loc.issues.length ? { issues: loc.issues } : {}) });
    }
    if (failed) process.exitCode = 2;
  });

// Values are validated by parseCheckRequest (stable error codes), not by commander.
const channelOpt = () => new Option('--channel <channel>', 'sms | voice');
const policyOpt = () => new Option('--policy <policy>', 'cancel | next_slot | previous_slot');
const purposeOpt = () => new Option('--purpose <purpose>', 'marketing | informational');
const unresolvedOpt = () => new Option('--unresolved <mode>', 'cancel | strictest (for unknown zips, APO/FPO, non-US numbers)');

program
  .command('check')
  .description('decide one send: send, reschedule or cancel, with reasons')
  .requiredOption('--zip <zip>')
  .option('--phone <number>')
  .addOption(channelOpt())
  .requiredOption('--at <iso>', 'requested instant, ISO-8601 with Z or an offset')
  .addOption(policyOpt().default('next_slot'))
  .addOption(purposeOpt().default('marketing'))
  .option('--now <iso>', 'the current instant (default: the clock)')
  .option('--not-after <iso>', 'next_slot must not go past this instant')
  .option('--subject <subject>', 'subject for frequency caps')
  .addOption(unresolvedOpt().default('cancel'))
  .action(async (o: Record<string, string | undefined>) => {
    const { evaluate, parseCheckRequest } = await import('../app/evaluate.ts');
    const req = parseCheckRequest({ zip: o.zip, phone: o.phone, channel: o.channel, at: o.at, policy: o.policy, purpose: o.purpose, now: o.now, notAfter: o.notAfter, unresolved: o.unresolved, subject: o.subject }, Date.now());
    out(evaluate(await cal(), req));
  });

program
  .command('plan')
  .description('decide every row of a contact file (JSONL or CSV); summary on stderr')
  .requiredOption('--in <file>', 'input file, or - for stdin')
  .addOption(new Option('--format <format>', 'jsonl | csv (default: from the file name)').choices(['jsonl', 'csv']))
  .addOption(channelOpt())
  .addOption(policyOpt())
  .addOption(purposeOpt())
  .option('--at <iso>', 'default requested instant for rows without one')
  .option('--now <iso>', 'the current instant (default: the clock)')
  .addOption(unresolvedOpt())
  .option('--workers <n>', `worker threads deciding JSONL rows beside the main one, 0 to 16 (default: one per core but one, up to 4, for files of ${PARALLEL_FROM_BYTES / 2 ** 20} MB or more; else 0)`)
  .action(async (o: Record<string, string | undefined>) => {
    if (o.workers !== undefined && !/^(?:[0-9]|1[0-6])$/.test(o.workers)) fail('INVALID_ARGUMENT', `--workers "${o.workers}" is not a number from 0 to 16`);
    const format = planFormat(o.in!, o.format as 'jsonl' | 'csv' | undefined);
    const size = inputSize(o.in!);
    const workers = planWorkers(format, size, o.workers === undefined ? undefined : Number(o.workers));
    const calendarsDir = program.opts<{ calendars?: string }>().calendars;
    const defaults = { channel: o.channel, policy: o.policy, purpose: o.purpose, at: o.at, now: o.now, unresolved: o.unresolved };
    const now = Date.now();
    const pool = workers > 0 ? PlanWorkers.start(workers, { calendarsDir, defaults, now }) : undefined;
    try {
      const { runPlan, formatSummary } = await import('./plan.ts');
      const summary = await runPlan(await cal(), { in: o.in!, format, defaults, now, workers, pool }, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
      process.stderr.write(formatSummary(summary));
    } finally {
      await pool?.close();
    }
  });

// --- database-backed commands --------------------------------------------------------------
// Their adapters (Prisma, pg, express, twilio) are imported lazily, so that the pure commands
// above start as fast as before.

const API_ROLES = ['admin', 'ops', 'journey', 'auditor'] as const satisfies readonly ApiRole[];

const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/tcpa';
function databaseUrl(): string {
  return process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
}

async function withDb<T>(fn: (db: Db) => Promise<T>): Promise<T> {
  const { createPrisma } = await import('../adapters/db/client.ts');
  const db = createPrisma(databaseUrl(), { maxConnections: 2 });
  try {
    return await fn(db);
  } finally {
    await db.disconnect();
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const keys = program.command('keys').description('API keys');
keys
  .command('create')
  .description('create an API key (and the org, if new); prints the key once. Applies migrations first')
  .requiredOption('--org <name>', 'org name (created if it does not exist)')
  .addOption(new Option('--role <role>', 'admin | ops | journey | auditor').choices(API_ROLES).default('admin'))
  .option('--name <label>', 'a label for the key')
  .action(async (o: { org: string; role: ApiRole; name?: string }) => {
    if (!o.org.trim()) throw new AppError('INVALID_ARGUMENT', '--org must not be empty');
    const [{ migrate }, { createApiKey }] = await Promise.all([import('../adapters/db/migrate.ts'), import('../adapters/auth/api-keys.ts')]);
    await migrate(databaseUrl());
    out(await withDb((db) => createApiKey(db, { orgName: o.org, role: o.role, ...(o.name === undefined ? {} : { name: o.name }) })));
  });

const audit = program.command('audit').description('the tamper-evident audit log');
audit
  .command('verify')
  .description("verify an org's audit hash chain; exit 1 if it is broken")
  .requiredOption('--org <id-or-name>', 'org id or name')
  .action(async (o: { org: string }) => {
    const { AuditLog } = await import('../adapters/audit/audit-log.ts');
    const result = await withDb(async (db) => {
      const org =
        (UUID_RE.test(o.org) ? await db.org.findUnique({ where: { id: o.org }, select: { id: true } }) : null) ??
        (await db.org.findUnique({ where: { name: o.org }, select: { id: true } }));
      if (!org) throw new AppError('NOT_FOUND', `no org with id or name "${o.org}"`);
      return { orgId: org.id, ...(await new AuditLog(db).verify(org.id)) };
    });
    out(result);
    if (!result.ok) process.exitCode = 1;
  });

const dnc = program.command('dnc').description('the National Do-Not-Call Registry (deployment-wide)');
dnc
  .command('import')
  .description("import a registry file (the FTC's flat text download: a full list or a change list, unzipped); applies migrations first")
  .argument('<file>', 'the file, or - for stdin')
  .addOption(new Option('--kind <kind>', 'full | changes').choices(['full', 'changes']).makeOptionMandatory())
  .requiredOption('--as-of <date>', "the registry's date of the file (when it was downloaded): YYYY-MM-DD (00:00 UTC) or an ISO-8601 instant")
  .option('--area-codes <list>', 'the area codes the file covers, comma-separated (full list: default those in the file; change list: default every area code held)')
  .action(async (file: string, o: { kind: 'full' | 'changes'; asOf: string; areaCodes?: string }) => {
    const { parseInstant } = await import('../domain/time.ts');
    const asOf = /^\d{4}-\d{2}-\d{2}$/.test(o.asOf) ? parseInstant(`${o.asOf}T00:00:00Z`) : parseInstant(o.asOf);
    if (asOf === undefined) throw new AppError('INVALID_ARGUMENT', `--as-of must be YYYY-MM-DD or an ISO-8601 instant, got "${o.asOf}"`);
    const areaCodes = o.areaCodes?.split(',').map((a) => a.trim()).filter((a) => a !== '').map((a) => numberOpt('--area-codes', a, 200, 999, true));
    const [{ createReadStream }, { migrate }, { importFederalDnc }, { pgPoolOf }] = await Promise.all([
      import('node:fs'),
      import('../adapters/db/migrate.ts'),
      import('../app/federal-dnc.ts'),
      import('../adapters/db/client.ts'),
    ]);
    const source = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: 1 << 20 });
    const opened = new Promise<void>((resolve, reject) => {
      if (file === '-') resolve();
      else source.once('open', () => resolve()).once('error', (err: NodeJS.ErrnoException) => reject(new AppError('INVALID_ARGUMENT', `cannot read ${file}: ${err.code ?? err.message}`)));
    });
    await opened;
    await migrate(databaseUrl());
    out(await withDb((db) => importFederalDnc(pgPoolOf(db)!, { kind: o.kind, asOf, ...(areaCodes ? { areaCodes } : {}), source }, Date.now())));
  });
dnc
  .command('status')
  .description('the copies in force: area codes held, oldest and newest copy, stale area codes, the latest imports')
  .action(async () => {
    const [{ registryHealth }, { recentCopies }, { viaPrisma }] = await Promise.all([import('../app/federal-dnc.ts'), import('../adapters/db/dnc-queries.ts'), import('../adapters/db/sql.ts')]);
    out(
      await withDb(async (db) => {
        const q = viaPrisma(db);
        const health = await registryHealth(q, 'enforce', Date.now());
        const copies = await recentCopies(q, 10);
        return { ...health, latestImports: copies.map((c) => ({ ...c, asOf: c.asOf.toISOString(), importedAt: c.importedAt.toISOString() })) };
      }),
    );
  });

function numberOpt(flag: string, value: string, min: number, max: number, integer: boolean): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new AppError('INVALID_ARGUMENT', `${flag} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

program
  .command('emulator')
  .description('run the Twilio-compatible emulator until SIGINT/SIGTERM; prints { "url" }')
  .option('--port <port>', 'port (0 picks a free one)', '4010')
  .option('--host <host>', 'interface to bind', '127.0.0.1')
  .option('--accounts <list>', 'AccountSid:AuthToken,... (default: TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN)')
  .option('--latency <ms>', 'delay before each API response', '0')
  .option('--failure-rate <p>', 'probability (0..1) that a message or call fails asynchronously', '0')
  .action(async (o: { port: string; host: string; accounts?: string; latency: string; failureRate: string }) => {
    const port = numberOpt('--port', o.port, 0, 65535, true);
    const latencyMs = numberOpt('--latency', o.latency, 0, 600_000, false);
    const rate = numberOpt('--failure-rate', o.failureRate, 0, 1, false);
    const { parseAccounts, startEmulator } = await import('../adapters/twilio/emulator-main.ts');
    const spec = o.accounts ?? process.env.TWILIO_EMULATOR_ACCOUNTS;
    let accounts: Record<string, string> = {};
    if (spec) {
      try {
        accounts = parseAccounts(spec);
      } catch (err) {
        throw new AppError('INVALID_ARGUMENT', `--accounts: ${(err as Error).message}`);
      }
    } else if (process.env.TWILIO_ACCOUNT_SID && process.env.TWILIO_AUTH_TOKEN) {
      accounts = { [process.env.TWILIO_ACCOUNT_SID]: process.env.TWILIO_AUTH_TOKEN };
    }
    const running = await startEmulator({ port, host: o.host, accounts, latencyMs, failure: { rate, callRate: rate } }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL') {
        throw new AppError('INVALID_ARGUMENT', `cannot listen on ${o.host}:${port}: ${err.code}`);
      }
      throw err;
    });
    out({ url: running.url });
    const stop = () => {
      running.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') process.exit(0);
      fail('INVALID_ARGUMENT', e.message.replace(/^error: /, ''));
    }
    if (e instanceof AppError) fail(e.code, e.message);
    const [{ CalendarFileError }, { isUnavailableError }] = await Promise.all([import('../domain/calendar/compile.ts'), import('../api/errors.ts')]);
    if (e instanceof CalendarFileError) fail('CALENDAR_INVALID', e.message);
    if (isUnavailableError(e)) fail('UNAVAILABLE', `cannot reach a dependency: ${(e as Error).message.trim().split('\n').pop()}`);
    process.stderr.write(`internal error: ${(e as Error).message}\n`);
    fail('INTERNAL', 'unexpected error');
  }
}

await main();
