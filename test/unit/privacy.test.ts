import { describe, expect, it } from 'vitest';
import { maskPhone, phoneLast4 } from '../../src/domain/privacy.ts';

describe('maskPhone', () => {
  it('keeps the country digit and the last four digits', () => {
    expect(maskPhone('+15551234567')).toBe('+1******4567');
    expect(maskPhone('whatsapp:+15551234567')).toBe('whatsapp:+1******4567');
    expect(maskPhone('+44201')).toBe('+44201');
    expect(maskPhone('+4420')).toBe('***');
  });

  it('hides anything that is not a phone number, and is empty for nothing', () => {
    expect(maskPhone('555-123-4567')).toBe('***');
    expect(maskPhone('client:alice')).toBe('***');
    expect(maskPhone('')).toBe('');
    expect(maskPhone(null)).toBe('');
    expect(maskPhone(undefined)).toBe('');
  });
});

describe('phoneLast4', () => {
  it('returns the last four digits of an E.164 number', () => {
    expect(phoneLast4('+15551234567')).toBe('4567');
    expect(phoneLast4('+447911123456')).toBe('3456');
  });

  it('is null for anything else', () => {
    for (const v of ['5551234567', '+1555', '+1 555 123 4567', 'whatsapp:+15551234567', '', null, undefined]) {
      expect(phoneLast4(v)).toBeNull();
    }
  });
});
