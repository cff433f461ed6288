/**
 * Per-org settings (orgs.settings JSON), validated with defaults: consent policy, journey TTL,
 * the automatic replies to inbound texts (opt-out and opt-in confirmations, HELP), the org's own
 * calendar layer (stricter hours, caps, closed dates), its API rate limit and its outbound send
 * rate.
 */
import { z } from 'zod';
import { OrgCalendarSchema, type OrgCalendar } from '../domain/calendar/schema.ts';
import type { Prisma, PrismaClient } from '../adapters/db/client.ts';
import type { EngineContext, Tx } from './timers/context.ts';

export const DEFAULT_CONFIRMATION = 'You are unsubscribed and will get no more messages from us. Reply START to resubscribe.';

/**
 * In the reply texts (`optOutConfirmationText`, `optInConfirmationText`, `helpText`) this is
 * replaced, when the text is sent, by the org's name (orgs.name).
 */
export const ORG_NAME_PLACEHOLDER = '{org}';

/** The answer to HELP / INFO / AYUDA (CTIA: program name, how to get help, how to opt out). */
export const DEFAULT_HELP_TEXT = `${ORG_NAME_PLACEHOLDER}: for help reply to this message or visit our website. Msg&data rates may apply. Reply STOP to opt out.`;

/** The confirmation after START / UNSTOP / YES / SUBSCRIBE lifted the number's SMS opt-out. */
export const DEFAULT_OPT_IN_CONFIRMATION = `You are subscribed again to messages from ${ORG_NAME_PLACEHOLDER}. Reply STOP to opt out, HELP for help.`;

/** A reply text: 1-320 characters (two SMS segments), `{org}` allowed. */
const replyText = (what: string) =>
  z
    .string()
    .min(1)
    .max(320)
    .describe(`${what} 1-320 characters; \`${ORG_NAME_PLACEHOLDER}\` is replaced by the org's name when it is sent.`);

/**
 * Outbound sends per second (README "Throughput and smoothing"). `perSecond` bounds the whole org;
 * `perSenderPerSecond` each sending number or messaging service. The default of 1 is Twilio's
 * documented rate for a US long code (1 message segment per second; registered 10DLC numbers and
 * toll-free numbers may get more, short codes 100): raise it to what the org's sender is provisioned
 * for — for a messaging service, the sum over its numbers.
 */
export const SendRateSchema = z
  .object({
    perSecond: z.number().positive().max(10_000).default(30),
    perSenderPerSecond: z.number().positive().max(10_000).default(1),
    /** What the limits count: `messages` (a long code, calls) or `segments` (10DLC, toll-free: an SMS of 3 segments takes 3). */
    unit: z.enum(['messages', 'segments']).default('messages'),
  })
  .strict();
export const DEFAULT_SEND_RATE = { perSecond: 30, perSenderPerSecond: 1, unit: 'messages' } as const;

export const OrgSettingsSchema = z
  .object({
    /** Marketing timers need express written consent on record for the channel. */
    requireConsentForMarketing: z.boolean().default(true),
    /** Default journey lifetime in seconds (absent: the deployment's JOURNEY_TTL, 30 days). */
    journeyTtlSeconds: z.number().int().min(60).max(365 * 86_400).optional(),
    /** Send the one confirmation text the FCC permits after an opt-out. */
    optOutConfirmation: z.boolean().default(true),
    optOutConfirmationText: z.string().min(1).max(320).default(DEFAULT_CONFIRMATION),
    /** Answer HELP / INFO / AYUDA with `helpText` (at most one answer per number per 10 minutes; opted-out numbers too). */
    helpReply: z
      .boolean()
      .describe('Answer an inbound HELP / INFO / AYUDA with `helpText`: at most one answer per number per 10 minutes, opted-out numbers included (audited `help.reply_sent` / `help.reply_failed`). Turn it off when the provider already answers HELP (e.g. Twilio Advanced Opt-Out).')
      .default(true),
    helpText: replyText('The answer to HELP (CTIA: program name, how to get help, how to opt out).').default(DEFAULT_HELP_TEXT),
    /** Confirm a START that lifted the number's SMS opt-out with `optInConfirmationText`. */
    optInConfirmation: z
      .boolean()
      .describe('Send `optInConfirmationText` once when an inbound START / UNSTOP / YES / SUBSCRIBE lifts the number\'s SMS opt-out (audited `optin.confirmation_sent` / `optin.confirmation_failed`); nothing when there was no SMS opt-out to lift.')
      .default(true),
    optInConfirmationText: replyText('The confirmation of a START that lifted an SMS opt-out.').default(DEFAULT_OPT_IN_CONFIRMATION),
    /** The key a called person presses in our IVR to opt out (POST /webhooks/twilio/voice-optout). */
    voiceOptOutDigit: z.string().regex(/^[0-9*#]$/, 'one key: 0-9, * or #').default('9'),
    /** The org's own, stricter calendar layer. */
    calendar: OrgCalendarSchema.optional(),
    /** API requests per minute per key. */
    rateLimitPerMinute: z.number().int().min(1).max(1_000_000).default(600),
    /** Outbound sends per second, org-wide and per sender (the dispatcher spreads sends to fit). */
    sendRate: SendRateSchema.default({ ...DEFAULT_SEND_RATE }),
  })
  .strict();
export type OrgSettings = z.infer<typeof OrgSettingsSchema>;
type Shape = typeof OrgSettingsSchema.shape;
type PatchShape = { [K in keyof Shape]: z.ZodOptional<Shape[K] extends z.ZodDefault<infer Inner> ? Inner : Shape[K]> };
/**
 * A PATCH names only what it changes. zod's `.partial()` keeps `.default()`s, which would fill every
 * unnamed setting with its default and so reset it on merge; here the top-level defaults are dropped.
 * An object setting (`calendar`, `sendRate`) is replaced as a whole.
 */
export const OrgSettingsPatch = z
  .object(Object.fromEntries(Object.entries(OrgSettingsSchema.shape).map(([k, s]) => [k, (s instanceof z.ZodDefault ? s.unwrap() : s).optional()])) as unknown as PatchShape)
  .strict();

const cache = new WeakMap<object, Map<string, { at: number; settings: OrgSettings }>>();
const CACHE_MS = 5_000;

function parse(json: Prisma.JsonValue): OrgSettings {
  const r = OrgSettingsSchema.safeParse(json ?? {});
  // Stored settings were validated on write; a row edited by hand falls back to the safe defaults.
  return r.success ? r.data : OrgSettingsSchema.parse({});
}

/** The org's settings, cached for a few seconds per client. */
export async function loadOrgSettings(db: PrismaClient | Tx, orgId: string, now: number): Promise<OrgSettings> {
  let byOrg = cache.get(db);
  if (!byOrg) cache.set(db, (byOrg = new Map()));
  const hit = byOrg.get(orgId);
  if (hit && now - hit.at < CACHE_MS) return hit.settings;
  const org = await db.org.findUnique({ where: { id: orgId }, select: { settings: true } });
  const settings = parse(org?.settings ?? {});
  byOrg.set(orgId, { at: now, settings });
  return settings;
}

export function orgCalendarOf(settings: OrgSettings): OrgCalendar | undefined {
  return settings.calendar;
}

export async function updateOrgSettings(ctx: EngineContext, orgId: string, patch: z.infer<typeof OrgSettingsPatch>): Promise<OrgSettings> {
  const now = ctx.clock.now();
  const next = await ctx.prisma.$transaction(async (tx) => {
    const org = await tx.org.findUniqueOrThrow({ where: { id: orgId }, select: { settings: true } });
    const merged = OrgSettingsSchema.parse({ ...parse(org.settings), ...patch });
    await tx.org.update({ where: { id: orgId }, data: { settings: merged as unknown as Prisma.InputJsonValue } });
    await ctx.audit.append(orgId, [{ action: 'org.settings_updated', createdAt: new Date(now), data: { changed: Object.keys(patch).sort(), settings: merged } }], tx);
    return merged;
  });
  cache.get(ctx.prisma)?.delete(orgId);
  return next;
}
