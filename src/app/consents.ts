/**
 * Consent records per contact: what the person agreed to (type, channel, purpose), how (source,
 * evidence) and when. Revocation keeps the row (the history is the evidence) and re-judges at
 * once: the contact's pending marketing timers on that channel that no longer have the consent the
 * org requires are cancelled (NO_CONSENT), in the same contact-locked transaction. Timer creation
 * and the fire-time check apply consent through the domain's judgeTimer (consentBlock).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Consent, Prisma } from '../adapters/db/client.ts';
import type { Channel } from '../domain/calendar/schema.ts';
import { AppError } from '../domain/errors.ts';
import { consentBlock, PENDING_STATUSES } from '../domain/timer-rules.ts';
import { parseInstant } from '../domain/time.ts';
import { findContact } from './contacts.ts';
import { loadOrgSettings } from './org-settings.ts';
import { loadContactState, lockContact, type EngineContext } from './timers/context.ts';
import { cancelMoves, MOVE_SELECT, transitionMany } from './timers/transitions.ts';

export const MAX_EVIDENCE_BYTES = 16 * 1024;
/** A capture stamped a little ahead of our clock (client clock skew) is accepted. */
const CAPTURE_SKEW_MS = 5 * 60_000;

const Instant = z.string().min(1).max(40).refine((v) => parseInstant(v) !== undefined, 'ISO-8601 instant with Z or an offset');

export const RecordConsentBody = z
  .object({
    type: z.enum(['express_written', 'express', 'none']).describe('Marketing needs express_written when the org requires consent (default)'),
    channel: z.enum(['sms', 'voice']),
    purpose: z.enum(['marketing', 'informational']),
    source: z.string().min(1).max(200).describe('Where it was captured, e.g. "web-form:signup", "paper", "ivr"'),
    capturedAt: Instant,
    evidence: z
      .record(z.string(), z.unknown())
      .refine((v) => Buffer.byteLength(JSON.stringify(v)) <= MAX_EVIDENCE_BYTES, `at most ${MAX_EVIDENCE_BYTES} bytes of JSON`)
      .optional()
      .describe('Any JSON object (≤ 16 KB): form text, IP, checkbox, recording id…'),
  })
  .strict();
export type RecordConsentInput = z.infer<typeof RecordConsentBody>;

export const RevokeConsentBody = z.object({ reason: z.string().min(1).max(500).optional() }).strict().optional();
export type RevokeConsentInput = z.infer<typeof RevokeConsentBody>;

export const ConsentViewSchema = z.object({
  id: z.uuid(),
  contactId: z.uuid(),
  type: z.enum(['express_written', 'express', 'none']),
  channel: z.enum(['sms', 'voice']),
  purpose: z.enum(['marketing', 'informational']),
  source: z.string(),
  capturedAt: z.string(),
  evidence: z.record(z.string(), z.unknown()).nullable(),
  revokedAt: z.string().nullable(),
  revokeReason: z.string().nullable(),
  createdAt: z.string(),
});
export type ConsentView = z.infer<typeof ConsentViewSchema>;

export function consentView(c: Consent): ConsentView {
  return {
    id: c.id,
    contactId: c.contactId,
    type: c.type,
    channel: c.channel,
    purpose: c.purpose,
    source: c.source,
    capturedAt: c.capturedAt.toISOString(),
    evidence: (c.evidence as Record<string, unknown> | null) ?? null,
    revokedAt: c.revokedAt?.toISOString() ?? null,
    revokeReason: c.revokeReason,
    createdAt: c.createdAt.toISOString(),
  };
}

/** The audit log keeps a hash of the evidence, not the evidence (it may hold personal data). */
function evidenceDigest(evidence: unknown): { sha256: string; bytes: number } | null {
  if (evidence === undefined || evidence === null) return null;
  const text = JSON.stringify(evidence);
  return { sha256: createHash('sha256').update(text).digest('hex'), bytes: Buffer.byteLength(text) };
}

export class ConsentService {
  constructor(private readonly ctx: EngineContext) {}

  async record(orgId: string, contactId: string, input: RecordConsentInput): Promise<ConsentView> {
    const now = this.ctx.clock.now();
    const capturedAt = parseInstant(input.capturedAt)!;
    if (capturedAt > now + CAPTURE_SKEW_MS) throw new AppError('INVALID_ARGUMENT', 'capturedAt is in the future', [{ path: 'body.capturedAt', message: 'must not be in the future' }]);
    const created = await this.ctx.prisma.$transaction(async (tx) => {
      const contact = await findContact(tx, orgId, contactId);
      await lockContact(tx, contact.id);
      const c = await tx.consent.create({
        data: {
          orgId,
          contactId: contact.id,
          type: input.type,
          channel: input.channel,
          purpose: input.purpose,
          source: input.source,
          capturedAt: new Date(capturedAt),
          createdAt: new Date(now),
          ...(input.evidence === undefined ? {} : { evidence: input.evidence as Prisma.InputJsonValue }),
        },
      });
      await this.ctx.audit.append(
        orgId,
        [
          {
            action: 'consent.recorded',
            createdAt: new Date(now),
            contactId: contact.id,
            data: { consentId: c.id, type: c.type, channel: c.channel, purpose: c.purpose, source: c.source, capturedAt: c.capturedAt.toISOString(), evidence: evidenceDigest(input.evidence) },
          },
        ],
        tx,
      );
      return c;
    }, { timeout: 30_000, maxWait: 10_000 });
    return consentView(created);
  }

  /**
   * Revokes a consent record and cancels the contact's pending marketing timers on its channel
   * that now lack the consent the org requires (NO_CONSENT). Revoking twice answers the record.
   */
  async revoke(orgId: string, contactId: string, consentId: string, input: RevokeConsentInput): Promise<ConsentView & { cancelledTimers: number }> {
    const now = this.ctx.clock.now();
    const settings = await loadOrgSettings(this.ctx.prisma, orgId, now);
    const out = await this.ctx.prisma.$transaction(async (tx) => {
      const contact = await findContact(tx, orgId, contactId);
      await lockContact(tx, contact.id);
      const c = await tx.consent.findFirst({ where: { id: consentId, orgId, contactId: contact.id } });
      if (!c) throw new AppError('NOT_FOUND', `consent ${consentId} not found`);
      if (c.revokedAt) return { c, cancelled: 0 };
      const revoked = await tx.consent.update({ where: { id: c.id }, data: { revokedAt: new Date(now), revokeReason: input?.reason ?? null } });
      const entry = {
        action: 'consent.revoked',
        createdAt: new Date(now),
        contactId: contact.id,
        data: { consentId: c.id, type: c.type, channel: c.channel, purpose: c.purpose, reason: input?.reason ?? null },
      };
      // Re-judge: the consent part of judgeTimer, for the marketing timers on this channel.
      const state = await loadContactState(tx, { orgId, contactId: contact.id, phoneE164: contact.phoneE164, journeyId: null }, settings, now, this.ctx.settings.federalDnc);
      const block = consentBlock(state.consent, c.channel as Channel, 'marketing', now);
      const pending = block
        ? await tx.timer.findMany({ where: { orgId, contactId: contact.id, channel: c.channel, purpose: 'marketing', status: { in: [...PENDING_STATUSES] } }, select: MOVE_SELECT, orderBy: { id: 'asc' } })
        : [];
      const done = await transitionMany(this.ctx, tx, block ? cancelMoves(pending, [block], now, { by: 'consent.revoked', consentId: c.id }) : [], now, [{ orgId, entry }]);
      return { c: revoked, cancelled: done.filter(Boolean).length };
    }, { timeout: 60_000, maxWait: 10_000 });
    return { ...consentView(out.c), cancelledTimers: out.cancelled };
  }

  /** `revealEvidence: false` (auditors) replaces the evidence by its digest: it may hold personal data. */
  async list(orgId: string, contactId: string, revealEvidence = true): Promise<{ items: ConsentView[] }> {
    const contact = await findContact(this.ctx.prisma, orgId, contactId);
    const rows = await this.ctx.prisma.consent.findMany({ where: { orgId, contactId: contact.id }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
    const items = rows.map(consentView);
    return { items: revealEvidence ? items : items.map((c) => ({ ...c, evidence: c.evidence === null ? null : { digest: evidenceDigest(c.evidence) } })) };
  }
}
