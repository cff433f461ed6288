/** /v1/org: the org's own provider credentials. */
import { z } from 'zod';
import { clearTwilioCredentials, getTwilioCredentials, setTwilioCredentials, TwilioCredentialsBody } from '../../app/org-credentials.ts';
import type { EngineContext } from '../../app/timers/context.ts';
import { defineRoute, type RouteSpec } from '../route.ts';

const CredentialsView = z.object({ configured: z.boolean(), accountSid: z.string().nullable(), from: z.string().nullable(), messagingServiceSid: z.string().nullable() });

export function orgRoutes(ctx: EngineContext, secretKey: Buffer | undefined): RouteSpec[] {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/org/twilio-credentials',
      tag: 'Org',
      summary: "The org's Twilio account (never the token)",
      roles: ['admin'],
      response: { status: 200, description: 'Non-secret metadata', schema: CredentialsView },
      handler: ({ auth }) => getTwilioCredentials(ctx, secretKey, auth.orgId),
    }),
    defineRoute({
      method: 'put',
      path: '/v1/org/twilio-credentials',
      tag: 'Org',
      summary: "Store the org's own Twilio credentials (sealed with AES-256-GCM)",
      roles: ['admin'],
      body: TwilioCredentialsBody,
      response: { status: 200, description: 'Non-secret metadata', schema: CredentialsView },
      example: { accountSid: `AC${'0'.repeat(32)}`, authToken: 'your-auth-token', from: '+15005550006' },
      handler: ({ auth, body }) => setTwilioCredentials(ctx, secretKey, auth.orgId, body),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/org/twilio-credentials',
      tag: 'Org',
      summary: "Forget the org's credentials (back to the deployment's sender)",
      roles: ['admin'],
      response: { status: 200, description: 'Non-secret metadata', schema: CredentialsView },
      handler: ({ auth }) => clearTwilioCredentials(ctx, auth.orgId),
    }),
  ];
}
