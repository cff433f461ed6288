/**
 * `npm run bench:audit [-- --entries=N] [-- --quick]`: the audit log at scale, each figure beside a
 * baseline measured in the same run. Not a test: it prints a table and one JSON line.
 *
 * 1. Insert N chained entries (1,000,000; 100,000 with --quick) into one org of a fresh database:
 *    hashes computed with the chain's own entryHash, rows sent as multi-row INSERT … FROM unnest
 *    through pg on 3 connections (nothing disabled: the append-only trigger only refuses
 *    UPDATE/DELETE). Each entry is a ~1 KB `timer.created`-like payload.
 * 2. Verify the chain: `GET /v1/audit/verify` (as deployed: parallel worker threads), the
 *    `tcpa audit verify` command (process start included), and AuditLog.verify in process on one
 *    thread. Baselines: reading the same rows with the verifier's own query and pages, without
 *    hashing; and
 *    sha256 alone over the same bytes (a sample of the canonical strings), plus the canonical JSON
 *    of the same rows with the original (reference) and the current implementation.
 * 3. Export all N entries as JSON lines through the API (`GET /v1/audit/export`), read and
 *    discarded by a streaming client in the same process: rows/s and the process' peak RSS.
 */
import { spawnSync } from 'node:child_process';
import { hash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { AuditLog } from '../src/adapters/audit/audit-log.ts';
import { readChainWindow } from '../src/adapters/audit/chain-reader.ts';
import { canonicalJson as referenceCanonical } from '../src/domain/calendar/compile.ts';
import { canonicalCore, entryCore, type ChainEntry } from '../src/domain/audit/chain.ts';
import { insertChain } from '../test/helpers/audit-bulk.ts';
import { startEngine, type TestEngine } from '../test/helpers/engine.ts';

const argv = process.argv.slice(2);
const opt = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const QUICK = argv.includes('--quick');
const N = Number(opt('entries') ?? (QUICK ? 100_000 : 1_000_000));
const PAGE = 5000;
const SAMPLE = Math.min(N, 100_000);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const log = (msg: string) => process.stderr.write(`[bench:audit ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const rate = (count: number, ms: number) => (count / ms) * 1000;
const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

/** Wall time and this process' CPU time (every thread: the verify workers included), in ms. */
async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number; cpuMs: number }> {
  const t = performance.now();
  const c = process.cpuUsage();
  const value = await fn();
  const d = process.cpuUsage(c);
  return { value, ms: performance.now() - t, cpuMs: (d.user + d.system) / 1000 };
}
/** Entries per CPU-second of this process: stable on a shared machine, where wall time is not. */
const perCpu = (count: number, t: { cpuMs: number }) => Math.round((count / t.cpuMs) * 1000);

let e: TestEngine | undefined;
process.once('SIGINT', () => void e?.stop().finally(() => process.exit(130)));

async function main(): Promise<void> {
  e = await startEngine({ parts: [] });
  const url = e.env['DATABASE_URL']!;
  const orgId = e.orgId;
  log(`${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; ${fmt(N)} entries`);

  // 1. Insert.
  let lastLog = 0;
  const ins = await timed(() => insertChain(url, orgId, N, { onProgress: (d) => d - lastLog >= 100_000 && (lastLog = d, log(`inserted ${fmt(d)}`)) }));
  log(`insert: ${fmt(rate(N, ins.ms))} entries/s`);
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query('ANALYZE audit_entries'); // what autovacuum does after a bulk load
  const size = (await admin.query<{ s: string }>("SELECT pg_size_pretty(pg_total_relation_size('audit_entries')) AS s")).rows[0]!.s;

  // 2a. Baseline: the same rows, the same query and pages as the verifier, parsed, not hashed; keep a sample.
  const sample: ChainEntry[] = [];
  const raw = await timed(async () => {
    let rows = 0;
    for (let lo = 0; lo < N; lo += PAGE) {
      const entries = await readChainWindow(admin, orgId, lo, lo + PAGE);
      rows += entries.length;
      if (sample.length < SAMPLE) sample.push(...entries.slice(0, SAMPLE - sample.length));
    }
    return rows;
  });
  log(`raw select: ${fmt(rate(raw.value, raw.ms))} rows/s (${fmt(perCpu(raw.value, raw))} per CPU-s)`);
  await admin.end();

  // 2b. Baselines on the sample: canonical JSON (reference vs current) and sha256 of the same bytes.
  const refCanon = await timed(async () => {
    let n = 0;
    for (const x of sample) n += referenceCanonical(entryCore(x)).length;
    return n;
  });
  const newCanon = await timed(async () => {
    let n = 0;
    for (const x of sample) n += canonicalCore(x).length;
    return n;
  });
  // The exact bytes each entry's hash covers, encoded beforehand: sha256 alone.
  const bytes = sample.map((x) => Buffer.from(`${x.prevHash}\n${canonicalCore(x)}`));
  const sha = await timed(async () => {
    let last = '';
    for (const b of bytes) last = hash('sha256', b, 'hex');
    return last;
  });
  const avgBytes = Math.round(bytes.reduce((n, b) => n + b.length, 0) / bytes.length);
  sample.length = 0;
  bytes.length = 0;
  log(`canonical JSON: reference ${fmt(rate(SAMPLE, refCanon.ms))}/s, current ${fmt(rate(SAMPLE, newCanon.ms))}/s; sha256 ${fmt(rate(SAMPLE, sha.ms))}/s (${avgBytes} bytes)`);

  // 2c. Verify: the API (as deployed), the CLI, one thread in process.
  const api = await timed(async () => (await e!.api('GET', '/v1/audit/verify')).body as { ok: boolean; count: number });
  if (!api.value.ok || api.value.count !== N) throw new Error(`verify through the API: ${JSON.stringify(api.value)}`);
  log(`GET /v1/audit/verify: ${fmt(rate(N, api.ms))} entries/s (${(api.ms / 1000).toFixed(1)} s; ${fmt(perCpu(N, api))} per CPU-s)`);
  const cli = await timed(async () =>
    spawnSync(process.execPath, [...process.execArgv, 'src/cli/main.ts', 'audit', 'verify', '--org', orgId], { cwd: ROOT, env: { ...process.env, DATABASE_URL: url }, encoding: 'utf8' }),
  );
  const cliOut = JSON.parse(cli.value.stdout.trim().split('\n').pop() ?? '{}') as { ok?: boolean; count?: number };
  if (!cliOut.ok || cliOut.count !== N) throw new Error(`tcpa audit verify: ${cli.value.stdout} ${cli.value.stderr}`);
  log(`tcpa audit verify: ${fmt(rate(N, cli.ms))} entries/s (${(cli.ms / 1000).toFixed(1)} s, process start included)`);
  const one = await timed(() => new AuditLog(e!.rt.prisma, { verifyWorkers: 1 }).verify(orgId));
  if (!one.value.ok) throw new Error('verify on one thread failed');
  log(`AuditLog.verify, one thread: ${fmt(rate(N, one.ms))} entries/s (${fmt(perCpu(N, one))} per CPU-s)`);

  // 3. Export as JSON lines through the API, read and dropped by a streaming client.
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 25);
  const exp = await timed(async () => {
    const res = await fetch(`${e!.url}/v1/audit/export?format=jsonl`, { headers: { authorization: `Bearer ${e!.key}` } });
    let bytes = 0;
    let lines = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
    }
    return { bytes, lines };
  });
  clearInterval(sampler);
  if (exp.value.lines !== N) throw new Error(`export: ${exp.value.lines} lines`);
  log(`export jsonl: ${fmt(rate(N, exp.ms))} rows/s (${fmt(perCpu(N, exp))} per CPU-s, server and client), ${mb(exp.value.bytes)} MB, peak RSS ${mb(peak)} MB (+${mb(peak - rss0)} MB)`);

  const figures = {
    entries: N,
    tableSize: size,
    insertPerSec: Math.round(rate(N, ins.ms)),
    rawSelectRowsPerSec: Math.round(rate(raw.value, raw.ms)),
    rawSelectRowsPerCpuSec: perCpu(raw.value, raw),
    canonicalReferencePerSec: Math.round(rate(SAMPLE, refCanon.ms)),
    canonicalReferencePerCpuSec: perCpu(SAMPLE, refCanon),
    canonicalPerSec: Math.round(rate(SAMPLE, newCanon.ms)),
    canonicalPerCpuSec: perCpu(SAMPLE, newCanon),
    sha256PerSec: Math.round(rate(SAMPLE, sha.ms)),
    sha256PerCpuSec: perCpu(SAMPLE, sha),
    hashedBytes: avgBytes,
    verifyApiPerSec: Math.round(rate(N, api.ms)),
    verifyApiSeconds: Number((api.ms / 1000).toFixed(1)),
    verifyApiPerCpuSec: perCpu(N, api),
    verifyCliPerSec: Math.round(rate(N, cli.ms)),
    verifyCliSeconds: Number((cli.ms / 1000).toFixed(1)),
    verifyOneThreadPerSec: Math.round(rate(N, one.ms)),
    verifyOneThreadPerCpuSec: perCpu(N, one),
    exportRowsPerSec: Math.round(rate(N, exp.ms)),
    exportRowsPerCpuSec: perCpu(N, exp),
    exportMB: mb(exp.value.bytes),
    exportPeakRssMB: mb(peak),
    exportRssGrowthMB: mb(peak - rss0),
    cores: os.cpus().length,
    load: os.loadavg()[0] ?? 0,
  };
  const row = (a: string, b: string, c: string, d = '') => process.stdout.write(`${a.padEnd(54)}${b.padStart(16)}${c.padStart(16)}   ${d}\n`);
  const f = figures;
  process.stdout.write(`\n${fmt(N)} chained entries (~${avgBytes} bytes hashed each), table ${size}; ${f.cores} cores, load ${f.load.toFixed(1)}\n\n`);
  row('', 'wall', 'per CPU-second', '');
  row('insert (entryHash + multi-row INSERT, 3 connections)', `${fmt(f.insertPerSec)} /s`, '');
  row('GET /v1/audit/verify (worker threads)', `${fmt(f.verifyApiPerSec)} /s`, `${fmt(f.verifyApiPerCpuSec)}`, `${f.verifyApiSeconds} s`);
  row('tcpa audit verify (process start included)', `${fmt(f.verifyCliPerSec)} /s`, '', `${f.verifyCliSeconds} s`);
  row('AuditLog.verify on one thread', `${fmt(f.verifyOneThreadPerSec)} /s`, `${fmt(f.verifyOneThreadPerCpuSec)}`);
  row('  baseline: reading the same rows (same query), no hashing', `${fmt(f.rawSelectRowsPerSec)} /s`, `${fmt(f.rawSelectRowsPerCpuSec)}`);
  row('  baseline: sha256 alone over the same bytes', `${fmt(f.sha256PerSec)} /s`, `${fmt(f.sha256PerCpuSec)}`);
  row('  canonical JSON of an entry (current)', `${fmt(f.canonicalPerSec)} /s`, `${fmt(f.canonicalPerCpuSec)}`);
  row('  canonical JSON of an entry (reference, before)', `${fmt(f.canonicalReferencePerSec)} /s`, `${fmt(f.canonicalReferencePerCpuSec)}`);
  row('GET /v1/audit/export?format=jsonl (streamed)', `${fmt(f.exportRowsPerSec)} /s`, `${fmt(f.exportRowsPerCpuSec)}`, `${f.exportMB} MB, peak RSS ${f.exportPeakRssMB} MB (+${f.exportRssGrowthMB} MB)`);
  process.stdout.write(`\n${JSON.stringify(figures)}\n`);
}

main()
  .catch((err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exitCode = 1;
  })
  .finally(() => e?.stop());
