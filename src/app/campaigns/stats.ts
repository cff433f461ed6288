/**
 * A campaign's statistics: counts per decision, per resulting status and per reason code, and
 * histograms of the send times by the recipient's local hour (0–23), by zone and by the hour of
 * the real send instant (UTC). Each chunk
 * computes its own; the campaign's are their sum. Nothing in here depends on whether the plan was
 * a preview: a preview and the real plan of the same audience at the same instant have equal stats.
 */
import { z } from 'zod';
import { localParts } from '../../domain/time.ts';

export interface CampaignStats {
  /** Rows judged (each is a timer in a real plan). */
  rows: number;
  /** Rows that could not be planned (e.g. CONFLICT: the externalId belongs to another number). */
  errors: number;
  /** send | reschedule | cancel | suppress */
  decisions: Record<string, number>;
  /** The timers' statuses: scheduled | cancelled | suppressed */
  statuses: Record<string, number>;
  /** Each reason code once per row that has it (`ALLOWED` left out). */
  reasons: Record<string, number>;
  sendTimes: {
    /** Timers with a send time, by the recipient's local hour (index 0–23). */
    byLocalHour: number[];
    /** By the zone the local time is shown in (the zip's zone). */
    byZone: Record<string, number>;
    /** By zone, then local hour. */
    byZoneLocalHour: Record<string, number[]>;
    /** By the UTC hour the send happens in (`2026-12-09T15:00Z`): the load the engine will carry. */
    byInstantHour: Record<string, number>;
  };
}

const Counts = z.record(z.string(), z.number().int());
const Hours = z.array(z.number().int()).length(24);

export const CampaignStatsSchema = z.object({
  rows: z.number().int().describe('Rows judged (a timer each, unless a preview)'),
  errors: z.number().int().describe('Rows that could not be planned (CONFLICT)'),
  decisions: Counts.describe('Per decision: send, reschedule, cancel, suppress'),
  statuses: Counts.describe('Per resulting timer status: scheduled, cancelled, suppressed'),
  reasons: Counts.describe('Per reason code (once per row; ALLOWED left out)'),
  sendTimes: z.object({
    byLocalHour: Hours.describe('Send times by the recipient\u2019s local hour, 0–23'),
    byZone: Counts.describe('Send times by the recipient\u2019s zone'),
    byZoneLocalHour: z.record(z.string(), Hours).describe('Per zone, by local hour'),
    byInstantHour: Counts.describe('Send times by the UTC hour of the real send instant (`2026-12-09T15:00Z`)'),
  }),
});

export function emptyStats(): CampaignStats {
  return { rows: 0, errors: 0, decisions: {}, statuses: {}, reasons: {}, sendTimes: { byLocalHour: new Array<number>(24).fill(0), byZone: {}, byZoneLocalHour: {}, byInstantHour: {} } };
}

function inc(map: Record<string, number>, key: string, by = 1): void {
  map[key] = (map[key] ?? 0) + by;
}

/** One judged row's contribution. */
export interface RowOutcome {
  decision: 'send' | 'reschedule' | 'cancel' | 'suppress';
  status: 'scheduled' | 'cancelled' | 'suppressed';
  reasonCodes: readonly string[];
  /** UTC ms, for scheduled timers. */
  sendAt: number | null;
  /** The zone local times are shown in. */
  zone: string | null;
}

export function addOutcome(s: CampaignStats, o: RowOutcome): void {
  s.rows++;
  inc(s.decisions, o.decision);
  inc(s.statuses, o.status);
  for (const code of o.reasonCodes) if (code !== 'ALLOWED') inc(s.reasons, code);
  if (o.sendAt !== null && o.zone !== null) {
    const hour = Math.floor(localParts(o.sendAt, o.zone).minuteOfDay / 60);
    s.sendTimes.byLocalHour[hour]!++;
    inc(s.sendTimes.byZone, o.zone);
    const hours = (s.sendTimes.byZoneLocalHour[o.zone] ??= new Array<number>(24).fill(0));
    hours[hour]!++;
    inc(s.sendTimes.byInstantHour, instantHour(o.sendAt));
  }
}

/** `2026-12-09T15:00Z`: the UTC hour an instant falls in. */
export function instantHour(ms: number): string {
  return `${new Date(Math.floor(ms / 3_600_000) * 3_600_000).toISOString().slice(0, 13)}:00Z`;
}

/** Adds `b` into `a` (mutates and returns `a`). */
export function addStats(a: CampaignStats, b: CampaignStats): CampaignStats {
  a.rows += b.rows;
  a.errors += b.errors;
  for (const [k, v] of Object.entries(b.decisions)) inc(a.decisions, k, v);
  for (const [k, v] of Object.entries(b.statuses)) inc(a.statuses, k, v);
  for (const [k, v] of Object.entries(b.reasons)) inc(a.reasons, k, v);
  b.sendTimes.byLocalHour.forEach((n, h) => (a.sendTimes.byLocalHour[h]! += n));
  for (const [k, v] of Object.entries(b.sendTimes.byZone)) inc(a.sendTimes.byZone, k, v);
  for (const [zone, hours] of Object.entries(b.sendTimes.byZoneLocalHour)) {
    const mine = (a.sendTimes.byZoneLocalHour[zone] ??= new Array<number>(24).fill(0));
    hours.forEach((n, h) => (mine[h]! += n));
  }
  // Chunks planned before this histogram existed have none.
  for (const [k, v] of Object.entries(b.sendTimes.byInstantHour ?? {})) inc((a.sendTimes.byInstantHour ??= {}), k, v);
  return a;
}

const sortKeys = <T>(m: Record<string, T>): Record<string, T> => Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** Keys sorted, so that equal stats serialise equally. */
export function canonicalStats(s: CampaignStats): CampaignStats {
  return {
    rows: s.rows,
    errors: s.errors,
    decisions: sortKeys(s.decisions),
    statuses: sortKeys(s.statuses),
    reasons: sortKeys(s.reasons),
    sendTimes: { byLocalHour: [...s.sendTimes.byLocalHour], byZone: sortKeys(s.sendTimes.byZone), byZoneLocalHour: sortKeys(s.sendTimes.byZoneLocalHour), byInstantHour: sortKeys(s.sendTimes.byInstantHour ?? {}) },
  };
}

/** Sum of stored chunk results (`{ stats }`; skipped chunks have none). */
export function sumChunkResults(results: ReadonlyArray<unknown>): CampaignStats {
  const total = emptyStats();
  for (const r of results) {
    const stats = (r as { stats?: CampaignStats } | null)?.stats;
    if (stats) addStats(total, stats);
  }
  return canonicalStats(total);
}
