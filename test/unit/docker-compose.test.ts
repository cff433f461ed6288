/**
 * Static checks of docker-compose.yml and the Dockerfile against the repo: every command names an
 * npm script that exists and whose entry file exists, dependencies and healthchecks are wired,
 * the app services get their configuration, the secret key is never hard-coded, and the
 * dispatcher can be scaled. No Docker is needed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

interface Service {
  build?: string | { context?: string; dockerfile?: string };
  image?: string;
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  container_name?: string;
  ports?: (string | number | { target?: number; published?: string | number })[];
  restart?: string;
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service>; version?: unknown };
const services = compose.services;
const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };

const APP_SERVICES = ['api', 'pump', 'dispatcher', 'reconciler', 'planner', 'webhooks'];

function words(cmd: string | string[] | undefined): string[] {
  if (cmd === undefined) return [];
  return Array.isArray(cmd) ? cmd.map(String) : cmd.trim().split(/\s+/);
}

/** The script named by `npm run [-s|--silent ...] <script>` in `cmd`, if any. */
function npmScript(cmd: string[]): string | undefined {
  const npm = cmd.indexOf('npm');
  if (npm < 0 || (cmd[npm + 1] !== 'run' && cmd[npm + 1] !== 'run-script')) return undefined;
  return cmd.slice(npm + 2).find((w) => !w.startsWith('-'));
}

/** Problems with `npm run <script>`: the script must exist and every source file it runs must exist. */
function scriptProblems(script: string, where: string): string[] {
  const value = pkg.scripts[script];
  if (value === undefined) return [`${where} runs \`npm run ${script}\` but package.json has no "${script}" script`];
  const files = value.split(/\s+/).filter((w) => /^[\w./-]+\.(ts|mts|js|mjs|cjs)$/.test(w));
  if (files.length === 0) return [`package.json script "${script}" (${JSON.stringify(value)}) names no entry file (expected \`tsx <file>\`)`];
  return files.filter((f) => !existsSync(join(ROOT, f))).map((f) => `package.json script "${script}" runs ${f}, which does not exist`);
}

function envOf(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((e) => [e.split('=')[0]!, e.includes('=') ? e.slice(e.indexOf('=') + 1) : '']));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

function dependsOn(service: Service): Record<string, string | undefined> {
  const deps = service.depends_on ?? [];
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, undefined]));
  return Object.fromEntries(Object.entries(deps).map(([k, v]) => [k, v?.condition]));
}

describe('docker-compose.yml', () => {
  it('is a Compose-spec file (no `version:` key) with the expected services', () => {
    expect(compose.version).toBeUndefined();
    expect(Object.keys(services).sort()).toEqual(['api', 'dispatcher', 'migrate', 'planner', 'postgres', 'pump', 'reconciler', 'redis', 'webhooks']);
    expect(services['redis']?.image).toMatch(/^redis:7-alpine$/);
    expect(services['postgres']?.image).toMatch(/^postgres:16-alpine$/);
  });

  it.each(Object.keys(services))('service %s: an `npm run` command names a script that exists and whose entry file exists', (name) => {
    const service = services[name]!;
    const script = npmScript([...words(service.entrypoint), ...words(service.command)]);
    if (script === undefined) {
      expect(service.build, `${name} builds the app image but runs no \`npm run <script>\``).toBeUndefined();
      return;
    }
    expect(scriptProblems(script, `service ${name}`)).toEqual([]);
  });

  it('runs the expected scripts', () => {
    const scripts = Object.fromEntries(Object.entries(services).map(([n, s]) => [n, npmScript(words(s.command))]));
    expect(scripts).toMatchObject({
      migrate: 'db:migrate',
      api: 'start:api',
      pump: 'worker:pump',
      dispatcher: 'worker:dispatcher',
      reconciler: 'worker:reconciler',
      planner: 'worker:planner',
      webhooks: 'worker:webhooks',
    });
  });

  it('every depends_on target is a service', () => {
    const missing = Object.entries(services).flatMap(([name, s]) =>
      Object.keys(dependsOn(s))
        .filter((d) => !(d in services))
        .map((d) => `${name} depends on unknown service ${d}`),
    );
    expect(missing).toEqual([]);
  });

  it('orders start-up: migrate after a healthy postgres, the app after migrate and a healthy redis', () => {
    expect(dependsOn(services['migrate']!)).toMatchObject({ postgres: 'service_healthy' });
    expect(services['migrate']!.restart).toBe('no');
    for (const name of APP_SERVICES) {
      expect(dependsOn(services[name]!), name).toMatchObject({ migrate: 'service_completed_successfully', redis: 'service_healthy' });
    }
  });

  it.each(['redis', 'postgres', 'api'])('service %s has a healthcheck', (name) => {
    const hc = services[name]!.healthcheck;
    expect(hc?.disable).not.toBe(true);
    expect(words(hc?.test).length).toBeGreaterThan(1);
  });

  it('checks health with redis-cli ping, pg_isready and GET /healthz', () => {
    expect(words(services['redis']!.healthcheck?.test).join(' ')).toContain('redis-cli ping');
    expect(words(services['postgres']!.healthcheck?.test).join(' ')).toContain('pg_isready');
    expect(words(services['api']!.healthcheck?.test).join(' ')).toContain('http://127.0.0.1:3000/healthz');
  });

  it('runs redis without persistence and with noeviction (BullMQ)', () => {
    const cmd = words(services['redis']!.command);
    expect(cmd[cmd.indexOf('--maxmemory-policy') + 1]).toBe('noeviction');
    expect(cmd[cmd.indexOf('--appendonly') + 1]).toBe('no');
    expect(cmd[cmd.indexOf('--save') + 1]).toMatch(/^(|"")$/);
  });

  it.each(APP_SERVICES)('service %s gets DATABASE_URL, REDIS_URL and TCPA_SECRET_KEY', (name) => {
    const env = envOf(services[name]!);
    expect(env['DATABASE_URL']).toMatch(/^postgresql:\/\/.+@postgres:5432\/tcpa$/);
    expect(env['REDIS_URL']).toBe('redis://redis:6379');
    expect(env['TCPA_SECRET_KEY']).toBeDefined();
  });

  it('never hard-codes TCPA_SECRET_KEY: it must come from the shell, required, with no default', () => {
    for (const [name, s] of Object.entries(services)) {
      const value = envOf(s)['TCPA_SECRET_KEY'];
      if (value === undefined) continue;
      expect(value, `service ${name}`).toMatch(/^\$\{TCPA_SECRET_KEY:?\?[^}]*\}$/);
    }
    for (const [name, s] of Object.entries(services)) {
      for (const [k, v] of Object.entries(envOf(s))) {
        if (k.startsWith('TWILIO_')) expect(v, `service ${name} ${k}`).toMatch(new RegExp(`^\\$\\{${k}:?-\\}$`));
      }
    }
  });

  it('lets the dispatcher scale: no container_name and no fixed host port', () => {
    const d = services['dispatcher']!;
    expect(d.container_name).toBeUndefined();
    const fixed = (d.ports ?? []).filter((p) => (typeof p === 'object' ? p.published !== undefined : String(p).includes(':')));
    expect(fixed).toEqual([]);
  });

  it('builds app services from the repo Dockerfile', () => {
    for (const name of ['migrate', ...APP_SERVICES]) {
      const build = services[name]!.build;
      expect(build, name).toBeDefined();
      const file = typeof build === 'string' ? join(build, 'Dockerfile') : join(build!.context ?? '.', build!.dockerfile ?? 'Dockerfile');
      expect(existsSync(join(ROOT, file)), `${name} builds ${file}`).toBe(true);
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = existsSync(join(ROOT, 'Dockerfile')) ? read('Dockerfile') : '';

  it('exists, installs from the lockfile and runs in UTC', () => {
    expect(dockerfile).not.toBe('');
    expect(dockerfile).toMatch(/^FROM node:20-slim\b/m);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(dockerfile).toMatch(/^ENV TZ=UTC\b/m);
  });

  it('its CMD/ENTRYPOINT names npm scripts that exist', () => {
    const lines = dockerfile.split('\n').filter((l) => /^(CMD|ENTRYPOINT)\s/.test(l));
    const problems = lines.flatMap((line) => {
      const arg = line.replace(/^(CMD|ENTRYPOINT)\s+/, '').trim();
      const cmd = arg.startsWith('[') ? (JSON.parse(arg) as string[]) : words(arg);
      const script = npmScript(cmd);
      return script === undefined ? [] : scriptProblems(script, `Dockerfile ${line.trim()}`);
    });
    expect(problems).toEqual([]);
  });

  it('its RUN lines name npm scripts that exist, and `npm ci` runs after the files its install scripts use are copied', () => {
    const lines = dockerfile.split('\n').map((l) => l.trim());
    const runs = lines.filter((l) => /^RUN\s/.test(l)).map((l) => words(l.replace(/^RUN\s+/, '')));
    expect(runs.flatMap((cmd) => (npmScript(cmd) === undefined ? [] : scriptProblems(npmScript(cmd)!, `Dockerfile RUN ${cmd.join(' ')}`)))).toEqual([]);
    // What is in the image when `npm ci` runs: the COPY lines before it.
    const install = lines.findIndex((l) => /^RUN npm ci\b/.test(l));
    const copied = lines.slice(0, install).filter((l) => /^COPY\s/.test(l)).flatMap((l) => words(l).slice(1, -1));
    const present = (file: string) => copied.some((c) => c === '.' || c === file || file.startsWith(`${c.replace(/\/$/, '')}/`));
    // The lifecycle scripts `npm ci` runs, following `npm run` into other scripts.
    const missing: string[] = [];
    const follow = (script: string, seen: Set<string>): void => {
      if (seen.has(script) || pkg.scripts[script] === undefined) return;
      seen.add(script);
      for (const part of pkg.scripts[script].split(/&&|\|\||;/)) {
        const cmd = words(part);
        const next = npmScript(cmd);
        if (next !== undefined) follow(next, seen);
        for (const w of cmd) if (/^[\w./-]+\.(ts|mts|js|mjs|cjs)$/.test(w) && !present(w)) missing.push(`${script} runs ${w}, not copied before \`npm ci\``);
      }
    };
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) follow(hook, new Set());
    expect(missing).toEqual([]);
    expect(present('prisma/schema.prisma')).toBe(true); // prisma generate reads it
    // The CLI build runs once the sources are in.
    const build = lines.findIndex((l) => /^RUN npm run (-s )?build:cli\b/.test(l));
    expect(build).toBeGreaterThan(lines.findIndex((l) => l === 'COPY . .'));
  });

  it('.dockerignore keeps node_modules, .git and generated code out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const entry of ['node_modules', '.git', 'src/generated']) expect(ignored).toContain(entry);
  });
});
