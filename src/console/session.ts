/**
 * Console sessions without server state: the cookie holds the API key sealed (AES-256-GCM, the
 * secret-box used for stored secrets) with a session id and an expiry, HttpOnly, SameSite=Strict
 * and scoped to /console. Every page the session opens calls the API with that key, so a revoked
 * key ends its sessions at once. The CSRF token is an HMAC of the session id under the same key:
 * each form that writes carries it, and a write without it (or with another session's) is refused.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import { openJson, sealJson } from '../adapters/crypto/secret-box.ts';

export const COOKIE = 'tcpa_console';
const AAD = 'console-session:v1';
/** A console session lasts a working day. */
export const SESSION_MS = 8 * 3600_000;

export interface Session {
  sid: string;
  key: string;
  exp: number;
}

export class Sessions {
  constructor(
    private readonly secret: Buffer,
    private readonly now: () => number,
  ) {}

  issue(res: Response, req: Request, key: string): Session {
    const s: Session = { sid: randomBytes(16).toString('base64url'), key, exp: this.now() + SESSION_MS };
    res.cookie(COOKIE, sealJson(this.secret, s, AAD), { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/console', maxAge: SESSION_MS });
    return s;
  }

  clear(res: Response, req: Request): void {
    res.clearCookie(COOKIE, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/console' });
  }

  /** The request's session, if its cookie opens and has not expired. */
  read(req: Request): Session | null {
    const value = cookieValue(req.get('cookie'), COOKIE);
    if (!value) return null;
    try {
      const s = openJson<Session>(this.secret, value, AAD);
      return typeof s.key === 'string' && typeof s.sid === 'string' && s.exp > this.now() ? s : null;
    } catch {
      return null;
    }
  }

  csrf(s: Session): string {
    return createHmac('sha256', this.secret).update(`csrf:${s.sid}`).digest('base64url');
  }

  csrfOk(s: Session, given: unknown): boolean {
    if (typeof given !== 'string' || !given) return false;
    const want = Buffer.from(this.csrf(s));
    const got = Buffer.from(given);
    return got.length === want.length && timingSafeEqual(got, want);
  }
}

function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return null;
}
