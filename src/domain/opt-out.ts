/**
 * What an inbound text means for consent: an opt-out (revocation), an opt-in (START), a request
 * for help, or nothing. Pure.
 *
 * The FCC's 2024 revocation order (47 CFR 64.1200(a)(10)) lets a consumer revoke consent "by any
 * reasonable means" and names STOP, QUIT, END, REVOKE, OPT OUT, CANCEL and UNSUBSCRIBE as
 * per-se revocations. We stay conservative against false positives ("I'll stop by tomorrow" is
 * not a revocation) and generous where the intent is unambiguous:
 *
 * - a message (or one sentence/line of it) that is exactly a keyword, ignoring case, accents,
 *   surrounding punctuation and politeness words ("Stop please!", "STOP. Wrong number",
 *   "Basta ya");
 * - a message that contains a plain-language revocation phrase anywhere ("please stop texting
 *   me", "No me llames más").
 *
 * Opt-in (START, UNSTOP, YES, SUBSCRIBE) and help (HELP, INFO, AYUDA) count only as the whole
 * message. An opt-out wins over anything else in the same message.
 */

export type InboundKind = 'opt_out' | 'opt_in' | 'help' | 'none';

export interface InboundClassification {
  kind: InboundKind;
  /** The keyword (upper case, e.g. `STOP`, `OPT OUT`) or the phrase (lower case, unaccented) that matched; null for `none`. */
  keyword: string | null;
  /** How it matched: the whole message/sentence was a keyword, or a revocation phrase was found in it. */
  match: 'keyword' | 'phrase' | null;
}

/** Whole-message (or whole-sentence) opt-out keywords, normalised (lower case, unaccented, single spaces). */
export const OPT_OUT_KEYWORDS: readonly string[] = [
  'stop',
  'stopall',
  'stop all',
  'unsubscribe',
  'cancel',
  'end',
  'quit',
  'revoke',
  'opt out',
  'optout',
  // Spanish
  'parar',
  'alto',
  'cancelar',
  'basta',
  'detener',
  'baja',
];

export const OPT_IN_KEYWORDS: readonly string[] = ['start', 'unstop', 'yes', 'subscribe'];
export const HELP_KEYWORDS: readonly string[] = ['help', 'info', 'ayuda'];

/**
 * Plain-language revocations found anywhere in a message (normalised: lower case, unaccented,
 * apostrophes dropped — "don't" is "dont" — and punctuation turned into spaces).
 */
export const OPT_OUT_PHRASES: readonly string[] = [
  // English
  'stop texting me',
  'stop messaging me',
  'stop calling me',
  'stop sending me',
  'stop contacting me',
  'dont call me',
  'do not call me',
  'dont text me',
  'do not text me',
  'dont message me',
  'do not message me',
  'dont contact me',
  'do not contact me',
  'leave me alone',
  'remove me',
  'take me off your list',
  'take me off the list',
  'take me off this list',
  'take me off your',
  'unsubscribe me',
  'no more texts',
  'no more text messages',
  'no more messages',
  'no more calls',
  'no more texting',
  'no more calling',
  // Spanish (accents removed: "envíes" → "envies", "más" → "mas")
  'no me llames',
  'no me llamen',
  'no me escriban',
  'no me escribas',
  'no me envies mensajes',
  'no me envien mensajes',
  'no me manden mensajes',
  'no me mandes mensajes',
  'dejen de llamarme',
  'dejen de escribirme',
  'dejen de enviarme',
  'deja de llamarme',
  'deja de escribirme',
  'deja de enviarme',
  'darme de baja',
  'dame de baja',
  'denme de baja',
  'no mas mensajes',
  'no mas llamadas',
];

/** Words that do not change a keyword's meaning around it ("STOP please", "Basta ya"). */
const FILLERS: readonly string[] = ['thank you', 'por favor', 'please', 'pls', 'plz', 'thanks', 'thx', 'now', 'ok', 'okay', 'gracias', 'ya'];

/** Canonical spelling of a matched keyword. */
function canonicalKeyword(k: string): string {
  return k === 'optout' ? 'OPT OUT' : k === 'stop all' ? 'STOPALL' : k.toUpperCase();
}

/**
 * Lower case, accents removed (NFD minus combining marks), apostrophes dropped, anything that is
 * not a letter or a digit turned into a space, spaces collapsed.
 */
export function normaliseText(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/['\u2018\u2019\u02bc`´]/g, '')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

function withoutFillers(normalised: string): string {
  let s = ` ${normalised} `;
  for (const f of FILLERS) {
    const needle = ` ${f} `;
    while (s.includes(needle)) s = s.replace(needle, ' ');
  }
  return s.trim();
}

function keywordIn(segment: string, list: readonly string[]): string | null {
  const core = withoutFillers(normaliseText(segment));
  return core !== '' && list.includes(core) ? core : null;
}

/** Classifies an inbound SMS body. */
export function classifyInbound(body: string): InboundClassification {
  const text = body ?? '';
  // 1. The whole message is an opt-out keyword, or one of its sentences/lines is.
  const whole = keywordIn(text, OPT_OUT_KEYWORDS);
  if (whole) return { kind: 'opt_out', keyword: canonicalKeyword(whole), match: 'keyword' };
  for (const sentence of text.split(/[.!?;\n\r¡¿]+/)) {
    const k = keywordIn(sentence, OPT_OUT_KEYWORDS);
    if (k) return { kind: 'opt_out', keyword: canonicalKeyword(k), match: 'keyword' };
  }
  // 2. A revocation phrase anywhere.
  const padded = ` ${normaliseText(text)} `;
  const phrase = OPT_OUT_PHRASES.find((p) => padded.includes(` ${p} `));
  if (phrase) return { kind: 'opt_out', keyword: phrase, match: 'phrase' };
  // 3. Opt-in and help: the whole message only.
  const optIn = keywordIn(text, OPT_IN_KEYWORDS);
  if (optIn) return { kind: 'opt_in', keyword: canonicalKeyword(optIn), match: 'keyword' };
  const help = keywordIn(text, HELP_KEYWORDS);
  if (help) return { kind: 'help', keyword: canonicalKeyword(help), match: 'keyword' };
  return { kind: 'none', keyword: null, match: null };
}
