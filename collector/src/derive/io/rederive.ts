/**
 * Rebuilds everything derived (observations, instrument_status, daily_usage) purely from the
 * `messages` ledger with the registry's current thresholds: after a thresholds change, and by
 * `dayi collector rederive`. It replays the ledger in insertion order with the same rules as
 * ingest (collector/src/ingest/ledger.ts), so the result equals what incremental ingest built.
 */
import { isPowered, type State, type Status, type TopicKind, type TopicPayloads } from '@dayi/protocols';
import type { Thresholds } from '../../config.ts';
import { storedThresholdsSchema } from '../../config.ts';
import type { CollectorContext } from '../../context.ts';
import { dateOf, dayBounds } from '../pure/calendar.ts';
import { observationOf } from '../pure/observation.ts';
import { noteDirtyMarksCleared, recomputeDirty } from './recompute.ts';
import { inTransaction, stmt } from './store.ts';

export interface RederiveResult {
  instruments: number;
  messages: number;
  observations: number;
  days: number;
}

interface StatusFacts {
  first_seen: number;
  last_seen: number;
  last_received_at: number;
  last_powered_at: number | null;
  last_running_at: number | null;
  online: number | null;
  status_ts: number | null;
  status_received_at: number | null;
  status_message_id: number | null;
  agent_id: string | null;
  agent_version: string | null;
  inputs: string | null;
  state_ts: number | null;
  state_message_id: number | null;
}

interface MessageRow {
  id: number;
  instrument_id: string;
  kind: TopicKind;
  ts: number;
  received_at: number;
  payload: string;
}

/**
 * Rebuilds one instrument in one transaction, or all when `instrumentId` is omitted: then one
 * transaction per instrument, so that a collector running beside `dayi collector rederive` (another
 * connection) waits for one instrument's rebuild at a time, not for the whole history: its ingest
 * goes on. Called inside a transaction (the collector's start-up), it all stays in that one.
 */
export function rederive(ctx: CollectorContext, instrumentId?: string): RederiveResult {
  if (instrumentId !== undefined || ctx.db.isTransaction) return rederiveIn(ctx, instrumentId);
  const ids = stmt(
    ctx.db,
    `SELECT instrument_id AS id FROM messages UNION SELECT instrument_id FROM instrument_status
     UNION SELECT instrument_id FROM observations UNION SELECT instrument_id FROM daily_usage
     UNION SELECT instrument_id FROM dirty_days`,
  ).all() as { id: string }[];
  const total: RederiveResult = { instruments: 0, messages: 0, observations: 0, days: 0 };
  for (const { id } of ids) {
    const started = performance.now();
    const r = rederiveIn(ctx, id);
    // Leave the write lock free for a moment, as long as the rebuild held it (2-50 ms): SQLite's busy
    // handler polls, so a writer beside us (the collector's ingest) would otherwise rarely get in
    // between two instruments.
    pause(Math.min(50, Math.max(2, performance.now() - started)));
    total.instruments += r.instruments;
    total.messages += r.messages;
    total.observations += r.observations;
    total.days += r.days;
  }
  return total;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function pause(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

function rederiveIn(ctx: CollectorContext, instrumentId?: string): RederiveResult {
  const { db, config } = ctx;
  const only = instrumentId ?? null;
  return inTransaction(db, () => {
    // Separate statements for one and for all, so that one instrument uses the indexes.
    const forOne = only === null ? '' : 'WHERE instrument_id = ?';
    const params = only === null ? [] : [only];
    for (const table of ['observations', 'instrument_status', 'daily_usage', 'dirty_days']) {
      stmt(db, `DELETE FROM ${table} ${forOne}`).run(...params);
    }
    noteDirtyMarksCleared();
    const thresholdsRows = stmt(db, 'SELECT id, thresholds FROM instruments').all() as {
      id: string;
      thresholds: string | null;
    }[];
    const thresholds = new Map<string, Thresholds | undefined>(
      thresholdsRows.map((r) => [r.id, parseThresholds(r.thresholds)]),
    );
    const insertObservation = stmt(
      db,
      'INSERT INTO observations (instrument_id, ts, state, message_id) VALUES (?, ?, ?, ?)',
    );
    const markedAt = ctx.now();
    const markDirty = stmt(
      db,
      'INSERT OR IGNORE INTO dirty_days (instrument_id, date, marked_at) VALUES (?, ?, ?)',
    );
    const days = new DayCursor(config.timezone);
    const facts = new Map<string, StatusFacts>();
    const marked = new Set<string>();
    let messages = 0;
    let observations = 0;

    const rows = stmt(
      db,
      `SELECT id, instrument_id, kind, ts, received_at, payload FROM messages ${forOne} ORDER BY id`,
    ).iterate(...params) as Iterable<MessageRow>;
    for (const m of rows) {
      messages++;
      let payload: TopicPayloads[TopicKind];
      try {
        payload = JSON.parse(m.payload) as TopicPayloads[TopicKind];
      } catch {
        // Ingest only keeps valid JSON; a row that is not is left out rather than stopping the replay.
        ctx.log.warn({ messageId: m.id }, 'rederive: ledger payload is not JSON, skipped');
        continue;
      }
      const state = observationOf(m.kind, payload, thresholds.get(m.instrument_id));
      if (state !== null) {
        insertObservation.run(m.instrument_id, m.ts, state, m.id);
        observations++;
        for (const date of days.datesTouched(m.ts, config.offlineAfter)) {
          const key = `${m.instrument_id}\n${date}`;
          if (!marked.has(key)) {
            marked.add(key);
            markDirty.run(m.instrument_id, date, markedAt);
          }
        }
      }
      apply(facts, m, payload, state);
    }

    const insertStatus = stmt(
      db,
      `INSERT INTO instrument_status (instrument_id, first_seen, last_seen, last_received_at, last_powered_at,
         last_running_at, online, status_ts, agent_id, agent_version, inputs, state_ts, state_message_id,
         status_received_at, status_message_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const [id, f] of facts) {
      insertStatus.run(
        id,
        f.first_seen,
        f.last_seen,
        f.last_received_at,
        f.last_powered_at,
        f.last_running_at,
        f.online,
        f.status_ts,
        f.agent_id,
        f.agent_version,
        f.inputs,
        f.state_ts,
        f.state_message_id,
        f.status_received_at,
        f.status_message_id,
      );
    }
    const recomputed = recomputeDirty(ctx, only === null ? {} : { instrumentId: only });
    return { instruments: facts.size, messages, observations, days: recomputed };
  });
}

/** The same max/min and latest-wins rules as ingest's upserts, applied in ledger order. */
function apply(
  facts: Map<string, StatusFacts>,
  m: MessageRow,
  payload: TopicPayloads[TopicKind],
  state: State | null,
): void {
  let f = facts.get(m.instrument_id);
  if (!f) {
    f = {
      first_seen: m.ts,
      last_seen: m.ts,
      last_received_at: m.received_at,
      last_powered_at: null,
      last_running_at: null,
      online: null,
      status_ts: null,
      status_received_at: null,
      status_message_id: null,
      agent_id: null,
      agent_version: null,
      inputs: null,
      state_ts: null,
      state_message_id: null,
    };
    facts.set(m.instrument_id, f);
  }
  f.first_seen = Math.min(f.first_seen, m.ts);
  f.last_seen = Math.max(f.last_seen, m.ts);
  f.last_received_at = Math.max(f.last_received_at, m.received_at);
  if (state !== null && isPowered(state)) f.last_powered_at = Math.max(f.last_powered_at ?? m.ts, m.ts);
  if (state === 'running') f.last_running_at = Math.max(f.last_running_at ?? m.ts, m.ts);
  if (m.kind === 'state' && (f.state_ts === null || f.state_ts <= m.ts)) {
    f.state_ts = m.ts;
    f.state_message_id = m.id;
  }
  if (m.kind === 'status') {
    // Status is about the link: the last to ARRIVE wins, ties broken by event time.
    const wins =
      f.status_received_at === null ||
      f.status_received_at < m.received_at ||
      (f.status_received_at === m.received_at && (f.status_ts ?? Number.NEGATIVE_INFINITY) <= m.ts);
    if (wins) {
      const s = payload as Status;
      f.online = s.online ? 1 : 0;
      f.status_ts = s.ts;
      f.status_received_at = m.received_at;
      f.status_message_id = m.id;
      f.agent_id = s.agent?.id ?? f.agent_id;
      f.agent_version = s.agent?.version ?? f.agent_version;
      f.inputs = s.inputs ? JSON.stringify(s.inputs) : f.inputs;
    }
  }
}

function parseThresholds(text: string | null): Thresholds | undefined {
  if (text === null) return undefined;
  try {
    const parsed = storedThresholdsSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * dateOf for a stream of mostly increasing timestamps without an Intl call per message: remembers
 * the bounds of the last day it resolved.
 */
class DayCursor {
  private readonly timezone: string;
  private date = '';
  private start = 0;
  private end = 0;

  constructor(timezone: string) {
    this.timezone = timezone;
  }

  dateOf(ts: number): string {
    if (ts >= this.start && ts < this.end) return this.date;
    this.date = dateOf(ts, this.timezone);
    const b = dayBounds(this.date, this.timezone);
    this.start = b.start;
    this.end = b.end;
    return this.date;
  }

  /** Dates from dateOf(ts) to dateOf(ts + offlineAfter): the days one observation can change. */
  datesTouched(ts: number, offlineAfterMs: number): string[] {
    const out = [this.dateOf(ts)];
    for (let next = this.end; next <= ts + offlineAfterMs; next = this.end) out.push(this.dateOf(next));
    return out;
  }
}
