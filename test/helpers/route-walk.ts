/**
 * Walking every route of `apiRoutes()` with real ids: shared by the authorization matrix and the
 * API fuzz test.
 *
 * Path parameters are filled with real ids of the org wherever one can be had: created through
 * the collection's own POST route and its `example` (`POST /v1/timers` for `/v1/timers/:id`,
 * `POST /v1/contacts/:id/consents` for `:consentId`, …), or taken from a `<name>Id` field of an
 * earlier answer (`contactId` for `/v1/contacts/:id/…`); otherwise a random uuid.
 */
import { randomUUID } from 'node:crypto';
import type { RouteSpec } from '../../src/api/route.ts';

export const UUID_G = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface Answer {
  status: number;
  text: string;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON of many shapes
  json: any;
}

/** A request as sent: JSON `body`, or `rawBody` text with its `contentType` (default JSON). */
export interface CallOptions {
  body?: unknown;
  rawBody?: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
}

/** fetch against `baseUrl` with a bearer key (none when undefined); the answer as text and JSON (or the text). */
export async function call(baseUrl: string, key: string | undefined, method: string, path: string, opts: CallOptions = {}): Promise<Answer> {
  const hasBody = opts.body !== undefined || opts.rawBody !== undefined;
  const res = await fetch(`${baseUrl}${path}`, {
    method: method.toUpperCase(),
    headers: {
      ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
      ...(hasBody ? { 'content-type': opts.contentType ?? 'application/json' } : {}),
      ...opts.headers,
    },
    ...(hasBody ? { body: opts.rawBody ?? JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: res.status, text, headers: res.headers, json };
}

export const label = (r: RouteSpec): string => `${r.method.toUpperCase()} ${r.path}`;
export const paramNames = (path: string): string[] => [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);

/** `/v1/kill-switches` → `killSwitchId`; `/v1/contacts` → `contactId`. */
export function idFieldOf(collection: string): string {
  const last = collection.split('/').filter(Boolean).pop() ?? '';
  const singular = last.replace(/(ch|sh|x|ss)es$/, '$1').replace(/s$/, '');
  return `${singular.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())}Id`;
}

/** The id of what a POST created: `id`, `<name>Id`, or the first nested `id`. */
export function createdId(json: unknown, field: string): string | undefined {
  if (json && typeof json === 'object' && !Array.isArray(json)) {
    const o = json as Record<string, unknown>;
    for (const k of ['id', field]) if (typeof o[k] === 'string' && UUID.test(o[k] as string)) return (o[k] as string).toLowerCase();
  }
  const stack: unknown[] = [json];
  while (stack.length) {
    const node = stack.shift();
    if (Array.isArray(node)) stack.push(...node);
    else if (node && typeof node === 'object') {
      const id = (node as Record<string, unknown>)['id'];
      if (typeof id === 'string' && UUID.test(id)) return id.toLowerCase();
      stack.push(...Object.values(node));
    }
  }
  return undefined;
}

/** Whether `pattern` (with :params) matches the concrete `path`. */
export function fillPattern(pattern: string, path: string): boolean {
  const p = pattern.split('/');
  const c = path.split('/');
  return p.length === c.length && p.every((seg, i) => seg.startsWith(':') || seg === c[i]);
}

/** Real ids of one org for the routes' path parameters, created on demand with `key`. */
export class RouteIds {
  /** `<name>Id` fields seen in the org's answers (e.g. contactId from a timer). */
  readonly fieldIds = new Map<string, string>();
  readonly #createdIn = new Map<string, string | undefined>();

  constructor(
    private readonly routes: readonly RouteSpec[],
    private readonly post: (collection: string, body: unknown) => Promise<Answer>,
  ) {}

  rememberFields(json: unknown): void {
    const stack: unknown[] = [json];
    while (stack.length) {
      const node = stack.pop();
      if (Array.isArray(node)) stack.push(...node);
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (/Id$/.test(k) && typeof v === 'string' && UUID.test(v) && !this.fieldIds.has(k)) this.fieldIds.set(k, v.toLowerCase());
          else if (v && typeof v === 'object') stack.push(v);
        }
      }
    }
  }

  /** Creates (or finds) a resource in `collection` (a concrete path); undefined if it cannot. */
  async idIn(collection: string, paramName: string, onAnswer?: (a: Answer) => void): Promise<string | undefined> {
    if (this.#createdIn.has(collection)) return this.#createdIn.get(collection);
    const field = idFieldOf(collection);
    let id: string | undefined;
    const creator = this.routes.find((r) => r.method === 'post' && r.example !== undefined && fillPattern(r.path, collection));
    if (creator) {
      const a = await this.post(collection, creator.example);
      onAnswer?.(a);
      this.rememberFields(a.json);
      if (a.status >= 200 && a.status < 300) id = createdId(a.json, field);
    }
    id ??= this.fieldIds.get(field) ?? (paramName.endsWith('Id') ? this.fieldIds.get(paramName) : undefined);
    this.#createdIn.set(collection, id);
    return id;
  }

  /** The route's path with real ids (`real`: all of them real). */
  async concretePath(r: RouteSpec, onAnswer?: (a: Answer) => void): Promise<{ path: string; real: boolean; ids: Record<string, string> }> {
    let real = true;
    const ids: Record<string, string> = {};
    const segs = r.path.split('/');
    for (let i = 0; i < segs.length; i++) {
      if (!segs[i]!.startsWith(':')) continue;
      const name = segs[i]!.slice(1);
      const id = await this.idIn(segs.slice(0, i).join('/'), name, onAnswer);
      if (!id) real = false;
      segs[i] = id ?? randomUUID();
      ids[name] = segs[i]!;
    }
    return { path: segs.join('/'), real, ids };
  }
}
