/**
 * The Reassigned Numbers Database over HTTP: one POST per batch of queries to a service that
 * answers them (an RND gateway in front of the FCC's API, or a stub server in tests):
 *
 *   POST <url>  { "queries": [{ "tn": "2125550123", "date": "2024-01-15" }, …] }
 *   200         { "results": [{ "tn": "2125550123", "date": "2024-01-15", "result": "yes" | "no" | "no_data" }, …] }
 *
 * Results are matched to queries by (tn, date). An answer missing, malformed or a non-2xx status
 * is an error: the caller retries the batch (a send is never judged on a guessed answer).
 * `Authorization: Bearer <token>` when a token is given. The token is never logged.
 */
import { z } from 'zod';
import { RND_ANSWERS, type RndAnswer } from '../../domain/reassigned.ts';
import type { ReassignedNumbersPort, RndQuery } from '../../app/ports.ts';

const Answer = z.object({ results: z.array(z.object({ tn: z.string(), date: z.string(), result: z.enum(RND_ANSWERS as [RndAnswer, ...RndAnswer[]]) })) });

export class HttpRnd implements ReassignedNumbersPort {
  constructor(
    private readonly url: string,
    private readonly opts: { token?: string; timeoutMs?: number } = {},
  ) {}

  async check(queries: readonly RndQuery[]): Promise<RndAnswer[]> {
    if (queries.length === 0) return [];
    const asked = queries.map((q) => ({ tn: q.phoneE164.replace(/^\+1/, ''), date: new Date(q.since).toISOString().slice(0, 10) }));
    const res = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}) },
      body: JSON.stringify({ queries: asked }),
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
    });
    if (!res.ok) throw new Error(`the Reassigned Numbers Database answered HTTP ${res.status}`);
    const parsed = Answer.safeParse(await res.json().catch(() => null));
    if (!parsed.success) throw new Error('the Reassigned Numbers Database answer is malformed');
    const by = new Map(parsed.data.results.map((r) => [`${r.tn}|${r.date}`, r.result]));
    return asked.map((a) => {
      const r = by.get(`${a.tn}|${a.date}`);
      if (r === undefined) throw new Error('the Reassigned Numbers Database answer lacks a query');
      return r;
    });
  }
}
