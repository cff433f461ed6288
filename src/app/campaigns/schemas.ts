/**
 * Request and response shapes of campaigns, as zod schemas: the API validates with them and the
 * OpenAPI document is generated from them.
 */
import { z } from 'zod';
import { HhMmSchema, hhmmToMinutes } from '../../domain/calendar/schema.ts';
import { parseInstant, parseLocalWallTime } from '../../domain/time.ts';
import { ActionInput, ContactInput, VoiceInput } from '../timers/schemas.ts';
import { CampaignStatsSchema } from './stats.ts';

/** Inline audiences: at most this many contacts in the request body. */
export const MAX_INLINE_CONTACTS = 10_000;
/** Uploaded audiences: at most this many data rows (bad rows included). */
export const MAX_UPLOAD_ROWS = 1_000_000;

const LOCAL_WALL = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?$/;

/** `"2026-12-03T10:00"` (no offset: each recipient's own local time) or an ISO instant with Z or an offset. */
export type SendAtSpec = { kind: 'local'; text: string } | { kind: 'instant'; at: number };

export function parseSendAt(text: string): SendAtSpec | undefined {
  const t = text.trim();
  if (LOCAL_WALL.test(t)) return parseLocalWallTime(t, 'America/New_York') === undefined ? undefined : { kind: 'local', text: t };
  const at = parseInstant(t);
  return at === undefined ? undefined : { kind: 'instant', at };
}

const CampaignAudience = z.union([
  z.object({ contactListId: z.uuid().describe('Every member of one of the org\u2019s contact lists') }).strict(),
  z.object({ contacts: z.array(ContactInput).min(1).max(MAX_INLINE_CONTACTS).describe(`Inline, at most ${MAX_INLINE_CONTACTS.toLocaleString('en-US')}`) }).strict(),
  z.object({ upload: z.literal(true).describe('The file follows: PUT /v1/campaigns/{id}/audience') }).strict(),
]);

export const CampaignWindow = z
  .object({ start: HhMmSchema, end: HhMmSchema })
  .strict()
  .refine((w) => hhmmToMinutes(w.start) < hhmmToMinutes(w.end), { message: 'the window must start before it ends', path: ['end'] })
  .describe('Local hours in each recipient\u2019s own zone(s), intersected with every legal window');

export const CreateCampaignBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    channel: z.enum(['sms', 'voice']),
    purpose: z.enum(['marketing', 'informational']).describe('Marketing needs express written consent on record while the org requires it'),
    policy: z.enum(['cancel', 'next_slot', 'previous_slot']),
    subject: z.string().min(1).max(200).optional().describe('Caps scoped to a subject count only sends on the same subject'),
    message: z.object({ body: z.string().min(1).max(1600) }).strict().optional(),
    voice: VoiceInput.optional(),
    action: ActionInput.optional().describe("Trigger the platform's bot for each recipient instead of a Twilio send (see POST /v1/timers)"),
    sendAt: z
      .string()
      .min(1)
      .max(40)
      .refine((v) => parseSendAt(v) !== undefined, 'a local wall time like 2026-12-03T10:00 (each recipient\u2019s own zone) or an ISO-8601 instant with Z or an offset')
      .describe('`2026-12-03T10:00`: 10:00 in each recipient\u2019s own zone (the zip\u2019s); or an ISO instant (`2026-12-03T15:00:00Z`) for everyone'),
    window: CampaignWindow.optional(),
    notAfter: z.string().min(1).max(40).refine((v) => parseInstant(v) !== undefined, 'ISO-8601 instant with Z or an offset').optional().describe('next_slot never goes past it'),
    audience: CampaignAudience,
    preview: z.boolean().optional().describe('Plan everything, schedule nothing: only the stats'),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.action) {
      if (b.message) ctx.addIssue({ code: 'custom', path: ['message'], message: 'give either action or message' });
      if (b.voice) ctx.addIssue({ code: 'custom', path: ['voice'], message: 'give either action or voice' });
    } else if (b.channel === 'sms') {
      if (!b.message) ctx.addIssue({ code: 'custom', path: ['message'], message: 'an sms campaign needs message.body' });
      if (b.voice) ctx.addIssue({ code: 'custom', path: ['voice'], message: 'voice is only for channel voice' });
    } else {
      if (!b.voice) ctx.addIssue({ code: 'custom', path: ['voice'], message: 'a voice campaign needs voice.twimlUrl or voice.twiml' });
      if (b.message) ctx.addIssue({ code: 'custom', path: ['message'], message: 'message is only for channel sms' });
    }
  });
export type CreateCampaignInput = z.infer<typeof CreateCampaignBody>;

export const UploadAudienceQuery = z
  .object({
    format: z.enum(['csv', 'jsonl']).optional().describe('Default: from Content-Type (`text/csv` → csv; `application/x-ndjson`, `application/jsonl` → jsonl)'),
  })
  .strict();

export const CampaignStatusSchema = z.enum(['draft', 'planning', 'planned', 'cancelled', 'failed']);

export const ListCampaignsQuery = z
  .object({
    status: CampaignStatusSchema.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().max(200).optional(),
  })
  .strict();
export type ListCampaignsInput = z.infer<typeof ListCampaignsQuery>;

export const ListRowErrorsQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    // A line number (Postgres int4): at most 2,147,483,647, or the query would fail.
    cursor: z
      .string()
      .regex(/^\d{1,10}$/, 'use nextCursor from a previous page')
      .refine((c) => Number(c) <= 2_147_483_647, 'use nextCursor from a previous page')
      .optional(),
  })
  .strict();
export type ListRowErrorsInput = z.infer<typeof ListRowErrorsQuery>;

export const CampaignProgressSchema = z.object({
  chunksDone: z.number().int().describe('Chunks planned'),
  chunksSkipped: z.number().int().describe('Chunks not planned because the campaign was cancelled'),
  chunksTotal: z.number().int(),
  rows: z.number().int().describe('Data rows read (bad rows included)'),
  planned: z.number().int().describe('Rows judged so far (a timer each, unless a preview)'),
  errors: z.number().int().describe('Bad rows (GET /v1/campaigns/{id}/errors), found on reading or on planning'),
});

export const CampaignViewSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  status: CampaignStatusSchema.describe('draft (waiting for its audience) → planning → planned; or cancelled, failed'),
  preview: z.boolean(),
  channel: z.enum(['sms', 'voice']),
  purpose: z.enum(['marketing', 'informational']),
  policy: z.enum(['cancel', 'next_slot', 'previous_slot']),
  subject: z.string().nullable(),
  sendAt: z.string().describe('As requested: a local wall time or an instant'),
  sendAtKind: z.enum(['local', 'instant']),
  window: z.object({ start: z.string(), end: z.string() }).nullable(),
  notAfter: z.string().nullable(),
  audience: z.object({ kind: z.enum(['inline', 'upload', 'list', 'preview', 'launch']), contactListId: z.uuid().optional(), previewOf: z.uuid().optional().describe('preview: the campaign previewed; launch: the preview launched'), format: z.string().optional() }),
  progress: CampaignProgressSchema,
  stats: CampaignStatsSchema.nullable().describe('The sum of the planned chunks (final once the campaign is planned)'),
  cancelledTimers: z.number().int().optional().describe('On cancel: pending timers cancelled by this call'),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type CampaignView = z.infer<typeof CampaignViewSchema>;

export const CampaignPageSchema = z.object({ items: z.array(CampaignViewSchema), nextCursor: z.string().nullable() });

export const RowErrorSchema = z.object({ line: z.number().int().describe('1-based line in the file (the CSV header is line 1); for inline contacts, the 1-based position in the array'), code: z.string(), message: z.string() });
export const RowErrorPageSchema = z.object({ items: z.array(RowErrorSchema), nextCursor: z.string().nullable() });
