/**
 * The web console at /console: server-rendered pages over the API (src/console/pages.ts), for
 * marketing ops and compliance auditors, and bull-board for admins at /console/queues.
 *
 * Sign-in takes an API key (checked as the API checks it) and keeps it sealed in an HttpOnly,
 * SameSite=Strict cookie (session.ts). Every write is a POST carrying the session's CSRF token;
 * one without it is refused (403) before anything is read from its body. What each page offers
 * follows the key's role through the API's own route declarations (`may`), and every call the
 * pages make is an API call with the key, so the API's rules apply unchanged.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import busboy from 'busboy';
import { Queue } from 'bullmq';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { authenticateApiKey, type AuthContext } from '../adapters/auth/api-keys.ts';
import type { PrismaClient } from '../adapters/db/client.ts';
import type { Logger } from '../adapters/log.ts';
import type { RedisClient } from '../adapters/queue/connection.ts';
import { bullPrefix, QUEUES } from '../adapters/queue/keys.ts';
import type { RouteSpec } from '../api/route.ts';
import { ApiClient, queryOf, type ApiAnswer } from './api-client.ts';
import { html, page, type NavItem } from './html.ts';
import * as pages from './pages.ts';
import { Sessions, type Session } from './session.ts';

export interface ConsoleOptions {
  prisma: PrismaClient;
  /** The API's route declarations: the authorization matrix the console follows. */
  routes: readonly RouteSpec[];
  /** Seals session cookies; without TCPA_SECRET_KEY a random key per process (sessions end on restart). */
  secretKey?: Buffer;
  redis: RedisClient;
  queuePrefix: string;
  log: Logger;
  now: () => number;
}

/** The console's sections, each shown to the roles that may call the route behind it. */
const SECTIONS: ReadonlyArray<NavItem & { needs: readonly [string, string] | 'admin' }> = [
  { href: '/console/campaigns', label: 'Campaigns', needs: ['get', '/v1/campaigns'] },
  { href: '/console/timers', label: 'Timers', needs: ['get', '/v1/timers'] },
  { href: '/console/audit', label: 'Audit log', needs: ['get', '/v1/audit'] },
  { href: '/console/compliance', label: 'Compliance', needs: ['get', '/v1/suppressions'] },
  // Bull-board can retry and remove jobs: operators of the deployment only.
  { href: '/console/queues', label: 'Queues', needs: 'admin' },
];

const ASSETS = fileURLToPath(new URL('./assets/', import.meta.url));
const CSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

interface Signed {
  session: Session;
  auth: AuthContext;
  ctx: pages.PageContext;
}

export function consoleRouter(opts: ConsoleOptions): Router {
  const sessions = new Sessions(opts.secretKey ?? randomBytes(32), opts.now);
  const allowed = new Set(opts.routes.flatMap((r) => r.roles.map((role) => `${role} ${r.method} ${r.path}`)));
  const may = (role: string, method: string, path: string) => allowed.has(`${role} ${method} ${path}`);
  const visible = (role: string, s: (typeof SECTIONS)[number]) => (s.needs === 'admin' ? role === 'admin' : may(role, s.needs[0], s.needs[1]));
  const router = express.Router();

  router.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Frame-Options', 'DENY');
    // same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on form posts.
    res.setHeader('Referrer-Policy', 'same-origin');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    next();
  });
  // The two assets, read once.
  const assets = new Map(['console.css', 'console.js'].map((f) => [f, readFileSync(`${ASSETS}${f}`)] as const));
  router.get('/assets/:file', (req, res) => {
    const file = String(req.params['file']);
    const body = assets.get(file);
    if (!body) return void res.status(404).end();
    res.type(file.endsWith('.css') ? 'text/css' : 'text/javascript').send(body);
  });

  const send = (res: Response, s: Signed | null, r: pages.Rendered, current?: string) => {
    res.setHeader('Content-Security-Policy', CSP);
    const nav = s ? SECTIONS.filter((x) => visible(s.auth.role, x)).map(({ href, label }) => ({ href, label })) : [];
    res.status(r.status ?? 200).type('html').send(page({ title: r.title, body: r.body, nav, ...(current ? { current } : {}), ...(s ? { who: { role: s.auth.role, orgId: s.auth.orgId, csrf: s.ctx.csrf } } : {}) }));
  };

  /** An API refusal of a console write, shown on a page of `section`. */
  const refused = (res: Response, s: Signed, title: string, a: ApiAnswer<unknown>, section: string, back?: string) =>
    send(res, s, { title, status: a.status, body: html`<p class="notice error" role="alert">${pages.errorText(a)}</p>${back ? html`<p><a href="${back}">Back</a></p>` : ''}` }, section);

  /** The signed-in session, or a redirect to the sign-in page. */
  const signed = async (req: Request, res: Response): Promise<Signed | null> => {
    const session = sessions.read(req);
    const auth = session ? await authenticateApiKey(opts.prisma, session.key, { now: new Date(opts.now()) }) : null;
    if (!session || !auth) {
      if (session) sessions.clear(res, req);
      res.redirect(303, `/console/sign-in${req.method === 'GET' ? queryOf({ next: req.originalUrl }) : ''}`);
      return null;
    }
    const ctx: pages.PageContext = { api: ApiClient.forRequest(req, session.key), role: auth.role, csrf: sessions.csrf(session), may: (m, p) => may(auth.role, m, p) };
    return { session, auth, ctx };
  };

  /** A page (GET) for signed-in keys whose role sees `section`. */
  const view = (section: string, fn: (s: Signed, req: Request) => Promise<pages.Rendered>): RequestHandler => (req, res, next) => {
    void (async () => {
      const s = await signed(req, res);
      if (!s) return;
      const sec = SECTIONS.find((x) => x.href === section)!;
      if (!visible(s.auth.role, sec)) return send(res, s, { title: 'Not for this role', status: 403, body: html`<p class="notice error" role="alert">A ${s.auth.role} key may not open ${sec.label}.</p>` }, section);
      send(res, s, await fn(s, req), section);
    })().catch(next);
  };

  /** A write (POST, urlencoded form): refused without the session's CSRF token. */
  const write = (fn: (s: Signed, form: Record<string, string>, req: Request, res: Response) => Promise<void>): RequestHandler[] => [
    express.urlencoded({ extended: false, limit: '1mb', parameterLimit: 100 }),
    (req, res, next) => {
      void (async () => {
        const s = await signed(req, res);
        if (!s) return;
        const form = (req.body ?? {}) as Record<string, string>;
        if (!sessions.csrfOk(s.session, form['_csrf'] ?? req.get('x-csrf-token'))) return csrfRefused(res);
        await fn(s, form, req, res);
      })().catch(next);
    },
  ];

  // --- Sign in and out -----------------------------------------------------------------------

  const signInPage = (res: Response, next: string, error?: string, status = 200) => {
    send(res, null, {
      title: 'Sign in',
      status,
      body: html`${error ? html`<p class="notice error" role="alert">${error}</p>` : ''}
<form method="post" action="/console/sign-in" class="signin">
<input type="hidden" name="next" value="${next}">
<label>API key <input name="key" type="password" autocomplete="off" required autofocus aria-describedby="key-help"></label>
<small id="key-help">Create one with <code>npm run -s tcpa -- keys create --org acme --role ops</code>. It is kept sealed in a cookie of this browser for 8 hours; what you see follows its role.</small>
<button type="submit">Sign in</button>
</form>`,
    });
  };
  const safeNext = (v: unknown) => (typeof v === 'string' && /^\/console(\/|$|\?)/.test(v) && !v.startsWith('/console/sign-') ? v : '/console');

  router.get('/sign-in', (req, res) => signInPage(res, safeNext(req.query['next'])));
  router.post('/sign-in', express.urlencoded({ extended: false, limit: '8kb', parameterLimit: 10 }), (req, res, next) => {
    void (async () => {
      // A sign-in is only taken from a page of this server (no cross-site login).
      if (!sameOrigin(req, true)) return csrfRefused(res);
      const form = (req.body ?? {}) as Record<string, string>;
      const key = String(form['key'] ?? '').trim();
      const auth = key ? await authenticateApiKey(opts.prisma, key, { now: new Date(opts.now()) }) : null;
      if (!auth) return signInPage(res, safeNext(form['next']), 'That key is not valid (or was revoked).', 401);
      sessions.issue(res, req, key);
      opts.log.info({ orgId: auth.orgId, keyId: auth.keyId, role: auth.role }, 'console sign-in');
      res.redirect(303, safeNext(form['next']));
    })().catch(next);
  });
  router.post('/sign-out', ...write(async (_s, _f, req, res) => {
    sessions.clear(res, req);
    res.redirect(303, '/console/sign-in');
  }));

  router.get('/', (req, res, next) => {
    void (async () => {
      const s = await signed(req, res);
      if (!s) return;
      res.redirect(303, SECTIONS.find((x) => visible(s.auth.role, x))?.href ?? '/console/sign-in');
    })().catch(next);
  });

  // --- Campaigns -----------------------------------------------------------------------------

  router.get('/campaigns', view('/console/campaigns', (s) => pages.campaignsPage(s.ctx)));
  router.post('/campaigns', (req, res, next) => {
    void (async () => {
      const s = await signed(req, res);
      if (!s) return;
      await createFromCsv(s, req, res, (form) => send(res, s, form, '/console/campaigns'));
    })().catch(next);
  });
  router.get('/campaigns/:id', view('/console/campaigns', (s, req) => pages.campaignPage(s.ctx, String(req.params['id']))));
  router.get('/campaigns/:id/cancel', view('/console/campaigns', (s, req) => pages.cancelConfirmPage(s.ctx, String(req.params['id']))));
  router.post('/campaigns/:id/launch', ...write(async (s, _f, req, res) => {
    const a = await s.ctx.api.json<{ id: string }>('POST', `/v1/campaigns/${encodeURIComponent(String(req.params['id']))}/launch`);
    if (a.status !== 201) return refused(res, s, 'Launch failed', a, '/console/campaigns');
    res.redirect(303, `/console/campaigns/${a.body.id}`);
  }));
  router.post('/campaigns/:id/cancel', ...write(async (s, _f, req, res) => {
    const id = encodeURIComponent(String(req.params['id']));
    const a = await s.ctx.api.json('POST', `/v1/campaigns/${id}/cancel`);
    if (a.status !== 200) return refused(res, s, 'Cancel failed', a, '/console/campaigns');
    res.redirect(303, `/console/campaigns/${id}`);
  }));

  /**
   * A campaign from the form and its CSV file: the fields (CSRF token first) create a preview
   * campaign waiting for its file, and the file is streamed on to its audience upload.
   */
  async function createFromCsv(s: Signed, req: Request, res: Response, fail: (r: pages.Rendered) => void): Promise<void> {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { files: 1, fields: 50, fieldSize: 10_000, fileSize: 200 * 1024 * 1024 } });
    } catch {
      return fail(await pages.campaignsPage(s.ctx, { values: {}, error: 'Send the form as multipart/form-data, with the CSV file last.' }));
    }
    const fields: Record<string, string> = {};
    let handled = false;
    const done = new Promise<void>((resolve, reject) => {
      bb.on('field', (name, value) => {
        fields[name] = value;
      });
      bb.on('file', (_name, file, info) => {
        handled = true;
        void (async () => {
          if (!sessions.csrfOk(s.session, fields['_csrf'])) {
            file.resume();
            return csrfRefused(res);
          }
          const created = await s.ctx.api.json<{ id: string }>('POST', '/v1/campaigns', pages.campaignBodyOf(fields));
          if (created.status !== 201) {
            file.resume();
            return fail(await pages.campaignsPage(s.ctx, { values: fields, error: pages.errorText(created) }));
          }
          const type = (info.filename ?? '').toLowerCase().endsWith('.jsonl') ? 'application/x-ndjson' : 'text/csv';
          const up = await s.ctx.api.stream('PUT', `/v1/campaigns/${created.body.id}/audience`, Readable.from(file), type);
          if (up.status !== 200) return fail(await pages.campaignsPage(s.ctx, { values: fields, error: `The file was refused: ${pages.errorText(up)}` }));
          res.redirect(303, `/console/campaigns/${created.body.id}`);
        })().then(resolve, reject);
      });
      bb.on('close', () => {
        if (!handled) {
          if (!sessions.csrfOk(s.session, fields['_csrf'])) return resolve(csrfRefused(res));
          void pages.campaignsPage(s.ctx, { values: fields, error: 'Choose the audience file (CSV).' }).then(fail).then(resolve, reject);
        }
      });
      bb.on('error', reject);
    });
    req.pipe(bb);
    await done;
  }

  // --- Timers --------------------------------------------------------------------------------

  router.get('/timers', view('/console/timers', (s, req) => pages.timersPage(s.ctx, stringQuery(req))));
  router.get('/timers/:id', view('/console/timers', (s, req) => pages.timerPage(s.ctx, String(req.params['id']))));
  router.post('/timers/:id/cancel', ...write(async (s, _f, req, res) => {
    const id = encodeURIComponent(String(req.params['id']));
    const a = await s.ctx.api.json('DELETE', `/v1/timers/${id}`);
    if (a.status !== 200) return refused(res, s, 'Cancel failed', a, '/console/timers');
    res.redirect(303, `/console/timers/${id}`);
  }));

  // --- Audit ---------------------------------------------------------------------------------

  router.get('/audit', view('/console/audit', (s, req) => pages.auditPage(s.ctx, stringQuery(req), req.query['verify'] === '1')));
  router.get('/audit/export', (req, res, next) => {
    void (async () => {
      const s = await signed(req, res);
      if (!s) return;
      const q = stringQuery(req);
      const upstream = await s.ctx.api.raw(`/v1/audit/export${queryOf({ ...pages.auditFilters(q), format: q['format'] === 'csv' ? 'csv' : 'jsonl' })}`);
      res.status(upstream.status);
      for (const h of ['content-type', 'content-disposition']) {
        const v = upstream.headers.get(h);
        if (v) res.setHeader(h, v);
      }
      if (!upstream.body) return void res.end();
      Readable.fromWeb(upstream.body as import('node:stream/web').ReadableStream).pipe(res);
    })().catch(next);
  });

  // --- Compliance controls -------------------------------------------------------------------

  router.get('/compliance', view('/console/compliance', (s) => pages.compliancePage(s.ctx)));
  const afterWrite = (path: string, okStatus: number) => async (s: Signed, a: Awaited<ReturnType<ApiClient['json']>>, res: Response) => {
    if (a.status !== okStatus) return refused(res, s, 'Not saved', a, path, path);
    res.redirect(303, path);
  };
  const backToCompliance = (ok: number) => afterWrite('/console/compliance', ok);
  router.post('/compliance/suppressions', ...write(async (s, f, _req, res) => backToCompliance(201)(s, await s.ctx.api.json('POST', '/v1/suppressions', pages.suppressionBodyOf(f)), res)));
  router.post('/compliance/suppressions/:id/lift', ...write(async (s, _f, req, res) => backToCompliance(200)(s, await s.ctx.api.json('DELETE', `/v1/suppressions/${encodeURIComponent(String(req.params['id']))}`), res)));
  router.post('/compliance/kill-switches', ...write(async (s, f, _req, res) => backToCompliance(201)(s, await s.ctx.api.json('POST', '/v1/kill-switches', pages.killSwitchBodyOf(f)), res)));
  router.post('/compliance/kill-switches/:id/lift', ...write(async (s, _f, req, res) => backToCompliance(200)(s, await s.ctx.api.json('DELETE', `/v1/kill-switches/${encodeURIComponent(String(req.params['id']))}`), res)));
  router.post('/compliance/calendars/apply', ...write(async (s, _f, _req, res) => backToCompliance(200)(s, await s.ctx.api.json('POST', '/v1/calendars/impact/apply', {}), res)));
  router.post('/compliance/settings', ...write(async (s, f, _req, res) => {
    let patch: unknown;
    try {
      patch = JSON.parse(String(f['patch'] ?? ''));
    } catch {
      return send(res, s, { title: 'Not saved', status: 400, body: html`<p class="notice error" role="alert">The change must be a JSON object, e.g. {"requireConsentForMarketing": true}.</p>` }, '/console/compliance');
    }
    await backToCompliance(200)(s, await s.ctx.api.json('PATCH', '/v1/org/settings', patch), res);
  }));

  // --- Queues (bull-board), admins only --------------------------------------------------------

  // Built on first use: most processes that serve the API never open it.
  let board: Router | undefined;
  const boardRouter = (): Router => {
    if (board) return board;
    const adapter = new ExpressAdapter();
    adapter.setBasePath('/console/queues');
    const queues = QUEUES.map((name) => new Queue(name, { connection: opts.redis, prefix: bullPrefix(opts.queuePrefix, name) }));
    createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q)), serverAdapter: adapter, options: { uiConfig: { boardTitle: 'tcpa queues' } } });
    board = adapter.getRouter() as Router;
    return board;
  };
  router.use('/queues', (req, res, next) => {
    void (async () => {
      const s = await signed(req, res);
      if (!s) return;
      if (s.auth.role !== 'admin') return send(res, s, { title: 'Not for this role', status: 403, body: html`<p class="notice error" role="alert">Queues are for admin keys.</p>` }, '/console/queues');
      // Bull-board's own writes (retry, remove) are JSON calls from its page: same-origin only.
      if (req.method !== 'GET' && !sameOrigin(req, false)) return csrfRefused(res);
      boardRouter()(req, res, next);
    })().catch(next);
  });

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    opts.log.error({ err: (err as Error).message }, 'console page failed');
    res.status(500).type('html').send(page({ title: 'Something went wrong', body: html`<p class="notice error" role="alert">The page could not be shown. Try again; if it persists, check the engine's log.</p>` }));
  });
  return router;
}

function csrfRefused(res: Response): void {
  if (res.headersSent) return;
  res.status(403).type('html').send(page({ title: 'Refused', body: html`<p class="notice error" role="alert">This form is stale or did not come from this console (no valid CSRF token). Reload the page and try again.</p>` }));
}

/**
 * Whether a write comes from a page of this host: its Origin's host is the request's Host (hosts,
 * not schemes, so a TLS-terminating proxy in front does not refuse every form). `allowMissing`:
 * a browser that sends no Origin at all (old ones, on same-origin form posts) is let through.
 */
function sameOrigin(req: Request, allowMissing: boolean): boolean {
  const origin = req.get('origin');
  if (!origin) return allowMissing;
  try {
    return new URL(origin).host === req.get('host');
  } catch {
    return false;
  }
}

function stringQuery(req: Request): Record<string, string> {
  return Object.fromEntries(Object.entries(req.query).filter((e): e is [string, string] => typeof e[1] === 'string'));
}
