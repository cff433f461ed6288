/**
 * `npm run bench:dnc [-- --numbers=N]`: importing the National Do-Not-Call Registry, beside the
 * floor Postgres sets in the same run. Not a test: it prints a table and one JSON line.
 *
 * A generated full list of N numbers (1,000,000 by default) for one area code, in the FTC's flat
 * text form, on a fresh database:
 *   peer         the same file's numbers COPYed straight into a bare `bigint PRIMARY KEY` table
 *                (pg-copy-streams; no parsing, no validation, no merge): what Postgres itself costs
 *   first full   importFederalDnc of the file into an empty registry (parse, validate, stage by
 *                COPY, merge, copy recorded)
 *   refresh      the same file again (the monthly refresh: every number already listed)
 *   changes      a change list of 1 % adds and 1 % deletes
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { importFederalDnc } from '../src/app/federal-dnc.ts';
import { freshDatabase } from '../test/helpers/db.ts';

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const N = Number(arg('numbers') ?? 1_000_000);
const DAY = 86_400_000;

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bench-dnc-'));
  const db = await freshDatabase();
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  try {
    const file = path.join(dir, 'full.txt');
    // Numbers 212-200-0000 upwards, every other one: a realistic density (the registry lists about a third of all numbers).
    await pipeline(
      Readable.from((function* () {
        for (let i = 0; i < N; i += 10_000) {
          let block = '';
          for (let k = i; k < Math.min(N, i + 10_000); k++) block += `${2122000000 + 2 * k}\n`;
          yield block;
        }
      })()),
      createWriteStream(file),
    );
    const changes = path.join(dir, 'changes.txt');
    await pipeline(
      Readable.from((function* () {
        const one = Math.max(1, Math.floor(N / 100));
        let block = '';
        for (let k = 0; k < one; k++) block += `212,${2000000 + 2 * k},D\n${2122000001 + 2 * k},A\n`;
        yield block;
      })()),
      createWriteStream(changes),
    );
    const mb = (await stat(file)).size / 1e6;

    const client = await pool.connect();
    await client.query('CREATE TABLE bench_peer (number bigint PRIMARY KEY)');
    let t = performance.now();
    await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), client.query(copyFrom('COPY bench_peer (number) FROM STDIN')));
    const peerMs = performance.now() - t;
    client.release();

    const now = Date.now();
    t = performance.now();
    const first = await importFederalDnc(pool, { kind: 'full', asOf: now - 2 * DAY, source: createReadStream(file, { highWaterMark: 1 << 20 }) }, now);
    const firstMs = performance.now() - t;
    t = performance.now();
    const refresh = await importFederalDnc(pool, { kind: 'full', asOf: now - DAY, source: createReadStream(file, { highWaterMark: 1 << 20 }) }, now);
    const refreshMs = performance.now() - t;
    t = performance.now();
    const change = await importFederalDnc(pool, { kind: 'changes', asOf: now, source: createReadStream(changes) }, now);
    const changeMs = performance.now() - t;
    if (first.added !== N || refresh.added !== 0 || refresh.deleted !== 0 || change.added !== change.deleted) throw new Error(`unexpected import counts: ${JSON.stringify({ first, refresh, change })}`);

    const rate = (records: number, ms: number) => Math.round(records / (ms / 1000));
    const rows = [
      ['peer: COPY into a bigint PK table', N, peerMs],
      ['first full list (empty registry)', first.records, firstMs],
      ['refresh: the same full list again', refresh.records, refreshMs],
      ['change list (1 % adds, 1 % deletes)', change.records, changeMs],
    ] as const;
    console.log(`\nNational DNC import, ${N.toLocaleString('en-US')} numbers (${mb.toFixed(1)} MB), one area code\n`);
    console.log(`${'what'.padEnd(40)}${'records'.padStart(12)}${'seconds'.padStart(10)}${'records/s'.padStart(12)}${'vs peer'.padStart(10)}`);
    const peerRate = rate(N, peerMs);
    for (const [what, records, ms] of rows) {
      console.log(`${what.padEnd(40)}${records.toLocaleString('en-US').padStart(12)}${(ms / 1000).toFixed(2).padStart(10)}${rate(records, ms).toLocaleString('en-US').padStart(12)}${(rate(records, ms) / peerRate).toFixed(2).padStart(9)}×`);
    }
    console.log(JSON.stringify({ bench: 'dnc-import', numbers: N, peerPerSecond: peerRate, firstPerSecond: rate(first.records, firstMs), refreshPerSecond: rate(refresh.records, refreshMs), changesPerSecond: rate(change.records, changeMs) }));
  } finally {
    await pool.end();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
