/**
 * The console's way to the API: HTTP to the very server it is mounted on, with the session's key.
 * Every read and write goes through the same routes, validation, authorization and rate limits as
 * any other client, so no rule lives in the console.
 */
import type { Request } from 'express';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';

export interface ApiAnswer<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

/** An API error answer, as the console shows it. */
export interface ApiError {
  error: { code: string; message: string; details?: unknown };
}

export class ApiClient {
  constructor(
    private readonly base: string,
    private readonly key: string,
  ) {}

  /** The API of the server that received `req` (its own address: the console never leaves the process's host). */
  static forRequest(req: Request, key: string): ApiClient {
    const addr = req.socket.localAddress ?? '127.0.0.1';
    const host = addr.includes(':') ? (addr.startsWith('::ffff:') ? addr.slice(7) : `[${addr}]`) : addr;
    return new ApiClient(`http://${host}:${req.socket.localPort}`, key);
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.key}`, ...extra };
  }

  async json<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: this.headers(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T, headers: res.headers };
  }

  /** A streamed body (an audience file), never buffered whole. */
  async stream<T = Record<string, unknown>>(method: string, path: string, body: Readable, contentType: string): Promise<ApiAnswer<T>> {
    const res = await fetch(`${this.base}${path}`, { method, headers: this.headers({ 'content-type': contentType }), body: Readable.toWeb(body) as ReadableStream, duplex: 'half' } as RequestInit);
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T, headers: res.headers };
  }

  /** The raw answer (an export to pass through). */
  raw(path: string): Promise<Response> {
    return fetch(`${this.base}${path}`, { headers: this.headers() });
  }
}

/** A query string from the set fields of a form (empty ones left out). */
export function queryOf(fields: Record<string, unknown>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) if (typeof v === 'string' && v.trim() !== '') q.set(k, v.trim());
  const s = q.toString();
  return s ? `?${s}` : '';
}
