/**
 * The compliance auditor's tools beyond the log itself: the story of one timer, the replay of
 * recorded decisions under another calendar version, the calendar versions, and the impact of a
 * calendar change on pending timers (listed for auditors, applied by admins).
 */
import { z } from 'zod';
import { AuditReplay, ReplayBody, ReplayResultSchema } from '../../app/audit-replay.ts';
import { ApplyImpactBody, ApplyResultSchema, CalendarImpact, ImpactPageSchema, ImpactQuery } from '../../app/calendar-impact.ts';
import { CalendarVersions } from '../../app/calendar-versions.ts';
import { ExplanationSchema, TimerExplanations } from '../../app/timer-explanation.ts';
import type { EngineContext } from '../../app/timers/context.ts';
import { defineRoute, type RouteSpec } from '../route.ts';
import { idParams } from '../validate.ts';

const CalendarsSchema = z.object({
  loaded: z.object({ version: z.string(), firstSeenAt: z.string().nullable(), jurisdictions: z.array(z.string()), rules: z.number().int() }),
  versions: z.array(z.object({ version: z.string(), firstSeenAt: z.string(), files: z.number().int(), loaded: z.boolean() })),
});

export function auditorRoutes(ctx: EngineContext): RouteSpec[] {
  const explanations = new TimerExplanations(ctx);
  const replay = new AuditReplay(ctx);
  const versions = new CalendarVersions(ctx);
  const impact = new CalendarImpact(ctx);
  return [
    defineRoute({
      method: 'get',
      path: '/v1/timers/:id/explanation',
      tag: 'Audit',
      summary: 'The full story of one timer, as data and in plain words',
      description:
        'Inputs (zip, area code only, channel, purpose, policy, requested instant), the candidate locations and their sources, every rule applied with its citation, every decision and transition from the audit log in order, and `story`: the same as sentences. Never the message body or the full phone number.',
      roles: ['admin', 'ops', 'auditor'],
      params: idParams,
      response: { status: 200, description: 'The explanation', schema: ExplanationSchema },
      errors: [404],
      handler: ({ params, auth }) => explanations.explain(auth.orgId, params.id),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/audit/replay',
      tag: 'Audit',
      summary: 'Replay recorded decisions under the calendars in force at another instant',
      description:
        "For each selected timer (a campaign, up to 10,000 ids, or the timers created in a range), its `timer.created` entry's inputs and decision are judged again — same inputs, `now` = the recorded judgedAt, the recorded candidates, no contact state — under the calendar version in force at `asOf` (default: the loaded calendars). Answers the differences in decision, send instant or reason codes. Decisions that turned on the contact's state (suppression, consent, journey, caps, kill switches) are skipped, with the reason.",
      roles: ['admin', 'auditor'],
      body: ReplayBody,
      response: { status: 200, description: 'How many were compared and changed, and each difference', schema: ReplayResultSchema },
      errors: [404],
      example: { timerIds: ['8a43baca-0000-4000-8000-000000000001'] },
      handler: ({ body, auth }) => replay.replay(auth.orgId, body),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/calendars',
      tag: 'Calendars',
      summary: 'The loaded calendar version and every recorded version',
      roles: ['admin', 'auditor'],
      response: { status: 200, description: 'Versions, oldest first', schema: CalendarsSchema },
      handler: async () => {
        const loaded = versions.loaded;
        const list = await versions.list();
        return {
          loaded: {
            version: loaded.version,
            firstSeenAt: list.find((v) => v.version === loaded.version)?.firstSeenAt ?? null,
            jurisdictions: loaded.files.map((f) => f.jurisdiction),
            rules: loaded.files.reduce((n, f) => n + f.rules.length, 0),
          },
          versions: list,
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/calendars/impact',
      tag: 'Calendars',
      summary: 'Pending timers that the loaded calendars would move',
      description:
        'Pending (scheduled/queued) timers decided under another calendar version whose decision or send instant differs when judged at their requested instant under the loaded calendars rather than under the version they were decided under. Paginated (`nextCursor`); each call examines at most 10,000 timers.',
      roles: ['admin', 'auditor'],
      query: ImpactQuery,
      response: { status: 200, description: 'A page of affected timers', schema: ImpactPageSchema },
      handler: ({ query, auth }) => impact.list(auth.orgId, query),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/calendars/impact/apply',
      tag: 'Calendars',
      summary: 'Apply the loaded calendars to the affected pending timers now',
      description:
        "Judges each affected timer again now (with the contact's state, under its lock) and reschedules, cancels or suppresses it, audited (`timer.rescheduled` / `timer.cancelled` with data.reason `calendar_change`, fromVersion and toVersion), then `calendars.change_applied`.",
      roles: ['admin'],
      body: ApplyImpactBody,
      response: { status: 200, description: 'What moved', schema: ApplyResultSchema },
      example: {},
      handler: ({ body, auth }) => impact.apply(auth.orgId, body),
    }),
  ];
}
