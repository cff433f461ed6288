/**
 * Routes are declared, not just registered: each one states its method, path, who may call it,
 * its request and response schemas (zod) and an example. From these declarations the app mounts
 * the Express handlers (validating every body, query and path parameter), the OpenAPI document is
 * generated (src/api/openapi.ts), and the authorization test walks every route × every role.
 */
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import type { z } from 'zod';
import type { ApiRole } from '../adapters/auth/api-keys.ts';
import { authenticate, authOf, requireRole, type AuthContext } from './auth.ts';
import { parseBody, parseParams, parseQuery } from './validate.ts';
import type { PrismaClient } from '../adapters/db/client.ts';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** A handler's answer when it needs a status or headers other than the declared success. */
export class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

export interface HandlerInput<B, Q, P> {
  body: B;
  query: Q;
  params: P;
  auth: AuthContext;
  req: Request;
  res: Response;
}

/**
 * A non-JSON body (a file: CSV, JSON lines…) that the handler reads from `req` or streams to `res`
 * itself. Documented as a string per content type, with worked examples for some of them (each
 * example's type must be one of `contentTypes`; a test parses every example as the code would).
 */
export interface RawBody {
  contentTypes: readonly string[];
  /** Worked examples by content type, e.g. `{ 'text/csv': 'phone,zip\n+12125550123,10001\n' }`. */
  examples?: Readonly<Record<string, string>>;
}

export interface RouteSpec<B extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, P extends z.ZodType = z.ZodType> {
  method: Method;
  /** Express path, e.g. `/v1/timers/:id`. */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  /** Roles allowed (API key routes). Roles are not ranked: list `admin` where admins may call. */
  roles: readonly ApiRole[];
  body?: B;
  /**
   * The body as documented, when the handler validates parts of it itself (a batch whose items are
   * each validated and answered on their own): the OpenAPI document shows this instead of `body`.
   */
  bodyDoc?: z.ZodType;
  query?: Q;
  params?: P;
  /** Request headers the route reads (documented). */
  headers?: Record<string, { description: string; required?: boolean }>;
  response: {
    status: number;
    description: string;
    /** A JSON answer (the handler's return value). */
    schema?: z.ZodType;
    example?: unknown;
    /** A non-JSON answer the handler streams itself (e.g. an export), instead of `schema`. */
    rawBody?: RawBody;
    /** Response headers the handler sets (documented), e.g. `Content-Disposition`. */
    headers?: Record<string, { description: string; example?: string }>;
  };
  /** Error statuses the route may answer besides the generic ones (400/401/403/429/503). */
  errors?: readonly number[];
  /**
   * A non-JSON body the handler reads itself from `req` as a stream (e.g. a CSV import): documented
   * only. Such a route declares no `body`, so no JSON parser is mounted and the stream is untouched.
   */
  rawBody?: RawBody;
  /** Body size limit for this route (e.g. bulk imports); default the deployment's BODY_LIMIT. */
  bodyLimit?: string;
  /** A request body that must validate against `body` (checked by a test). */
  example?: z.input<B>;
  handler: (input: HandlerInput<z.output<B>, z.output<Q>, z.output<P>>) => Promise<unknown>;
}

/** Declares a route with its schemas' types flowing into the handler. */
export function defineRoute<B extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, P extends z.ZodType = z.ZodType>(spec: RouteSpec<B, Q, P>): RouteSpec {
  return spec as unknown as RouteSpec;
}

/** `/v1/timers/:id` → `/v1/timers/{id}` */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

export interface MountOptions {
  prisma: PrismaClient;
  bodyLimit: string;
  /** Runs after authentication (e.g. the per-key rate limit). */
  afterAuth?: RequestHandler[];
}

/** Mounts API-key routes on a router: authenticate → (rate limit) → role check → validate → handler. */
export function mountRoutes(routes: readonly RouteSpec[], opts: MountOptions): Router {
  const router = express.Router();
  const json = express.json({ limit: opts.bodyLimit, strict: true });
  const auth = authenticate(opts.prisma);
  for (const r of routes) {
    const handler: RequestHandler = (req, res, next) => {
      const run = async () => {
        const input = {
          body: r.body ? parseBody(r.body, req) : undefined,
          query: r.query ? parseQuery(r.query, req) : undefined,
          params: r.params ? parseParams(r.params, req) : undefined,
          auth: authOf(res),
          req,
          res,
        };
        const out = await r.handler(input);
        if (res.headersSent) return; // the handler streamed its own answer (e.g. an export)
        if (out instanceof Reply) {
          for (const [k, v] of Object.entries(out.headers)) res.setHeader(k, v);
          res.status(out.status);
          if (out.body === undefined) res.end();
          else res.json(out.body);
          return;
        }
        res.status(r.response.status);
        if (out === undefined) res.end();
        else res.json(out);
      };
      run().catch(next);
    };
    router[r.method](r.path, auth, ...(opts.afterAuth ?? []), requireRole(...r.roles), ...(r.body ? [r.bodyLimit ? express.json({ limit: r.bodyLimit, strict: true }) : json] : []), handler);
  }
  return router;
}
