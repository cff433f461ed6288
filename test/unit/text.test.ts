/**
 * The character policy (src/domain/text.ts): XML 1.0's `Char` production, checked against an
 * independent per-code-point reading of the same rule.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { badCharIndex, badTextMessage, describeBadChar, isCleanText, printable, textIssues } from '../../src/domain/text.ts';

/** The rule written out code point by code point (a lone surrogate is its own code point). */
function allowedCodePoint(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}
function referenceBadIndex(s: string): number {
  for (let i = 0; i < s.length; ) {
    const cp = s.codePointAt(i)!;
    if (!allowedCodePoint(cp)) return i;
    i += cp > 0xffff ? 2 : 1;
  }
  return -1;
}

// Any UTF-16 string: lone surrogates, controls and astral pairs included.
const anyText = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 40 });
const seeded = { seed: 1_305_2026, numRuns: 2_000 };

describe('text policy', () => {
  it('agrees with the rule read code point by code point', () => {
    fc.assert(
      fc.property(anyText, (s) => {
        expect(badCharIndex(s)).toBe(referenceBadIndex(s));
        expect(isCleanText(s)).toBe(referenceBadIndex(s) === -1);
      }),
      seeded,
    );
  });

  it('printable() leaves nothing refused and keeps clean text as it is', () => {
    fc.assert(
      fc.property(anyText, (s) => {
        const p = printable(s);
        expect(isCleanText(p)).toBe(true);
        if (isCleanText(s)) expect(p).toBe(s);
      }),
      seeded,
    );
  });

  it('keeps every script, emoji, joiners and bidi marks', () => {
    for (const s of ['שלום', 'مرحبا', '👩🏽‍💻', '🇺🇸', 'e\u0301', '\u200E\u200F\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069', '\uFE0F', '\u007F\u0085\u009F', 'tab\there\r\nnext', '\u{10FFFF}', '\uFFFD']) {
      expect(isCleanText(s), JSON.stringify(s)).toBe(true);
    }
  });

  it('refuses NUL, the other C0 controls, lone surrogates and U+FFFE/U+FFFF', () => {
    const refused = ['\u0000', '\u0001', '\u0008', '\u000B', '\u000C', '\u000E', '\u001B', '\u001F', '\uD800', '\uDFFF', 'a\uDC00b', '\uD83D', '\uFFFE', '\uFFFF'];
    for (const s of refused) expect(isCleanText(s), JSON.stringify(s)).toBe(false);
    // A lone low surrogate after a complete pair is found where it is.
    expect(badCharIndex('😀\uDE00')).toBe(2);
  });

  it('names the character, never echoes the text', () => {
    expect(describeBadChar('ab\u0000c')).toBe('U+0000 (NUL) at position 2');
    expect(describeBadChar('\uD800')).toBe('U+D800 (a lone surrogate) at position 0');
    expect(describeBadChar('x\u0007')).toBe('U+0007 (a control character) at position 1');
    expect(describeBadChar('\uFFFE')).toBe('U+FFFE (a noncharacter) at position 0');
    expect(badTextMessage('secret\u001b')).toBe('contains U+001B (ESC) at position 6, which is not allowed in text');
    expect(badTextMessage('secret\u001b')).not.toContain('secret');
  });

  it('textIssues walks objects, arrays and keys, with zod-like paths, and stops at max', () => {
    const value = { a: 'ok', b: ['x', 'y\u0000'], ['k\u0001']: 'hidden\u0000', nested: { deep: [{ z: '\uD800' }] }, n: 5, t: true, nil: null };
    expect(textIssues(value)).toEqual([
      // An object's bad keys are found as it is opened, before its values are walked.
      { path: ['k\uFFFD'], message: 'field name contains U+0001 (a control character) at position 1, which is not allowed in text' },
      { path: ['b', 1], message: 'contains U+0000 (NUL) at position 1, which is not allowed in text' },
      { path: ['nested', 'deep', 0, 'z'], message: 'contains U+D800 (a lone surrogate) at position 0, which is not allowed in text' },
    ]);
    expect(textIssues(value, 1)).toHaveLength(1);
    expect(textIssues({ clean: ['ünïcödé', '😀'] })).toEqual([]);
  });

  it('textIssues does not overflow the stack on deep nesting', () => {
    let deep: unknown = 'bad\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const issues = textIssues(deep);
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toHaveLength(100_000);
  });
});
