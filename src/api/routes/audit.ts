/** /v1/audit: the decision log and its verification. */
import { z } from 'zod';
import { ListAuditQuery, type AuditQueries } from '../../app/audit-queries.ts';
import type { AuditLog } from '../../adapters/audit/audit-log.ts';
import { defineRoute, type RouteSpec } from '../route.ts';

const AuditEntrySchema = z.object({
  seq: z.number().int(),
  at: z.string(),
  action: z.string(),
  timerId: z.string().nullable(),
  contactId: z.string().nullable(),
  journeyId: z.string().nullable(),
  campaignId: z.string().nullable(),
  decision: z.string().nullable(),
  reasonCodes: z.array(z.string()),
  data: z.unknown(),
  prevHash: z.string(),
  hash: z.string(),
});
const VerifySchema = z.object({ ok: z.boolean(), count: z.number().int() }).loose();

export function auditRoutes(audit: AuditQueries, log: AuditLog): RouteSpec[] {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/audit',
      tag: 'Audit',
      summary: 'Audit entries in chain order',
      roles: ['admin', 'auditor'],
      query: ListAuditQuery,
      response: { status: 200, description: 'A page of entries', schema: z.object({ items: z.array(AuditEntrySchema), nextCursor: z.string().nullable() }) },
      handler: ({ query, auth }) => audit.list(auth.orgId, query),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/audit/verify',
      tag: 'Audit',
      summary: "Verify the org's hash chain",
      roles: ['admin', 'auditor'],
      response: { status: 200, description: '`ok` and the entry count, or where the chain breaks', schema: VerifySchema },
      handler: ({ auth }) => log.verify(auth.orgId),
    }),
  ];
}
