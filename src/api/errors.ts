/**
 * The one place where errors become HTTP answers.
 *
 * Every error response has the shape `{ "error": { "code", "message", "details"? } }` with a
 * code from ERROR_CODES (src/domain/errors.ts):
 *
 * - AppError → `httpStatusOf(code)`, its message and details.
 * - ZodError (a schema parsed outside `parseBody`/`parseQuery`/`parseParams`) → 400
 *   INVALID_ARGUMENT, details = `[{ path, message }]`.
 * - body-parser errors: too large → 413 PAYLOAD_TOO_LARGE; malformed JSON, unsupported
 *   encoding/charset, aborted or mis-sized bodies → 400 INVALID_ARGUMENT (we have no 415 code).
 * - A dependency that cannot be reached (Postgres down, pool exhausted, Redis closed; see
 *   `isUnavailableError`) → 503 UNAVAILABLE with `Retry-After: 5`.
 * - Anything else → 500 INTERNAL with a generic message and the request id in `details`; the
 *   error itself (stack included) only goes to the log, never to the client.
 *
 * Requests Node's HTTP parser refuses before Express sees them (`answerClientErrors`): headers
 * or a request line over the 16 KB limit → 413 PAYLOAD_TOO_LARGE; a malformed request (e.g. a
 * NUL or another control character in a header) or one that timed out → 400 INVALID_ARGUMENT;
 * in the same shape.
 *
 * IDEMPOTENCY_MISMATCH answers 422, as Stripe does: the Idempotency-Key was already used with a
 * different request body, so the request is well-formed but cannot be processed as sent.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { AppError, assertNever, type ErrorCode } from '../domain/errors.ts';

/** HTTP status of each error code. */
export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case 'INVALID_ARGUMENT':
    case 'INVALID_ZIP':
    case 'INVALID_PHONE':
    case 'INVALID_INSTANT':
    case 'INVALID_CHANNEL':
    case 'INVALID_POLICY':
    case 'INVALID_PURPOSE':
    case 'INVALID_ROW':
    case 'FILE_UNREADABLE':
      return 400;
    case 'UNKNOWN_ZIP':
      return 422; // well-formed, but no location can be derived from it
    case 'UNAUTHENTICATED':
      return 401;
    case 'FORBIDDEN':
      return 403;
    case 'NOT_FOUND':
      return 404;
    case 'CONFLICT':
      return 409;
    case 'PAYLOAD_TOO_LARGE':
      return 413;
    case 'IDEMPOTENCY_MISMATCH':
      return 422; // Stripe-like: same Idempotency-Key, different request
    case 'RATE_LIMITED':
      return 429;
    case 'INTERNAL':
    case 'CALENDAR_INVALID': // our own calendar files are broken: a server fault
      return 500;
    case 'UNAVAILABLE':
      return 503;
    default:
      return assertNever(code);
  }
}

/** Seconds a client should wait before retrying a 503. */
export const RETRY_AFTER_SECONDS = 5;

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

export interface IssueDetail {
  path: string;
  message: string;
}

/** `['items', 0, 'zip']` with prefix `body` → `body.items[0].zip`. */
export function formatPath(path: readonly PropertyKey[], prefix?: string): string {
  // A path deeper than MAX_PATH_SEGMENTS is shown by its ends (a 45,000-deep body would
  // otherwise be echoed as a 135 KB path).
  const shown = path.length > MAX_PATH_SEGMENTS ? [...path.slice(0, PATH_HEAD), `…${path.length - PATH_HEAD - PATH_TAIL} more…`, ...path.slice(-PATH_TAIL)] : path;
  let out = prefix ?? '';
  for (const seg of shown) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

const MAX_PATH_SEGMENTS = 32;
const PATH_HEAD = 16;
const PATH_TAIL = 8;

/** Zod issues as `{ path, message }`, one entry per unknown key of a strict object. */
export function issueDetails(issues: readonly z.core.$ZodIssue[], prefix?: string): IssueDetail[] {
  const out: IssueDetail[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: formatPath([...issue.path, key], prefix), message: 'unknown field' });
    } else {
      out.push({ path: formatPath(issue.path, prefix), message: issue.message });
    }
  }
  return out;
}

/** The minimal logger the handler needs (a pino logger fits). */
export interface ErrorLogger {
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

// ---------------------------------------------------------------------------------------------
// Unavailable dependencies
// ---------------------------------------------------------------------------------------------

/** Socket-level codes of a dependency that cannot be reached (Node errno codes). */
const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);
/**
 * Prisma: P1001 can't reach the server, P1002 timed out, P1008 operation timed out, P1017 server
 * closed the connection, P2024 timed out fetching a connection from the pool, P2037 too many
 * connections. PostgreSQL SQLSTATE: 53300 too_many_connections, 57P01..57P03 shutdown / starting
 * up; class 08 (connection exceptions) is matched separately.
 */
const DB_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2037', '53300', '57P01', '57P02', '57P03']);
/** Prisma driver-adapter error kinds (meta.driverAdapterError.cause.kind). */
const ADAPTER_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);
/** ioredis error classes for a lost server. */
const ERROR_NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError']);
const MESSAGES = [
  /can't reach database server/i,
  /timed out fetching a new connection from the connection pool/i,
  /unable to start a transaction in the given time/i, // Prisma P2028: maxWait for a connection
  /^connection terminated (unexpectedly|due to connection timeout)/i, // pg
  /^timeout exceeded when trying to connect/i, // pg-pool
  /client has encountered a connection error and is not queryable/i, // pg
  /^connection is closed\.?$/i, // ioredis
  /stream isn't writeable and enableOfflineQueue options is false/i, // ioredis, offline queue off
];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function nodeIsUnavailable(node: Record<string, unknown>): boolean {
  const code = node['code'];
  if (typeof code === 'string' && (NET_CODES.has(code) || DB_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
  const kind = node['kind'];
  if (typeof kind === 'string' && ADAPTER_KINDS.has(kind)) return true;
  const name = node['name'];
  if (typeof name === 'string' && ERROR_NAMES.has(name)) return true;
  const message = node['message'];
  return typeof message === 'string' && MESSAGES.some((re) => re.test(message));
}

/**
 * True when `err` (or anything it wraps: `cause`, Prisma's `meta.driverAdapterError`, an
 * AggregateError's `errors`) says that Postgres or Redis cannot be reached right now, i.e. a
 * retry later may succeed. Errors the database answered (constraint violations, bad SQL) are not.
 */
export function isUnavailableError(err: unknown): boolean {
  const seen = new Set<unknown>();
  const stack: unknown[] = [err];
  while (stack.length > 0 && seen.size < 32) {
    const node = stack.pop();
    if (!isObject(node) || seen.has(node)) continue;
    seen.add(node);
    if (nodeIsUnavailable(node)) return true;
    stack.push(node['cause']);
    const meta = node['meta'];
    if (isObject(meta)) stack.push(meta['driverAdapterError'], meta['cause']);
    const errors = node['errors'];
    if (Array.isArray(errors)) stack.push(...errors.slice(0, 8));
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Middleware
// ---------------------------------------------------------------------------------------------

/** The request id: res.locals.requestId, req.id (pino-http), X-Request-Id, or a new uuid. */
function requestIdOf(req: Request, res: Response): string {
  const fromLocals = res.locals['requestId'];
  if (typeof fromLocals === 'string' && fromLocals) return fromLocals;
  const fromReq = (req as Request & { id?: unknown }).id;
  if ((typeof fromReq === 'string' && fromReq) || typeof fromReq === 'number') return String(fromReq);
  const header = req.get('x-request-id');
  if (header && /^[\w.:-]{1,128}$/.test(header)) return header;
  return randomUUID();
}

interface BodyParserError {
  type: string;
  status?: number;
}

function isBodyParserError(err: unknown): err is BodyParserError & Error {
  return err instanceof Error && typeof (err as Partial<BodyParserError>).type === 'string';
}

/** body-parser's error types → our code and message; undefined for types that are our fault. */
function fromBodyParser(err: BodyParserError & Error): AppError | undefined {
  switch (err.type) {
    case 'entity.too.large':
      return new AppError('PAYLOAD_TOO_LARGE', 'request body is too large');
    case 'parameters.too.many':
      return new AppError('PAYLOAD_TOO_LARGE', 'too many parameters in the request body');
    case 'entity.parse.failed':
      return new AppError('INVALID_ARGUMENT', 'malformed JSON in the request body');
    case 'encoding.unsupported':
      return new AppError('INVALID_ARGUMENT', 'unsupported Content-Encoding');
    case 'charset.unsupported':
      return new AppError('INVALID_ARGUMENT', 'unsupported charset: send UTF-8');
    case 'request.aborted':
      return new AppError('INVALID_ARGUMENT', 'request aborted');
    case 'request.size.invalid':
      return new AppError('INVALID_ARGUMENT', 'request body size did not match Content-Length');
    default:
      return undefined;
  }
}

/** A client error raised by Express itself (e.g. a route parameter that cannot be decoded). */
function isExposedClientError(err: unknown): err is Error & { status: number } {
  return err instanceof Error && (err as { expose?: unknown }).expose === true && (err as { status?: unknown }).status === 400;
}

/** Express's router could not decode a path parameter (`%ED%A0%80`, `%E0%A4%A`): a URIError it marks 400. */
function isUndecodableParam(err: unknown): err is URIError {
  return err instanceof URIError && (err as { status?: unknown }).status === 400;
}

function send(req: Request, res: Response, status: number, body: ErrorBody): void {
  // Refused before its body was read (e.g. an upload whose CSV header is wrong): the rest of the
  // body is never read, so the connection cannot carry another request; tell the client.
  if (!req.complete && !res.hasHeader('Connection')) res.setHeader('Connection', 'close');
  if (status === 503 && !res.hasHeader('Retry-After')) res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
  if (status === 401 && !res.hasHeader('WWW-Authenticate')) res.setHeader('WWW-Authenticate', 'Bearer realm="tcpa"');
  res.status(status).json(body);
}

/**
 * The Express 5 error middleware. Install it last. `logger` receives 5xx (error level, with the
 * error and the request id) and 503s (warn level).
 */
export function errorHandler(logger: ErrorLogger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    // Too late to answer: let Express close the connection.
    if (res.headersSent) return next(err);

    let appErr: AppError | undefined;
    if (err instanceof AppError) appErr = err;
    else if (err instanceof z.core.$ZodError) appErr = new AppError('INVALID_ARGUMENT', 'invalid request', issueDetails(err.issues));
    else if (isBodyParserError(err)) appErr = fromBodyParser(err);
    else if (isUndecodableParam(err)) appErr = new AppError('INVALID_ARGUMENT', 'a path segment is not valid percent-encoded UTF-8', [{ path: 'params', message: 'not valid percent-encoded UTF-8' }]);
    else if (isExposedClientError(err)) appErr = new AppError('INVALID_ARGUMENT', err.message);

    if (appErr) {
      const status = httpStatusOf(appErr.code);
      if (status >= 500) logger.error({ err, requestId: requestIdOf(req, res), method: req.method, path: req.path }, 'request failed');
      send(req, res, status, { error: appErr.toJSON() });
      return;
    }

    const requestId = requestIdOf(req, res);
    if (isUnavailableError(err)) {
      logger.warn({ err, requestId, method: req.method, path: req.path }, 'dependency unavailable');
      send(req, res, 503, { error: { code: 'UNAVAILABLE', message: 'service temporarily unavailable, retry later', details: { requestId } } });
      return;
    }
    logger.error({ err, requestId, method: req.method, path: req.path }, 'unhandled error');
    send(req, res, 500, { error: { code: 'INTERNAL', message: 'internal error', details: { requestId } } });
  };
}

/** Install after every route: answers 404 NOT_FOUND through the error handler. */
export const notFoundRoute: RequestHandler = (req, _res, next) => {
  next(new AppError('NOT_FOUND', `no route for ${req.method} ${req.path}`));
};

// ---------------------------------------------------------------------------------------------
// Requests the HTTP parser refuses
// ---------------------------------------------------------------------------------------------

const REASONS: Record<number, string> = { 400: 'Bad Request', 413: 'Payload Too Large' };

/** The answer to a request Node's HTTP parser refused (by its `HPE_*` code); undefined when no answer should be written. */
export function clientErrorAnswer(code: string | undefined): { status: number; body: ErrorBody } | undefined {
  if (code === 'ECONNRESET' || code === 'EPIPE') return undefined;
  const err =
    code === 'HPE_HEADER_OVERFLOW' || code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
      ? new AppError('PAYLOAD_TOO_LARGE', 'the request line and headers are too large (16 KB at most)')
      : code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new AppError('INVALID_ARGUMENT', 'the request did not arrive in time')
        : new AppError('INVALID_ARGUMENT', 'malformed HTTP request: a header or the request line holds a character HTTP does not allow, or is not HTTP/1.1');
  return { status: httpStatusOf(err.code), body: { error: err.toJSON() } };
}

/**
 * Answers the requests Node's HTTP parser refuses (too large headers, control characters in a
 * header, a malformed request line) with the error shape instead of Node's bare status line.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    const answer = clientErrorAnswer(err.code);
    if (!answer || !socket.writable || (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify(answer.body);
    socket.end(
      `HTTP/1.1 ${answer.status} ${REASONS[answer.status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
