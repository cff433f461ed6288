/**
 * SMS segments (src/domain/sms-segments.ts, through Twilio's sms-segments-calculator): GSM-7 holds
 * 160 septets in one segment and 153 per part when concatenated, an extension character takes two
 * septets; one character outside GSM-7 makes the whole text UCS-2: 70 code units, 67 per part.
 */
import fc from 'fast-check';
import { SegmentedMessage } from 'sms-segments-calculator';
import { describe, expect, it } from 'vitest';
import { rateCost, smsSegmentCount, timerSegments } from '../../src/domain/sms-segments.ts';

const seg = (body: string) => smsSegmentCount(body).segments;

describe('smsSegmentCount', () => {
  it('GSM-7: 160 in one segment, 161 in two; 153 per part: 306 in two, 307 in three', () => {
    expect(smsSegmentCount('a'.repeat(160))).toEqual({ segments: 1, encoding: 'GSM-7', units: 160 });
    expect(seg('a'.repeat(161))).toBe(2);
    expect(seg('a'.repeat(306))).toBe(2);
    expect(seg('a'.repeat(307))).toBe(3);
    expect(seg('a'.repeat(459))).toBe(3);
    expect(seg('a'.repeat(460))).toBe(4);
  });

  it('GSM-7 basic-table accents (é, ñ, ü, Ø, £, ¥) stay GSM-7, one septet each', () => {
    expect(smsSegmentCount('é'.repeat(160))).toEqual({ segments: 1, encoding: 'GSM-7', units: 160 });
    expect(smsSegmentCount('ñüØ£¥è'.repeat(26) + 'abcd')).toEqual({ segments: 1, encoding: 'GSM-7', units: 160 });
  });

  it('extension characters count double: 80 € fill one segment, 81 need two', () => {
    for (const ch of ['€', '[', ']', '{', '}', '\\', '^', '~', '|']) {
      expect(smsSegmentCount(ch.repeat(80)), ch).toEqual({ segments: 1, encoding: 'GSM-7', units: 160 });
      expect(seg(ch.repeat(81)), ch).toBe(2);
    }
    expect(seg('a'.repeat(158) + '€')).toBe(1); // 160 septets
    expect(seg('a'.repeat(159) + '€')).toBe(2); // 161
    expect(seg('{}'.repeat(40))).toBe(1); // 80 characters, 160 septets
    expect(seg('{}'.repeat(40) + 'a')).toBe(2); // 161
    expect(seg('€'.repeat(152))).toBe(2); // 304 septets: 76 € per part of 153
    // 306 septets would fill two parts of 153, but an escape and its character are never split: three.
    expect(seg('€'.repeat(153))).toBe(3);
  });

  it('UCS-2: one character outside GSM-7 turns the text UCS-2 — 70 in one segment, 71 in two; 67 per part: 134 in two, 135 in three', () => {
    expect(smsSegmentCount('ж'.repeat(70))).toEqual({ segments: 1, encoding: 'UCS-2', units: 70 });
    expect(seg('ж'.repeat(71))).toBe(2);
    expect(seg('ж'.repeat(134))).toBe(2);
    expect(seg('ж'.repeat(135))).toBe(3);
    // 159 GSM characters and one curly quote: no longer one GSM-7 segment but three UCS-2 parts.
    expect(smsSegmentCount('a'.repeat(159) + '\u2019')).toMatchObject({ segments: 3, encoding: 'UCS-2' });
    expect(smsSegmentCount('a'.repeat(69) + '\u2019')).toEqual({ segments: 1, encoding: 'UCS-2', units: 70 });
  });

  it('UCS-2 counts UTF-16 code units: an emoji outside the BMP is two', () => {
    expect(smsSegmentCount('😀'.repeat(35))).toEqual({ segments: 1, encoding: 'UCS-2', units: 70 });
    expect(seg('😀'.repeat(36))).toBe(2);
  });

  it('an empty body is one segment', () => {
    expect(seg('')).toBe(1);
  });
});

describe('the GSM-7 fast path counts as the library does', () => {
  // GSM-7 basic characters (CR and LF among them), extension characters, and a few that are not GSM-7.
  const basic = [...'@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡AZÄÖÑÜ§¿azäöñüà'];
  const extension = [...'€[]{}\\^~|\f'];
  const other = ['\u2019', 'ж', '😀', 'e\u0301', '\t'];
  const library = (body: string) => {
    const m = new SegmentedMessage(body, 'auto');
    const encoding = m.encodingName === 'UCS-2' ? 'UCS-2' : 'GSM-7';
    return { segments: Math.max(1, m.segmentsCount), encoding, units: encoding === 'UCS-2' ? body.length : m.numberOfCharacters };
  };
  const text = (chars: fc.Arbitrary<string>) => fc.array(chars, { maxLength: 700, size: 'max' }).map((cs) => cs.join(''));

  it('on GSM-7 texts of any length, extension characters anywhere', () => {
    fc.assert(
      fc.property(text(fc.oneof({ arbitrary: fc.constantFrom(...basic), weight: 8 }, { arbitrary: fc.constantFrom(...extension), weight: 2 })), (body) => {
        expect(smsSegmentCount(body)).toEqual(library(body));
      }),
      { numRuns: 400, endOnFailure: true },
    );
  });

  it('on texts with a character outside GSM-7 (handed to the library)', () => {
    fc.assert(
      fc.property(text(fc.oneof({ arbitrary: fc.constantFrom(...basic), weight: 8 }, { arbitrary: fc.constantFrom(...extension, ...other), weight: 1 })), (body) => {
        expect(smsSegmentCount(body)).toEqual(library(body));
      }),
      { numRuns: 200, endOnFailure: true },
    );
  });

  it('at the boundaries: 160/161 septets, 153 per part, an extension character at a part edge', () => {
    for (const body of ['a'.repeat(160), 'a'.repeat(161), 'a'.repeat(306), 'a'.repeat(307), 'a'.repeat(152) + '€' + 'a'.repeat(200), 'a'.repeat(153) + '€', '\r\n'.repeat(81)]) {
      expect(smsSegmentCount(body), `${body.length} characters`).toEqual(library(body));
    }
  });
});

describe('timerSegments and rateCost', () => {
  it('a text records its segments, a call none', () => {
    expect(timerSegments('sms', { body: 'a'.repeat(161) })).toBe(2);
    expect(timerSegments('voice', { twimlUrl: 'https://example.com/t.xml' })).toBeNull();
  });

  it('a send costs 1 slot in messages, its segments in segments; a call 1 either way', () => {
    expect(rateCost('messages', 'sms', 3)).toBe(1);
    expect(rateCost('segments', 'sms', 3)).toBe(3);
    expect(rateCost('segments', 'sms', null)).toBe(1);
    expect(rateCost('segments', 'voice', null)).toBe(1);
  });
});
