/** /v1/journeys: start, read, extend, end. */
import { z } from 'zod';
import { CreateJourneyBody, EndJourneyBody, ExtendJourneyBody, JourneyService, JourneyViewSchema, JourneyWithTimersSchema } from '../../app/journeys.ts';
import type { EngineContext } from '../../app/timers/context.ts';
import { defineRoute, type RouteSpec } from '../route.ts';
import { idParams } from '../validate.ts';

export function journeyRoutes(ctx: EngineContext): RouteSpec[] {
  const journeys = new JourneyService(ctx);
  return [
    defineRoute({
      method: 'post',
      path: '/v1/journeys',
      tag: 'Journeys',
      summary: 'Start a journey for a contact',
      description: 'A journey bounds its timers: none is sent after it ends or expires. Expiry happens on time without any API call (the reconciler cancels its pending timers).',
      roles: ['admin', 'ops', 'journey'],
      body: CreateJourneyBody,
      response: { status: 201, description: 'The journey', schema: JourneyViewSchema },
      errors: [404, 409, 422],
      example: { contact: { phone: '+12125550123', zip: '10001' }, ttl: 604800 },
      handler: ({ body, auth }) => journeys.create(auth.orgId, body),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/journeys/:id',
      tag: 'Journeys',
      summary: 'A journey and its timers (ids and statuses)',
      roles: ['admin', 'ops', 'journey', 'auditor'],
      params: idParams,
      response: { status: 200, description: 'The journey with its timers', schema: JourneyWithTimersSchema },
      errors: [404],
      handler: ({ params, auth }) => journeys.get(auth.orgId, params.id),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/journeys/:id/extend',
      tag: 'Journeys',
      summary: 'Move the expiry of an active journey',
      description: 'Exactly one of `by` (seconds added) or `until` (the new expiry; never now or earlier). Audited `journey.extended`.',
      roles: ['admin', 'ops', 'journey'],
      params: idParams,
      body: ExtendJourneyBody,
      response: { status: 200, description: 'The journey', schema: JourneyViewSchema },
      errors: [404, 409],
      example: { by: 86400 },
      handler: ({ params, body, auth }) => journeys.extend(auth.orgId, params.id, body),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/journeys/:id/end',
      tag: 'Journeys',
      summary: 'End a journey and cancel its pending timers',
      description: 'Pending (scheduled/queued) timers are cancelled in the same transaction (JOURNEY_ENDED), each audited. Ending an ended journey answers it again; an expired one is a 409.',
      roles: ['admin', 'ops', 'journey'],
      params: idParams,
      body: EndJourneyBody.optional(),
      response: { status: 200, description: 'The ended journey and how many timers were cancelled', schema: JourneyViewSchema.extend({ cancelledTimers: z.number().int() }) },
      errors: [404, 409],
      example: { reason: 'customer converted' },
      handler: ({ params, body, auth }) => journeys.end(auth.orgId, params.id, body ?? {}),
    }),
  ];
}
