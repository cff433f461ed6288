/**
 * The `tcpa` executable runs the CLI built by scripts/build-cli.mjs only while that build
 * matches the sources (bin/built-cli.mjs), and the build behaves exactly as the sources run
 * through tsx: same output, same exit codes, worker threads included.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freshBuild } from '../../bin/built-cli.mjs';

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/tcpa.mjs');
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('freshBuild', () => {
  it('is true only while every input hashes as the manifest records', () => {
    const root = mkdtempSync(join(tmpdir(), 'built-'));
    const built = join(root, 'dist');
    mkdirSync(join(root, 'src'));
    mkdirSync(built);
    writeFileSync(join(root, 'src/a.ts'), 'export const a = 1;\n');
    writeFileSync(join(root, 'src/b.json'), '{"b":2}\n');
    expect(freshBuild(root, built)).toBe(false); // no manifest
    writeFileSync(join(built, 'manifest.json'), JSON.stringify({ inputs: {} }));
    expect(freshBuild(root, built)).toBe(false); // a manifest without inputs
    writeFileSync(join(built, 'manifest.json'), JSON.stringify({ inputs: { 'src/a.ts': sha('export const a = 1;\n'), 'src/b.json': sha('{"b":2}\n') } }));
    expect(freshBuild(root, built)).toBe(true);
    writeFileSync(join(root, 'src/b.json'), '{"b":3}\n');
    expect(freshBuild(root, built)).toBe(false); // an input changed
    writeFileSync(join(root, 'src/b.json'), '{"b":2}\n');
    expect(freshBuild(root, built)).toBe(true);
    rmSync(join(root, 'src/a.ts'));
    expect(freshBuild(root, built)).toBe(false); // an input is gone
    writeFileSync(join(built, 'manifest.json'), '{oops');
    expect(freshBuild(root, built)).toBe(false);
  });
});

describe('the built CLI', () => {
  const tcpa = (args: string[], env: Record<string, string> = {}, input?: string) =>
    spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', maxBuffer: 64 * 2 ** 20, env: { ...process.env, TZ: 'UTC', ...env } });

  it('is rebuilt from the sources, run when fresh, and answers as the sources do', () => {
    const build = spawnSync(process.execPath, [join(ROOT, 'scripts/build-cli.mjs')], { encoding: 'utf8' });
    expect(build.status, build.stderr).toBe(0);
    expect(readlinkSync(join(ROOT, 'dist/cli/tcpa'))).toMatch(/^tcpa-[0-9a-f]{12}$/);
    expect(freshBuild(ROOT, join(ROOT, 'dist/cli/tcpa'))).toBe(true);
    // Every file the build finds by a path relative to itself exists: the calendars, the
    // migrations, the worker entry points (an audit verify worker that fails to start would be
    // replaced by the main thread without a word).
    const dirOfBuild = realpathSync(join(ROOT, 'dist/cli/tcpa'));
    const relative = readdirSync(dirOfBuild)
      .filter((f) => f.endsWith('.mjs'))
      .flatMap((f) => [...readFileSync(join(dirOfBuild, f), 'utf8').matchAll(/new URL\("([^"]+)", import\.meta\.url\)/g)].map((m) => m[1]!));
    expect(relative.sort()).toEqual(['../../../calendars/', '../../../prisma/migrations', './plan-worker.mjs', './verify-worker.mjs']);
    for (const rel of relative) expect(existsSync(join(dirOfBuild, rel)), rel).toBe(true);

    const dir = mkdtempSync(join(tmpdir(), 'built-cli-'));
    const file = join(dir, 'contacts.jsonl');
    const zips = ['10001', '33101', '96820', '99501', '86045', '00000', '1234'];
    const rows = Array.from({ length: 2_000 }, (_, i) => JSON.stringify({ id: `c${i}`, zip: zips[i % zips.length], phone: i % 5 === 0 ? '+13055550123' : undefined, at: new Date(Date.UTC(2026, 2, 7) + i * 1_260_000).toISOString() }));
    rows.splice(7, 0, '{not json', '');
    writeFileSync(file, rows.join('\n'));
    const runs: Array<[string, string[]]> = [
      ['plan on a worker thread', ['plan', '--in', file, '--channel', 'sms', '--now', '2026-03-01T00:00:00Z', '--workers', '1']],
      ['check', ['check', '--zip', '99501', '--phone', '+12125550123', '--at', '2026-03-08T06:30:00Z', '--now', '2026-03-01T00:00:00Z', '--channel', 'voice']],
      ['a bad request', ['check', '--zip', '10001', '--at', 'yesterday', '--channel', 'sms']],
      ['calendars', ['calendars']],
    ];
    for (const [what, args] of runs) {
      const built = tcpa(args);
      const source = tcpa(args, { TCPA_FROM_SOURCE: '1' });
      expect(built.stdout, what).toBe(source.stdout);
      expect(built.stderr, what).toBe(source.stderr);
      expect(built.status, what).toBe(source.status);
    }
    const plan = tcpa(runs[0]![1]);
    expect(plan.status).toBe(0);
    expect(plan.stdout.split('\n').filter(Boolean)).toHaveLength(2_001);
    expect(tcpa(runs[2]![1]).status).toBe(2);
  }, 120_000);
});
