/**
 * Request and response shapes of the timers use cases, as zod schemas: the API validates with
 * them and the OpenAPI document is generated from them.
 */
import { z } from 'zod';
import { TIMER_STATUSES } from '../../domain/timer-rules.ts';

const IsoInstant = z.string().min(1).max(40).describe('ISO-8601 instant with Z or an offset, e.g. 2026-12-07T15:00:00Z');

export const ContactInput = z
  .object({
    phone: z.string().min(1).max(32).describe('Phone number; US numbers may omit +1'),
    zip: z.string().min(1).max(10).optional().describe('5-digit ZIP (ZIP+4 accepted)'),
    externalId: z.string().min(1).max(200).optional(),
  })
  .strict();

export const VoiceInput = z.union([
  z.object({ twimlUrl: z.url({ protocol: /^https?$/ }).max(2000) }).strict(),
  z.object({ twiml: z.string().min(1).max(4000) }).strict(),
]);

export const CreateTimerBody = z
  .object({
    contact: ContactInput.optional(),
    contactId: z.uuid().optional(),
    channel: z.enum(['sms', 'voice']),
    at: IsoInstant,
    policy: z.enum(['cancel', 'next_slot', 'previous_slot']),
    purpose: z.enum(['marketing', 'informational']).default('marketing').describe('Default marketing: the stricter rules apply'),
    notAfter: IsoInstant.optional(),
    subject: z.string().min(1).max(200).optional().describe('Caps scoped to a subject count only sends on the same subject'),
    message: z.object({ body: z.string().min(1).max(1600) }).strict().optional(),
    voice: VoiceInput.optional(),
    journeyId: z.uuid().optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    if ((b.contact === undefined) === (b.contactId === undefined)) ctx.addIssue({ code: 'custom', path: ['contact'], message: 'give exactly one of contact or contactId' });
    if (b.channel === 'sms') {
      if (!b.message) ctx.addIssue({ code: 'custom', path: ['message'], message: 'an sms timer needs message.body' });
      if (b.voice) ctx.addIssue({ code: 'custom', path: ['voice'], message: 'voice is only for channel voice' });
    } else {
      if (!b.voice) ctx.addIssue({ code: 'custom', path: ['voice'], message: 'a voice timer needs voice.twimlUrl or voice.twiml' });
      if (b.message) ctx.addIssue({ code: 'custom', path: ['message'], message: 'message is only for channel sms' });
    }
  });
export type CreateTimerInput = z.infer<typeof CreateTimerBody>;

export const TimerStatusSchema = z.enum(TIMER_STATUSES);

export const ListTimersQuery = z
  .object({
    status: TimerStatusSchema.optional(),
    contactId: z.uuid().optional(),
    journeyId: z.uuid().optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().max(200).optional(),
  })
  .strict();
export type ListTimersInput = z.infer<typeof ListTimersQuery>;

export const ReasonSchema = z.object({
  code: z.string(),
  rule: z.string().nullable(),
  citation: z.string().nullable(),
  jurisdiction: z.string().nullable(),
  timezone: z.string().nullable(),
  local: z.string().nullable(),
  message: z.string(),
});

export const TimerViewSchema = z.object({
  id: z.uuid(),
  status: TimerStatusSchema,
  channel: z.enum(['sms', 'voice']),
  purpose: z.enum(['marketing', 'informational']),
  policy: z.enum(['cancel', 'next_slot', 'previous_slot']),
  contactId: z.uuid(),
  journeyId: z.uuid().nullable(),
  subject: z.string().nullable(),
  requestedAt: z.string(),
  decision: z.enum(['send', 'reschedule', 'cancel']),
  sendAt: z.string().nullable(),
  localSendAt: z.string().nullable(),
  notAfter: z.string().nullable(),
  reasons: z.array(ReasonSchema),
  calendarVersion: z.string(),
  attempts: z.number().int(),
  providerId: z.string().nullable(),
  sentAt: z.string().nullable(),
  lastError: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type TimerView = z.infer<typeof TimerViewSchema>;
