/**
 * API authentication and authorisation middleware.
 *
 * `authenticate(prisma)` reads `Authorization: Bearer <key>`, checks it with
 * `authenticateApiKey` and stores `{ orgId, keyId, role }` in `res.locals.auth` (read it with
 * `authOf(res)`). A missing, malformed, unknown or revoked key is 401 UNAUTHENTICATED with a
 * `WWW-Authenticate: Bearer` challenge (RFC 6750). `requireRole(...roles)` answers 403 FORBIDDEN
 * to any other role; roles are not hierarchical, so list `admin` where admins are allowed.
 * Failures are passed to `next(err)` for `errorHandler` to format.
 */
import type { RequestHandler, Response } from 'express';
import { authenticateApiKey, type ApiRole, type AuthContext, type AuthenticateOptions } from '../adapters/auth/api-keys.ts';
import type { PrismaClient } from '../adapters/db/client.ts';
import { AppError } from '../domain/errors.ts';

export type { AuthContext } from '../adapters/auth/api-keys.ts';

const REALM = 'tcpa';
const BEARER_RE = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

/** The authenticated caller of this request. Throws if the route is not behind `authenticate`. */
export function authOf(res: Response): AuthContext {
  const auth = res.locals['auth'] as AuthContext | undefined;
  if (!auth) throw new Error('authOf: res.locals.auth is not set (route is not behind authenticate())');
  return auth;
}

function unauthenticated(res: Response, message: string, invalidToken: boolean): AppError {
  res.setHeader('WWW-Authenticate', invalidToken ? `Bearer realm="${REALM}", error="invalid_token"` : `Bearer realm="${REALM}"`);
  return new AppError('UNAUTHENTICATED', message);
}

export function authenticate(prisma: PrismaClient, opts: AuthenticateOptions = {}): RequestHandler {
  return (req, res, next) => {
    const header = req.get('authorization');
    if (!header) return next(unauthenticated(res, 'missing API key: send Authorization: Bearer <key>', false));
    const m = BEARER_RE.exec(header);
    if (!m) return next(unauthenticated(res, 'Authorization must be "Bearer <key>"', true));
    authenticateApiKey(prisma, m[1]!, opts).then(
      (auth) => {
        if (!auth) return next(unauthenticated(res, 'invalid or revoked API key', true));
        res.locals['auth'] = auth;
        next();
      },
      (err: unknown) => next(err),
    );
  };
}

export function requireRole(...roles: ApiRole[]): RequestHandler {
  const allowed = new Set<ApiRole>(roles);
  return (_req, res, next) => {
    const auth = res.locals['auth'] as AuthContext | undefined;
    if (!auth) return next(unauthenticated(res, 'missing API key: send Authorization: Bearer <key>', false));
    if (!allowed.has(auth.role)) {
      return next(new AppError('FORBIDDEN', `this operation needs role ${[...allowed].join(' or ')}; the key has role ${auth.role}`, { required: [...allowed], role: auth.role }));
    }
    next();
  };
}
