/**
 * An org's own Twilio credentials: validated, sealed with AES-256-GCM (TCPA_SECRET_KEY, the org id
 * as associated data) and stored; read back only as non-secret metadata. Without credentials of
 * its own an org sends through the deployment's default sender.
 */
import { z } from 'zod';
import { openJson, sealJson } from '../adapters/crypto/secret-box.ts';
import type { SenderCredentials } from '../adapters/twilio/sender.ts';
import { AppError } from '../domain/errors.ts';
import type { EngineContext } from './timers/context.ts';

export const TwilioCredentialsBody = z
  .object({
    accountSid: z.string().regex(/^AC[0-9a-zA-Z]{32}$/, 'AC followed by 32 characters'),
    authToken: z.string().min(8).max(200),
    from: z.string().regex(/^\+[1-9]\d{6,14}$/, 'an E.164 number').optional(),
    messagingServiceSid: z.string().regex(/^MG[0-9a-zA-Z]{32}$/, 'MG followed by 32 characters').optional(),
  })
  .strict()
  .refine((b) => b.from !== undefined || b.messagingServiceSid !== undefined, { message: 'give from or messagingServiceSid', path: ['from'] });
export type TwilioCredentialsInput = z.infer<typeof TwilioCredentialsBody>;

export interface CredentialsView {
  configured: boolean;
  accountSid: string | null;
  from: string | null;
  messagingServiceSid: string | null;
}

function key(secretKey: Buffer | undefined): Buffer {
  if (!secretKey) throw new AppError('UNAVAILABLE', 'this deployment has no TCPA_SECRET_KEY, so it cannot store credentials');
  return secretKey;
}

export async function setTwilioCredentials(ctx: EngineContext, secretKey: Buffer | undefined, orgId: string, input: TwilioCredentialsInput): Promise<CredentialsView> {
  const sealed = sealJson(key(secretKey), { accountSid: input.accountSid, authToken: input.authToken, ...(input.from ? { from: input.from } : {}), ...(input.messagingServiceSid ? { messagingServiceSid: input.messagingServiceSid } : {}) }, orgId);
  const now = ctx.clock.now();
  await ctx.prisma.$transaction(async (tx) => {
    await tx.org.update({ where: { id: orgId }, data: { twilioCredentials: sealed } });
    await ctx.audit.append(orgId, [{ action: 'org.credentials_set', createdAt: new Date(now), data: { provider: 'twilio', accountSid: input.accountSid } }], tx);
  });
  ctx.sender.forget?.(orgId);
  return { configured: true, accountSid: input.accountSid, from: input.from ?? null, messagingServiceSid: input.messagingServiceSid ?? null };
}

export async function clearTwilioCredentials(ctx: EngineContext, orgId: string): Promise<CredentialsView> {
  const now = ctx.clock.now();
  await ctx.prisma.$transaction(async (tx) => {
    await tx.org.update({ where: { id: orgId }, data: { twilioCredentials: null } });
    await ctx.audit.append(orgId, [{ action: 'org.credentials_cleared', createdAt: new Date(now), data: { provider: 'twilio' } }], tx);
  });
  ctx.sender.forget?.(orgId);
  return { configured: false, accountSid: null, from: null, messagingServiceSid: null };
}

export async function getTwilioCredentials(ctx: EngineContext, secretKey: Buffer | undefined, orgId: string): Promise<CredentialsView> {
  const org = await ctx.prisma.org.findUniqueOrThrow({ where: { id: orgId }, select: { twilioCredentials: true } });
  if (!org.twilioCredentials) return { configured: false, accountSid: null, from: null, messagingServiceSid: null };
  const c = openJson<SenderCredentials>(key(secretKey), org.twilioCredentials, orgId);
  return { configured: true, accountSid: c.accountSid, from: c.from ?? null, messagingServiceSid: c.messagingServiceSid ?? null };
}
