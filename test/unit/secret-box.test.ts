import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openJson, openSecret, sealJson, sealSecret, SecretBoxError } from '../../src/adapters/crypto/secret-box.ts';

const key = randomBytes(32);
const ORG = 'org_01';
const PLAINTEXT = 'twilio-auth-token-0123456789abcdef';

/** Replaces the `index`-th dot-separated part of a sealed string. */
function withPart(sealed: string, index: number, part: string): string {
  const parts = sealed.split('.');
  parts[index] = part;
  return parts.join('.');
}

/** Flips one bit of a base64url part's decoded bytes. */
function flipBit(part: string, byte = 0): string {
  const bytes = Buffer.from(part, 'base64url');
  bytes[byte] = bytes[byte]! ^ 0x01;
  return bytes.toString('base64url');
}

function expectRejected(fn: () => unknown): SecretBoxError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SecretBoxError);
  const err = caught as SecretBoxError;
  expect(err.name).toBe('SecretBoxError');
  expect(err.message).not.toContain(PLAINTEXT);
  expect(err.message).not.toContain(key.toString('hex'));
  expect(err.message).not.toContain(key.toString('base64'));
  return err;
}

describe('secret box', () => {
  it('round-trips, including empty and non-ASCII text', () => {
    for (const text of [PLAINTEXT, '', 'ünïcødé ✓ 🔑']) {
      const sealed = sealSecret(key, text, ORG);
      expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]*$/);
      if (text) expect(sealed).not.toContain(text);
      expect(openSecret(key, sealed, ORG)).toBe(text);
    }
  });

  it('gives a different string each time for the same input (fresh IV)', () => {
    const a = sealSecret(key, PLAINTEXT, ORG);
    const b = sealSecret(key, PLAINTEXT, ORG);
    expect(a).not.toBe(b);
    expect(a.split('.')[1]).not.toBe(b.split('.')[1]);
  });

  it('rejects a tampered ciphertext, tag or iv', () => {
    const sealed = sealSecret(key, PLAINTEXT, ORG);
    const [, iv, tag, ct] = sealed.split('.') as [string, string, string, string];
    expectRejected(() => openSecret(key, withPart(sealed, 3, flipBit(ct)), ORG));
    expectRejected(() => openSecret(key, withPart(sealed, 3, flipBit(ct, 5)), ORG));
    expectRejected(() => openSecret(key, withPart(sealed, 3, ct.slice(0, -2)), ORG));
    expectRejected(() => openSecret(key, withPart(sealed, 2, flipBit(tag)), ORG));
    expectRejected(() => openSecret(key, withPart(sealed, 2, flipBit(tag, 15)), ORG));
    expectRejected(() => openSecret(key, withPart(sealed, 1, flipBit(iv)), ORG));
    expectRejected(() => openSecret(key, withPart(sealed, 1, flipBit(iv, 11)), ORG));
  });

  it('rejects a non-canonical encoding of the same bytes (padding bits changed)', () => {
    const sealed = sealSecret(key, PLAINTEXT, ORG);
    const tag = sealed.split('.')[2]!;
    // 16 bytes in 22 base64url characters leave 4 unused bits in the last character.
    const last = tag.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sibling = alphabet[alphabet.indexOf(last) ^ 0x01]!;
    expect(Buffer.from(tag.slice(0, -1) + sibling, 'base64url').equals(Buffer.from(tag, 'base64url'))).toBe(true);
    expectRejected(() => openSecret(key, withPart(sealed, 2, tag.slice(0, -1) + sibling), ORG));
  });

  it('rejects the wrong key', () => {
    const sealed = sealSecret(key, PLAINTEXT, ORG);
    expectRejected(() => openSecret(randomBytes(32), sealed, ORG));
  });

  it('rejects the wrong aad (a value moved to another org)', () => {
    const sealed = sealSecret(key, PLAINTEXT, ORG);
    expectRejected(() => openSecret(key, sealed, 'org_02'));
    expectRejected(() => openSecret(key, sealed, ''));
  });

  it('requires a 32-byte key for sealing and opening', () => {
    const sealed = sealSecret(key, PLAINTEXT, ORG);
    for (const bad of [randomBytes(31), randomBytes(33), Buffer.alloc(0)]) {
      expectRejected(() => sealSecret(bad, PLAINTEXT, ORG));
      expectRejected(() => openSecret(bad, sealed, ORG));
    }
    expectRejected(() => sealSecret(key.toString('hex') as unknown as Buffer, PLAINTEXT, ORG));
  });

  it('rejects malformed strings and unknown versions', () => {
    const sealed = sealSecret(key, PLAINTEXT, ORG);
    const [, iv, tag, ct] = sealed.split('.') as [string, string, string, string];
    const cases = [
      '',
      'v1',
      'v1...',
      `v1.${iv}.${tag}`,
      `${sealed}.extra`,
      `v2.${iv}.${tag}.${ct}`,
      `V1.${iv}.${tag}.${ct}`,
      `v1.${iv}=.${tag}.${ct}`,
      `v1.${iv}.${tag}.${ct}+`,
      `v1.${iv}.${tag}.${ct.slice(0, 4)}*${ct.slice(4)}`,
      `v1.${iv.slice(0, -1)}.${tag}.${ct}`,
      `v1.${iv}.${tag.slice(0, -3)}.${ct}`,
      `v1.${iv}${iv}.${tag}.${ct}`,
    ];
    for (const bad of cases) expectRejected(() => openSecret(key, bad, ORG));
    expectRejected(() => openSecret(key, undefined as unknown as string, ORG));
  });

  it('seals and opens JSON objects', () => {
    const creds = { accountSid: 'AC123', authToken: PLAINTEXT, nested: { n: 1, ok: true } };
    const sealed = sealJson(key, creds, ORG);
    expect(sealed).not.toContain(PLAINTEXT);
    expect(openJson(key, sealed, ORG)).toEqual(creds);
    expectRejected(() => openJson(key, sealed, 'org_02'));
    expectRejected(() => openJson(key, sealSecret(key, 'not json', ORG), ORG));
    expect(() => sealJson(key, undefined, ORG)).toThrow(TypeError);
  });
});
