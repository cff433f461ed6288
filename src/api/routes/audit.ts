/** /v1/audit: the decision log (filtered list, streamed export) and its verification. */
import { z } from 'zod';
import { ExportAuditQuery, ListAuditQuery, type AuditQueries } from '../../app/audit-queries.ts';
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
      description:
        'Filters combine with AND: `phone` is looked up by its hash among the org\'s contacts; `reasonCode` takes one or more codes (comma-separated, all required); `jurisdiction` matches decisions that judged that state among their candidates; `from`/`to` bound the entry time. Auditors see every phone number in the data masked to its last four digits.',
      roles: ['admin', 'auditor'],
      query: ListAuditQuery,
      response: { status: 200, description: 'A page of entries', schema: z.object({ items: z.array(AuditEntrySchema), nextCursor: z.string().nullable() }) },
      handler: ({ query, auth }) => audit.list(auth.orgId, query, { maskPhones: auth.role === 'auditor' }),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/audit/export',
      tag: 'Audit',
      summary: 'Export the audit log (CSV or JSON lines), streamed',
      description:
        'Same filters as `GET /v1/audit`, every matching entry in chain order, streamed in constant memory (`Content-Disposition: attachment`). CSV columns: ' +
        'seq, at, action, timer_id, contact_id, journey_id, campaign_id, decision, reason_codes (`|`-separated), data (JSON), prev_hash, hash. JSON lines: one `GET /v1/audit` item per line.',
      roles: ['admin', 'auditor'],
      query: ExportAuditQuery,
      response: { status: 200, description: '`text/csv` or `application/x-ndjson`, as an attachment' },
      handler: async ({ query, auth, res }) => {
        const csv = query.format === 'csv';
        const stamp = new Date().toISOString().replace(/[-:]/g, '').slice(0, 15);
        res.status(200);
        res.setHeader('Content-Type', csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
        res.setHeader('Content-Disposition', `attachment; filename="audit-${stamp}.${csv ? 'csv' : 'jsonl'}"`);
        res.setHeader('Cache-Control', 'no-store');
        res.setHeader('X-Content-Type-Options', 'nosniff');
        try {
          const { aborted } = await audit.export(auth.orgId, query, res, { maskPhones: auth.role === 'auditor' });
          if (!aborted) res.end();
        } catch (err) {
          // Once the first bytes are out, an error can only cut the download short: never a silently truncated file.
          if (res.headersSent) {
            res.destroy(err as Error);
            return;
          }
          for (const h of ['Content-Type', 'Content-Disposition']) res.removeHeader(h); // the error answer is JSON
          throw err;
        }
      },
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
