/**
 * The OpenAPI document against the app itself: every route registered on the Express app (walked
 * recursively through its routers) is documented with the right method, and nothing documented is
 * missing from the app; the document looks like OpenAPI 3.1 with resolvable $refs; every route's
 * example validates against its body schema and is in the document; the worked examples of the
 * files (the audience upload, the contacts import, the audit export) read as the code reads or
 * writes them; /docs serves Swagger UI from local files.
 */
import { EVENT_TYPES } from '../../src/domain/webhooks.ts';
import { Readable } from 'node:stream';
import { parse as parseCsvSync } from 'csv-parse/sync';
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { apiRoutes, createApp } from '../../src/api/app.ts';
import { buildOpenApi, GENERIC_API_ERRORS, PUBLIC_ROUTES } from '../../src/api/openapi.ts';
import { openApiPath, type RawBody, type RouteSpec } from '../../src/api/route.ts';
import { AuditEntrySchema } from '../../src/api/routes/audit.ts';
import { EXPORT_COLUMNS } from '../../src/app/audit-queries.ts';
import { AUDIENCE_CONTENT_TYPES, AudienceChunker, audienceRows, validateRow, type RawRow } from '../../src/app/campaigns/audience.ts';
import { IMPORT_CONTENT_TYPES } from '../../src/app/contacts-import.ts';
import { createLogger } from '../../src/adapters/log.ts';
import { ERROR_CODES } from '../../src/domain/errors.ts';
import { startEngine, type TestEngine } from '../helpers/engine.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON document walked generically
type Json = any;

let e: TestEngine;
let app: Express;
let routes: RouteSpec[];
let doc: Json;

beforeAll(async () => {
  e = await startEngine({ parts: [] });
  const opts = { ctx: e.rt.ctx, redis: e.rt.redis, log: createLogger({ level: 'silent', name: 'openapi-test' }), bodyLimit: '100kb', queuePrefix: e.prefix, ...(e.rt.config.secretKey ? { secretKey: e.rt.config.secretKey } : {}) };
  app = createApp(opts);
  routes = apiRoutes(opts);
  const res = await fetch(`${e.url}/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  doc = await res.json();
});
afterAll(async () => {
  await e?.stop();
});

interface Registered {
  method: string;
  path: string;
}

interface LayerLike {
  route?: { path: unknown; methods: Record<string, boolean> };
  handle?: { stack?: LayerLike[] };
  rawPath?: unknown;
}

/** Every (method, path) routed by the app: route layers, recursively through mounted routers. */
function registeredRoutes(stack: readonly LayerLike[], prefix = ''): Registered[] {
  const out: Registered[] = [];
  for (const layer of stack) {
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      for (const p of paths) {
        expect(typeof p, `route path ${String(p)} is a string`).toBe('string');
        for (const [method, on] of Object.entries(layer.route.methods)) {
          if (on && method !== '_all') out.push({ method, path: `${prefix}${p as string}` });
        }
      }
    } else if (layer.handle?.stack) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      out.push(...registeredRoutes(layer.handle.stack, prefix + mount));
    }
  }
  return out;
}

function resolveRef(ref: string): Json {
  expect(ref.startsWith('#/')).toBe(true);
  let node: Json = doc;
  for (const part of ref.slice(2).split('/')) {
    node = node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node;
}

function routeOf(method: string, path: string): RouteSpec {
  const r = routes.find((x) => x.method === method && x.path === path);
  expect(r, `${method} ${path} is declared`).toBeDefined();
  return r!;
}

/** The file format of a content type (`text/csv` → csv; the JSON-lines types → jsonl). */
function formatOfType(type: string): 'csv' | 'jsonl' | undefined {
  return /csv/.test(type) ? 'csv' : /json/.test(type) ? 'jsonl' : undefined;
}

/** Every raw (non-JSON) body of the declarations, request or response, with its documented content. */
function rawBodies(): Array<{ where: string; raw: RawBody; content: Json }> {
  const out: Array<{ where: string; raw: RawBody; content: Json }> = [];
  for (const r of routes) {
    const op = doc.paths[openApiPath(r.path)][r.method];
    if (r.rawBody) out.push({ where: `${r.method} ${r.path} request`, raw: r.rawBody, content: op.requestBody.content });
    if (r.response.rawBody) out.push({ where: `${r.method} ${r.path} response`, raw: r.response.rawBody, content: op.responses[String(r.response.status)].content });
  }
  return out;
}

/** A raw example's lines (it must end with a line end: a file, not a fragment). */
function linesOf(example: string, eol: '\n' | '\r\n'): string[] {
  expect(example.endsWith(eol), `ends with ${JSON.stringify(eol)}`).toBe(true);
  if (eol === '\r\n') expect(/(?<!\r)\n/.test(example), 'CRLF only, no bare LF').toBe(false);
  return example.slice(0, -eol.length).split(eol);
}

function collectRefs(node: Json, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const x of node) collectRefs(x, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else collectRefs(v, out);
    }
  }
  return out;
}

describe('every route is documented', () => {
  it('each route registered on the Express app is in /openapi.json with its method, and vice versa', () => {
    const all = registeredRoutes((app as unknown as { router: { stack: LayerLike[] } }).router.stack);
    // The web console's HTML pages (/console, README "The console") are for browsers, not API clients.
    expect(all.filter((r) => r.path.startsWith('/console/')).length).toBeGreaterThan(10);
    const registered = all.filter((r) => !r.path.startsWith('/console/'));
    // The app's own routes plus every API-key route.
    expect(registered.length).toBeGreaterThanOrEqual(routes.length + PUBLIC_ROUTES.length);
    const missing = registered.filter((r) => !doc.paths?.[openApiPath(r.path)]?.[r.method]);
    expect(missing, 'routes registered on the app but absent from the OpenAPI document (declare them in apiRoutes() or PUBLIC_ROUTES)').toEqual([]);

    const documented: Registered[] = [];
    for (const [p, item] of Object.entries<Json>(doc.paths)) {
      for (const m of Object.keys(item)) if (['get', 'post', 'put', 'patch', 'delete'].includes(m)) documented.push({ method: m, path: p });
    }
    const registeredKeys = new Set(registered.map((r) => `${r.method} ${openApiPath(r.path)}`));
    expect(documented.filter((d) => !registeredKeys.has(`${d.method} ${d.path}`)), 'documented but not served').toEqual([]);
    console.log(`openapi: ${registered.length} registered routes, ${documented.length} documented operations`);
  });

  it('every apiRoutes() declaration is documented with its roles, bearer security, tag, success and error responses', () => {
    const ids = new Set<string>();
    for (const r of routes) {
      const op = doc.paths[openApiPath(r.path)]?.[r.method];
      expect(op, `${r.method} ${r.path}`).toBeDefined();
      expect(op.security).toEqual([{ bearer: [] }]);
      expect(op['x-roles']).toEqual([...r.roles]);
      expect(op.tags).toEqual([r.tag]);
      expect(op.summary).toBe(r.summary);
      expect(ids.has(op.operationId), `operationId ${op.operationId} is unique`).toBe(false);
      ids.add(op.operationId);
      const success = op.responses[String(r.response.status)];
      expect(success, `${r.method} ${r.path} ${r.response.status}`).toBeDefined();
      if (r.response.schema) expect(success.content['application/json'].schema).toBeDefined();
      if (r.response.rawBody) {
        const types = [...(r.response.schema ? ['application/json'] : []), ...r.response.rawBody.contentTypes];
        expect(Object.keys(success.content).sort()).toEqual(types.sort());
        for (const t of r.response.rawBody.contentTypes) expect(success.content[t].schema).toEqual({ type: 'string' });
      }
      if (!r.response.schema && !r.response.rawBody) expect(success.content, `${r.method} ${r.path}: no response body`).toBeUndefined();
      for (const [name, h] of Object.entries(r.response.headers ?? {})) expect(success.headers[name]).toMatchObject({ description: h.description, schema: { type: 'string' } });
      for (const s of [...GENERIC_API_ERRORS, ...(r.errors ?? [])]) {
        const ref = op.responses[String(s)]?.$ref as string | undefined;
        expect(ref, `${r.method} ${r.path} documents ${s}`).toBeDefined();
        expect(resolveRef(ref!).content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
      }
      const pathParams = [...r.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]);
      const documentedPath = (op.parameters ?? []).filter((p: Json) => p.in === 'path').map((p: Json) => p.name);
      expect(documentedPath.sort()).toEqual(pathParams.sort());
      if (r.query) {
        const q = (op.parameters ?? []).filter((p: Json) => p.in === 'query').map((p: Json) => p.name);
        expect(q.sort()).toEqual(Object.keys((r.query as unknown as { shape: object }).shape).sort());
      }
      if (r.body) expect(op.requestBody.content['application/json'].schema).toBeDefined();
      else if (r.rawBody) expect(Object.keys(op.requestBody.content).sort()).toEqual([...r.rawBody.contentTypes].sort());
      else expect(op.requestBody).toBeUndefined();
    }
  });
});

describe('the document', () => {
  it('looks like OpenAPI 3.1: version, info, paths, components, bearer scheme, one shared Error schema, resolvable $refs', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(Object.keys(doc.paths).length).toBeGreaterThan(0);
    for (const p of Object.keys(doc.paths)) {
      expect(p.startsWith('/')).toBe(true);
      expect(p).not.toMatch(/:[A-Za-z]/); // Express params converted to {param}
    }
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearer: [] }]);
    const error = doc.components.schemas.Error;
    expect(error.properties.error.properties.code.enum).toEqual([...ERROR_CODES]);
    expect(error.properties.error.required).toEqual(['code', 'message']);
    const tags = new Set(doc.tags.map((t: Json) => t.name));
    for (const r of routes) expect(tags.has(r.tag)).toBe(true);
    const refs = collectRefs(doc);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(resolveRef(ref), ref).toBeDefined();
    // Every operation has an operationId, a summary and at least one 2xx response.
    for (const [p, item] of Object.entries<Json>(doc.paths)) {
      for (const [m, op] of Object.entries<Json>(item)) {
        expect(op.operationId, `${m} ${p}`).toMatch(/^[A-Za-z0-9]+$/);
        expect(Object.keys(op.responses).some((s) => /^2\d\d$/.test(s)), `${m} ${p} has a 2xx`).toBe(true);
      }
    }
    // The served document is the one built from the declarations.
    expect(doc).toEqual(JSON.parse(JSON.stringify(buildOpenApi(routes))));
  });

  it("every route's example validates against its body schema and is the documented request example", () => {
    let withExample = 0;
    const withoutExample: string[] = [];
    for (const r of routes) {
      if (r.example === undefined) {
        if (r.body) withoutExample.push(`${r.method} ${r.path}`);
        continue;
      }
      withExample++;
      expect(r.body, `${r.method} ${r.path} has an example but no body schema`).toBeDefined();
      const parsed = r.body!.safeParse(r.example);
      expect(parsed.success, `${r.method} ${r.path}: ${parsed.success ? '' : JSON.stringify(parsed.error.issues)}`).toBe(true);
      const op = doc.paths[openApiPath(r.path)][r.method];
      expect(op.requestBody.content['application/json'].example).toEqual(r.example);
    }
    expect(withExample).toBeGreaterThan(0);
    if (withoutExample.length) console.warn(`routes with a body but no example: ${withoutExample.join(', ')}`);
  });

  it('every raw (file) body has a worked example for each of its formats, and the document carries it', () => {
    const bodies = rawBodies();
    expect(bodies.map((b) => b.where).sort()).toEqual(['get /v1/audit/export response', 'post /v1/contacts/import request', 'put /v1/campaigns/:id/audience request']);
    for (const { where, raw, content } of bodies) {
      const examples = raw.examples ?? {};
      const formats = new Set(raw.contentTypes.map(formatOfType));
      expect(formats.has(undefined), `${where}: every content type is CSV or JSON lines`).toBe(false);
      expect(new Set(Object.keys(examples).map(formatOfType)), `${where}: an example for each format`).toEqual(formats);
      for (const t of raw.contentTypes) {
        expect(content[t].schema, `${where} ${t}`).toEqual({ type: 'string' });
        expect(content[t].example, `${where} ${t}`).toBe(examples[t]);
      }
    }
  });

  it("the audience upload's examples read, as the upload reads them, into valid and distinct rows only", async () => {
    const examples = routeOf('put', '/v1/campaigns/:id/audience').rawBody?.examples ?? {};
    expect(Object.keys(examples).sort()).toEqual(['application/x-ndjson', 'text/csv']);
    for (const [type, example] of Object.entries(examples)) {
      const format = AUDIENCE_CONTENT_TYPES[type];
      expect(format, type).toBeDefined();
      const raw: RawRow[] = [];
      for await (const row of audienceRows(Readable.from([example]), format!)) raw.push(row);
      expect(raw.length, `${type}: rows`).toBeGreaterThanOrEqual(2);
      for (const row of raw) {
        expect('error' in row ? row.error : null, `${type} line ${row.line}`).toBeNull();
        if ('fields' in row) expect(validateRow(row.line, row.fields), `${type} line ${row.line}`).not.toHaveProperty('code');
      }
      // No number or externalId twice either (the de-duplication is the chunker's).
      const chunker = new AudienceChunker({ chunk: async () => {}, errors: async () => {} });
      for (const row of raw) await chunker.add(row);
      expect(await chunker.finish(), type).toMatchObject({ rows: raw.length, accepted: raw.length, errors: 0 });
    }
    // CSV and JSON lines describe the same file.
    const csv = [];
    for await (const row of audienceRows(Readable.from([examples['text/csv']!]), 'csv')) if ('fields' in row) csv.push(row.fields);
    const jsonl = [];
    for await (const row of audienceRows(Readable.from([examples['application/x-ndjson']!]), 'jsonl')) if ('fields' in row) jsonl.push(row.fields);
    expect(csv).toEqual(jsonl);
  });

  it("the contacts import's examples import without a bad row (through the route itself)", async () => {
    const examples = routeOf('post', '/v1/contacts/import').rawBody?.examples ?? {};
    expect(Object.keys(examples).sort()).toEqual(['application/x-ndjson', 'text/csv']);
    for (const [type, example] of Object.entries(examples)) {
      expect(IMPORT_CONTENT_TYPES[type], type).toBeDefined();
      const dataLines = example.split('\n').filter((l) => l.trim() !== '').length - (IMPORT_CONTENT_TYPES[type] === 'csv' ? 1 : 0);
      expect(dataLines, type).toBeGreaterThanOrEqual(2);
      const res = await fetch(`${e.url}/v1/contacts/import`, { method: 'POST', headers: { authorization: `Bearer ${e.key}`, 'content-type': type }, body: example });
      const body = (await res.json()) as Json;
      expect(res.status, `${type}: ${JSON.stringify(body)}`).toBe(200);
      expect(body, type).toMatchObject({ rows: dataLines, errors: 0, errorSamples: [] });
    }
  });

  it("the audit export's examples: the CSV has the export's header and CRLF records, each JSON line is a GET /v1/audit item, both the same entries", () => {
    const exp = routeOf('get', '/v1/audit/export');
    const examples = exp.response.rawBody?.examples ?? {};
    expect(Object.keys(examples).sort()).toEqual(['application/x-ndjson', 'text/csv']);
    const op = doc.paths['/v1/audit/export'].get;
    expect(op.responses['200'].headers['Content-Disposition'].example).toMatch(/^attachment; filename="audit-\d{8}T\d{6}\.(csv|jsonl)"$/);

    // JSON lines: each line an item of GET /v1/audit (its page schema's item), no field more or less.
    const page = routeOf('get', '/v1/audit').response.schema as z.ZodObject<{ items: z.ZodArray<z.ZodType> }>;
    expect(page.shape.items.element, "GET /v1/audit's items are AuditEntrySchema").toBe(AuditEntrySchema);
    const item = z.strictObject(AuditEntrySchema.shape);
    const items = linesOf(examples['application/x-ndjson']!, '\n').map((line, i) => {
      const parsed = item.safeParse(JSON.parse(line));
      expect(parsed.success, `JSON line ${i + 1}: ${parsed.success ? '' : JSON.stringify(parsed.error.issues)}`).toBe(true);
      return parsed.data!;
    });
    expect(items.length).toBeGreaterThanOrEqual(1);
    expect(page.safeParse({ items, nextCursor: null }).success).toBe(true);
    for (let i = 1; i < items.length; i++) {
      expect(items[i]!.seq, 'chain order').toBeGreaterThan(items[i - 1]!.seq);
      if (items[i]!.seq === items[i - 1]!.seq + 1) expect(items[i]!.prevHash, 'consecutive entries chain').toBe(items[i - 1]!.hash);
    }

    // CSV: the very header the export writes, CRLF records (RFC 4180), the same entries.
    const csv = examples['text/csv']!;
    expect(csv.startsWith(`${EXPORT_COLUMNS.join(',')}\r\n`), 'starts with the export header').toBe(true);
    linesOf(csv, '\r\n');
    const [header, ...records] = parseCsvSync(csv, { record_delimiter: '\r\n' }) as string[][];
    expect(header).toEqual([...EXPORT_COLUMNS]);
    const text = (v: string | null) => v ?? '';
    expect(records.map((r) => [...r.slice(0, 9), ...r.slice(10)])).toEqual(
      items.map((x) => [String(x.seq), x.at, x.action, text(x.timerId), text(x.contactId), text(x.journeyId), text(x.campaignId), text(x.decision), x.reasonCodes.join('|'), x.prevHash, x.hash]),
    );
    expect(records.map((r) => JSON.parse(r[9]!) as unknown)).toEqual(items.map((x) => x.data));
  });

  it("documents every outbound event type in OpenAPI 3.1's webhooks section, signed, with the event's schema", () => {
    expect(Object.keys(doc.webhooks).sort()).toEqual([...EVENT_TYPES, 'timer.action'].sort());
    for (const type of EVENT_TYPES) {
      const op = doc.webhooks[type].post;
      expect(op.parameters.map((p: Json) => [p.in, p.name])).toEqual(expect.arrayContaining([['header', 'Tcpa-Signature'], ['header', 'Tcpa-Event-Id']]));
      const schema = op.requestBody.content['application/json'].schema;
      const t = schema.properties.type;
      expect(t.const === undefined ? t.enum : [t.const]).toEqual([type]);
      expect(schema.required).toEqual(expect.arrayContaining(['id', 'type', 'createdAt', 'orgId', 'timerId', 'decision', 'reasonCodes', 'data']));
    }
    // The call an action timer makes, with the bot's deadline and the idempotency key.
    const action = doc.webhooks['timer.action'].post;
    expect(action.parameters.map((p: Json) => p.name)).toEqual(expect.arrayContaining(['Tcpa-Signature', 'Tcpa-Event-Id', 'Idempotency-Key']));
    expect(action.requestBody.content['application/json'].schema.required).toEqual(expect.arrayContaining(['id', 'type', 'timerId', 'channel', 'windowEnd', 'payload']));
  });

  it('documents the webhooks and health routes without the API-key scheme', () => {
    expect(doc.paths['/webhooks/twilio/status'].post.security).toEqual([{ twilioSignature: [] }]);
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    expect(doc.paths['/readyz'].get.responses['503']).toEqual({ $ref: '#/components/responses/Unavailable' });
  });
});

describe('/docs', () => {
  it('serves Swagger UI from local files, pointed at /openapi.json', async () => {
    const page = await fetch(`${e.url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain("url: '/openapi.json'");
    const scripts = [...html.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]!);
    const styles = [...html.matchAll(/<link rel="stylesheet" href="([^"]+)"/g)].map((m) => m[1]!);
    expect(scripts).toContain('/docs/assets/swagger-ui-bundle.js');
    for (const src of [...scripts, ...styles]) {
      expect(src.startsWith('/docs/assets/'), `${src} is served locally`).toBe(true);
      const asset = await fetch(`${e.url}${src}`);
      expect(asset.status, src).toBe(200);
      expect(asset.headers.get('content-type')).toMatch(src.endsWith('.js') ? /javascript/ : /text\/css/);
      expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
    const missing = await fetch(`${e.url}/docs/assets/no-such-file.js`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as Json).error.code).toBe('NOT_FOUND');
  });
});
