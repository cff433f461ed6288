/**
 * Sealing of stored credentials (an org's Twilio auth token, API keys) with AES-256-GCM.
 *
 * Format: `v1.<iv>.<tag>.<ciphertext>`, each part unpadded base64url. The IV is 12 fresh random
 * bytes per seal (GCM's standard nonce size; random IVs are safe up to 2^32 seals per key, NIST
 * SP 800-38D, far beyond the number of stored credentials); the tag is the full 16-byte GCM tag. `aad` (the owning org's id) is bound as additional
 * authenticated data, so a sealed value copied into another org's row does not open there.
 *
 * The key is 32 bytes and always passed in (config.ts parses TCPA_SECRET_KEY); there is no fallback
 * key. Every failure to open — malformed string, unknown version, wrong key, wrong aad, any
 * tampering — is a `SecretBoxError` whose message names neither the key nor the plaintext.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const SEALED_VERSION = 'v1';

const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

/** Seals `plaintext` under `key`, bound to `aad`. Two seals of the same input differ (fresh IV). */
export function sealSecret(key: Buffer, plaintext: string, aad: string): string {
  assertKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [SEALED_VERSION, iv.toString('base64url'), tag.toString('base64url'), ciphertext.toString('base64url')].join('.');
}

/** Opens a value made by `sealSecret` with the same key and aad; throws `SecretBoxError` otherwise. */
export function openSecret(key: Buffer, sealed: string, aad: string): string {
  assertKey(key);
  if (typeof sealed !== 'string') throw new SecretBoxError('sealed secret must be a string');
  const parts = sealed.split('.');
  if (parts.length !== 4) throw new SecretBoxError('malformed sealed secret: expected 4 dot-separated parts');
  const [version, ivPart, tagPart, ciphertextPart] = parts as [string, string, string, string];
  if (version !== SEALED_VERSION) throw new SecretBoxError('unsupported sealed secret version');
  const iv = decodePart(ivPart, 'iv');
  const tag = decodePart(tagPart, 'tag');
  const ciphertext = decodePart(ciphertextPart, 'ciphertext');
  if (iv.length !== IV_BYTES) throw new SecretBoxError(`malformed sealed secret: iv must be ${IV_BYTES} bytes`);
  if (tag.length !== TAG_BYTES) throw new SecretBoxError(`malformed sealed secret: tag must be ${TAG_BYTES} bytes`);

  try {
    const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch {
    // node:crypto's own message ("Unsupported state or unable to authenticate data") is dropped:
    // the caller only needs to know the value did not authenticate.
    throw new SecretBoxError('sealed secret did not authenticate (wrong key, wrong aad or tampered data)');
  }
}

/** `sealSecret` of `JSON.stringify(value)`. */
export function sealJson(key: Buffer, value: unknown, aad: string): string {
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError('sealJson: value is not JSON-serialisable');
  return sealSecret(key, json, aad);
}

/**
 * `JSON.parse` of `openSecret(...)`. `T` is the shape it was sealed with; it is not checked at run
 * time (the value authenticated, so it is what we sealed), but validate it if the shape has changed.
 */
export function openJson<T = unknown>(key: Buffer, sealed: string, aad: string): T {
  const json = openSecret(key, sealed, aad);
  try {
    return JSON.parse(json) as T;
  } catch {
    throw new SecretBoxError('sealed secret is not JSON');
  }
}

function assertKey(key: Buffer): void {
  if (!Buffer.isBuffer(key)) throw new SecretBoxError('secret key must be a Buffer');
  if (key.length !== KEY_BYTES) throw new SecretBoxError(`secret key must be ${KEY_BYTES} bytes, got ${key.length}`);
}

/** Strict unpadded base64url: Node's decoder skips invalid characters, so check the alphabet and the round trip. */
function decodePart(part: string, what: string): Buffer {
  if (!BASE64URL.test(part)) throw new SecretBoxError(`malformed sealed secret: ${what} is not base64url`);
  const bytes = Buffer.from(part, 'base64url');
  if (bytes.toString('base64url') !== part) throw new SecretBoxError(`malformed sealed secret: ${what} is not canonical base64url`);
  return bytes;
}
