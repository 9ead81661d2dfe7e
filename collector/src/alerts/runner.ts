/**
 * The detection pass: the shell around the pure detectors (../detect/). It runs beside ingest,
 * never inside it: ingest hands each committed batch to `onCommitted` (a reference push), and a
 * timer folds what arrived into the detectors every `alerts.detectEvery`, applies the findings to
 * the alert store and saves the detectors' state, all in ONE transaction with its position in the
 * ledger. A crash (kill -9) loses nothing: the next start reads the ledger from that position, and
 * findings reported again change nothing (alerts/store.ts), so alerts, acks and detector state come
 * out the same.
 *
 * Event time, late data. Each instrument's observations are folded in (ts, ledger id) order. New
 * ones wait in a small reorder buffer until `alerts.reorderWait` (30 s) of event time or of arrivals have passed them, so
 * the usual jitter of an agent costs nothing. One that arrives behind what was folded (an outbox
 * replay, a backfill) makes the instrument fold again from the checkpoint at the local midnight
 * before it (detect_days), over its stored observations: late data raises the same flags, at the
 * times they happened, as data that came live.
 *
 * Clocks. The link detectors (offline, clock_skew) run on arrival time: the ledger's
 * `received_at`, and `now` once every committed message has been folded. Idle uses `now` (as
 * GET /v1/idle does). Nothing else reads a clock.
 */
import { isPowered, type State, type TopicKind, type TopicPayloads } from '@dayi/protocols';
import { Gauge } from 'prom-client';
import type { CollectorContext } from '../context.ts';
import { inTransaction, stmt } from '../derive/io/store.ts';
import { addDays, dateOf, startOfDate } from '../derive/pure/calendar.ts';
import {
  type Arrival,
  type ArrivalEnv,
  initArrivals,
  onArrival,
  onArrivalClock,
} from '../detect/arrivals.ts';
import { type DataGapEvidence, dataGapFinding } from '../detect/data-gap.ts';
import { foldInPlace, initFold, isAfter } from '../detect/fold.ts';
import { idleEnded, idleFinding } from '../detect/idle.ts';
import { pointFindings } from '../detect/points.ts';
import { type AnomalyConfig, detectSettings, isEnabled, resolveAnomaly } from '../detect/settings.ts';
import type { DetectSettings, Finding, Interval } from '../detect/types.ts';
import type { CommittedMessage, Ingest } from '../ingest/types.ts';
import { parseAnomalyText } from './anomaly-text.ts';
import {
  checkpointFor,
  type InstrumentDetectState,
  lastMessageId,
  loadStates,
  type PendingSample,
  pruneDays,
  readDayHists,
  readLedger,
  readMeta,
  readSamples,
  saveState,
  writeCheckpoint,
  writeDayHist,
  writeMeta,
} from './detect-store.ts';
import { DueQueue } from './due-queue.ts';
import type { AlertStore } from './store.ts';

/** The platform's bookings of an instrument overlapping [fromMs, toMs) (out_of_hours ignores booked time). */
export type BookingsProvider = (instrumentId: string, fromMs: number, toMs: number) => Interval[];

export const NO_BOOKINGS: BookingsProvider = () => [];

/**
 * A replay (observations behind the fold) is folded again once no late observation of that
 * instrument has arrived for this long (as derive's recompute waits for a backfill to settle).
 */
export const LATE_QUIET_MS = 5000;
/** A pass starts at once (not at the next detectEvery) when this many committed messages wait. */
export const EARLY_PASS_MESSAGES = 500;
/** Messages folded per pass before yielding to the event loop (the next pass follows at once). */
export const PASS_MESSAGES = 20_000;
/** Beyond this many committed messages waiting, the pass reads them back from the ledger instead. */
export const MAX_QUEUE = 200_000;
/** Checkpoints and day histograms kept per instrument: data later than this is not folded again. */
export const KEEP_DAYS = 40;
/** The detectors' state and the pass's position are saved at least this often (and with every finding). */
export const SAVE_EVERY_MS = 5000;
/** How often idle is decided (it changes with days, not seconds). */
export const IDLE_EVERY_MS = 60_000;

interface SeqRestartRow {
  id: number;
  instrument_id: string;
  kind: string;
  ts: number;
  seq: number;
  epoch: string | null;
  previous_epoch: string | null;
  previous_ts: number | null;
  gap_from: number | null;
  cause: string;
}

interface Registered {
  org: string | null;
  idleDays: number | null;
  settings: DetectSettings;
  clockSkew: boolean;
  key: string;
}

export interface DetectionRunner {
  /** Folds what arrived and applies the findings (the timer calls it; tests may too). */
  pass(): { messages: number; findings: number };
  /** Passes until every committed message is folded (deciding idle too). */
  drain(): void;
  /** Feeds the data_gap detector evidence from elsewhere (a seq restart stored by ingest, …). */
  reportDataGap(instrumentId: string, evidence: DataGapEvidence): void;
  /** The collector begins to shut down: wills its broker publishes from now on are not the agents'. */
  stopping(): void;
  /** Position in the ledger, and whether the pass has folded everything committed. */
  position(): { cursor: number; caughtUp: boolean; queued: number };
  start(): void;
  close(): void;
}

export function createDetectionRunner(
  ctx: CollectorContext,
  store: AlertStore,
  ingest: Pick<Ingest, 'onCommitted'>,
  opts: { bookingsOf?: BookingsProvider; everyMs: number; onError?: (err: unknown) => void },
): DetectionRunner {
  const { db, config, log } = ctx;
  const reorderWait = config.alerts.reorderWait;
  const bookingsOf = opts.bookingsOf ?? NO_BOOKINGS;
  const offlineAfterMs = config.offlineAfter;
  const tz = config.timezone;

  const queue: CommittedMessage[] = [];
  let overflowed = false;
  const unsubscribe = ingest.onCommitted((batch) => {
    if (overflowed) return;
    if (queue.length + batch.length > MAX_QUEUE) {
      overflowed = true;
      queue.length = 0;
      return;
    }
    for (const m of batch) queue.push(m);
    // Under load, fold soon rather than every detectEvery: messages held for seconds outlive the
    // young generation and cost the garbage collector (and ingest) far more than the folding.
    if (queue.length >= EARLY_PASS_MESSAGES) nudge();
  });

  // Position and clocks, from the last pass that committed.
  const meta = inTransaction(db, () => startUp());
  let cursor = Number(meta.get('cursor') ?? 0);
  let arrivalClock = Number(meta.get('arrivalClock') ?? 0);
  let catchingUp = true;
  const states = loadStates(db);
  const runs = stmt(db, 'SELECT started_at, stopping_at FROM collector_runs ORDER BY started_at').all() as {
    started_at: number;
    stopping_at: number | null;
  }[];
  const starts = runs.map((r) => r.started_at);
  const thisStart =
    meta.get('thisStart') === undefined ? starts[starts.length - 1]! : Number(meta.get('thisStart'));
  const shutdowns: { from: number; to: number | null }[] = runs.flatMap((r, i) =>
    r.stopping_at === null ? [] : [{ from: r.stopping_at, to: runs[i + 1]?.started_at ?? null }],
  );
  const registry = new Map<string, Registered>();
  let lastIdlePass = Number.NEGATIVE_INFINITY;
  /** Instruments whose state changed since it was last saved. */
  const unsaved = new Set<string>();
  /**
   * Instruments with observations or findings waiting to be folded or applied, each with the rank
   * at which it began waiting: a pass looks at them in that order.
   */
  const waiting = new Map<string, number>();
  let waitRank = 0;
  /** Waiting instruments with nothing to do until the arrival clock reaches their time. */
  const due = new DueQueue();
  /** Waiting instruments the next pass looks at whatever the clock (new messages, just changed). */
  const checkNow = new Set<string>();
  function wait(id: string): void {
    if (!waiting.has(id)) waiting.set(id, waitRank++);
    checkNow.add(id);
  }
  for (const id of states.keys()) wait(id);
  let lastSilenceCheck = Number.NEGATIVE_INFINITY;
  let lastSave = Number.NEGATIVE_INFINITY;
  let saveNow = false;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;

  /** Records this start; drops detector state derived under another time zone or offlineAfter. */
  function startUp(): Map<string, string> {
    const m = readMeta(db);
    const prev = { tz: m.get('timezone'), offlineAfter: m.get('offlineAfter') };
    if (prev.tz !== undefined && (prev.tz !== tz || Number(prev.offlineAfter) !== offlineAfterMs)) {
      log.warn(
        { previous: prev, timezone: tz, offlineAfter: offlineAfterMs },
        'timezone or offlineAfter changed: the detectors start afresh from here (alerts are kept)',
      );
      db.exec('DELETE FROM detect_state; DELETE FROM detect_days;');
    }
    writeMeta(db, 'timezone', tz);
    writeMeta(db, 'offlineAfter', String(offlineAfterMs));
    const startedAt = ctx.now();
    stmt(db, 'INSERT OR IGNORE INTO collector_runs (started_at) VALUES (?)').run(startedAt);
    const m2 = readMeta(db);
    m2.set('thisStart', String(startedAt));
    return m2;
  }

  // The registry as read in this pass: one lookup per instrument and pass, not per message.
  const readThisPass = new Map<string, Registered>();

  function registered(instrumentId: string): Registered {
    let r = readThisPass.get(instrumentId);
    if (!r) {
      r = readRegistered(instrumentId);
      readThisPass.set(instrumentId, r);
    }
    return r;
  }

  function readRegistered(instrumentId: string): Registered {
    const row = stmt(
      db,
      'SELECT org, idle_days, thresholds, anomaly, updated_at FROM instruments WHERE id = ?',
    ).get(instrumentId) as
      | {
          org: string | null;
          idle_days: number | null;
          thresholds: string | null;
          anomaly: string | null;
          updated_at: number;
        }
      | undefined;
    const key = row ? `${row.updated_at}\u0000${row.thresholds}\u0000${row.anomaly}\u0000${row.org}` : '';
    const cached = registry.get(instrumentId);
    if (cached && cached.key === key) return cached;
    let signal: string | undefined;
    try {
      signal = row?.thresholds ? (JSON.parse(row.thresholds) as { signal?: string }).signal : undefined;
    } catch {
      signal = undefined;
    }
    const anomaly = parseAnomalyText(row?.anomaly ?? null) as AnomalyConfig | null;
    const settings = detectSettings(
      resolveAnomaly(anomaly, config.alerts.anomaly as AnomalyConfig | undefined),
      {
        offlineAfterMs,
        timezone: tz,
        signal,
      },
    );
    const r: Registered = {
      org: row?.org ?? null,
      idleDays: row?.idle_days ?? null,
      settings,
      clockSkew: isEnabled(settings, 'clock_skew'),
      key,
    };
    if (registry.size > 100_000) registry.clear();
    registry.set(instrumentId, r);
    return r;
  }

  function stateOf(instrumentId: string): InstrumentDetectState {
    let s = states.get(instrumentId);
    if (!s) {
      s = { fold: initFold(), pending: [], link: initArrivals(), idleOpen: null, late: null, points: [] };
      states.set(instrumentId, s);
    }
    return s;
  }

  function nextBatch(): { messages: readonly CommittedMessage[]; lastId: number; more: boolean } {
    if (overflowed) {
      overflowed = false;
      catchingUp = true;
    }
    if (catchingUp) {
      const r = readLedger(db, cursor, PASS_MESSAGES);
      if (r.rows < PASS_MESSAGES) {
        catchingUp = false;
        // Everything committed so far is read; what the queue holds beyond it comes next.
        dropQueuedUpTo(r.lastId);
      }
      const messages = r.messages.map(
        (m): CommittedMessage => ({
          messageId: m.id,
          instrumentId: m.instrumentId,
          kind: m.kind,
          payload: m.payload,
          ts: m.ts,
          receivedAt: m.receivedAt,
          state: m.state,
        }),
      );
      return { messages, lastId: r.lastId, more: r.rows === PASS_MESSAGES || queue.length > 0 };
    }
    dropQueuedUpTo(cursor);
    const taken = queue.splice(0, PASS_MESSAGES);
    return {
      messages: taken,
      lastId: taken.length > 0 ? taken[taken.length - 1]!.messageId : cursor,
      more: queue.length > 0,
    };
  }

  function dropQueuedUpTo(id: number): void {
    let n = 0;
    while (n < queue.length && queue[n]!.messageId <= id) n++;
    if (n > 0) queue.splice(0, n);
  }

  function pass(): { messages: number; findings: number; more: boolean } {
    readThisPass.clear();
    return inTransaction(db, () => {
      const batch = nextBatch();
      const findings: { instrumentId: string; f: Finding }[] = [];
      const touched = unsaved;
      // One env and one arrival record for the whole batch: this loop runs once per message.
      let current = '';
      const env: ArrivalEnv = {
        offlineAfterMs,
        starts,
        shutdowns,
        clockSkew: true,
        emit: (f: Finding) => findings.push({ instrumentId: current, f }),
      };
      const arrival: Arrival = { receivedAt: 0, ts: 0, kind: 'telemetry', online: null };
      for (const m of batch.messages) {
        const reg = registered(m.instrumentId);
        const st = stateOf(m.instrumentId);
        current = m.instrumentId;
        touched.add(m.instrumentId);
        env.clockSkew = reg.clockSkew;
        arrival.receivedAt = m.receivedAt;
        arrival.ts = m.ts;
        arrival.kind = m.kind;
        arrival.online = m.kind === 'status' ? (m.payload as TopicPayloads['status']).online : null;
        onArrival(st.link, arrival, env);
        if (m.kind === 'telemetry' || m.kind === 'event') {
          for (const f of pointFindings(m.kind as TopicKind, m.payload, reg.settings)) {
            st.points.push({ finding: f, receivedAt: m.receivedAt });
          }
        }
        if (m.state !== null) {
          const value =
            m.kind === 'telemetry'
              ? ((m.payload as TopicPayloads['telemetry']).metrics[reg.settings.signal] ?? null)
              : null;
          if (st.idleOpen !== null && isPowered(m.state)) {
            env.emit(idleEnded(st.idleOpen, m.ts));
            st.idleOpen = null;
          }
          track(st, m.messageId, m.ts, m.state, value, m.receivedAt);
        }
        if (m.receivedAt > arrivalClock) arrivalClock = m.receivedAt;
      }
      cursor = Math.max(cursor, batch.lastId);
      seqRestartFindings(findings, touched);
      const caughtUp = !catchingUp && queue.length === 0;
      if (caughtUp) arrivalClock = Math.max(arrivalClock, ctx.now());

      // Only instruments with something waiting that may be due: a pass under load runs many
      // times a second, and with a fleet nearly every instrument has a message in its buffer.
      for (const m of batch.messages) wait(m.instrumentId);
      due.popDue(arrivalClock, (id) => checkNow.add(id));
      const check = [...checkNow].filter((id) => waiting.has(id));
      checkNow.clear();
      check.sort((a, b) => waiting.get(a)! - waiting.get(b)!);
      for (const id of check) {
        const st = stateOf(id);
        let acted = false;
        if (st.late) {
          if (arrivalClock - st.late.at >= LATE_QUIET_MS) {
            refold(id, st, findings);
            acted = true;
          }
        } else if (st.pending.length > 0 && flush(id, st, findings)) acted = true;
        if (st.points.length > 0 && releasePoints(id, st, findings)) acted = true;
        if (acted) touched.add(id);
        if (st.late === null && st.pending.length === 0 && st.points.length === 0) {
          waiting.delete(id);
          due.cancel(id);
        } else if (acted) {
          // What was folded or released may make more of it ready (a new watermark): look again.
          due.cancel(id);
          checkNow.add(id);
        } else due.schedule(id, nextDue(st));
      }
      // Silence is checked against every instrument, once a second of arrival clock at most: the
      // episode starts offlineAfter after the last message whenever it is noticed.
      if (arrivalClock - lastSilenceCheck >= 1000 || batch.messages.length === 0) {
        lastSilenceCheck = arrivalClock;
        for (const [id, st] of states) {
          // Silence begins offlineAfter after the last message at the earliest (offlineOnClock):
          // skip the instruments heard from lately without a call, the fleet's common case.
          const off = st.link.offline;
          if (off.open !== null || off.last === null || off.last + offlineAfterMs > arrivalClock) continue;
          const before = findings.length;
          const emit = (f: Finding) => findings.push({ instrumentId: id, f });
          onArrivalClock(st.link, arrivalClock, {
            offlineAfterMs,
            starts,
            shutdowns,
            clockSkew: false,
            emit,
          });
          if (findings.length > before) touched.add(id);
        }
      }
      const now = ctx.now();
      if (now - lastIdlePass >= IDLE_EVERY_MS) {
        lastIdlePass = now;
        idlePass(now, findings, touched);
      }
      for (const { instrumentId, f } of latestWord(findings)) {
        store.applyFinding(instrumentId, registered(instrumentId).org, f);
      }
      resolvePass(caughtUp);
      // The state and the position are saved together, but not at every pass: a pass under load
      // would rewrite every busy instrument's state a few times a second. After a crash the pass
      // folds again from the saved position, and findings reported again change nothing.
      if (findings.length > 0 || saveNow || now - lastSave >= SAVE_EVERY_MS) {
        for (const id of touched) saveState(db, id, stateOf(id));
        touched.clear();
        writeMeta(db, 'cursor', String(cursor));
        writeMeta(db, 'arrivalClock', String(arrivalClock));
        lastSave = now;
        saveNow = false;
      }
      metrics.backlog.set(catchingUp ? Math.max(0, lastMessageId(db) - cursor) : queue.length);
      return { messages: batch.messages.length, findings: findings.length, more: batch.more };
    });
  }

  /**
   * The arrival clock from which `st` may have something to fold or release without any new
   * message: nothing was ready at its last look, and until a message arrives only the clock can
   * make it so (flush, releasePoints and the late replay's quiet time below).
   */
  function nextDue(st: InstrumentDetectState): number {
    if (st.late) return st.late.at + LATE_QUIET_MS;
    let at = Number.POSITIVE_INFINITY;
    for (const p of st.pending) if (p.receivedAt + reorderWait < at) at = p.receivedAt + reorderWait;
    for (const p of st.points) if (p.receivedAt + reorderWait < at) at = p.receivedAt + reorderWait;
    return at;
  }

  /** Folds the buffered observations that nothing earlier can still overtake. */
  function flush(
    instrumentId: string,
    st: InstrumentDetectState,
    out: { instrumentId: string; f: Finding }[],
  ): boolean {
    st.pending.sort((a, b) => a.ts - b.ts || a.id - b.id);
    const maxTs = Math.max(
      st.pending[st.pending.length - 1]!.ts,
      st.fold.watermark?.ts ?? Number.NEGATIVE_INFINITY,
    );
    let k = -1;
    for (let i = 0; i < st.pending.length; i++) {
      const p = st.pending[i]!;
      if (p.ts <= maxTs - reorderWait || p.receivedAt <= arrivalClock - reorderWait) k = i;
    }
    if (k < 0) return false;
    const ready = st.pending.splice(0, k + 1);
    newestPending.delete(st);
    foldInto(instrumentId, st, ready, out);
    return true;
  }

  // The newest ts in each reorder buffer (kept beside the state, so a burst is not quadratic).
  const newestPending = new WeakMap<InstrumentDetectState, number>();

  /**
   * Where a new observation goes: the reorder buffer; or, when it is behind the fold or further
   * behind the buffer than reorderWait (a replay, a backfill in any order), the replay to fold
   * again once it settles.
   */
  function track(
    st: InstrumentDetectState,
    id: number,
    ts: number,
    state: State,
    value: number | null,
    receivedAt: number,
  ): void {
    if (st.late) {
      st.late.from = Math.min(st.late.from, ts);
      if (isAfter(st.late.upTo, { ts, id })) st.late.upTo = { ts, id };
      st.late.at = Math.max(st.late.at, receivedAt);
      return;
    }
    const newest = newestPending.get(st) ?? maxTs(st.pending);
    const wm = st.fold.watermark;
    if ((wm === null || ts > wm.ts || (ts === wm.ts && id > wm.id)) && ts >= newest - reorderWait) {
      st.pending.push({ ts, id, state, value, receivedAt });
      if (ts > newest) newestPending.set(st, ts);
      return;
    }
    let upTo = wm ?? { ts, id };
    let from = ts;
    for (const p of [...st.pending, { ts, id }]) {
      if (isAfter(upTo, p)) upTo = { ts: p.ts, id: p.id };
      from = Math.min(from, p.ts);
    }
    // Everything buffered is in the store too: the fold again reads it from there.
    st.pending = [];
    newestPending.delete(st);
    st.late = { from, upTo, at: receivedAt };
  }

  /** Point findings whose time the fold has passed (or, with nothing to fold, whose wait is over). */
  function releasePoints(
    instrumentId: string,
    st: InstrumentDetectState,
    out: { instrumentId: string; f: Finding }[],
  ): boolean {
    const wm = st.fold.watermark?.ts ?? Number.NEGATIVE_INFINITY;
    const idle = st.late === null && st.pending.length === 0;
    const keep: typeof st.points = [];
    for (const p of st.points) {
      if (p.finding.start <= wm || (idle && p.receivedAt <= arrivalClock - reorderWait)) {
        out.push({ instrumentId, f: p.finding });
      } else keep.push(p);
    }
    const released = keep.length !== st.points.length;
    st.points = keep;
    return released;
  }

  /** Folds again from the checkpoint at the local midnight before the earliest late observation. */
  function refold(
    instrumentId: string,
    st: InstrumentDetectState,
    out: { instrumentId: string; f: Finding }[],
  ): void {
    const late = st.late;
    if (!late) return;
    st.late = null;
    const reg = registered(instrumentId);
    const cp = checkpointFor(db, instrumentId, dateOf(late.from, tz));
    if (cp && !cp.exact) {
      log.warn(
        { instrument: instrumentId, lateTs: late.from, oldestCheckpoint: cp.date },
        `late data older than the ${KEEP_DAYS} days of detector checkpoints: folded again from the oldest`,
      );
    }
    const base = cp ? cp.state : initFold();
    const fromTs = cp ? startOfDate(cp.date, tz) : Number.NEGATIVE_INFINITY;
    const samples = readSamples(db, instrumentId, fromTs, late.upTo, reg.settings.signal);
    st.fold = base;
    // Everything up to `upTo` is in the stored observations; newer ones wait in the buffer as usual.
    st.pending = st.pending.filter((p) => isAfter(late.upTo, p));
    newestPending.delete(st);
    foldInto(instrumentId, st, samples, out);
  }

  function foldInto(
    instrumentId: string,
    st: InstrumentDetectState,
    samples: PendingSampleLike[],
    out: { instrumentId: string; f: Finding }[],
  ): void {
    if (samples.length === 0) return;
    const reg = registered(instrumentId);
    const bookings =
      reg.settings.serviceHours === null
        ? []
        : bookingsOf(instrumentId, samples[0]!.ts - offlineAfterMs, samples[samples.length - 1]!.ts + 1);
    // The shell owns this state: fold it in place (fold() would copy it first).
    const r = foldInPlace(st.fold, samples, {
      settings: reg.settings,
      bookings,
      pastDays: (from, to) => readDayHists(db, instrumentId, from, to),
    });
    st.fold = r.state;
    for (const d of r.finishedDays) writeDayHist(db, instrumentId, d);
    for (const c of r.checkpoints) writeCheckpoint(db, instrumentId, c.date, c.state);
    if (r.checkpoints.length > 0) {
      pruneDays(db, instrumentId, addDays(r.checkpoints[r.checkpoints.length - 1]!.date, -KEEP_DAYS));
    }
    for (const f of r.findings) out.push({ instrumentId, f });
  }

  function idlePass(now: number, out: { instrumentId: string; f: Finding }[], touched: Set<string>): void {
    const rows = stmt(
      db,
      `SELECT s.instrument_id AS id, i.idle_days, s.first_seen, s.last_powered_at
         FROM instrument_status s LEFT JOIN instruments i ON i.id = s.instrument_id`,
    ).all() as {
      id: string;
      idle_days: number | null;
      first_seen: number | null;
      last_powered_at: number | null;
    }[];
    for (const r of rows) {
      const f = idleFinding(
        { firstSeen: r.first_seen, lastPoweredAt: r.last_powered_at },
        r.idle_days ?? config.idleDays,
        now,
      );
      const st = stateOf(r.id);
      if (f && st.idleOpen === null) {
        st.idleOpen = f;
        out.push({ instrumentId: r.id, f });
        touched.add(r.id);
      }
    }
  }

  /** Alerts whose condition may have stayed clear long enough: resolve those whose evidence says so. */
  function resolvePass(caughtUp: boolean): void {
    for (const c of store.dueToClear(Number.MAX_SAFE_INTEGER)) {
      const st = states.get(c.instrumentId);
      let clock: number;
      if (c.type === 'idle' || c.type === 'reported') clock = c.clearAt;
      else if (c.type === 'offline' || c.type === 'clock_skew') clock = arrivalClock;
      else {
        clock = st?.fold.watermark?.ts ?? Number.NEGATIVE_INFINITY;
        const last = st?.link.offline.last ?? null;
        // A silent instrument brings no evidence: once it has been quiet for offlineAfter, time decides.
        if (caughtUp && last !== null && arrivalClock - last >= offlineAfterMs)
          clock = Math.max(clock, arrivalClock);
      }
      if (clock >= c.clearAt) store.resolveCleared(c.id);
    }
  }

  // Seq restarts ingest recorded (issue 9: an agent whose outbox was lost) are data_gap evidence.
  // They are read by the ledger position of the message that revealed them, so a pass folded
  // again after a crash or a rederive finds the same ones (a finding reported again changes nothing).
  const restartIdAt = (position: number) =>
    Number(
      (
        stmt(db, 'SELECT coalesce(max(id), 0) AS id FROM seq_restarts WHERE message_id <= ?').get(
          position,
        ) as {
          id: number;
        }
      ).id,
    );
  let restartId = restartIdAt(cursor);
  function seqRestartFindings(out: { instrumentId: string; f: Finding }[], touched: Set<string>): void {
    const rows = stmt(
      db,
      `SELECT id, instrument_id, kind, ts, seq, epoch, previous_epoch, previous_ts, gap_from, cause
         FROM seq_restarts WHERE id > ? AND message_id <= ? ORDER BY id`,
    ).all(restartId, cursor) as unknown as SeqRestartRow[];
    for (const r of rows) {
      restartId = r.id;
      if (!isEnabled(registered(r.instrument_id).settings, 'data_gap')) continue;
      touched.add(r.instrument_id);
      out.push({
        instrumentId: r.instrument_id,
        f: dataGapFinding({
          at: r.ts,
          source: 'seq_restart',
          fromAt: r.gap_from ?? r.previous_ts,
          toAt: r.ts,
          detail: {
            kind: r.kind,
            seq: r.seq,
            cause: r.cause,
            ...(r.epoch !== null ? { epoch: r.epoch } : {}),
            ...(r.previous_epoch !== null ? { previousEpoch: r.previous_epoch } : {}),
            ...(r.gap_from !== null ? { gapFrom: r.gap_from } : {}),
          },
        }),
      });
    }
  }

  function reportDataGap(instrumentId: string, evidence: DataGapEvidence): void {
    const reg = readRegistered(instrumentId);
    if (!isEnabled(reg.settings, 'data_gap')) return;
    store.applyFinding(instrumentId, reg.org, dataGapFinding(evidence));
  }

  const metrics = registerMetrics(ctx);

  function schedule(delay: number): void {
    if (closed) return;
    timer = setTimeout(run, delay);
    timer.unref();
    nudged = delay === 0;
  }

  let started = false;
  let nudged = false;
  function nudge(): void {
    if (!started || closed || nudged || running) return;
    if (timer) clearTimeout(timer);
    schedule(0);
  }

  let running = false;
  function run(): void {
    timer = null;
    running = true;
    let more = false;
    try {
      more = pass().more;
    } catch (err) {
      if (!db.isOpen) return; // the store is gone (closing): nothing more to do
      log.error({ err }, 'detection pass failed; it is retried from the same ledger position');
      opts.onError?.(err);
      try {
        // The transaction rolled back: forget what memory holds and read it all again.
        reload();
      } catch (e) {
        log.error({ err: e }, 'detection state could not be read back; retrying later');
      }
    }
    running = false;
    schedule(more ? 0 : opts.everyMs);
  }

  function reload(): void {
    states.clear();
    unsaved.clear();
    waiting.clear();
    due.clear();
    checkNow.clear();
    for (const [k, v] of loadStates(db)) {
      states.set(k, v);
      wait(k);
    }
    const m = readMeta(db);
    cursor = Number(m.get('cursor') ?? 0);
    arrivalClock = Number(m.get('arrivalClock') ?? 0);
    restartId = restartIdAt(cursor);
    catchingUp = true;
  }

  return {
    pass: () => {
      const r = pass();
      return { messages: r.messages, findings: r.findings };
    },
    drain() {
      lastIdlePass = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < 10_000; i++) {
        saveNow = true;
        if (!pass().more) return;
      }
    },
    reportDataGap,
    position: () => ({ cursor, caughtUp: !catchingUp && queue.length === 0, queued: queue.length }),
    start() {
      started = true;
      if (timer === null && !closed) schedule(0);
    },
    stopping() {
      const at = ctx.now();
      shutdowns.push({ from: at, to: null });
      try {
        stmt(db, 'UPDATE collector_runs SET stopping_at = ? WHERE started_at = ?').run(at, thisStart);
      } catch (err) {
        log.error({ err }, 'could not record the start of the shutdown');
      }
    },
    close() {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      unsubscribe();
      // What ingest committed last (the wills of the shutdown among it) is folded and the state saved.
      if (!db.isOpen) return;
      try {
        saveNow = true;
        for (let i = 0; i < 100 && pass().more; i++) saveNow = true;
      } catch (err) {
        log.error({ err }, 'the last detection pass failed; the next start folds from the saved position');
      }
    },
  };
}

type PendingSampleLike = Omit<PendingSample, 'receivedAt'>;

function maxTs(samples: readonly { ts: number }[]): number {
  let m = Number.NEGATIVE_INFINITY;
  for (const p of samples) if (p.ts > m) m = p.ts;
  return m;
}

/**
 * One finding per episode, the last word on it (a fold reports an episode's start and its end in
 * the same pass when it sees both), in order of start.
 */
function latestWord(findings: readonly { instrumentId: string; f: Finding }[]) {
  const byKey = new Map<string, { instrumentId: string; f: Finding }>();
  for (const x of findings)
    byKey.set(`${x.instrumentId}\u0000${x.f.type}\u0000${x.f.start}\u0000${x.f.sticky}`, x);
  return [...byKey.values()].sort((a, b) => a.f.start - b.f.start);
}

function registerMetrics(ctx: CollectorContext) {
  return {
    backlog: new Gauge({
      name: 'dayi_detect_backlog_messages',
      help: 'Committed messages the detectors have not folded yet',
      registers: [ctx.metrics.registry],
    }),
  };
}
