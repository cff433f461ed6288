/**
 * A Twilio-compatible emulator for the two REST resources the engine uses: Messages and Calls
 * (API version 2010-04-01). The real `twilio` helper library is pointed at it by base URL (see
 * ./client.ts), so requests, responses, errors and status callbacks must look like Twilio's.
 *
 * What it mimics, and where the shapes come from:
 * - Resources: the JSON fields twilio-node v6 deserialises (MessageInstance / CallInstance in
 *   node_modules/twilio/lib/rest/api/v2010/account/{message,call}.js): snake_case keys, dates in
 *   RFC 2822 ("Thu, 24 Aug 2023 05:01:45 +0000"), `num_segments`/`num_media`/`duration` as strings,
 *   `price` null until final, `error_code` an integer or null.
 * - Errors: `{ code, message, more_info, status }`, which twilio-node's RestException reads.
 *   Missing parameters: 21604 (To), 21603 (From / MessagingServiceSid), 21602 (Body / MediaUrl);
 *   calls 21201 (To), 21213 (From), 21205 (Url). Bad credentials: 401 with code 20003.
 * - Magic numbers: Twilio's test-credential inputs (https://www.twilio.com/docs/iam/test-credentials):
 *   SMS To +15005550001 → 21211 invalid, …0002 → 21612 unroutable, …0003 → 21408 no geo permission,
 *   …0004 → 21610 blocked/unsubscribed, …0009 → 21614 not SMS-capable; From …0001 → 21212,
 *   …0007 → 21606, …0008 → 21611. Calls To …0001 → 21217, …0002 → 21214, …0003 → 21215,
 *   …0004 → 21216; From …0001 → 21212. Emulator-only additions: To +15005550429 → 429 / 20429 and
 *   To +15005550500 → 500 / 20500, for retry tests (Twilio has no magic number for those).
 * - Status callbacks: form-encoded POST (or GET when StatusCallbackMethod=GET) to the StatusCallback
 *   of each request, signed with the account's auth token by twilio's own
 *   `getExpectedTwilioSignature` (HMAC-SHA1 of URL + sorted params, base64) in X-Twilio-Signature,
 *   and carrying a fresh I-Twilio-Idempotency-Token header, as Twilio's webhooks do. No callback is
 *   sent for a resource's initial status, as on Twilio. Voice callbacks are sent only for the
 *   StatusCallbackEvent values asked for (default: `completed`), as on Twilio.
 *
 * - Lists: `GET Messages.json` (To, From, DateSent / DateSent< / DateSent>) and `GET Calls.json`
 *   (To, From, Status, StartTime…, EndTime…), newest first, paged as Twilio pages them (PageSize up
 *   to 1,000, default 50; `next_page_uri` with a PageToken). A date filter never matches a resource
 *   whose date is not set yet (a queued message has no DateSent), as on Twilio.
 *
 * Idempotency: Twilio's Messages/Calls create endpoints take no idempotency key, and twilio-node v6
 * sends none (its message/call `create` set only Content-Type and Accept). `I-Twilio-Idempotency-Token`
 * is the header Twilio puts on the webhooks it sends. The emulator nevertheless dedupes creates on
 * an `I-Twilio-Idempotency-Token` (or `Idempotency-Key`) request header per account and resource:
 * the same token answers 201 with the resource first created (current state, header
 * `Idempotent-Replayed: true`) and creates nothing. client.ts's `withIdempotencyToken` adds it.
 *
 * Logging never carries a full phone number or a message body: numbers are masked to the last four
 * digits, bodies are reduced to their length.
 */
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import twilio from 'twilio';
import { maskPhone } from '../../domain/privacy.ts';

export const API_VERSION = '2010-04-01';
export const IDEMPOTENCY_HEADERS = ['I-Twilio-Idempotency-Token', 'Idempotency-Key'] as const;

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/** A fixed delay in milliseconds, or a `[min, max]` range picked uniformly each time. */
export type DelaySpec = number | readonly [number, number];

/** A synchronous API rejection: the HTTP status and Twilio error code answered to the create request. */
export interface SyncFailure {
  status: number;
  code: number;
  message?: string;
}

/**
 * An HTTP-level fault answered to the next `times` create requests (POST Messages.json / Calls.json),
 * for retry tests. With `afterCreate`, the resource IS created (and proceeds through its statuses)
 * but the response is still the error: the "did my request land?" case idempotency tokens exist for.
 */
export interface HttpFault {
  status: number;
  code?: number;
  message?: string;
  times?: number;
  resource?: 'messages' | 'calls' | 'any';
  afterCreate?: boolean;
}

export type MessageFailureStatus = 'failed' | 'undelivered';
export type CallFailureStatus = 'busy' | 'no-answer' | 'failed';

export interface FailureOptions {
  /** Probability (0..1) that an accepted message fails asynchronously. Default 0. */
  rate?: number;
  /** Error code of an injected async message failure. Default 30008 (Unknown error). */
  code?: number;
  /**
   * Final status of an injected message failure. Default: `failed` for codes Twilio reports before
   * handing the message to a carrier (30001 queue overflow, 30002 account suspended, 30036 validity
   * period expired), `undelivered` (after `sent`) otherwise.
   */
  status?: MessageFailureStatus;
  /** Probability (0..1) that a call ends `callStatus` instead of `completed`. Default 0. */
  callRate?: number;
  /** Outcome of an injected call failure. Default `no-answer`. */
  callStatus?: CallFailureStatus;
  /** Deterministic async outcomes per recipient (To) number. */
  recipients?: Record<string, { message?: { status?: MessageFailureStatus; code: number }; call?: CallFailureStatus }>;
  /** Extra synchronous failures keyed by To number (messages and calls); `null` disables a built-in one. */
  magicNumbers?: Record<string, SyncFailure | null>;
  /** HTTP faults consumed in order by create requests. More can be queued with POST /_emulator/faults. */
  http?: HttpFault[];
}

export interface EmulatorLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface EmulatorOptions {
  /** AccountSid → AuthToken. Every API request must carry Basic auth matching one of them. */
  accounts: Record<string, string>;
  /** Delay before each REST API response. Default 0. */
  latencyMs?: DelaySpec;
  /** Delay between successive status transitions (and so between callbacks). Default 50. */
  callbackDelayMs?: DelaySpec;
  /** Time a message waits in the queue before it is sent. Default: `callbackDelayMs`. */
  queueTimeMs?: DelaySpec;
  /** CallDuration reported for a completed call, in seconds. Default 7. */
  callDurationSec?: number;
  failure?: FailureOptions;
  /** Sender reported for messages created with only a MessagingServiceSid. Default +15005550006. */
  defaultFrom?: string;
  /** Timeout of each status callback request. Default 15000 (Twilio's default read timeout). */
  callbackTimeoutMs?: number;
  /** Source of randomness for failure rates and delay ranges (inject for determinism). */
  random?: () => number;
  /** The emulator's clock (UTC ms) for resources' dates and list filters. Default Date.now (a test engine with an offset clock passes its own). */
  now?: () => number;
  logger?: EmulatorLogger;
}

// ---------------------------------------------------------------------------------------------
// Resources and records
// ---------------------------------------------------------------------------------------------

export type MessageStatus = 'accepted' | 'queued' | 'sending' | 'sent' | 'delivered' | 'undelivered' | 'failed';
export type CallStatus = 'queued' | 'initiated' | 'ringing' | 'in-progress' | 'completed' | 'busy' | 'no-answer' | 'failed' | 'canceled';

export interface MessageResource {
  account_sid: string;
  api_version: string;
  body: string;
  date_created: string;
  date_sent: string | null;
  date_updated: string;
  direction: 'outbound-api';
  error_code: number | null;
  error_message: string | null;
  from: string | null;
  messaging_service_sid: string | null;
  num_media: string;
  num_segments: string;
  price: string | null;
  price_unit: string;
  sid: string;
  status: MessageStatus;
  subresource_uris: Record<string, string>;
  to: string;
  uri: string;
}

export interface CallResource {
  account_sid: string;
  annotation: string | null;
  answered_by: string | null;
  api_version: string;
  caller_name: string | null;
  date_created: string;
  date_updated: string;
  direction: 'outbound-api';
  duration: string | null;
  end_time: string | null;
  forwarded_from: string | null;
  from: string;
  from_formatted: string;
  group_sid: string | null;
  parent_call_sid: string | null;
  phone_number_sid: string | null;
  price: string | null;
  price_unit: string;
  queue_time: string;
  sid: string;
  start_time: string | null;
  status: CallStatus;
  stir_verstat: string | null;
  subresource_uris: Record<string, string>;
  to: string;
  to_formatted: string;
  trunk_sid: string | null;
  uri: string;
}

export type FormParams = Record<string, string | string[]>;

export interface CallbackAttempt {
  status: string;
  url: string;
  method: 'POST' | 'GET';
  params: Record<string, string>;
  idempotencyToken: string;
  at: string;
  responseStatus: number | null;
  error: string | null;
}

/** One create request as the emulator received it (what `GET /_emulator/messages|calls` lists). */
export interface ReceivedRecord<R> {
  kind: 'message' | 'call';
  /** The resource SID, or null when the request was rejected and nothing was created. */
  sid: string | null;
  accountSid: string;
  receivedAt: string;
  /** Every form field of the request, as parsed. */
  params: FormParams;
  idempotencyToken: string | null;
  headers: { userAgent: string | null; contentType: string | null };
  /** What the API answered (the first time, for idempotent replays). */
  response: { status: number; code: number | null };
  /** Number of later requests answered from this record through the idempotency token. */
  replays: number;
  /** The resource in its current state; null when rejected. */
  resource: R | null;
  statusHistory: Array<{ status: string; at: string; errorCode: number | null }>;
  callbacks: CallbackAttempt[];
}

export type MessageRecord = ReceivedRecord<MessageResource>;
export type CallRecord = ReceivedRecord<CallResource>;

/** Programmatic handle on an emulator instance (the HTTP control endpoints do the same). */
export interface EmulatorControl {
  messages(): MessageRecord[];
  calls(): CallRecord[];
  resetMessages(): void;
  resetCalls(): void;
  reset(): void;
  addFault(fault: HttpFault): void;
  clearFaults(): void;
  /** Cancel every pending transition and callback timer (call before closing the server). */
  dispose(): void;
}

export type EmulatorRouter = express.Router & { emulator: EmulatorControl };
export type EmulatorApp = express.Express & { emulator: EmulatorControl };

// ---------------------------------------------------------------------------------------------
// Twilio constants
// ---------------------------------------------------------------------------------------------

const ERROR_TEXT: Record<number, string> = {
  20003: 'Authenticate',
  20404: 'The requested resource was not found',
  20429: 'Too Many Requests',
  20500: 'Internal Server Error',
  20503: 'Service Unavailable',
  30001: 'Queue overflow',
  30002: 'Account suspended',
  30003: 'Unreachable destination handset',
  30004: 'Message blocked',
  30005: 'Unknown destination handset',
  30006: 'Landline or unreachable carrier',
  30007: 'Message filtered',
  30008: 'Unknown error',
  30036: 'Validity Period Expired',
};

/** Codes Twilio reports with status `failed` (the message never reached a carrier). */
const FAILED_BEFORE_SEND = new Set([30001, 30002, 30036]);

const MESSAGE_MAGIC_TO: Record<string, SyncFailure> = {
  '+15005550001': { status: 400, code: 21211, message: "Invalid 'To' Phone Number" },
  '+15005550002': { status: 400, code: 21612, message: "The 'To' phone number is not currently reachable via SMS" },
  '+15005550003': { status: 400, code: 21408, message: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number" },
  '+15005550004': { status: 400, code: 21610, message: 'Attempt to send to unsubscribed recipient' },
  '+15005550009': { status: 400, code: 21614, message: "'To' number is not a valid mobile number" },
};
const MESSAGE_MAGIC_FROM: Record<string, SyncFailure> = {
  '+15005550001': { status: 400, code: 21212, message: "Invalid 'From' Phone Number" },
  '+15005550007': { status: 400, code: 21606, message: "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination" },
  '+15005550008': { status: 400, code: 21611, message: "This 'From' number has exceeded the maximum number of queued messages" },
};
const CALL_MAGIC_TO: Record<string, SyncFailure> = {
  '+15005550001': { status: 400, code: 21217, message: 'Phone number does not appear to be valid' },
  '+15005550002': { status: 400, code: 21214, message: "'To' phone number cannot be reached" },
  '+15005550003': { status: 400, code: 21215, message: 'Geo Permission configuration is not permitting call' },
  '+15005550004': { status: 400, code: 21216, message: 'Call blocked by Twilio blocklist' },
};
const CALL_MAGIC_FROM: Record<string, SyncFailure> = {
  '+15005550001': { status: 400, code: 21212, message: 'Invalid Caller ID' },
};
const SHARED_MAGIC_TO: Record<string, SyncFailure> = {
  '+15005550429': { status: 429, code: 20429, message: 'Too Many Requests' },
  '+15005550500': { status: 500, code: 20500, message: 'Internal Server Error' },
};

const CALL_EVENTS = new Set(['initiated', 'ringing', 'answered', 'completed']);
const SIP_CODE: Record<string, string> = { completed: '200', busy: '486', 'no-answer': '487', failed: '500' };

// GSM 03.38 alphabet: a body made only of these is sent 7-bit (160 / 153 per segment).
const GSM_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM_EXTENDED = new Set('\f^{}\\[~]|€');

// ---------------------------------------------------------------------------------------------
// Small helpers (exported where tests or callers may want them)
// ---------------------------------------------------------------------------------------------

export function newSid(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

/** RFC 2822 date as Twilio writes it: "Thu, 24 Aug 2023 05:01:45 +0000". */
export function rfc2822(d: Date): string {
  return d.toUTCString().replace('GMT', '+0000');
}

/** Number of SMS segments Twilio would bill for `body` (GSM-7 vs UCS-2 with concatenation headers). */
export function countSegments(body: string): number {
  if (body.length === 0) return 1;
  let septets = 0;
  let gsm = true;
  for (const ch of body) {
    if (GSM_BASIC.has(ch)) septets += 1;
    else if (GSM_EXTENDED.has(ch)) septets += 2;
    else {
      gsm = false;
      break;
    }
  }
  if (gsm) return septets <= 160 ? 1 : Math.ceil(septets / 153);
  const units = body.length; // UTF-16 code units
  return units <= 70 ? 1 : Math.ceil(units / 67);
}

function formatNumber(n: string): string {
  const m = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(n);
  return m ? `(${m[1]}) ${m[2]}-${m[3]}` : n;
}

function twilioError(status: number, code: number, message?: string) {
  return {
    code,
    message: message ?? ERROR_TEXT[code] ?? 'Error',
    more_info: `https://www.twilio.com/docs/errors/${code}`,
    status,
  };
}

function sendError(res: Response, status: number, code: number, message?: string): void {
  if (status === 401) res.set('WWW-Authenticate', 'Basic realm="Twilio API"');
  res.status(status).json(twilioError(status, code, message));
}

function asParams(body: unknown): FormParams {
  const out: FormParams = {};
  if (body && typeof body === 'object') {
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
      if (typeof v === 'string') out[k] = v;
      else if (Array.isArray(v)) out[k] = v.map(String);
      else if (v !== undefined && v !== null) out[k] = String(v);
    }
  }
  return out;
}

function one(params: FormParams, key: string): string | undefined {
  const v = params[key];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s === '' ? undefined : s;
}

function many(params: FormParams, key: string): string[] {
  const v = params[key];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((s) => s !== '');
}

const E164 = /^\+[1-9]\d{1,14}$/;
function validRecipient(to: string, kind: 'message' | 'call'): boolean {
  if (E164.test(to)) return true;
  if (kind === 'message') return /^(whatsapp|messenger|rcs):./.test(to);
  return /^(client|sip|whatsapp):./i.test(to);
}
function validSender(from: string, kind: 'message' | 'call'): boolean {
  if (validRecipient(from, kind)) return true;
  // Alphanumeric sender IDs: up to 11 letters/digits/spaces with at least one letter.
  return kind === 'message' && /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/.test(from);
}

/** StatusCallbackEvent values: repeated parameters, or space-separated in one. */
function statusCallbackEvents(params: FormParams): string[] {
  return many(params, 'StatusCallbackEvent').flatMap((v) => v.split(/[\s,]+/)).filter(Boolean).map((v) => v.toLowerCase());
}

/** https://www.twilio.com/docs/api/errors/21609: StatusCallback must be a fully qualified http(s) URL. */
function invalidStatusCallback(params: FormParams): SyncFailure | null {
  const url = one(params, 'StatusCallback');
  if (url === undefined) return null;
  let ok = url.length <= 4000;
  try {
    const u = new URL(url);
    ok &&= (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    ok = false;
  }
  return ok ? null : { status: 400, code: 21609, message: "Invalid 'StatusCallback'" };
}

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

function yyMMddHHmm(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}`;
}


// --- list filters (GET Messages.json / Calls.json) -------------------------------------------

/**
 * One date filter of a list request, as Twilio reads it: `DateSent=2026-12-08` (that UTC day),
 * `DateSent<=…` (sent on or before) and `DateSent>=…` (on or after) — in a query string the `<`
 * or `>` ends the key (`DateSent>`), which is how twilio-node sends `dateSentAfter`. The value is a
 * day (`YYYY-MM-DD`, whole UTC days) or an ISO 8601 instant. A resource whose date is not set yet
 * (a message still queued has no DateSent, a call not yet answered no StartTime) never matches.
 */
interface DateFilter {
  field: string;
  op: 'on' | 'before' | 'after';
  /** Inclusive bounds, UTC ms. */
  from: number;
  to: number;
}

function parseDateFilter(field: string, op: DateFilter['op'], value: string): DateFilter | SyncFailure {
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  let from: number;
  let to: number;
  if (day) {
    from = Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3]));
    to = from + 86_400_000 - 1;
  } else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(value)) {
    from = Date.parse(value);
    to = from + 999; // Twilio's dates have whole seconds
  } else {
    from = NaN;
    to = NaN;
  }
  if (!Number.isFinite(from)) return { status: 400, code: 20001, message: `Invalid value for ${field}: ${value.slice(0, 40)}` };
  return { field, op, from: op === 'before' ? -Infinity : from, to: op === 'after' ? Infinity : to };
}

function dateFilters(query: Record<string, unknown>, field: string): DateFilter[] | SyncFailure {
  const out: DateFilter[] = [];
  for (const [suffix, op] of [['', 'on'], ['<', 'before'], ['>', 'after']] as const) {
    const raw = query[field + suffix];
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (typeof value !== 'string' || value === '') continue;
    // `DateSent>=2026-12-08` arrives as key `DateSent>`, value `2026-12-08`; a stray `=` left in front is tolerated.
    const f = parseDateFilter(field, op, value.replace(/^=/, ''));
    if ('code' in f) return f;
    out.push(f);
  }
  return out;
}

function matchesDate(value: string | null, filters: readonly DateFilter[]): boolean {
  if (filters.length === 0) return true;
  if (value === null) return false;
  const t = Date.parse(value);
  return filters.every((f) => t >= f.from && t <= f.to);
}

const PAGE_SIZE_DEFAULT = 50;
const PAGE_SIZE_MAX = 1000;

const noopLogger: EmulatorLogger = { info: () => undefined, warn: () => undefined };

// ---------------------------------------------------------------------------------------------
// The emulator
// ---------------------------------------------------------------------------------------------

interface Entry<R> {
  record: ReceivedRecord<R>;
  authToken: string;
  statusCallback: string | null;
  callbackMethod: 'POST' | 'GET';
  timers: Set<NodeJS.Timeout>;
  chain: Promise<void>;
  cancelled: boolean;
}

interface MessageEntry extends Entry<MessageResource> {
  validityPeriodSec: number | null;
  createdAtMs: number;
}

interface CallEntry extends Entry<CallResource> {
  events: Set<string>;
  sequence: number;
}

type ActiveFault = HttpFault & { remaining: number };

class Emulator implements EmulatorControl {
  private readonly accounts: Map<string, string>;
  private readonly random: () => number;
  private readonly clock: () => number;
  private readonly log: EmulatorLogger;
  private readonly messageRecords: MessageRecord[] = [];
  private readonly callRecords: CallRecord[] = [];
  private readonly messagesBySid = new Map<string, MessageEntry>();
  private readonly callsBySid = new Map<string, CallEntry>();
  private readonly idempotent = new Map<string, Entry<unknown>>();
  private readonly faults: ActiveFault[] = [];
  private disposed = false;
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 64 });

  constructor(private readonly opts: EmulatorOptions) {
    this.accounts = new Map(Object.entries(opts.accounts));
    this.random = opts.random ?? Math.random;
    this.clock = opts.now ?? Date.now;
    this.log = opts.logger ?? noopLogger;
    for (const f of opts.failure?.http ?? []) this.addFault(f);
  }

  // --- control ---------------------------------------------------------------------------

  messages(): MessageRecord[] {
    return [...this.messageRecords];
  }
  calls(): CallRecord[] {
    return [...this.callRecords];
  }
  resetMessages(): void {
    this.cancelAll(this.messagesBySid.values());
    this.messageRecords.length = 0;
    this.messagesBySid.clear();
    for (const key of [...this.idempotent.keys()]) if (key.includes(':messages:')) this.idempotent.delete(key);
  }
  resetCalls(): void {
    this.cancelAll(this.callsBySid.values());
    this.callRecords.length = 0;
    this.callsBySid.clear();
    for (const key of [...this.idempotent.keys()]) if (key.includes(':calls:')) this.idempotent.delete(key);
  }
  reset(): void {
    this.resetMessages();
    this.resetCalls();
    this.clearFaults();
  }
  addFault(fault: HttpFault): void {
    this.faults.push({ ...fault, remaining: fault.times ?? 1 });
  }
  clearFaults(): void {
    this.faults.length = 0;
  }
  dispose(): void {
    this.disposed = true;
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    this.cancelAll(this.messagesBySid.values());
    this.cancelAll(this.callsBySid.values());
  }
  warn(obj: object, msg: string): void {
    this.log.warn(obj, msg);
  }

  private cancelAll(entries: Iterable<Entry<unknown>>): void {
    for (const e of entries) {
      e.cancelled = true;
      for (const t of e.timers) clearTimeout(t);
      e.timers.clear();
    }
  }

  // --- timing ------------------------------------------------------------------------------

  private pick(spec: DelaySpec | undefined, fallback: number): number {
    if (spec === undefined) return fallback;
    if (typeof spec === 'number') return Math.max(0, spec);
    const [min, max] = spec;
    return Math.max(0, min + this.random() * (max - min));
  }
  private callbackDelay(): number {
    return this.pick(this.opts.callbackDelayMs, 50);
  }
  async latency(): Promise<void> {
    const ms = this.pick(this.opts.latencyMs, 0);
    if (ms > 0) await new Promise((r) => setTimeout(r, ms));
  }
  private after(entry: Entry<unknown>, ms: number, fn: () => void): void {
    if (this.disposed || entry.cancelled) return;
    const t = setTimeout(() => {
      entry.timers.delete(t);
      if (!entry.cancelled && !this.disposed) fn();
    }, ms);
    entry.timers.add(t);
  }

  // --- auth --------------------------------------------------------------------------------

  /** The authenticated AccountSid and its token, or null (→ 401 / 20003). */
  authenticate(req: Request): { sid: string; token: string } | null {
    const header = req.get('authorization');
    if (!header || !/^basic /i.test(header)) return null;
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) return null;
    const sid = decoded.slice(0, i);
    const token = this.accounts.get(sid);
    if (token === undefined || !safeEqual(decoded.slice(i + 1), token)) return null;
    return { sid, token };
  }

  // --- faults ------------------------------------------------------------------------------

  takeFault(resource: 'messages' | 'calls'): ActiveFault | null {
    const i = this.faults.findIndex((f) => f.remaining > 0 && (f.resource ?? 'any') !== (resource === 'messages' ? 'calls' : 'messages'));
    const f = i >= 0 ? this.faults[i] : undefined;
    if (!f) return null;
    f.remaining -= 1;
    if (f.remaining <= 0) this.faults.splice(i, 1);
    return f;
  }

  private syncFailure(kind: 'message' | 'call', to: string, from: string | undefined): SyncFailure | null {
    const custom = this.opts.failure?.magicNumbers ?? {};
    if (Object.hasOwn(custom, to)) {
      const c = custom[to];
      if (c) return c;
    } else {
      const builtIn = SHARED_MAGIC_TO[to] ?? (kind === 'message' ? MESSAGE_MAGIC_TO : CALL_MAGIC_TO)[to];
      if (builtIn) return builtIn;
    }
    if (from !== undefined) {
      const f = (kind === 'message' ? MESSAGE_MAGIC_FROM : CALL_MAGIC_FROM)[from];
      if (f) return f;
    }
    return null;
  }

  // --- records -----------------------------------------------------------------------------

  newRecord<R>(kind: 'message' | 'call', req: Request, accountSid: string, params: FormParams): ReceivedRecord<R> {
    return {
      kind,
      sid: null,
      accountSid,
      receivedAt: new Date(this.clock()).toISOString(),
      params,
      idempotencyToken: idempotencyToken(req),
      headers: { userAgent: req.get('user-agent') ?? null, contentType: req.get('content-type') ?? null },
      response: { status: 0, code: null },
      replays: 0,
      resource: null,
      statusHistory: [],
      callbacks: [],
    };
  }

  /** Keep a rejected request in the received list (it was received, nothing was created). */
  reject(kind: 'message' | 'call', record: ReceivedRecord<never>, res: Response, failure: SyncFailure): void {
    record.response = { status: failure.status, code: failure.code };
    if (kind === 'message') this.messageRecords.push(record);
    else this.callRecords.push(record);
    this.log.info({ kind, status: failure.status, code: failure.code, to: maskPhone(one(record.params, 'To')) }, 'create rejected');
    sendError(res, failure.status, failure.code, failure.message);
  }

  replay(kind: 'messages' | 'calls', accountSid: string, token: string | null): Entry<unknown> | null {
    if (!token) return null;
    const e = this.idempotent.get(`${accountSid}:${kind}:${token}`) ?? null;
    if (e) e.record.replays += 1;
    return e;
  }

  // --- messages ----------------------------------------------------------------------------

  validateMessage(params: FormParams): SyncFailure | null {
    const to = one(params, 'To');
    const from = one(params, 'From');
    const mss = one(params, 'MessagingServiceSid');
    const body = one(params, 'Body');
    if (!to) return { status: 400, code: 21604, message: "A 'To' phone number is required." };
    if (!from && !mss) return { status: 400, code: 21603, message: "A 'From' or 'MessagingServiceSid' parameter is required to send a message." };
    if (body === undefined && many(params, 'MediaUrl').length === 0 && !one(params, 'ContentSid')) {
      return { status: 400, code: 21602, message: 'Message body is required.' };
    }
    const magic = this.syncFailure('message', to, from);
    if (magic) return magic;
    if (!validRecipient(to, 'message')) return { status: 400, code: 21211, message: `Invalid 'To' Phone Number: ${to}` };
    if (from && !validSender(from, 'message')) return { status: 400, code: 21212, message: `Invalid 'From' Phone Number: ${from}` };
    if (body !== undefined && body.length > 1600) {
      return { status: 400, code: 21617, message: 'The concatenated message body exceeds the 1600 character limit.' };
    }
    const cb = invalidStatusCallback(params);
    if (cb) return cb;
    const vp = one(params, 'ValidityPeriod');
    if (vp !== undefined && !(/^\d+$/.test(vp) && Number(vp) >= 1 && Number(vp) <= 36000)) {
      // https://www.twilio.com/docs/api/errors/21624 (range per /docs/api/errors/90007: 1..36,000 s).
      return { status: 400, code: 21624, message: 'Invalid validity period value' };
    }
    return null;
  }

  createMessage(record: MessageRecord, token: string): MessageEntry {
    const params = record.params;
    const now = new Date(this.clock());
    const sid = newSid('SM');
    const accountSid = record.accountSid;
    const body = one(params, 'Body') ?? '';
    const mss = one(params, 'MessagingServiceSid') ?? null;
    const from = one(params, 'From') ?? null;
    const uri = `/${API_VERSION}/Accounts/${accountSid}/Messages/${sid}.json`;
    const resource: MessageResource = {
      account_sid: accountSid,
      api_version: API_VERSION,
      body,
      date_created: rfc2822(now),
      date_sent: null,
      date_updated: rfc2822(now),
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from,
      messaging_service_sid: mss,
      num_media: String(many(params, 'MediaUrl').length),
      num_segments: String(countSegments(body)),
      price: null,
      price_unit: 'USD',
      sid,
      // Twilio: "queued" when created without a Messaging Service, "accepted" with one
      // (https://www.twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks).
      status: mss ? 'accepted' : 'queued',
      subresource_uris: {
        media: `/${API_VERSION}/Accounts/${accountSid}/Messages/${sid}/Media.json`,
        feedback: `/${API_VERSION}/Accounts/${accountSid}/Messages/${sid}/Feedback.json`,
      },
      to: one(params, 'To') ?? '',
      uri,
    };
    record.sid = sid;
    record.resource = resource;
    record.statusHistory.push({ status: resource.status, at: now.toISOString(), errorCode: null });
    const vp = one(params, 'ValidityPeriod');
    const entry: MessageEntry = {
      record,
      authToken: token,
      statusCallback: one(params, 'StatusCallback') ?? null,
      callbackMethod: 'POST',
      timers: new Set(),
      chain: Promise.resolve(),
      cancelled: false,
      validityPeriodSec: vp === undefined ? null : Number(vp),
      createdAtMs: now.getTime(),
    };
    this.messageRecords.push(record);
    this.messagesBySid.set(sid, entry);
    if (record.idempotencyToken) this.idempotent.set(`${accountSid}:messages:${record.idempotencyToken}`, entry as Entry<unknown>);
    this.log.info({ sid, to: maskPhone(resource.to), bodyChars: body.length, segments: resource.num_segments, status: resource.status }, 'message created');
    this.runMessage(entry);
    return entry;
  }

  getMessage(accountSid: string, sid: string): MessageResource | null {
    const e = this.messagesBySid.get(sid);
    return e && e.record.accountSid === accountSid ? e.record.resource : null;
  }

  private messageOutcome(to: string): { status: MessageFailureStatus; code: number } | null {
    const f = this.opts.failure;
    const fixed = f?.recipients?.[to]?.message;
    if (fixed) return { status: fixed.status ?? (FAILED_BEFORE_SEND.has(fixed.code) ? 'failed' : 'undelivered'), code: fixed.code };
    const rate = f?.rate ?? 0;
    if (rate > 0 && this.random() < rate) {
      const code = f?.code ?? 30008;
      return { status: f?.status ?? (FAILED_BEFORE_SEND.has(code) ? 'failed' : 'undelivered'), code };
    }
    return null;
  }

  private runMessage(e: MessageEntry): void {
    const r = e.record.resource;
    if (!r) return;
    const send = () => {
      // ValidityPeriod: a message still queued when its validity period has elapsed is not sent;
      // Twilio fails it with 30036 "Validity Period Expired"
      // (https://www.twilio.com/docs/api/errors/30036). 30001 "Queue overflow" is the error for a
      // sender whose queue exceeded Twilio's own maximum queue time, not the per-message period.
      if (e.validityPeriodSec !== null && this.clock() - e.createdAtMs > e.validityPeriodSec * 1000) {
        this.setMessageStatus(e, 'failed', 30036);
        return;
      }
      if (r.from === null) r.from = this.opts.defaultFrom ?? '+15005550006';
      const outcome = this.messageOutcome(r.to);
      if (outcome?.status === 'failed') {
        this.setMessageStatus(e, 'failed', outcome.code);
        return;
      }
      this.setMessageStatus(e, 'sent', null);
      this.after(e, this.callbackDelay(), () => {
        if (outcome) this.setMessageStatus(e, 'undelivered', outcome.code);
        else this.setMessageStatus(e, 'delivered', null);
      });
    };
    const queueTime = this.pick(this.opts.queueTimeMs, this.callbackDelay());
    if (r.status === 'accepted') {
      this.after(e, this.callbackDelay(), () => {
        this.setMessageStatus(e, 'queued', null);
        this.after(e, queueTime, send);
      });
    } else {
      this.after(e, queueTime, send);
    }
  }

  private setMessageStatus(e: MessageEntry, status: MessageStatus, errorCode: number | null): void {
    const r = e.record.resource;
    if (!r) return;
    const now = new Date(this.clock());
    r.status = status;
    r.date_updated = rfc2822(now);
    if (status === 'sent') r.date_sent = rfc2822(now);
    if (errorCode !== null) {
      r.error_code = errorCode;
      r.error_message = ERROR_TEXT[errorCode] ?? null;
    }
    if (status === 'delivered' || status === 'undelivered') r.price = (-0.0079 * Number(r.num_segments)).toFixed(5);
    e.record.statusHistory.push({ status, at: now.toISOString(), errorCode });
    this.log.info({ sid: r.sid, to: maskPhone(r.to), status, errorCode }, 'message status');
    if (!e.statusCallback) return;
    const params: Record<string, string> = {
      AccountSid: r.account_sid,
      ApiVersion: API_VERSION,
      From: r.from ?? '',
      To: r.to,
      MessageSid: r.sid,
      SmsSid: r.sid,
      MessageStatus: status,
      SmsStatus: status,
    };
    if (r.messaging_service_sid) params.MessagingServiceSid = r.messaging_service_sid;
    if (errorCode !== null) params.ErrorCode = String(errorCode);
    if (status === 'delivered') params.RawDlrDoneDate = yyMMddHHmm(now);
    this.enqueueCallback(e, status, params);
  }

  // --- calls -------------------------------------------------------------------------------

  validateCall(params: FormParams): SyncFailure | null {
    const to = one(params, 'To');
    const from = one(params, 'From');
    if (!to) return { status: 400, code: 21201, message: "No 'To' number is specified" };
    if (!from) return { status: 400, code: 21213, message: "No 'From' number is specified" };
    if (!one(params, 'Url') && !one(params, 'Twiml') && !one(params, 'ApplicationSid')) {
      return { status: 400, code: 21205, message: 'Url parameter is required.' };
    }
    const magic = this.syncFailure('call', to, from);
    if (magic) return magic;
    if (!validRecipient(to, 'call')) return { status: 400, code: 21211, message: `Invalid 'To' Phone Number: ${to}` };
    if (!validSender(from, 'call')) return { status: 400, code: 21212, message: 'Invalid Caller ID' };
    const url = one(params, 'Url');
    if (url !== undefined && !/^https?:\/\/[^/\s]+/i.test(url)) return { status: 400, code: 21205, message: 'Invalid URL' };
    const method = one(params, 'StatusCallbackMethod');
    if (method !== undefined && !/^(GET|POST)$/i.test(method)) {
      return { status: 400, code: 21200, message: 'StatusCallbackMethod must be GET or POST' };
    }
    const cb = invalidStatusCallback(params);
    if (cb) return cb;
    if (statusCallbackEvents(params).some((ev) => !CALL_EVENTS.has(ev))) {
      return { status: 400, code: 21626, message: "Invalid 'StatusCallbackEvent'" };
    }
    return null;
  }

  createCall(record: CallRecord, token: string): CallEntry {
    const params = record.params;
    const now = new Date(this.clock());
    const sid = newSid('CA');
    const accountSid = record.accountSid;
    const to = one(params, 'To') ?? '';
    const from = one(params, 'From') ?? '';
    const base = `/${API_VERSION}/Accounts/${accountSid}/Calls/${sid}`;
    const resource: CallResource = {
      account_sid: accountSid,
      annotation: null,
      answered_by: null,
      api_version: API_VERSION,
      caller_name: null,
      date_created: rfc2822(now),
      date_updated: rfc2822(now),
      direction: 'outbound-api',
      duration: null,
      end_time: null,
      forwarded_from: null,
      from,
      from_formatted: formatNumber(from),
      group_sid: null,
      parent_call_sid: null,
      phone_number_sid: E164.test(from) ? newSid('PN') : null,
      price: null,
      price_unit: 'USD',
      queue_time: '0',
      sid,
      start_time: null,
      status: 'queued',
      stir_verstat: null,
      subresource_uris: Object.fromEntries(
        ['Notifications', 'Recordings', 'Payments', 'Events', 'Siprec', 'Streams', 'Transcriptions', 'UserDefinedMessageSubscriptions', 'UserDefinedMessages']
          .map((n) => [n.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase(), `${base}/${n}.json`]),
      ),
      to,
      to_formatted: formatNumber(to),
      trunk_sid: null,
      uri: `${base}.json`,
    };
    record.sid = sid;
    record.resource = resource;
    record.statusHistory.push({ status: 'queued', at: now.toISOString(), errorCode: null });
    const requested = statusCallbackEvents(params);
    const entry: CallEntry = {
      record,
      authToken: token,
      statusCallback: one(params, 'StatusCallback') ?? null,
      callbackMethod: (one(params, 'StatusCallbackMethod') ?? 'POST').toUpperCase() === 'GET' ? 'GET' : 'POST',
      timers: new Set(),
      chain: Promise.resolve(),
      cancelled: false,
      // Twilio: with no StatusCallbackEvent, only the `completed` event is sent.
      events: new Set(requested.length > 0 ? requested : ['completed']),
      sequence: 0,
    };
    this.callRecords.push(record);
    this.callsBySid.set(sid, entry);
    if (record.idempotencyToken) this.idempotent.set(`${accountSid}:calls:${record.idempotencyToken}`, entry as Entry<unknown>);
    this.log.info({ sid, to: maskPhone(to), status: 'queued' }, 'call created');
    this.runCall(entry);
    return entry;
  }

  getCall(accountSid: string, sid: string): CallResource | null {
    const e = this.callsBySid.get(sid);
    return e && e.record.accountSid === accountSid ? e.record.resource : null;
  }

  /**
   * The account's messages or calls matching Twilio's list filters, newest first (by creation;
   * rejected requests created nothing and are not listed). Messages: To, From, DateSent (with `<`
   * / `>`); calls: To, From, Status, StartTime and EndTime (with `<` / `>`).
   */
  list(kind: 'messages' | 'calls', accountSid: string, query: Record<string, unknown>): Array<MessageResource | CallResource> | SyncFailure {
    const str = (k: string): string | undefined => {
      const v = query[k];
      const s = Array.isArray(v) ? v[0] : v;
      return typeof s === 'string' && s !== '' ? s : undefined;
    };
    const dates: Array<[string, DateFilter[]]> = [];
    for (const field of kind === 'messages' ? ['DateSent'] : ['StartTime', 'EndTime']) {
      const f = dateFilters(query, field);
      if (!Array.isArray(f)) return f;
      dates.push([field, f]);
    }
    const to = str('To');
    const from = str('From');
    const status = kind === 'calls' ? str('Status') : undefined;
    const records: ReadonlyArray<ReceivedRecord<MessageResource | CallResource>> = kind === 'messages' ? this.messageRecords : this.callRecords;
    const out: Array<MessageResource | CallResource> = [];
    for (let i = records.length - 1; i >= 0; i--) {
      const r = records[i]!.resource;
      if (!r || r.account_sid !== accountSid) continue;
      if (to !== undefined && r.to !== to) continue;
      if (from !== undefined && r.from !== from) continue;
      if (status !== undefined && r.status !== status) continue;
      const dateOf = (field: string): string | null =>
        field === 'DateSent' ? (r as MessageResource).date_sent : field === 'StartTime' ? (r as CallResource).start_time : (r as CallResource).end_time;
      if (!dates.every(([field, f]) => matchesDate(dateOf(field), f))) continue;
      out.push(r);
    }
    return out;
  }

  private callOutcome(to: string): CallFailureStatus | null {
    const f = this.opts.failure;
    const fixed = f?.recipients?.[to]?.call;
    if (fixed) return fixed;
    const rate = f?.callRate ?? 0;
    if (rate > 0 && this.random() < rate) return f?.callStatus ?? 'no-answer';
    return null;
  }

  private runCall(e: CallEntry): void {
    const r = e.record.resource;
    if (!r) return;
    const d = () => this.callbackDelay();
    const outcome = this.callOutcome(r.to);
    this.after(e, d(), () => {
      this.setCallStatus(e, 'initiated');
      if (outcome === 'failed') {
        this.after(e, d(), () => this.setCallStatus(e, 'failed'));
        return;
      }
      this.after(e, d(), () => {
        this.setCallStatus(e, 'ringing');
        if (outcome) {
          this.after(e, d(), () => this.setCallStatus(e, outcome));
          return;
        }
        this.after(e, d(), () => {
          this.setCallStatus(e, 'in-progress');
          this.after(e, d(), () => this.setCallStatus(e, 'completed'));
        });
      });
    });
  }

  private setCallStatus(e: CallEntry, status: CallStatus): void {
    const r = e.record.resource;
    if (!r) return;
    const now = new Date(this.clock());
    r.status = status;
    r.date_updated = rfc2822(now);
    const terminal = status === 'completed' || status === 'busy' || status === 'no-answer' || status === 'failed' || status === 'canceled';
    let callDuration = 0;
    if (status === 'in-progress') r.start_time = rfc2822(now);
    if (terminal) {
      callDuration = status === 'completed' ? (this.opts.callDurationSec ?? 7) : 0;
      const start = r.start_time ? new Date(r.start_time) : now;
      r.duration = String(callDuration);
      r.start_time ??= rfc2822(now);
      r.end_time = rfc2822(new Date(start.getTime() + callDuration * 1000));
      r.price = status === 'completed' ? (-0.014 * Math.max(1, Math.ceil(callDuration / 60))).toFixed(5) : null;
    }
    e.record.statusHistory.push({ status, at: now.toISOString(), errorCode: null });
    this.log.info({ sid: r.sid, to: maskPhone(r.to), status }, 'call status');
    const event = terminal ? 'completed' : status === 'in-progress' ? 'answered' : status;
    if (!e.statusCallback || !e.events.has(event)) return;
    const params: Record<string, string> = {
      AccountSid: r.account_sid,
      ApiVersion: API_VERSION,
      CallSid: r.sid,
      CallStatus: status,
      Called: r.to,
      Caller: r.from,
      Direction: r.direction,
      From: r.from,
      To: r.to,
      CallbackSource: 'call-progress-events',
      SequenceNumber: String(e.sequence++),
      Timestamp: rfc2822(now),
    };
    if (terminal) {
      params.CallDuration = String(callDuration);
      params.Duration = String(Math.ceil(callDuration / 60));
      const sip = SIP_CODE[status];
      if (sip) params.SipResponseCode = sip;
    }
    this.enqueueCallback(e, status, params);
  }

  // --- callbacks -----------------------------------------------------------------------------

  private enqueueCallback(e: Entry<unknown>, status: string, params: Record<string, string>): void {
    const url = e.statusCallback;
    if (!url) return;
    e.chain = e.chain.then(() => this.postCallback(e, status, url, params)).catch(() => undefined);
  }

  private async postCallback(e: Entry<unknown>, status: string, rawUrl: string, params: Record<string, string>): Promise<void> {
    if (this.disposed || e.cancelled) return;
    // Fragments carry Twilio connection overrides (#ct=…&rc=…); they are never sent or signed.
    const url = rawUrl.split('#')[0] ?? rawUrl;
    const method = e.callbackMethod;
    let target = url;
    let body: string | undefined;
    let signature: string;
    if (method === 'GET') {
      target = url + (url.includes('?') ? '&' : '?') + new URLSearchParams(params).toString();
      signature = twilio.getExpectedTwilioSignature(e.authToken, target, {});
    } else {
      body = new URLSearchParams(params).toString();
      signature = twilio.getExpectedTwilioSignature(e.authToken, url, params);
    }
    const idem = randomUUID();
    const attempt: CallbackAttempt = {
      status,
      url,
      method,
      params,
      idempotencyToken: idem,
      at: new Date(this.clock()).toISOString(),
      responseStatus: null,
      error: null,
    };
    e.record.callbacks.push(attempt);
    try {
      const status = await this.post(target, method, body, {
        'Content-Type': 'application/x-www-form-urlencoded',
        'User-Agent': 'TwilioProxy/1.1',
        'X-Twilio-Signature': signature,
        'I-Twilio-Idempotency-Token': idem,
      });
      attempt.responseStatus = status;
      if (status >= 400) this.log.warn({ sid: e.record.sid, status, responseStatus: status }, 'status callback answered an error');
    } catch (err) {
      attempt.error = (err as Error).message;
      this.log.warn({ sid: e.record.sid, status, error: attempt.error }, 'status callback failed');
    }
  }

  /**
   * One callback request over kept-alive connections (node:http with an Agent: at dispatch rates
   * the emulator sends two callbacks per message, and fetch's per-request cost — streams, abort
   * signals — was most of its CPU). Redirects are not followed. Resolves with the status code.
   */
  private post(target: string, method: string, body: string | undefined, headers: Record<string, string>): Promise<number> {
    const u = new URL(target);
    const client = u.protocol === 'https:' ? https : http;
    const agent = u.protocol === 'https:' ? this.httpsAgent : this.httpAgent;
    return new Promise((resolve, reject) => {
      const req = client.request(
        u,
        { method, agent, headers: body === undefined ? headers : { ...headers, 'Content-Length': Buffer.byteLength(body) }, timeout: this.opts.callbackTimeoutMs ?? 15_000 },
        (res) => {
          res.resume();
          res.once('end', () => resolve(res.statusCode ?? 0));
          res.once('error', reject);
        },
      );
      req.once('timeout', () => req.destroy(new Error('status callback timed out')));
      req.once('error', reject);
      req.end(body);
    });
  }
}

function routeParam(req: Request, name: string): string {
  const v: unknown = (req.params as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : '';
}

function idempotencyToken(req: Request): string | null {
  for (const h of IDEMPOTENCY_HEADERS) {
    const v = req.get(h);
    if (v) return v;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// HTTP surface
// ---------------------------------------------------------------------------------------------

/**
 * The emulator as an Express router. Twilio's API lives at `/2010-04-01/...` relative to wherever
 * it is mounted, so `TWILIO_API_BASE=http://host:port/_emulator` works with
 * `app.use('/_emulator', createEmulatorRouter(opts))`. Inspection/control endpoints, relative too:
 * `GET|DELETE /messages`, `GET|DELETE /calls`, `POST|DELETE /faults`, `DELETE /` (everything).
 */
export function createEmulatorRouter(opts: EmulatorOptions): EmulatorRouter {
  const emu = new Emulator(opts);
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '1mb', parameterLimit: 10_000 });

  // --- control endpoints (no auth: local/test use only) ---
  router.get('/messages', (_req, res) => {
    res.json(emu.messages());
  });
  router.delete('/messages', (_req, res) => {
    emu.resetMessages();
    res.status(204).end();
  });
  router.get('/calls', (_req, res) => {
    res.json(emu.calls());
  });
  router.delete('/calls', (_req, res) => {
    emu.resetCalls();
    res.status(204).end();
  });
  router.post('/faults', express.json(), form, (req, res) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const status = Number(b.status);
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      res.status(400).json({ error: 'status must be an HTTP error status (400-599)' });
      return;
    }
    const fault: HttpFault = { status };
    if (b.code !== undefined) fault.code = Number(b.code);
    if (typeof b.message === 'string') fault.message = b.message;
    if (b.times !== undefined) fault.times = Number(b.times);
    if (b.resource === 'messages' || b.resource === 'calls' || b.resource === 'any') fault.resource = b.resource;
    if (b.afterCreate === true || b.afterCreate === 'true') fault.afterCreate = true;
    emu.addFault(fault);
    res.status(201).json(fault);
  });
  router.delete('/faults', (_req, res) => {
    emu.clearFaults();
    res.status(204).end();
  });

  // --- Twilio REST API ---
  const api = express.Router();
  api.use(form);
  api.use((req: Request, res: Response, next: NextFunction) => {
    const auth = emu.authenticate(req);
    if (!auth) {
      sendError(res, 401, 20003);
      return;
    }
    res.locals.auth = auth;
    res.set('Twilio-Request-Id', newSid('RQ'));
    next();
  });

  /** Twilio answers another account's resources as not found. */
  const ownAccount = (req: Request, res: Response): string | null => {
    const auth = res.locals.auth as { sid: string };
    const sid = routeParam(req, 'accountSid');
    if (sid !== auth.sid) {
      sendError(res, 404, 20404, `The requested resource /${API_VERSION}${req.path} was not found`);
      return null;
    }
    return sid;
  };

  const create = (kind: 'messages' | 'calls') => async (req: Request, res: Response) => {
    const accountSid = ownAccount(req, res);
    if (!accountSid) return;
    const token = (res.locals.auth as { token: string }).token;
    const params = asParams(req.body);
    const single = kind === 'messages' ? 'message' : 'call';
    const record = emu.newRecord<never>(single, req, accountSid, params);

    const replayed = emu.replay(kind, accountSid, record.idempotencyToken);
    if (replayed) {
      await emu.latency();
      res.set('Idempotent-Replayed', 'true').status(201).json(replayed.record.resource);
      return;
    }

    const fault = emu.takeFault(kind);
    const faultError = fault ? { status: fault.status, code: fault.code ?? 20000 + fault.status, message: fault.message } : null;
    if (faultError && !fault?.afterCreate) {
      await emu.latency();
      emu.reject(single, record, res, faultError);
      return;
    }
    const invalid = kind === 'messages' ? emu.validateMessage(params) : emu.validateCall(params);
    if (invalid) {
      await emu.latency();
      emu.reject(single, record, res, invalid);
      return;
    }
    record.response = faultError ? { status: faultError.status, code: faultError.code } : { status: 201, code: null };
    const entry = kind === 'messages' ? emu.createMessage(record, token) : emu.createCall(record, token);
    await emu.latency();
    if (faultError) {
      sendError(res, faultError.status, faultError.code, faultError.message);
      return;
    }
    res.status(201).json(entry.record.resource);
  };

  const fetchOne = (kind: 'messages' | 'calls') => async (req: Request, res: Response) => {
    const accountSid = ownAccount(req, res);
    if (!accountSid) return;
    const sid = routeParam(req, 'sid');
    const resource = kind === 'messages' ? emu.getMessage(accountSid, sid) : emu.getCall(accountSid, sid);
    await emu.latency();
    if (!resource) {
      sendError(res, 404, 20404, `The requested resource /${API_VERSION}${req.path} was not found`);
      return;
    }
    res.json(resource);
  };

  /** GET Messages.json / Calls.json: Twilio's list, its filters and its paging (PageSize, Page, PageToken; next_page_uri). */
  const list = (kind: 'messages' | 'calls') => async (req: Request, res: Response) => {
    const accountSid = ownAccount(req, res);
    if (!accountSid) return;
    const query = req.query as Record<string, unknown>;
    const found = emu.list(kind, accountSid, query);
    await emu.latency();
    if (!Array.isArray(found)) {
      sendError(res, found.status, found.code, found.message);
      return;
    }
    const q = (k: string): string | undefined => (typeof query[k] === 'string' ? (query[k] as string) : undefined);
    const pageSize = Math.min(PAGE_SIZE_MAX, Math.max(1, Number(q('PageSize') ?? PAGE_SIZE_DEFAULT) || PAGE_SIZE_DEFAULT));
    const page = Math.max(0, Math.trunc(Number(q('Page') ?? 0)) || 0);
    // PageToken `PA<sid>`: the page starts after that resource (stable while newer ones arrive); else by Page.
    const token = q('PageToken');
    const after = token?.startsWith('PA') ? found.findIndex((r) => r.sid === token.slice(2)) : -1;
    const start = after >= 0 ? after + 1 : page * pageSize;
    const items = found.slice(start, start + pageSize);
    const base = `/${API_VERSION}/Accounts/${accountSid}/${kind === 'messages' ? 'Messages' : 'Calls'}.json`;
    const filters = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (!['PageSize', 'Page', 'PageToken'].includes(k) && typeof v === 'string') filters.set(k, v);
    const uri = (p: number, extra = '') => `${base}?${filters.toString()}${filters.size ? '&' : ''}PageSize=${pageSize}&Page=${p}${extra}`;
    const more = start + pageSize < found.length && items.length > 0;
    res.json({
      [kind]: items,
      end: start + items.length - 1,
      first_page_uri: uri(0),
      next_page_uri: more ? uri(page + 1, `&PageToken=PA${items[items.length - 1]!.sid}`) : null,
      page,
      page_size: pageSize,
      previous_page_uri: page > 0 ? uri(page - 1) : null,
      start,
      uri: uri(page, token ? `&PageToken=${encodeURIComponent(token)}` : ''),
    });
  };

  api.get('/Accounts/:accountSid/Messages.json', list('messages'));
  api.get('/Accounts/:accountSid/Calls.json', list('calls'));
  api.post('/Accounts/:accountSid/Messages.json', create('messages'));
  api.get('/Accounts/:accountSid/Messages/:sid.json', fetchOne('messages'));
  api.post('/Accounts/:accountSid/Calls.json', create('calls'));
  api.get('/Accounts/:accountSid/Calls/:sid.json', fetchOne('calls'));
  api.use((req: Request, res: Response) => {
    sendError(res, 404, 20404, `The requested resource /${API_VERSION}${req.path} was not found`);
  });
  api.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const status = (err as { status?: number }).status;
    if (status === 400 || status === 413 || status === 415) {
      sendError(res, status, 20001, 'Bad request');
      return;
    }
    emu.warn({ error: (err as Error).message }, 'emulator error');
    sendError(res, 500, 20500);
  });
  router.use(`/${API_VERSION}`, api);

  router.delete('/', (_req, res) => {
    emu.reset();
    res.status(204).end();
  });

  return Object.assign(router, { emulator: emu as EmulatorControl });
}

/**
 * A standalone emulator app: the Twilio API at `/2010-04-01/...` and also under `/_emulator/...`,
 * inspection at `/_emulator/messages` and `/_emulator/calls`.
 */
export function createEmulatorApp(opts: EmulatorOptions): EmulatorApp {
  const app = express();
  app.disable('x-powered-by');
  const router = createEmulatorRouter(opts);
  app.use('/_emulator', router);
  app.use(router);
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  return Object.assign(app, { emulator: router.emulator });
}
