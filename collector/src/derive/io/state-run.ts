/**
 * The latest observation and the start of its run, for `state` / `stateSince`.
 *
 * A run is a stretch of the timeline in one state with no unknown time inside (timeline.ts merges
 * equal neighbours), so it ends at a state change or at a gap longer than offlineAfter. Runs can
 * last months (a magnet that is never switched off), so instead of reading every observation this
 * reads the latest day, then walks back over stored days by their tail run (`daily_usage.tail_*`),
 * computing a day live only when it is not stored and final.
 */
import type { State } from '@dayi/protocols';
import type { CollectorContext } from '../../context.ts';
import { addDays, dateOf, dayBounds } from '../pure/calendar.ts';
import type { LatestRun } from '../pure/current.ts';
import { timeline } from '../pure/timeline.ts';
import type { DayTail } from '../pure/usage.ts';
import { computeDays, isFinal, lastFinalDate, recomputeDirty } from './recompute.ts';
import { loadObservations, stmt } from './store.ts';

export function loadLatestRun(ctx: CollectorContext, instrumentId: string): LatestRun | null {
  const { db } = ctx;
  const { timezone, offlineAfter } = ctx.config;
  const latest = stmt(
    db,
    'SELECT ts, state FROM observations WHERE instrument_id = ? ORDER BY ts DESC, message_id DESC LIMIT 1',
  ).get(instrumentId) as { ts: number; state: State } | undefined;
  if (!latest) return null;

  // The latest day, up to and including the latest observation.
  const latestDate = dateOf(latest.ts, timezone);
  const dayStart = dayBounds(latestDate, timezone).start;
  const window = { start: dayStart, end: latest.ts + 1 };
  const segments = timeline(
    loadObservations(db, instrumentId, window.start, window.end, offlineAfter),
    window,
    {
      offlineAfterMs: offlineAfter,
      now: window.end,
    },
  );
  let runStart = segments[segments.length - 1]!.start;

  if (runStart === dayStart) {
    recomputeDirty(ctx, { instrumentId });
    const lastFinal = lastFinalDate(ctx);
    const stored = stmt(
      db,
      'SELECT computed_at, tail_state, tail_start FROM daily_usage WHERE instrument_id = ? AND date = ?',
    );
    for (let date = addDays(latestDate, -1); ; date = addDays(date, -1)) {
      const bounds = dayBounds(date, timezone);
      let tail: DayTail | null;
      const row = stored.get(instrumentId, date) as
        | { computed_at: number; tail_state: State | null; tail_start: number | null }
        | undefined;
      if (date <= lastFinal && !row) {
        tail = null; // no observation ever touched this day: all unknown
      } else if (
        row &&
        isFinal(date, row.computed_at, ctx) &&
        row.tail_state !== null &&
        row.tail_start !== null
      ) {
        tail = { state: row.tail_state, start: row.tail_start };
      } else {
        tail = computeDays(ctx, instrumentId, [date])[0]!.tail;
      }
      if (!tail || tail.state !== latest.state) break;
      runStart = tail.start;
      if (tail.start !== bounds.start) break;
    }
  }
  return {
    ts: latest.ts,
    state: latest.state,
    runStart: withSince(ctx, instrumentId, latest.state, runStart),
  };
}

/**
 * A `state` message at the run's start may say the state began earlier (`since`); believe it as
 * long as no observation of another state lies between `since` and the run's start.
 */
function withSince(ctx: CollectorContext, instrumentId: string, state: State, runStart: number): number {
  const { db } = ctx;
  const msg = stmt(
    db,
    `SELECT m.kind, m.payload FROM observations o JOIN messages m ON m.id = o.message_id
     WHERE o.instrument_id = ? AND o.ts = ? ORDER BY o.message_id DESC LIMIT 1`,
  ).get(instrumentId, runStart) as { kind: string; payload: string } | undefined;
  if (msg?.kind !== 'state') return runStart;
  const since = sinceOf(msg.payload);
  if (since === null || since >= runStart) return runStart;
  const contradicted = stmt(
    db,
    'SELECT 1 FROM observations WHERE instrument_id = ? AND ts >= ? AND ts < ? AND state != ? LIMIT 1',
  ).get(instrumentId, since, runStart, state);
  return contradicted ? runStart : since;
}

function sinceOf(payload: string): number | null {
  try {
    const since = (JSON.parse(payload) as { since?: unknown }).since;
    return typeof since === 'number' && Number.isFinite(since) ? since : null;
  } catch {
    return null;
  }
}
