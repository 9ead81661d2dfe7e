/**
 * Reads and writes of the detectors' state (migration 8): per instrument (`detect_state`), per
 * instrument and local date (`detect_days`: the fold's checkpoint at that midnight, and the day's
 * histograms once the day is finished), and the pass's own position (`detect_meta`).
 */
import type { DatabaseSync } from 'node:sqlite';
import type { State, TopicKind, TopicPayloads } from '@dayi/protocols';
import { stmt } from '../derive/io/store.ts';
import type { ArrivalState } from '../detect/arrivals.ts';
import type { FoldState } from '../detect/fold.ts';
import type { DayHist } from '../detect/histogram.ts';
import type { DetectMessage } from '../detect/index.ts';
import type { Finding, Sample } from '../detect/types.ts';

/** A sample waiting in the reorder buffer, with its arrival time. */
export interface PendingSample extends Sample {
  receivedAt: number;
}

/** What is kept per instrument between passes. */
export interface InstrumentDetectState {
  fold: FoldState;
  pending: PendingSample[];
  link: ArrivalState;
  /** The open idle episode, if any (it ends at the next powered observation). */
  idleOpen: Finding | null;
  /**
   * Observations came in behind the fold (a replay): fold again from the checkpoint before `from`
   * through `upTo` once none has arrived for a while (`at`, arrival clock), so a replay is folded once.
   */
  late: { from: number; upTo: { ts: number; id: number }; at: number } | null;
  /**
   * Findings of single messages (events, impossible readings) waiting until the fold has passed
   * their time, so that they meet the alerts in event-time order like everything else.
   */
  points: { finding: Finding; receivedAt: number }[];
}

export function loadStates(db: DatabaseSync): Map<string, InstrumentDetectState> {
  const rows = stmt(db, 'SELECT instrument_id, state FROM detect_state').all() as {
    instrument_id: string;
    state: string;
  }[];
  return new Map(
    rows.map((r) => {
      const s = JSON.parse(r.state) as InstrumentDetectState;
      s.points ??= [];
      s.late ??= null;
      return [r.instrument_id, s];
    }),
  );
}

export function saveState(db: DatabaseSync, instrumentId: string, state: InstrumentDetectState): void {
  stmt(
    db,
    `INSERT INTO detect_state (instrument_id, state) VALUES (?, ?)
       ON CONFLICT (instrument_id) DO UPDATE SET state = excluded.state`,
  ).run(instrumentId, JSON.stringify(state));
}

export function readMeta(db: DatabaseSync): Map<string, string> {
  const rows = stmt(db, 'SELECT key, value FROM detect_meta').all() as { key: string; value: string }[];
  return new Map(rows.map((r) => [r.key, r.value]));
}

export function writeMeta(db: DatabaseSync, key: string, value: string): void {
  stmt(db, 'INSERT OR REPLACE INTO detect_meta (key, value) VALUES (?, ?)').run(key, value);
}

export function writeCheckpoint(
  db: DatabaseSync,
  instrumentId: string,
  date: string,
  state: FoldState,
): void {
  stmt(
    db,
    `INSERT INTO detect_days (instrument_id, date, checkpoint) VALUES (?, ?, ?)
       ON CONFLICT (instrument_id, date) DO UPDATE SET checkpoint = excluded.checkpoint`,
  ).run(instrumentId, date, JSON.stringify(state));
}

export function writeDayHist(db: DatabaseSync, instrumentId: string, day: DayHist): void {
  stmt(
    db,
    `INSERT INTO detect_days (instrument_id, date, hist) VALUES (?, ?, ?)
       ON CONFLICT (instrument_id, date) DO UPDATE SET hist = excluded.hist`,
  ).run(instrumentId, day.date, JSON.stringify(day.hist));
}

export function pruneDays(db: DatabaseSync, instrumentId: string, before: string): void {
  stmt(db, 'DELETE FROM detect_days WHERE instrument_id = ? AND date < ?').run(instrumentId, before);
}

export function readDayHists(db: DatabaseSync, instrumentId: string, from: string, to: string): DayHist[] {
  const rows = stmt(
    db,
    `SELECT date, hist FROM detect_days WHERE instrument_id = ? AND date >= ? AND date <= ? AND hist IS NOT NULL`,
  ).all(instrumentId, from, to) as { date: string; hist: string }[];
  return rows.map((r) => ({ date: r.date, hist: JSON.parse(r.hist) as DayHist['hist'] }));
}

/** The latest checkpoint at or before `date`; else the oldest one; null when there is none. */
export function checkpointFor(
  db: DatabaseSync,
  instrumentId: string,
  date: string,
): { date: string; state: FoldState; exact: boolean } | null {
  const before = stmt(
    db,
    `SELECT date, checkpoint FROM detect_days WHERE instrument_id = ? AND date <= ? AND checkpoint IS NOT NULL
       ORDER BY date DESC LIMIT 1`,
  ).get(instrumentId, date) as { date: string; checkpoint: string } | undefined;
  if (before) return { date: before.date, state: JSON.parse(before.checkpoint) as FoldState, exact: true };
  const oldest = stmt(
    db,
    `SELECT date, checkpoint FROM detect_days WHERE instrument_id = ? AND checkpoint IS NOT NULL
       ORDER BY date LIMIT 1`,
  ).get(instrumentId) as { date: string; checkpoint: string } | undefined;
  return oldest
    ? { date: oldest.date, state: JSON.parse(oldest.checkpoint) as FoldState, exact: false }
    : null;
}

interface ObservationMessageRow {
  ts: number;
  id: number;
  state: State;
  kind: TopicKind;
  payload: string;
}

/**
 * The instrument's observations with ts in [from, upTo.ts] and (ts, id) ≤ upTo, in (ts, id)
 * order, as samples (the signal value read from the telemetry payload).
 */
export function readSamples(
  db: DatabaseSync,
  instrumentId: string,
  from: number,
  upTo: { ts: number; id: number },
  signal: string,
): Sample[] {
  const rows = stmt(
    db,
    `SELECT o.ts AS ts, o.message_id AS id, o.state AS state, m.kind AS kind, m.payload AS payload
       FROM observations o JOIN messages m ON m.id = o.message_id
       WHERE o.instrument_id = ? AND o.ts >= ? AND (o.ts < ? OR (o.ts = ? AND o.message_id <= ?))
       ORDER BY o.ts, o.message_id`,
  ).all(instrumentId, from, upTo.ts, upTo.ts, upTo.id) as unknown as ObservationMessageRow[];
  return rows.map((r) => ({
    ts: r.ts,
    id: r.id,
    state: r.state,
    value: signalOf(r.kind, r.payload, signal),
  }));
}

function signalOf(kind: TopicKind, payload: string, signal: string): number | null {
  if (kind !== 'telemetry') return null;
  try {
    const v = (JSON.parse(payload) as TopicPayloads['telemetry']).metrics?.[signal];
    return typeof v === 'number' ? v : null;
  } catch {
    return null;
  }
}

interface LedgerRow {
  id: number;
  instrument_id: string;
  kind: TopicKind;
  ts: number;
  received_at: number;
  payload: string;
  state: State | null;
}

/** Accepted messages after ledger id `after`, with their observation, in ledger order, and the last id read. */
export function readLedger(
  db: DatabaseSync,
  after: number,
  limit: number,
): { messages: (DetectMessage & { instrumentId: string })[]; lastId: number; rows: number } {
  const rows = stmt(
    db,
    `SELECT m.id, m.instrument_id, m.kind, m.ts, m.received_at, m.payload, o.state
       FROM messages m
       LEFT JOIN observations o ON o.instrument_id = m.instrument_id AND o.ts = m.ts AND o.message_id = m.id
       WHERE m.id > ? ORDER BY m.id LIMIT ?`,
  ).all(after, limit) as unknown as LedgerRow[];
  const out: (DetectMessage & { instrumentId: string })[] = [];
  for (const r of rows) {
    let payload: TopicPayloads[TopicKind];
    try {
      payload = JSON.parse(r.payload) as TopicPayloads[TopicKind];
    } catch {
      continue; // ingest keeps only valid JSON; a damaged row is skipped, not fatal
    }
    out.push({
      id: r.id,
      instrumentId: r.instrument_id,
      kind: r.kind,
      payload,
      ts: r.ts,
      receivedAt: r.received_at,
      state: r.state,
    });
  }
  return { messages: out, lastId: rows.length > 0 ? rows[rows.length - 1]!.id : after, rows: rows.length };
}

/** The last ledger id (0 for an empty ledger). */
export function lastMessageId(db: DatabaseSync): number {
  return (stmt(db, 'SELECT COALESCE(MAX(id), 0) AS id FROM messages').get() as { id: number }).id;
}
