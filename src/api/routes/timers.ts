/** /v1/timers: create, read, list, cancel. */
import { z } from 'zod';
import { CreateTimerBody, ListTimersQuery, TimerViewSchema } from '../../app/timers/schemas.ts';
import type { TimerService } from '../../app/timers/timer-service.ts';
import { AppError } from '../../domain/errors.ts';
import { defineRoute, Reply, type RouteSpec } from '../route.ts';
import { idParams } from '../validate.ts';

const IdempotencyKeyHeader = z.string().min(1).max(255).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');

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
