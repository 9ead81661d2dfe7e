/**
 * Pure: state intervals for the `state` measurement, folded from an instrument's observations in
 * ledger order. An interval is a run of equal observed states; it ends at the next observation of
 * another state, or, when evidence stops for longer than offlineAfter, at the last observation +
 * offlineAfter, followed by an `unknown` interval up to the next observation (the same rule as the
 * usage derivation: evidence holds for offlineAfter). An open interval is written with `state`
 * only and written again with `duration_s` once it closed.
 *
 * The fold follows event time in arrival order: an observation older than the instrument's latest
 * one (a late message) does not re-cut intervals already shipped; it is counted and left out of
 * the `state` measurement. Usage hours are not affected: `usage_daily` is re-derived.
 */
import type { DerivedState, State } from '@dayi/protocols';

export interface OpenRun {
  state: State;
  /** ms: the first observation of the run */
  start: number;
  /** ms: the latest observation of the run */
  lastTs: number;
}

export interface Interval {
  state: DerivedState;
  start: number;
  /** absent while open */
  end?: number;
}

export interface FoldResult {
  open: OpenRun | null;
  /** Intervals to write, in order; an interval may appear open first and closed later. */
  intervals: Interval[];
  /** Observations older than the run's latest one, left out. */
  late: number;
}

export function foldRuns(
  open: OpenRun | null,
  observations: readonly { ts: number; state: State }[],
  offlineAfterMs: number,
): FoldResult {
  const intervals: Interval[] = [];
  let late = 0;
  let run = open ? { ...open } : null;
  for (const o of observations) {
    if (run === null) {
      run = { state: o.state, start: o.ts, lastTs: o.ts };
      intervals.push({ state: o.state, start: o.ts });
      continue;
    }
    if (o.ts < run.lastTs) {
      late++;
      continue;
    }
    const staleAt = run.lastTs + offlineAfterMs;
    if (o.ts > staleAt) {
      intervals.push({ state: run.state, start: run.start, end: staleAt });
      intervals.push({ state: 'unknown', start: staleAt, end: o.ts });
      run = { state: o.state, start: o.ts, lastTs: o.ts };
      intervals.push({ state: o.state, start: o.ts });
    } else if (o.state === run.state) {
      run.lastTs = o.ts;
    } else if (o.ts === run.start) {
      // Same instant as the run's start: the later message wins, as in the usage derivation.
      run.state = o.state;
      intervals.push({ state: o.state, start: o.ts });
    } else {
      intervals.push({ state: run.state, start: run.start, end: o.ts });
      run = { state: o.state, start: o.ts, lastTs: o.ts };
      intervals.push({ state: o.state, start: o.ts });
    }
  }
  return { open: run, intervals, late };
}
