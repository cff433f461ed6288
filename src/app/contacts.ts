/**
 * Contacts as the use cases see them: find one of the org's contacts by id, or upsert one from
 * `{ phone, zip, externalId? }` (placing it: zip → state and zones, area code), and where a stored
 * contact is (its location, recomputed from its phone and zip). Shared by timers, journeys and
 * consents.
 */
import type { Contact, Prisma, PrismaClient } from '../adapters/db/client.ts';
import { AppError, type ErrorCode } from '../domain/errors.ts';
import { INPUT_ERROR_CODES, parsePhone, resolveLocation, type Location } from '../domain/location/resolve.ts';
import { phoneHash, type Tx } from './timers/context.ts';

export interface ContactRef {
  contactId?: string | undefined;
  contact?: { phone: string; zip?: string | undefined; externalId?: string | undefined } | undefined;
}

/** Places a phone (+ zip); bad input and unknown zips are the caller's errors. */
export function locateContact(phone: string, zip: string | undefined): Location {
  const location = resolveLocation({ phone, ...(zip === undefined ? {} : { zip }) });
  for (const issue of location.issues) {
    if (INPUT_ERROR_CODES.has(issue.code)) throw new AppError(issue.code as ErrorCode, issue.message);
    if (issue.code === 'UNKNOWN_ZIP') throw new AppError('UNKNOWN_ZIP', issue.message);
  }
  return location;
}

/** Where a stored contact may be (never throws: a stored contact was placed when it was saved). */
export function contactLocation(c: Pick<Contact, 'phoneE164' | 'zip'>): Location {
  return resolveLocation({ phone: c.phoneE164, ...(c.zip ? { zip: c.zip } : {}) });
}

/** One of the org's contacts; another org's id is a 404. */
export async function findContact(db: Tx | PrismaClient, orgId: string, id: string): Promise<Contact> {
  const c = await db.contact.findFirst({ where: { id, orgId } });
  if (!c) throw new AppError('NOT_FOUND', `contact ${id} not found`);
  return c;
}

/** The contact named by `contactId`, or upserted (by org + E.164 number) from `contact`. */
export async function contactFor(tx: Tx, orgId: string, input: ContactRef): Promise<Contact> {
  if (input.contactId) return findContact(tx, orgId, input.contactId);
  const given = input.contact!;
  const phone = parsePhone(given.phone);
  if ('code' in phone) throw new AppError('INVALID_PHONE', phone.message, [{ path: 'body.contact.phone', message: phone.message }]);
  const location = locateContact(phone.e164, given.zip);
  const fields = {
    zip: location.zip ?? null,
    state: location.state ?? null,
    candidates: location.candidates as unknown as Prisma.InputJsonValue,
    locationIssues: location.issues as unknown as Prisma.InputJsonValue,
  };
  if (given.externalId) {
    const byExternal = await tx.contact.findUnique({ where: { orgId_externalId: { orgId, externalId: given.externalId } } });
    if (byExternal && byExternal.phoneE164 !== phone.e164) throw new AppError('CONFLICT', 'externalId already belongs to a contact with another phone number');
  }
  return tx.contact.upsert({
    where: { orgId_phoneE164: { orgId, phoneE164: phone.e164 } },
    create: { orgId, phoneE164: phone.e164, phoneHash: phoneHash(phone.e164), externalId: given.externalId ?? null, ...fields },
    update: { ...fields, ...(given.externalId ? { externalId: given.externalId } : {}) },
  });
}
