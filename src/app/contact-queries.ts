/**
 * Reading contacts: one contact with where it was placed (candidates with their sources, as
 * resolved when it was saved) and its lists; a keyset-paginated listing (optionally one list's
 * members); the org's contact lists with their member counts. Role auditor sees numbers masked
 * to their last 4 digits.
 */
import { z } from 'zod';
import type { Prisma } from '../adapters/db/client.ts';
import { AppError } from '../domain/errors.ts';
import { maskPhone } from '../domain/privacy.ts';
import type { EngineContext } from './timers/context.ts';

export const ContactViewSchema = z.object({
  id: z.uuid(),
  externalId: z.string().nullable(),
  phone: z.string().describe('E.164; masked to the last 4 digits for role auditor'),
  zip: z.string().nullable(),
  state: z.string().nullable().describe("The zip's state (the area code's when there is no zip)"),
  timezones: z.array(z.string()).describe("Every candidate's zone, sorted"),
  candidates: z
    .array(z.object({ jurisdiction: z.string(), zone: z.string(), source: z.string().describe('zip, zip-state-fallback, area-code or area-code-presumption') }))
    .describe('Every (jurisdiction, zone) a send to this contact must satisfy, as resolved when the contact was saved'),
  locationIssues: z.array(z.object({ code: z.string(), message: z.string() })),
  lists: z.array(z.string()).describe('Names of the contact lists it belongs to'),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type ContactView = z.infer<typeof ContactViewSchema>;

export const ContactPageSchema = z.object({ items: z.array(ContactViewSchema), nextCursor: z.string().nullable() });

export const ListContactsQuery = z.strictObject({
  list: z.string().trim().min(1).max(200).optional().describe("Only this contact list's members"),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});
export type ListContactsInput = z.infer<typeof ListContactsQuery>;

export const ContactListViewSchema = z.object({ id: z.uuid(), name: z.string(), members: z.number().int(), createdAt: z.string() });

const withLists = { lists: { select: { list: { select: { name: true } } } } } satisfies Prisma.ContactInclude;
type ContactWithLists = Prisma.ContactGetPayload<{ include: typeof withLists }>;

interface StoredCandidate {
  jurisdiction: string;
  zone: string;
  source: string;
}

export function contactView(c: ContactWithLists, revealPhone: boolean): ContactView {
  const candidates = (Array.isArray(c.candidates) ? c.candidates : []) as unknown as StoredCandidate[];
  const issues = (Array.isArray(c.locationIssues) ? c.locationIssues : []) as unknown as Array<{ code: string; message: string }>;
  return {
    id: c.id,
    externalId: c.externalId,
    phone: revealPhone ? c.phoneE164 : maskPhone(c.phoneE164),
    zip: c.zip,
    state: c.state,
    timezones: [...new Set(candidates.map((x) => x.zone))].sort(),
    candidates: candidates.map((x) => ({ jurisdiction: x.jurisdiction, zone: x.zone, source: x.source })),
    locationIssues: issues.map((i) => ({ code: i.code, message: i.message })),
    lists: c.lists.map((m) => m.list.name).sort(),
    createdAt: c.createdAt.toISOString(),
    updatedAt: c.updatedAt.toISOString(),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function decodeIdCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!UUID.test(id)) throw new AppError('INVALID_ARGUMENT', 'cursor is not valid', [{ path: 'query.cursor', message: 'use nextCursor from a previous page' }]);
  return id.toLowerCase();
}

export class ContactQueries {
  constructor(private readonly ctx: EngineContext) {}

  /** One of the org's contacts; another org's id is a 404. */
  async get(orgId: string, id: string, revealPhone: boolean): Promise<ContactView> {
    const c = await this.ctx.prisma.contact.findFirst({ where: { id, orgId }, include: withLists });
    if (!c) throw new AppError('NOT_FOUND', `contact ${id} not found`);
    return contactView(c, revealPhone);
  }

  /** In id order (stable under inserts; index-backed), keyset-paginated. */
  async list(orgId: string, q: ListContactsInput, revealPhone: boolean): Promise<{ items: ContactView[]; nextCursor: string | null }> {
    const after = q.cursor ? decodeIdCursor(q.cursor) : undefined;
    let rows: ContactWithLists[];
    if (q.list !== undefined) {
      const list = await this.ctx.prisma.contactList.findUnique({ where: { orgId_name: { orgId, name: q.list } }, select: { id: true } });
      if (!list) throw new AppError('NOT_FOUND', `contact list "${q.list}" not found`);
      // The members' primary key (list_id, contact_id) gives this order directly.
      const members = await this.ctx.prisma.contactListMember.findMany({
        where: { listId: list.id, ...(after ? { contactId: { gt: after } } : {}) },
        orderBy: { contactId: 'asc' },
        take: q.limit + 1,
        select: { contact: { include: withLists } },
      });
      rows = members.map((m) => m.contact);
    } else {
      rows = await this.ctx.prisma.contact.findMany({
        where: { orgId, ...(after ? { id: { gt: after } } : {}) },
        orderBy: { id: 'asc' },
        take: q.limit + 1,
        include: withLists,
      });
    }
    const more = rows.length > q.limit;
    const items = rows.slice(0, q.limit);
    const last = items[items.length - 1];
    return { items: items.map((c) => contactView(c, revealPhone)), nextCursor: more && last ? Buffer.from(last.id).toString('base64url') : null };
  }

  /** The org's contact lists by name, with their member counts. */
  async lists(orgId: string): Promise<{ items: Array<z.infer<typeof ContactListViewSchema>> }> {
    const lists = await this.ctx.prisma.contactList.findMany({ where: { orgId }, orderBy: { name: 'asc' }, include: { _count: { select: { members: true } } } });
    return { items: lists.map((l) => ({ id: l.id, name: l.name, members: l._count.members, createdAt: l.createdAt.toISOString() })) };
  }
}
