/**
 * API keys: `tcpa_<prefix>_<secret>`.
 *
 * - prefix: 12 random base62 characters. Public; the lookup id (api_keys.key_prefix, unique).
 * - secret: 32 random bytes, base64url (43 characters). Never stored: the row keeps only
 *   `secretHash` = sha256 hex of the secret text, compared in constant time.
 *
 * A 256-bit random secret needs no slow KDF (there is nothing to brute-force), so one sha256 per
 * request is enough. `lastUsedAt` is written at most once per `touchIntervalMs` (default one
 * minute) per key, with a conditional UPDATE so that concurrent requests and processes do not all
 * write it.
 */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { AppError } from '../../domain/errors.ts';
import { ApiRole, pgPoolOf, Prisma, type PrismaClient } from '../db/client.ts';

export type { ApiRole } from '../db/client.ts';

export const API_KEY_PREFIX = 'tcpa_';
export const KEY_PREFIX_LENGTH = 12;
const SECRET_BYTES = 32;
/** base64url of 32 bytes, unpadded. */
const SECRET_LENGTH = 43;
const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const KEY_RE = new RegExp(`^${API_KEY_PREFIX}([A-Za-z0-9]{${KEY_PREFIX_LENGTH}})_([A-Za-z0-9_-]{${SECRET_LENGTH}})$`);
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const API_ROLES: readonly ApiRole[] = Object.values(ApiRole);

export function isApiRole(value: unknown): value is ApiRole {
  return typeof value === 'string' && (API_ROLES as readonly string[]).includes(value);
}

export interface GeneratedApiKey {
  /** The full key, shown once to the user. */
  key: string;
  keyPrefix: string;
  secretHash: string;
}

export interface AuthContext {
  orgId: string;
  keyId: string;
  role: ApiRole;
}

export interface CreatedApiKey extends AuthContext {
  /** The full key: the only time it is ever available. */
  key: string;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

function randomBase62(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += BASE62[randomInt(BASE62.length)];
  return out;
}

export function generateApiKey(): GeneratedApiKey {
  const keyPrefix = randomBase62(KEY_PREFIX_LENGTH);
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  return { key: `${API_KEY_PREFIX}${keyPrefix}_${secret}`, keyPrefix, secretHash: hashSecret(secret) };
}

/** Splits a key into its parts; null when it is not shaped like a key. */
export function parseApiKey(key: string): { keyPrefix: string; secret: string } | null {
  if (typeof key !== 'string') return null;
  const m = KEY_RE.exec(key);
  if (!m) return null;
  return { keyPrefix: m[1]!, secret: m[2]! };
}

/** Constant-time comparison of two sha256 hex digests. */
function hashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  if (x.length !== 32 || y.length !== 32) return false;
  return timingSafeEqual(x, y);
}

export interface CreateApiKeyInput {
  /** Creates the org if no org has this name. Exactly one of orgName / orgId. */
  orgName?: string;
  orgId?: string;
  role: ApiRole;
  /** A label for humans ("ci", "journey-service"). */
  name?: string;
}

async function upsertOrgByName(prisma: PrismaClient, name: string): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      const org = await prisma.org.upsert({ where: { name }, create: { name }, update: {}, select: { id: true } });
      return org.id;
    } catch (err) {
      // Two creators raced on the unique name: the second one just reads it.
      if (attempt === 0 && err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') continue;
      throw err;
    }
  }
}

export async function createApiKey(prisma: PrismaClient, input: CreateApiKeyInput): Promise<CreatedApiKey> {
  if (!isApiRole(input.role)) {
    throw new AppError('INVALID_ARGUMENT', `role must be one of ${API_ROLES.join(', ')}`, { field: 'role' });
  }
  const orgName = input.orgName?.trim();
  if ((orgName ? 1 : 0) + (input.orgId ? 1 : 0) !== 1) {
    throw new AppError('INVALID_ARGUMENT', 'give exactly one of orgName or orgId');
  }
  let orgId: string;
  if (orgName) {
    orgId = await upsertOrgByName(prisma, orgName);
  } else {
    const id = input.orgId!;
    const org = UUID_RE.test(id) ? await prisma.org.findUnique({ where: { id }, select: { id: true } }) : null;
    if (!org) throw new AppError('NOT_FOUND', `org ${id} does not exist`);
    orgId = org.id;
  }
  const generated = generateApiKey();
  const row = await prisma.apiKey.create({
    data: { orgId, keyPrefix: generated.keyPrefix, secretHash: generated.secretHash, role: input.role, name: input.name ?? null },
    select: { id: true },
  });
  return { orgId, keyId: row.id, key: generated.key, role: input.role };
}

export interface AuthenticateOptions {
  /** The clock (for lastUsedAt). Default: now. */
  now?: Date;
  /** Minimum time between two lastUsedAt writes for one key. Default 60000. */
  touchIntervalMs?: number;
}

interface KeyRow {
  id: string;
  orgId: string;
  role: ApiRole;
  secretHash: string;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

/** The key row of a prefix: every API request reads it, so through the pg pool (a prepared statement) where there is one. */
async function findKey(prisma: PrismaClient, keyPrefix: string): Promise<KeyRow | null> {
  const pool = pgPoolOf(prisma);
  if (!pool) return prisma.apiKey.findUnique({ where: { keyPrefix }, select: { id: true, orgId: true, role: true, secretHash: true, revokedAt: true, lastUsedAt: true } });
  const { rows } = await pool.query<KeyRow>({
    name: 'tcpa_api_key_by_prefix',
    text: `SELECT id::text AS id, org_id::text AS "orgId", role::text AS role, secret_hash AS "secretHash", revoked_at AS "revokedAt", last_used_at AS "lastUsedAt"
           FROM api_keys WHERE key_prefix = $1`,
    values: [keyPrefix],
  });
  return rows[0] ?? null;
}

/** A digest to compare against when the prefix is unknown, so both paths do the same work. */
const DUMMY_HASH = hashSecret('tcpa-no-such-key');

/**
 * The key's org, id and role; null when the key is malformed, unknown, has the wrong secret or is
 * revoked (the caller cannot tell which). Database errors propagate.
 */
export async function authenticateApiKey(prisma: PrismaClient, key: string, opts: AuthenticateOptions = {}): Promise<AuthContext | null> {
  const parsed = parseApiKey(key);
  if (!parsed) return null;
  const row = await findKey(prisma, parsed.keyPrefix);
  const matches = hashesEqual(hashSecret(parsed.secret), row?.secretHash ?? DUMMY_HASH);
  if (!row || !matches || row.revokedAt !== null) return null;

  const now = opts.now ?? new Date();
  const interval = opts.touchIntervalMs ?? 60_000;
  const staleBefore = new Date(now.getTime() - interval);
  if (row.lastUsedAt === null || row.lastUsedAt <= staleBefore) {
    // Conditional: of many concurrent requests only the first one writes.
    await prisma.apiKey.updateMany({
      where: { id: row.id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lte: staleBefore } }] },
      data: { lastUsedAt: now },
    });
  }
  return { orgId: row.orgId, keyId: row.id, role: row.role };
}

/**
 * Revokes one of the org's keys (idempotent: revoking a revoked key returns its revokedAt).
 * NOT_FOUND when the org has no such key.
 */
export async function revokeApiKey(prisma: PrismaClient, orgId: string, keyId: string, now: Date = new Date()): Promise<{ keyId: string; revokedAt: Date }> {
  if (!UUID_RE.test(orgId) || !UUID_RE.test(keyId)) throw new AppError('NOT_FOUND', `API key ${keyId} not found`);
  const { count } = await prisma.apiKey.updateMany({ where: { id: keyId, orgId, revokedAt: null }, data: { revokedAt: now } });
  if (count === 1) return { keyId, revokedAt: now };
  const existing = await prisma.apiKey.findFirst({ where: { id: keyId, orgId }, select: { revokedAt: true } });
  if (!existing?.revokedAt) throw new AppError('NOT_FOUND', `API key ${keyId} not found`);
  return { keyId, revokedAt: existing.revokedAt };
}
