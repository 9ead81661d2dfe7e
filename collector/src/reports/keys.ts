/**
 * The collector's report signing keys, kept in the store (table `report_keys`): Ed25519, made on
 * first use, the newest one not retired signs. Retired keys stay so that older reports still
 * verify. The private key never leaves this module: not logged, not answered by any route; the
 * store files are made readable by their owner only once they hold one.
 */

import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, statSync } from 'node:fs';
import type { DatabaseSync } from 'node:sqlite';
import type { CollectorContext } from '../context.ts';
import { inTransaction, stmt } from '../derive/io/store.ts';
import { keyFingerprint, SIGNATURE_ALGORITHM } from './core/signature.ts';

export interface PublicKeyInfo {
  id: string;
  algorithm: typeof SIGNATURE_ALGORITHM;
  /** SPKI PEM. */
  publicKey: string;
  createdAt: number;
  retiredAt: number | null;
}

export interface SigningKey extends PublicKeyInfo {
  privateKey: KeyObject;
}

interface KeyRow {
  id: string;
  public_key: string;
  private_key: Uint8Array;
  created_at: number;
  retired_at: number | null;
}

function activeRow(db: DatabaseSync): KeyRow | undefined {
  return stmt(
    db,
    'SELECT * FROM report_keys WHERE retired_at IS NULL ORDER BY created_at DESC, rowid DESC LIMIT 1',
  ).get() as KeyRow | undefined;
}

function toSigningKey(row: KeyRow): SigningKey {
  return {
    id: row.id,
    algorithm: SIGNATURE_ALGORITHM,
    publicKey: row.public_key,
    createdAt: row.created_at,
    retiredAt: row.retired_at,
    privateKey: createPrivateKey({ key: Buffer.from(row.private_key), format: 'der', type: 'pkcs8' }),
  };
}

function insertNewKey(ctx: CollectorContext): KeyRow {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const row: KeyRow = {
    id: keyFingerprint(publicKey),
    public_key: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    private_key: privateKey.export({ format: 'der', type: 'pkcs8' }),
    created_at: ctx.now(),
    retired_at: null,
  };
  stmt(
    ctx.db,
    'INSERT INTO report_keys (id, algorithm, public_key, private_key, created_at) VALUES (?, ?, ?, ?, ?)',
  ).run(row.id, SIGNATURE_ALGORITHM, row.public_key, row.private_key, row.created_at);
  return row;
}

/** The key that signs reports now; made (and the store's permissions tightened) on first use. */
export function activeSigningKey(ctx: CollectorContext): SigningKey {
  let row = activeRow(ctx.db);
  if (!row) {
    row = inTransaction(ctx.db, () => activeRow(ctx.db) ?? insertNewKey(ctx));
    ctx.log.info({ keyId: row.id }, 'report signing key created');
  }
  tightenStorePermissions(ctx);
  return toSigningKey(row);
}

/** Retires the active key (it still verifies older reports) and makes a new one. */
export function rotateSigningKey(ctx: CollectorContext): { retired: string | null; active: PublicKeyInfo } {
  const { retired, row } = inTransaction(ctx.db, () => {
    const before = activeRow(ctx.db);
    if (before) stmt(ctx.db, 'UPDATE report_keys SET retired_at = ? WHERE id = ?').run(ctx.now(), before.id);
    return { retired: before?.id ?? null, row: insertNewKey(ctx) };
  });
  tightenStorePermissions(ctx);
  ctx.log.info({ keyId: row.id, retired }, 'report signing key rotated');
  const { privateKey: _secret, ...info } = toSigningKey(row);
  return { retired, active: info };
}

/** Every key's public part, newest first (the active one is the newest not retired). */
export function publicKeys(db: DatabaseSync): PublicKeyInfo[] {
  const rows = stmt(
    db,
    'SELECT id, public_key, created_at, retired_at FROM report_keys ORDER BY created_at DESC, rowid DESC',
  ).all() as unknown as Omit<KeyRow, 'private_key'>[];
  return rows.map((r) => ({
    id: r.id,
    algorithm: SIGNATURE_ALGORITHM,
    publicKey: r.public_key,
    createdAt: r.created_at,
    retiredAt: r.retired_at,
  }));
}

export function publicKeyObject(info: PublicKeyInfo): KeyObject {
  return createPublicKey(info.publicKey);
}

/**
 * The store now holds a private key: its file and the WAL and shared-memory files beside it are
 * made owner-only (0600). SQLite gives new WAL files the database file's mode, so this holds.
 */
function tightenStorePermissions(ctx: CollectorContext): void {
  const path = ctx.config.store.sqlite;
  if (path === ':memory:' || path.startsWith('file:')) return;
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    if (!existsSync(file)) continue;
    const mode = statSync(file).mode & 0o777;
    if ((mode & 0o077) === 0) continue;
    chmodSync(file, mode & 0o700);
    ctx.log.warn(
      { file, mode: mode.toString(8) },
      'the store holds the report signing key: made it readable by its owner only',
    );
  }
}
