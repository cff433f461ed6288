/**
 * The real `twilio` helper library (v6), optionally pointed at another base URL — the emulator in
 * ./emulator.ts, `TWILIO_API_BASE` — instead of https://api.twilio.com.
 *
 * How it is pointed: through the client's documented `httpClient` option (twilio-node
 * advanced-examples/custom-http-client.md; the maintainers' answer in twilio/twilio-node#326 is a
 * custom RequestClient that rewrites the URL). `RoutingRequestClient` extends twilio's own
 * `RequestClient`, so auth, form encoding, timeouts and 429 auto-retry stay the library's; it only
 * swaps the origin of each fully built URL for `apiBase` (keeping a path prefix such as
 * `/_emulator`). The alternatives were rejected: `edge`/`region` only rewrite the *hostname* into
 * `api.{edge}.{region}.twilio.com` (BaseTwilio.getHostname) and cannot change scheme or port; and
 * assigning `client.api.baseUrl` works for the api domain only and breaks when TWILIO_EDGE /
 * TWILIO_REGION are set, because getHostname then mangles a host like `127.0.0.1`. The rewrite
 * happens after getHostname, so it is immune to both.
 *
 * Transport: the same RequestClient sends over node:http(s) with kept-alive agents instead of
 * axios (see `send`), unless the library's extras (auto-retry, redirects, debug logs) are asked for.
 *
 * Extra headers: twilio-node's `messages.create` / `calls.create` accept no headers, so
 * `withTwilioHeaders` / `withIdempotencyToken` put them in an AsyncLocalStorage scope that the
 * RequestClient merges into every request made inside it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import http from 'node:http';
import https from 'node:https';
import twilio from 'twilio';
import type RequestClientType from 'twilio/lib/base/RequestClient.js';
import type * as TwilioHttpResponse from 'twilio/lib/http/response.js';

/** Header the emulator dedupes creates on (Twilio itself sends it on webhooks; see emulator.ts). */
export const IDEMPOTENCY_HEADER = 'I-Twilio-Idempotency-Token';

/** Set on a request's network error: true when the request may have reached the provider. */
export const SENT_MAYBE = 'requestMayHaveReachedProvider';

export type TwilioClient = twilio.Twilio;

export interface TwilioClientConfig {
  accountSid: string;
  authToken: string;
  /** e.g. `http://127.0.0.1:4010` or `http://127.0.0.1:3000/_emulator`; absent → real Twilio. */
  apiBase?: string;
  /** Retry 429 answers with exponential backoff (twilio-node's own mechanism). Default false. */
  autoRetry?: boolean;
  maxRetries?: number;
  maxRetryDelay?: number;
  /** Request timeout in milliseconds (twilio-node default 30000). */
  timeoutMs?: number;
}

const headerScope = new AsyncLocalStorage<Record<string, string>>();

/** Run `fn` with `headers` added to every Twilio request it makes. Scopes nest (inner wins). */
export function withTwilioHeaders<T>(headers: Record<string, string>, fn: () => T): T {
  return headerScope.run({ ...headerScope.getStore(), ...headers }, fn);
}

/**
 * Run `fn` with an `I-Twilio-Idempotency-Token` on its Twilio requests. The emulator answers a
 * repeated token with the resource first created; real Twilio ignores the header.
 */
export function withIdempotencyToken<T>(token: string, fn: () => T): T {
  return withTwilioHeaders({ [IDEMPOTENCY_HEADER]: token }, fn);
}

class RoutingRequestClient extends twilio.RequestClient {
  private readonly base: string | null;
  private readonly timeoutMs: number;
  private readonly agents = { 'http:': new http.Agent({ keepAlive: true, maxFreeSockets: 256 }), 'https:': new https.Agent({ keepAlive: true, maxFreeSockets: 256 }) };

  constructor(apiBase: string | undefined, opts: RequestClientType.RequestClientOptions) {
    super(opts);
    this.base = apiBase ? normalizeBase(apiBase) : null;
    this.timeoutMs = opts.timeout ?? 30_000;
  }

  override request<TData>(opts: RequestClientType.RequestOptions<TData>): Promise<TwilioHttpResponse.default<TData>> {
    const extra = headerScope.getStore();
    const headers = extra ? { ...opts.headers, ...extra } : { ...opts.headers };
    let uri = opts.uri;
    if (this.base) {
      const u = new URL(opts.uri);
      uri = this.base + u.pathname + u.search;
    }
    // The library's own transport (axios) where its extras are asked for: 429 auto-retry, redirects, debug logs.
    if (this.autoRetry || opts.allowRedirects || opts.logLevel === 'debug') return super.request({ ...opts, uri, headers });
    return this.send({ ...opts, uri, headers });
  }

  /**
   * What RequestClient.request does (Basic auth, form or JSON body with arrays as repeated keys,
   * query params, the timeout, every status answered, no redirect), over node:http(s) with
   * kept-alive agents instead of axios: at dispatch rates axios was a quarter of a dispatcher's CPU.
   * The body comes back as text; twilio-node's Version parses it (and raises RestException on an error status).
   */
  private async send<TData>(opts: RequestClientType.RequestOptions<TData> & { headers: Record<string, string> }): Promise<TwilioHttpResponse.default<TData>> {
    const headers: Record<string, string> = { ...opts.headers };
    if (!headers['Connection'] && !headers['connection']) headers['Connection'] = 'keep-alive';
    if (opts.username && opts.password) headers['Authorization'] = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`;
    else if (opts.authStrategy) headers['Authorization'] = await opts.authStrategy.getAuthString();
    const url = new URL(opts.uri);
    if (opts.params) url.search = formEncode(opts.params as Record<string, unknown>);
    let body: string | undefined;
    if (opts.data && headers['Content-Type'] === 'application/x-www-form-urlencoded') body = formEncode(opts.data as Record<string, unknown>);
    else if (opts.data && headers['Content-Type'] === 'application/json') body = JSON.stringify(opts.data);
    if (body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(body));
    const client = url.protocol === 'https:' ? https : http;
    const agent = url.protocol === 'https:' ? this.agents['https:'] : this.agents['http:'];
    const timeout = opts.timeout ?? this.timeoutMs;
    return new Promise((resolve, reject) => {
      // Whether the request could have reached the server: once its socket is connected (a kept-alive
      // socket already is), a failure is ambiguous — the provider may have acted on it (SENT_MAYBE).
      let connected = false;
      const fail = (err: Error) => reject(Object.assign(err, { [SENT_MAYBE]: connected }));
      const req = client.request(url, { method: opts.method.toUpperCase(), headers, agent }, (res) => {
        res.setEncoding('utf8');
        let text = '';
        res.on('data', (chunk: string) => (text += chunk));
        res.once('end', () => resolve({ statusCode: res.statusCode ?? 0, body: text, headers: res.headers } as unknown as TwilioHttpResponse.default<TData>));
        res.once('error', fail);
      });
      req.once('socket', (socket) => {
        if (socket.connecting) socket.once('connect', () => (connected = true));
        else connected = true;
      });
      req.setTimeout(timeout, () => req.destroy(new Error(`timeout of ${timeout}ms exceeded`)));
      req.once('error', fail);
      req.end(body);
    });
  }
}

/** Form encoding as twilio-node's (qs, arrayFormat "repeat"): an array is the key repeated; undefined is left out. */
function formEncode(data: Record<string, unknown>): string {
  const out = new URLSearchParams();
  for (const [k, v] of Object.entries(data)) {
    if (v === undefined) continue;
    for (const item of Array.isArray(v) ? v : [v]) out.append(k, item === null ? '' : String(item));
  }
  return out.toString();
}

function normalizeBase(apiBase: string): string {
  const u = new URL(apiBase);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`apiBase must be an http(s) URL: ${apiBase}`);
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

export function createTwilioClient(cfg: TwilioClientConfig): TwilioClient {
  const opts: RequestClientType.RequestClientOptions = {};
  if (cfg.autoRetry !== undefined) opts.autoRetry = cfg.autoRetry;
  if (cfg.maxRetries !== undefined) opts.maxRetries = cfg.maxRetries;
  if (cfg.maxRetryDelay !== undefined) opts.maxRetryDelay = cfg.maxRetryDelay;
  if (cfg.timeoutMs !== undefined) opts.timeout = cfg.timeoutMs;
  const httpClient = new RoutingRequestClient(cfg.apiBase, opts);
  return twilio(cfg.accountSid, cfg.authToken, { httpClient });
}

/**
 * Check an `X-Twilio-Signature` against the auth token, the full URL Twilio requested (with query
 * string) and the POST parameters. Wraps `twilio.validateRequest` (HMAC-SHA1).
 */
export function validateTwilioSignature(
  authToken: string,
  signature: string | undefined | null,
  url: string,
  params: Record<string, unknown>,
): boolean {
  if (!signature) return false;
  return twilio.validateRequest(authToken, signature, url, params);
}
