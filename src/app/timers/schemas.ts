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

/**
 * Instead of a text or a call through Twilio: a signed POST to the platform, which starts its own
 * chat or voice bot (the timer's channel says which). The URL's origin must be one of the org's
 * webhook endpoints' (its secret signs the call); `payload` is handed over as given.
 */
export const ActionInput = z
  .object({
    webhook: z
      .object({
        url: z.url({ protocol: /^https?$/ }).max(2000),
        payload: z.record(z.string(), z.unknown()).optional().describe('Any JSON object (at most 8 KB), passed to the platform as `payload`'),
      })
      .strict()
      .refine((w) => w.payload === undefined || JSON.stringify(w.payload).length <= 8192, { message: 'payload is larger than 8 KB', path: ['payload'] }),
  })
  .strict();

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
    action: ActionInput.optional().describe('Trigger the platform (a bot) instead of sending through Twilio: judged like any send, counted by the caps of its channel'),
    journeyId: z.uuid().optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    if ((b.contact === undefined) === (b.contactId === undefined)) ctx.addIssue({ code: 'custom', path: ['contact'], message: 'give exactly one of contact or contactId' });
    if (b.action) {
      if (b.message) ctx.addIssue({ code: 'custom', path: ['message'], message: 'give either action or message' });
      if (b.voice) ctx.addIssue({ code: 'custom', path: ['voice'], message: 'give either action or voice' });
    } else if (b.channel === 'sms') {
      if (!b.message) ctx.addIssue({ code: 'custom', path: ['message'], message: 'an sms timer needs message.body' });
      if (b.voice) ctx.addIssue({ code: 'custom', path: ['voice'], message: 'voice is only for channel voice' });
    } else {
      if (!b.voice) ctx.addIssue({ code: 'custom', path: ['voice'], message: 'a voice timer needs voice.twimlUrl or voice.twiml' });
      if (b.message) ctx.addIssue({ code: 'custom', path: ['message'], message: 'message is only for channel sms' });
    }
  });
export type CreateTimerInput = z.infer<typeof CreateTimerBody>;

/** An Idempotency-Key (the header of POST /v1/timers, the `idempotencyKey` of a batch item). */
export const IdempotencyKey = z.string().min(1).max(255).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');

/** Most timers in one POST /v1/timers/batch. */
export const MAX_BATCH_TIMERS = 1000;

/** POST /v1/timers/batch as validated by the route: the envelope; each item is validated on its own (BatchItem). */
export const CreateTimersBatchBody = z.object({ items: z.array(z.unknown()).min(1).max(MAX_BATCH_TIMERS) }).strict();

/** One item of a batch: a timer's body (as POST /v1/timers takes it) and its own idempotency key. */
export const BatchItemDoc = z.intersection(
  CreateTimerBody,
  z.object({ idempotencyKey: IdempotencyKey.optional().describe('Same key + same item replays the first answer (status 200); same key + another item → 422') }),
);
export const CreateTimersBatchDoc = z.object({ items: z.array(BatchItemDoc).min(1).max(MAX_BATCH_TIMERS) }).strict();

export const TimerStatusSchema = z.enum(TIMER_STATUSES);

export const ListTimersQuery = z
  .object({
    status: TimerStatusSchema.optional(),
    contactId: z.uuid().optional(),
    journeyId: z.uuid().optional(),
    campaignId: z.uuid().optional(),
    phone: z.string().min(3).max(40).optional().describe("Any form of the contact's number; matched by its sha256 (contacts.phone_hash), never stored or echoed"),
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
  segments: z.number().int().nullable().describe('SMS segments of the body (GSM-7: 160, or 153 each when concatenated; UCS-2: 70 / 67); null for calls'),
  federalDnc: z
    .object({
      copyId: z.uuid().nullable().describe('The registry copy used (null: none covers the area code)'),
      asOf: z.string().nullable().describe("The copy's registry date"),
      listed: z.boolean(),
      outcome: z.enum(['not_listed', 'listed', 'exempt_informational', 'exempt_consent', 'stale', 'no_copy']),
    })
    .nullable()
    .describe('The National Do-Not-Call Registry check of the latest judgement (null: not checked: FEDERAL_DNC=off, or the contact state decided first)'),
  reassigned: z
    .object({
      since: z.string().describe('The date asked about: the capture of the consent the send relies on'),
      answer: z.enum(['yes', 'no', 'no_data']),
      checkedAt: z.string(),
      cached: z.boolean(),
      safeHarbor: z.boolean().describe('47 CFR 64.1200(m): the database was checked and answered no'),
    })
    .nullable()
    .describe('The Reassigned Numbers Database check at fire time (null: not asked: no RND_SOURCE, or the send relies on no consent)'),
  attempts: z.number().int(),
  providerId: z.string().nullable(),
  sentAt: z.string().nullable(),
  lastError: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type TimerView = z.infer<typeof TimerViewSchema>;

/** One item's answer in a batch: 201 created, 200 replayed, or its error's HTTP status and error. */
export const BatchItemResult = z.object({
  index: z.number().int().describe('Position of the item in `items`'),
  status: z.number().int().describe('201 created, 200 replayed by its idempotency key, or the HTTP status its error would have on POST /v1/timers'),
  timer: TimerViewSchema.optional(),
  replayed: z.boolean().optional(),
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }).optional(),
});
export const CreateTimersBatchResult = z.object({
  results: z.array(BatchItemResult),
  created: z.number().int(),
  replayed: z.number().int(),
  failed: z.number().int(),
});
