/** /v1/org: the org's own provider credentials. */
import { z } from 'zod';
import { clearTwilioCredentials, getTwilioCredentials, setTwilioCredentials, TwilioCredentialsBody } from '../../app/org-credentials.ts';
import type { EngineContext } from '../../app/timers/context.ts';
import { defineRoute, type RouteSpec } from '../route.ts';
import { loadOrgSettings, OrgSettingsPatch, OrgSettingsSchema, updateOrgSettings } from '../../app/org-settings.ts';

const CredentialsView = z.object({ configured: z.boolean(), accountSid: z.string().nullable(), from: z.string().nullable(), messagingServiceSid: z.string().nullable() });

export function orgRoutes(ctx: EngineContext, secretKey: Buffer | undefined): RouteSpec[] {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/org/settings',
      tag: 'Org',
      summary: "The org's settings (consent policy, journey TTL, replies to inbound texts: opt-out / opt-in confirmations and HELP, calendar layer, rate limits)",
      roles: ['admin'],
      response: { status: 200, description: 'Settings with defaults filled in', schema: OrgSettingsSchema },
      handler: ({ auth }) => loadOrgSettings(ctx.prisma, auth.orgId, 0),
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/org/settings',
      tag: 'Org',
      summary: 'Change some settings (audited)',
      roles: ['admin'],
      body: OrgSettingsPatch,
      response: { status: 200, description: 'The settings after the change', schema: OrgSettingsSchema },
      example: {
        requireConsentForMarketing: true,
        journeyTtlSeconds: 604800,
        helpText: '{org} appointment reminders: help at acme.example/help or 1-800-555-0100. Msg&data rates may apply. Reply STOP to opt out.',
        calendar: { id: 'acme', margins: { startLaterMinutes: 60, stopEarlierMinutes: 60 } },
      },
      handler: ({ auth, body }) => updateOrgSettings(ctx, auth.orgId, body),
    }),
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
