/**
 * The alert lifecycle and its persistence (SQLite). Detector findings come in as episodes
 * (detect/types.ts `Finding`); people acknowledge, resolve and report through the API.
 *
 * Rules (docs/alerts.md tells them to users):
 * - One active (open or acknowledged) alert per instrument and type. A new episode while one is
 *   active repeats it: count + 1, lastSeenAt, severity raised to the highest seen.
 * - The same episode reported again (same type and start, after a restart, a replay, a refold from
 *   a checkpoint) only updates its end: replays never count twice. A finding that overlaps a known
 *   episode of the same kind is that episode, seen with more data (its start is the earlier one).
 * - Flapping: an alert resolves by itself only when every episode has ended, the last one by
 *   evidence (not a sticky point), and the condition stayed clear for `clearAfter` (the shell
 *   decides "stayed clear" with the instrument's evidence clock). A new episode within
 *   `reopenWithin` of a resolution reopens that alert (`reopened`) instead of opening another.
 *   `idle` resolves at once when the instrument is powered again (it cannot flap).
 * - People: open → acknowledged → resolved, each with who, when (wall clock) and a note; a person
 *   may also resolve an open alert directly. Detector changes are stamped with event time.
 * - Every change writes one row of `alert_events` and calls `onChange` inside the same
 *   transaction; if `onChange` throws, the change is rolled back (nothing is half-notified).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { inTransaction, stmt } from '../derive/io/store.ts';
import type { Finding } from '../detect/types.ts';
import {
  ALERT_SEVERITIES,
  type Alert,
  type AlertChange,
  type AlertKind,
  type AlertSeverity,
  type AlertStatus,
  type AlertTransition,
} from './types.ts';

export interface AlertRecord extends Alert {
  opened: { by: string | null; note: string | null };
  acknowledged: { at: number; by: string | null; note: string | null } | null;
  resolved: { at: number; by: string | null; note: string | null } | null;
}

export interface AlertEventRow {
  id: number;
  transition: AlertTransition;
  status: AlertStatus;
  at: number;
  by: string | null;
  note: string | null;
}

export interface AlertStoreOptions {
  /** Called inside the transaction that writes each change (notifications queue it there). */
  onChange?: (change: AlertChange) => void;
  clearAfterMs: number;
  reopenWithinMs: number;
}

export class AlertStateError extends Error {
  readonly code: 'alert_not_found' | 'alert_conflict';
  constructor(code: 'alert_not_found' | 'alert_conflict', message: string) {
    super(message);
    this.name = 'AlertStateError';
    this.code = code;
  }
}

export function kindOf(type: string): AlertKind {
  return type === 'offline' || type === 'idle' || type === 'reported' ? type : 'anomaly';
}

const RANK: Record<AlertSeverity, number> = { info: 0, warning: 1, critical: 2 };
function maxSeverity(a: AlertSeverity, b: AlertSeverity): AlertSeverity {
  return RANK[a] >= RANK[b] ? a : b;
}

interface AlertRow {
  id: string;
  instrument_id: string;
  org: string | null;
  kind: AlertKind;
  type: string;
  severity: AlertSeverity;
  status: AlertStatus;
  opened_at: number;
  last_seen_at: number;
  count: number;
  closed_at: number | null;
  detail: string;
  opened_by: string | null;
  open_note: string | null;
  acked_at: number | null;
  acked_by: string | null;
  ack_note: string | null;
  resolved_by: string | null;
  resolve_note: string | null;
  clear_at: number | null;
}

interface EpisodeRow {
  start: number;
  sticky: number;
  end: number | null;
  alert_id: string;
}

export function recordOf(r: AlertRow): AlertRecord {
  return {
    id: r.id,
    instrumentId: r.instrument_id,
    org: r.org,
    kind: r.kind,
    type: r.type,
    severity: r.severity,
    status: r.status,
    openedAt: r.opened_at,
    lastSeenAt: r.last_seen_at,
    count: r.count,
    closedAt: r.closed_at,
    detail: JSON.parse(r.detail) as Record<string, unknown>,
    opened: { by: r.opened_by, note: r.open_note },
    acknowledged: r.acked_at === null ? null : { at: r.acked_at, by: r.acked_by, note: r.ack_note },
    resolved:
      r.status === 'resolved' && r.closed_at !== null
        ? { at: r.closed_at, by: r.resolved_by, note: r.resolve_note }
        : null,
  };
}

function plain(r: AlertRecord): Alert {
  const { opened: _o, acknowledged: _a, resolved: _r, ...alert } = r;
  return alert;
}

/** Alert ids of detector alerts are derived from what opened them, so a rebuild finds the same id. */
function detectorAlertId(instrumentId: string, type: string, openedAt: number): string {
  return `al-${createHash('sha256').update(`${instrumentId}\n${type}\n${openedAt}`).digest('hex').slice(0, 20)}`;
}

export const ALERT_ID_PATTERN = /^al-[0-9a-f]{20}$/;

/** Episodes counted once each; a sticky point inside an evidence episode is that episode. */
function distinctEpisodes(eps: readonly { start: number; sticky: number; end: number | null }[]): number {
  const evidence = eps.filter((e) => e.sticky === 0);
  let n = evidence.length;
  for (const p of eps) {
    if (p.sticky === 1 && !evidence.some((e) => e.start <= p.start && (e.end === null || e.end >= p.start)))
      n++;
  }
  return n;
}

export function createAlertStore(db: DatabaseSync, opts: AlertStoreOptions) {
  const onChange = opts.onChange ?? (() => {});

  const get = (id: string) => stmt(db, 'SELECT * FROM alerts WHERE id = ?').get(id) as AlertRow | undefined;

  function write(r: AlertRow): void {
    stmt(
      db,
      `INSERT INTO alerts (id, instrument_id, org, kind, type, severity, status, opened_at, last_seen_at, count,
         closed_at, detail, opened_by, open_note, acked_at, acked_by, ack_note, resolved_by, resolve_note, clear_at)
       VALUES (:id, :instrument_id, :org, :kind, :type, :severity, :status, :opened_at, :last_seen_at, :count,
         :closed_at, :detail, :opened_by, :open_note, :acked_at, :acked_by, :ack_note, :resolved_by, :resolve_note, :clear_at)
       ON CONFLICT (id) DO UPDATE SET org = excluded.org, severity = excluded.severity, status = excluded.status,
         opened_at = excluded.opened_at, last_seen_at = excluded.last_seen_at, count = excluded.count,
         closed_at = excluded.closed_at, detail = excluded.detail, acked_at = excluded.acked_at,
         acked_by = excluded.acked_by, ack_note = excluded.ack_note, resolved_by = excluded.resolved_by,
         resolve_note = excluded.resolve_note, clear_at = excluded.clear_at`,
    ).run({ ...r });
  }

  /** Records one transition: the alerts row, one alert_events row, the sink, all in this transaction. */
  function change(
    r: AlertRow,
    transition: AlertTransition,
    at: number,
    by: string | null,
    note: string | null,
  ) {
    write(r);
    stmt(
      db,
      `INSERT INTO alert_events (alert_id, instrument_id, kind, type, severity, status, transition, at, by, note, detail)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(r.id, r.instrument_id, r.kind, r.type, r.severity, r.status, transition, at, by, note, r.detail);
    onChange({ alert: plain(recordOf(r)), transition, at, by, note });
  }

  function activeAlert(instrumentId: string, type: string): AlertRow | undefined {
    return stmt(
      db,
      `SELECT * FROM alerts WHERE instrument_id = ? AND type = ? AND status != 'resolved'
         ORDER BY opened_at DESC LIMIT 1`,
    ).get(instrumentId, type) as AlertRow | undefined;
  }

  function latestAlert(instrumentId: string, type: string): AlertRow | undefined {
    return stmt(
      db,
      'SELECT * FROM alerts WHERE instrument_id = ? AND type = ? ORDER BY opened_at DESC LIMIT 1',
    ).get(instrumentId, type) as AlertRow | undefined;
  }

  /** clear_at of an active alert: when it may resolve itself, or null while it may not. */
  function clearAtOf(alertId: string, type: string): number | null {
    const last = stmt(
      db,
      `SELECT "end", sticky, (SELECT COUNT(*) FROM alert_episodes WHERE alert_id = ?1 AND "end" IS NULL) AS ongoing
         FROM alert_episodes WHERE alert_id = ?1 ORDER BY "end" DESC, sticky ASC LIMIT 1`,
    ).get(alertId) as { end: number | null; sticky: number; ongoing: number } | undefined;
    if (!last || last.ongoing > 0 || last.end === null || last.sticky === 1) return null;
    return type === 'idle' ? last.end : last.end + opts.clearAfterMs;
  }

  /**
   * Applies one detector finding. Call it inside the caller's transaction (the detection pass);
   * it opens its own otherwise.
   */
  function applyFinding(instrumentId: string, org: string | null, f: Finding): void {
    inTransaction(db, () => applyFindingTx(instrumentId, org, f));
  }

  function applyFindingTx(instrumentId: string, org: string | null, f: Finding): void {
    const sticky = f.sticky ? 1 : 0;
    const exact = stmt(
      db,
      'SELECT start, sticky, "end", alert_id FROM alert_episodes WHERE instrument_id = ? AND type = ? AND start = ? AND sticky = ?',
    ).get(instrumentId, f.type, f.start, sticky) as EpisodeRow | undefined;
    if (exact) {
      if (exact.end === f.end) return;
      stmt(
        db,
        'UPDATE alert_episodes SET "end" = ? WHERE instrument_id = ? AND type = ? AND start = ? AND sticky = ?',
      ).run(f.end, instrumentId, f.type, f.start, sticky);
      settle(exact.alert_id, f, 'update');
      return;
    }
    const overlapping = stmt(
      db,
      `SELECT start, sticky, "end", alert_id FROM alert_episodes
         WHERE instrument_id = ? AND type = ? AND start <= ? AND ("end" IS NULL OR "end" >= ?)
         ORDER BY sticky = ? DESC, start`,
    ).all(instrumentId, f.type, f.end ?? Number.MAX_SAFE_INTEGER, f.start, sticky) as unknown as EpisodeRow[];
    if (overlapping.length > 0) {
      // The same episode, seen with more data (a replay, a refold): one row, the earliest start, the new end.
      const target = overlapping[0]!.alert_id;
      // A point (one message) and a stretch are different sightings even of the same type.
      const point = f.end === f.start;
      const same = overlapping.filter((e) => e.sticky === sticky && (e.end === e.start) === point);
      const emptied = new Set<string>();
      for (const e of same) {
        stmt(
          db,
          'DELETE FROM alert_episodes WHERE instrument_id = ? AND type = ? AND start = ? AND sticky = ?',
        ).run(instrumentId, f.type, e.start, sticky);
        if (e.alert_id !== target) emptied.add(e.alert_id);
      }
      const start = Math.min(f.start, ...same.map((e) => e.start));
      insertEpisode(instrumentId, f.type, start, sticky, f.end, target);
      settle(target, { ...f, start }, 'update');
      for (const id of emptied) settle(id, null, 'update', target);
      return;
    }
    // A new episode.
    let active = activeAlert(instrumentId, f.type);
    if (active && active.clear_at !== null && f.start >= active.clear_at) {
      // The condition had stayed clear long enough before this one began: that alert is over
      // (as the pass would have decided had it looked in between), whatever the batching.
      resolveRow(active);
      active = undefined;
    }
    if (active) {
      insertEpisode(instrumentId, f.type, f.start, sticky, f.end, active.id);
      settle(active.id, f, 'new');
      return;
    }
    const latest = latestAlert(instrumentId, f.type);
    if (
      latest &&
      latest.closed_at !== null &&
      f.start <= latest.closed_at + opts.reopenWithinMs &&
      f.start >= latest.opened_at
    ) {
      insertEpisode(instrumentId, f.type, f.start, sticky, f.end, latest.id);
      settle(latest.id, f, 'new');
      return;
    }
    const id = detectorAlertId(instrumentId, f.type, f.start);
    insertEpisode(instrumentId, f.type, f.start, sticky, f.end, id);
    const r: AlertRow = {
      id,
      instrument_id: instrumentId,
      org,
      kind: kindOf(f.type),
      type: f.type,
      severity: f.severity,
      status: 'open',
      opened_at: f.start,
      last_seen_at: f.end ?? f.start,
      count: 1,
      closed_at: null,
      detail: JSON.stringify(f.detail),
      opened_by: null,
      open_note: null,
      acked_at: null,
      acked_by: null,
      ack_note: null,
      resolved_by: null,
      resolve_note: null,
      clear_at: clearAtOf(id, f.type),
    };
    change(r, 'opened', f.start, null, null);
  }

  function insertEpisode(
    instrumentId: string,
    type: string,
    start: number,
    sticky: number,
    end: number | null,
    alertId: string,
  ): void {
    stmt(
      db,
      `INSERT INTO alert_episodes (instrument_id, type, start, sticky, "end", alert_id) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (instrument_id, type, start, sticky) DO UPDATE SET "end" = excluded."end", alert_id = excluded.alert_id`,
    ).run(instrumentId, type, start, sticky, end, alertId);
  }

  /**
   * Brings an alert in line with its episodes after one changed. `new`: a new episode began (a
   * repeat, or a reopening of a resolved alert); `update`: a known episode got its end or more data.
   * Count is the number of distinct episodes (a sticky point inside an evidence episode is the same
   * one), so an episode seen twice never counts twice.
   */
  function settle(alertId: string, f: Finding | null, reason: 'new' | 'update', supersededBy?: string): void {
    const r = get(alertId);
    if (!r) return;
    const eps = stmt(
      db,
      'SELECT start, sticky, "end" FROM alert_episodes WHERE alert_id = ? ORDER BY start',
    ).all(alertId) as unknown as EpisodeRow[];
    if (eps.length === 0) {
      // Every episode of this alert turned out to be part of another alert's (data that came late).
      if (r.status !== 'resolved') {
        const note = `superseded by ${supersededBy}: the same episode, seen with more data`;
        change(
          { ...r, status: 'resolved', closed_at: r.last_seen_at, resolve_note: note, clear_at: null },
          'resolved',
          r.last_seen_at,
          null,
          note,
        );
      }
      return;
    }
    const u: AlertRow = {
      ...r,
      count: distinctEpisodes(eps),
      opened_at: Math.min(...eps.map((e) => e.start)),
      last_seen_at: Math.max(...eps.map((e) => e.end ?? e.start)),
      severity: f ? maxSeverity(r.severity, f.severity) : r.severity,
      detail: f ? JSON.stringify(f.detail) : r.detail,
    };
    const clear = clearAtOf(alertId, r.type);
    const ongoing = eps.some((e) => e.end === null);
    if (r.status !== 'resolved') {
      u.clear_at = clear;
      if (reason === 'new' && f) change(u, 'repeated', f.start, null, null);
      else write(u);
      return;
    }
    const byDetector = r.resolved_by === null;
    if (reason === 'new' && f && f.end !== null && r.closed_at !== null && f.end <= r.closed_at) {
      // Late data: an episode inside the alert's life, over before it was resolved.
      change(u, 'repeated', f.start, null, null);
      return;
    }
    if (f && (reason === 'new' || (byDetector && ongoing))) {
      const reopened: AlertRow = {
        ...u,
        status: 'open',
        closed_at: null,
        resolved_by: null,
        resolve_note: null,
        acked_at: null,
        acked_by: null,
        ack_note: null,
        clear_at: clear,
      };
      change(reopened, 'reopened', f.start, null, null);
      return;
    }
    if (byDetector && !ongoing && clear !== null) {
      // Resolved by the detectors: more data moved the end of the condition.
      u.closed_at = r.type === 'idle' ? clear : clear - opts.clearAfterMs;
    }
    u.clear_at = null;
    write(u);
  }

  /** Active alerts whose clear_at is at or before `upTo`: candidates to resolve by themselves. */
  function dueToClear(upTo: number): { id: string; instrumentId: string; type: string; clearAt: number }[] {
    return (
      stmt(
        db,
        `SELECT id, instrument_id, type, clear_at FROM alerts
           WHERE clear_at IS NOT NULL AND clear_at <= ? AND status != 'resolved' ORDER BY clear_at, id`,
      ).all(upTo) as { id: string; instrument_id: string; type: string; clear_at: number }[]
    ).map((r) => ({ id: r.id, instrumentId: r.instrument_id, type: r.type, clearAt: r.clear_at }));
  }

  /** The detectors saw the condition stay clear: resolved at the end of its last episode. */
  function resolveCleared(id: string): void {
    inTransaction(db, () => {
      const r = get(id);
      if (r) resolveRow(r);
    });
  }

  function resolveRow(r: AlertRow): void {
    {
      if (r.status === 'resolved' || r.clear_at === null) return;
      const end = r.type === 'idle' ? r.clear_at : r.clear_at - opts.clearAfterMs;
      const u: AlertRow = {
        ...r,
        status: 'resolved',
        closed_at: end,
        resolved_by: null,
        resolve_note: 'condition cleared',
        clear_at: null,
      };
      change(u, 'resolved', end, null, u.resolve_note);
    }
  }

  function acknowledge(id: string, by: string, note: string | null, now: number): AlertRecord {
    return inTransaction(db, () => {
      const r = mustGet(id);
      if (r.status !== 'open') {
        throw new AlertStateError(
          'alert_conflict',
          `alert ${id} is ${r.status}: only an open alert can be acknowledged`,
        );
      }
      const u: AlertRow = { ...r, status: 'acknowledged', acked_at: now, acked_by: by, ack_note: note };
      change(u, 'acknowledged', now, by, note);
      return recordOf(u);
    });
  }

  function resolve(id: string, by: string, note: string | null, now: number): AlertRecord {
    return inTransaction(db, () => {
      const r = mustGet(id);
      if (r.status === 'resolved')
        throw new AlertStateError('alert_conflict', `alert ${id} is already resolved`);
      const u: AlertRow = {
        ...r,
        status: 'resolved',
        closed_at: now,
        resolved_by: by,
        resolve_note: note,
        clear_at: null,
      };
      change(u, 'resolved', now, by, note);
      return recordOf(u);
    });
  }

  /** A person's report (kind `reported`): opens one, or repeats the open one of the instrument. */
  function report(
    instrumentId: string,
    org: string | null,
    by: string,
    text: string,
    severity: AlertSeverity,
    now: number,
  ): { alert: AlertRecord; created: boolean } {
    return inTransaction(db, () => {
      const active = activeAlert(instrumentId, 'reported');
      const entry = { at: now, by, text };
      if (active) {
        const detail = JSON.parse(active.detail) as { reports?: unknown[] };
        const reports = [...(detail.reports ?? []), entry].slice(-MAX_REPORTS_KEPT);
        const u: AlertRow = {
          ...active,
          count: active.count + 1,
          last_seen_at: Math.max(active.last_seen_at, now),
          severity: maxSeverity(active.severity, severity),
          detail: JSON.stringify({ ...detail, text, reports }),
        };
        change(u, 'repeated', now, by, text);
        return { alert: recordOf(u), created: false };
      }
      const r: AlertRow = {
        id: `al-${randomBytes(10).toString('hex')}`,
        instrument_id: instrumentId,
        org,
        kind: 'reported',
        type: 'reported',
        severity,
        status: 'open',
        opened_at: now,
        last_seen_at: now,
        count: 1,
        closed_at: null,
        detail: JSON.stringify({ text, reports: [entry] }),
        opened_by: by,
        open_note: text,
        acked_at: null,
        acked_by: null,
        ack_note: null,
        resolved_by: null,
        resolve_note: null,
        clear_at: null,
      };
      change(r, 'opened', now, by, text);
      return { alert: recordOf(r), created: true };
    });
  }

  function mustGet(id: string): AlertRow {
    const r = get(id);
    if (!r) throw new AlertStateError('alert_not_found', `path.id: no alert ${JSON.stringify(id)}`);
    return r;
  }

  function history(id: string): AlertEventRow[] {
    return stmt(
      db,
      'SELECT id, transition, status, at, by, note FROM alert_events WHERE alert_id = ? ORDER BY id',
    ).all(id) as unknown as AlertEventRow[];
  }

  return {
    applyFinding,
    dueToClear,
    resolveCleared,
    acknowledge,
    resolve,
    report,
    history,
    get: (id: string) => {
      const r = get(id);
      return r ? recordOf(r) : null;
    },
  };
}

export type AlertStore = ReturnType<typeof createAlertStore>;

/** A reported alert keeps the texts of its last reports in its detail (all of them are in alert_events). */
export const MAX_REPORTS_KEPT = 20;

export { ALERT_SEVERITIES };
