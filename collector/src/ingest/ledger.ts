import { createHash } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { isPowered, type State, type Status, type TopicPayloads } from '@dayi/protocols';
import { type CollectorConfig, storedThresholdsSchema, type Thresholds } from '../config.ts';
import { dirtyMarksCleared } from '../derive/io/recompute.ts';
import { dateOf, datesBetween, dayBounds } from '../derive/pure/calendar.ts';
import { observationOf } from '../derive/pure/observation.ts';
import type { CommittedMessage, IncomingMessage, IngestOutcome } from './types.ts';
import type { Validated } from './validate.ts';

/** Bytes of a refused payload kept in `rejected`: enough to see what was sent, bounded. */
export const REJECTED_PAYLOAD_KEEP_BYTES = 256;
const REJECTED_TOPIC_KEEP_CHARS = 256;
const REASON_KEEP_CHARS = 512;
const REJECTED_ID_KEEP_CHARS = 128;
/** What a `rejected` row costs besides its excerpts (numbers, digest, b-tree overhead), roughly. */
const REJECTED_ROW_OVERHEAD = 200;
/** How stale `dirty_days.marked_at` may get while a day keeps receiving messages. */
export const MARK_REFRESH_MS = 1000;

export interface LedgerItem {
  msg: IncomingMessage;
  validated: Validated;
  /** For a refused message: keep it in `rejected` (false: over the agent's rate, only counted). */
  keep?: boolean;
}

export interface LedgerResult extends IngestOutcome {
  committed?: CommittedMessage;
}

/** An agent's seq started again (see migration 4, `seq_restarts`). */
export interface SeqRestart {
  instrumentId: string;
  kind: string;
  ts: number;
  seq: number;
  epoch: string | null;
  previousEpoch: string | null;
  previousTs: number | null;
  gapFrom: number | null;
  cause: 'epoch_changed' | 'seq_reused';
  username: string | null;
}

/** What the writer knows of one (instrument, kind) seq run: its highest seq and its epoch. */
interface SeqRun {
  maxSeq: number;
  /** ts of the message with maxSeq. */
  maxTs: number;
  epoch: string | null;
  /**
   * A restart sends a seq at or below maxSeq with a LATER ts; a replay or backfill sends lower seqs
   * with earlier times. Only the first kind, and the first message since start, are looked up.
   */
  checked: boolean;
}

/**
 * Writes batches of validated messages to the SQLite ledger, one transaction per batch, with
 * statements prepared once. Everything a message changes (ledger row, observation, latest facts,
 * dirty days, registry entry) commits or rolls back together with it.
 */
export function createLedgerWriter(db: DatabaseSync, config: CollectorConfig) {
  const s = {
    // IMMEDIATE: take the write lock first (waiting out busy_timeout), so another writer between
    // our first read and first write cannot make SQLite refuse the batch with BUSY_SNAPSHOT.
    begin: db.prepare('BEGIN IMMEDIATE'),
    commit: db.prepare('COMMIT'),
    thresholdsOf: db.prepare('SELECT thresholds FROM instruments WHERE id = ?'),
    registerInstrument: db.prepare(
      'INSERT OR IGNORE INTO instruments (id, quota_hours, created_at, updated_at) VALUES (?, 1400, ?, ?)',
    ),
    insertMessage: db.prepare(
      `INSERT OR IGNORE INTO messages (instrument_id, kind, seq, ts, received_at, client_id, username, payload)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    sameSeqOtherTs: db.prepare(
      'SELECT ts FROM messages WHERE instrument_id = ? AND kind = ? AND seq = ? AND ts <> ? LIMIT 1',
    ),
    lastRestart: db.prepare(
      `SELECT seq FROM seq_restarts WHERE instrument_id = ? AND kind = ? AND ts <= ?
       ORDER BY ts DESC, id DESC LIMIT 1`,
    ),
    epochOf: db.prepare('SELECT epoch FROM seq_epochs WHERE instrument_id = ? AND kind = ?'),
    setEpoch: db.prepare(
      `INSERT INTO seq_epochs (instrument_id, kind, epoch, since_ts) VALUES (?, ?, ?, ?)
       ON CONFLICT (instrument_id, kind) DO UPDATE SET epoch = excluded.epoch, since_ts = excluded.since_ts`,
    ),
    lastSeen: db.prepare('SELECT last_seen FROM instrument_status WHERE instrument_id = ?'),
    insertRestart: db.prepare(
      `INSERT INTO seq_restarts (instrument_id, kind, ts, seq, epoch, previous_epoch, previous_ts, gap_from,
         cause, username, received_at, message_id)
       VALUES (:id, :kind, :ts, :seq, :epoch, :previousEpoch, :previousTs, :gapFrom, :cause, :username,
         :receivedAt, :messageId)`,
    ),
    insertObservation: db.prepare(
      'INSERT INTO observations (instrument_id, ts, state, message_id) VALUES (?, ?, ?, ?)',
    ),
    markDirty: db.prepare(
      `INSERT INTO dirty_days (instrument_id, date, marked_at) VALUES (?, ?, ?)
       ON CONFLICT (instrument_id, date) DO UPDATE SET marked_at = excluded.marked_at`,
    ),
    // max/min semantics so that late and out-of-order messages land correctly
    upsertStatus: db.prepare(`
      INSERT INTO instrument_status (instrument_id, first_seen, last_seen, last_received_at, last_powered_at, last_running_at)
      VALUES (:id, :first, :last, :receivedAt, :powered, :running)
      ON CONFLICT (instrument_id) DO UPDATE SET
        first_seen = CASE WHEN first_seen IS NULL OR excluded.first_seen < first_seen THEN excluded.first_seen ELSE first_seen END,
        last_seen = CASE WHEN last_seen IS NULL OR excluded.last_seen > last_seen THEN excluded.last_seen ELSE last_seen END,
        last_received_at = CASE WHEN last_received_at IS NULL OR excluded.last_received_at > last_received_at
          THEN excluded.last_received_at ELSE last_received_at END,
        last_powered_at = CASE WHEN excluded.last_powered_at IS NOT NULL
          AND (last_powered_at IS NULL OR excluded.last_powered_at > last_powered_at)
          THEN excluded.last_powered_at ELSE last_powered_at END,
        last_running_at = CASE WHEN excluded.last_running_at IS NOT NULL
          AND (last_running_at IS NULL OR excluded.last_running_at > last_running_at)
          THEN excluded.last_running_at ELSE last_running_at END`),
    latestState: db.prepare(`
      UPDATE instrument_status SET state_ts = :ts, state_message_id = :messageId
      WHERE instrument_id = :id AND (state_ts IS NULL OR state_ts <= :ts)`),
    // Status describes the link, not the instrument: the last one to arrive wins (see README).
    latestLink: db.prepare(`
      UPDATE instrument_status SET online = :online, status_ts = :ts, status_received_at = :receivedAt,
        status_message_id = :messageId, agent_id = COALESCE(:agentId, agent_id),
        agent_version = COALESCE(:agentVersion, agent_version), inputs = COALESCE(:inputs, inputs)
      WHERE instrument_id = :id AND (status_received_at IS NULL OR status_received_at < :receivedAt
        OR (status_received_at = :receivedAt AND status_ts <= :ts))`),
    upsertRejected: db.prepare(
      `INSERT INTO rejected (digest, first_at, last_at, count, username, client_id, topic, topic_length,
         reason, payload, payload_bytes, row_bytes)
       VALUES (:digest, :at, :at, 1, :username, :clientId, :topic, :topicLength, :reason, :payload,
         :payloadBytes, :rowBytes)
       ON CONFLICT (digest) DO UPDATE SET count = count + 1, last_at = excluded.last_at,
         reason = excluded.reason, client_id = excluded.client_id
       RETURNING count`,
    ),
    rejectedBytes: db.prepare('SELECT COALESCE(SUM(row_bytes), 0) AS n FROM rejected'),
    dropOldestRejected: db.prepare(
      `DELETE FROM rejected WHERE id IN (SELECT id FROM rejected ORDER BY last_at, id LIMIT ?)
       RETURNING row_bytes`,
    ),
    dropStaleRejected: db.prepare('DELETE FROM rejected WHERE last_at < ? RETURNING row_bytes'),
  };

  // Parsed thresholds by their JSON text, so a registry change is seen at the next batch.
  const parsedThresholds = new Map<string, Thresholds | undefined>();

  function parseThresholds(text: string | null): Thresholds | undefined {
    if (text === null) return undefined;
    if (parsedThresholds.has(text)) return parsedThresholds.get(text);
    let value: Thresholds | undefined;
    try {
      const parsed = storedThresholdsSchema.safeParse(JSON.parse(text));
      value = parsed.success ? parsed.data : undefined;
    } catch {
      value = undefined;
    }
    if (parsedThresholds.size > 10_000) parsedThresholds.clear();
    parsedThresholds.set(text, value);
    return value;
  }

  /** Registry thresholds of an instrument; registers unknown ids so they appear in the registry. */
  function registryEntry(instrumentId: string, now: number): Thresholds | undefined {
    const row = s.thresholdsOf.get(instrumentId) as { thresholds: string | null } | undefined;
    if (row) return parseThresholds(row.thresholds);
    s.registerInstrument.run(instrumentId, now, now);
    return undefined;
  }

  // Thresholds per instrument across batches, until `invalidate()` (the registry changed). Filled
  // only after a COMMIT, so a rolled-back registration is looked up again.
  const knownThresholds = new Map<string, Thresholds | undefined>();

  // Days already marked in the current transaction: most messages of a batch share their day.
  const markedInBatch = new Set<string>();
  // Days marked by a committed batch, and when: marking again within MARK_REFRESH_MS only moves
  // marked_at a little, so it is skipped, unless a recompute cleared marks since (see
  // dirtyMarksCleared). Saves a statement per instrument and batch when many agents report.
  const markedBefore = new Map<string, number>();
  let markedBeforeGeneration = dirtyMarksCleared();

  let batchNow = 0;
  const markedNow: string[] = [];

  // The day each instrument's last message fell in: most messages of an instrument fall in the
  // day of the one before, and then only the batch's set needs asking.
  const lastDay = new Map<string, { start: number; end: number; date: string; key: string }>();

  function markDirtyDays(instrumentId: string, ts: number): void {
    const last = lastDay.get(instrumentId);
    if (last && ts >= last.start && ts + config.offlineAfter < last.end && markedInBatch.has(last.key))
      return;
    const from = dateOf(ts, config.timezone);
    const to = dateOf(ts + config.offlineAfter, config.timezone);
    for (const date of from === to ? [from] : datesBetween(from, to)) {
      const key = `${instrumentId}\u0000${date}`;
      if (markedInBatch.has(key)) continue;
      markedInBatch.add(key);
      const before = markedBefore.get(key);
      if (before !== undefined && batchNow - before < MARK_REFRESH_MS) continue;
      s.markDirty.run(instrumentId, date, batchNow);
      markedNow.push(key);
    }
    if (from === to && last?.date !== from) {
      const { start, end } = dayBounds(from, config.timezone);
      if (lastDay.size > 100_000) lastDay.clear();
      lastDay.set(instrumentId, { start, end, date: from, key: `${instrumentId}\u0000${from}` });
    }
  }

  function writeOne(item: LedgerItem, thresholdsFor: (id: string) => Thresholds | undefined): LedgerResult {
    const { msg, validated: v } = item;
    if (!v.ok) {
      if (item.keep !== false) keepRejected(msg, v.reason);
      return { outcome: v.outcome, reason: v.reason, rejectClass: v.rejectClass };
    }
    const { instrumentId: id, kind, payload } = v;
    const thresholds = thresholdsFor(id);
    const seq = 'seq' in payload ? payload.seq : null;
    const inserted = s.insertMessage.run(
      id,
      kind,
      seq,
      payload.ts,
      msg.receivedAt,
      msg.clientId,
      msg.username,
      v.text,
    );
    if (inserted.changes === 0) {
      return {
        outcome: 'duplicate',
        reason: `${kind} seq ${seq} of ${id} with ts ${payload.ts} is already in the ledger`,
      };
    }
    const messageId = Number(inserted.lastInsertRowid);
    if (seq !== null) {
      const epoch = (payload as { epoch?: string }).epoch ?? null;
      followSeq(id, kind, seq, payload.ts, epoch, msg, messageId);
    }
    const state = observationOf(kind, payload, thresholds);
    if (state !== null) {
      s.insertObservation.run(id, payload.ts, state, messageId);
      markDirtyDays(id, payload.ts);
    }
    foldStatus(id, payload.ts, msg.receivedAt, state);
    let latest: (() => boolean) | undefined;
    if (kind === 'state') {
      latest = () => s.latestState.run({ id, ts: payload.ts, messageId }).changes === 1;
    } else if (kind === 'status') {
      const status = payload as Status;
      latest = () =>
        s.latestLink.run({
          id,
          online: status.online ? 1 : 0,
          ts: status.ts,
          receivedAt: msg.receivedAt,
          messageId,
          agentId: status.agent?.id ?? null,
          agentVersion: status.agent?.version ?? null,
          inputs: status.inputs ? JSON.stringify(status.inputs) : null,
        }).changes === 1;
    }
    const committed: CommittedMessage = {
      messageId,
      instrumentId: id,
      kind,
      payload: payload as TopicPayloads[typeof kind],
      ts: payload.ts,
      receivedAt: msg.receivedAt,
      state,
    };
    const result: LedgerResult = { outcome: 'accepted', committed };
    // Decided after the batch's status rows exist (see writeBatch).
    if (latest) {
      const decide = latest;
      latestChecks.push(() => {
        result.latest = decide();
      });
    }
    return result;
  }

  // Seq runs per (instrument, kind) as committed, and as changed by the current batch.
  const runs = new Map<string, SeqRun>();
  const batchRuns = new Map<string, SeqRun>();
  const batchRestarts: SeqRestart[] = [];

  /**
   * Tells an agent whose seq started again (outbox lost: a new epoch, or a seq seen before with
   * another ts) and records it once in `seq_restarts`. Costs a statement only for the first message
   * of a (instrument, kind) since start, and for a seq at or below the highest one seen that comes
   * with a later ts than it (what a restart looks like; a replay comes with earlier times).
   */
  function followSeq(
    id: string,
    kind: string,
    seq: number,
    ts: number,
    epoch: string | null,
    msg: IncomingMessage,
    messageId: number,
  ): void {
    const key = `${id}\u0000${kind}`;
    let run = batchRuns.get(key);
    if (!run) {
      const known = runs.get(key);
      if (known) run = { ...known };
      else {
        const row = s.epochOf.get(id, kind) as { epoch: string } | undefined;
        run = { maxSeq: -1, maxTs: 0, epoch: row?.epoch ?? null, checked: false };
      }
      batchRuns.set(key, run);
    }
    let restart: Pick<SeqRestart, 'cause' | 'previousEpoch' | 'previousTs'> | null = null;
    if (epoch !== null && run.epoch !== null && epoch !== run.epoch) {
      restart = { cause: 'epoch_changed', previousEpoch: run.epoch, previousTs: null };
    } else if (
      (epoch === null || run.epoch === null) &&
      (!run.checked || (seq <= run.maxSeq && ts > run.maxTs))
    ) {
      // (the same epoch again cannot be a restart: seq starts again only with a new outbox)
      run.checked = true;
      const other = s.sameSeqOtherTs.get(id, kind, seq, ts) as { ts: number } | undefined;
      if (other) {
        // Already explained when a recorded restart began this run (e.g. before a collector restart).
        const last = s.lastRestart.get(id, kind, ts) as { seq: number } | undefined;
        if (!last || seq < last.seq) {
          restart = { cause: 'seq_reused', previousEpoch: run.epoch, previousTs: other.ts };
        }
      }
      if (seq <= run.maxSeq) {
        // a lower seq going on in time (reused or not, explained or not) is the run now: follow it,
        // so that its next messages are not looked up one by one
        run.maxSeq = seq;
        run.maxTs = ts;
      }
    }
    if (restart) {
      const row = s.lastSeen.get(id) as { last_seen: number | null } | undefined;
      const fact: SeqRestart = {
        instrumentId: id,
        kind,
        ts,
        seq,
        epoch,
        ...restart,
        gapFrom: row?.last_seen ?? null,
        username: msg.username,
      };
      s.insertRestart.run({
        id,
        kind,
        ts,
        seq,
        epoch,
        previousEpoch: fact.previousEpoch,
        previousTs: fact.previousTs,
        gapFrom: fact.gapFrom,
        cause: fact.cause,
        username: fact.username,
        receivedAt: msg.receivedAt,
        messageId,
      });
      batchRestarts.push(fact);
      run.maxSeq = seq;
      run.maxTs = ts;
    } else if (seq > run.maxSeq) {
      run.maxSeq = seq;
      run.maxTs = ts;
    }
    if (epoch !== null && epoch !== run.epoch) {
      s.setEpoch.run(id, kind, epoch, ts);
      run.epoch = epoch;
    }
  }

  let rejectedBytes = Number((s.rejectedBytes.get() as { n: number }).n);
  const retention = config.store.rejected;

  /** One refused publish as a bounded excerpt; a repeat of the same (agent, topic, payload) counts. */
  function keepRejected(msg: IncomingMessage, reason: string): void {
    const digest = createHash('sha256')
      .update(msg.username ?? '')
      .update('\u0000')
      .update(msg.topic)
      .update('\u0000')
      .update(msg.payload)
      .digest('base64url');
    const topic = msg.topic.slice(0, REJECTED_TOPIC_KEEP_CHARS);
    const why = reason.slice(0, REASON_KEEP_CHARS);
    const payload = msg.payload.subarray(0, REJECTED_PAYLOAD_KEEP_BYTES);
    const rowBytes =
      REJECTED_ROW_OVERHEAD + Buffer.byteLength(topic) + Buffer.byteLength(why) + payload.length;
    const row = s.upsertRejected.get({
      digest,
      at: msg.receivedAt,
      username: msg.username?.slice(0, REJECTED_ID_KEEP_CHARS) ?? null,
      clientId: msg.clientId?.slice(0, REJECTED_ID_KEEP_CHARS) ?? null,
      topic,
      topicLength: msg.topic.length,
      reason: why,
      payload,
      payloadBytes: msg.payload.length,
      rowBytes,
    }) as { count: number };
    if (row.count === 1) rejectedBytes += rowBytes;
    // The oldest go first once the table passes its bound; a tenth is freed at a time.
    if (rejectedBytes > retention.maxBytes) {
      const target = retention.maxBytes * 0.9;
      while (rejectedBytes > target) {
        const gone = s.dropOldestRejected.all(64) as { row_bytes: number }[];
        if (gone.length === 0) break;
        for (const g of gone) rejectedBytes -= g.row_bytes;
      }
    }
  }

  /** Deletes refused publishes not seen for `store.rejected.maxAge`. Returns the rows deleted. */
  function pruneRejected(now: number): number {
    const gone = s.dropStaleRejected.all(now - retention.maxAge) as { row_bytes: number }[];
    for (const g of gone) rejectedBytes -= g.row_bytes;
    return gone.length;
  }

  /** Latest facts per instrument of the current batch, written once per instrument at its end. */
  const batchStatus = new Map<
    string,
    { first: number; last: number; received: number; powered: number | null; running: number | null }
  >();
  const latestChecks: (() => void)[] = [];

  function foldStatus(id: string, ts: number, receivedAt: number, state: State | null): void {
    const powered = state !== null && isPowered(state) ? ts : null;
    const running = state === 'running' ? ts : null;
    const f = batchStatus.get(id);
    if (!f) {
      batchStatus.set(id, { first: ts, last: ts, received: receivedAt, powered, running });
      return;
    }
    f.first = Math.min(f.first, ts);
    f.last = Math.max(f.last, ts);
    f.received = Math.max(f.received, receivedAt);
    if (powered !== null) f.powered = Math.max(f.powered ?? powered, powered);
    if (running !== null) f.running = Math.max(f.running ?? running, running);
  }

  function writeStatus(): void {
    for (const [id, f] of batchStatus) {
      s.upsertStatus.run({
        id,
        first: f.first,
        last: f.last,
        receivedAt: f.received,
        powered: f.powered,
        running: f.running,
      });
    }
    // The latest state/status checks compare with what is stored, so they run after the rows exist.
    for (const check of latestChecks) check();
  }

  /** One transaction for the whole batch; throws (after ROLLBACK) when the store fails. */
  function writeBatch(items: readonly LedgerItem[], now: number): LedgerResult[] {
    const thresholds = new Map<string, Thresholds | undefined>();
    const thresholdsFor = (id: string) => {
      if (knownThresholds.has(id)) return knownThresholds.get(id);
      if (!thresholds.has(id)) thresholds.set(id, registryEntry(id, now));
      return thresholds.get(id);
    };
    markedInBatch.clear();
    markedNow.length = 0;
    if (dirtyMarksCleared() !== markedBeforeGeneration) {
      markedBefore.clear();
      markedBeforeGeneration = dirtyMarksCleared();
    }
    batchNow = now;
    batchStatus.clear();
    latestChecks.length = 0;
    batchRuns.clear();
    batchRestarts.length = 0;
    const bytesBefore = rejectedBytes;
    s.begin.run();
    try {
      const results = items.map((item) => writeOne(item, thresholdsFor));
      writeStatus();
      s.commit.run();
      if (knownThresholds.size > 100_000) knownThresholds.clear();
      for (const [id, t] of thresholds) knownThresholds.set(id, t);
      if (markedBefore.size > 100_000) markedBefore.clear();
      for (const key of markedNow) markedBefore.set(key, now);
      if (runs.size > 100_000) runs.clear();
      for (const [key, run] of batchRuns) runs.set(key, run);
      return results;
    } catch (err) {
      rollback(db);
      rejectedBytes = bytesBefore;
      throw err;
    }
  }

  return {
    writeBatch,
    /** Seq restarts recorded by the last committed batch (for the log and metrics). */
    restarts(): readonly SeqRestart[] {
      return batchRestarts;
    },
    pruneRejected,
    invalidate(): void {
      parsedThresholds.clear();
      knownThresholds.clear();
    },
  };
}

function rollback(db: DatabaseSync): void {
  try {
    if (db.isTransaction) db.exec('ROLLBACK');
  } catch {
    // the failed COMMIT may already have rolled back; nothing else to undo
  }
}

export type LedgerWriter = ReturnType<typeof createLedgerWriter>;
