/** /v1/kill-switches: an admin closes states and/or zips to every send for a period. */
import { z } from 'zod';
import { CreateKillSwitchBody, KillSwitchAffectedSchema, KillSwitchService, KillSwitchViewSchema, ListKillSwitchesQuery } from '../../app/kill-switches.ts';
import type { EngineContext } from '../../app/timers/context.ts';
import { defineRoute, type RouteSpec } from '../route.ts';
import { idParams } from '../validate.ts';

export function killSwitchRoutes(ctx: EngineContext): RouteSpec[] {
  const switches = new KillSwitchService(ctx);
  return [
    defineRoute({
      method: 'post',
      path: '/v1/kill-switches',
      tag: 'Kill switches',
      summary: 'Stop every send to jurisdictions and/or zips in [from, to)',
      description:
        'Pending timers the switch covers whose sendAt falls in the period are judged again at once under their own policy (next_slot → after the period, previous_slot → before it or cancelled, cancel → cancelled; reason BLACKOUT, each audited). New timers and fire-time checks obey it while it is live. `jurisdictions: ["US"]` covers every contact.',
      roles: ['admin'],
      body: CreateKillSwitchBody,
      response: { status: 201, description: 'The switch and what it did to pending timers', schema: KillSwitchViewSchema.extend({ affected: KillSwitchAffectedSchema }) },
      example: { jurisdictions: ['LA'], from: '2027-08-29T12:00:00Z', to: '2027-09-01T00:00:00Z', reason: 'Hurricane emergency declaration (LA)' },
      handler: ({ body, auth }) => switches.create(auth.orgId, body),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/kill-switches',
      tag: 'Kill switches',
      summary: "The org's kill switches (newest first)",
      roles: ['admin'],
      query: ListKillSwitchesQuery,
      response: { status: 200, description: 'Switches', schema: z.object({ items: z.array(KillSwitchViewSchema) }) },
      handler: ({ query, auth }) => switches.list(auth.orgId, query),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/kill-switches/:id',
      tag: 'Kill switches',
      summary: 'Lift a kill switch (audited)',
      description: 'New timers schedule normally again; timers the switch already moved or cancelled stay as they are.',
      roles: ['admin'],
      params: idParams,
      response: { status: 200, description: 'The lifted switch', schema: KillSwitchViewSchema },
      errors: [404],
      handler: ({ params, auth }) => switches.lift(auth.orgId, params.id),
    }),
  ];
}
