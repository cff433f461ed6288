// classifyInbound: keywords (whole message or sentence), plain-language revocations (English and
// Spanish, accents ignored), opt-in and help, and ordinary messages that must not opt out.
import { describe, expect, it } from 'vitest';
import { classifyInbound, normaliseText, OPT_OUT_KEYWORDS } from '../../src/domain/opt-out.ts';

describe('opt-out keywords', () => {
  it.each([
    ['STOP', 'STOP'],
    ['stop', 'STOP'],
    ['  Stop  ', 'STOP'],
    ['STOP.', 'STOP'],
    ['stop!!!', 'STOP'],
    ['"STOP"', 'STOP'],
    ['STOP 🛑', 'STOP'],
    ['Stop please', 'STOP'],
    ['Please stop', 'STOP'],
    ['STOP NOW!', 'STOP'],
    ['stop, thank you', 'STOP'],
    ['STOPALL', 'STOPALL'],
    ['stop all', 'STOPALL'],
    ['UNSUBSCRIBE', 'UNSUBSCRIBE'],
    ['Cancel', 'CANCEL'],
    ['end', 'END'],
    ['QUIT', 'QUIT'],
    ['revoke', 'REVOKE'],
    ['OPT OUT', 'OPT OUT'],
    ['opt-out', 'OPT OUT'],
    ['OptOut', 'OPT OUT'],
    ['opt  out.', 'OPT OUT'],
    ['PARAR', 'PARAR'],
    ['¡Alto!', 'ALTO'],
    ['cancelar', 'CANCELAR'],
    ['Basta ya', 'BASTA'],
    ['DETENER', 'DETENER'],
    ['Baja por favor', 'BAJA'],
    ['STOP. Wrong number', 'STOP'],
    ['Who is this?\nSTOP', 'STOP'],
  ])('%j → opt_out %s', (body, keyword) => {
    expect(classifyInbound(body)).toEqual({ kind: 'opt_out', keyword, match: 'keyword' });
  });
});

describe('plain-language revocations', () => {
  it.each([
    ['Please stop texting me', 'stop texting me'],
    ['STOP TEXTING ME!!', 'stop texting me'],
    ['can you stop messaging me', 'stop messaging me'],
    ['Stop calling me every day', 'stop calling me'],
    ["Don't call me again", 'dont call me'],
    ['Don’t text me', 'dont text me'],
    ['dont text me', 'dont text me'],
    ['Do not call me.', 'do not call me'],
    ['do not text me anymore', 'do not text me'],
    ['Just leave me alone', 'leave me alone'],
    ['remove me from this', 'remove me'],
    ['Take me off your list', 'take me off your list'],
    ['take me off the list please', 'take me off the list'],
    ['unsubscribe me', 'unsubscribe me'],
    ['No more texts', 'no more texts'],
    ['no more messages please', 'no more messages'],
    ['NO MORE CALLS', 'no more calls'],
    ['No me llames más', 'no me llames'],
    ['no me llames', 'no me llames'],
    ['Por favor no me escriban', 'no me escriban'],
    ['No me envíes mensajes', 'no me envies mensajes'],
    ['no me envies mensajes', 'no me envies mensajes'],
    ['Dejen de llamarme', 'dejen de llamarme'],
    ['DEJEN DE ESCRIBIRME', 'dejen de escribirme'],
    ['Quiero darme de baja', 'darme de baja'],
  ])('%j → opt_out (%s)', (body, phrase) => {
    expect(classifyInbound(body)).toEqual({ kind: 'opt_out', keyword: phrase, match: 'phrase' });
  });
});

describe('opt-in and help', () => {
  it.each([
    ['START', 'opt_in', 'START'],
    ['start.', 'opt_in', 'START'],
    ['Unstop', 'opt_in', 'UNSTOP'],
    ['yes', 'opt_in', 'YES'],
    ['YES please', 'opt_in', 'YES'],
    ['SUBSCRIBE', 'opt_in', 'SUBSCRIBE'],
    ['HELP', 'help', 'HELP'],
    ['info?', 'help', 'INFO'],
    ['Ayuda', 'help', 'AYUDA'],
  ] as const)('%j → %s', (body, kind, keyword) => {
    expect(classifyInbound(body)).toEqual({ kind, keyword, match: 'keyword' });
  });

  it('an opt-out wins over an opt-in keyword in the same message', () => {
    expect(classifyInbound('yes. stop texting me').kind).toBe('opt_out');
    expect(classifyInbound('START? no. STOP').kind).toBe('opt_out');
  });
});

describe('not a revocation', () => {
  it.each([
    "I'll stop by tomorrow",
    'Can I stop by at 3?',
    'Please send the stopwatch',
    'The bus stop is closed',
    'We stopped at the end of the road',
    'How do I cancel my appointment?',
    'Is it the end of the month?',
    'Yes I will be there',
    'Started feeling better',
    'Thanks!',
    'ok',
    '',
    '   ',
    'Help me find the office',
    'The unsubscribe link is broken',
    'Removed it already',
    'La presión baja por la tarde',
    'El volumen está muy alto', // "alto" inside a sentence
    'Voy a parar en la tienda',
    'No me llamó nadie', // "llamó" is not "llames"
    'Call me at 5',
  ])('%j → none', (body) => {
    expect(classifyInbound(body)).toEqual({ kind: 'none', keyword: null, match: null });
  });

  it('a keyword must be a whole word: STOPPED, ENDING, QUITE are not keywords', () => {
    for (const body of ['STOPPED', 'ending', 'quite', 'cancelled', 'bajar', 'altos', 'optional']) expect(classifyInbound(body).kind).toBe('none');
  });
});

describe('normaliseText', () => {
  it('lower-cases, removes accents and apostrophes, turns punctuation into spaces', () => {
    expect(normaliseText("  No me envíes MÁS—¡por favor! Don't ")).toBe('no me envies mas por favor dont');
    expect(normaliseText('ÑANDÚ')).toBe('nandu');
  });

  it('every keyword is already normalised', () => {
    for (const k of OPT_OUT_KEYWORDS) expect(normaliseText(k)).toBe(k);
  });
});
