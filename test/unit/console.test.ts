/** The console's building blocks: escaping by default, masked numbers, sealed sessions and CSRF tokens. */
import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import { describe, expect, it } from 'vitest';
import { barChart } from '../../src/console/charts.ts';
import { html, maskPhone, raw } from '../../src/console/html.ts';
import { COOKIE, SESSION_MS, Sessions } from '../../src/console/session.ts';

describe('html', () => {
  it('escapes every value, keeps fragments, joins arrays', () => {
    const evil = '<script>alert("x")</script>&\'';
    expect(html`<p title="${evil}">${evil}</p>`.text).toBe('<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</p>');
    expect(html`<ul>${['a', 'b'].map((x) => html`<li>${x}</li>`)}</ul>`.text).toBe('<ul><li>a</li><li>b</li></ul>');
    expect(html`${raw('<b>ok</b>')}${null}${undefined}${false}${0}`.text).toBe('<b>ok</b>0');
  });

  it('shows a number by its last four digits only', () => {
    expect(maskPhone('+12125550123')).toBe('•••• 0123');
    expect(maskPhone(null)).toBe('—');
  });

  it("draws a chart whose bars carry the numbers, with a table of them, labels escaped", () => {
    const svg = barChart('c', 'Per zone', [{ label: 'America/New_York', value: 3 }, { label: '<x>', value: 0 }]).text;
    expect(svg).toContain('data-label="America/New_York" data-value="3"');
    expect(svg).toContain('data-label="&lt;x&gt;" data-value="0"');
    expect(svg).not.toContain('<x>');
    expect(svg).toMatch(/<table data-chart="c">/);
  });
});

describe('console sessions', () => {
  let now = Date.parse('2026-12-08T17:00:00Z');
  const secret = randomBytes(32);
  const sessions = new Sessions(secret, () => now);
  const issued = () => {
    let cookie = '';
    let attrs: Record<string, unknown> = {};
    const res = { cookie: (name: string, value: string, o: Record<string, unknown>) => ((cookie = `${name}=${encodeURIComponent(value)}`), (attrs = o)) } as unknown as Response;
    const s = sessions.issue(res, { secure: false } as Request, 'tcpa_key_123');
    return { s, cookie, attrs };
  };
  const req = (cookie: string) => ({ get: (h: string) => (h === 'cookie' ? cookie : undefined) }) as unknown as Request;

  it('seals the key in an HttpOnly, SameSite=Strict cookie that opens only untouched and unexpired', () => {
    const { s, cookie, attrs } = issued();
    expect(attrs).toMatchObject({ httpOnly: true, sameSite: 'strict', path: '/console', maxAge: SESSION_MS });
    expect(cookie).not.toContain('tcpa_key_123');
    expect(sessions.read(req(`other=1; ${cookie}`))).toEqual(s);
    const value = decodeURIComponent(cookie.slice(COOKIE.length + 1));
    const flipped = value.slice(0, -2) + (value.endsWith('A') ? 'B' : 'A') + value.slice(-1);
    expect(sessions.read(req(`${COOKIE}=${encodeURIComponent(flipped)}`))).toBeNull();
    expect(new Sessions(randomBytes(32), () => now).read(req(cookie))).toBeNull();
    now += SESSION_MS + 1;
    expect(sessions.read(req(cookie))).toBeNull();
  });

  it("accepts a session's own CSRF token only", () => {
    const a = issued().s;
    const b = issued().s;
    expect(sessions.csrfOk(a, sessions.csrf(a))).toBe(true);
    expect(sessions.csrfOk(a, sessions.csrf(b))).toBe(false);
    expect(sessions.csrfOk(a, undefined)).toBe(false);
    expect(sessions.csrfOk(a, '')).toBe(false);
  });
});
