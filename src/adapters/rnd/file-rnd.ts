/**
 * The Reassigned Numbers Database from a local file: permanent disconnects as the FCC's database
 * holds them, one `number,YYYY-MM-DD` line per disconnect (10 digits or E.164; a number may have
 * several lines, the latest counts; blank lines and a first line without digits are skipped).
 * For deployments that receive the data in bulk, and for tests. Read once, when constructed.
 *
 * Answers as the database does: `no_data` for a date before its data (2021-01-27), `yes` when
 * the number's latest disconnect is on or after the date, `no` otherwise.
 */
import { readFileSync } from 'node:fs';
import { RND_DATA_START, type RndAnswer } from '../../domain/reassigned.ts';
import type { ReassignedNumbersPort, RndQuery } from '../../app/ports.ts';

const LINE = /^\s*\+?1?([2-9]\d{2}[2-9]\d{6})\s*,\s*(\d{4}-\d{2}-\d{2})\s*$/;

export class FileRnd implements ReassignedNumbersPort {
  private readonly disconnects = new Map<string, number>();

  constructor(path: string) {
    const lines = readFileSync(path, 'utf8').split('\n');
    lines.forEach((raw, i) => {
      if (raw.trim() === '' || (i === 0 && !/\d/.test(raw))) return;
      const m = LINE.exec(raw);
      const at = m ? Date.parse(`${m[2]}T00:00:00Z`) : NaN;
      if (!m || Number.isNaN(at)) throw new Error(`${path} line ${i + 1}: expected "number,YYYY-MM-DD"`);
      const prev = this.disconnects.get(m[1]!);
      if (prev === undefined || at > prev) this.disconnects.set(m[1]!, at);
    });
  }

  async check(queries: readonly RndQuery[]): Promise<RndAnswer[]> {
    return queries.map((q) => {
      const day = Math.floor(q.since / 86_400_000) * 86_400_000;
      if (day < RND_DATA_START) return 'no_data';
      const at = this.disconnects.get(q.phoneE164.replace(/^\+1/, ''));
      return at !== undefined && at >= day ? 'yes' : 'no';
    });
  }
}
