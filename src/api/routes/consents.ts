/** /v1/contacts/:id/consents: record, revoke, history. */
import { z } from 'zod';
import { ConsentService, ConsentViewSchema, RecordConsentBody, RevokeConsentBody } from '../../app/consents.ts';
import type { EngineContext } from '../../app/timers/context.ts';
import { defineRoute, type RouteSpec } from '../route.ts';
import { idParams, uuidParam } from '../validate.ts';

const ConsentParams = z.strictObject({ id: uuidParam, consentId: uuidParam });

export function consentRoutes(ctx: EngineContext): RouteSpec[] {
  const consents = new ConsentService(ctx);
  return [
    defineRoute({
      method: 'post',
      path: '/v1/contacts/:id/consents',
      tag: 'Consent',
      summary: 'Record a consent for a contact',
      description: 'Marketing timers need express written consent on record for their channel when the org requires it (requireConsentForMarketing, default on): checked at creation and again at fire time. Audited `consent.recorded` (the evidence as a SHA-256 digest).',
      roles: ['admin', 'ops'],
      params: idParams,
      body: RecordConsentBody,
      response: { status: 201, description: 'The consent record', schema: ConsentViewSchema },
      errors: [404],
      example: { type: 'express_written', channel: 'sms', purpose: 'marketing', source: 'web-form:signup', capturedAt: '2026-11-02T15:04:05Z', evidence: { ip: '203.0.113.7', checkbox: 'I agree to receive marketing texts' } },
      handler: ({ params, body, auth }) => consents.record(auth.orgId, params.id, body),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/contacts/:id/consents/:consentId/revoke',
      tag: 'Consent',
      summary: 'Revoke a consent (kept in the history)',
      description: "Cancels at once the contact's pending marketing timers on that channel that no longer have the consent the org requires (NO_CONSENT), each audited. Revoking twice answers the revoked record.",
      roles: ['admin', 'ops'],
      params: ConsentParams,
      body: RevokeConsentBody,
      response: { status: 200, description: 'The revoked record and how many timers were cancelled', schema: ConsentViewSchema.extend({ cancelledTimers: z.number().int() }) },
      errors: [404],
      example: { reason: 'customer replied STOP by email' },
      handler: ({ params, body, auth }) => consents.revoke(auth.orgId, params.id, params.consentId, body),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/contacts/:id/consents',
      tag: 'Consent',
      summary: "A contact's consent history (revoked records included)",
      description: 'Role auditor sees a digest of each evidence object instead of its content.',
      roles: ['admin', 'ops', 'auditor'],
      params: idParams,
      response: { status: 200, description: 'Records, oldest first', schema: z.object({ items: z.array(ConsentViewSchema) }) },
      errors: [404],
      handler: ({ params, auth }) => consents.list(auth.orgId, params.id, auth.role !== 'auditor'),
    }),
  ];
}
