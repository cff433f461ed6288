/**
 * The one character policy for text the engine accepts: every string of an API body, query or
 * path parameter (object keys included), every field of an uploaded contact file row and every
 * string of a `tcpa plan` row. A message body may hold exactly these characters too.
 *
 * Allowed: TAB, LF, CR and every Unicode scalar value from U+0020 up, except the noncharacters
 * U+FFFE and U+FFFF. That is XML 1.0's `Char` production:
 *
 *     #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
 *
 * Refused, and why:
 * - U+0000 (NUL): Postgres text and jsonb cannot hold it (`invalid byte sequence` /
 *   `unsupported Unicode escape sequence`), and C strings end at it.
 * - Lone surrogates (U+D800–U+DFFF not in a pair): not Unicode scalar values, so not
 *   representable in UTF-8; Node would silently replace them with U+FFFD, so the text stored or
 *   sent would not be the text received.
 * - The other C0 controls (U+0001–U+0008, U+000B, U+000C, U+000E–U+001F): not carried by GSM-7 nor
 *   meaningful in an SMS, and forbidden in XML 1.0, hence in the TwiML of a voice call.
 * - U+FFFE and U+FFFF: noncharacters, forbidden in XML 1.0 too.
 *
 * Everything else stays allowed and is kept byte for byte: any script, emoji (surrogate pairs),
 * right-to-left text and the bidirectional marks (U+200E, U+200F, U+202A–U+202E, U+2066–U+2069),
 * joiners (U+200D) and variation selectors, DEL and the C1 range (allowed by XML 1.0 and harmless to
 * Postgres). Text is never normalised or trimmed here.
 *
 * Pure: no I/O.
 */

/** One character outside the policy. With the `u` flag, a lone surrogate is one code point. */
const BAD = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const BAD_ALL = new RegExp(BAD.source, 'gu');

/** `s` with each refused character replaced by U+FFFD: for naming a bad field in an error, never for storing. */
export function printable(s: string): string {
  return s.replace(BAD_ALL, '\uFFFD');
}

/** Index (in UTF-16 code units) of the first refused character of `s`, or -1. */
export function badCharIndex(s: string): number {
  return s.search(BAD);
}

/** Whether every character of `s` is allowed. */
export function isCleanText(s: string): boolean {
  return !BAD.test(s);
}

const NAMES: Record<number, string> = { 0: 'NUL', 0xb: 'VT', 0xc: 'FF', 0x1b: 'ESC', 0xfffe: 'a noncharacter', 0xffff: 'a noncharacter' };

/** `U+0000 (NUL) at position 1`: the first refused character of `s` (which must have one), never the text itself. */
export function describeBadChar(s: string, index = badCharIndex(s)): string {
  const c = s.charCodeAt(index);
  const hex = `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
  const what = c >= 0xd800 && c <= 0xdfff ? 'a lone surrogate' : (NAMES[c] ?? 'a control character');
  return `${hex} (${what}) at position ${index}`;
}

/** The message of a refused text: `contains U+0000 (NUL) at position 1, which is not allowed in text`. */
export function badTextMessage(s: string, index = badCharIndex(s)): string {
  return `contains ${describeBadChar(s, index)}, which is not allowed in text`;
}

export interface TextIssue {
  /** Where in the value: keys and array indices, as zod paths are. */
  path: Array<string | number>;
  message: string;
}

/** A node's place: its key or index and its parent's place (a linked list, so that walking a deep value costs O(size), not O(depth²)). */
interface Place {
  key: string | number;
  parent: Place | null;
}

function pathOf(place: Place | null, last?: string | number): Array<string | number> {
  const path: Array<string | number> = last === undefined ? [] : [last];
  for (let p = place; p; p = p.parent) path.push(p.key);
  return path.reverse();
}

/**
 * Every string (and object key) of a JSON-like value that breaks the policy, at most `max`
 * issues. Walks plain objects and arrays only, iteratively (a deeply nested body cannot
 * overflow the stack) and in time linear in the value's size (a path is built only for an issue).
 */
export function textIssues(value: unknown, max = 20): TextIssue[] {
  const out: TextIssue[] = [];
  const stack: Array<{ v: unknown; place: Place | null }> = [{ v: value, place: null }];
  while (stack.length > 0 && out.length < max) {
    const { v, place } = stack.pop()!;
    if (typeof v === 'string') {
      const i = badCharIndex(v);
      if (i >= 0) out.push({ path: pathOf(place), message: badTextMessage(v, i) });
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], place: { key: i, parent: place } });
    } else if (typeof v === 'object' && v !== null) {
      const keys = Object.keys(v);
      for (let k = keys.length - 1; k >= 0; k--) {
        const key = keys[k]!;
        const i = badCharIndex(key);
        if (i >= 0) {
          out.push({ path: pathOf(place, printable(key)), message: `field name ${badTextMessage(key, i)}` });
          continue;
        }
        stack.push({ v: (v as Record<string, unknown>)[key], place: { key, parent: place } });
      }
    }
  }
  return out;
}
