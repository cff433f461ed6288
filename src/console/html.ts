/**
 * HTML for the console, server-rendered: a tagged template that escapes every interpolated value
 * (only `raw()` and nested `html` fragments pass through), and the page layout. No client
 * framework: pages are plain forms and links, usable from the keyboard and by screen readers.
 */

const SAFE = Symbol('safe-html');

export interface Html {
  readonly [SAFE]: true;
  readonly text: string;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

export function raw(text: string): Html {
  return { [SAFE]: true, text };
}

function isHtml(v: unknown): v is Html {
  return typeof v === 'object' && v !== null && (v as Html)[SAFE] === true;
}

function render(v: unknown): string {
  if (v === null || v === undefined || v === false) return '';
  if (Array.isArray(v)) return v.map(render).join('');
  if (isHtml(v)) return v.text;
  return escapeHtml(String(v));
}

/** `html\`<p>${value}</p>\``: values escaped, arrays joined, fragments kept. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1]!;
  });
  return raw(out);
}

/** A number shown to people: the last four digits only (`•••• 0123`); never the full number. */
export function maskPhone(phone: string | null | undefined): string {
  if (!phone) return '—';
  const digits = phone.replace(/\D/g, '');
  return `•••• ${digits.slice(-4)}`;
}

export interface NavItem {
  href: string;
  label: string;
}

export interface PageInput {
  title: string;
  /** The signed-in key's role and org (absent on the sign-in page). */
  who?: { role: string; orgId: string; csrf: string };
  nav?: readonly NavItem[];
  current?: string;
  body: Html;
  /** A message shown above the page (e.g. after a redirect). */
  notice?: { kind: 'ok' | 'error'; text: string } | null;
}

export function page(p: PageInput): string {
  return `<!doctype html>${html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${p.title} · tcpa console</title>
<link rel="stylesheet" href="/console/assets/console.css">
<script src="/console/assets/console.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
  <span class="brand">tcpa console</span>
  ${p.nav?.length ? html`<nav aria-label="Sections"><ul>${p.nav.map((n) => html`<li><a href="${n.href}"${n.href === p.current ? raw(' aria-current="page"') : ''}>${n.label}</a></li>`)}</ul></nav>` : ''}
  ${p.who ? html`<form method="post" action="/console/sign-out" class="who"><span>Role <strong data-role="${p.who.role}">${p.who.role}</strong> · org <code>${p.who.orgId.slice(0, 8)}</code></span><input type="hidden" name="_csrf" value="${p.who.csrf}"><button type="submit">Sign out</button></form>` : ''}
</header>
<main id="main">
<h1>${p.title}</h1>
${p.notice ? html`<p class="notice ${p.notice.kind}" role="${p.notice.kind === 'error' ? 'alert' : 'status'}">${p.notice.text}</p>` : ''}
${p.body}
</main>
</body>
</html>`.text}`;
}

/** A table from rows; `cols` name the header cells. */
export function table(caption: string, cols: readonly string[], rows: ReadonlyArray<readonly unknown[]>, attrs: Html = raw('')): Html {
  return html`<table ${attrs}><caption>${caption}</caption><thead><tr>${cols.map((c) => html`<th scope="col">${c}</th>`)}</tr></thead><tbody>${
    rows.length ? rows.map((r) => html`<tr>${r.map((c) => html`<td>${c}</td>`)}</tr>`) : html`<tr><td colspan="${cols.length}">None.</td></tr>`
  }</tbody></table>`;
}

/** A hidden CSRF field, for every form that writes. */
export function csrfField(token: string): Html {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}
