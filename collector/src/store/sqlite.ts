import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { MIGRATIONS } from './migrations.ts';

export interface OpenOptions {
  /** `full` fsyncs the WAL at every commit (survives power loss); `normal` (default) survives a killed process. */
  sync?: 'full' | 'normal';
}

/** Opens (creating if needed) the SQLite store and brings its schema up to date. */
export function openDatabase(path: string, opts: OpenOptions = {}): DatabaseSync {
  if (path !== ':memory:') privateStoreFiles(path);
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec(`PRAGMA synchronous = ${opts.sync === 'full' ? 'FULL' : 'NORMAL'}`);
  db.exec('PRAGMA foreign_keys = ON');
  db.exec('PRAGMA busy_timeout = 5000');
  migrate(db);
  return db;
}

/**
 * The store holds the ledger and excerpts of refused payloads: readable by its owner only, whatever
 * the umask. A folder the collector creates is 0700; the database file is created 0600 before
 * SQLite opens it, and SQLite gives its -wal and -shm files the database file's mode. Files left
 * 0644 by an older version are narrowed at start. A folder that already existed is left as it is.
 */
export function privateStoreFiles(path: string): void {
  const dir = dirname(path);
  if (!existsSync(dir)) {
    const first = mkdirSync(dir, { recursive: true, mode: 0o700 });
    // mkdir's mode passes through the umask; a strict umask could leave the folder unusable
    if (first) chmodSync(dir, 0o700);
    if (first && first !== dir) chmodSync(first, 0o700);
  }
  closeSync(openSync(path, 'a', 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      chmodSync(file, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

export function migrate(db: DatabaseSync): void {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
  );
  const row = db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as {
    v: number;
  };
  for (const m of MIGRATIONS) {
    if (m.version <= row.v) continue;
    db.exec('BEGIN');
    try {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        Date.now(),
      );
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw new Error(`store migration ${m.version} (${m.name}) failed: ${(err as Error).message}`);
    }
  }
}
