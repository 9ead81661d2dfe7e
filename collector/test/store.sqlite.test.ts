/**
 * The SQLite store below ingest: a store written by an older release is migrated with its data,
 * and WAL checkpoints happen on their own thread (the writer never checkpoints itself).
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { startCheckpointer } from '../src/store/checkpointer.ts';
import { MIGRATIONS } from '../src/store/migrations.ts';
import { openDatabase } from '../src/store/sqlite.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dayi-store-'));
  dirs.push(dir);
  return join(dir, 'dayi.sqlite');
}

/** Salt-1 and salt-2 of a WAL file's header: SQLite picks new ones each time the WAL starts over. */
function walSalt(walPath: string): string {
  const fd = openSync(walPath, 'r');
  try {
    const header = Buffer.alloc(32);
    readSync(fd, header, 0, 32, 0);
    return header.subarray(16, 24).toString('hex');
  } finally {
    closeSync(fd);
  }
}

/** A store exactly as release `version` left it: its migrations only, recorded as applied. */
function storeAtVersion(path: string, version: number): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec(
    'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
  );
  for (const m of MIGRATIONS.filter((m) => m.version <= version)) {
    db.exec(m.sql);
    db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, 0);
  }
  return db;
}

const silent = { error: () => {}, warn: () => {} };

describe('store migrations', () => {
  it('brings a version-2 store to the current schema with its ledger and observations intact', () => {
    const path = tempFile();
    const old = storeAtVersion(path, 2);
    const insert = old.prepare(
      'INSERT INTO messages (instrument_id, kind, seq, ts, received_at, payload) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const observe = old.prepare(
      'INSERT INTO observations (instrument_id, ts, state, message_id) VALUES (?, ?, ?, ?)',
    );
    for (let i = 0; i < 5; i++) {
      const id = Number(insert.run('NMR-1', 'telemetry', i, 1000 + i, 1000 + i, '{}').lastInsertRowid);
      observe.run('NMR-1', 1000 + (4 - i), i % 2 ? 'running' : 'idle', id);
    }
    insert.run('NMR-1', 'status', null, 2000, 2000, '{}');
    old.close();

    const db = openDatabase(path);
    const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').all();
    expect(versions.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    // observations come back in (ts, message) order, as derivation reads them
    const obs = db
      .prepare('SELECT ts, state, message_id FROM observations WHERE instrument_id = ?')
      .all('NMR-1');
    expect(obs.map((o) => o.ts)).toEqual([1000, 1001, 1002, 1003, 1004]);
    expect(obs.map((o) => o.message_id)).toEqual([5, 4, 3, 2, 1]);

    // duplicates by (instrument, kind, seq, ts) are refused; a seq reused with another ts (an agent
    // that lost its outbox) is kept; status messages (no seq) never are duplicates
    const again = db.prepare(
      'INSERT OR IGNORE INTO messages (instrument_id, kind, seq, ts, received_at, payload) VALUES (?, ?, ?, ?, ?, ?)',
    );
    expect(again.run('NMR-1', 'telemetry', 3, 1003, 9, '{}').changes).toBe(0);
    expect(again.run('NMR-1', 'telemetry', 3, 9, 9, '{}').changes).toBe(1);
    expect(again.run('NMR-1', 'status', null, 9, 9, '{}').changes).toBe(1);
    // an instrument's messages are found through an index, not by reading the whole ledger
    const plan = db
      .prepare('EXPLAIN QUERY PLAN SELECT 1 FROM messages WHERE instrument_id = ? LIMIT 1')
      .all('NMR-1')
      .map((r) => String(r.detail));
    expect(plan.join('\n')).toMatch(/USING (COVERING )?INDEX messages_dedupe/);
    db.close();
  });
});

describe('WAL checkpoints on their own thread', () => {
  it('keeps the writer from checkpointing, copies the WAL into the database file, and bounds it', async () => {
    const path = tempFile();
    const db = openDatabase(path);
    const checkpointer = startCheckpointer(db, path, {
      sync: 'normal',
      everyMs: 10,
      restartAfterFrames: 50,
      log: silent,
    });
    expect(db.prepare('PRAGMA wal_autocheckpoint').get()).toEqual({ wal_autocheckpoint: 0 });
    const sizeBefore = statSync(path).size;
    const insert = db.prepare(
      'INSERT INTO messages (instrument_id, kind, seq, ts, received_at, payload) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const payload = 'x'.repeat(2000);
    let seq = 0;
    // Small commits with pauses (the writer idle between batches, as ingest is between event-loop
    // turns) until the WAL has started over a few times: each start (a new salt in its header)
    // reuses the file from its beginning, which is what bounds it. The loop waits for that, not
    // for a time, so a loaded machine only makes it longer (a thread that never restarts fails).
    const salts = new Set<string>();
    for (let round = 0; round < 2000 && (salts.size < 3 || round < 40); round++) {
      db.exec('BEGIN');
      for (let i = 0; i < 20; i++) insert.run('NMR-1', 'telemetry', seq++, seq, seq, payload);
      db.exec('COMMIT');
      salts.add(walSalt(`${path}-wal`));
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(salts.size).toBeGreaterThanOrEqual(3);
    // Only the thread can have moved pages into the main file: the writer's autocheckpoint is off.
    for (let i = 0; i < 2000 && statSync(path).size <= sizeBefore + 1_000_000; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(statSync(path).size).toBeGreaterThan(sizeBefore + 1_000_000);
    await checkpointer.close();
    expect(db.prepare('SELECT COUNT(*) AS n FROM messages').get()).toEqual({ n: seq });
    db.close();
  });

  it('hands checkpoints back to the writer when the thread cannot run', async () => {
    const path = tempFile();
    const db = openDatabase(path);
    const errors: string[] = [];
    const checkpointer = startCheckpointer(db, join(path, 'not-a-dir', 'x.sqlite'), {
      sync: 'normal',
      log: { error: (m: string) => errors.push(m), warn: () => {} },
    });
    for (let i = 0; i < 500 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(errors.join('\n')).toMatch(/WAL checkpoint thread .*the writer checkpoints itself again/);
    expect(db.prepare('PRAGMA wal_autocheckpoint').get()).toEqual({ wal_autocheckpoint: 1000 });
    await checkpointer.close();
    db.close();
  });
});
