/** /v1/suppressions: add (one number or a do-not-call list), list, lift. */
import { z } from 'zod';
import type { EngineContext } from '../../app/timers/context.ts';
import {
  deleteSuppression,
  ImportResultSchema,
  importSuppressions,
  listSuppressions,
  ListSuppressionsQuery,
  SuppressionImportBody,
  SuppressionViewSchema,
} from '../../app/suppressions.ts';
import { defineRoute, type RouteSpec } from '../route.ts';
import { idParams } from '../validate.ts';

const SuppressionPage = z.object({ items: z.array(SuppressionViewSchema), nextCursor: z.string().nullable() });

export function suppressionRoutes(ctx: EngineContext): RouteSpec[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/suppressions',
      tag: 'Suppressions',
      summary: 'Suppress a number, or import a do-not-call list (up to 10,000 entries)',
      bodyLimit: '2mb',
      description:
        'Adds each number to the org\'s suppression list and, in the same transaction, moves every pending timer of that number to `suppressed` (only the entry\'s channel when `channel` is set). Bad entries are reported with their index; the good ones are applied. An entry already live with the same source and channel is left as it is. Large lists may need a larger BODY_LIMIT.',
      roles: ['admin', 'ops'],
      body: SuppressionImportBody,
      response: { status: 201, description: 'What was applied, and the entries that were not (by index)', schema: ImportResultSchema },
      errors: [413],
      example: { entries: [{ phone: '+12125550123', reason: 'internal do-not-call list' }, { phone: '+13055550199', reason: 'asked by phone', channel: 'voice', expiresAt: '2027-06-01T00:00:00Z' }] },
      handler: ({ body, auth }) => importSuppressions(ctx, auth.orgId, body),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/suppressions',
      tag: 'Suppressions',
      summary: 'List suppressions (newest first)',
      description: 'Role auditor sees numbers masked to their last 4 digits.',
      roles: ['admin', 'ops', 'auditor'],
      query: ListSuppressionsQuery,
      response: { status: 200, description: 'A page of suppressions', schema: SuppressionPage },
      handler: ({ query, auth }) => listSuppressions(ctx, auth.orgId, query, auth.role !== 'auditor'),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/suppressions/:id',
      tag: 'Suppressions',
      summary: 'Lift a suppression (audited)',
      description: 'New timers may reach the number again; timers already suppressed stay suppressed.',
      roles: ['admin', 'ops'],
      params: idParams,
      response: { status: 200, description: 'The lifted entry', schema: SuppressionViewSchema },
      errors: [404],
      handler: ({ params, auth }) => deleteSuppression(ctx, auth.orgId, params.id),
    }),
  ];
}
