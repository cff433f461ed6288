/** /v1/audit: the decision log (filtered list, streamed export) and its verification. */
import { z } from 'zod';
import { ExportAuditQuery, ListAuditQuery, type AuditQueries } from '../../app/audit-queries.ts';
import type { AuditLog } from '../../adapters/audit/audit-log.ts';
import { defineRoute, type RouteSpec } from '../route.ts';

/** One entry of the log: an item of `GET /v1/audit`, a line of the JSON-lines export. */
export const AuditEntrySchema = z.object({
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

/** `GET /v1/audit/export?format=csv&campaignId=…&action=timer.created` on the two-row campaign of `PUT /v1/campaigns/{id}/audience`'s example, as the export writes it (RFC 4180, CRLF). */
const EXPORT_CSV_EXAMPLE = [
  'seq,at,action,timer_id,contact_id,journey_id,campaign_id,decision,reason_codes,data,prev_hash,hash',
  '3,2026-11-29T18:01:08.075Z,timer.created,91abf343-22b7-42a2-b24f-547ddf0f2a8e,a13ac8ab-3443-4c60-82da-8c43b7c4bf10,,3db5d0bb-3dd5-4a95-990c-64269c7255cc,send,ALLOWED,"{""inputs"": {""zip"": ""10001"", ""line"": 2, ""policy"": ""next_slot"", ""window"": {""end"": ""17:00"", ""start"": ""09:00""}, ""channel"": ""sms"", ""purpose"": ""informational"", ""subject"": null, ""areaCode"": ""212"", ""notAfter"": null, ""campaignRow"": 0, ""requestedAt"": ""2026-12-09T15:00:00Z"", ""sendAtLocal"": ""2026-12-09T10:00""}, ""status"": ""scheduled"", ""decision"": {""zone"": ""America/New_York"", ""phase"": ""create"", ""sendAt"": ""2026-12-09T15:00:00Z"", ""reasons"": [{""code"": ""ALLOWED"", ""rule"": ""US.quiet-hours,REQUEST.window"", ""local"": ""2026-12-09T10:00:00-05:00"", ""message"": ""Wed 2026-12-09 10:00 is inside every applicable window"", ""citation"": ""47 U.S.C. § 227(c); 47 C.F.R. § 64.1200(c)(1)-(2); 16 C.F.R. § 310.4(c); texts: FCC 23-107 (89 FR 5098, eff. 2024-03-26); requested window 09:00–17:00"", ""timezone"": ""America/New_York"", ""jurisdiction"": ""NY""}], ""decision"": ""send"", ""judgedAt"": ""2026-11-29T18:01:08.075Z"", ""windowEnd"": ""2026-12-09T22:00:00Z"", ""candidates"": [{""zone"": ""America/New_York"", ""source"": ""zip"", ""jurisdiction"": ""NY""}, {""zone"": ""America/New_York"", ""source"": ""area-code"", ""jurisdiction"": ""NY""}], ""calendarVersion"": ""cal-80873947d0cdf32c""}}",48603d135b16b27ef57410b5ff561494f78452759f97941ea9026170043e4c9b,3b7a6a0c397a0a774977d80971eca519d25461c9199e95938beed4ab4dea70e4',
  '4,2026-11-29T18:01:08.075Z,timer.created,ec7f9e3f-7e93-4c3e-8d4f-74ccbdb5ed7a,ecc03538-7a9b-4b7f-b7c2-db4e563b835f,,3db5d0bb-3dd5-4a95-990c-64269c7255cc,send,ALLOWED,"{""inputs"": {""zip"": ""90012"", ""line"": 3, ""policy"": ""next_slot"", ""window"": {""end"": ""17:00"", ""start"": ""09:00""}, ""channel"": ""sms"", ""purpose"": ""informational"", ""subject"": null, ""areaCode"": ""310"", ""notAfter"": null, ""campaignRow"": 1, ""requestedAt"": ""2026-12-09T18:00:00Z"", ""sendAtLocal"": ""2026-12-09T10:00""}, ""status"": ""scheduled"", ""decision"": {""zone"": ""America/Los_Angeles"", ""phase"": ""create"", ""sendAt"": ""2026-12-09T18:00:00Z"", ""reasons"": [{""code"": ""ALLOWED"", ""rule"": ""US.quiet-hours,REQUEST.window"", ""local"": ""2026-12-09T10:00:00-08:00"", ""message"": ""Wed 2026-12-09 10:00 is inside every applicable window"", ""citation"": ""47 U.S.C. § 227(c); 47 C.F.R. § 64.1200(c)(1)-(2); 16 C.F.R. § 310.4(c); texts: FCC 23-107 (89 FR 5098, eff. 2024-03-26); requested window 09:00–17:00"", ""timezone"": ""America/Los_Angeles"", ""jurisdiction"": ""CA""}], ""decision"": ""send"", ""judgedAt"": ""2026-11-29T18:01:08.075Z"", ""windowEnd"": ""2026-12-10T01:00:00Z"", ""candidates"": [{""zone"": ""America/Los_Angeles"", ""source"": ""zip"", ""jurisdiction"": ""CA""}, {""zone"": ""America/Los_Angeles"", ""source"": ""area-code"", ""jurisdiction"": ""CA""}], ""calendarVersion"": ""cal-80873947d0cdf32c""}}",3b7a6a0c397a0a774977d80971eca519d25461c9199e95938beed4ab4dea70e4,28089c33a8c7ec98f9b99e18f4155f8556b1a30ce361916e1abb622481516999',
  '',
].join('\r\n');

/** The same entries as JSON lines: one `GET /v1/audit` item per line (`data` as Postgres writes jsonb). */
const EXPORT_JSONL_EXAMPLE = [
  '{"seq":3,"at":"2026-11-29T18:01:08.075Z","action":"timer.created","timerId":"91abf343-22b7-42a2-b24f-547ddf0f2a8e","contactId":"a13ac8ab-3443-4c60-82da-8c43b7c4bf10","journeyId":null,"campaignId":"3db5d0bb-3dd5-4a95-990c-64269c7255cc","decision":"send","reasonCodes":["ALLOWED"],"data":{"inputs": {"zip": "10001", "line": 2, "policy": "next_slot", "window": {"end": "17:00", "start": "09:00"}, "channel": "sms", "purpose": "informational", "subject": null, "areaCode": "212", "notAfter": null, "campaignRow": 0, "requestedAt": "2026-12-09T15:00:00Z", "sendAtLocal": "2026-12-09T10:00"}, "status": "scheduled", "decision": {"zone": "America/New_York", "phase": "create", "sendAt": "2026-12-09T15:00:00Z", "reasons": [{"code": "ALLOWED", "rule": "US.quiet-hours,REQUEST.window", "local": "2026-12-09T10:00:00-05:00", "message": "Wed 2026-12-09 10:00 is inside every applicable window", "citation": "47 U.S.C. § 227(c); 47 C.F.R. § 64.1200(c)(1)-(2); 16 C.F.R. § 310.4(c); texts: FCC 23-107 (89 FR 5098, eff. 2024-03-26); requested window 09:00–17:00", "timezone": "America/New_York", "jurisdiction": "NY"}], "decision": "send", "judgedAt": "2026-11-29T18:01:08.075Z", "windowEnd": "2026-12-09T22:00:00Z", "candidates": [{"zone": "America/New_York", "source": "zip", "jurisdiction": "NY"}, {"zone": "America/New_York", "source": "area-code", "jurisdiction": "NY"}], "calendarVersion": "cal-80873947d0cdf32c"}},"prevHash":"48603d135b16b27ef57410b5ff561494f78452759f97941ea9026170043e4c9b","hash":"3b7a6a0c397a0a774977d80971eca519d25461c9199e95938beed4ab4dea70e4"}',
  '{"seq":4,"at":"2026-11-29T18:01:08.075Z","action":"timer.created","timerId":"ec7f9e3f-7e93-4c3e-8d4f-74ccbdb5ed7a","contactId":"ecc03538-7a9b-4b7f-b7c2-db4e563b835f","journeyId":null,"campaignId":"3db5d0bb-3dd5-4a95-990c-64269c7255cc","decision":"send","reasonCodes":["ALLOWED"],"data":{"inputs": {"zip": "90012", "line": 3, "policy": "next_slot", "window": {"end": "17:00", "start": "09:00"}, "channel": "sms", "purpose": "informational", "subject": null, "areaCode": "310", "notAfter": null, "campaignRow": 1, "requestedAt": "2026-12-09T18:00:00Z", "sendAtLocal": "2026-12-09T10:00"}, "status": "scheduled", "decision": {"zone": "America/Los_Angeles", "phase": "create", "sendAt": "2026-12-09T18:00:00Z", "reasons": [{"code": "ALLOWED", "rule": "US.quiet-hours,REQUEST.window", "local": "2026-12-09T10:00:00-08:00", "message": "Wed 2026-12-09 10:00 is inside every applicable window", "citation": "47 U.S.C. § 227(c); 47 C.F.R. § 64.1200(c)(1)-(2); 16 C.F.R. § 310.4(c); texts: FCC 23-107 (89 FR 5098, eff. 2024-03-26); requested window 09:00–17:00", "timezone": "America/Los_Angeles", "jurisdiction": "CA"}], "decision": "send", "judgedAt": "2026-11-29T18:01:08.075Z", "windowEnd": "2026-12-10T01:00:00Z", "candidates": [{"zone": "America/Los_Angeles", "source": "zip", "jurisdiction": "CA"}, {"zone": "America/Los_Angeles", "source": "area-code", "jurisdiction": "CA"}], "calendarVersion": "cal-80873947d0cdf32c"}},"prevHash":"3b7a6a0c397a0a774977d80971eca519d25461c9199e95938beed4ab4dea70e4","hash":"28089c33a8c7ec98f9b99e18f4155f8556b1a30ce361916e1abb622481516999"}',
  '',
].join('\n');

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
        'seq, at, action, timer_id, contact_id, journey_id, campaign_id, decision, reason_codes (`|`-separated), data (JSON), prev_hash, hash. JSON lines: one `GET /v1/audit` item per line. ' +
        'The examples: `?campaignId=…&action=timer.created` once the two-row file of `PUT /v1/campaigns/{id}/audience`\u2019s example is planned.',
      roles: ['admin', 'auditor'],
      query: ExportAuditQuery,
      response: {
        status: 200,
        description: '`text/csv` or `application/x-ndjson` (by `format`), as an attachment',
        rawBody: { contentTypes: ['text/csv', 'application/x-ndjson'], examples: { 'text/csv': EXPORT_CSV_EXAMPLE, 'application/x-ndjson': EXPORT_JSONL_EXAMPLE } },
        headers: {
          'Content-Disposition': { description: 'An attachment named after the export\u2019s start (UTC), `.csv` or `.jsonl`', example: 'attachment; filename="audit-20261129T180108.csv"' },
        },
      },
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
