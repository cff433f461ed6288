/**
 * The OpenAPI 3.1 document, generated from the route declarations (src/api/route.ts) and their
 * zod schemas — the same schemas that validate the requests — plus `PUBLIC_ROUTES`, the few
 * routes that are not behind an API key (provider webhooks, health, the docs themselves).
 *
 * `docsRouter(doc)` serves it at `GET /openapi.json` and Swagger UI at `GET /docs`, with
 * Swagger UI's files from node_modules/swagger-ui-dist under `/docs/assets` (works offline).
 *
 * A route registered on the app without a declaration here or in `apiRoutes()` fails
 * test/integration/openapi.test.ts: add it to `PUBLIC_ROUTES` (or export its declaration).
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import express, { type Router } from 'express';
import { extendZodWithOpenApi, OpenAPIRegistry, OpenApiGeneratorV31, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { ERROR_CODES } from '../domain/errors.ts';
import { EVENT_TYPES } from '../domain/webhooks.ts';
import { WebhookEventSchema } from '../app/webhooks.ts';
import { TimerActionSchema } from '../app/webhook-actions.ts';
import { openApiPath, type Method, type RawBody, type RouteSpec } from './route.ts';

const require = createRequire(import.meta.url);

// Lets the registry name schemas (components.schemas.Error); idempotent.
extendZodWithOpenApi(z);

/** A route outside the API-key scheme, declared for the document only. */
export interface PublicRouteDoc {
  method: Method;
  path: string;
  tag: string;
  summary: string;
  description?: string;
  /** How the caller is authenticated. */
  auth: 'none' | 'twilio-signature';
  query?: z.ZodObject;
  headers?: Record<string, { description: string; required?: boolean }>;
  body?: { contentType: string; schema: z.ZodType };
  response: { status: number; description: string; contentType?: string; schema?: z.ZodType };
  /** Error statuses answered with the `Error` shape. */
  errors?: readonly number[];
}

/** Twilio's status callback fields we read (form-encoded; Twilio sends more). */
const TwilioStatusForm = z
  .object({
    AccountSid: z.string().optional(),
    MessageSid: z.string().optional(),
    MessageStatus: z.string().optional().describe('queued, sent, delivered, undelivered, failed, …'),
    CallSid: z.string().optional(),
    CallStatus: z.string().optional().describe('completed, busy, no-answer, failed, canceled, …'),
    ErrorCode: z.string().optional(),
  })
  .loose();

/** An incoming text (form-encoded; Twilio sends more fields). */
const TwilioInboundForm = z
  .object({
    AccountSid: z.string().optional(),
    MessageSid: z.string().optional(),
    SmsSid: z.string().optional(),
    From: z.string().optional().describe('The sender (the contact)'),
    To: z.string().optional().describe('Our number'),
    Body: z.string().optional().describe('The text: STOP, START, or a plain-language revocation'),
  })
  .loose();

/** The `<Gather>` result of a call (form-encoded; Twilio sends more fields). */
const TwilioGatherForm = z
  .object({
    AccountSid: z.string().optional(),
    CallSid: z.string().optional(),
    Digits: z.string().optional().describe('The key(s) pressed'),
    Direction: z.string().optional().describe('`outbound-api` on our calls'),
    From: z.string().optional(),
    To: z.string().optional(),
    Caller: z.string().optional(),
    Called: z.string().optional(),
  })
  .loose();

const OrgQuery = z.object({ orgId: z.uuid().describe('The org the number belongs to (its auth token signs the request)') });
const TWILIO_SIGNATURE_HEADER = { 'X-Twilio-Signature': { description: "HMAC-SHA1 of the full URL and the form parameters with the account's auth token", required: true } };

const RegistryHealthSchema = z.object({
  status: z.enum(['ok', 'stale', 'empty', 'off']).describe('`stale`/`empty`: marketing to area codes without a copy at most 31 days old is refused (DNC_DATA_STALE); `off`: FEDERAL_DNC=off'),
  areaCodes: z.number().int().describe('Area codes with a copy of the National Do-Not-Call Registry'),
  oldestAsOf: z.string().nullable(),
  newestAsOf: z.string().nullable(),
  staleAreaCodes: z.array(z.number().int()).describe('Up to 20 area codes whose copy is older than 31 days'),
});
const ReadySchema = z.object({
  ok: z.literal(true),
  checks: z.object({ postgres: z.literal('ok'), redis: z.literal('ok'), federalDnc: RegistryHealthSchema.shape.status }),
  federalDnc: RegistryHealthSchema,
  warnings: z.array(z.object({ code: z.enum(['DNC_DATA_STALE', 'FEDERAL_DNC_OFF']), message: z.string() })).optional().describe('Ready, but: the registry is stale, missing or not enforced'),
});

/** The routes the app serves without an API key. Other webhooks belong here too. */
export const PUBLIC_ROUTES: PublicRouteDoc[] = [
  {
    method: 'post',
    path: '/webhooks/twilio/status',
    tag: 'Webhooks',
    summary: "Twilio's message/call status callback",
    description: 'Called by Twilio (the URL of each send carries the timer id). Authenticated by `X-Twilio-Signature` over the full URL and the form parameters; settles the timer as delivered, undelivered or failed.',
    auth: 'twilio-signature',
    query: z.object({ timerId: z.uuid() }).strict(),
    headers: TWILIO_SIGNATURE_HEADER,
    body: { contentType: 'application/x-www-form-urlencoded', schema: TwilioStatusForm },
    response: { status: 204, description: 'Recorded' },
    errors: [400, 403, 404, 413, 503],
  },
  {
    method: 'post',
    path: '/webhooks/twilio/inbound',
    tag: 'Webhooks',
    summary: "Twilio's incoming-message webhook: STOP / START / HELP and plain-language opt-outs",
    description:
      'Configured as the number\'s "A message comes in" URL with the org in the query. A STOP (or a plain-language revocation) suppresses the sender (one confirmation text, org setting); START lifts an SMS opt-out (one re-subscribe confirmation when it did); HELP / INFO / AYUDA is answered with the org\'s helpText (at most once per number per 10 minutes). Replies are sent by the engine itself: the answer is always an empty TwiML `<Response/>`. A bad signature, a missing or unknown org all answer 403.',
    auth: 'twilio-signature',
    query: OrgQuery,
    headers: TWILIO_SIGNATURE_HEADER,
    body: { contentType: 'application/x-www-form-urlencoded', schema: TwilioInboundForm },
    response: { status: 200, description: 'Empty TwiML', contentType: 'text/xml', schema: z.string() },
    errors: [400, 403, 413, 503],
  },
  {
    method: 'post',
    path: '/webhooks/twilio/voice-optout',
    tag: 'Webhooks',
    summary: "The `<Gather>` action of our calls: the org's opt-out key suppresses the number",
    description: "The org's `voiceOptOutDigit` (default 9) suppresses the contact's number: `To`/`Called` on our outbound calls, `From`/`Caller` on calls made to us.",
    auth: 'twilio-signature',
    query: OrgQuery,
    headers: TWILIO_SIGNATURE_HEADER,
    body: { contentType: 'application/x-www-form-urlencoded', schema: TwilioGatherForm },
    response: { status: 200, description: 'TwiML: a short confirmation when opted out, else empty', contentType: 'text/xml', schema: z.string() },
    errors: [400, 403, 413, 503],
  },
  {
    method: 'post',
    path: '/webhooks/twilio/confirmation-status',
    tag: 'Webhooks',
    summary: 'Status callbacks of opt-out confirmation texts (validated and logged)',
    auth: 'twilio-signature',
    query: OrgQuery,
    headers: TWILIO_SIGNATURE_HEADER,
    body: { contentType: 'application/x-www-form-urlencoded', schema: TwilioStatusForm },
    response: { status: 204, description: 'Recorded' },
    errors: [400, 403, 413, 503],
  },
  {
    method: 'get',
    path: '/healthz',
    tag: 'Health',
    summary: 'Liveness: the process answers',
    auth: 'none',
    response: { status: 200, description: 'Alive', schema: z.object({ ok: z.literal(true) }) },
  },
  {
    method: 'get',
    path: '/readyz',
    tag: 'Health',
    summary: 'Readiness: Postgres and Redis answer; warns when the National Do-Not-Call Registry copy is stale, missing or off',
    auth: 'none',
    response: { status: 200, description: 'Ready', schema: ReadySchema },
    errors: [503],
  },
  {
    method: 'get',
    path: '/openapi.json',
    tag: 'Docs',
    summary: 'This document',
    auth: 'none',
    response: { status: 200, description: 'OpenAPI 3.1', schema: z.object({ openapi: z.string() }).loose() },
  },
  {
    method: 'get',
    path: '/docs',
    tag: 'Docs',
    summary: 'Interactive API docs (Swagger UI)',
    auth: 'none',
    response: { status: 200, description: 'An HTML page', contentType: 'text/html', schema: z.string() },
  },
];

export const ErrorSchema = z
  .object({
    error: z
      .object({
        code: z.enum(ERROR_CODES),
        message: z.string(),
        details: z.unknown().optional().describe('Validation problems as `[{ path, message }]`, or other context (never a stack trace)'),
      })
      .strict(),
  })
  .strict()
  .describe('Every error answer has this shape.');

/** Statuses every API-key route may answer, besides its own `errors`. */
export const GENERIC_API_ERRORS = [400, 401, 403, 429, 500, 503] as const;

const ERROR_TEXT: Record<number, string> = {
  400: 'Invalid request (`INVALID_ARGUMENT` with the offending fields in `details`; unknown fields are rejected)',
  401: 'Missing, malformed, unknown or revoked API key (`UNAUTHENTICATED`)',
  403: "Not allowed (`FORBIDDEN`): the key's role may not call this route, or a webhook's signature is invalid",
  404: 'No such resource in this org (`NOT_FOUND`; other orgs\u2019 ids answer 404 too)',
  409: 'The resource is in a state that forbids this (`CONFLICT`)',
  413: 'Body over the limit (`PAYLOAD_TOO_LARGE`)',
  422: 'Well-formed but unprocessable (`UNKNOWN_ZIP`, `IDEMPOTENCY_MISMATCH`)',
  429: "Over the org's per-key rate limit (`RATE_LIMITED`); see `Retry-After`",
  500: 'A bug (`INTERNAL`, with a request id in `details`)',
  503: 'Postgres or Redis unreachable (`UNAVAILABLE`); see `Retry-After`',
};

const RESPONSE_NAME: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthenticated',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  413: 'PayloadTooLarge',
  422: 'Unprocessable',
  429: 'RateLimited',
  500: 'Internal',
  503: 'Unavailable',
};

const RATE_HEADERS = {
  'RateLimit-Limit': { description: "The key's requests per minute (the org's `rateLimitPerMinute`)", schema: { type: 'integer' as const } },
  'RateLimit-Remaining': { description: 'Requests left in the sliding minute', schema: { type: 'integer' as const } },
  'RateLimit-Reset': { description: 'Seconds until the current window ends', schema: { type: 'integer' as const } },
};
const RETRY_AFTER = { 'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' as const } } };

function errorResponseRef(status: number): { $ref: string } {
  const name = RESPONSE_NAME[status];
  if (!name) throw new Error(`openapi: no shared response for status ${status}; add it to ERROR_TEXT/RESPONSE_NAME`);
  return { $ref: `#/components/responses/${name}` };
}

/** `post /v1/timers/:id` → `postV1TimersById` */
export function operationId(method: string, path: string): string {
  const words = path
    .split('/')
    .filter(Boolean)
    .flatMap((seg) => (seg.startsWith(':') ? ['by', seg.slice(1)] : seg.split(/[^A-Za-z0-9]+/)))
    .filter(Boolean);
  return method + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}

function headerParams(headers: PublicRouteDoc['headers']): Array<{ name: string; in: 'header'; description: string; required: boolean; schema: { type: 'string' } }> {
  return Object.entries(headers ?? {}).map(([name, h]) => ({ name, in: 'header', description: h.description, required: h.required ?? false, schema: { type: 'string' } }));
}

function statusResponses(statuses: Iterable<number>): Record<string, { $ref: string }> {
  const out: Record<string, { $ref: string }> = {};
  for (const s of [...new Set(statuses)].sort((a, b) => a - b)) out[String(s)] = errorResponseRef(s);
  return out;
}

/** A raw (non-JSON) body's content: a string per content type, with its worked example where given. */
function rawContent(raw: RawBody, where: string): Record<string, { schema: z.ZodType; example?: string }> {
  for (const t of Object.keys(raw.examples ?? {})) {
    if (!raw.contentTypes.includes(t)) throw new Error(`openapi: ${where} has an example for ${t}, which is not among its content types`);
  }
  return Object.fromEntries(
    raw.contentTypes.map((t) => {
      const example = raw.examples?.[t];
      return [t, { schema: z.string(), ...(example === undefined ? {} : { example }) }];
    }),
  );
}

function apiRouteConfig(r: RouteSpec): RouteConfig {
  const bodyOptional = r.body ? r.body.safeParse(undefined).success : true;
  const roles = `Roles: ${r.roles.join(', ')}.`;
  const where = `${r.method} ${r.path}`;
  const responseHeaders = Object.fromEntries(
    Object.entries(r.response.headers ?? {}).map(([name, h]) => [name, { description: h.description, schema: { type: 'string' as const }, ...(h.example === undefined ? {} : { example: h.example }) }]),
  );
  const success = {
    description: r.response.description,
    headers: { ...responseHeaders, ...RATE_HEADERS },
    ...(r.response.schema || r.response.rawBody
      ? {
          content: {
            ...(r.response.schema ? { 'application/json': { schema: r.response.schema, ...(r.response.example === undefined ? {} : { example: r.response.example }) } } : {}),
            ...(r.response.rawBody ? rawContent(r.response.rawBody, `the response of ${where}`) : {}),
          },
        }
      : {}),
  };
  return {
    method: r.method,
    path: openApiPath(r.path),
    operationId: operationId(r.method, r.path),
    tags: [r.tag],
    summary: r.summary,
    description: r.description ? `${r.description}\n\n${roles}` : roles,
    security: [{ bearer: [] }],
    'x-roles': [...r.roles],
    ...(r.headers ? { parameters: headerParams(r.headers) } : {}),
    request: {
      ...(r.params ? { params: r.params as z.ZodObject } : {}),
      ...(r.query ? { query: r.query as z.ZodObject } : {}),
      ...(r.body
        ? { body: { required: !bodyOptional, content: { 'application/json': { schema: r.bodyDoc ?? r.body, ...(r.example === undefined ? {} : { example: r.example }) } } } }
        : {}),
      ...(r.rawBody ? { body: { required: true, content: rawContent(r.rawBody, `the request body of ${where}`) } } : {}),
    },
    responses: { [String(r.response.status)]: success, ...statusResponses([...GENERIC_API_ERRORS, ...(r.errors ?? [])]) },
  };
}

function publicRouteConfig(r: PublicRouteDoc): RouteConfig {
  const success = {
    description: r.response.description,
    ...(r.response.schema ? { content: { [r.response.contentType ?? 'application/json']: { schema: r.response.schema } } } : {}),
  };
  return {
    method: r.method,
    path: openApiPath(r.path),
    operationId: operationId(r.method, r.path),
    tags: [r.tag],
    summary: r.summary,
    ...(r.description ? { description: r.description } : {}),
    security: r.auth === 'twilio-signature' ? [{ twilioSignature: [] }] : [],
    ...(r.headers ? { parameters: headerParams(r.headers) } : {}),
    request: {
      ...(r.query ? { query: r.query } : {}),
      ...(r.body ? { body: { required: true, content: { [r.body.contentType]: { schema: r.body.schema } } } } : {}),
    },
    responses: { [String(r.response.status)]: success, ...statusResponses(r.errors ?? []) },
  };
}

function packageVersion(): string {
  try {
    return (require('../../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** The OpenAPI 3.1 document for `routes` (the API-key routes) and `extra` (default `PUBLIC_ROUTES`). */
export function buildOpenApi(routes: readonly RouteSpec[], extra: readonly PublicRouteDoc[] = PUBLIC_ROUTES): Record<string, unknown> {
  const registry = new OpenAPIRegistry();
  registry.register('Error', ErrorSchema);
  registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'tcpa_<prefix>_<secret>',
    description: 'An API key of the org (`POST /v1/keys` or `tcpa keys create`). Each key has one role: admin, ops, journey or auditor.',
  });
  registry.registerComponent('securitySchemes', 'twilioSignature', {
    type: 'apiKey',
    in: 'header',
    name: 'X-Twilio-Signature',
    description: "Twilio's request signature, validated against the org's (or the deployment's) auth token",
  });
  for (const [status, name] of Object.entries(RESPONSE_NAME)) {
    const s = Number(status);
    registry.registerComponent('responses', name, {
      description: ERROR_TEXT[s] ?? name,
      ...(s === 429 ? { headers: { ...RETRY_AFTER, ...RATE_HEADERS } } : s === 503 ? { headers: RETRY_AFTER } : s === 401 ? { headers: { 'WWW-Authenticate': { description: 'Bearer challenge (RFC 6750)', schema: { type: 'string' } } } } : {}),
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    });
  }

  const tags = new Set<string>();
  for (const r of routes) {
    tags.add(r.tag);
    registry.registerPath(apiRouteConfig(r));
  }
  for (const r of extra) {
    tags.add(r.tag);
    registry.registerPath(publicRouteConfig(r));
  }

  // Outbound events (OpenAPI 3.1 `webhooks`): one entry per type, the request the engine makes.
  for (const type of EVENT_TYPES) {
    registry.registerWebhook({
      method: 'post',
      path: type,
      tags: ['Webhooks'],
      summary: `Event ${type}`,
      description: 'POSTed to each endpoint subscribed to this type (or `*`), at least once, in order per timer. Answer 2xx within WEBHOOK_TIMEOUT; anything else is retried for 3 days.',
      request: {
        headers: z.object({
          'Tcpa-Signature': z.string().describe('t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>"> (two v1 values during a secret rotation)'),
          'Tcpa-Event-Id': z.string(),
          'Tcpa-Event-Type': z.literal(type),
        }),
        body: { content: { 'application/json': { schema: WebhookEventSchema.extend({ type: z.literal(type) }) } } },
      },
      responses: { 200: { description: 'Received (any 2xx)' } },
    });
  }

  // The call a timer with an action makes to the platform (src/app/webhook-actions.ts).
  registry.registerWebhook({
    method: 'post',
    path: 'timer.action',
    tags: ['Webhooks'],
    summary: 'Timer action (start a bot)',
    description:
      "POSTed to a timer's action.webhook.url when it fires and is allowed, signed with the secret of the org's endpoint for that origin. Answer 2xx to count it sent; 429, 5xx or no answer within WEBHOOK_TIMEOUT is retried like a provider error; anything else fails the timer. Start one bot per Idempotency-Key, and stop it by windowEnd.",
    request: {
      headers: z.object({
        'Tcpa-Signature': z.string().describe('As for events: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">'),
        'Tcpa-Event-Id': z.string(),
        'Tcpa-Event-Type': z.literal('timer.action'),
        'Idempotency-Key': z.string().describe('The timer id'),
      }),
      body: { content: { 'application/json': { schema: TimerActionSchema } } },
    },
    responses: { 200: { description: 'Started (any 2xx)' } },
  });

  const generator = new OpenApiGeneratorV31(registry.definitions);
  const doc = generator.generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'tcpa-scheduler API',
      version: packageVersion(),
      description:
        'A TCPA-compliant outbound scheduling engine. Every `/v1` route needs `Authorization: Bearer <key>`; each route lists the roles that may call it. Errors are always `{ "error": { "code", "message", "details"? } }`.',
    },
    security: [{ bearer: [] }],
    tags: [...tags].map((name) => ({ name })),
  });
  return doc as unknown as Record<string, unknown>;
}

/** Where swagger-ui-dist's files are (resolved from this module, so it works wherever node_modules is). */
export function swaggerUiDir(): string {
  return dirname(require.resolve('swagger-ui-dist/package.json'));
}

const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>tcpa-scheduler API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: '/openapi.json',
      dom_id: '#swagger-ui',
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: 'StandaloneLayout',
      validatorUrl: null,
      persistAuthorization: false
    });
  </script>
</body>
</html>
`;

/** `GET /openapi.json`, `GET /docs` and Swagger UI's static files under `/docs/assets`. */
export function docsRouter(doc: object): Router {
  const router = express.Router();
  const json = JSON.stringify(doc);
  router.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(json);
  });
  router.get('/docs', (_req, res) => {
    res.type('html').send(DOCS_HTML);
  });
  router.use('/docs/assets', express.static(swaggerUiDir(), { index: false, fallthrough: true, maxAge: '1h' }));
  return router;
}
