/**
 * The SQLite implementation of the series store: `series_telemetry` holds, per instrument and
 * event time, the metrics of each accepted telemetry message of the last `series.retention`. It is
 * filled AFTER commit from the ledger by rowid high-water mark (`export_cursors` `series.sqlite`),
 * one INSERT … SELECT per chunk (the JSON is cut in SQLite, not in JavaScript), so ingest writes
 * nothing more per message; a query first copies what is still missing, so answers are never stale.
 * Rows older than the retention are deleted by the hour; the ledger is never pruned.
 */
import type { DatabaseSync } from 'node:sqlite';
import type { CollectorContext } from '../context.ts';
import { inTransaction, stmt } from '../derive/io/store.ts';
import type { SeriesBucket, SeriesQuery, SeriesStore } from './types.ts';

export const SERIES_CURSOR = 'series.sqlite';
/** Rows copied per chunk: a few ms of the ingest thread. */
export const COPY_CHUNK = 5000;

export interface SqliteSeries extends SeriesStore {
  /** Copies ledger rows not yet in `series_telemetry`, up to `limit` (all when absent). Returns rows copied. */
  catchUp(limit?: number): number;
  /** Deletes rows older than the retention. Returns rows deleted. */
  prune(): number;
  close(): void;
}

function position(db: DatabaseSync): number {
  const row = stmt(db, 'SELECT position FROM export_cursors WHERE name = ?').get(SERIES_CURSOR) as
    | { position: number }
    | undefined;
  return row?.position ?? 0;
}

export function createSqliteSeries(
  ctx: CollectorContext,
  opts: { everyMs?: number; pruneEveryMs?: number } = {},
): SqliteSeries {
  const { db } = ctx;

  function copy(limit: number): number {
    const from = position(db);
    const newest = (stmt(db, 'SELECT COALESCE(MAX(id), 0) AS id FROM messages').get() as { id: number }).id;
    if (newest <= from) return 0;
    const to = Math.min(newest, from + limit);
    return inTransaction(db, () => {
      const r = stmt(
        db,
        `INSERT OR IGNORE INTO series_telemetry (instrument_id, ts, message_id, metrics)
           SELECT instrument_id, ts, id, json_extract(payload, '$.metrics') FROM messages
            WHERE id > ? AND id <= ? AND kind = 'telemetry'`,
      ).run(from, to);
      stmt(
        db,
        `INSERT INTO export_cursors (name, position, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
      ).run(SERIES_CURSOR, to, ctx.now());
      return Number(r.changes);
    });
  }

  function catchUp(limit = Number.POSITIVE_INFINITY): number {
    let copied = 0;
    while (copied < limit) {
      const before = position(db);
      copied += copy(Math.min(COPY_CHUNK, limit - copied));
      if (position(db) === before) break;
    }
    return copied;
  }

  function prune(): number {
    const before = ctx.now() - ctx.config.series.retention;
    let deleted = 0;
    const ids = stmt(db, 'SELECT DISTINCT instrument_id AS id FROM instrument_status').all() as {
      id: string;
    }[];
    const del = stmt(db, 'DELETE FROM series_telemetry WHERE instrument_id = ? AND ts < ?');
    for (const { id } of ids) deleted += Number(inTransaction(db, () => del.run(id, before)).changes);
    return deleted;
  }

  // Bounded work per tick: at most one chunk a second, so a burst is copied over the next seconds
  // instead of holding the ingest thread; a query catches up on what it needs at once.
  const timer = setInterval(() => {
    try {
      copy(COPY_CHUNK);
    } catch (err) {
      ctx.log.warn({ err }, 'series copy failed; it is tried again');
    }
  }, opts.everyMs ?? 1000);
  timer.unref();
  const pruneTimer = setInterval(() => {
    try {
      prune();
    } catch (err) {
      ctx.log.warn({ err }, 'series retention prune failed; it is tried again');
    }
  }, opts.pruneEveryMs ?? 3_600_000);
  pruneTimer.unref();

  return {
    kind: 'sqlite',
    catchUp,
    prune,
    async series(q: SeriesQuery): Promise<SeriesBucket[]> {
      catchUp();
      const rows = stmt(
        db,
        `SELECT ts - (ts % ?1) AS t, avg(v) AS mean, min(v) AS min, max(v) AS max, count(v) AS count
           FROM (SELECT ts, json_extract(metrics, ?2) AS v FROM series_telemetry
                  WHERE instrument_id = ?3 AND ts >= ?4 AND ts < ?5)
          WHERE v IS NOT NULL GROUP BY t ORDER BY t`,
      ).all(q.everyMs, `$.${q.metric}`, q.instrumentId, q.from, q.to) as unknown as SeriesBucket[];
      return rows.map((r) => ({ t: r.t, mean: r.mean, min: r.min, max: r.max, count: r.count }));
    },
    close() {
      clearInterval(timer);
      clearInterval(pruneTimer);
    },
  };
}
