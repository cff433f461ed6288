#!/usr/bin/env node
/**
 * Builds the `tcpa` CLI into plain JavaScript (dist/cli/tcpa/, a link to the build's own
 * directory, swapped atomically so a CLI already running keeps its files): the entry point and the two worker
 * threads it starts (plan, audit verify), our own code bundled by esbuild, packages left to Node.
 * bin/tcpa.mjs runs this bundle when it was built from the sources as they are now, and the
 * TypeScript sources through tsx otherwise, so a stale bundle is never run. Why: tsx resolves
 * and loads every module on a thread of its own, in the main thread and again in each worker;
 * on a 2-core machine that thread took ~10 % of a parallel `tcpa plan` run.
 *
 * Run by `npm ci` (postinstall, after prisma generate: the bundle holds the generated client)
 * and by `npm run build:cli`.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Three levels below the root, like the sources: the modules find the calendars, the migrations
// and their worker entry points by paths relative to themselves.
const dist = join(root, 'dist/cli');
const link = join(dist, 'tcpa');
const tmp = join(dist, `build-${process.pid}.tmp`);

mkdirSync(dist, { recursive: true });
rmSync(tmp, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: {
    main: 'src/cli/main.ts',
    'plan-worker': 'src/cli/plan-worker.ts',
    'verify-worker': 'src/adapters/audit/verify-worker.ts',
  },
  outdir: tmp,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  metafile: true,
  logLevel: 'warning',
});
const inputs = Object.keys(result.metafile.inputs).sort();
const manifest = `${JSON.stringify({ inputs: Object.fromEntries(inputs.map((p) => [p, createHash('sha256').update(readFileSync(join(root, p))).digest('hex')])) }, null, 1)}\n`;
writeFileSync(join(tmp, 'manifest.json'), manifest);
const name = `tcpa-${createHash('sha256').update(manifest).digest('hex').slice(0, 12)}`;
if (existsSync(join(dist, name))) rmSync(tmp, { recursive: true, force: true });
else renameSync(tmp, join(dist, name));
// Point the link at this build: a new link renamed over the old one (atomic).
let previous;
try {
  previous = readlinkSync(link);
} catch {
  rmSync(link, { recursive: true, force: true });
}
const next = join(dist, `tcpa-link-${process.pid}.tmp`);
rmSync(next, { force: true });
symlinkSync(name, next);
renameSync(next, link);
// Keep this build and the one before it (a CLI started before the swap may still load from it).
for (const entry of readdirSync(dist)) {
  if (entry.startsWith('tcpa-') && entry !== name && entry !== previous) rmSync(join(dist, entry), { recursive: true, force: true });
}
console.log(`tcpa CLI built into ${relative(root, join(dist, name))} (dist/cli/tcpa) from ${inputs.length} source files`);
