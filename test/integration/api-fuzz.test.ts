/**
 * Property-based fuzzing of the whole HTTP surface, on the real engine (Postgres, Redis):
 * every route of `apiRoutes()` (read at run time, as the OpenAPI document is) and the four
 * provider webhooks.
 *
 * Each case picks a route and a role's key (mostly an allowed role, sometimes any), fills the
 * path parameters (a real id of the org, a random uuid or a hostile segment), and sends a query
 * and a body generated from the route's zod schemas (`z.toJSONSchema`, or the route's example)
 * and then mutated: a field set to a wrong type, NUL or another refused character, a huge
 * number, a very long string, an unknown enum value, a bad uuid or cursor; a field removed; an
 * unknown field added; the whole body replaced by raw text that `JSON.stringify` would never
 * make. File uploads get CSV/JSONL files with hostile rows. Webhooks get odd form fields with a
 * missing, forged or valid signature.
 *
 * For every answer: never a 5xx; an error has exactly the `{"error":{"code","message"}}` shape
 * (`details` optional) with a known code; no stack trace, file path or driver name in the body;
 * and when the request was refused (4xx), no table's row count changed (the audit log included).
 *
 * Seeded: FUZZ_SEED (default a constant) and FUZZ_RUNS (default 300); the seed is printed on
 * failure, with the failing request. Each route is first called once with its own example.
 */
import { parse as parseForm } from 'node:querystring';
import fc from 'fast-check';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_ROLES, createApiKey, type ApiRole } from '../../src/adapters/auth/api-keys.ts';
import { apiRoutes } from '../../src/api/app.ts';
import type { RouteSpec } from '../../src/api/route.ts';
import { ERROR_CODES } from '../../src/domain/errors.ts';
import { startEngine, type TestEngine } from '../helpers/engine.ts';
import { call, label, paramNames, RouteIds, type Answer } from '../helpers/route-walk.ts';
import { arbitraryOf, hostileRawBody, hostileValue } from '../helpers/zod-arbitrary.ts';

const SEED = Number(process.env['FUZZ_SEED'] ?? 20261205);
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 300);

let e: TestEngine;
let routes: RouteSpec[];
const keys = {} as Record<ApiRole, string>;
/** Real ids of the org by route (path parameter → id). */
const realIds = new Map<RouteSpec, Record<string, string>>();
let timerId: string;
let countSql: string;

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/** encodeURIComponent, except that a lone surrogate (which it refuses) goes as the bytes of one (CESU-8). */
function enc(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    out += cp >= 0xd800 && cp <= 0xdfff ? `%${Buffer.from([0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)]).toString('hex').match(/../g)!.join('%')}` : encodeURIComponent(ch);
  }
  return out;
}

const scalar = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));

/** A query object as `?a=1&b=x&b=y` (arrays repeat the key; objects as JSON). */
function queryString(q: unknown): string {
  if (q === undefined) return '';
  if (typeof q !== 'object' || q === null) return `?${enc(scalar(q))}`;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined) continue;
    for (const item of Array.isArray(v) ? v : [v]) parts.push(`${enc(k)}=${enc(scalar(item))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

// ---------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------

type Path = Array<string | number>;

function allPaths(v: unknown, path: Path = [], out: Path[] = []): Path[] {
  out.push(path);
  if (out.length > 200) return out;
  if (Array.isArray(v)) v.forEach((x, i) => allPaths(x, [...path, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) allPaths(x, [...path, k], out);
  return out;
}

function getAt(v: unknown, path: Path): unknown {
  let node = v;
  for (const seg of path) node = (node as Record<string | number, unknown>)?.[seg];
  return node;
}

/** `v` with `value` at `path` (the root replaced for an empty path); objects are created on the way. */
function setAt(v: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value;
  const root = (v && typeof v === 'object' ? v : {}) as Record<string | number, unknown>;
  let node = root;
  for (let i = 0; i < path.length - 1; i++) {
    const next = node[path[i]!];
    node = (next && typeof next === 'object' ? next : (node[path[i]!] = {})) as Record<string | number, unknown>;
  }
  Object.defineProperty(node, path[path.length - 1]!, { value, enumerable: true, writable: true, configurable: true });
  return root;
}

type Mutation =
  | { kind: 'none' }
  | { kind: 'set'; pick: number; value: unknown }
  | { kind: 'field'; field: string; value: unknown }
  | { kind: 'delete'; pick: number }
  | { kind: 'extra'; pick: number; key: string; value: unknown };

const extraKey = fc.oneof(fc.constantFrom('extra', '__proto__', 'constructor', 'a\u0000b', '\ud800', '', 'id', 'orgId'), fc.string({ maxLength: 6 }));

function mutationArb(fields: string[]): fc.Arbitrary<Mutation> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant<Mutation>({ kind: 'none' }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('set' as const), pick: fc.nat(), value: hostileValue }) },
    ...(fields.length ? [{ weight: 3, arbitrary: fc.record({ kind: fc.constant('field' as const), field: fc.constantFrom(...fields), value: hostileValue }) }] : []),
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('extra' as const), pick: fc.nat(), key: extraKey, value: hostileValue }) },
  );
}

function mutate(base: unknown, m: Mutation): unknown {
  const v: unknown = base === undefined ? undefined : structuredClone(base);
  switch (m.kind) {
    case 'none':
      return v;
    case 'set': {
      const paths = allPaths(v);
      return setAt(v, paths[m.pick % paths.length]!, m.value);
    }
    case 'field':
      return setAt(v, [m.field], m.value);
    case 'delete': {
      const paths = allPaths(v).filter((p) => p.length > 0);
      if (!paths.length) return v;
      const p = paths[m.pick % paths.length]!;
      const parent = getAt(v, p.slice(0, -1));
      if (Array.isArray(parent)) parent.splice(p[p.length - 1] as number, 1);
      else if (parent && typeof parent === 'object') delete (parent as Record<string, unknown>)[p[p.length - 1] as string];
      return v;
    }
    case 'extra': {
      const objects = allPaths(v).filter((p) => {
        const x = getAt(v, p);
        return x !== null && typeof x === 'object' && !Array.isArray(x);
      });
      if (!objects.length) return setAt(v, [m.key], m.value);
      return setAt(v, [...objects[m.pick % objects.length]!, m.key], m.value);
    }
  }
}

/** Top-level property names of an object schema (for targeted mutations). */
function fieldsOf(schema: unknown): string[] {
  const s = schema as { shape?: Record<string, unknown>; def?: { options?: unknown[]; in?: unknown; schema?: unknown } } | undefined;
  if (!s) return [];
  if (s.shape) return Object.keys(s.shape);
  const def = s.def;
  if (def?.options) return [...new Set(def.options.flatMap(fieldsOf))];
  if (def?.in) return fieldsOf(def.in);
  if (def?.schema) return fieldsOf(def.schema);
  return [];
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

interface ApiCase {
  type: 'api';
  route: number;
  role: ApiRole;
  params: Record<string, string>;
  query?: unknown;
  body?: unknown;
  rawBody?: string;
  contentType?: string;
}

interface WebhookCase {
  type: 'webhook';
  hook: 'status' | 'inbound' | 'voice-optout' | 'confirmation-status';
  target: string | undefined;
  fields: Array<[string, string]>;
  signature: 'valid' | 'none' | 'forged' | 'other-url';
  contentType: string;
}

type Case = ApiCase | WebhookCase;

const hostileSegment = fc.constantFrom('not-a-uuid', '%00', 'a%00b', '%ED%A0%80', 'x'.repeat(3000), '..', '%2F', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '00000000-0000-0000-0000-00000000000G', '%');

/** A contact or audience file: rows good, bad and hostile. */
const fileRow = fc.oneof(
  fc.constantFrom('+12125550123,10001,ext-1', '+13055550100,33130,', '2125550199,,x', 'not-a-phone,1,2', '+12125550123,10001,"quoted, ext"', '"unclosed,1,2', ',,,,,,,'),
  hostileValue.map((v) => `+12125550124,10001,${scalar(v).replace(/\n/g, ' ').slice(0, 500)}`),
  hostileValue.map((v) => JSON.stringify({ phone: '+12125550125', zip: '10001', externalId: v })),
  hostileValue.map((v) => JSON.stringify({ phone: v, zip: v })),
  fc.constantFrom('{"phone":"+12125550126","externalId":"a\\u0000b"}', '{"phone":"+12125550127","externalId":"\\ud800"}', '{', '[]', 'null', '{"phone":1e400}'),
);
const fileBody = fc.tuple(fc.constantFrom('phone,zip,externalId', 'Phone Number,ZIP,external_id', 'zip,name', '', '\ufeffphone,zip,externalId', 'phone,phone,zip'), fc.array(fileRow, { maxLength: 6 }), fc.constantFrom('\n', '\r\n')).map(([header, rows, nl]) => [header, ...rows].join(nl));
const fileType = fc.constantFrom('text/csv', 'application/x-ndjson', 'application/jsonl', 'application/json', 'text/plain', 'text/csv; charset=latin1', 'multipart/form-data; boundary=x');

function apiCaseArb(index: number): fc.Arbitrary<ApiCase> {
  const r = routes[index]!;
  const real = realIds.get(r) ?? {};
  const params: Record<string, fc.Arbitrary<string>> = {};
  for (const name of paramNames(r.path)) params[name] = fc.oneof({ weight: 4, arbitrary: fc.constant(real[name] ?? '00000000-0000-4000-8000-000000000000') }, { weight: 1, arbitrary: fc.uuid() }, { weight: 2, arbitrary: hostileSegment });
  const role = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...r.roles) }, { weight: 1, arbitrary: fc.constantFrom(...API_ROLES) });
  const query = r.query
    ? fc.tuple(fc.oneof(fc.constant({}), arbitraryOf(r.query)), mutationArb(fieldsOf(r.query))).map(([q, m]) => mutate(q, m))
    : fc.oneof(fc.constant(undefined), fc.constant({ junk: 'a\u0000b' }));
  let body: fc.Arbitrary<Pick<ApiCase, 'body' | 'rawBody' | 'contentType'>>;
  if (r.body) {
    const generated = arbitraryOf(r.body);
    const base =
      r.example === undefined
        ? generated
        : fc.oneof(
            fc.constant(r.example as unknown),
            generated,
            // The example with some of its fields taken from a generated value.
            fc.tuple(generated, fc.nat()).map(([g, bits]) => {
              const out = { ...(r.example as Record<string, unknown>) };
              if (g && typeof g === 'object') Object.entries(g).forEach(([k, v], i) => (bits >> i) & 1 && (out[k] = v));
              return out;
            }),
          );
    body = fc.oneof(
      { weight: 8, arbitrary: fc.tuple(base, mutationArb(fieldsOf(r.body))).map(([b, m]) => ({ body: mutate(b, m) })) },
      { weight: 1, arbitrary: hostileRawBody.map((rawBody) => ({ rawBody })) },
      { weight: 1, arbitrary: fc.constantFrom({ rawBody: 'a=1&b=%00', contentType: 'application/x-www-form-urlencoded' }, { rawBody: '{"a":1}', contentType: 'text/plain' }, { rawBody: '{}', contentType: 'application/json; charset=utf-16' }) },
    );
  } else if (r.rawBody) {
    body = fc.tuple(fileBody, fileType).map(([rawBody, contentType]) => ({ rawBody, contentType }));
  } else if (r.method === 'get') {
    body = fc.constant({});
  } else {
    body = fc.oneof(fc.constant({}), fc.constant({ body: { unexpected: 'a\u0000b' } }));
  }
  return fc.record({ type: fc.constant('api' as const), route: fc.constant(index), role, params: fc.record(params), query, b: body }).map(({ b, ...c }) => ({ ...c, ...b }) as ApiCase);
}

const webhookValue = fc.oneof(
  fc.constantFrom('+12125550123', '+13055550100', '2125550123', 'STOP', 'stop', 'START', 'HELP', 'UNSUBSCRIBE', 'stop please', '9', '1', '#', 'outbound-api', 'inbound', 'delivered', 'failed', 'undelivered', 'sent', '30003', '', 'SM' + 'a'.repeat(32), 'CA' + 'b'.repeat(32)),
  hostileValue.filter((v) => typeof v === 'string' && !/[\ud800-\udfff]/u.test(v.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''))).map((v) => (v as string).slice(0, 2000)),
);
const webhookField = fc.oneof(fc.constantFrom('From', 'To', 'Body', 'MessageSid', 'SmsSid', 'MessageStatus', 'SmsStatus', 'CallSid', 'CallStatus', 'Digits', 'Direction', 'Called', 'Caller', 'ErrorCode', 'AccountSid', 'NumMedia'), fc.string({ maxLength: 6 }));

const webhookCaseArb: fc.Arbitrary<WebhookCase> = fc.record({
  type: fc.constant('webhook' as const),
  hook: fc.constantFrom('status' as const, 'inbound' as const, 'voice-optout' as const, 'confirmation-status' as const),
  target: fc.oneof({ weight: 4, arbitrary: fc.constant('real') }, { weight: 1, arbitrary: fc.uuid() }, { weight: 1, arbitrary: fc.constantFrom(undefined, 'not-a-uuid', 'a\u0000b', '', '00000000-0000-0000-0000-00000000000g') }),
  fields: fc.array(fc.tuple(webhookField, webhookValue), { maxLength: 8 }),
  signature: fc.constantFrom('valid' as const, 'valid' as const, 'none' as const, 'forged' as const, 'other-url' as const),
  contentType: fc.constantFrom('application/x-www-form-urlencoded', 'application/x-www-form-urlencoded', 'application/x-www-form-urlencoded', 'application/json', 'text/plain'),
});

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

const STACK = /\n\s+at \S|\.(?:ts|js|mjs|cjs):\d+|node_modules|prisma|PrismaClient|SQLSTATE|ECONNREFUSED|\bpg\b/i;

async function rowCounts(): Promise<Record<string, number>> {
  const [row] = await e.rt.prisma.$queryRawUnsafe<Array<Record<string, number>>>(countSql);
  return row!;
}

function describeCase(c: Case): string {
  return JSON.stringify(c, (_k, v: unknown) => (typeof v === 'string' && v.length > 300 ? `${v.slice(0, 60)}…(${v.length} chars)` : v));
}

async function send(c: Case): Promise<{ what: string; a: Answer }> {
  if (c.type === 'api') {
    const r = routes[c.route]!;
    const path = r.path.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) => c.params[name]!) + queryString(c.query);
    const a = await call(e.url, keys[c.role], r.method, path, {
      ...(c.body === undefined ? {} : { body: c.body }),
      ...(c.rawBody === undefined ? {} : { rawBody: c.rawBody }),
      ...(c.contentType === undefined ? {} : { contentType: c.contentType }),
    });
    return { what: `${label(r)} as ${c.role}: ${r.method.toUpperCase()} ${path.slice(0, 300)}`, a };
  }
  const param = c.hook === 'status' ? 'timerId' : 'orgId';
  const target = c.target === 'real' ? (c.hook === 'status' ? timerId : e.orgId) : c.target;
  const path = `/webhooks/twilio/${c.hook}${target === undefined ? '' : `?${param}=${enc(target)}`}`;
  const form = c.fields.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
  const token = await e.rt.ctx.sender.webhookToken(e.orgId);
  const params = parseForm(form) as Record<string, string | string[]>;
  const headers: Record<string, string> = {};
  if (c.signature === 'valid') headers['x-twilio-signature'] = twilio.getExpectedTwilioSignature(token, `${e.url}${path}`, params);
  if (c.signature === 'other-url') headers['x-twilio-signature'] = twilio.getExpectedTwilioSignature(token, `${e.url}/elsewhere`, params);
  if (c.signature === 'forged') headers['x-twilio-signature'] = 'bm90IGEgc2lnbmF0dXJl';
  const a = await call(e.url, undefined, 'post', path, { rawBody: form, contentType: c.contentType, headers });
  return { what: `webhook ${c.hook} (${c.signature} signature): POST ${path.slice(0, 300)}`, a };
}

const stats = { cases: 0, api: 0, webhooks: 0, byStatus: {} as Record<string, number>, byRole: {} as Record<string, number>, routesHit: new Set<string>() };

let lastCase: Case | undefined;

async function check(c: Case): Promise<void> {
  // Audit entries staged by earlier requests are linked into the chain in the background
  // (linkSoon): link them now, so that a move from audit_pending to audit_entries during this
  // request is not taken for a write by it.
  await e.rt.ctx.audit.flushSoon();
  await e.rt.ctx.audit.link(e.orgId);
  const before = await rowCounts();
  const previous = lastCase;
  lastCase = c;
  let sent: Awaited<ReturnType<typeof send>>;
  try {
    sent = await send(c);
  } catch (err) {
    throw new Error(`the request failed: ${String(err)} (${String((err as { cause?: unknown }).cause)})\n  case: ${describeCase(c).slice(0, 1500)}\n  previous case: ${previous ? describeCase(previous).slice(0, 1500) : '(none)'}`, { cause: err });
  }
  const { what, a } = sent;
  stats.cases++;
  if (c.type === 'api') {
    stats.api++;
    stats.byRole[c.role] = (stats.byRole[c.role] ?? 0) + 1;
    stats.routesHit.add(label(routes[c.route]!));
  } else {
    stats.webhooks++;
    stats.routesHit.add(`POST /webhooks/twilio/${c.hook}`);
  }
  stats.byStatus[a.status] = (stats.byStatus[a.status] ?? 0) + 1;
  const fail = (why: string) => new Error(`${why}\n  request: ${what}\n  case: ${describeCase(c).slice(0, 1500)}\n  answer: ${a.status} ${a.text.slice(0, 500)}`);
  if (a.status >= 500) throw fail(`a ${a.status}`);
  if (STACK.test(a.text)) throw fail('the answer shows internals (a stack trace, a file, the driver)');
  if (a.status >= 400) {
    const err = a.json?.error;
    const keysOk = a.json && typeof a.json === 'object' && Object.keys(a.json).join() === 'error' && err && typeof err === 'object' && Object.keys(err).every((k) => ['code', 'message', 'details'].includes(k));
    if (!keysOk || !(ERROR_CODES as readonly string[]).includes(err.code) || typeof err.message !== 'string' || !err.message) throw fail('an error without the {"error":{"code","message"}} shape');
    const after = await rowCounts();
    const changed = Object.keys(after).filter((t) => after[t] !== before[t]);
    if (changed.length) throw fail(`a refused request wrote rows: ${changed.map((t) => `${t} ${before[t]} → ${after[t]}`).join(', ')}`);
  }
  // A valid settings body may lower the org's API rate limit: lift it again, so the run goes on.
  if (c.type === 'api' && routes[c.route]!.path === '/v1/org/settings' && a.status < 300) {
    await e.rt.prisma.$executeRawUnsafe(`UPDATE "${orgTable}" SET settings = jsonb_set(settings::jsonb, '{rateLimitPerMinute}', '1000000') WHERE id = $1::uuid`, e.orgId);
  }
}

let orgTable = 'Org';

beforeAll(async () => {
  e = await startEngine({ parts: [] });
  routes = apiRoutes({ ctx: e.rt.ctx, ...(e.rt.config.secretKey ? { secretKey: e.rt.config.secretKey } : {}) });
  for (const role of API_ROLES) keys[role] = (await createApiKey(e.rt.prisma, { orgId: e.orgId, role, name: `fuzz-${role}` })).key;
  const ids = new RouteIds(routes, (collection, body) => call(e.url, e.key, 'post', collection, { body }));
  for (const r of routes) if (r.method === 'post' && r.example !== undefined && paramNames(r.path).length === 0) await ids.idIn(r.path, 'id');
  for (const r of routes) realIds.set(r, (await ids.concretePath(r)).ids);
  const timer = await call(e.url, e.key, 'post', '/v1/timers', { body: routes.find((r) => r.method === 'post' && r.path === '/v1/timers')!.example });
  expect(timer.status).toBe(201);
  timerId = timer.json.id;
  const tables = await e.rt.prisma.$queryRawUnsafe<Array<{ t: string }>>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = current_schema() AND tablename <> '_prisma_migrations' ORDER BY 1`);
  expect(tables.length).toBeGreaterThan(5);
  orgTable = tables.map((t) => t.t).find((t) => /^orgs?$/i.test(t)) ?? orgTable;
  countSql = `SELECT ${tables.map(({ t }) => `(SELECT count(*) FROM "${t}")::int AS "${t}"`).join(', ')}`;
}, 60_000);

afterAll(async () => {
  await e?.stop();
});

describe('API fuzz', () => {
  it(`every route and webhook, hostile bodies and queries, every role (seed ${SEED}, ${RUNS} runs)`, async () => {
    const started = Date.now();
    const arb: fc.Arbitrary<Case> = fc.oneof({ weight: 5, arbitrary: fc.nat({ max: routes.length - 1 }).chain(apiCaseArb) }, { weight: 1, arbitrary: webhookCaseArb });
    // Each route once as documented (its example, an allowed role, real ids) before the random cases.
    const examples: Array<[Case]> = routes.map((r, i) => [
      { type: 'api', route: i, role: r.roles[0]!, params: { ...realIds.get(r) }, ...(r.body && r.example !== undefined ? { body: r.example } : {}) } as ApiCase,
    ]);
    try {
      await fc.assert(
        fc.asyncProperty(arb, async (c) => {
          await check(c);
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: true, examples },
      );
    } catch (err) {
      console.error(`API fuzz failed with FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} (re-run: FUZZ_SEED=${SEED} npx vitest run test/integration/api-fuzz.test.ts)`);
      throw err;
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      `API fuzz: seed ${SEED}, ${stats.cases} cases (${stats.api} API, ${stats.webhooks} webhook) over ${stats.routesHit.size} of ${routes.length + 4} routes in ${seconds}s; ` +
        `roles ${JSON.stringify(stats.byRole)}; statuses ${JSON.stringify(stats.byStatus)}`,
    );
    expect(stats.cases).toBe(RUNS); // the examples are counted in numRuns
    for (const r of routes) expect(stats.routesHit.has(label(r))).toBe(true);
    for (const hook of ['status', 'inbound', 'voice-optout', 'confirmation-status']) expect(stats.routesHit.has(`POST /webhooks/twilio/${hook}`)).toBe(true);
    for (const role of API_ROLES) expect(stats.byRole[role] ?? 0).toBeGreaterThan(0);
  }, 300_000);
});
