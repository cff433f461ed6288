/** /v1/timers: create, read, list, cancel. */
import { z } from 'zod';
import { CreateTimerBody, CreateTimersBatchBody, CreateTimersBatchDoc, CreateTimersBatchResult, IdempotencyKey, ListTimersQuery, MAX_BATCH_TIMERS, TimerViewSchema, type CreateTimerInput } from '../../app/timers/schemas.ts';
import type { TimerService } from '../../app/timers/timer-service.ts';
import { AppError } from '../../domain/errors.ts';
import { httpStatusOf, issueDetails } from '../errors.ts';
import { defineRoute, Reply, type RouteSpec } from '../route.ts';
import { idParams } from '../validate.ts';

const IdempotencyKeyHeader = IdempotencyKey;

type BatchItemAnswer = z.infer<typeof CreateTimersBatchResult>['results'][number];

function itemError(index: number, err: AppError): BatchItemAnswer {
  return { index, status: httpStatusOf(err.code), error: err.toJSON() };
}

/** A batch item validated on its own: its timer body and its key, or its error (INVALID_ARGUMENT, paths under body.items[i]). */
function parseItem(raw: unknown, index: number): { input: CreateTimerInput; idempotencyKey?: string; path: string } | AppError {
  const path = `body.items[${index}]`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return new AppError('INVALID_ARGUMENT', `${path} must be an object`, [{ path, message: 'expected an object' }]);
  const { idempotencyKey, ...timer } = raw as Record<string, unknown>;
  const key = idempotencyKey === undefined ? undefined : IdempotencyKey.safeParse(idempotencyKey);
  const body = CreateTimerBody.safeParse(timer);
  const details = [...(key && !key.success ? issueDetails(key.error.issues, `${path}.idempotencyKey`) : []), ...(body.success ? [] : issueDetails(body.error.issues, path))];
  if (details.length > 0 || !body.success) return new AppError('INVALID_ARGUMENT', `invalid item ${index}: ${details[0]?.path}: ${details[0]?.message}`, details);
  return { input: body.data, ...(key?.success ? { idempotencyKey: key.data } : {}), path };
}

const TimerEventSchema = z.object({ seq: z.number().int(), action: z.string(), decision: z.string().nullable(), reasonCodes: z.array(z.string()), at: z.string(), data: z.unknown() });
const TimerWithEvents = TimerViewSchema.extend({ events: z.array(TimerEventSchema) });
const TimerPage = z.object({ items: z.array(TimerViewSchema), nextCursor: z.string().nullable() });

export function timerRoutes(timers: TimerService): RouteSpec[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/timers',
      tag: 'Timers',
      summary: 'Schedule an SMS or voice timer',
      description:
        'Places the contact (zip and area code), judges the requested instant against the calendars and applies the policy: `cancel`, `next_slot` or `previous_slot`. The timer is judged again when it fires.',
      roles: ['admin', 'ops', 'journey'],
      body: CreateTimerBody,
      headers: { 'Idempotency-Key': { description: 'Same key + same body replays the first answer; same key + another body → 422' } },
      response: { status: 201, description: 'The timer as scheduled (or cancelled / suppressed, with reasons)', schema: TimerViewSchema },
      errors: [404, 409, 413, 422],
      example: {
        contact: { phone: '+12125550123', zip: '10001' },
        channel: 'sms',
        at: '2026-12-08T17:00:00Z',
        policy: 'next_slot',
        purpose: 'informational',
        message: { body: 'Your appointment is tomorrow at 10:00' },
      },
      handler: async ({ body, auth, req }) => {
        const header = req.get('idempotency-key');
        const key = header === undefined ? undefined : IdempotencyKeyHeader.safeParse(header);
        if (key && !key.success) {
          throw new AppError('INVALID_ARGUMENT', 'Idempotency-Key must be 1-255 printable ASCII characters', [{ path: 'headers.idempotency-key', message: key.error.issues[0]?.message ?? 'invalid' }]);
        }
        const result = await timers.create(auth.orgId, body, key?.data);
        return new Reply(result.status, result.body, result.replayed ? { 'Idempotent-Replayed': 'true' } : {});
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/timers/batch',
      tag: 'Timers',
      summary: `Schedule up to ${MAX_BATCH_TIMERS} timers in one request`,
      description:
        'Each item is a `POST /v1/timers` body with its own optional `idempotencyKey`, and is validated, judged and answered on its own: `results[i]` is 201 with the timer, 200 with the replayed answer of its key, or the status and error that item would get from `POST /v1/timers` (a bad item never fails the others). Items naming the same contact or key are handled in request order. The answer is 200 whenever the request itself is well formed.',
      roles: ['admin', 'ops', 'journey'],
      body: CreateTimersBatchBody,
      bodyDoc: CreateTimersBatchDoc,
      bodyLimit: '4mb',
      response: { status: 200, description: 'One result per item, in order, and the counts', schema: CreateTimersBatchResult },
      errors: [413],
      example: {
        items: [
          { contact: { phone: '+12125550123', zip: '10001' }, channel: 'sms', at: '2026-12-08T17:00:00Z', policy: 'next_slot', purpose: 'informational', message: { body: 'Your appointment is tomorrow at 10:00' }, idempotencyKey: 'appt-4711' },
          { contact: { phone: '+13055550188', zip: '33130' }, channel: 'voice', at: '2026-12-08T18:30:00Z', policy: 'cancel', purpose: 'informational', voice: { twimlUrl: 'https://example.com/reminder.xml' } },
        ],
      },
      handler: async ({ body, auth }) => {
        const parsed = body.items.map((raw, i) => parseItem(raw, i));
        const valid = parsed.flatMap((p, i) => (p instanceof AppError ? [] : [{ i, item: p }]));
        const answers = await timers.createBatch(auth.orgId, valid.map((v) => v.item));
        const results: BatchItemAnswer[] = parsed.map((p, i) => (p instanceof AppError ? itemError(i, p) : { index: i, status: 0 }));
        valid.forEach((v, n) => {
          const a = answers[n]!;
          if ('ok' in a) results[v.i] = { index: v.i, status: a.ok.replayed ? 200 : a.ok.status, timer: a.ok.body, ...(a.ok.replayed ? { replayed: true } : {}) };
          else if ('error' in a && a.error instanceof AppError) results[v.i] = itemError(v.i, a.error);
          else throw 'error' in a ? a.error : new Error(`batch item ${v.i} was not answered`);
        });
        const count = (f: (r: BatchItemAnswer) => boolean) => results.filter(f).length;
        return { results, created: count((r) => r.status === 201), replayed: count((r) => r.replayed === true), failed: count((r) => r.error !== undefined) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/timers',
      tag: 'Timers',
      summary: 'List timers (newest first)',
      roles: ['admin', 'ops', 'journey', 'auditor'],
      query: ListTimersQuery,
      response: { status: 200, description: 'A page of timers', schema: TimerPage },
      handler: ({ query, auth }) => timers.list(auth.orgId, query),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/timers/:id',
      tag: 'Timers',
      summary: 'A timer and its events',
      roles: ['admin', 'ops', 'journey', 'auditor'],
      params: idParams,
      response: { status: 200, description: 'The timer with its audit events in order', schema: TimerWithEvents },
      errors: [404],
      handler: ({ params, auth }) => timers.get(auth.orgId, params.id),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/timers/:id',
      tag: 'Timers',
      summary: 'Cancel a pending timer',
      roles: ['admin', 'ops', 'journey'],
      params: idParams,
      response: { status: 200, description: 'The cancelled timer', schema: TimerViewSchema },
      errors: [404, 409],
      handler: ({ params, auth }) => timers.cancel(auth.orgId, params.id),
    }),
  ];
}
