/** /v1/contacts: import a file of contacts (streamed), read one, list; /v1/contact-lists. */
import { z } from 'zod';
import { ContactImportResultSchema, IMPORT_CONTENT_TYPES, ImportContactsQuery, importContacts, importFormatOf, MAX_ERROR_SAMPLES } from '../../app/contacts-import.ts';
import { ContactListViewSchema, ContactPageSchema, ContactQueries, ContactViewSchema, ListContactsQuery } from '../../app/contact-queries.ts';
import type { EngineContext } from '../../app/timers/context.ts';
import { defineRoute, type RouteSpec } from '../route.ts';
import { idParams } from '../validate.ts';

const IMPORT_DESCRIPTION = `The request body is the file itself (not JSON), streamed: up to 1,000,000 rows, no body-size limit; memory stays flat.

- **CSV** (\`Content-Type: text/csv\` or \`?format=csv\`): a header line naming the columns, e.g.
  \`phone,zip,externalId,name\` then \`+12125550123,10001,crm-42,Ada\`. \`phone\` is required; \`zip\` and \`externalId\` are optional; other columns are ignored.
- **JSONL** (\`Content-Type: application/x-ndjson\` or \`application/jsonl\`, or \`?format=jsonl\`): one object per line, e.g.
  \`{"phone":"+13055550100","zip":"33130","externalId":"crm-43"}\`.

Upsert by phone number (E.164), or by \`externalId\` when it is already known (a known externalId with another number is a bad row, \`CONFLICT\`). Each row is placed once (zip → state and zones, area code) and the result stored. Bad rows (\`INVALID_ROW\`: missing phone, malformed JSON, wrong column count…; \`INVALID_PHONE\`, \`INVALID_ZIP\`, \`UNKNOWN_ZIP\`, \`CONFLICT\`) never abort the file: they are counted and the first ${MAX_ERROR_SAMPLES} are returned with their line (the CSV header is line 1) — the full list is not stored. \`list\` adds every imported contact to that contact list (created if needed). Re-importing a file is harmless (\`created\` 0). Audited \`contacts.imported\` (counts only). More than 1,000,000 rows: the first 1,000,000 are imported and the answer is 413.`;

/** A file of two contacts, as CSV (other columns ignored; RFC 4180 quoting) and as JSON lines. */
const IMPORT_EXAMPLES = {
  'text/csv': 'phone,zip,externalId,name\n+12125550123,10001,crm-42,Ada\n+13055550100,33130,crm-43,"Hopper, Grace"\n',
  'application/x-ndjson': '{"phone":"+12125550123","zip":"10001","externalId":"crm-42"}\n{"phone":"+13055550100","zip":"33130","externalId":"crm-43"}\n',
};

export function contactRoutes(ctx: EngineContext): RouteSpec[] {
  const contacts = new ContactQueries(ctx);
  return [
    defineRoute({
      method: 'post',
      path: '/v1/contacts/import',
      tag: 'Contacts',
      summary: 'Import contacts from a CSV or JSONL file (streamed, up to 1,000,000 rows)',
      description: IMPORT_DESCRIPTION,
      roles: ['admin', 'ops'],
      query: ImportContactsQuery,
      // No `body`: the JSON parser is not mounted and the handler reads the request as a stream.
      rawBody: { contentTypes: Object.keys(IMPORT_CONTENT_TYPES), examples: IMPORT_EXAMPLES },
      response: {
        status: 200,
        description: 'Counts, and the first bad rows by line',
        schema: ContactImportResultSchema,
        example: { rows: 3, created: 2, updated: 0, errors: 1, errorCodes: { INVALID_ZIP: 1 }, errorSamples: [{ line: 4, code: 'INVALID_ZIP', message: '"1234" is not a 5-digit ZIP code or ZIP+4 (NNNNN or NNNNN-NNNN)' }], listId: '6f1c2b7e-3d0a-4c55-9a1e-2f4b8d9c0e11' },
      },
      errors: [413],
      handler: ({ query, auth, req }) => importContacts(ctx, auth.orgId, { format: importFormatOf(query.format, req.get('content-type')), list: query.list, input: req }),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/contacts/:id',
      tag: 'Contacts',
      summary: 'A contact: number, zip, where it was placed (candidates with their sources), lists',
      description: 'Role auditor sees the number masked to its last 4 digits.',
      roles: ['admin', 'ops', 'journey', 'auditor'],
      params: idParams,
      response: { status: 200, description: 'The contact', schema: ContactViewSchema },
      errors: [404],
      handler: ({ params, auth }) => contacts.get(auth.orgId, params.id, auth.role !== 'auditor'),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/contacts',
      tag: 'Contacts',
      summary: "List contacts (or one contact list's members), in id order",
      description: 'Keyset-paginated: pass `nextCursor` as `cursor`. An unknown `list` is a 404. Role auditor sees numbers masked to their last 4 digits.',
      roles: ['admin', 'ops', 'journey', 'auditor'],
      query: ListContactsQuery,
      response: { status: 200, description: 'A page of contacts', schema: ContactPageSchema },
      errors: [404],
      handler: ({ query, auth }) => contacts.list(auth.orgId, query, auth.role !== 'auditor'),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/contact-lists',
      tag: 'Contacts',
      summary: "The org's contact lists with their member counts",
      roles: ['admin', 'ops', 'auditor'],
      response: { status: 200, description: 'Lists by name', schema: z.object({ items: z.array(ContactListViewSchema) }) },
      handler: ({ auth }) => contacts.lists(auth.orgId),
    }),
  ];
}
