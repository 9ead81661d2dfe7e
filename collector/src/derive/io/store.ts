/**
 * The derive stage's reads and writes on the SQLite store: observations in, daily figures out.
 * Kept apart from the pure modules (timeline, usage, idle, current) so those stay free of I/O.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { DerivedState, State } from '@dayi/protocols';
import type { Observation } from '../pure/timeline.ts';
import type { DayTail, DayUsage } from '../pure/usage.ts';

const statements = new WeakMap<DatabaseSync, Map<string, StatementSync>>();

/** A prepared statement, compiled once per database (queries run per instrument, per request). */
export function stmt(db: DatabaseSync, sql: string): StatementSync {
  let cache = statements.get(db);
  if (!cache) {
    cache = new Map();
    statements.set(db, cache);
  }
  let s = cache.get(sql);
  if (!s) {
    s = db.prepare(sql);
    cache.set(sql, s);
  }
  return s;
}

/**
 * Runs `fn` atomically. Outside a transaction: BEGIN IMMEDIATE (takes the write lock up front, so
 * a second connection, e.g. `dayi collector rederive` beside a running collector, waits instead of
 * failing on a lock upgrade). Inside one: a savepoint, so callers can nest.
 */
export function inTransaction<T>(db: DatabaseSync, fn: () => T): T {
  if (db.isTransaction) {
    db.exec('SAVEPOINT dayi_derive');
    try {
      const out = fn();
      db.exec('RELEASE dayi_derive');
      return out;
    } catch (err) {
      db.exec('ROLLBACK TO dayi_derive');
      db.exec('RELEASE dayi_derive');
      throw err;
    }
  }
  db.exec('BEGIN IMMEDIATE');
  try {
    const out = fn();
    db.exec('COMMIT');
    return out;
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
}

interface ObservationRow {
  ts: number;
  state: State;
  message_id: number;
}

/**
 * Every observation that can hold inside [start, end): those with ts in [start - offlineAfter, end).
 * An older one has gone stale before `start`; a later one cannot reach back. Ties keep ledger order.
 */
export function loadObservations(
  db: DatabaseSync,
  instrumentId: string,
  start: number,
  end: number,
  offlineAfterMs: number,
): Observation[] {
  const rows = stmt(
    db,
    `SELECT ts, state, message_id FROM observations
       WHERE instrument_id = ? AND ts >= ? AND ts < ? ORDER BY ts, message_id`,
  ).all(instrumentId, start - offlineAfterMs, end) as unknown as ObservationRow[];
  return rows.map((r) => ({ ts: r.ts, state: r.state, order: r.message_id }));
}

export interface DailyUsageRow extends DayUsage {
  computedAt: number;
  /** null for a row stored before the tail was kept, or a day whose timeline stops before its end. */
  tail: DayTail | null;
}

export function readDailyUsage(
  db: DatabaseSync,
  instrumentId: string,
  from: string,
  to: string,
): Map<string, DailyUsageRow> {
  const rows = stmt(
    db,
    `SELECT date, powered_ms, running_ms, covered_ms, span_ms, computed_at, tail_state, tail_start
       FROM daily_usage WHERE instrument_id = ? AND date >= ? AND date <= ?`,
  ).all(instrumentId, from, to) as unknown as {
    date: string;
    powered_ms: number;
    running_ms: number;
    covered_ms: number;
    span_ms: number;
    computed_at: number;
    tail_state: DerivedState | null;
    tail_start: number | null;
  }[];
  return new Map(
    rows.map((r) => [
      r.date,
      {
        date: r.date,
        poweredMs: r.powered_ms,
        runningMs: r.running_ms,
        coveredMs: r.covered_ms,
        spanMs: r.span_ms,
        computedAt: r.computed_at,
        tail:
          r.tail_state === null || r.tail_start === null
            ? null
            : { state: r.tail_state, start: r.tail_start },
      },
    ]),
  );
}

export function writeDailyUsage(
  db: DatabaseSync,
  instrumentId: string,
  days: readonly (DayUsage & { tail: DayTail | null })[],
  now: number,
) {
  const upsert = stmt(
    db,
    `INSERT INTO daily_usage (instrument_id, date, powered_ms, running_ms, covered_ms, span_ms, computed_at,
       tail_state, tail_start)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (instrument_id, date) DO UPDATE SET powered_ms = excluded.powered_ms,
       running_ms = excluded.running_ms, covered_ms = excluded.covered_ms, span_ms = excluded.span_ms,
       computed_at = excluded.computed_at, tail_state = excluded.tail_state, tail_start = excluded.tail_start`,
  );
  for (const d of days) {
    upsert.run(
      instrumentId,
      d.date,
      d.poweredMs,
      d.runningMs,
      d.coveredMs,
      d.spanMs,
      now,
      d.tail?.state ?? null,
      d.tail?.start ?? null,
    );
  }
}
