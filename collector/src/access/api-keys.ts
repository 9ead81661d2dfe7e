/**
 * API keys kept in the store (table `api_keys`, migration 9), made with `dayi apikey create`
 * instead of the YAML. Only the SHA-256 of a key is kept: keys are 32 random bytes, so a fast digest
 * is enough (nothing to brute-force), and it lets each request find its key with one indexed read.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { ROLES, type Role } from '../config.ts';
import { stmt } from '../derive/io/store.ts';

export const KEY_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export interface StoredApiKey {
  name: string;
  role: Role;
  org: string | null;
  createdAt: number;
  createdBy: string | null;
  revokedAt: number | null;
}

export class AccessError extends Error {
  readonly code: 'conflict' | 'not_found' | 'invalid';
  constructor(code: 'conflict' | 'not_found' | 'invalid', message: string) {
    super(message);
    this.name = 'AccessError';
    this.code = code;
  }
}

interface Row {
  name: string;
  role: string;
  org: string | null;
  created_at: number;
  created_by: string | null;
  revoked_at: number | null;
}

const rowToKey = (r: Row): StoredApiKey => ({
  name: r.name,
  role: r.role as Role,
  org: r.org,
  createdAt: r.created_at,
  createdBy: r.created_by,
  revokedAt: r.revoked_at,
});

export function keyDigest(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A new key (shown once): `dayi_` and 32 random bytes in base64url. */
export function newApiKey(): string {
  return `dayi_${randomBytes(32).toString('base64url')}`;
}

/**
 * Makes a key and stores its digest; returns the key, which nobody can read back later.
 * `reserved` are names already taken elsewhere (the config's apiKeys).
 */
export function createApiKey(
  db: DatabaseSync,
  opts: { role: Role; org?: string | null; name?: string; now: number; createdBy?: string | null },
  reserved: readonly string[] = [],
): { name: string; key: string } {
  if (!(ROLES as readonly string[]).includes(opts.role)) {
    throw new AccessError('invalid', `role: ${JSON.stringify(opts.role)} is not one of ${ROLES.join(', ')}`);
  }
  const name = opts.name ?? `${opts.role}-${randomBytes(3).toString('hex')}`;
  if (!KEY_NAME_PATTERN.test(name)) {
    throw new AccessError('invalid', `name: ${JSON.stringify(name)} must be 1-64 letters, digits, . _ @ - `);
  }
  if (opts.org !== undefined && opts.org !== null && opts.org.trim() === '') {
    throw new AccessError('invalid', 'org: is empty: give an org, or leave it out for a key of every org');
  }
  if (reserved.includes(name) || stmt(db, 'SELECT 1 FROM api_keys WHERE name = ?').get(name)) {
    throw new AccessError(
      'conflict',
      `name: an API key named ${JSON.stringify(name)} exists: pick another name`,
    );
  }
  const key = newApiKey();
  stmt(
    db,
    'INSERT INTO api_keys (name, role, org, digest, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)',
  ).run(name, opts.role, opts.org ?? null, keyDigest(key), opts.now, opts.createdBy ?? null);
  return { name, key };
}

export function listApiKeys(db: DatabaseSync): StoredApiKey[] {
  return (stmt(db, 'SELECT * FROM api_keys ORDER BY name').all() as unknown as Row[]).map(rowToKey);
}

/** Revokes a key at once (the next request with it is 401). False when no live key has that name. */
export function revokeApiKey(db: DatabaseSync, name: string, now: number): boolean {
  return (
    Number(
      stmt(db, 'UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL').run(now, name)
        .changes,
    ) > 0
  );
}

/** The principal of a live stored key with this SHA-256, else null. */
export function findStoredKey(
  db: DatabaseSync,
  digest: Buffer,
): { name: string; role: Role; org: string | null } | null {
  const row = stmt(db, 'SELECT name, role, org FROM api_keys WHERE digest = ? AND revoked_at IS NULL').get(
    digest.toString('hex'),
  ) as { name: string; role: string; org: string | null } | undefined;
  if (!row || !(ROLES as readonly string[]).includes(row.role)) return null;
  return { name: row.name, role: row.role as Role, org: row.org };
}
