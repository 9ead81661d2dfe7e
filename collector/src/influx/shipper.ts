/**
 * The InfluxDB shipper: reads what the SQLite store has COMMITTED, in order, and writes it to
 * InfluxDB, keeping a durable high-water mark per stream in `export_cursors`:
 *
 * - `influx.messages`: the ledger (`messages`, by rowid): each telemetry message is one
 *   `telemetry` point; state evidence (telemetry and state messages) folds into `state` intervals
 *   (runs.ts), whose open interval per instrument is kept in `influx_state_runs`;
 * - `influx.usage`: `usage_changes` (filled by triggers on `daily_usage`): each changed day is one
 *   `usage_daily` point, overwritten when the day is re-derived;
 * - `influx.alerts`: `alert_events`, one `alert` point per event.
 *
 * A cursor moves only after InfluxDB acknowledged the batch, in the same SQLite transaction as the
 * state runs it shipped, so a crash or an outage sends a batch again (points are idempotent:
 * same series, same time) and never skips one. Nothing here runs on the ingest path: it uses its
 * own connection (worker.ts), and ingest never waits for InfluxDB.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { State, Telemetry, TopicKind, TopicPayloads } from '@dayi/protocols';
import { type CollectorConfig, type Thresholds, thresholdsSchema } from '../config.ts';
import type { CollectorContext } from '../context.ts';
import { computeDays } from '../derive/io/recompute.ts';
import { dayBounds } from '../derive/pure/calendar.ts';
import { observationOf } from '../derive/pure/observation.ts';
import { type EncodedBody, InfluxWriteError } from './client.ts';
import {
  alertLine,
  createTelemetryEncoder,
  LineBatch,
  type Measurement,
  stateLine,
  usageLine,
} from './lines.ts';
import { foldRuns, type OpenRun } from './runs.ts';

/** Rows encoded between two turns of the event loop while a request is under way. */
const YIELD_EVERY = 250;

export const CURSORS = {
  messages: 'influx.messages',
  usage: 'influx.usage',
  alerts: 'influx.alerts',
} as const;
export type Stream = keyof typeof CURSORS;

export interface Writer {
  /** `body`: what encode() made of these lines, when the writer has encode(). */
  write(lines: LineBatch, body?: EncodedBody): Promise<void>;
  /** Encodes a batch's request body ahead of sending it (while the request before is under way). */
  encode?(lines: LineBatch): Promise<EncodedBody | undefined>;
}

export interface ShipperOptions {
  db: DatabaseSync;
  config: CollectorConfig;
  writer: Writer;
  now?: () => number;
  /** Lines per write request (≤ 5,000). */
  batchLines: number;
  log?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Asked between batches: true stops the step early (ingest is busy; worker.ts). */
  yieldIf?: () => boolean;
}

export interface ShipStats {
  /** Lines written, by measurement. */
  lines: Partial<Record<Measurement, number>>;
  /** Lines InfluxDB refused as malformed (dropped after halving down to them). */
  rejected: number;
  /** Observations older than their instrument's latest, left out of `state`. */
  lateObservations: number;
}

export interface Lag {
  /** Ledger rows not shipped yet (all kinds). */
  messages: number;
  usage: number;
  alerts: number;
  /** Age of the oldest unshipped ledger row (by arrival), s; 0 when caught up. */
  seconds: number;
}

/** A ledger row as the shipper reads it (as an array: no object per row). */
type MessageRow = [
  id: number,
  instrumentId: string,
  kind: TopicKind,
  payload: string,
  org: string | null,
  category: string | null,
  thresholds: string | null,
];

/** Throws InfluxWriteError (kind `retry`) when InfluxDB must be tried again later. */
export function createShipper(opts: ShipperOptions) {
  const { db, config } = opts;
  const now = opts.now ?? Date.now;
  const statements = new Map<string, StatementSync>();
  const stmt = (sql: string) => {
    let s = statements.get(sql);
    if (!s) {
      s = db.prepare(sql);
      statements.set(sql, s);
    }
    return s;
  };
  const cursor = (stream: Stream): number => {
    const row = stmt('SELECT position FROM export_cursors WHERE name = ?').get(CURSORS[stream]) as
      | { position: number }
      | undefined;
    return row?.position ?? 0;
  };
  const ctx = { config, db, now, log: opts.log } as unknown as CollectorContext;

  // The open state interval per instrument, as shipped (loaded once; changed only after a commit).
  const openRuns = new Map<string, OpenRun>();
  for (const r of stmt('SELECT instrument_id, state, start, last_ts FROM influx_state_runs').all() as {
    instrument_id: string;
    state: State;
    start: number;
    last_ts: number;
  }[]) {
    openRuns.set(r.instrument_id, { state: r.state, start: r.start, lastTs: r.last_ts });
  }

  const parsedThresholds = new Map<string, Thresholds | undefined>();
  function thresholdsOf(text: string | null): Thresholds | undefined {
    if (text === null) return undefined;
    if (!parsedThresholds.has(text)) {
      let t: Thresholds | undefined;
      try {
        const r = thresholdsSchema.safeParse(JSON.parse(text));
        t = r.success ? r.data : undefined;
      } catch {
        t = undefined;
      }
      if (parsedThresholds.size > 10_000) parsedThresholds.clear();
      parsedThresholds.set(text, t);
    }
    return parsedThresholds.get(text);
  }

  /**
   * Sends lines; a 413 sends halves, a 400/422 halves down to the lines InfluxDB refuses and drops
   * only those (a batch sent again overwrites what a partial write kept). Returns lines dropped.
   */
  async function send(batch: LineBatch, body?: EncodedBody): Promise<number> {
    if (batch.count === 0) return 0;
    try {
      await opts.writer.write(batch, body);
      return 0;
    } catch (err) {
      if (!(err instanceof InfluxWriteError) || err.kind === 'retry') throw err;
      const lines = batch.lines();
      if (lines.length === 1) {
        if (err.kind === 'too_large') throw err;
        opts.log?.error(
          { line: lines[0]!.slice(0, 300), err: err.message },
          'InfluxDB refused a line; it is dropped',
        );
        return 1;
      }
      const half = Math.ceil(lines.length / 2);
      return (await send(LineBatch.of(lines.slice(0, half)))) + (await send(LineBatch.of(lines.slice(half))));
    }
  }

  function commit(stream: Stream, position: number, runs?: Map<string, OpenRun>): void {
    db.exec('BEGIN IMMEDIATE');
    try {
      stmt(
        `INSERT INTO export_cursors (name, position, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
      ).run(CURSORS[stream], position, now());
      if (runs) {
        const upsert = stmt(
          `INSERT INTO influx_state_runs (instrument_id, state, start, last_ts) VALUES (?, ?, ?, ?)
           ON CONFLICT (instrument_id) DO UPDATE SET state = excluded.state, start = excluded.start,
             last_ts = excluded.last_ts`,
        );
        for (const [id, r] of runs) upsert.run(id, r.state, r.start, r.lastTs);
      }
      if (stream === 'usage') stmt('DELETE FROM usage_changes WHERE id <= ?').run(position);
      db.exec('COMMIT');
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK');
      throw err;
    }
    if (runs) for (const [id, r] of runs) openRuns.set(id, r);
  }

  interface MessageBatch {
    lines: LineBatch;
    /** The request body of `lines`, encoded ahead (when the writer encodes). */
    body: EncodedBody | undefined;
    /** The last ledger row the batch covers. */
    last: number;
    /** Open state intervals after this batch (only the instruments it changed; objects of its own). */
    changed: Map<string, OpenRun>;
    telemetry: number;
    states: number;
    late: number;
    more: boolean;
  }

  const telemetryLine = createTelemetryEncoder();
  const readMessages = db.prepare(
    `SELECT m.id, m.instrument_id, m.kind, m.payload, i.org, i.category, i.thresholds
       FROM messages m LEFT JOIN instruments i ON i.id = m.instrument_id
      WHERE m.id > ? ORDER BY m.id LIMIT ?`,
  );
  readMessages.setReturnArrays(true);

  /** Reads and encodes the ledger rows after `from`; `runOf` gives each instrument's open interval before them. */
  async function prepareMessages(
    from: number,
    runOf: (id: string) => OpenRun | undefined,
  ): Promise<MessageBatch | null> {
    const rows = readMessages.all(from, opts.batchLines) as unknown as MessageRow[];
    if (rows.length === 0) return null;
    const b: MessageBatch = {
      lines: new LineBatch(opts.batchLines * 128),
      body: undefined,
      last: from,
      changed: new Map(),
      telemetry: 0,
      states: 0,
      late: 0,
      more: false,
    };
    const offlineAfter = config.offlineAfter;
    let done = 0;
    for (const row of rows) {
      // Let the request under way make progress: encoding a batch takes milliseconds.
      if (++done % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
      const [id, instrumentId, kind, text, org, category, thresholds] = row;
      const isTelemetry = kind === 'telemetry';
      if (isTelemetry || kind === 'state') {
        const payload = JSON.parse(text) as TopicPayloads['telemetry' | 'state'];
        const state = observationOf(kind, payload, thresholdsOf(thresholds));
        const line = isTelemetry ? telemetryLine(instrumentId, org, category, payload as Telemetry) : null;
        const own = b.changed.get(instrumentId);
        const open = own ?? runOf(instrumentId);
        if (
          state !== null &&
          open !== undefined &&
          state === open.state &&
          payload.ts >= open.lastTs &&
          payload.ts <= open.lastTs + offlineAfter
        ) {
          // The common case, the run goes on: no state line (what foldRuns does, without its garbage).
          if (line !== null && b.lines.count + 1 > opts.batchLines) break;
          if (own) own.lastTs = payload.ts;
          else b.changed.set(instrumentId, { ...open, lastTs: payload.ts });
          if (line !== null) {
            b.lines.push(line);
            b.telemetry++;
          }
          b.last = id;
          continue;
        }
        const pending: string[] = line === null ? [] : [line];
        let next: OpenRun | null = null;
        let late = 0;
        if (state !== null) {
          const fold = foldRuns(open ?? null, [{ ts: payload.ts, state }], offlineAfter);
          late = fold.late;
          next = fold.open;
          for (const interval of fold.intervals) {
            pending.push(stateLine({ instrumentId, org, ...interval }));
          }
        }
        // Whole messages only: a batch ends before the message that would pass the bound.
        if (b.lines.count > 0 && b.lines.count + pending.length > opts.batchLines) break;
        for (const l of pending) b.lines.push(l);
        if (isTelemetry) b.telemetry++;
        b.states += pending.length - (isTelemetry ? 1 : 0);
        b.late += late;
        if (next) b.changed.set(instrumentId, next);
      }
      b.last = id;
    }
    b.more = rows.length === opts.batchLines || b.last < rows[rows.length - 1]![0];
    if (opts.writer.encode && b.lines.count > 0) b.body = await opts.writer.encode(b.lines);
    return b;
  }

  /**
   * Ships ledger batches in order, one request in flight: while InfluxDB takes a batch, the next
   * one is read, encoded and compressed (it becomes durable only after the one before it was
   * acknowledged). Returns whether more rows may be waiting.
   */
  async function shipMessages(stats: ShipStats, maxBatches = 20): Promise<boolean> {
    let batch = await prepareMessages(cursor('messages'), (id) => openRuns.get(id));
    for (let n = 0; batch !== null; n++) {
      const current = batch;
      const sending = send(current.lines, current.body);
      // A failed send fails the step; the batch prepared meanwhile is thrown away.
      sending.catch(() => {});
      const next =
        current.more && n + 1 < maxBatches && !opts.yieldIf?.()
          ? await prepareMessages(current.last, (id) => current.changed.get(id) ?? openRuns.get(id))
          : null;
      stats.rejected += await sending;
      commit('messages', current.last, current.changed);
      stats.lateObservations += current.late;
      stats.lines.telemetry = (stats.lines.telemetry ?? 0) + current.telemetry;
      stats.lines.state = (stats.lines.state ?? 0) + current.states;
      if (next === null) return current.more;
      batch = next;
    }
    return false;
  }

  async function shipUsage(stats: ShipStats): Promise<boolean> {
    const from = cursor('usage');
    const rows = stmt(
      `SELECT c.id, c.instrument_id, c.date, i.org, i.category
         FROM usage_changes c LEFT JOIN instruments i ON i.id = c.instrument_id
        WHERE c.id > ? ORDER BY c.id LIMIT ?`,
    ).all(from, opts.batchLines) as unknown as {
      id: number;
      instrument_id: string;
      date: string;
      org: string | null;
      category: string | null;
    }[];
    if (rows.length === 0) return false;
    // A day changed twice in the batch is written once, with what the store holds now.
    const days = new Map<string, (typeof rows)[number]>();
    for (const r of rows) days.set(`${r.instrument_id}\u0000${r.date}`, r);
    const stored = stmt(
      'SELECT powered_ms, running_ms, covered_ms, span_ms FROM daily_usage WHERE instrument_id = ? AND date = ?',
    );
    const lines: string[] = [];
    for (const r of days.values()) {
      const row = stored.get(r.instrument_id, r.date) as
        | { powered_ms: number; running_ms: number; covered_ms: number; span_ms: number }
        | undefined;
      // A deleted day (re-derived away) is written as /usage would answer it now: computed live.
      const day = row
        ? {
            poweredMs: row.powered_ms,
            runningMs: row.running_ms,
            coveredMs: row.covered_ms,
            spanMs: row.span_ms,
          }
        : computeDays(ctx, r.instrument_id, [r.date], now())[0]!;
      lines.push(
        usageLine({
          instrumentId: r.instrument_id,
          org: r.org,
          category: r.category,
          dayStart: dayBounds(r.date, config.timezone).start,
          ...day,
        }),
      );
    }
    stats.rejected += await send(LineBatch.of(lines));
    commit('usage', rows[rows.length - 1]!.id);
    stats.lines.usage_daily = (stats.lines.usage_daily ?? 0) + lines.length;
    return rows.length === opts.batchLines;
  }

  async function shipAlerts(stats: ShipStats): Promise<boolean> {
    const from = cursor('alerts');
    const rows = stmt(
      `SELECT e.id, e.instrument_id, e.kind, e.type, e.severity, e.status, e.at, e.detail, i.org
         FROM alert_events e LEFT JOIN instruments i ON i.id = e.instrument_id
        WHERE e.id > ? ORDER BY e.id LIMIT ?`,
    ).all(from, opts.batchLines) as unknown as {
      id: number;
      instrument_id: string;
      kind: string;
      type: string;
      severity: string;
      status: string;
      at: number;
      detail: string;
      org: string | null;
    }[];
    if (rows.length === 0) return false;
    const lines = rows.map((r) =>
      alertLine({
        id: r.id,
        instrumentId: r.instrument_id,
        org: r.org,
        kind: r.kind,
        type: r.type,
        severity: r.severity,
        status: r.status,
        at: r.at,
        detail: r.detail,
      }),
    );
    stats.rejected += await send(LineBatch.of(lines));
    commit('alerts', rows[rows.length - 1]!.id);
    stats.lines.alert = (stats.lines.alert ?? 0) + lines.length;
    return rows.length === opts.batchLines;
  }

  /**
   * At the first start with InfluxDB configured, every day already derived is queued, so the
   * history that predates InfluxDB reaches it too (the ledger and alerts start from rowid 0).
   */
  function seedUsage(): void {
    const exists = stmt('SELECT 1 FROM export_cursors WHERE name = ?').get(CURSORS.usage);
    if (exists) return;
    db.exec('BEGIN IMMEDIATE');
    try {
      stmt('DELETE FROM usage_changes').run();
      stmt(
        'INSERT INTO usage_changes (instrument_id, date) SELECT instrument_id, date FROM daily_usage',
      ).run();
      stmt('INSERT INTO export_cursors (name, position, updated_at) VALUES (?, 0, ?)').run(
        CURSORS.usage,
        now(),
      );
      db.exec('COMMIT');
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK');
      throw err;
    }
  }

  function lag(): Lag {
    const messagesFrom = cursor('messages');
    const newest = stmt('SELECT COALESCE(MAX(id), 0) AS id FROM messages').get() as { id: number };
    const oldest = stmt('SELECT received_at FROM messages WHERE id > ? ORDER BY id LIMIT 1').get(
      messagesFrom,
    ) as { received_at: number } | undefined;
    const usage = stmt('SELECT COUNT(*) AS n FROM usage_changes WHERE id > ?').get(cursor('usage')) as {
      n: number;
    };
    const alerts = stmt('SELECT COUNT(*) AS n FROM alert_events WHERE id > ?').get(cursor('alerts')) as {
      n: number;
    };
    return {
      messages: Math.max(0, newest.id - messagesFrom),
      usage: usage.n,
      alerts: alerts.n,
      seconds: oldest ? Math.max(0, (now() - oldest.received_at) / 1000) : 0,
    };
  }

  return {
    seedUsage,
    /**
     * Ships one batch of each stream that has something. Returns what it shipped and whether a
     * stream had a full batch (more may be waiting). Throws InfluxWriteError to be retried later.
     */
    async step(): Promise<{ stats: ShipStats; more: boolean }> {
      const stats: ShipStats = { lines: {}, rejected: 0, lateObservations: 0 };
      const m = await shipMessages(stats);
      const u = await shipUsage(stats);
      const a = await shipAlerts(stats);
      return { stats, more: m || u || a };
    },
    lag,
  };
}

export type Shipper = ReturnType<typeof createShipper>;
