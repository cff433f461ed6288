/**
 * `npm run bench`: decision throughput of the compliance core, each figure beside a naive
 * baseline measured in the same run (luxon per instant, minute stepping for next_slot), and
 * `tcpa plan` rows per second end to end (a child process reading a JSONL file), with peak
 * memory for 100k and 1M rows to show it stays flat. Not a test: it prints figures.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import zipcodes from 'zipcodes';
import { readCalendarFiles } from '../src/adapters/calendars/fs-loader.ts';
import { compileCalendarSet } from '../src/domain/calendar/compile.ts';
import type { CalendarFile } from '../src/domain/calendar/schema.ts';
import { decide, isAllowed, planFor } from '../src/domain/decide.ts';
import { resolveLocation, type Location } from '../src/domain/location/resolve.ts';

const QUICK = process.argv.includes('--quick');
const files = readCalendarFiles();
const set = compileCalendarSet(files);
const raw = files.map((f) => f.content as CalendarFile);

// Deterministic pseudo-random numbers (mulberry32) so runs are comparable.
let seed = 20261129;
function rand(): number {
  seed |= 0;
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const allZips = Object.keys((zipcodes as unknown as { codes: Record<string, { country?: string }> }).codes).filter((z) => /^\d{5}$/.test(z));
const locations: Location[] = [];
while (locations.length < 5000) {
  const loc = resolveLocation({ zip: allZips[Math.floor(rand() * allZips.length)]! });
  if (loc.resolved) locations.push(loc);
}
const FROM = Date.parse('2026-01-01T00:00:00Z');
const SPAN = 365 * 2 * 86_400_000;
const N = QUICK ? 200_000 : 2_000_000;
const samples = Array.from({ length: N }, () => ({ loc: locations[Math.floor(rand() * locations.length)]!, at: FROM + Math.floor((rand() * SPAN) / 60_000) * 60_000 }));

function timeIt(label: string, n: number, fn: () => void): number {
  const t0 = performance.now();
  fn();
  const secs = (performance.now() - t0) / 1000;
  const rate = n / secs;
  console.log(`${label.padEnd(58)} ${Math.round(rate).toLocaleString('en-US').padStart(12)} /s`);
  return rate;
}

// ---- naive baseline: luxon per instant, rules read from the raw files -----------------------
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
function naiveAllowed(loc: Location, t: number): boolean {
  for (const c of loc.candidates) {
    for (const f of raw) {
      if (f.jurisdiction !== 'US' && f.jurisdiction !== c.jurisdiction) continue;
      for (const r of f.rules) {
        if (!r.channels.includes('sms') || !r.purposes.includes('marketing') || !r.weekly) continue;
        const local = DateTime.fromMillis(t, { zone: r.timeBasis?.type === 'fixed' ? r.timeBasis.zone : c.zone });
        const m = local.hour * 60 + local.minute;
        const ok = r.weekly[DAYS[local.weekday - 1]!].some(([a, b]) => m >= +a.slice(0, 2) * 60 + +a.slice(3) && m < +b.slice(0, 2) * 60 + +b.slice(3));
        if (!ok) return false;
      }
    }
  }
  return true;
}
function naiveNext(loc: Location, at: number): number | undefined {
  for (let t = at; t < at + 14 * 86_400_000; t += 60_000) if (naiveAllowed(loc, t)) return t;
  return undefined;
}

console.log(`calendar ${set.version}; ${locations.length} distinct resolved zips; ${N.toLocaleString('en-US')} random instants 2026–2027; one core\n`);
// Warm the caches (interval lists for every plan/year) outside the timed loops.
for (const s of samples.slice(0, 50_000)) isAllowed(set, planFor(set, s.loc, 'sms', 'marketing'), s.at);

let sink = 0;
const checkRate = timeIt('allowed-check (planFor + binary search)', N, () => {
  for (const s of samples) if (isAllowed(set, planFor(set, s.loc, 'sms', 'marketing'), s.at)) sink++;
});
const nb = QUICK ? 5_000 : 50_000;
const naiveCheckRate = timeIt('  baseline: luxon per rule per instant', nb, () => {
  for (let i = 0; i < nb; i++) if (naiveAllowed(samples[i]!.loc, samples[i]!.at)) sink++;
});
const nd = QUICK ? 100_000 : 1_000_000;
const nextRate = timeIt('next_slot decide() (decision; reasons left unread)', nd, () => {
  for (let i = 0; i < nd; i++) {
    const s = samples[i]!;
    sink += decide(set, { location: s.loc, channel: 'sms', purpose: 'marketing', at: s.at, now: s.at, policy: 'next_slot' }).sendAt ?? 0;
  }
});
const ne = QUICK ? 50_000 : 300_000;
timeIt('next_slot decide() + reasons materialised', ne, () => {
  for (let i = 0; i < ne; i++) {
    const s = samples[i]!;
    sink += decide(set, { location: s.loc, channel: 'sms', purpose: 'marketing', at: s.at, now: s.at, policy: 'next_slot' }).reasons.length;
  }
});
const nn = QUICK ? 200 : 1_000;
const naiveNextRate = timeIt('  baseline: luxon minute stepping', nn, () => {
  for (let i = 0; i < nn; i++) sink += naiveNext(samples[i]!.loc, samples[i]!.at) ?? 0;
});

// ---- tcpa plan end to end ---------------------------------------------------------------------
async function writeJsonl(path: string, rows: number): Promise<void> {
  const out = createWriteStream(path);
  let buf = '';
  for (let i = 0; i < rows; i++) {
    const s = samples[i % samples.length]!;
    buf += `{"id":"c${i}","zip":"${s.loc.zip}","at":"${new Date(s.at).toISOString()}"}\n`;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
}

async function runPlan(path: string, extra: string[] = []): Promise<{ secs: number; peakRssMb: number }> {
  const t0 = performance.now();
  const child = spawn('/usr/bin/time', ['-f', '%M', process.execPath, join(import.meta.dirname, '../bin/tcpa.mjs'), 'plan', '--in', path, '--channel', 'sms', '--now', '2026-01-01T00:00:00Z', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  if (code !== 0) throw new Error(`plan failed: ${err}`);
  const kb = Number(err.trim().split('\n').pop());
  return { secs: (performance.now() - t0) / 1000, peakRssMb: kb / 1024 };
}

/** Runs of each `tcpa plan` measurement (the median is reported, with the range: these machines are noisy). */
const PLAN_RUNS = QUICK ? 1 : 3;

const dir = mkdtempSync(join(tmpdir(), 'tcpa-bench-'));
const sizes = QUICK ? [20_000, 100_000] : [100_000, 1_000_000];
const planFigures: Array<{ rows: number; rate: number; peakRssMb: number }> = [];
for (const rows of sizes) {
  const path = join(dir, `contacts-${rows}.jsonl`);
  await writeJsonl(path, rows);
  // The default (worker threads from 16 MB of JSONL, one per core but one) and, for the largest
  // file, the main thread alone (--workers 0) as its baseline, alternating runs.
  const configs: Array<{ label: string; args: string[] }> = [{ label: '', args: [] }];
  if (rows === sizes.at(-1)) configs.push({ label: ', --workers 0', args: ['--workers', '0'] });
  const runs = new Map<string, Array<{ secs: number; peakRssMb: number }>>(configs.map((c) => [c.label, []]));
  for (let i = 0; i < PLAN_RUNS; i++) for (const c of configs) runs.get(c.label)!.push(await runPlan(path, c.args));
  for (const c of configs) {
    const rates = runs.get(c.label)!.map((r) => rows / r.secs).sort((a, b) => a - b);
    const rate = rates[Math.floor(rates.length / 2)]!;
    const peakRssMb = Math.max(...runs.get(c.label)!.map((r) => r.peakRssMb));
    if (c.label === '') planFigures.push({ rows, rate, peakRssMb });
    const range = rates.length > 1 ? ` (${rates.map((r) => Math.round(r).toLocaleString('en-US')).join(' / ')})` : '';
    console.log(`${`tcpa plan, ${rows.toLocaleString('en-US')} rows${c.label} (process start included)`.padEnd(58)} ${Math.round(rate).toLocaleString('en-US').padStart(12)} /s   peak RSS ${peakRssMb.toFixed(0)} MB${range}`);
  }
}
rmSync(dir, { recursive: true, force: true });

console.log(`\nspeed-up over baseline: allowed-check ×${(checkRate / naiveCheckRate).toFixed(0)}, next_slot ×${(nextRate / naiveNextRate).toFixed(0)}`);
console.log(`targets: allowed-check ≥ 1,000,000/s ${checkRate >= 1e6 ? 'met' : 'NOT met'}; next_slot ≥ 300,000/s ${nextRate >= 3e5 ? 'met' : 'NOT met'}; plan ≥ 150,000 rows/s ${planFigures.at(-1)!.rate >= 1.5e5 ? 'met' : 'NOT met'}`);
if (sink === 42) console.log('');
