/**
 * Canonical JSON for the audit chain: byte for byte the output of `canonicalJson` in
 * calendar/compile.ts (keys sorted by UTF-16 code units, `undefined` members dropped, strings and
 * numbers as JSON.stringify writes them), written without the intermediate arrays that made it
 * the bottleneck of chain verification. A property test holds the two equal on arbitrary values.
 *
 * Kept free of heavy imports: the parallel chain verifier loads it in worker threads.
 */
/** Characters JSON.stringify escapes in a string (quote, backslash, C0 controls, lone surrogates). */
// eslint-disable-next-line no-control-regex -- the control characters are exactly what must be found
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;
/** Object keys repeat endlessly in an audit log: their JSON form is memoised (bounded). */
const keyCache = new Map<string, string>();
const KEY_CACHE_MAX = 4096;

function quoteKey(k: string): string {
  let q = keyCache.get(k);
  if (q === undefined) {
    q = JSON.stringify(k);
    if (keyCache.size < KEY_CACHE_MAX) keyCache.set(k, q);
  }
  return q;
}

/** JSON.stringify(s) for a string, without the call when nothing needs escaping. */
export function quoteString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/**
 * Stable JSON with sorted keys. Returns `undefined` exactly where the reference implementation
 * does (for `undefined`, functions and symbols at the top level), so callers can mirror it.
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'string') return quoteString(value);
  if (typeof value === 'object') {
    if (value === null) return 'null';
    if (Array.isArray(value)) {
      let out = '[';
      for (let i = 0; i < value.length; i++) {
        if (i > 0) out += ',';
        // The reference maps then joins: an element without a JSON form joins as ''.
        const s = canonicalJson(value[i]) as string | undefined;
        if (s !== undefined) out += s;
      }
      return `${out}]`;
    }
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length > 1) keys.sort();
    let out = '{';
    let first = true;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const v = o[k];
      if (v === undefined) continue;
      // Template literal: a member whose value has no JSON form reads "undefined", as in the reference.
      out += first ? `${quoteKey(k)}:${canonicalJson(v)}` : `,${quoteKey(k)}:${canonicalJson(v)}`;
      first = false;
    }
    return `${out}}`;
  }
  return JSON.stringify(value);
}
