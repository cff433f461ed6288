/** /v1/webhooks: an org's outbound event endpoints and their deliveries (admin). */
import { z } from 'zod';
import type { EngineContext } from '../../app/timers/context.ts';
import { CreateWebhookBody, DeliveryViewSchema, ListDeliveriesQuery, WebhookService, WebhookViewSchema, WebhookWithSecretSchema } from '../../app/webhooks.ts';
import { defineRoute, type RouteSpec } from '../route.ts';
import { idParams, uuidParam } from '../validate.ts';

const DeliveryParams = z.strictObject({ id: uuidParam, deliveryId: z.string().regex(/^[1-9][0-9]{0,17}$/, 'a delivery id') });

export function webhookRoutes(ctx: EngineContext, secretKey: Buffer | undefined): RouteSpec[] {
  const hooks = new WebhookService(ctx, secretKey);
  const tag = 'Webhooks';
  return [
    defineRoute({
      method: 'post',
      path: '/v1/webhooks',
      tag,
      summary: 'Register an endpoint for outbound events',
      description:
        'Events are signed (`Tcpa-Signature: t=<unix>,v1=<HMAC-SHA256 hex of "<t>.<body>">`) with the secret in this answer, which is never shown again. Delivery is at least once, in order per timer, retried with exponential backoff for 3 days; an endpoint failing for 3 days without a success is disabled. The endpoint receives events from its creation on. Needs TCPA_SECRET_KEY on the deployment (503 otherwise).',
      roles: ['admin'],
      body: CreateWebhookBody,
      response: { status: 201, description: 'The endpoint and its signing secret (shown once)', schema: WebhookWithSecretSchema },
      errors: [409],
      example: { url: 'https://platform.example.com/tcpa-events', events: ['timer.sent', 'timer.delivered', 'optout.received'] },
      handler: ({ body, auth }) => hooks.create(auth.orgId, body),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/webhooks',
      tag,
      summary: "The org's endpoints",
      roles: ['admin'],
      response: { status: 200, description: 'Endpoints (no secrets)', schema: z.object({ items: z.array(WebhookViewSchema) }) },
      handler: ({ auth }) => hooks.list(auth.orgId),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/webhooks/:id',
      tag,
      summary: 'One endpoint',
      roles: ['admin'],
      params: idParams,
      response: { status: 200, description: 'The endpoint (no secret)', schema: WebhookViewSchema },
      errors: [404],
      handler: ({ params, auth }) => hooks.get(auth.orgId, params.id),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/webhooks/:id',
      tag,
      summary: 'Remove an endpoint (audited; its delivery history is kept)',
      roles: ['admin'],
      params: idParams,
      response: { status: 200, description: 'The removed endpoint', schema: WebhookViewSchema },
      errors: [404],
      handler: ({ params, auth }) => hooks.remove(auth.orgId, params.id),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/webhooks/:id/rotate-secret',
      tag,
      summary: 'A new signing secret (shown once); the previous one keeps signing for 24 h',
      description: 'Until the previous secret expires every request carries two `v1=` signatures, one per secret: switch the receiver to the new secret at any point in those 24 hours.',
      roles: ['admin'],
      params: idParams,
      response: { status: 200, description: 'The endpoint and its new secret', schema: WebhookWithSecretSchema },
      errors: [404],
      handler: ({ params, auth }) => hooks.rotateSecret(auth.orgId, params.id),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/webhooks/:id/enable',
      tag,
      summary: 'Turn a disabled endpoint back on (audited)',
      roles: ['admin'],
      params: idParams,
      response: { status: 200, description: 'The endpoint', schema: WebhookViewSchema },
      errors: [404],
      handler: ({ params, auth }) => hooks.enable(auth.orgId, params.id),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/webhooks/:id/deliveries',
      tag,
      summary: "An endpoint's deliveries, newest first, each with its attempts",
      roles: ['admin'],
      params: idParams,
      query: ListDeliveriesQuery,
      response: { status: 200, description: 'Deliveries; `next` pages on with ?before=', schema: z.object({ items: z.array(DeliveryViewSchema), next: z.string().nullable() }) },
      errors: [404],
      handler: ({ params, query, auth }) => hooks.deliveries(auth.orgId, params.id, query),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/webhooks/:id/deliveries/:deliveryId/retry',
      tag,
      summary: 'Send a delivery again now (a dead one too)',
      roles: ['admin'],
      params: DeliveryParams,
      response: { status: 200, description: 'The delivery, pending again', schema: DeliveryViewSchema },
      errors: [404, 409],
      handler: ({ params, auth }) => hooks.retry(auth.orgId, params.id, params.deliveryId),
    }),
  ];
}
