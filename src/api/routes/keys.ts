/**
 * /v1/keys: the org's API keys, managed by its admins.
 *
 * - `POST /v1/keys` creates a key; the full key is in the answer and never again (only its
 *   SHA-256 is stored).
 * - `GET /v1/keys` lists metadata only (id, role, name, prefix, dates) — never the hash.
 * - `DELETE /v1/keys/:id` revokes a key: it answers 401 from then on. Revoking the key that
 *   makes the call is allowed (the request in flight completes; the next one is 401), so an admin
 *   can lock themselves out if they hold no other admin key.
 *
 * Rotation = create the new key, deploy it, revoke the old one. Both changes are audited
 * (`key.created`, `key.revoked`) in the same transaction, with ids and roles — never the secret.
 */
import { z } from 'zod';
import { API_ROLES, generateApiKey, type ApiRole } from '../../adapters/auth/api-keys.ts';
import type { EngineContext } from '../../app/timers/context.ts';
import { AppError } from '../../domain/errors.ts';
import { defineRoute, type RouteSpec } from '../route.ts';
import { idParams } from '../validate.ts';

const RoleSchema = z.enum(API_ROLES as [ApiRole, ...ApiRole[]]);

export const CreateKeyBody = z
  .object({
    role: RoleSchema.describe('What the key may do: admin, ops, journey or auditor'),
    name: z.string().trim().min(1).max(100).optional().describe('A label for humans, e.g. "journey-service"'),
  })
  .strict();

const CreatedKeySchema = z.object({
  keyId: z.uuid(),
  key: z.string().describe('The full key (`tcpa_<prefix>_<secret>`). Shown once: store it now.'),
  role: RoleSchema,
  name: z.string().nullable(),
});

export const KeyViewSchema = z.object({
  keyId: z.uuid(),
  role: RoleSchema,
  name: z.string().nullable(),
  keyPrefix: z.string().describe('The public part of the key (`tcpa_<keyPrefix>_…`), to recognise it'),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable().describe('Updated at most once a minute'),
  revokedAt: z.string().nullable(),
});
type KeyView = z.infer<typeof KeyViewSchema>;

const KEY_SELECT = { id: true, role: true, name: true, keyPrefix: true, createdAt: true, lastUsedAt: true, revokedAt: true } as const;

interface KeyRow {
  id: string;
  role: ApiRole;
  name: string | null;
  keyPrefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

function view(r: KeyRow): KeyView {
  return {
    keyId: r.id,
    role: r.role,
    name: r.name,
    keyPrefix: r.keyPrefix,
    createdAt: r.createdAt.toISOString(),
    lastUsedAt: r.lastUsedAt?.toISOString() ?? null,
    revokedAt: r.revokedAt?.toISOString() ?? null,
  };
}

export function keyRoutes(ctx: EngineContext): RouteSpec[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/keys',
      tag: 'Keys',
      summary: 'Create an API key (the key is shown once)',
      description: 'Rotation: create the new key, switch the client to it, then revoke the old one. Audited as `key.created` (without the secret).',
      roles: ['admin'],
      body: CreateKeyBody,
      response: { status: 201, description: 'The new key, in full — the only time it is shown', schema: CreatedKeySchema },
      example: { role: 'journey', name: 'journey-service' },
      handler: async ({ body, auth }) => {
        const generated = generateApiKey();
        const now = new Date(ctx.clock.now());
        const row = await ctx.prisma.$transaction(async (tx) => {
          const created = await tx.apiKey.create({
            data: { orgId: auth.orgId, keyPrefix: generated.keyPrefix, secretHash: generated.secretHash, role: body.role, name: body.name ?? null },
            select: { id: true, role: true, name: true },
          });
          await ctx.audit.append(auth.orgId, [{ action: 'key.created', createdAt: now, data: { keyId: created.id, role: created.role, name: created.name, by: auth.keyId } }], tx);
          return created;
        });
        return { keyId: row.id, key: generated.key, role: row.role, name: row.name };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/keys',
      tag: 'Keys',
      summary: "The org's API keys (metadata only, newest first)",
      roles: ['admin'],
      response: { status: 200, description: 'Every key of the org, revoked ones included; never a secret or its hash', schema: z.object({ items: z.array(KeyViewSchema) }) },
      handler: async ({ auth }) => {
        const rows = await ctx.prisma.apiKey.findMany({ where: { orgId: auth.orgId }, select: KEY_SELECT, orderBy: [{ createdAt: 'desc' }, { id: 'asc' }] });
        return { items: rows.map(view) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/keys/:id',
      tag: 'Keys',
      summary: 'Revoke an API key',
      description:
        'The key answers 401 from then on. Revoking an already revoked key changes nothing and answers the same. Revoking the key used for this very call is allowed: make sure another admin key exists first. Audited as `key.revoked`.',
      roles: ['admin'],
      params: idParams,
      response: { status: 200, description: 'The key, revoked', schema: KeyViewSchema },
      errors: [404],
      handler: async ({ params, auth }) => {
        const now = new Date(ctx.clock.now());
        const row = await ctx.prisma.$transaction(async (tx) => {
          const { count } = await tx.apiKey.updateMany({ where: { id: params.id, orgId: auth.orgId, revokedAt: null }, data: { revokedAt: now } });
          const key = await tx.apiKey.findFirst({ where: { id: params.id, orgId: auth.orgId }, select: KEY_SELECT });
          if (!key) throw new AppError('NOT_FOUND', `API key ${params.id} not found`);
          if (count === 1) {
            await ctx.audit.append(
              auth.orgId,
              [{ action: 'key.revoked', createdAt: now, data: { keyId: key.id, role: key.role, name: key.name, by: auth.keyId, self: key.id === auth.keyId } }],
              tx,
            );
          }
          return key;
        });
        return view(row);
      },
    }),
  ];
}
