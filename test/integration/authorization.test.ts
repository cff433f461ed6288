/**
 * The authorization matrix: EVERY route of `apiRoutes()` (read at run time, so routes added later
 * are covered without touching this file) × every role × own org / other org.
 *
 * - Org A, a role not in `route.roles` → 403 FORBIDDEN, even with a body and path parameters
 *   that would not validate (the role check comes before validation).
 * - Org A, an allowed role → anything but 401, 403 or 500 (and any error has the Error shape).
 * - Org B (the other org) on org A's ids: `:id` routes → 404; lists (GET without path
 *   parameters) never contain any id of org A; forbidden roles → 403 as in org A.
 * - No key, a malformed key and a revoked key → 401 on every route.
 *
 * Path parameters are filled with real ids of org A wherever one can be had: created through the
 * collection's own POST route and its `example` (`POST /v1/timers` for `/v1/timers/:id`,
 * `POST /v1/contacts/:id/consents` for `:consentId`, …), or taken from a `<name>Id` field of an
 * earlier answer (`contactId` for `/v1/contacts/:id/…`); otherwise a random uuid. Bodies are
 * the route's `example`, or `{}`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_ROLES, createApiKey, type ApiRole } from '../../src/adapters/auth/api-keys.ts';
import { apiRoutes } from '../../src/api/app.ts';
import type { RouteSpec } from '../../src/api/route.ts';
import { ERROR_CODES } from '../../src/domain/errors.ts';
import { startEngine, type TestEngine } from '../helpers/engine.ts';
import { call as callAt, label, paramNames, RouteIds, UUID_G, type Answer } from '../helpers/route-walk.ts';

let e: TestEngine;
let routes: RouteSpec[];
let ids: RouteIds;
const keysA = {} as Record<ApiRole, string>;
const keysB = {} as Record<ApiRole, string>;
let orgB: string;
/** Every uuid that appeared in an org-A answer, plus org A's id. */
const idsOfA = new Set<string>();
/** Concrete path of each route, with org A's ids filled in. */
const concrete = new Map<RouteSpec, { path: string; real: boolean }>();

const call = (key: string | undefined, method: string, path: string, body?: unknown, rawBody?: string): Promise<Answer> =>
  callAt(e.url, key, method, path, { ...(body === undefined ? {} : { body }), ...(rawBody === undefined ? {} : { rawBody }) });

const bodyOf = (r: RouteSpec): unknown => (r.body ? (r.example ?? {}) : undefined);

function rememberA(a: Answer): void {
  for (const m of a.text.matchAll(UUID_G)) idsOfA.add(m[0].toLowerCase());
}

beforeAll(async () => {
  e = await startEngine({ parts: [] });
  routes = apiRoutes({ ctx: e.rt.ctx, ...(e.rt.config.secretKey ? { secretKey: e.rt.config.secretKey } : {}) });
  ids = new RouteIds(routes, (collection, body) => call(e.key, 'post', collection, body));
  idsOfA.add(e.orgId.toLowerCase());
  for (const role of API_ROLES) keysA[role] = (await createApiKey(e.rt.prisma, { orgId: e.orgId, role, name: `matrix-${role}` })).key;
  const b = await createApiKey(e.rt.prisma, { orgName: `other-${e.prefix}`, role: 'admin' });
  orgB = b.orgId;
  keysB.admin = b.key;
  for (const role of API_ROLES) if (role !== 'admin') keysB[role] = (await createApiKey(e.rt.prisma, { orgId: orgB, role, name: `matrix-${role}` })).key;
  // The matrix makes a few hundred calls: lift the per-key limit out of the way.
  for (const admin of [e.key, keysB.admin]) expect((await call(admin, 'patch', '/v1/org/settings', { rateLimitPerMinute: 100_000 })).status).toBe(200);

  // Org A's resources: every collection POST with an example, then the ids of parameterised routes.
  for (const r of routes) if (r.method === 'post' && r.example !== undefined && paramNames(r.path).length === 0) await ids.idIn(r.path, 'id', rememberA);
  for (const r of routes) concrete.set(r, await ids.concretePath(r, rememberA));
  // Org B gets resources of its own, so that its lists are not trivially empty.
  for (const r of routes) if (r.method === 'post' && r.example !== undefined && paramNames(r.path).length === 0) await call(keysB.admin, 'post', r.path, r.example);
}, 60_000);

afterAll(async () => {
  await e?.stop();
});

describe('authorization matrix', () => {
  it('every route × every role × own org / other org', async () => {
    const failures: string[] = [];
    let cells = 0;
    const isErrorShape = (a: Answer) => typeof a.json?.error?.code === 'string' && (ERROR_CODES as readonly string[]).includes(a.json.error.code) && typeof a.json.error.message === 'string';
    const ownStatus = new Map<string, number>();

    // Own org (A).
    for (const r of routes) {
      const { path } = concrete.get(r)!;
      for (const role of API_ROLES) {
        cells++;
        const a = await call(keysA[role], r.method, path, bodyOf(r));
        rememberA(a);
        ownStatus.set(`${label(r)} ${role}`, a.status);
        if (!r.roles.includes(role)) {
          if (a.status !== 403 || a.json?.error?.code !== 'FORBIDDEN') failures.push(`A ${role} ${label(r)}: expected 403 FORBIDDEN, got ${a.status} ${a.text.slice(0, 200)}`);
          // Before validation: a bad body and bad path parameters still answer 403.
          const badPath = r.path.replace(/:[A-Za-z0-9_]+/g, 'not-a-uuid');
          const bad = await call(keysA[role], r.method, badPath, undefined, r.body ? '{"__not_a_field__":true}' : undefined);
          if (bad.status !== 403) failures.push(`A ${role} ${label(r)} with an invalid request: expected 403 before validation, got ${bad.status}`);
        } else {
          if ([401, 403, 500].includes(a.status)) failures.push(`A ${role} ${label(r)}: allowed role got ${a.status} ${a.text.slice(0, 300)}`);
          if (a.status >= 400 && !isErrorShape(a)) failures.push(`A ${role} ${label(r)}: error without the Error shape: ${a.text.slice(0, 200)}`);
        }
      }
    }

    // Other org (B) on org A's ids.
    const aIds = [...idsOfA];
    for (const r of routes) {
      const { path } = concrete.get(r)!;
      const hasParams = paramNames(r.path).length > 0;
      for (const role of API_ROLES) {
        cells++;
        const a = await call(keysB[role], r.method, path, bodyOf(r));
        if (!r.roles.includes(role)) {
          if (a.status !== 403) failures.push(`B ${role} ${label(r)}: expected 403, got ${a.status}`);
          continue;
        }
        if ([401, 403, 500].includes(a.status)) failures.push(`B ${role} ${label(r)}: allowed role got ${a.status} ${a.text.slice(0, 300)}`);
        if (hasParams) {
          // 404; a 400 only where org A's own identical request was invalid too (validation comes first).
          const ok = a.status === 404 || (a.status === 400 && ownStatus.get(`${label(r)} ${role}`) === 400);
          if (!ok) failures.push(`B ${role} ${label(r)} on org A's ids: expected 404, got ${a.status} ${a.text.slice(0, 300)}`);
        } else if (r.method === 'get') {
          const leaked = aIds.filter((id) => a.text.toLowerCase().includes(id));
          if (leaked.length) failures.push(`B ${role} ${label(r)}: the list contains org A's ids ${leaked.join(', ')}`);
          if (a.status !== 200) failures.push(`B ${role} ${label(r)}: list answered ${a.status}`);
        }
      }
    }

    if (process.env['MATRIX_VERBOSE']) {
      for (const r of routes) console.log(`${label(r).padEnd(55)} ${concrete.get(r)!.path.padEnd(100)} ${API_ROLES.map((role) => `${role}:${ownStatus.get(`${label(r)} ${role}`)}`).join(' ')}`);
    }
    const real = routes.filter((r) => paramNames(r.path).length > 0 && concrete.get(r)!.real).length;
    const withParams = routes.filter((r) => paramNames(r.path).length > 0).length;
    console.log(
      `authorization matrix: ${routes.length} routes × ${API_ROLES.length} roles × 2 orgs = ${cells} cells; ` +
        `${withParams} routes with path parameters, ${real} filled with real ids of org A; ${idsOfA.size} org-A ids checked against org B's lists`,
    );
    expect(cells).toBe(routes.length * API_ROLES.length * 2);
    expect(failures).toEqual([]);
  });

  it('no key, a malformed key and a revoked key → 401 on every route', async () => {
    const created = await call(e.key, 'post', '/v1/keys', { role: 'admin', name: 'to-revoke' });
    expect(created.status).toBe(201);
    expect((await call(e.key, 'delete', `/v1/keys/${created.json.keyId}`)).status).toBe(200);
    const failures: string[] = [];
    for (const r of routes) {
      const { path } = concrete.get(r)!;
      for (const [what, key] of [
        ['no key', undefined],
        ['malformed key', 'not-a-key'],
        ['revoked key', created.json.key as string],
      ] as const) {
        const a = await call(key, r.method, path, bodyOf(r));
        if (a.status !== 401 || a.json?.error?.code !== 'UNAUTHENTICATED') failures.push(`${what} ${label(r)}: expected 401, got ${a.status}`);
      }
    }
    console.log(`401 checks: ${routes.length} routes × 3 (no key, malformed, revoked)`);
    expect(failures).toEqual([]);
  });
});
