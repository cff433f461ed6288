/**
 * The `check` use case: validate one request, place the contact, decide, and present the
 * decision as JSON. Shared by `tcpa check`, `tcpa plan` and the API so they cannot drift.
 */
import { z } from 'zod';
import type { CalendarSet } from '../domain/calendar/compile.ts';
import { ChannelSchema, PurposeSchema, type Channel, type Purpose } from '../domain/calendar/schema.ts';
import { decide, POLICIES, type Decision, type DecideInput, type Policy, type Reason, type UnresolvedOption } from '../domain/decide.ts';
import { AppError, type ErrorCode } from '../domain/errors.ts';
import { INPUT_ERROR_CODES, resolveLocation, type Location } from '../domain/location/resolve.ts';
import { formatLocal, formatUtc, parseInstant } from '../domain/time.ts';

export interface CheckRequest {
  zip?: string;
  phone?: string;
  channel: Channel;
  purpose: Purpose;
  policy: Policy;
  at: number;
  now: number;
  notAfter?: number;
  unresolved: UnresolvedOption;
  subject?: string;
}

export interface DecisionView {
  decision: Decision['decision'];
  sendAt: string | null;
  localSendAt: string | null;
  state: string | null;
  timezones: readonly string[];
  reasons: readonly Reason[];
  calendarVersion: string;
}

/** Raw fields as they come from flags, a CSV row or a JSON line (strings, mostly). */
export const RawCheckSchema = z.object({
  zip: z.union([z.string(), z.number()]).optional(),
  phone: z.union([z.string(), z.number()]).optional(),
  channel: z.string().optional(),
  purpose: z.string().optional(),
  policy: z.string().optional(),
  at: z.string().optional(),
  now: z.string().optional(),
  notAfter: z.string().optional(),
  unresolved: z.string().optional(),
  subject: z.string().optional(),
});
export type RawCheck = z.infer<typeof RawCheckSchema>;

/** Per field, the last instant text parsed and its value: bulk callers repeat the same `now` on every row. */
const lastParsed = new Map<string, { text: string; t: number | undefined }>();

function instant(value: string | undefined, field: string, required: boolean): number | undefined {
  if (value === undefined || value === '') {
    if (required) throw new AppError('INVALID_INSTANT', `${field} is required (ISO-8601 with Z or an offset)`);
    return undefined;
  }
  let last = lastParsed.get(field);
  if (last === undefined) {
    last = { text: value, t: parseInstant(value) };
    lastParsed.set(field, last);
  } else if (last.text !== value) {
    last.text = value;
    last.t = parseInstant(value);
  }
  const t = last.t;
  if (t === undefined) throw new AppError('INVALID_INSTANT', `${field} "${value}" is not an ISO-8601 instant with Z or an offset`);
  return t;
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], fallback: T | undefined, code: ErrorCode, field: string): T {
  const v = value === undefined || value === '' ? fallback : value;
  if (v === undefined) throw new AppError(code, `${field} is required (${allowed.join('|')})`);
  if (!(allowed as readonly string[]).includes(v)) throw new AppError(code, `${field} "${v}" is not one of ${allowed.join('|')}`);
  return v as T;
}

/** Validate raw fields into a request; throws AppError with a stable code. `clockNow` is the caller's clock. */
export function parseCheckRequest(raw: RawCheck, clockNow: number): CheckRequest {
  const zip = raw.zip === undefined || raw.zip === '' ? undefined : String(raw.zip).padStart(typeof raw.zip === 'number' ? 5 : 0, '0');
  const phone = raw.phone === undefined || raw.phone === '' ? undefined : String(raw.phone);
  if (zip === undefined && phone === undefined) throw new AppError('INVALID_ZIP', 'a zip (or a phone number) is required');
  return {
    zip,
    phone,
    channel: oneOf(raw.channel, ChannelSchema.options, undefined, 'INVALID_CHANNEL', 'channel'),
    purpose: oneOf(raw.purpose, PurposeSchema.options, 'marketing', 'INVALID_PURPOSE', 'purpose'),
    policy: oneOf(raw.policy, POLICIES, 'next_slot', 'INVALID_POLICY', 'policy'),
    unresolved: oneOf(raw.unresolved, ['cancel', 'strictest'] as const, 'cancel', 'INVALID_ARGUMENT', 'unresolved'),
    at: instant(raw.at, 'at', true)!,
    now: instant(raw.now, 'now', false) ?? clockNow,
    notAfter: instant(raw.notAfter, 'notAfter', false),
    subject: raw.subject,
  };
}

/**
 * Place the contact. Malformed input throws; an unknown zip throws too unless the caller asked
 * for the `strictest` fallback (then it is decided like any unresolved contact).
 */
export function locate(req: { zip?: string; phone?: string; unresolved: UnresolvedOption }): Location {
  const location = resolveLocation({ zip: req.zip, phone: req.phone });
  for (const issue of location.issues) {
    if (INPUT_ERROR_CODES.has(issue.code)) throw new AppError(issue.code as ErrorCode, issue.message);
    if (issue.code === 'UNKNOWN_ZIP' && req.unresolved !== 'strictest') throw new AppError('UNKNOWN_ZIP', issue.message);
  }
  return location;
}

export function present(decision: Decision, location: Location): DecisionView {
  const zone = decision.candidates.find((c) => c.source === 'zip')?.zone ?? decision.candidates[0]?.zone;
  return {
    decision: decision.decision,
    sendAt: decision.sendAt === null ? null : formatUtc(decision.sendAt),
    localSendAt: decision.sendAt === null || !zone ? null : formatLocal(decision.sendAt, zone),
    state: location.state ?? null,
    timezones: location.resolved ? location.zones : [...new Set(decision.candidates.map((c) => c.zone))].sort(),
    reasons: decision.reasons,
    calendarVersion: decision.calendarVersion,
  };
}

export function evaluate(set: CalendarSet, req: CheckRequest, extra: Partial<DecideInput> = {}): DecisionView {
  const location = locate(req);
  const decision = decide(set, {
    location,
    channel: req.channel,
    purpose: req.purpose,
    policy: req.policy,
    at: req.at,
    now: req.now,
    notAfter: req.notAfter,
    unresolved: req.unresolved,
    subject: req.subject,
    ...extra,
  });
  return present(decision, location);
}
