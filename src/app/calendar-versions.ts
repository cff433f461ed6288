/**
 * Calendar versions: every calendar set a process loads is recorded in `calendar_versions`
 * (version → the files as loaded, first seen at), so that a decision recorded under any version
 * can be judged again under it, or under the set that was in force at any instant (replay,
 * calendar-change impact). Stored sets are compiled on demand with compileCalendarSet and kept
 * compiled (a few, by version).
 */
import { DEFAULT_CALENDAR_DIR, readCalendarFiles } from '../adapters/calendars/fs-loader.ts';
import type { PrismaClient } from '../adapters/db/client.ts';
import { compileCalendarSet, type CalendarSet } from '../domain/calendar/compile.ts';
import { AppError } from '../domain/errors.ts';
import type { EngineContext } from './timers/context.ts';

/** The raw files (name → content) of sets loaded from disk, as they were read. */
const filesOfSet = new WeakMap<CalendarSet, Record<string, unknown>>();

/** Reads and compiles a calendar directory, remembering the raw files for `recordCalendarVersion`. */
export function loadCalendars(dir: string = DEFAULT_CALENDAR_DIR): CalendarSet {
  const files = readCalendarFiles(dir);
  const set = compileCalendarSet(files);
  filesOfSet.set(set, Object.fromEntries(files.map((f) => [f.name, f.content])));
  return set;
}

/** The files of a set: as read from disk when known, else its validated files by jurisdiction. */
export function calendarFilesOf(set: CalendarSet): Record<string, unknown> {
  return filesOfSet.get(set) ?? Object.fromEntries(set.files.map((f) => [`${f.jurisdiction}.json`, f]));
}

/** Compiles stored files: name → content (as recorded here), or a list of { name, content }. */
export function compileStoredFiles(stored: unknown): CalendarSet {
  const files: Record<string, unknown> = Array.isArray(stored)
    ? Object.fromEntries((stored as Array<{ name: string; content: unknown }>).map((f) => [f.name, f.content]))
    : (stored as Record<string, unknown>);
  const list = Object.entries(files)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, content]) => ({ name, content }));
  const set = compileCalendarSet(list);
  filesOfSet.set(set, files);
  return set;
}

/** Records a set (idempotent: the first sighting of a version is kept). */
export async function recordCalendarVersion(prisma: PrismaClient, set: CalendarSet, firstSeenAt: Date): Promise<void> {
  const files = JSON.stringify(calendarFilesOf(set));
  await prisma.$executeRaw`INSERT INTO calendar_versions (version, files, first_seen_at) VALUES (${set.version}, ${files}::jsonb, ${firstSeenAt}) ON CONFLICT (version) DO NOTHING`;
}

/** Versions recorded by this process, per client (so the insert runs once per version). */
const recorded = new WeakMap<object, Map<string, Promise<void>>>();

/** Records the context's loaded set once per process and version; failures are retried on the next call. */
export function ensureLoadedRecorded(ctx: Pick<EngineContext, 'prisma' | 'calendars' | 'clock'>): Promise<void> {
  const set = ctx.calendars();
  let mine = recorded.get(ctx.prisma);
  if (!mine) recorded.set(ctx.prisma, (mine = new Map()));
  let p = mine.get(set.version);
  if (!p) {
    p = recordCalendarVersion(ctx.prisma, set, new Date(ctx.clock.now()));
    p.catch(() => mine.delete(set.version));
    mine.set(set.version, p);
  }
  return p;
}

/** At boot: record the loaded set in the background (a database not migrated yet only logs a warning). */
export function recordCalendarsAtBoot(ctx: Pick<EngineContext, 'prisma' | 'calendars' | 'clock' | 'log'>): void {
  ensureLoadedRecorded(ctx).catch((err: Error) => ctx.log.warn({ err: err.message }, 'could not record the calendar version; it will be recorded when first needed'));
}

/** Compiled stored sets by version (bounded; most recently used last). */
const compiled = new Map<string, CalendarSet>();
const COMPILED_MAX = 8;

export interface CalendarVersionInfo {
  version: string;
  firstSeenAt: string;
  files: number;
  loaded: boolean;
}

export class CalendarVersions {
  constructor(private readonly ctx: EngineContext) {}

  get loaded(): CalendarSet {
    return this.ctx.calendars();
  }

  /** The set recorded as `version` (the loaded one without a read); null if never recorded. */
  async byVersion(version: string): Promise<CalendarSet | null> {
    const loaded = this.loaded;
    if (version === loaded.version) return loaded;
    const hit = compiled.get(version);
    if (hit) {
      compiled.delete(version);
      compiled.set(version, hit);
      return hit;
    }
    const row = await this.ctx.prisma.calendarVersion.findUnique({ where: { version }, select: { files: true } });
    if (!row) return null;
    const set = compileStoredFiles(row.files);
    compiled.set(version, set);
    if (compiled.size > COMPILED_MAX) compiled.delete(compiled.keys().next().value!);
    return set;
  }

  /** The set in force at `asOf`: the latest version first seen at or before it. */
  async inForceAt(asOf: number): Promise<{ set: CalendarSet; version: string; firstSeenAt: string }> {
    await ensureLoadedRecorded(this.ctx);
    const row = await this.ctx.prisma.calendarVersion.findFirst({
      where: { firstSeenAt: { lte: new Date(asOf) } },
      orderBy: [{ firstSeenAt: 'desc' }, { version: 'desc' }],
      select: { version: true, firstSeenAt: true },
    });
    if (!row) throw new AppError('NOT_FOUND', `no calendar version was recorded at or before ${new Date(asOf).toISOString()}`);
    const set = await this.byVersion(row.version);
    if (!set) throw new AppError('NOT_FOUND', `calendar version ${row.version} is not recorded`);
    return { set, version: row.version, firstSeenAt: row.firstSeenAt.toISOString() };
  }

  /** Every recorded version (without the files), oldest first. */
  async list(): Promise<CalendarVersionInfo[]> {
    await ensureLoadedRecorded(this.ctx).catch(() => undefined);
    const rows = await this.ctx.prisma.$queryRaw<Array<{ version: string; first_seen_at: Date; files: number }>>`
      SELECT version, first_seen_at, (CASE jsonb_typeof(files) WHEN 'object' THEN (SELECT count(*) FROM jsonb_object_keys(files)) WHEN 'array' THEN jsonb_array_length(files) ELSE 0 END)::int AS files FROM calendar_versions ORDER BY first_seen_at, version`;
    const loaded = this.loaded.version;
    return rows.map((r) => ({ version: r.version, firstSeenAt: r.first_seen_at.toISOString(), files: r.files, loaded: r.version === loaded }));
  }
}
