/**
 * Agent MQTT credentials kept in the store (table `agent_credentials`, migration 9), made with
 * `dayi agent-credentials create` or POST /v1/agents instead of the YAML's `agents:`. The password
 * is shown once; the store keeps its scrypt hash (N=2^14, r=8, p=1, 16-byte salt). The broker reads
 * the row at every CONNECT, so a rotation or a revocation counts at the next connection, without a
 * restart. scrypt costs ~70 ms (broker/auth.ts): once a password has verified, an HMAC of it under
 * a per-process key is remembered beside the hash it verified against, so reconnecting agents cost
 * one HMAC, and a rotated hash forgets it.
 */
import { createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { AGENT_USERNAME_PATTERN } from '../config-security.ts';
import { stmt } from '../derive/io/store.ts';
import { AccessError } from './api-keys.ts';

const N = 16384;
const R = 8;
const P = 1;

export interface StoredAgentCredential {
  username: string;
  instruments: string[];
  org: string | null;
  createdAt: number;
  createdBy: string | null;
  rotatedAt: number | null;
  revokedAt: number | null;
}

interface Row {
  username: string;
  instruments: string;
  org: string | null;
  hash: string;
  created_at: number;
  created_by: string | null;
  rotated_at: number | null;
  revoked_at: number | null;
}

const toCredential = (r: Row): StoredAgentCredential => ({
  username: r.username,
  instruments: JSON.parse(r.instruments) as string[],
  org: r.org,
  createdAt: r.created_at,
  createdBy: r.created_by,
  rotatedAt: r.rotated_at,
  revokedAt: r.revoked_at,
});

function scryptAsync(
  password: Buffer | string,
  salt: Buffer,
  n: number,
  r: number,
  p: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, 32, { N: n, r, p, maxmem: 256 * n * r }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** `scrypt$N$r$p$salt$hash`, base64url. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function checkPassword(hash: string, password: Buffer | string): Promise<boolean> {
  const [kind, n, r, p, salt, key] = hash.split('$');
  if (kind !== 'scrypt' || !n || !r || !p || !salt || !key) return false;
  const want = Buffer.from(key, 'base64url');
  const got = await scryptAsync(password, Buffer.from(salt, 'base64url'), Number(n), Number(r), Number(p));
  return got.length === want.length && timingSafeEqual(got, want);
}

/** A password of 24 random bytes, base64url: 32 characters. */
export const newPassword = () => randomBytes(24).toString('base64url');

function checkUsername(db: DatabaseSync, username: string, reserved: readonly string[]): void {
  if (!AGENT_USERNAME_PATTERN.test(username)) {
    throw new AccessError(
      'invalid',
      `username: ${JSON.stringify(username)}: letters, digits and . _ @ - only (no : or /), at most 128 characters`,
    );
  }
  if (
    reserved.includes(username) ||
    stmt(db, 'SELECT 1 FROM agent_credentials WHERE username = ?').get(username)
  ) {
    throw new AccessError(
      'conflict',
      `username: an agent ${JSON.stringify(username)} exists: pick another username`,
    );
  }
}

export async function createAgentCredential(
  db: DatabaseSync,
  opts: {
    instruments: string[];
    username?: string;
    org?: string | null;
    now: number;
    createdBy?: string | null;
  },
  reserved: readonly string[] = [],
): Promise<{ username: string; password: string }> {
  const username = opts.username ?? `agent-${randomBytes(3).toString('hex')}`;
  checkUsername(db, username, reserved);
  if (opts.instruments.length === 0)
    throw new AccessError('invalid', 'instruments: give at least one instrument id');
  const password = newPassword();
  const hash = await hashPassword(password);
  // checked again after the (slow) hash: another create may have taken the name meanwhile
  checkUsername(db, username, reserved);
  stmt(
    db,
    'INSERT INTO agent_credentials (username, instruments, org, hash, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)',
  ).run(
    username,
    JSON.stringify([...new Set(opts.instruments)]),
    opts.org ?? null,
    hash,
    opts.now,
    opts.createdBy ?? null,
  );
  return { username, password };
}

export function listAgentCredentials(db: DatabaseSync, org?: string | null): StoredAgentCredential[] {
  const rows = stmt(db, 'SELECT * FROM agent_credentials WHERE ?1 IS NULL OR org = ?1 ORDER BY username').all(
    org ?? null,
  ) as unknown as Row[];
  return rows.map(toCredential);
}

export function getAgentCredential(db: DatabaseSync, username: string): StoredAgentCredential | null {
  const row = stmt(db, 'SELECT * FROM agent_credentials WHERE username = ?').get(username) as Row | undefined;
  return row ? toCredential(row) : null;
}

/** A new password for a live credential; the old one stops working at the next CONNECT. */
export async function rotateAgentCredential(
  db: DatabaseSync,
  username: string,
  now: number,
): Promise<string | null> {
  const live = stmt(db, 'SELECT 1 FROM agent_credentials WHERE username = ? AND revoked_at IS NULL').get(
    username,
  );
  if (!live) return null;
  const password = newPassword();
  const hash = await hashPassword(password);
  const changed = stmt(
    db,
    'UPDATE agent_credentials SET hash = ?, rotated_at = ? WHERE username = ? AND revoked_at IS NULL',
  ).run(hash, now, username).changes;
  return Number(changed) > 0 ? password : null;
}

export function revokeAgentCredential(db: DatabaseSync, username: string, now: number): boolean {
  return (
    Number(
      stmt(db, 'UPDATE agent_credentials SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL').run(
        now,
        username,
      ).changes,
    ) > 0
  );
}

/** Whether a credential of the store is still live (the broker's sweep of connected agents). */
export function storedCredentialLive(db: DatabaseSync, username: string): boolean {
  return (
    stmt(db, 'SELECT 1 FROM agent_credentials WHERE username = ? AND revoked_at IS NULL').get(username) !==
    undefined
  );
}

/** What the broker asks at CONNECT for a username the configuration does not know. */
export function createStoredAgentVerifier(db: DatabaseSync) {
  const key = randomBytes(32);
  const mac = (password: Buffer) => createHmac('sha256', key).update(password).digest();
  const remembered = new Map<string, { hash: string; mac: Buffer }>();
  return async (
    username: string,
    password: Buffer,
  ): Promise<{ username: string; instruments: string[] } | null> => {
    if (!db.isOpen) return null;
    const row = stmt(
      db,
      'SELECT username, instruments, hash FROM agent_credentials WHERE username = ? AND revoked_at IS NULL',
    ).get(username) as { username: string; instruments: string; hash: string } | undefined;
    if (!row) {
      remembered.delete(username);
      return null;
    }
    const known = remembered.get(username);
    let ok: boolean;
    if (known && known.hash === row.hash) ok = timingSafeEqual(known.mac, mac(password));
    else {
      ok = await checkPassword(row.hash, password);
      if (ok) remembered.set(username, { hash: row.hash, mac: mac(password) });
    }
    return ok ? { username: row.username, instruments: JSON.parse(row.instruments) as string[] } : null;
  };
}
