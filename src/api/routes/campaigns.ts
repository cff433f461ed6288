/** /v1/campaigns: create (inline, contact list or uploaded audience), upload, read, list, bad rows, preview, cancel. */
import { z } from 'zod';
import { audienceFormatOf, AUDIENCE_CONTENT_TYPES } from '../../app/campaigns/audience.ts';
import { CampaignService } from '../../app/campaigns/campaign-service.ts';
import {
  CampaignPageSchema,
  CampaignViewSchema,
  CreateCampaignBody,
  ListCampaignsQuery,
  ListRowErrorsQuery,
  MAX_INLINE_CONTACTS,
  MAX_UPLOAD_ROWS,
  RowErrorPageSchema,
  UploadAudienceQuery,
} from '../../app/campaigns/schemas.ts';
import type { EngineContext } from '../../app/timers/context.ts';
import { defineRoute, type RouteSpec } from '../route.ts';
import { idParams } from '../validate.ts';

const STATS_EXAMPLE = {
  rows: 3,
  errors: 0,
  decisions: { reschedule: 1, send: 2 },
  statuses: { scheduled: 3 },
  reasons: { OUTSIDE_HOURS: 1 },
  sendTimes: {
    byLocalHour: [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    byZone: { 'America/Los_Angeles': 1, 'America/New_York': 2 },
    byZoneLocalHour: {
      'America/Los_Angeles': [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      'America/New_York': [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    },
    byInstantHour: { '2026-12-09T14:00Z': 1, '2026-12-09T15:00Z': 1, '2026-12-09T18:00Z': 1 },
  },
};

const VIEW_EXAMPLE = {
  id: '3db5d0bb-3dd5-4a95-990c-64269c7255cc',
  name: 'December reminder',
  status: 'planned',
  preview: false,
  channel: 'sms',
  purpose: 'informational',
  policy: 'next_slot',
  subject: null,
  sendAt: '2026-12-09T10:00',
  sendAtKind: 'local',
  window: { start: '09:00', end: '17:00' },
  notAfter: null,
  audience: { kind: 'inline' },
  progress: { chunksDone: 1, chunksSkipped: 0, chunksTotal: 1, rows: 3, planned: 3, errors: 0 },
  stats: STATS_EXAMPLE,
  createdAt: '2026-12-08T17:00:00.000Z',
  updatedAt: '2026-12-08T17:00:01.000Z',
};

/** The audience file of the worked example, as CSV and as JSON lines (the same two contacts). */
const AUDIENCE_EXAMPLES = {
  'text/csv': 'phone,zip,externalId\n+12125550123,10001,cust-1\n+13105550123,90012,cust-2\n',
  'application/x-ndjson': '{"phone":"+12125550123","zip":"10001","externalId":"cust-1"}\n{"phone":"+13105550123","zip":"90012","externalId":"cust-2"}\n',
};

export function campaignRoutes(ctx: EngineContext): RouteSpec[] {
  const campaigns = new CampaignService(ctx);
  return [
    defineRoute({
      method: 'post',
      path: '/v1/campaigns',
      tag: 'Campaigns',
      summary: 'Create a campaign: one message to an audience, planned in chunks',
      description:
        'Every recipient gets one timer, judged like `POST /v1/timers` (calendars in each candidate zone, the org\u2019s settings, consent, suppressions, kill switches) at `sendAt`: ' +
        'a local wall time (`2026-12-03T10:00`) means 10:00 in each recipient\u2019s own (zip) zone; an instant is the same for everyone. ' +
        `The audience is inline (up to ${MAX_INLINE_CONTACTS.toLocaleString('en-US')} contacts; this route accepts bodies up to 2 MB), a contact list, or \`{ "upload": true }\`: ` +
        'the campaign then waits as a `draft` for `PUT /v1/campaigns/{id}/audience`. Planning runs in the planner workers (`npm run worker:planner`); follow it with `GET /v1/campaigns/{id}`. ' +
        'With `preview: true` nothing is scheduled: the same planning gives only the stats. Bad rows never fail the campaign: see `GET /v1/campaigns/{id}/errors`.',
      roles: ['admin', 'ops'],
      body: CreateCampaignBody,
      bodyLimit: '2mb',
      response: { status: 201, description: 'The campaign (planning, or draft while waiting for its file)', schema: CampaignViewSchema, example: { ...VIEW_EXAMPLE, status: 'planning', progress: { ...VIEW_EXAMPLE.progress, chunksDone: 0, planned: 0 } } },
      errors: [404, 413],
      example: {
        name: 'December reminder',
        channel: 'sms',
        purpose: 'informational',
        policy: 'next_slot',
        message: { body: 'Your appointment is on Thursday at 10:00. Reply STOP to opt out.' },
        sendAt: '2026-12-09T10:00',
        window: { start: '09:00', end: '17:00' },
        audience: {
          contacts: [
            { phone: '+12125550123', zip: '10001', externalId: 'cust-1' },
            { phone: '+13105550123', zip: '90012', externalId: 'cust-2' },
            { phone: '+13125550123', zip: '60601' },
          ],
        },
      },
      handler: ({ body, auth }) => campaigns.create(auth.orgId, body),
    }),
    defineRoute({
      method: 'put',
      path: '/v1/campaigns/:id/audience',
      tag: 'Campaigns',
      summary: 'Upload the audience file of a campaign created with `audience: { upload: true }`',
      description:
        `A CSV (header with \`phone\`, optional \`zip\` and \`externalId\`; other columns ignored) or JSONL file (one \`{ "phone", "zip"?, "externalId"? }\` per line) of up to ${MAX_UPLOAD_ROWS.toLocaleString('en-US')} rows, ` +
        'streamed as the raw request body (never buffered whole). Rows are validated and placed as they arrive and stored in chunks of 1,000, one planning job each. ' +
        'A bad row (bad phone or zip, a number or externalId already earlier in the file) is recorded with its line number and skipped; it never aborts the file. ' +
        'Answers once the whole file is read, with the campaign `planning`. Only a `draft` campaign takes a file; a new upload replaces one that broke off.\n\n' +
        'Example: `curl -X PUT --data-binary @contacts.csv -H "Content-Type: text/csv" "$URL/v1/campaigns/$ID/audience"` with\n\n```\nphone,zip,externalId\n+12125550123,10001,cust-1\n+13105550123,90012,cust-2\n```',
      roles: ['admin', 'ops'],
      params: idParams,
      query: UploadAudienceQuery,
      rawBody: { contentTypes: Object.keys(AUDIENCE_CONTENT_TYPES), examples: AUDIENCE_EXAMPLES },
      response: { status: 200, description: 'The campaign, planning', schema: CampaignViewSchema, example: { ...VIEW_EXAMPLE, status: 'planning', audience: { kind: 'upload', format: 'csv' }, progress: { chunksDone: 0, chunksSkipped: 0, chunksTotal: 20, rows: 20_012, planned: 0, errors: 12 } } },
      errors: [404, 409, 413],
      handler: ({ params, query, auth, req }) => campaigns.uploadAudience(auth.orgId, params.id, req, audienceFormatOf(query.format, req.get('content-type'))),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/campaigns',
      tag: 'Campaigns',
      summary: 'List campaigns (newest first)',
      description: 'Stats are shown once a campaign is planned (`GET /v1/campaigns/{id}` shows them while it plans).',
      roles: ['admin', 'ops', 'auditor'],
      query: ListCampaignsQuery,
      response: { status: 200, description: 'A page of campaigns', schema: CampaignPageSchema },
      handler: ({ query, auth }) => campaigns.list(auth.orgId, query),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/campaigns/:id',
      tag: 'Campaigns',
      summary: 'A campaign: status, progress and stats',
      description:
        'Progress: chunks planned of the total, rows read, rows planned, bad rows. Stats (the sum of the planned chunks; final once `planned`): counts per decision, per resulting status and per reason code, ' +
        'and the send times by the recipient\u2019s local hour (0–23) and by zone. The auditor\u2019s trail of each timer: `GET /v1/audit?action=timer.created` (entries carry the campaignId).',
      roles: ['admin', 'ops', 'auditor'],
      params: idParams,
      response: { status: 200, description: 'The campaign', schema: CampaignViewSchema, example: VIEW_EXAMPLE },
      errors: [404],
      handler: ({ params, auth }) => campaigns.get(auth.orgId, params.id),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/campaigns/:id/errors',
      tag: 'Campaigns',
      summary: 'Bad rows of a campaign\u2019s audience, by line',
      description: 'Codes: `INVALID_ROW`, `INVALID_PHONE`, `INVALID_ZIP`, `UNKNOWN_ZIP`, `DUPLICATE_PHONE`, `DUPLICATE_EXTERNAL_ID` (found on reading), `CONFLICT` (found on planning: the externalId belongs to another number).',
      roles: ['admin', 'ops', 'auditor'],
      params: idParams,
      query: ListRowErrorsQuery,
      response: {
        status: 200,
        description: 'A page of bad rows',
        schema: RowErrorPageSchema,
        example: { items: [{ line: 7, code: 'INVALID_PHONE', message: 'not a valid phone number' }, { line: 12, code: 'UNKNOWN_ZIP', message: 'zip 00000 is not a known US zip code' }], nextCursor: '12' },
      },
      errors: [404],
      handler: ({ params, query, auth }) => campaigns.errors(auth.orgId, params.id, query),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/campaigns/:id/preview',
      tag: 'Campaigns',
      summary: 'Preview a campaign: the whole plan, nothing scheduled',
      description:
        'Creates a preview campaign over the same audience (its chunks are copied) and plans it with the very same code and decisions, writing no timer, audit entry or job: only its stats, ' +
        'which equal those of the real plan of the same audience at the same instant. Follow it with `GET /v1/campaigns/{previewId}`.',
      roles: ['admin', 'ops'],
      params: idParams,
      response: { status: 201, description: 'The preview campaign (planning)', schema: CampaignViewSchema, example: { ...VIEW_EXAMPLE, preview: true, status: 'planning', audience: { kind: 'preview', previewOf: VIEW_EXAMPLE.id } } },
      errors: [404, 409],
      handler: ({ params, auth }) => campaigns.preview(auth.orgId, params.id),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/campaigns/:id/launch',
      tag: 'Campaigns',
      summary: 'Launch a planned preview: the real campaign over the same audience',
      description:
        'Preview first, send after: a preview campaign (`preview: true`, or one made by `POST /v1/campaigns/{id}/preview`) that is `planned` becomes a new, real campaign with the same message, timing and audience (its chunks copied, no file to upload again), ' +
        'planned and scheduled like any other and audited `campaign.created` (audience `launch`, previewOf). Its decisions are made again at its own planning instant, so they match the preview\u2019s when nothing changed in between.',
      roles: ['admin', 'ops'],
      params: idParams,
      response: { status: 201, description: 'The real campaign (planning)', schema: CampaignViewSchema, example: { ...VIEW_EXAMPLE, status: 'planning', audience: { kind: 'launch', previewOf: VIEW_EXAMPLE.id } } },
      errors: [404, 409],
      handler: ({ params, auth }) => campaigns.launch(auth.orgId, params.id),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/campaigns/:id/cancel',
      tag: 'Campaigns',
      summary: 'Cancel a campaign: stop planning and cancel its pending timers',
      description:
        'Chunks not planned yet are skipped (one being planned rolls back); every pending (scheduled/queued) timer of the campaign is cancelled (`CANCELLED_BY_REQUEST`, audited `timer.cancelled` with the campaignId), ' +
        'a page per transaction, plus `campaign.cancelled`. Cancelling again answers the campaign (and finishes a sweep that was cut short).',
      roles: ['admin', 'ops'],
      params: idParams,
      response: { status: 200, description: 'The cancelled campaign and how many timers this call cancelled', schema: CampaignViewSchema.extend({ cancelledTimers: z.number().int() }) },
      errors: [404],
      handler: ({ params, auth }) => campaigns.cancel(auth.orgId, params.id),
    }),
  ];
}
