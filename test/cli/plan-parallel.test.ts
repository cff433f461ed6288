/**
 * `tcpa plan` on worker threads (src/cli/plan.ts runInWorkers, plan-workers.ts, plan-worker.ts)
 * must print what the single-threaded run prints, byte for byte, with the same summary: the
 * input is cut into batches of raw bytes, numbered, decided in other threads and written back in
 * order. Inputs here arrive in small, odd-sized pieces so that every cut (inside a CRLF, after a
 * lone CR, inside a multi-byte character) happens many times.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCalendarSet } from '../../src/adapters/calendars/fs-loader.ts';
import { lineEnds, runPlan, type PlanOptions } from '../../src/cli/plan.ts';
import { LineSplitter } from '../../src/cli/plan-rows.ts';
import { defaultWorkers, PARALLEL_FROM_BYTES, PlanWorkers, planWorkers } from '../../src/cli/plan-workers.ts';

const set = loadCalendarSet();
const NOW = Date.parse('2026-03-01T00:00:00Z');
const defaults = { channel: 'sms', now: '2026-03-01T00:00:00Z' };

/** The input in pieces of 1 to `max` bytes (deterministic), read one at a time (a high-water mark of 1 keeps the stream from joining them). */
function pieces(bytes: Buffer, max: number, seed: number): Readable {
  const out: Buffer[] = [];
  let s = seed | 0;
  for (let i = 0; i < bytes.length; ) {
    s = (Math.imul(s, 1103515245) + 12345) | 0;
    const n = 1 + ((s >>> 8) % max);
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return Readable.from(out, { objectMode: false, highWaterMark: 1 });
}

async function plan(input: Buffer, opts: Partial<PlanOptions>, max = 300, seed = 1): Promise<{ out: string; summary: unknown }> {
  return planFrom(pieces(input, max, seed), opts);
}

async function planPieces(parts: Buffer[], opts: Partial<PlanOptions>): Promise<{ out: string; summary: unknown }> {
  return planFrom(Readable.from(parts, { objectMode: false, highWaterMark: 1 }), opts);
}

async function planFrom(stdin: Readable, opts: Partial<PlanOptions>): Promise<{ out: string; summary: unknown }> {
  const chunks: Buffer[] = [];
  const stdout = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  const summary = await runPlan(set, { in: '-', format: 'jsonl', defaults, now: NOW, ...opts }, { stdin, stdout, stderr: new PassThrough() });
  return { out: Buffer.concat(chunks).toString('utf8'), summary };
}

const ZIPS = ['10001', '33101', '73301', '96820', '99501', '00601', '70112', '84101', '02903', '86045', '00000', '1234'];
const ROW = fc.oneof(
  fc.record({ id: fc.oneof(fc.string(), fc.integer()), zip: fc.constantFrom(...ZIPS), at: fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2027, 0, 1) }).map((t) => new Date(t).toISOString()) }).map((r) => JSON.stringify(r)),
  fc.record({ id: fc.constantFrom('é', '–', '漢字', '\u{1F600}'), zip: fc.constantFrom(...ZIPS), phone: fc.constantFrom('+12125550123', '+18085550123', '12'), at: fc.constantFrom('2026-07-04T18:00:00Z', 'tomorrow') }).map((r) => JSON.stringify(r)),
  fc.constantFrom('', '   ', '{oops', '[]', '{"id":"x","zip":10001,"at":"2026-03-10T15:00:00Z","channel":"fax"}'),
);
const ENDING = fc.constantFrom('\n', '\r\n', '\r');

/** Waits until every worker of the pool has loaded its calendars (until then the main thread decides alone). */
async function ready(pool: PlanWorkers): Promise<PlanWorkers> {
  while (pool.ready < pool.size) await new Promise((r) => setTimeout(r, 20));
  return pool;
}

describe('tcpa plan on worker threads', () => {
  let one: PlanWorkers;
  let two: PlanWorkers;
  beforeAll(async () => {
    [one, two] = await Promise.all([ready(PlanWorkers.start(1, { defaults, now: NOW })), ready(PlanWorkers.start(2, { defaults, now: NOW }))]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([one?.close(), two?.close()]);
  });

  it('prints the single-threaded output and summary, whatever the cuts and line ends', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(ROW, ENDING), { minLength: 1, maxLength: 120 }), fc.boolean(), fc.integer({ min: 1, max: 400 }), fc.integer(), async (rows, lastEnd, max, seed) => {
        let text = rows.map(([r, e]) => r + e).join('');
        if (!lastEnd) text = text.replace(/(\r\n|\r|\n)$/, '');
        const input = Buffer.from(text, 'utf8');
        const alone = await plan(input, { workers: 0 }, max, seed);
        const shared = await plan(input, { pool: two }, max, seed);
        expect(shared.out).toBe(alone.out);
        expect(JSON.stringify(shared.summary)).toBe(JSON.stringify(alone.summary));
      }),
      { numRuns: 25 },
    );
    expect(two.answered).toBeGreaterThan(25);
  }, 120_000);

  it('cut anywhere in two pieces (inside a CRLF, after a lone CR, inside a character), the lines and their numbers stay', async () => {
    const text = '{"id":"é","zip":"10001","at":"2026-03-10T15:00:00Z"}\r\n{oops\r\r\n{"id":"漢","zip":"1234"}\n\r{"id":3,"zip":"96820","at":"2026-07-04T18:00:00Z"}\r[]';
    const input = Buffer.from(text, 'utf8');
    const alone = await planPieces([input], { workers: 0 });
    expect(alone.out.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { line?: number }).line)).toEqual([undefined, 2, 4, undefined, 7]);
    const before = two.answered;
    for (let k = 1; k < input.length; k++) {
      const shared = await planPieces([input.subarray(0, k), input.subarray(k)], { pool: two });
      expect(shared.out, `cut at byte ${k}`).toBe(alone.out);
      expect(shared.summary).toEqual(alone.summary);
    }
    expect(two.answered).toBeGreaterThan(before);
  });

  it('decides a large file in many batches, in order, with error lines numbered as one thread numbers them', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 30_000; i++) {
      if (i % 997 === 0) lines.push('{broken');
      else if (i % 1_499 === 0) lines.push('');
      else lines.push(JSON.stringify({ id: `c${i}`, zip: ZIPS[i % 10], at: new Date(Date.UTC(2026, 2, 1) + i * 3_600_000).toISOString() }));
    }
    const input = Buffer.from(lines.join('\n'), 'utf8');
    const alone = await plan(input, { workers: 0 }, 70_000);
    const before = one.answered;
    const shared = await plan(input, { pool: one }, 70_000);
    expect(one.answered).toBeGreaterThan(before);
    expect(shared.out).toBe(alone.out);
    expect(shared.summary).toEqual(alone.summary);
    const out = shared.out.trimEnd().split('\n');
    expect(out).toHaveLength(30_000 - 20);
    expect(JSON.parse(out[0]!)).toMatchObject({ id: null, line: 1, error: { code: 'INVALID_ROW' } });
    expect(JSON.parse(out.at(-1)!)).toMatchObject({ id: 'c29999' });
  }, 120_000);

  it('fails the run when a worker loaded other calendars than the main thread', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cal-'));
    cpSync(join(import.meta.dirname, '../../calendars'), dir, { recursive: true });
    const tx = JSON.parse(readFileSync(join(dir, 'TX.json'), 'utf8')) as { name: string };
    writeFileSync(join(dir, 'TX.json'), JSON.stringify({ ...tx, name: `${tx.name} (edited)` }));
    const pool = await ready(PlanWorkers.start(1, { calendarsDir: dir, defaults, now: NOW }));
    try {
      const input = Buffer.from(`${'{"id":1,"zip":"10001","at":"2026-03-10T15:00:00Z"}\n'.repeat(20_000)}`);
      await expect(plan(input, { pool }, 4_096)).rejects.toThrow(/did the calendar files change\?/);
    } finally {
      await pool.close();
    }
  }, 60_000);
});

describe('cutting and counting', () => {
  it('lineEnds counts the line ends LineSplitter splits at', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', '{', '\n', '\r', '\r\n', 'é', ' '), { maxLength: 40 }), (parts) => {
        const text = parts.join('');
        let lines = 0;
        const splitter = new LineSplitter();
        splitter.write(`${text}x`, () => lines++);
        expect(lineEnds(Buffer.from(text, 'utf8'))).toBe(lines);
      }),
    );
  });

  it('workers by default: JSONL files from PARALLEL_FROM_BYTES on a machine with 2 cores or more', () => {
    expect(defaultWorkers('jsonl', PARALLEL_FROM_BYTES, 2)).toBe(1);
    expect(defaultWorkers('jsonl', PARALLEL_FROM_BYTES, 8)).toBe(4);
    expect(defaultWorkers('jsonl', PARALLEL_FROM_BYTES - 1, 8)).toBe(0);
    expect(defaultWorkers('jsonl', PARALLEL_FROM_BYTES, 1)).toBe(0);
    expect(defaultWorkers('jsonl', undefined, 8)).toBe(0);
    expect(defaultWorkers('csv', PARALLEL_FROM_BYTES, 8)).toBe(0);
    // Asked for: as asked, except for CSV (read on the main thread).
    expect(planWorkers('jsonl', 10, 3)).toBe(3);
    expect(planWorkers('jsonl', PARALLEL_FROM_BYTES * 4, 0)).toBe(0);
    expect(planWorkers('csv', PARALLEL_FROM_BYTES, 3)).toBe(0);
    expect(planWorkers('jsonl', PARALLEL_FROM_BYTES, undefined)).toBe(defaultWorkers('jsonl', PARALLEL_FROM_BYTES));
  });
});

describe('tcpa plan --workers', () => {
  const BIN = join(import.meta.dirname, '../../bin/tcpa.mjs');
  const tcpa = (args: string[], input?: string) => spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', maxBuffer: 64 * 2 ** 20, env: { ...process.env, TZ: 'America/Denver' } });

  it('prints the same lines and summary with and without workers', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'plan-')), 'contacts.jsonl');
    writeFileSync(file, Array.from({ length: 3_000 }, (_, i) => JSON.stringify({ id: i, zip: ZIPS[i % 12], at: new Date(Date.UTC(2026, 5, 1) + i * 1_800_000).toISOString() })).join('\n'));
    const args = ['plan', '--in', file, '--channel', 'voice', '--now', '2026-05-01T00:00:00Z'];
    const one = tcpa([...args, '--workers', '0']);
    const two = tcpa([...args, '--workers', '2']);
    expect(one.status).toBe(0);
    expect(two.status).toBe(0);
    expect(two.stdout).toBe(one.stdout);
    expect(two.stderr).toBe(one.stderr);
    expect(one.stdout.split('\n').filter(Boolean)).toHaveLength(3_000);
  }, 60_000);

  it('rejects a bad --workers with INVALID_ARGUMENT', () => {
    const r = tcpa(['plan', '--in', '-', '--channel', 'sms', '--workers', 'many'], '');
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
  });
});
