/**
 * The derive stage's reads and writes on the SQLite store: observations in, daily figures out.
 * Kept apart from the pure modules (timeline, usage, idle, current) so those stay free of I/O.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { State } from '@dayi/protocols';
import type { LatestRun } from './current.ts';
import type { Observation } from './timeline.ts';
import type { DayUsage } from './usage.ts';

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
}

export function readDailyUsage(
  db: DatabaseSync,
  instrumentId: string,
  from: string,
  to: string,
): Map<string, DailyUsageRow> {
  const rows = stmt(
    db,
    `SELECT date, powered_ms, running_ms, covered_ms, span_ms, computed_at FROM daily_usage
       WHERE instrument_id = ? AND date >= ? AND date <= ?`,
  ).all(instrumentId, from, to) as unknown as {
    date: string;
    powered_ms: number;
    running_ms: number;
    covered_ms: number;
    span_ms: number;
    computed_at: number;
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
      },
    ]),
  );
}

export function writeDailyUsage(
  db: DatabaseSync,
  instrumentId: string,
  days: readonly DayUsage[],
  now: number,
) {
  const upsert = stmt(
    db,
    `INSERT INTO daily_usage (instrument_id, date, powered_ms, running_ms, covered_ms, span_ms, computed_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (instrument_id, date) DO UPDATE SET powered_ms = excluded.powered_ms,
       running_ms = excluded.running_ms, covered_ms = excluded.covered_ms, span_ms = excluded.span_ms,
       computed_at = excluded.computed_at`,
  );
  for (const d of days)
    upsert.run(instrumentId, d.date, d.poweredMs, d.runningMs, d.coveredMs, d.spanMs, now);
}

/**
 * The latest observation and the start of its run: walking back from it, the run ends at the first
 * observation in another state or at a gap longer than offlineAfter (unknown time in between).
 * Both searches run inside SQLite over the index, so a long run costs no JavaScript per row.
 */
export function loadLatestRun(
  db: DatabaseSync,
  instrumentId: string,
  offlineAfterMs: number,
): LatestRun | null {
  const latest = stmt(
    db,
    'SELECT ts, state, message_id FROM observations WHERE instrument_id = ? ORDER BY ts DESC, message_id DESC LIMIT 1',
  ).get(instrumentId) as ObservationRow | undefined;
  if (!latest) return null;

  // The newest earlier ts whose winning observation (last inserted at that ts) is in another state.
  const otherState = stmt(
    db,
    `SELECT ts FROM observations WHERE instrument_id = ? AND ts < ? AND state != ?
     ORDER BY ts DESC, message_id DESC LIMIT 1`,
  );
  const winnerAt = stmt(
    db,
    'SELECT state FROM observations WHERE instrument_id = ? AND ts = ? ORDER BY message_id DESC LIMIT 1',
  );
  let boundary: number | null = null;
  let below = latest.ts;
  for (;;) {
    const row = otherState.get(instrumentId, below, latest.state) as { ts: number } | undefined;
    if (!row) break;
    const winner = winnerAt.get(instrumentId, row.ts) as { state: State };
    if (winner.state !== latest.state) {
      boundary = row.ts;
      break;
    }
    below = row.ts; // a losing tie: the observation that counts at that ts is in the same state
  }

  // Within the run, the last evidence gap longer than offlineAfter starts a new run.
  const after = boundary ?? Number.MIN_SAFE_INTEGER;
  const gap = stmt(
    db,
    `SELECT MAX(ts) AS ts FROM (
         SELECT ts, ts - LAG(ts) OVER (ORDER BY ts) AS gap FROM observations
         WHERE instrument_id = ? AND ts > ? AND ts <= ?)
       WHERE gap > ?`,
  ).get(instrumentId, after, latest.ts, offlineAfterMs) as { ts: number | null };
  const first = stmt(db, 'SELECT MIN(ts) AS ts FROM observations WHERE instrument_id = ? AND ts > ?').get(
    instrumentId,
    after,
  ) as { ts: number };
  let runStart = gap.ts ?? first.ts;

  // A `state` message may say the state began earlier than its own ts (`since`): trust it back to
  // the previous evidence of another state, never beyond.
  const startMsg = stmt(
    db,
    `SELECT m.kind, m.payload FROM observations o JOIN messages m ON m.id = o.message_id
       WHERE o.instrument_id = ? AND o.ts = ? ORDER BY o.message_id DESC LIMIT 1`,
  ).get(instrumentId, runStart) as { kind: string; payload: string } | undefined;
  if (startMsg?.kind === 'state') {
    const since = sinceOf(startMsg.payload);
    if (since !== null && since < runStart && since > after) runStart = since;
  }
  return { ts: latest.ts, state: latest.state, runStart };
}

function sinceOf(payload: string): number | null {
  try {
    const since = (JSON.parse(payload) as { since?: unknown }).since;
    return typeof since === 'number' && Number.isFinite(since) ? since : null;
  } catch {
    return null;
  }
}
