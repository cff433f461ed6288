/**
 * The shape of a calendar file (`calendars/<jurisdiction>.json`) and of an organisation calendar.
 * Files are validated with these schemas when they are loaded; a malformed file fails loudly,
 * naming the file and the bad field (see `compileCalendarSet`).
 */
import { z } from 'zod';

export const CHANNELS = ['sms', 'voice'] as const;
export const PURPOSES = ['marketing', 'informational'] as const;
export const ChannelSchema = z.enum(CHANNELS);
export const PurposeSchema = z.enum(PURPOSES);
export type Channel = z.infer<typeof ChannelSchema>;
export type Purpose = z.infer<typeof PurposeSchema>;

/** Local wall-clock time `HH:MM`; `24:00` is allowed as the end of a range (end of day). */
export const HhMmSchema = z
  .string()
  .regex(/^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'expected a local time HH:MM (00:00–24:00)');

export function hhmmToMinutes(value: string): number {
  const [h, m] = value.split(':');
  return Number(h) * 60 + Number(m);
}

/** One allowed range `[start, end)` in local time. */
export const RangeSchema = z
  .tuple([HhMmSchema, HhMmSchema])
  .refine(([start, end]) => hhmmToMinutes(start) < hhmmToMinutes(end), {
    message: 'a range must start before it ends',
  });

/** Allowed ranges for one weekday; an empty list means no contact that day. */
const DaySchema = z.array(RangeSchema);

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export const WeeklySchema = z
  .object({ mon: DaySchema, tue: DaySchema, wed: DaySchema, thu: DaySchema, fri: DaySchema, sat: DaySchema, sun: DaySchema })
  .strict();
export type Weekly = z.infer<typeof WeeklySchema>;

export const IsoDateSchema = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date YYYY-MM-DD');

/**
 * A named holiday, computed per year by date-holidays from `rule` (its rule grammar:
 * `"12-25"`, `"3rd monday in January"`, `"easter -2"`, `"1st tuesday after 1st monday in November"` …).
 * `observance` adds the observed day as well (the actual day stays blocked: the stricter reading).
 */
export const HolidaySchema = z
  .object({
    name: z.string().min(1),
    rule: z.string().min(1),
    observance: z.enum(['none', 'sat_to_fri_sun_to_mon', 'sun_to_mon']).default('none'),
    fromYear: z.number().int().min(1900).max(2200).optional(),
    untilYear: z.number().int().min(1900).max(2200).optional(),
    note: z.string().optional(),
  })
  .strict();
export type Holiday = z.infer<typeof HolidaySchema>;

/** A rolling frequency cap: at most `count` sends in any `periodHours` window. */
export const CapSchema = z
  .object({
    count: z.number().int().min(1),
    periodHours: z.number().positive(),
    /** `subject`: only earlier sends on the same subject count; `any`: every earlier send counts. */
    scope: z.enum(['subject', 'any']),
    /** Channels whose earlier sends count toward the cap. */
    channels: z.array(ChannelSchema).min(1),
  })
  .strict();
export type Cap = z.infer<typeof CapSchema>;

export const TimeBasisSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('recipient') }).strict(),
  /** A statute that names a fixed zone (e.g. Mississippi's "Central Standard Time" = `Etc/GMT+6`). */
  z.object({ type: z.literal('fixed'), zone: z.string().min(1), statuteWording: z.string().min(1) }).strict(),
]);
export type TimeBasis = z.infer<typeof TimeBasisSchema>;

export const RuleSchema = z
  .object({
    id: z.string().regex(/^[A-Z][A-Z0-9-]*(?:\.[A-Za-z0-9-]+)*$/, 'rule ids look like "FL.hours" or "US.quiet-hours"'),
    description: z.string().min(1),
    channels: z.array(ChannelSchema).min(1),
    purposes: z.array(PurposeSchema).min(1),
    timeBasis: TimeBasisSchema.default({ type: 'recipient' }),
    /** Weekly allowed windows; absent means the rule restricts no hours (e.g. a cap-only rule). */
    weekly: WeeklySchema.optional(),
    holidays: z.array(HolidaySchema).default([]),
    caps: z.array(CapSchema).default([]),
    effectiveFrom: IsoDateSchema.optional(),
    effectiveUntil: IsoDateSchema.optional(),
    citation: z.string().min(1),
    confidence: z.enum(['high', 'medium', 'low']),
    /** Where the law is unclear: the stricter reading this rule encodes, and why. */
    stricterReading: z.string().optional(),
  })
  .strict()
  .refine((r) => r.weekly !== undefined || r.holidays.length > 0 || r.caps.length > 0, {
    message: 'a rule must restrict something: weekly windows, holidays or caps',
  })
  .refine((r) => !r.effectiveFrom || !r.effectiveUntil || r.effectiveFrom < r.effectiveUntil, {
    message: 'effectiveFrom must be before effectiveUntil',
    path: ['effectiveUntil'],
  });
export type Rule = z.infer<typeof RuleSchema>;

export const JurisdictionCodeSchema = z.string().regex(/^(?:US|[A-Z]{2})$/, 'a jurisdiction is "US" or a two-letter state/territory code');

export const CalendarFileSchema = z
  .object({
    jurisdiction: JurisdictionCodeSchema,
    name: z.string().min(1),
    kind: z.enum(['federal', 'state', 'territory']),
    notes: z.string().optional(),
    rules: z.array(RuleSchema),
  })
  .strict()
  .refine((f) => f.rules.every((r) => r.id.startsWith(`${f.jurisdiction}.`)), {
    message: 'every rule id must start with the file\'s jurisdiction code and a dot',
    path: ['rules'],
  })
  .refine((f) => (f.kind === 'federal') === (f.jurisdiction === 'US'), {
    message: 'the federal file is jurisdiction "US", and only it',
    path: ['kind'],
  });
export type CalendarFile = z.infer<typeof CalendarFileSchema>;

/** A blackout: no contact on these local dates (inclusive), optionally only in some jurisdictions. */
export const BlackoutSchema = z
  .object({
    from: IsoDateSchema,
    to: IsoDateSchema,
    jurisdictions: z.array(JurisdictionCodeSchema).optional(),
    reason: z.string().min(1),
  })
  .strict()
  .refine((b) => b.from <= b.to, { message: 'from must not be after to', path: ['to'] });

/**
 * An organisation's own, stricter layer. It can only narrow the legal window:
 * it is intersected with every legal rule, never united.
 */
export const OrgCalendarSchema = z
  .object({
    id: z.string().min(1).max(100),
    weekly: WeeklySchema.optional(),
    holidays: z.array(HolidaySchema).default([]),
    /** Extra closed dates (company holidays), local to the recipient. */
    closedDates: z.array(IsoDateSchema).default([]),
    blackouts: z.array(BlackoutSchema).default([]),
    /** Start this many minutes after every legal window opens / stop this many before it closes. */
    margins: z
      .object({ startLaterMinutes: z.number().int().min(0).max(720).default(0), stopEarlierMinutes: z.number().int().min(0).max(720).default(0) })
      .strict()
      .default({ startLaterMinutes: 0, stopEarlierMinutes: 0 }),
    caps: z.array(CapSchema).default([]),
  })
  .strict();
export type OrgCalendar = z.infer<typeof OrgCalendarSchema>;
export type OrgCalendarInput = z.input<typeof OrgCalendarSchema>;
