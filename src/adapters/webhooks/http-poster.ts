/**
 * Webhook requests over HTTP (fetch on Node's undici, keep-alive connections per origin). Any HTTP
 * answer resolves (the caller decides what a 2xx or a 500 means); no answer in `timeoutMs`, a
 * refused or reset connection, a TLS failure rejects. Redirects are not followed: a 3xx is an
 * answer, and not a delivery.
 */
import type { PostAnswer, WebhookPosterPort } from '../../app/ports.ts';

export class HttpPoster implements WebhookPosterPort {
  constructor(private readonly userAgent = 'tcpa-engine-webhooks/1') {}

  async post(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<PostAnswer> {
    const res = await fetch(url, {
      method: 'POST',
      body,
      redirect: 'manual',
      headers: { 'content-type': 'application/json', 'user-agent': this.userAgent, ...headers },
      signal: AbortSignal.timeout(timeoutMs),
    });
    // The body is not needed; reading it (bounded by the same signal) frees the connection for reuse.
    await res.arrayBuffer().catch(() => undefined);
    return { status: res.status };
  }
}
